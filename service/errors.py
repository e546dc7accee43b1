"""The one place where errors become HTTP responses: RFC 9457 problem+json for every error."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from metastore.errors import (
    IdempotencyConflict,
    InvalidReference,
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
    if isinstance(exc, InvalidReference):
        return 422, "Unknown reference", {}
    if isinstance(exc, StoreUnavailable):
        return 503, "Metastore temporarily unavailable", {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, SchemaOutOfDate):
        return 503, "Metastore schema out of date", {"Retry-After": "60"}
    return 400, "Metastore error", {}


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
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No route {request.method} {request.url.path}; see /docs for the API."
        return problem(exc.status_code, title, detail, request, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal error", "An unexpected error occurred; it was logged.", request)
