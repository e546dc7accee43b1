"""Service-level errors: each carries an HTTP status, a title, and what to do about it."""

from __future__ import annotations

from typing import Any


class ProblemError(Exception):
    """An error that becomes an RFC 9457 problem+json response."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra


class IntakeError(ProblemError):
    status = 422
    title = "The dataset cannot be accepted"


class PayloadTooLarge(ProblemError):
    status = 413
    title = "Request body too large"


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported file type"


class Unauthorized(ProblemError):
    status = 401
    title = "Missing or invalid API key"


class Forbidden(ProblemError):
    status = 403
    title = "The API key lacks the required scope"


class InvalidRequest(ProblemError):
    status = 422
    title = "Invalid request"
