"""The job queue on SQLite and PostgreSQL: lifecycle, exclusive claims, stale workers, attempts, cancel."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from metastore.errors import JobAlreadyFinished, JobLost, JobNotFound
from metastore.jobs import JobRecord, SqlJobStore
from metastore.sql import SqlMetaStore


@pytest.fixture
def jobs(store: SqlMetaStore) -> SqlJobStore:
    return SqlJobStore(store.engine)


def _types(jobs: SqlJobStore, job_id: int) -> list[str]:
    return [e.type for e in jobs.events(job_id)]


def test_lifecycle_and_event_log(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("recompute_metafeatures", {"dataset_ids": [1, 2]}, max_attempts=2)
    assert (job.state, job.attempts, job.progress, job.owner) == ("queued", 0, 0.0, None)
    claimed = jobs.claim("w1")
    assert claimed is not None and claimed.id == job.id
    assert (claimed.state, claimed.attempts, claimed.owner) == ("running", 1, "w1")
    assert claimed.heartbeat_at is not None and claimed.started_at is not None
    assert jobs.claim("w2") is None  # nothing else is queued
    mid = jobs.report_progress(job.id, "w1", 0.5, "half", {"loss": 0.25, "bad": float("nan")})
    assert (mid.progress, mid.message, mid.metrics) == (0.5, "half", {"loss": 0.25, "bad": None})
    jobs.report_progress(job.id, "w1", 7.0, "over", {"acc": 0.9})
    assert jobs.get_job(job.id).metrics == {"loss": 0.25, "bad": None, "acc": 0.9}
    assert jobs.get_job(job.id).progress == 1.0  # clipped
    done = jobs.complete(job.id, "w1", {"recomputed": [1, 2]})
    assert (done.state, done.owner, done.progress) == ("succeeded", None, 1.0)
    assert done.result == {"recomputed": [1, 2]}
    assert done.finished and done.finished_at is not None
    assert _types(jobs, job.id) == ["queued", "claimed", "progress", "progress", "succeeded"]
    events = jobs.events(job.id)
    assert events[2].metrics == {"loss": 0.25, "bad": None} and events[2].owner == "w1"
    assert [e.type for e in jobs.events(job.id, after=events[2].id)] == ["progress", "succeeded"]
    with pytest.raises(JobLost, match="drop its result"):
        jobs.complete(job.id, "w1", {"again": True})
    assert jobs.get_job(job.id).result == {"recomputed": [1, 2]}


def test_list_filters_and_missing_jobs(jobs: SqlJobStore) -> None:
    ids = [jobs.enqueue(kind, {}).id for kind in ("a", "b", "a")]
    jobs.cancel(ids[1])
    page = jobs.list_jobs()
    assert page.total == 3 and [j.id for j in page.items] == ids[::-1]
    assert [j.id for j in jobs.list_jobs(kind="a").items] == [ids[2], ids[0]]
    assert [j.id for j in jobs.list_jobs(state="cancelled").items] == [ids[1]]
    assert jobs.list_jobs(limit=1, offset=1).items[0].id == ids[1]
    with pytest.raises(JobNotFound, match="job 999"):
        jobs.get_job(999)
    with pytest.raises(JobNotFound):
        jobs.events(999)
    with pytest.raises(ValueError, match="max_attempts"):
        jobs.enqueue("a", {}, max_attempts=0)
    with pytest.raises(ValueError, match="cannot be stored as JSON"):
        jobs.enqueue("a", {"x": object()})


def test_claim_takes_only_the_given_kinds_oldest_first(jobs: SqlJobStore) -> None:
    a1, b1, a2 = (jobs.enqueue(k, {}).id for k in ("a", "b", "a"))
    assert jobs.claim("w", kinds=["b"]).id == b1  # type: ignore[union-attr]
    assert jobs.claim("w", kinds=["b"]) is None
    assert jobs.claim("w", kinds=["a", "b"]).id == a1  # type: ignore[union-attr]
    assert jobs.claim("w").id == a2  # type: ignore[union-attr]


def test_concurrent_claims_never_share_a_job(jobs: SqlJobStore) -> None:
    n_jobs, n_workers = 60, 6
    ids = {jobs.enqueue("a", {"i": i}).id for i in range(n_jobs)}
    taken: dict[str, list[int]] = {f"w{w}": [] for w in range(n_workers)}
    start = threading.Barrier(n_workers)

    def work(owner: str) -> None:
        start.wait()
        while (job := jobs.claim(owner)) is not None:
            taken[owner].append(job.id)
            jobs.complete(job.id, owner, {"by": owner})

    threads = [threading.Thread(target=work, args=(w,)) for w in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    all_taken = [i for got in taken.values() for i in got]
    assert sorted(all_taken) == sorted(ids)  # each job exactly once
    claims = Counter(e.job_id for i in ids for e in jobs.events(i) if e.type == "claimed")
    assert set(claims.values()) == {1}
    for owner, got in taken.items():
        assert all(jobs.get_job(i).result == {"by": owner} for i in got)


def test_a_silent_worker_loses_its_job_to_another(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("a", {}, max_attempts=3)
    jobs.claim("dead")
    assert jobs.requeue_stale(grace_s=60) == []  # its heartbeat is fresh
    (requeued,) = jobs.requeue_stale(grace_s=0)
    assert (requeued.state, requeued.owner, requeued.attempts) == ("queued", None, 1)
    assert "worker dead stopped sending heartbeats" in (requeued.error or "")
    again = jobs.claim("alive")
    assert again is not None and (again.id, again.attempts) == (job.id, 2)
    for late_write in (
        lambda: jobs.heartbeat(job.id, "dead"),
        lambda: jobs.report_progress(job.id, "dead", 0.9),
        lambda: jobs.complete(job.id, "dead", {"late": True}),
        lambda: jobs.fail(job.id, "dead", "late"),
    ):
        with pytest.raises(JobLost):
            late_write()
    jobs.complete(job.id, "alive", {"ok": 1})
    final = jobs.get_job(job.id)
    assert (final.state, final.result, final.attempts) == ("succeeded", {"ok": 1}, 2)
    assert _types(jobs, job.id) == ["queued", "claimed", "requeued", "claimed", "succeeded"]


def test_failing_job_stops_after_its_attempts_with_the_last_error(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("a", {}, max_attempts=3)
    for attempt in (1, 2, 3):
        claimed = jobs.claim("w")
        assert claimed is not None and claimed.attempts == attempt
        after = jobs.fail(job.id, "w", f"ValueError: bad input on attempt {attempt}")
    assert jobs.claim("w") is None
    assert (after.state, after.attempts, after.error) == ("failed", 3, "ValueError: bad input on attempt 3")
    assert _types(jobs, job.id)[-2:] == ["claimed", "failed"]
    assert _types(jobs, job.id).count("retrying") == 2


def test_a_permanent_error_is_not_retried(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("a", {}, max_attempts=5)
    jobs.claim("w")
    failed = jobs.fail(job.id, "w", "unknown argument 'x'", retry=False)
    assert (failed.state, failed.attempts) == ("failed", 1)


def test_dead_workers_also_spend_attempts(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("a", {}, max_attempts=2)
    for _ in range(2):
        jobs.claim("crashing")
        jobs.requeue_stale(grace_s=0)
    final = jobs.get_job(job.id)
    assert (final.state, final.attempts) == ("failed", 2)
    assert "attempt 2 of 2" in (final.error or "")


def test_release_gives_the_job_back_without_spending_an_attempt(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("a", {}, max_attempts=1)
    jobs.claim("w1")
    released = jobs.release(job.id, "w1", "worker shutting down")
    assert (released.state, released.attempts, released.owner) == ("queued", 0, None)
    assert jobs.claim("w2").attempts == 1  # type: ignore[union-attr]


def test_cancel(jobs: SqlJobStore) -> None:
    queued = jobs.enqueue("a", {})
    cancelled = jobs.cancel(queued.id)
    assert cancelled.state == "cancelled" and cancelled.finished_at is not None
    assert jobs.claim("w") is None  # a cancelled job never runs
    running = jobs.enqueue("a", {})
    jobs.claim("w")
    asked = jobs.cancel(running.id)
    assert (asked.state, asked.cancel_requested) == ("running", True)
    assert jobs.heartbeat(running.id, "w").cancel_requested is True
    assert jobs.mark_cancelled(running.id, "w").state == "cancelled"
    with pytest.raises(JobAlreadyFinished, match="already cancelled"):
        jobs.cancel(running.id)
    with pytest.raises(JobNotFound):
        jobs.cancel(12345)
    # a cancel pending on a dead worker's job ends it, instead of running it again
    orphan = jobs.enqueue("a", {})
    jobs.claim("dead")
    jobs.cancel(orphan.id)
    jobs.requeue_stale(grace_s=0)
    assert jobs.get_job(orphan.id).state == "cancelled"
    assert _types(jobs, running.id) == ["queued", "claimed", "cancel", "cancelled"]


def test_a_retry_with_back_off_is_not_claimed_before_it_is_due(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("a", {}, max_attempts=3)
    other = jobs.enqueue("b", {})
    jobs.claim("w", kinds=["a"])
    waiting = jobs.fail(job.id, "w", "ValueError: flaky", retry_in_s=0.5)
    assert waiting.state == "queued" and waiting.run_after is not None
    delay = (waiting.run_after - waiting.updated_at).total_seconds()
    assert delay == pytest.approx(0.5, abs=1e-3)
    assert jobs.claim("w", kinds=["a"]) is None  # not due yet
    assert jobs.claim("w").id == other.id  # type: ignore[union-attr]  # others pass it by
    again = wait_for_claim(jobs, "w", timeout=10)
    assert (again.id, again.attempts, again.run_after) == (job.id, 2, None)
    assert jobs.events(job.id)[-2].message.startswith("next attempt in 0.5 s: ValueError: flaky")
    with pytest.raises(ValueError, match="non-negative"):
        jobs.fail(job.id, "w", "x", retry_in_s=-1)
    final = jobs.fail(job.id, "w", "boom", retry=False, retry_in_s=30)
    assert (final.state, final.run_after) == ("failed", None)  # no retry, no wait


def test_a_cancel_ends_a_job_waiting_for_its_retry(jobs: SqlJobStore) -> None:
    job = jobs.enqueue("a", {}, max_attempts=3)
    jobs.claim("w")
    jobs.fail(job.id, "w", "flaky", retry_in_s=3600)
    cancelled = jobs.cancel(job.id)
    assert (cancelled.state, cancelled.run_after) == ("cancelled", None)


def test_a_checkpoint_is_kept_for_the_next_attempt_and_dropped_when_the_job_ends(jobs: SqlJobStore) -> None:
    ends = {
        "succeeded": lambda i: jobs.complete(i, "w2", {}),
        "failed": lambda i: jobs.fail(i, "w2", "no", retry=False),
        "cancelled": lambda i: (jobs.cancel(i), jobs.mark_cancelled(i, "w2")),
        "requeued-then-cancelled": lambda i: (jobs.release(i, "w2", "bye"), jobs.cancel(i)),
    }
    for end in ends.values():
        job = jobs.enqueue("a", {}, max_attempts=3)
        assert jobs.checkpoint(job.id) is None
        jobs.claim("w1")
        jobs.save_checkpoint(job.id, "w1", b"\x00first")
        jobs.save_checkpoint(job.id, "w1", b"\x00second")  # replaces
        with pytest.raises(JobLost):
            jobs.save_checkpoint(job.id, "intruder", b"junk")
        jobs.fail(job.id, "w1", "killed")  # retried: the checkpoint stays for the next attempt
        assert jobs.checkpoint(job.id) == b"\x00second"
        jobs.claim("w2")
        assert jobs.checkpoint(job.id) == b"\x00second"
        end(job.id)
        assert jobs.get_job(job.id).finished and jobs.checkpoint(job.id) is None
    # a dead worker's job that runs out of attempts drops it too
    job = jobs.enqueue("a", {}, max_attempts=1)
    jobs.claim("dead")
    jobs.save_checkpoint(job.id, "dead", b"state")
    jobs.requeue_stale(grace_s=0)
    assert jobs.get_job(job.id).state == "failed" and jobs.checkpoint(job.id) is None


def wait_for_claim(jobs: SqlJobStore, owner: str, timeout: float) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (job := jobs.claim(owner)) is not None:
            return job
        time.sleep(0.05)
    raise AssertionError(f"nothing became claimable within {timeout} s")
