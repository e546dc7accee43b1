"""Helpers for the job tests: stored datasets with stale meta-features, a worker thread, SSE parsing."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learners.metafeatures import EXTRACTOR_VERSION
from metastore.jobs import JobRecord, SqlJobStore
from metastore.records import MetaFeatureVector, NewDataset
from metastore.sql import SqlMetaStore
from service.config import Settings
from service.jobs.worker import Worker, WorkerConfig
from tests.service.data import csv_bytes, regression_frame

STALE = MetaFeatureVector(version="0-stale", values={})
FAST = WorkerConfig(poll_s=0.05, heartbeat_s=0.1, grace_s=1.0)
FAST_ENV = {"WARMSTART_JOB_POLL_S": "0.1", "WARMSTART_JOB_HEARTBEAT_S": "0.2", "WARMSTART_JOB_GRACE_S": "1.5"}


def seed_stale_datasets(
    store: SqlMetaStore, uploads_dir: Path, n: int, rows: int = 60, first: int = 0
) -> list[int]:
    """`n` regression datasets (numbered from `first`) with raw files and an old extractor's vector."""
    uploads_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(first, first + n):
        frame = regression_frame(n=rows, seed=100 + i)
        raw = csv_bytes(frame)
        name = f"jobs-{i}.csv"
        (uploads_dir / name).write_bytes(raw)
        record, _ = store.add_dataset(
            NewDataset(
                name=f"jobs-{i}",
                content_hash=hashlib.sha256(raw).hexdigest(),
                task_type="regression",
                target="y",
                n_rows=rows,
                n_features=2,
                column_types={"a": "numeric", "b": "numeric"},
                raw_file=name,
                file_format="csv",
                metafeatures=STALE,
            )
        )
        ids.append(record.id)
    return ids


def current(store: SqlMetaStore, ids: list[int]) -> list[int]:
    """The datasets among `ids` whose meta-features are at the current extractor version."""
    return [i for i in ids if (mf := store.get_dataset(i).metafeatures) and mf.version == EXTRACTOR_VERSION]


def wait_for(predicate: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def job_in(jobs: SqlJobStore, job_id: int, *states: str) -> JobRecord | None:
    job = jobs.get_job(job_id)
    return job if job.state in states else None


class WorkerThread:
    """A Worker in a thread of the test process, stopped on exit."""

    def __init__(self, jobs: SqlJobStore, store: SqlMetaStore, settings: Settings, **run: Any) -> None:
        self.worker = Worker(jobs, store, settings, FAST)
        self.thread = threading.Thread(target=self.worker.run, kwargs=run, daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.worker.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the worker thread did not stop"


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Server-sent events as dicts of id, event and the JSON data; comments are dropped."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            data = json.loads(fields["data"])
            out.append({"id": int(fields["id"]), "event": fields["event"], "data": data})
    return out
