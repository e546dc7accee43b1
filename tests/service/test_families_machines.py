"""Workers and API servers on different machines share only the database: models travel through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load as load_tensors

from learners.meta import mlp
from metastore.families import NewFamilyModel
from metastore.sql import SqlMetaStore
from service.app import create_app
from service.jobs.worker import Worker, jobs_for
from service.usecases import families as uc
from service.usecases import family_nets as nets
from tests.service.conftest import make_settings
from tests.service.jobs_support import FAST
from tests.service.test_families_api import records, sinusoid_rows


def test_a_model_trained_on_one_machine_is_served_by_another(store: SqlMetaStore, tmp_path: Path) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    api = TestClient(create_app(make_settings(tmp_path / "api-machine", url), store))
    family = api.post(
        "/v1/families",
        json={"name": "sines", "features": ["x"], "target": "y", "model": {"hidden": [16]}},
    ).json()
    rows = records(sinusoid_rows(8, 20, seed=3))
    assert api.post(
        f"/v1/families/{family['id']}/tasks", json={"rows": rows, "group_column": "unit"}
    ).is_success
    job = api.post(
        f"/v1/families/{family['id']}/meta-train",
        json={"iterations": 30, "validate_every": 10, "meta_batch_size": 4, "n_validation_tasks": 4},
    ).json()
    worker_settings = make_settings(tmp_path / "worker-machine", url)
    Worker(jobs_for(store), store, worker_settings, FAST).run(exit_when_idle=True)
    result = api.get(f"/v1/jobs/{job['id']}").json()["result"]
    assert not (tmp_path / "worker-machine" / "models").exists()  # nothing stayed on the worker

    task = records(sinusoid_rows(1, 15, seed=5).drop(columns=["unit"]))
    adapted = api.post(f"/v1/families/{family['id']}/adapt", json={"support": task[:5], "query": task[5:]})
    assert adapted.status_code == 200, adapted.text
    out = adapted.json()
    assert out["init_model_id"] == result["init_model_id"] and "pooled" in out["baselines"]
    pred = api.post(f"/v1/models/{out['model_id']}/predict", json={"rows": [{"x": r["x"]} for r in task[5:]]})
    mse = np.mean((np.array(pred.json()["predictions"]) - np.array([r["y"] for r in task[5:]])) ** 2)
    assert mse == pytest.approx(out["metrics"]["query_mse"], rel=1e-4)
    for model_id in (result["init_model_id"], result["pooled_model_id"], out["model_id"]):
        r = api.get(f"/v1/models/{model_id}/weights")
        assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.safetensors"
        assert f"model-{model_id}.safetensors" in r.headers["content-disposition"]
        assert load_tensors(r.content)  # real safetensors
    assert not (tmp_path / "api-machine" / "models").exists()


def test_models_made_before_0007_are_read_from_their_file_or_are_a_410(
    sqlite_store: SqlMetaStore, tmp_path: Path
) -> None:
    """A record without stored weights names a file in the data directory, as versions before 0007 did."""
    settings = make_settings(tmp_path, str(sqlite_store.engine.url))
    api = TestClient(create_app(settings, sqlite_store))
    fstore = uc.families_for(sqlite_store)
    family = api.post("/v1/families", json={"name": "old", "features": ["x"], "target": "y"}).json()
    net = mlp((1, 4, 1), seed=0)
    norm = nets.Normalisation(np.zeros(1), np.ones(1), 0.0, 1.0)
    payload = nets.network_bytes(net, {"kind": "pooled", "normalisation": norm.to_json()})
    on_disk = fstore.add_model(NewFamilyModel(family["id"], "pooled", "0ld.safetensors", {}))
    (uc.models_dir(settings) / "0ld.safetensors").parent.mkdir(parents=True)
    (uc.models_dir(settings) / "0ld.safetensors").write_bytes(payload)
    assert api.get(f"/v1/models/{on_disk.id}/weights").content == payload
    pred = api.post(f"/v1/models/{on_disk.id}/predict", json={"rows": [{"x": 0.5}]}).json()["predictions"]
    with torch.no_grad():
        assert pred == pytest.approx([float(net(torch.tensor([[0.5]]))[0, 0])], rel=1e-6)

    elsewhere = fstore.add_model(NewFamilyModel(family["id"], "pooled", "lost.safetensors", {}))
    gone = api.get(f"/v1/models/{elsewhere.id}/weights")
    assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
    assert "lost.safetensors" in gone.json()["detail"]
