"""What a job handler sees while it runs: its job, the stores, and progress, heartbeat and cancel checks."""

from __future__ import annotations

import threading
from typing import Any

from metastore.errors import JobLost
from metastore.jobs import JobRecord, JobStore
from metastore.store import MetaStore
from service.config import Settings


class JobCancelled(Exception):
    """Raised inside a handler at its next check once someone cancelled the job."""


class WorkerStopping(Exception):
    """Raised inside a handler at its next check when its worker shuts down; the job is requeued."""


class PermanentJobError(Exception):
    """A failure that another attempt cannot fix (bad arguments, missing prerequisite): no retry."""


class JobContext:
    """Handed to a handler: report progress often, call `check()` between steps.

    Both raise `JobCancelled`, `WorkerStopping` or `JobLost` when the handler must stop; the
    worker turns each into the right final state. Not shared between threads except for the
    flags, which the worker's heartbeat thread sets.
    """

    def __init__(
        self,
        job: JobRecord,
        jobs: JobStore,
        owner: str,
        store: MetaStore,
        settings: Settings,
        stopping: threading.Event,
    ) -> None:
        self.job = job
        self.jobs = jobs
        self.owner = owner
        self.store = store
        self.settings = settings
        self._stopping = stopping
        self._cancel = threading.Event()
        self._lost = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, fraction: float, message: str = "", metrics: dict[str, Any] | None = None) -> None:
        """Store progress (0..1), a message and metrics (they stream to watchers), then check."""
        self._observe(self.jobs.report_progress(self.job.id, self.owner, fraction, message, metrics))
        self.check()

    def heartbeat(self) -> None:
        """Prove the worker is alive (a background thread does this too), then check."""
        self._observe(self.jobs.heartbeat(self.job.id, self.owner))
        self.check()

    def save_checkpoint(self, payload: bytes) -> None:
        """Keep resumable state in the metastore, where the next attempt finds it on any machine.

        It is deleted when the job ends (succeeded, failed or cancelled). Raises `JobLost`.
        """
        try:
            self.jobs.save_checkpoint(self.job.id, self.owner, payload)
        except JobLost:
            self._mark_lost()
            raise

    def saved_checkpoint(self) -> bytes | None:
        """What an earlier attempt of this job saved with `save_checkpoint`, or None."""
        return self.jobs.checkpoint(self.job.id)

    def check(self) -> None:
        """Raise if the handler must stop now: lost job, cancel request, or worker shutdown."""
        if self._lost.is_set():
            raise JobLost(self.job.id, self.owner)
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.job.id} was cancelled")
        if self._stopping.is_set():
            raise WorkerStopping(f"worker {self.owner} is shutting down")

    def _observe(self, record: JobRecord) -> None:
        if record.cancel_requested:
            self._cancel.set()

    def _mark_lost(self) -> None:
        self._lost.set()
