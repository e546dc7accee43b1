"""The FastAPI application factory: settings in, a ready app out (or a clear refusal to start)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy import inspect
from starlette.concurrency import run_in_threadpool

from metastore import schema
from metastore.sql import SqlMetaStore
from metastore.store import MetaStore
from service import errors
from service.api import (
    catalog,
    datasets,
    evaluations,
    families,
    health,
    jobs,
    learner_models,
    recommendations,
    studies,
)
from service.api import models as family_models
from service.config import Settings, is_loopback
from service.deps import reject_unknown_query
from service.jobs.worker import attach_embedded_worker
from service.limits import BodySizeLimit, ServerTiming
from service.schemas import COMMON_ERRORS, Problem
from service.usecases.recommend import RecommenderRegistry

log = logging.getLogger("warmstart")

#: How long a stopping server waits for the studies' background surrogate warm-ups.
SHUTDOWN_WAIT_S = 30.0

DESCRIPTION = """warmstart remembers past datasets and tuned results, and turns them into advice:
the configurations most likely to do well on a new dataset.

Authenticate with an `X-API-Key` header (`warmstart keys create --scope read|write|admin`).
Every error is an RFC 9457 `application/problem+json` body."""


class StartupRefused(RuntimeError):
    """The service will not start with these settings; the message says how to fix it."""


def open_store(settings: Settings) -> SqlMetaStore:
    """The metastore named by the settings; a brand-new embedded database is initialised."""
    settings.prepare_dirs()
    store = SqlMetaStore.from_url(settings.resolved_database_url)
    if settings.is_embedded and not inspect(store.engine).get_table_names():
        log.info("initialising a new embedded metastore at %s", settings.resolved_database_url)
        schema.upgrade(store.engine)
    store.check()
    if settings.load_bundled_kb:
        load_bundled_if_empty(store)
    return store


def load_bundled_if_empty(store: SqlMetaStore) -> None:
    """An empty metastore starts with the bundled knowledge base, so advice works at once."""
    from metastore.kb import BUNDLED_KB, load_kb

    if store.list_datasets(limit=1).total or not BUNDLED_KB.exists():
        return
    result = load_kb(store, BUNDLED_KB)
    log.info(
        "loaded the bundled knowledge base: %d datasets, %d evaluations",
        result["datasets_added"],
        result["evaluations_added"],
    )
    # The cheap recommenders fit within a request; `learned` meta-trains for seconds to minutes,
    # so a worker (the embedded one by default) fits it now rather than the first user waiting.
    from service.jobs.handlers import submit
    from service.jobs.worker import jobs_for

    job = submit(jobs_for(store), "learners.fit", {"methods": ["learned"]})
    log.info("queued job %s: fit the learned recommender on the bundled knowledge base", job.id)


def create_app(settings: Settings | None = None, store: MetaStore | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.prepare_dirs()
    store = store or open_store(settings)
    anonymous = settings.auth == "auto" and store.count_api_keys() == 0
    if anonymous and not is_loopback(settings.host):
        raise StartupRefused(
            f"Refusing to serve on {settings.host} without API keys: anyone could read and write. "
            "Create one with `warmstart keys create --scope admin`, or bind to 127.0.0.1."
        )
    if anonymous:
        log.warning(
            "No API keys exist: open access, allowed because the service listens on loopback "
            "only (%s). Create a key with `warmstart keys create` to require keys.",
            settings.host,
        )
    app = FastAPI(
        title="warmstart",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.anonymous = anonymous
    app.state.recommenders = RecommenderRegistry(store)
    errors.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(ServerTiming)
    app.include_router(health.router)  # probes stay lenient: load balancers add what they like
    for module in (
        datasets,
        evaluations,
        catalog,
        jobs,
        recommendations,
        families,
        family_models,
        studies,
        learner_models,
    ):
        app.include_router(
            module.router, responses=COMMON_ERRORS, dependencies=[Depends(reject_unknown_query)]
        )
    _register_problem_schema(app)
    _wait_for_warm_ups_on_shutdown(app)
    if settings.embedded_worker:
        attach_embedded_worker(app, settings, store)
    return app


def _wait_for_warm_ups_on_shutdown(app: FastAPI) -> None:
    """A stopping server lets the surrogates' background meta-training finish (bounded), so none
    of it goes on using the database after the server is gone."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(application) as state:
                yield state
        finally:
            registry = getattr(application.state, "surrogates", None)
            if registry is not None and not await run_in_threadpool(registry.wait, SHUTDOWN_WAIT_S):
                log.warning("surrogate warm-up still running after %.0f s; stopping anyway", SHUTDOWN_WAIT_S)

    app.router.lifespan_context = lifespan


def _register_problem_schema(app: FastAPI) -> None:
    """Put the Problem model into the OpenAPI components that COMMON_ERRORS refers to."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
