"""The durable job queue: enqueue, claim, heartbeat, progress, finish, cancel and requeue of stale jobs.

Thread- and process-safety: every method is one transaction. A claim locks the row it takes
(`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the write transaction is
`BEGIN IMMEDIATE`, so writers are serialised), so two workers never hold the same job. Every
write by a worker names its owner id and the attempt it claimed; once a job has been requeued
or finished elsewhere those writes raise `JobLost`, so a worker that was presumed dead can
never store a second result. Times that decide staleness come from one clock: the database's
on PostgreSQL (workers on many machines), the local one on SQLite (one machine).

A failed attempt may be retried after a delay (`run_after`; claims pass over jobs not yet due),
and a running job may keep one checkpoint here so that any worker can resume it; the
checkpoint is deleted when the job ends, however it ends.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, delete, func, or_, select
from sqlalchemy.orm import Session

from metastore import models as m
from metastore.errors import JobAlreadyFinished, JobLost, JobNotFound
from metastore.records import Page
from metastore.session import SessionFactory

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
MAX_ERROR_CHARS = 8_000
MAX_MESSAGE_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    arguments: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    owner: str | None
    heartbeat_at: datetime | None
    progress: float
    message: str
    metrics: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    run_after: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One entry of a job's log; `id` grows across all jobs, so it orders a stream."""

    id: int
    job_id: int
    type: str
    attempt: int
    owner: str | None
    progress: float | None
    message: str
    metrics: dict[str, Any]
    at: datetime


class JobStore(abc.ABC):
    """The queue contract. Every method may raise `StoreUnavailable`."""

    @abc.abstractmethod
    def enqueue(self, kind: str, arguments: dict[str, Any], max_attempts: int = 3) -> JobRecord:
        """Add a queued job. Raises: ValueError for max_attempts < 1 or arguments not JSON."""

    @abc.abstractmethod
    def get_job(self, job_id: int) -> JobRecord:
        """Raises: JobNotFound."""

    @abc.abstractmethod
    def list_jobs(
        self,
        state: JobState | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[JobRecord]:
        """Jobs matching the filters, newest first, with the total count."""

    @abc.abstractmethod
    def events(self, job_id: int, after: int = 0, limit: int = 500) -> list[JobEvent]:
        """The job's events with id > `after`, oldest first. Raises: JobNotFound."""

    @abc.abstractmethod
    def claim(self, owner: str, kinds: list[str] | None = None) -> JobRecord | None:
        """Take the oldest due queued job of one of `kinds` (any kind if None) for `owner`.

        The job becomes running, its attempt count grows by one, and a `claimed` event is
        written in the same transaction. Returns None when nothing is queued and due (a retried
        job waiting for its `run_after` is not due yet).
        """

    @abc.abstractmethod
    def heartbeat(self, job_id: int, owner: str) -> JobRecord:
        """Record that `owner` is alive; the record tells it whether a cancel was requested.

        Raises: JobLost when `owner` no longer runs the job.
        """

    @abc.abstractmethod
    def report_progress(
        self,
        job_id: int,
        owner: str,
        progress: float,
        message: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> JobRecord:
        """Store progress (a fraction clipped to [0, 1]) and metrics, log it, and heartbeat.

        Raises: JobLost.
        """

    @abc.abstractmethod
    def complete(self, job_id: int, owner: str, result: dict[str, Any]) -> JobRecord:
        """Mark the job succeeded with its result. Raises: JobLost (the result is not stored)."""

    @abc.abstractmethod
    def fail(
        self, job_id: int, owner: str, error: str, retry: bool = True, retry_in_s: float = 0.0
    ) -> JobRecord:
        """Record a failed attempt: queued again while attempts remain and `retry`, else failed.

        A retried job is not claimed before `retry_in_s` seconds have passed (its `run_after`).
        The error is kept either way. Raises: JobLost; ValueError for a negative delay.
        """

    @abc.abstractmethod
    def save_checkpoint(self, job_id: int, owner: str, payload: bytes) -> None:
        """Keep `payload` as the job's one checkpoint (replacing an older one); also a heartbeat.

        Raises: JobLost when `owner` no longer runs the job (nothing is written).
        """

    @abc.abstractmethod
    def checkpoint(self, job_id: int) -> bytes | None:
        """The job's checkpoint, or None. It is deleted when the job finishes."""

    @abc.abstractmethod
    def release(self, job_id: int, owner: str, reason: str) -> JobRecord:
        """Give a job back to the queue without spending an attempt (a worker shutting down).

        Raises: JobLost.
        """

    @abc.abstractmethod
    def mark_cancelled(self, job_id: int, owner: str) -> JobRecord:
        """The owner stopped after a cancel request. Raises: JobLost."""

    @abc.abstractmethod
    def cancel(self, job_id: int) -> JobRecord:
        """Cancel a queued job at once, or ask the owner of a running one to stop.

        Raises: JobNotFound, JobAlreadyFinished.
        """

    @abc.abstractmethod
    def requeue_stale(self, grace_s: float) -> list[JobRecord]:
        """Running jobs whose heartbeat is older than `grace_s`: queued again, or failed when
        they have used every attempt, or cancelled when a cancel was pending. Returns them.
        """


class SqlJobStore(JobStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = SessionFactory(engine)
        self._postgres = engine.dialect.name == "postgresql"

    def _now(self, s: Session) -> datetime:
        if self._postgres:  # one clock for workers on many machines
            return s.execute(select(func.clock_timestamp())).scalar_one()
        return datetime.now(UTC)

    # -- submitting and reading --------------------------------------------------------------
    def enqueue(self, kind: str, arguments: dict[str, Any], max_attempts: int = 3) -> JobRecord:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        with self.sessions.scope(write=True) as s:
            now = self._now(s)
            row = m.Job(
                kind=kind,
                arguments=_json_safe(arguments),
                state="queued",
                attempts=0,
                max_attempts=max_attempts,
                progress=0.0,
                message="",
                metrics={},
                cancel_requested=False,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            self._event(s, row, "queued", now)
            return _job(row)

    def get_job(self, job_id: int) -> JobRecord:
        with self.sessions.scope() as s:
            return _job(_get(s, job_id))

    def list_jobs(
        self,
        state: JobState | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[JobRecord]:
        conditions = []
        if state is not None:
            conditions.append(m.Job.state == state)
        if kind is not None:
            conditions.append(m.Job.kind == kind)
        with self.sessions.scope() as s:
            total = s.scalar(select(func.count()).select_from(m.Job).where(*conditions)) or 0
            rows = s.scalars(
                select(m.Job).where(*conditions).order_by(m.Job.id.desc()).limit(limit).offset(offset)
            )
            return Page(items=[_job(r) for r in rows], total=total, limit=limit, offset=offset)

    def events(self, job_id: int, after: int = 0, limit: int = 500) -> list[JobEvent]:
        e = m.JobEvent
        with self.sessions.scope() as s:
            if s.get(m.Job, job_id) is None:
                raise JobNotFound(job_id)
            rows = s.scalars(select(e).where(e.job_id == job_id, e.id > after).order_by(e.id).limit(limit))
            return [_event(r) for r in rows]

    # -- the worker's side --------------------------------------------------------------------
    def claim(self, owner: str, kinds: list[str] | None = None) -> JobRecord | None:
        stmt = select(m.Job).where(m.Job.state == "queued").order_by(m.Job.id).limit(1)
        if kinds is not None:
            stmt = stmt.where(m.Job.kind.in_(kinds))
        with self.sessions.scope() as s:
            # Idle workers poll: a read first spares SQLite's single writer lock when nothing waits.
            if s.scalar(stmt.where(_due(self._now(s))).with_only_columns(m.Job.id)) is None:
                return None
        with self.sessions.scope(write=True) as s:
            now = self._now(s)
            # SKIP LOCKED: concurrent claimers pass over each other's rows instead of waiting.
            row = s.scalars(stmt.where(_due(now)).with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            row.state = "running"
            row.run_after = None
            row.owner = owner
            row.attempts += 1
            row.heartbeat_at = now
            row.started_at = row.started_at or now
            row.updated_at = now
            self._event(s, row, "claimed", now, message=f"attempt {row.attempts} of {row.max_attempts}")
            return _job(row)

    def heartbeat(self, job_id: int, owner: str) -> JobRecord:
        with self.sessions.scope(write=True) as s:
            row = self._owned(s, job_id, owner)
            row.heartbeat_at = self._now(s)
            return _job(row)

    def report_progress(
        self,
        job_id: int,
        owner: str,
        progress: float,
        message: str = "",
        metrics: dict[str, Any] | None = None,
    ) -> JobRecord:
        fraction = min(max(float(progress), 0.0), 1.0) if math.isfinite(progress) else 0.0
        clean = _json_safe(metrics or {})
        with self.sessions.scope(write=True) as s:
            row = self._owned(s, job_id, owner)
            now = self._now(s)
            row.progress = fraction
            row.message = message[:MAX_MESSAGE_CHARS]
            row.metrics = {**row.metrics, **clean}
            row.heartbeat_at = now
            row.updated_at = now
            self._event(s, row, "progress", now, message=row.message, metrics=clean)
            return _job(row)

    def complete(self, job_id: int, owner: str, result: dict[str, Any]) -> JobRecord:
        with self.sessions.scope(write=True) as s:
            row = self._owned(s, job_id, owner)
            now = self._now(s)
            row.state = "succeeded"
            row.result = _json_safe(result)
            row.progress = 1.0
            self._finish(s, row, now, "succeeded")
            return _job(row)

    def fail(
        self, job_id: int, owner: str, error: str, retry: bool = True, retry_in_s: float = 0.0
    ) -> JobRecord:
        if not retry_in_s >= 0:
            raise ValueError(f"retry_in_s must be a non-negative number of seconds, not {retry_in_s}")
        with self.sessions.scope(write=True) as s:
            row = self._owned(s, job_id, owner)
            now = self._now(s)
            row.error = error[-MAX_ERROR_CHARS:]
            if retry and row.attempts < row.max_attempts and not row.cancel_requested:
                wait = f"next attempt in {retry_in_s:.3g} s: " if retry_in_s > 0 else ""
                self._requeue(s, row, now, "retrying", wait + error)
                row.run_after = now + timedelta(seconds=retry_in_s) if retry_in_s > 0 else None
            else:
                row.state = "cancelled" if row.cancel_requested else "failed"
                self._finish(s, row, now, row.state, message=error)
            return _job(row)

    def release(self, job_id: int, owner: str, reason: str) -> JobRecord:
        with self.sessions.scope(write=True) as s:
            row = self._owned(s, job_id, owner)
            row.attempts -= 1  # not the job's fault: the attempt does not count
            self._requeue(s, row, self._now(s), "released", reason)
            return _job(row)

    def save_checkpoint(self, job_id: int, owner: str, payload: bytes) -> None:
        with self.sessions.scope(write=True) as s:
            row = self._owned(s, job_id, owner)
            now = self._now(s)
            saved = s.get(m.JobCheckpoint, job_id)
            if saved is None:
                s.add(m.JobCheckpoint(job_id=job_id, attempt=row.attempts, payload=payload, updated_at=now))
            else:
                saved.attempt, saved.payload, saved.updated_at = row.attempts, payload, now
            row.heartbeat_at = now

    def checkpoint(self, job_id: int) -> bytes | None:
        with self.sessions.scope() as s:
            payload = s.scalar(select(m.JobCheckpoint.payload).where(m.JobCheckpoint.job_id == job_id))
            return None if payload is None else bytes(payload)

    def mark_cancelled(self, job_id: int, owner: str) -> JobRecord:
        with self.sessions.scope(write=True) as s:
            row = self._owned(s, job_id, owner)
            row.state = "cancelled"
            self._finish(s, row, self._now(s), "cancelled", message="stopped on request")
            return _job(row)

    # -- the operator's side ------------------------------------------------------------------
    def cancel(self, job_id: int) -> JobRecord:
        with self.sessions.scope(write=True) as s:
            row = s.scalars(select(m.Job).where(m.Job.id == job_id).with_for_update()).first()
            if row is None:
                raise JobNotFound(job_id)
            if row.state in FINAL_STATES:
                raise JobAlreadyFinished(job_id, row.state)
            now = self._now(s)
            if row.state == "queued":
                row.state = "cancelled"
                self._finish(s, row, now, "cancelled", message="cancelled before it ran")
            elif not row.cancel_requested:
                row.cancel_requested = True
                row.updated_at = now
                self._event(s, row, "cancel", now, message="cancel requested; the worker stops soon")
            return _job(row)

    def requeue_stale(self, grace_s: float) -> list[JobRecord]:
        with self.sessions.scope() as s:
            cutoff = self._now(s) - timedelta(seconds=grace_s)
            overdue = select(m.Job.id).where(m.Job.state == "running", m.Job.heartbeat_at < cutoff)
            if s.scalar(overdue.limit(1)) is None:
                return []
        with self.sessions.scope(write=True) as s:
            now = self._now(s)
            stale = s.scalars(
                select(m.Job)
                .where(m.Job.state == "running", m.Job.heartbeat_at < now - timedelta(seconds=grace_s))
                .order_by(m.Job.id)
                .with_for_update(skip_locked=True)
            ).all()
            for row in stale:
                self._expire(s, row, now)
            return [_job(r) for r in stale]

    # -- helpers --------------------------------------------------------------------------------
    def _expire(self, s: Session, row: m.Job, now: datetime) -> None:
        seen = row.heartbeat_at.isoformat(timespec="seconds") if row.heartbeat_at else "never"
        why = (
            f"worker {row.owner} stopped sending heartbeats (last at {seen}) "
            f"during attempt {row.attempts} of {row.max_attempts}"
        )
        row.error = why
        if row.cancel_requested:
            row.state = "cancelled"
            self._finish(s, row, now, "cancelled", message=why)
        elif row.attempts >= row.max_attempts:
            row.state = "failed"
            self._finish(s, row, now, "failed", message=why)
        else:
            self._requeue(s, row, now, "requeued", why)

    def _requeue(self, s: Session, row: m.Job, now: datetime, event: str, why: str) -> None:
        owner = row.owner
        row.state = "queued"
        row.owner = None
        row.heartbeat_at = None
        row.updated_at = now
        self._event(s, row, event, now, message=why, owner=owner)

    def _finish(self, s: Session, row: m.Job, now: datetime, event: str, message: str = "") -> None:
        owner = row.owner
        row.owner = None
        row.heartbeat_at = None
        row.run_after = None
        row.finished_at = now
        row.updated_at = now
        # Nothing resumes a finished job: its checkpoint would only take up space.
        s.execute(delete(m.JobCheckpoint).where(m.JobCheckpoint.job_id == row.id))
        self._event(s, row, event, now, message=message, owner=owner)

    def _owned(self, s: Session, job_id: int, owner: str) -> m.Job:
        # Locks the row on PostgreSQL so a concurrent requeue cannot interleave with this write.
        row = s.scalars(
            select(m.Job)
            .where(m.Job.id == job_id, m.Job.owner == owner, m.Job.state == "running")
            .with_for_update()
        ).first()
        if row is None:
            raise JobLost(job_id, owner)
        return row

    def _event(
        self,
        s: Session,
        row: m.Job,
        kind: str,
        now: datetime,
        message: str = "",
        metrics: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> None:
        s.add(
            m.JobEvent(
                job_id=row.id,
                type=kind,
                attempt=row.attempts,
                owner=owner or row.owner,
                progress=row.progress,
                message=message[:MAX_ERROR_CHARS],
                metrics=metrics or {},
                at=now,
            )
        )


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(m.Job.run_after.is_(None), m.Job.run_after <= now)


def _get(s: Session, job_id: int) -> m.Job:
    row = s.get(m.Job, job_id)
    if row is None:
        raise JobNotFound(job_id)
    return row


def _json_safe(value: Any) -> Any:
    """JSON has no NaN or infinity (a missing value becomes null); other values must be JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    raise ValueError(f"{value!r} ({type(value).__name__}) cannot be stored as JSON; convert it first")


def _aware(ts: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every stored time is UTC.
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=UTC)


def _job(r: m.Job) -> JobRecord:
    return JobRecord(
        id=r.id,
        kind=r.kind,
        arguments=dict(r.arguments),
        state=r.state,  # type: ignore[arg-type]
        attempts=r.attempts,
        max_attempts=r.max_attempts,
        owner=r.owner,
        heartbeat_at=_aware(r.heartbeat_at),
        progress=r.progress,
        message=r.message,
        metrics=dict(r.metrics),
        result=None if r.result is None else dict(r.result),
        error=r.error,
        cancel_requested=r.cancel_requested,
        created_at=_aware(r.created_at),  # type: ignore[arg-type]
        started_at=_aware(r.started_at),
        finished_at=_aware(r.finished_at),
        updated_at=_aware(r.updated_at),  # type: ignore[arg-type]
        run_after=_aware(r.run_after),
    )


def _event(r: m.JobEvent) -> JobEvent:
    return JobEvent(
        id=r.id,
        job_id=r.job_id,
        type=r.type,
        attempt=r.attempt,
        owner=r.owner,
        progress=r.progress,
        message=r.message,
        metrics=dict(r.metrics),
        at=_aware(r.at),  # type: ignore[arg-type]
    )
