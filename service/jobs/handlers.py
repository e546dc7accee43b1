"""The registry of job kinds: a name, a handler `(ctx, arguments) -> result`, and its arguments' model.

A kind is registered by importing its module; modules listed in KIND_MODULES are imported the
first time the registry is read, so every worker knows the same kinds. To add a kind, write

    @register("meta_train", arguments=MetaTrainArguments, description="...")
    def meta_train(ctx: JobContext, arguments: dict[str, Any]) -> dict[str, Any]: ...

in its module and add that module to KIND_MODULES.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from metastore.jobs import JobRecord, JobStore
from service.jobs.context import JobContext
from service.problems import InvalidRequest

Handler = Callable[[JobContext, dict[str, Any]], dict[str, Any] | None]
KIND_MODULES: list[str] = [
    "service.jobs.builtin",
    "service.usecases.families",
    "service.usecases.learners_fit",
]
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Handler
    arguments: type[BaseModel]
    description: str
    max_attempts: int | None = None


class UnknownJobKind(InvalidRequest):
    title = "Unknown job kind"


class InvalidJobArguments(InvalidRequest):
    title = "Invalid job arguments"


_KINDS: dict[str, JobKind] = {}


def register(
    name: str, *, arguments: type[BaseModel], description: str, max_attempts: int | None = None
) -> Callable[[Handler], Handler]:
    """Register `handler` under `name`. Raises ValueError when the name is taken by another one."""

    def add(handler: Handler) -> Handler:
        existing = _KINDS.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job kind {name!r} is already registered by {existing.handler.__module__}")
        _KINDS[name] = JobKind(name, handler, arguments, description, max_attempts)
        return handler

    return add


def kinds() -> dict[str, JobKind]:
    """Every registered kind, by name."""
    for module in KIND_MODULES:
        importlib.import_module(module)
    return dict(_KINDS)


def get_kind(name: str) -> JobKind:
    """Raises: UnknownJobKind."""
    known = kinds()
    if name not in known:
        raise UnknownJobKind(f"No job kind {name!r}; the kinds are {sorted(known)}.", kind=name)
    return known[name]


def validate_arguments(kind: JobKind, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the handler will get them (defaults filled in). Raises: InvalidJobArguments."""
    try:
        return kind.arguments.model_validate(arguments).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "arguments"
        raise InvalidJobArguments(
            f"Arguments for job kind {kind.name!r} are invalid ({where}: {first['msg']}); "
            f"expected {sorted(kind.arguments.model_fields)}.",
            kind=kind.name,
        ) from exc


def submit(
    jobs: JobStore, kind: str, arguments: dict[str, Any], max_attempts: int | None = None
) -> JobRecord:
    """Validate and enqueue a job. Raises: UnknownJobKind, InvalidJobArguments."""
    job_kind = get_kind(kind)
    attempts = max_attempts or job_kind.max_attempts or DEFAULT_MAX_ATTEMPTS
    return jobs.enqueue(kind, validate_arguments(job_kind, arguments), attempts)
