"""The worker loop: requeue stale jobs, claim one, run its handler with heartbeats, record how it ended.

`warmstart worker` runs `Worker.run` in the foreground; `attach_embedded_worker` runs one in a
thread beside the HTTP server for the single-process default.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from metastore.errors import JobLost, StoreUnavailable
from metastore.jobs import JobRecord, JobStore, SqlJobStore
from metastore.store import MetaStore
from service.config import Settings
from service.jobs import handlers
from service.jobs.context import JobCancelled, JobContext, PermanentJobError, WorkerStopping

log = logging.getLogger("warmstart.worker")


@dataclass(frozen=True)
class WorkerConfig:
    poll_s: float = 1.0
    heartbeat_s: float = 5.0
    grace_s: float = 30.0
    kinds: tuple[str, ...] | None = None  # None: every registered kind
    retry_base_s: float = 0.0
    retry_cap_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings, kinds: tuple[str, ...] | None = None) -> WorkerConfig:
        return cls(
            settings.job_poll_s,
            settings.job_heartbeat_s,
            settings.job_grace_s,
            kinds,
            settings.job_retry_base_s,
            settings.job_retry_cap_s,
        )


def retry_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): exponential, capped, jittered.

    The ceiling doubles per attempt (base, 2 base, 4 base, ... up to `cap_s`) and the delay is
    drawn uniformly from its upper half ("equal jitter"), so jobs that failed together, say on
    one outage, do not all come back at the same moment, yet each waits at least half its ceiling.
    """
    ceiling = min(cap_s, base_s * 2.0 ** min(max(attempt - 1, 0), 60))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


def default_worker_id(suffix: str = "") -> str:
    """host:pid:random, so ids stay unique across machines and restarts."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:6]}{suffix}"


def jobs_for(store: MetaStore) -> SqlJobStore:
    """The job queue in the same database as `store`."""
    engine = getattr(store, "engine", None)
    if engine is None:
        raise TypeError(f"{type(store).__name__} has no SQL engine; jobs need a SQL metastore")
    return SqlJobStore(engine)


class Worker:
    """Runs jobs one at a time until stopped. `stop()` is safe to call from any thread or signal."""

    def __init__(
        self,
        jobs: JobStore,
        store: MetaStore,
        settings: Settings,
        config: WorkerConfig,
        worker_id: str | None = None,
    ) -> None:
        self.jobs = jobs
        self.store = store
        self.settings = settings
        self.config = config
        self.id = worker_id or default_worker_id()
        self.stopping = threading.Event()
        self._next_sweep = 0.0
        self._rng = random.Random()

    def stop(self) -> None:
        self.stopping.set()

    def run(self, max_jobs: int | None = None, exit_when_idle: bool = False) -> int:
        """Loop until stopped, `max_jobs` jobs ran, or (with `exit_when_idle`) the queue is empty.

        Returns the number of jobs this worker took.
        """
        log.info("worker %s started (kinds: %s)", self.id, ", ".join(self._kinds()))
        done = 0
        while not self.stopping.is_set():
            job = self.run_once()
            if job is not None:
                done += 1
                if max_jobs is not None and done >= max_jobs:
                    break
            elif exit_when_idle:
                break
            else:
                self.stopping.wait(self.config.poll_s)
        log.info("worker %s stopped after %d job(s)", self.id, done)
        return done

    def run_once(self) -> JobRecord | None:
        """Claim and run one job; None when none was queued (or the store is unreachable)."""
        try:
            self._sweep()
            job = self.jobs.claim(self.id, self._kinds())
        except StoreUnavailable as exc:
            log.warning("worker %s: metastore unavailable (%s); retrying", self.id, exc.reason)
            return None
        if job is None:
            return None
        return self.execute(job)

    def execute(self, job: JobRecord) -> JobRecord | None:
        """Run a claimed job to its end; returns the stored outcome (None if the job was lost)."""
        ctx = JobContext(job, self.jobs, self.id, self.store, self.settings, self.stopping)
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(ctx, done), daemon=True)
        beat.start()
        log.info("worker %s runs job %d (%s), attempt %d", self.id, job.id, job.kind, job.attempts)
        try:
            return self._settle(job, self._outcome(ctx))
        finally:
            done.set()
            beat.join(timeout=self.config.heartbeat_s + 5)

    def _outcome(self, ctx: JobContext) -> Callable[[], JobRecord] | None:
        """Run the handler; return the store call that records how it ended (None: job lost)."""
        job, owner = ctx.job, self.id
        try:
            kind = handlers.get_kind(job.kind)
            result = kind.handler(ctx, dict(job.arguments))
            if result is None:
                result = {}
            if not isinstance(result, dict):
                raise PermanentJobError(
                    f"handler {job.kind!r} returned a {type(result).__name__}; it must return a dict or None"
                )
            return lambda: self.jobs.complete(job.id, owner, result)
        except JobCancelled:
            return lambda: self.jobs.mark_cancelled(job.id, owner)
        except WorkerStopping as exc:
            reason = str(exc)
            return lambda: self.jobs.release(job.id, owner, reason)
        except JobLost:
            return None
        except (PermanentJobError, handlers.UnknownJobKind, handlers.InvalidJobArguments) as exc:
            error = _describe(exc)
            return lambda: self.jobs.fail(job.id, owner, error, retry=False)
        except Exception as exc:
            error = _describe(exc)
            log.warning("job %d attempt %d failed: %s", job.id, job.attempts, error.splitlines()[0])
            cfg = self.config
            wait = retry_delay(job.attempts, cfg.retry_base_s, cfg.retry_cap_s, self._rng)
            return lambda: self.jobs.fail(job.id, owner, error, retry=True, retry_in_s=wait)

    def _settle(self, job: JobRecord, record_outcome: Callable[[], JobRecord] | None) -> JobRecord | None:
        try:
            if record_outcome is None:
                raise JobLost(job.id, self.id)
            final = record_outcome()
        except JobLost:
            log.warning("job %d was taken from worker %s; its outcome is dropped", job.id, self.id)
            return None
        except ValueError as exc:  # a result that is not JSON
            error = f"the handler's result cannot be stored: {exc}"
            return self._settle(job, lambda: self.jobs.fail(job.id, self.id, error, retry=False))
        except StoreUnavailable as exc:
            # The job stays running under this id; once the heartbeats stop it is requeued.
            log.warning("could not record job %d: %s", job.id, exc.reason)
            return None
        log.info("job %d %s", job.id, final.state)
        return final

    def _heartbeat(self, ctx: JobContext, done: threading.Event) -> None:
        while not done.wait(self.config.heartbeat_s):
            try:
                ctx._observe(self.jobs.heartbeat(ctx.job.id, self.id))
            except JobLost:
                ctx._mark_lost()
                return
            except StoreUnavailable as exc:
                log.warning("heartbeat for job %d failed: %s", ctx.job.id, exc.reason)

    def _sweep(self) -> None:
        """Requeue the jobs of dead workers, at most a few times per grace period."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + min(self.config.poll_s, self.config.grace_s / 4)
        for job in self.jobs.requeue_stale(self.config.grace_s):
            log.warning("job %d: %s -> %s", job.id, job.error, job.state)

    def _kinds(self) -> list[str]:
        return list(self.config.kinds) if self.config.kinds is not None else sorted(handlers.kinds())


def _describe(exc: BaseException) -> str:
    """The error as 'Type: message', then the innermost frames, for the job's last error."""
    frames = "".join(traceback.format_tb(exc.__traceback__, limit=-4))
    return f"{type(exc).__name__}: {exc}\n{frames}".strip()


class EmbeddedWorker:
    """A worker in a daemon thread of the server process."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.worker.run, name="warmstart-worker", daemon=True)
        self.thread.start()

    def stop(self, timeout: float) -> None:
        """Ask the worker to stop; a running job goes back to the queue at its next check."""
        self.worker.stop()
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                log.warning("embedded worker still busy after %.0f s; its job is requeued later", timeout)


def attach_embedded_worker(app: FastAPI, settings: Settings, store: MetaStore) -> EmbeddedWorker:
    """Run one worker beside the server for the app's lifetime (started and stopped by its lifespan)."""
    embedded = EmbeddedWorker(
        Worker(
            jobs_for(store),
            store,
            settings,
            WorkerConfig.from_settings(settings),
            default_worker_id("-embedded"),
        )
    )
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        embedded.start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            embedded.stop(timeout=max(5.0, 2 * settings.job_heartbeat_s))

    app.router.lifespan_context = lifespan
    app.state.embedded_worker = embedded
    return embedded
