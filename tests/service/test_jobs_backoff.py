"""Back-off between attempts of a failing job: the delay's shape, and a worker that honours it."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from metastore.jobs import SqlJobStore
from metastore.sql import SqlMetaStore
from service.jobs.handlers import submit
from service.jobs.worker import Worker, WorkerConfig, retry_delay
from tests.service.conftest import make_settings
from tests.service.jobs_support import FAST, job_in, seed_stale_datasets, wait_for


@pytest.mark.parametrize("attempt", range(1, 12))
def test_the_delay_doubles_per_attempt_up_to_the_cap_with_jitter(attempt: int) -> None:
    base, cap = 2.0, 60.0
    ceiling = min(cap, base * 2 ** (attempt - 1))
    rng = random.Random(attempt)
    delays = [retry_delay(attempt, base, cap, rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > ceiling / 4  # spread: failed-together jobs come back apart


def test_no_base_means_no_wait_and_huge_attempts_stay_capped() -> None:
    rng = random.Random(0)
    assert retry_delay(5, 0.0, 600.0, rng) == 0.0
    assert 300.0 <= retry_delay(10_000, 1.0, 600.0, rng) <= 600.0


def test_settings_reach_the_worker(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, job_retry_base_s=3, job_retry_cap_s=90)
    config = WorkerConfig.from_settings(settings)
    assert (config.retry_base_s, config.retry_cap_s) == (3, 90)
    assert make_settings(tmp_path).job_retry_base_s > 0  # on by default


def test_a_worker_waits_longer_before_each_new_attempt(sqlite_store: SqlMetaStore, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, str(sqlite_store.engine.url))
    jobs = SqlJobStore(sqlite_store.engine)
    ids = seed_stale_datasets(sqlite_store, settings.uploads_dir, 1)
    (settings.uploads_dir / "jobs-0.csv").unlink()  # every attempt fails on the missing file
    job = submit(jobs, "recompute_metafeatures", {"dataset_ids": ids}, max_attempts=3)
    worker = Worker(jobs, sqlite_store, settings, replace(FAST, poll_s=0.02, retry_base_s=0.4))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        final = wait_for(lambda: job_in(jobs, job.id, "failed", "succeeded"), what="the last attempt")
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert (final.state, final.attempts) == ("failed", 3)
    events = jobs.events(job.id)
    claims = [e.at for e in events if e.type == "claimed"]
    retries = [e for e in events if e.type == "retrying"]
    waits = [float(e.message.split()[3]) for e in retries]  # "next attempt in 0.31 s: ..."
    assert 0.2 <= waits[0] <= 0.4 and 0.4 <= waits[1] <= 0.8  # ceilings 0.4 s, then 0.8 s
    # each new claim came no earlier than the wait announced after the failure before it
    for retry, wait, claimed in zip(retries, waits, claims[1:], strict=True):
        assert (claimed - retry.at).total_seconds() >= wait - 0.01
