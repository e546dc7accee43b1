"""Routes for jobs: list, inspect, cancel, and follow one as server-sent events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from metastore.jobs import JobStore
from service.deps import ReadKey, SettingsDep, WriteKey
from service.jobs.schemas import JobEventOut, JobOut, JobPage, JobStateStr
from service.jobs.worker import jobs_for
from service.problems import InvalidRequest


def single_valued_query(request: Request) -> None:
    """`?kind=a&kind=b` would silently mean `kind=b`; every query parameter here takes one value."""
    names = [k for k, _ in request.query_params.multi_items()]
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise InvalidRequest(f"Query parameter(s) {repeated} were given more than once; give each once.")


router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(single_valued_query)])

MAX_INT = 2**31 - 1
JobId = Annotated[int, Path(ge=1, le=MAX_INT, description="A job id")]
KEEPALIVE_S = 15.0


def get_jobs(request: Request) -> JobStore:
    state = request.app.state
    if getattr(state, "jobs", None) is None:
        state.jobs = jobs_for(state.store)
    return state.jobs


JobsDep = Annotated[JobStore, Depends(get_jobs)]


@router.get("", response_model=JobPage, summary="List jobs, newest first")
def list_jobs(
    jobs: JobsDep,
    _: ReadKey,
    state: JobStateStr | None = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> JobPage:
    page = jobs.list_jobs(state, kind, limit, offset)
    return JobPage(items=[JobOut.of(j) for j in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut, summary="One job: state, progress, metrics, result, error")
def get_job(job_id: JobId, jobs: JobsDep, _: ReadKey) -> JobOut:
    return JobOut.of(jobs.get_job(job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job: a queued one at once, a running one at its next step",
)
def cancel_job(job_id: JobId, jobs: JobsDep, _: WriteKey) -> JobOut:
    return JobOut.of(jobs.cancel(job_id))


@router.get(
    "/{job_id}/events",
    summary="Follow a job as server-sent events (progress and metrics as they come)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An event stream: each event's `id` is its event id, its `event` the type, "
            "its `data` a JobEventOut as JSON. It ends after the job's final event. "
            "Reconnect with Last-Event-ID to resume.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def job_events(
    job_id: JobId,
    request: Request,
    jobs: JobsDep,
    settings: SettingsDep,
    _: ReadKey,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Send events after this id")] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    start = after if after is not None else _event_id(last_event_id)
    await run_in_threadpool(jobs.get_job, job_id)  # 404 now, not inside the stream
    return StreamingResponse(
        _stream(request, jobs, job_id, start, settings.job_poll_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _event_id(header: str | None) -> int:
    if not header:
        return 0
    try:
        value = int(header)
    except ValueError:
        value = -1
    if not 0 <= value <= 2**62:
        raise InvalidRequest(f"Last-Event-ID must be an event id (a whole number), not {header!r}.")
    return value


async def _stream(
    request: Request, jobs: JobStore, job_id: int, after: int, poll_s: float
) -> AsyncIterator[str]:
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        # The state is read before the events: once it is final, every event is already written.
        job = await run_in_threadpool(jobs.get_job, job_id)
        events = await run_in_threadpool(jobs.events, job_id, after)
        for e in events:
            data = JobEventOut.of(e).model_dump_json()
            yield f"id: {e.id}\nevent: {e.type}\ndata: {data}\n\n"
            after = e.id
        if events:
            quiet_since = time.monotonic()
            continue  # there may be more than one page
        if job.finished:
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(poll_s)
