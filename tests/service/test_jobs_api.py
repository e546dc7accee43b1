"""Jobs with real recompute_metafeatures work: routes, events, cancel, retries, the embedded worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from learners.metafeatures import EXTRACTOR_VERSION
from metastore.jobs import SqlJobStore
from metastore.sql import SqlMetaStore
from service.app import create_app
from service.jobs import handlers
from service.jobs.builtin import stale_dataset_ids
from service.jobs.handlers import InvalidJobArguments, JobKind, UnknownJobKind, submit
from service.jobs.worker import Worker
from tests.service.conftest import make_settings
from tests.service.jobs_support import (
    FAST,
    WorkerThread,
    current,
    job_in,
    parse_sse,
    seed_stale_datasets,
    wait_for,
)

KIND = "recompute_metafeatures"


@pytest.fixture
def jobs(sqlite_store: SqlMetaStore) -> SqlJobStore:
    return SqlJobStore(sqlite_store.engine)


def _settings(app: FastAPI):  # type: ignore[no-untyped-def]
    return app.state.settings


def test_a_job_runs_and_its_routes_report_it(
    app: FastAPI, client: TestClient, sqlite_store: SqlMetaStore, jobs: SqlJobStore
) -> None:
    ids = seed_stale_datasets(sqlite_store, _settings(app).uploads_dir, 3)
    assert stale_dataset_ids(sqlite_store) == ids
    job = submit(jobs, KIND, {})
    assert job.arguments == {"dataset_ids": None, "force": False, "seed": 0}  # defaults filled in
    listed = client.get("/v1/jobs").json()
    assert listed["total"] == 1 and listed["items"][0]["state"] == "queued"
    assert Worker(jobs, sqlite_store, _settings(app), FAST).run(exit_when_idle=True) == 1
    body = client.get(f"/v1/jobs/{job.id}").json()
    assert (body["state"], body["attempts"], body["progress"], body["error"]) == ("succeeded", 1, 1.0, None)
    assert body["result"] == {
        "version": EXTRACTOR_VERSION,
        "recomputed": ids,
        "already_current": [],
        "skipped": {},
    }
    assert body["metrics"]["done"] == 3 and body["metrics"]["recomputed"] == 3
    assert current(sqlite_store, ids) == ids and stale_dataset_ids(sqlite_store) == []
    values = sqlite_store.get_dataset(ids[0]).metafeatures.values  # type: ignore[union-attr]
    assert values["nr_inst"] == 60 and values["nr_attr"] == 2
    # a second run finds everything current and says so
    again = submit(jobs, KIND, {"dataset_ids": ids[:1]})
    Worker(jobs, sqlite_store, _settings(app), FAST).run(exit_when_idle=True)
    assert jobs.get_job(again.id).result["already_current"] == ids[:1]  # type: ignore[index]
    assert [j["id"] for j in client.get("/v1/jobs", params={"state": "succeeded"}).json()["items"]] == [
        again.id,
        job.id,
    ]


def test_route_errors(client: TestClient, jobs: SqlJobStore) -> None:
    assert client.get("/v1/jobs/77").status_code == 404
    assert client.get("/v1/jobs/77/events").status_code == 404
    assert client.post("/v1/jobs/77/cancel").status_code == 404
    assert client.get("/v1/jobs", params={"state": "done"}).status_code == 422
    repeated = client.get("/v1/jobs?kind=a&kind=b")
    assert repeated.status_code == 422 and "more than once" in repeated.json()["detail"]
    job = jobs.enqueue(KIND, {"dataset_ids": None, "force": False, "seed": 0})
    assert client.post(f"/v1/jobs/{job.id}/cancel").json()["state"] == "cancelled"
    finished = client.post(f"/v1/jobs/{job.id}/cancel")
    assert finished.status_code == 409 and "already cancelled" in finished.json()["detail"]
    bad_resume = client.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": "abc"})
    assert bad_resume.status_code == 422


def test_submit_refuses_unknown_kinds_and_bad_arguments(jobs: SqlJobStore) -> None:
    with pytest.raises(UnknownJobKind, match="recompute_metafeatures"):
        submit(jobs, "train_everything", {})
    with pytest.raises(InvalidJobArguments, match="dataset_ids"):
        submit(jobs, KIND, {"dataset_ids": [0]})
    with pytest.raises(InvalidJobArguments, match="colour"):
        submit(jobs, KIND, {"colour": "red"})
    assert jobs.list_jobs().total == 0


def test_events_stream_progress_and_metrics_then_end(
    app: FastAPI, client: TestClient, sqlite_store: SqlMetaStore, jobs: SqlJobStore
) -> None:
    ids = seed_stale_datasets(sqlite_store, _settings(app).uploads_dir, 4)
    job = submit(jobs, KIND, {"dataset_ids": ids})
    with (
        WorkerThread(jobs, sqlite_store, _settings(app)),
        client.stream("GET", f"/v1/jobs/{job.id}/events") as r,  # follows the job live
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.read().decode())
    types = [e["event"] for e in events]
    assert types[:2] == ["queued", "claimed"] and types[-1] == "succeeded"
    assert types.count("progress") == 1 + len(ids)  # the plan, then one per dataset
    steps = [e["data"]["metrics"]["done"] for e in events if "done" in e["data"]["metrics"]]
    assert steps == [1, 2, 3, 4]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    assert events[-1]["data"]["state"] == "succeeded" and events[-1]["data"]["progress"] == 1.0
    # resume after the third event: only the later ones come, and the finished stream ends
    resumed = client.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": str(events[2]["id"])})
    assert [e["id"] for e in parse_sse(resumed.text)] == [e["id"] for e in events[3:]]


def test_cancelling_a_running_job_stops_it_between_steps(
    app: FastAPI, client: TestClient, sqlite_store: SqlMetaStore, jobs: SqlJobStore
) -> None:
    ids = seed_stale_datasets(sqlite_store, _settings(app).uploads_dir, 30)
    job = submit(jobs, KIND, {"dataset_ids": ids})
    queued = submit(jobs, KIND, {"dataset_ids": ids[:1]})
    assert client.post(f"/v1/jobs/{queued.id}/cancel").json()["state"] == "cancelled"
    with WorkerThread(jobs, sqlite_store, _settings(app)):
        wait_for(lambda: jobs.get_job(job.id).metrics.get("done", 0) >= 1, what="the first step")
        asked = client.post(f"/v1/jobs/{job.id}/cancel").json()
        assert asked["cancel_requested"] is True
        final = wait_for(lambda: job_in(jobs, job.id, "cancelled", "succeeded"), what="the end")
    assert final.state == "cancelled" and final.progress < 1 and final.result is None
    done = current(sqlite_store, ids)
    assert 1 <= len(done) < len(ids)  # it stopped part-way
    types = [e.type for e in jobs.events(job.id)]
    assert types[-1] == "cancelled"
    assert types[types.index("cancel") :].count("progress") <= 1  # at most the step under way
    assert "claimed" not in [e.type for e in jobs.events(queued.id)]  # the queued one never ran


def test_a_job_that_keeps_failing_stops_after_its_attempts(
    app: FastAPI, sqlite_store: SqlMetaStore, jobs: SqlJobStore
) -> None:
    settings = _settings(app)
    ids = seed_stale_datasets(sqlite_store, settings.uploads_dir, 2)
    (settings.uploads_dir / "jobs-1.csv").unlink()  # the second dataset's file is gone
    job = submit(jobs, KIND, {"dataset_ids": ids}, max_attempts=3)
    Worker(jobs, sqlite_store, settings, FAST).run(exit_when_idle=True)
    final = jobs.get_job(job.id)
    assert (final.state, final.attempts) == ("failed", 3)
    assert final.error is not None and final.error.startswith("FileNotFoundError")
    assert "jobs-1.csv" in final.error
    types = [e.type for e in jobs.events(job.id)]
    assert (types.count("claimed"), types.count("retrying"), types[-1]) == (3, 2, "failed")
    assert current(sqlite_store, ids) == ids[:1]  # the work that could be done was kept


def test_embedded_worker_runs_jobs_and_requeues_on_shutdown(
    tmp_path: Path, sqlite_store: SqlMetaStore, jobs: SqlJobStore
) -> None:
    settings = make_settings(
        tmp_path,
        str(sqlite_store.engine.url),
        embedded_worker=True,
        job_poll_s=0.05,
        job_heartbeat_s=0.1,
        job_grace_s=1.0,
    )
    app = create_app(settings, sqlite_store)
    ids = seed_stale_datasets(sqlite_store, settings.uploads_dir, 40)
    first = submit(jobs, KIND, {"dataset_ids": ids[:2]})
    second = submit(jobs, KIND, {"dataset_ids": ids[2:]})
    with TestClient(app) as client:  # the lifespan starts the worker
        wait_for(lambda: client.get(f"/v1/jobs/{first.id}").json()["state"] == "succeeded", what="job 1")
        wait_for(lambda: jobs.get_job(second.id).metrics.get("done", 0) >= 1, what="job 2 to start")
    # shutting down gave the unfinished job back without spending its attempt
    worker_thread = app.state.embedded_worker.thread
    assert worker_thread is not None and not worker_thread.is_alive()
    back = jobs.get_job(second.id)
    assert (back.state, back.attempts, back.owner) == ("queued", 0, None)
    assert [e.type for e in jobs.events(second.id)][-1] == "released"


@pytest.mark.parametrize(
    ("returned", "why"),
    [([1, 2], "returned a list; it must return a dict"), ({"model": object()}, "cannot be stored as JSON")],
)
def test_a_result_that_cannot_be_stored_fails_the_job_without_retry(
    app: FastAPI, sqlite_store: SqlMetaStore, jobs: SqlJobStore, monkeypatch, returned, why: str
) -> None:
    class NoArguments(BaseModel):
        pass

    kind = JobKind("bad_result", lambda ctx, arguments: returned, NoArguments, "returns junk")
    monkeypatch.setitem(handlers._KINDS, "bad_result", kind)
    job = submit(jobs, "bad_result", {})
    Worker(jobs, sqlite_store, _settings(app), FAST).run(exit_when_idle=True)
    final = jobs.get_job(job.id)
    assert (final.state, final.attempts, final.result) == ("failed", 1, None)
    assert why in (final.error or "")


def test_settings_refuse_a_grace_period_live_workers_could_miss(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least twice job_heartbeat_s"):
        make_settings(tmp_path, job_heartbeat_s=5, job_grace_s=8)
    assert make_settings(tmp_path, job_heartbeat_s=5, job_grace_s=10).job_grace_s == 10
