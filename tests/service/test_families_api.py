"""Task families over HTTP: declare, upload prior tasks, meta-train as a job, adapt, predict, weights."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from safetensors import safe_open

from metastore import schema
from metastore.sql import SqlMetaStore
from service.app import create_app
from service.jobs.worker import Worker, jobs_for
from tests.service.conftest import make_settings
from tests.service.jobs_support import FAST

FEATURES = ["x"]


def sinusoid_rows(n_tasks: int, rows: int, seed: int) -> pd.DataFrame:
    """The MAML paper's family: y = A sin(x - phase), A in [0.1, 5], phase in [0, pi], x in [-5, 5]."""
    rng = np.random.default_rng(seed)
    parts = []
    for t in range(n_tasks):
        amp, phase = rng.uniform(0.1, 5.0), rng.uniform(0.0, np.pi)
        x = rng.uniform(-5.0, 5.0, rows)
        parts.append(pd.DataFrame({"unit": t, "x": x, "y": amp * np.sin(x - phase)}))
    return pd.concat(parts, ignore_index=True)


def records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def declare(client: TestClient, **overrides) -> dict:
    body = {
        "name": "sines",
        "features": FEATURES,
        "target": "y",
        "algorithm": "maml",
        "model": {"hidden": [32, 32]},
        "meta": {"inner_lr": 0.02, "shots": 5, "query": 10},
    }
    body.update(overrides)
    r = client.post("/v1/families", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def run_jobs(app: FastAPI, store: SqlMetaStore) -> None:
    Worker(jobs_for(store), store, app.state.settings, FAST).run(exit_when_idle=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One app for the module: meta-training is the slow part, so it runs once."""
    tmp = tmp_path_factory.mktemp("families")
    store = SqlMetaStore.from_url(f"sqlite+pysqlite:///{tmp / 'm.sqlite'}")
    schema.upgrade(store.engine)
    settings = make_settings(tmp, str(store.engine.url))
    app = create_app(settings, store)
    yield {"app": app, "store": store, "client": TestClient(app)}
    store.engine.dispose()


@pytest.fixture(scope="module")
def trained(env: dict) -> dict:
    """A sinusoid family meta-trained briefly on 40 prior tasks (uploaded as one CSV split by unit)."""
    client = env["client"]
    family = declare(client, name="trained-sines")
    csv = sinusoid_rows(40, 30, seed=1).to_csv(index=False).encode()
    r = client.post(
        f"/v1/families/{family['id']}/tasks",
        files={"file": ("prior.csv", io.BytesIO(csv), "text/csv")},
        data={"group_column": "unit", "name": "sine"},
    )
    assert r.status_code == 201, r.text
    assert len(r.json()) == 40 and {t["n_rows"] for t in r.json()} == {30}
    r = client.post(
        f"/v1/families/{family['id']}/meta-train",
        json={
            "iterations": 300,
            "validate_every": 50,
            "meta_batch_size": 8,
            "n_validation_tasks": 20,
            "pooled_steps": 300,
            "patience": 3,
        },
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    run_jobs(env["app"], env["store"])
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "succeeded", job["error"]
    return {"family": family, "job": job, "client": client}


def test_meta_train_stores_a_versioned_initialisation_and_a_pooled_baseline(trained) -> None:
    client = trained["client"]
    family_id = trained["family"]["id"]
    result = trained["job"]["result"]
    models = client.get(f"/v1/families/{family_id}/models").json()
    assert sorted(m["kind"] for m in models if m["kind"] != "adapted") == ["init", "pooled"]
    init = client.get(f"/v1/models/{result['init_model_id']}").json()
    assert init["version"] == 1 and init["family_id"] == family_id
    history = init["metrics"]["history"]
    assert history and history[0][0] == 50
    assert init["metrics"]["best_val_loss"] == min(h[1] for h in history)


def test_adapt_beats_scratch_and_returns_a_model_that_predicts(trained) -> None:
    client = trained["client"]
    family_id = trained["family"]["id"]
    task = sinusoid_rows(1, 60, seed=99).drop(columns=["unit"])
    support, query = records(task.iloc[:10]), records(task.iloc[10:])
    r = client.post(f"/v1/families/{family_id}/adapt", json={"support": support, "query": query, "steps": 5})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["init_model_id"] == trained["job"]["result"]["init_model_id"]
    assert out["metrics"]["support_rows"] == 10 and out["metrics"]["query_rows"] == 50
    assert set(out["baselines"]) == {"scratch", "pooled"}
    assert out["metrics"]["query_mse"] < out["baselines"]["scratch"]["query_mse"]
    model = client.get(f"/v1/models/{out['model_id']}").json()
    assert model["kind"] == "adapted" and model["parent_id"] == out["init_model_id"]
    assert len(model["support_hash"]) == 64
    rows = [{"x": r["x"]} for r in query]
    pred = client.post(f"/v1/models/{out['model_id']}/predict", json={"rows": rows}).json()["predictions"]
    mse = float(np.mean((np.array(pred) - task["y"].to_numpy()[10:]) ** 2))
    assert mse == pytest.approx(out["metrics"]["query_mse"], rel=1e-4)


def test_weights_are_safetensors(trained, tmp_path) -> None:
    client = trained["client"]
    model_id = trained["job"]["result"]["pooled_model_id"]
    r = client.get(f"/v1/models/{model_id}/weights")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.safetensors"
    path = tmp_path / "w.safetensors"
    path.write_bytes(r.content)
    with safe_open(str(path), framework="pt") as f:
        assert {"net.0.weight", "net.4.bias"} <= set(f.keys())
        assert tuple(f.get_tensor("net.0.weight").shape) == (32, 1)


def test_bad_support_sets_are_clear_4xx(trained) -> None:
    client = trained["client"]
    family_id = trained["family"]["id"]
    wrong = client.post(f"/v1/families/{family_id}/adapt", json={"support": [{"x": 1.0, "z": 2.0}] * 5})
    assert wrong.status_code == 422
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "missing ['y']" in wrong.json()["detail"] and "unexpected ['z']" in wrong.json()["detail"]
    few = client.post(f"/v1/families/{family_id}/adapt", json={"support": [{"x": 1.0, "y": 0.5}]})
    assert few.status_code == 422 and "at least 2" in few.json()["detail"]
    text = client.post(f"/v1/families/{family_id}/adapt", json={"support": [{"x": "a", "y": 1}] * 3})
    assert text.status_code == 422 and "non-numeric" in text.json()["detail"]


def test_adapt_before_meta_training_is_a_409(client: TestClient) -> None:
    family = declare(client)
    r = client.post(f"/v1/families/{family['id']}/adapt", json={"support": [{"x": 1.0, "y": 0.5}] * 3})
    assert r.status_code == 409
    assert "meta-train" in r.json()["detail"]


def test_unknown_algorithm_and_bad_family_declarations(client: TestClient) -> None:
    r = client.post(
        "/v1/families", json={"name": "a", "features": ["x"], "target": "y", "algorithm": "magic"}
    )
    assert r.status_code == 422 and "magic" in r.json()["detail"] and "reptile" in r.json()["detail"]
    r = client.post(
        "/v1/families", json={"name": "a", "features": ["x"], "target": "y", "algorithm": "protonet"}
    )
    assert r.status_code == 422 and "classification" in r.json()["detail"]
    r = client.post("/v1/families", json={"name": "a", "features": ["x", "y"], "target": "y"})
    assert r.status_code == 422
    declare(client)
    again = client.post("/v1/families", json={"name": "sines", "features": ["x"], "target": "y"})
    assert again.status_code == 409


def test_meta_train_needs_two_tasks_and_tasks_are_stored_once(client: TestClient) -> None:
    family = declare(client)
    rows = records(sinusoid_rows(1, 20, seed=3).drop(columns=["unit"]))
    first = client.post(f"/v1/families/{family['id']}/tasks", json={"name": "one", "rows": rows})
    again = client.post(f"/v1/families/{family['id']}/tasks", json={"name": "one", "rows": rows})
    assert first.json()[0]["created"] is True and again.json()[0]["created"] is False
    assert first.json()[0]["id"] == again.json()[0]["id"]
    r = client.post(f"/v1/families/{family['id']}/meta-train")
    assert r.status_code == 422 and "at least 2" in r.json()["detail"]
    bad = client.post(f"/v1/families/{family['id']}/tasks", json={"rows": [{"x": 1.0}]})
    assert bad.status_code == 422 and "missing ['y']" in bad.json()["detail"]
    groups = [
        {"unit": 1, "x": 0.0, "y": 1.0},
        {"unit": 2, "x": 0.5, "y": 2.0},
        {"unit": 3, "x": None, "y": 0.0},
    ]
    mixed = client.post(f"/v1/families/{family['id']}/tasks", json={"rows": groups, "group_column": "unit"})
    assert mixed.status_code == 422 and "['x']" in mixed.json()["detail"]
    assert len(client.get(f"/v1/families/{family['id']}/tasks").json()) == 1  # nothing of it was stored


def test_unknown_family_and_model_are_404(client: TestClient) -> None:
    assert client.get("/v1/families/12345").status_code == 404
    assert client.get("/v1/models/12345").status_code == 404
    assert client.post("/v1/models/12345/predict", json={"rows": [{"x": 1}]}).status_code == 404


def test_long_adaptations_become_jobs(trained, env: dict) -> None:
    client = trained["client"]
    family_id = trained["family"]["id"]
    rows = records(sinusoid_rows(1, 8, seed=5).drop(columns=["unit"]))
    r = client.post(f"/v1/families/{family_id}/adapt", json={"support": rows, "steps": 300})
    assert r.status_code == 202, r.text
    job = r.json()["job"]
    assert job["kind"] == "family_adapt" and r.headers["Location"] == f"/v1/jobs/{job['id']}"
    run_jobs(env["app"], env["store"])
    done = client.get(f"/v1/jobs/{job['id']}").json()
    assert done["state"] == "succeeded", done["error"]
    model = client.get(f"/v1/models/{done['result']['model_id']}").json()
    assert model["metrics"]["steps"] == 300 and model["parent_id"] == done["result"]["init_model_id"]


def test_the_multi_step_loss_needs_a_gradient_algorithm_and_several_steps(client: TestClient) -> None:
    base = {"name": "m", "features": ["x"], "target": "y"}
    for algorithm, steps in (("reptile", 5), ("maml", 1)):
        r = client.post("/v1/families", json={**base, "algorithm": algorithm,
                                              "meta": {"inner_steps": steps, "multi_step_loss": True}})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "multi_step_loss" in r.json()["detail"] and "inner_steps" in r.json()["detail"]
    r = client.post("/v1/families", json={**base, "meta": {"inner_steps": 2, "multi_step_loss": True}})
    assert r.status_code == 201, r.text
    assert r.json()["settings"]["multi_step_loss"] is True
