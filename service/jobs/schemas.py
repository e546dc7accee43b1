"""The jobs part of the API contract: what GET /v1/jobs and the event stream return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from metastore.jobs import JobEvent, JobRecord

JobStateStr = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATE_AFTER: dict[str, JobStateStr] = {
    "queued": "queued",
    "requeued": "queued",
    "retrying": "queued",
    "released": "queued",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}  # claimed, progress and cancel (requested) leave the job running


class JobOut(BaseModel):
    id: int
    kind: str
    state: JobStateStr
    arguments: dict[str, Any]
    attempts: int = Field(description="Times a worker has claimed it.")
    max_attempts: int
    owner: str | None = Field(description="The worker running it, while it runs.")
    heartbeat_at: datetime | None
    progress: float = Field(ge=0, le=1)
    message: str
    metrics: dict[str, Any] = Field(description="Latest value of every metric the job reported.")
    result: dict[str, Any] | None
    error: str | None = Field(description="The last attempt's error, kept after retries.")
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    run_after: datetime | None = Field(
        default=None, description="A job queued for a retry is not run before this time (back-off)."
    )

    @classmethod
    def of(cls, r: JobRecord) -> JobOut:
        return cls(
            id=r.id,
            kind=r.kind,
            state=r.state,
            arguments=r.arguments,
            attempts=r.attempts,
            max_attempts=r.max_attempts,
            owner=r.owner,
            heartbeat_at=r.heartbeat_at,
            progress=r.progress,
            message=r.message,
            metrics=r.metrics,
            result=r.result,
            error=r.error,
            cancel_requested=r.cancel_requested,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            updated_at=r.updated_at,
            run_after=r.run_after,
        )


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    limit: int
    offset: int


class JobEventOut(BaseModel):
    """The data of one server-sent event; the SSE `id` is `id`, the SSE `event` is `type`."""

    id: int
    job_id: int
    type: str
    state: JobStateStr = Field(description="The job's state right after this event.")
    attempt: int
    owner: str | None
    progress: float | None
    message: str
    metrics: dict[str, Any]
    at: datetime

    @classmethod
    def of(cls, e: JobEvent) -> JobEventOut:
        return cls(
            id=e.id,
            job_id=e.job_id,
            type=e.type,
            state=STATE_AFTER.get(e.type, "running"),
            attempt=e.attempt,
            owner=e.owner,
            progress=e.progress,
            message=e.message,
            metrics=e.metrics,
            at=e.at,
        )
