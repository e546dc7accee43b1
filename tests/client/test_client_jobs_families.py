"""The client's jobs, families and models calls against a real server (a worker runs the jobs here)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi import FastAPI

from metastore.sql import SqlMetaStore
from service.jobs.worker import Worker, jobs_for
from tests.service.conftest import free_port
from tests.service.jobs_support import FAST
from tests.service.test_families_api import records, sinusoid_rows
from warmstart import ApiError, ServiceUnavailable, WarmstartClient

TINY = {
    "iterations": 20,
    "validate_every": 10,
    "meta_batch_size": 4,
    "n_validation_tasks": 4,
    "pooled_steps": 20,
}


def run_jobs(app: FastAPI, store: SqlMetaStore) -> None:
    Worker(jobs_for(store), store, app.state.settings, FAST).run(exit_when_idle=True)


def test_family_meta_train_job_adapt_predict_and_weights(
    live_server, app: FastAPI, sqlite_store: SqlMetaStore, tmp_path
) -> None:
    with WarmstartClient(live_server.url, retries=0) as client:
        family = client.create_family("sines", ["x"], "y", meta={"shots": 5, "query": 10})
        assert client.get_family(family["id"])["name"] == "sines"
        assert [f["id"] for f in client.list_families()] == [family["id"]]
        prior = sinusoid_rows(6, 30, seed=1)
        tasks = client.add_tasks(family["id"], prior, name="sine", group_column="unit")
        assert len(tasks) == 6 and {t["n_rows"] for t in tasks} == {30}
        one = client.add_tasks(family["id"], records(sinusoid_rows(1, 20, seed=2).drop(columns="unit")))
        assert one[0]["n_rows"] == 20 and len(client.list_tasks(family["id"])) == 7

        job = client.meta_train(family["id"], **TINY)
        assert job["state"] == "queued" and job["kind"] == "family_meta_train"
        assert client.list_jobs(state="queued")["items"][0]["id"] == job["id"]
        run_jobs(app, sqlite_store)
        events = list(client.job_events(job["id"]))
        assert events[0]["type"] == "queued" and events[-1]["state"] == "succeeded"
        assert [e["id"] for e in events] == sorted(e["id"] for e in events)
        assert list(client.job_events(job["id"], after=events[-2]["id"])) == events[-1:]
        done = client.wait_for_job(job["id"], timeout=5)
        assert done["state"] == "succeeded"

        task = sinusoid_rows(1, 30, seed=9).drop(columns="unit")
        support, query = records(task.iloc[:10]), records(task.iloc[10:])
        adapted = client.adapt(family["id"], support, query, steps=3, scratch_steps=3)
        assert adapted["init_model_id"] == done["result"]["init_model_id"]
        model = client.get_model(adapted["model_id"])
        assert model["kind"] == "adapted" and model["parent_id"] == adapted["init_model_id"]
        kinds = sorted(m["kind"] for m in client.list_family_models(family["id"]))
        assert kinds == ["adapted", "init", "pooled"]
        pred = client.predict(adapted["model_id"], [{"x": r["x"]} for r in query])
        mse = float(np.mean((np.array(pred) - task["y"].to_numpy()[10:]) ** 2))
        assert mse == pytest.approx(adapted["metrics"]["query_mse"], rel=1e-4)
        weights = client.model_weights(adapted["model_id"], tmp_path / "w.safetensors")
        assert weights[8:9] == b"{" and (tmp_path / "w.safetensors").read_bytes() == weights


def test_cancel_a_queued_job_and_its_stream_ends(live_server, sqlite_store: SqlMetaStore) -> None:
    with WarmstartClient(live_server.url, retries=0) as client:
        family = client.create_family("f", ["x"], "y")
        client.add_tasks(family["id"], sinusoid_rows(2, 20, seed=3), group_column="unit")
        job = client.meta_train(family["id"])
        cancelled = client.cancel_job(job["id"])
        assert cancelled["state"] == "cancelled"
        assert [e["type"] for e in client.job_events(job["id"])][-1] == "cancelled"
        assert client.list_jobs(state="cancelled")["total"] == 1
        with pytest.raises(ApiError) as exc:
            list(client.job_events(424242))
        assert exc.value.status == 404
        with pytest.raises(ApiError) as exc:
            client.meta_train(424242)
        assert exc.value.status == 404 and exc.value.body["status"] == 404


def test_following_the_events_of_an_unreachable_service_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with WarmstartClient(url, retries=1, backoff=0.01) as client, pytest.raises(ServiceUnavailable) as exc:
        list(client.job_events(1))
    assert "unreachable" in str(exc.value).lower()
