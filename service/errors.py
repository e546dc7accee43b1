"""The one place where errors become HTTP responses: RFC 9457 problem+json for every error."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from metastore.errors import (
    IdempotencyConflict,
    InvalidReference,
    JobAlreadyFinished,
    JobLost,
    MetastoreError,
    NotFound,
    SchemaOutOfDate,
    StoreUnavailable,
)
from service.problems import ProblemError

log = logging.getLogger("warmstart")
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://warmstart.dev/problems/{status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update(jsonable_encoder(extra))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _metastore_status(exc: MetastoreError) -> tuple[int, str, dict[str, str]]:
    if isinstance(exc, NotFound):
        return 404, f"{exc.kind.capitalize()} not found", {}
    if isinstance(exc, IdempotencyConflict):
        return 409, "Idempotency key reused", {}
    if isinstance(exc, JobAlreadyFinished | JobLost):
        return 409, "Job already finished", {}
    if isinstance(exc, InvalidReference):
        return 422, "Unknown reference", {}
    if isinstance(exc, StoreUnavailable):
        return 503, "Metastore temporarily unavailable", {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, SchemaOutOfDate):
        return 503, "Metastore schema out of date", {"Retry-After": "60"}
    return 400, "Metastore error", {}


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API documents for `path`.

    The router's own Allow header names only the first matching route's methods when routes of
    one path sit in an included router, so it is derived here from the OpenAPI paths instead.
    """
    methods: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods |= {m.upper() for m in operations}
    return sorted(methods)


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None
        return problem(exc.status, exc.title, exc.detail, request, headers=headers, **exc.extra)

    @app.exception_handler(MetastoreError)
    async def _metastore(request: Request, exc: MetastoreError) -> JSONResponse:
        status, title, headers = _metastore_status(exc)
        if status >= 500:
            log.warning("metastore unavailable: %s", exc)
        return problem(status, title, str(exc), request, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        where = "; ".join(f"{'.'.join(map(str, e['location']))}: {e['message']}" for e in errors[:5])
        return problem(
            422,
            "Invalid request",
            f"The request does not match the API contract ({where}). See /docs for the schema.",
            request,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route {request.method} {request.url.path}; see /docs for the API."
        if exc.status_code == 405:
            allowed = allowed_methods(app, request.url.path)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}."
        return problem(exc.status_code, title, detail, request, headers=headers or None)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client left (or the body limit cut it off and already answered 413): nobody reads this.
        return problem(400, "Client disconnected", "The request body ended early.", request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "An unexpected error occurred; it was logged.", request)
