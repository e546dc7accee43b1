"""A real panel as a task family: World Bank fertility by country (statsmodels' bundled copy).

Each country is a task (x = year, y = births per woman). After brief meta-training on the other
countries, ten observed years of an unseen country bring the adapted network within a few
hundredths (births per woman, squared) of the country's curve, far better than one network
fitted on all countries pooled. (A network trained from scratch on the same ten years does as
well or better here: ten random years pin a smooth curve down; see docs/families.md.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from metastore.sql import SqlMetaStore
from service.jobs.worker import Worker, jobs_for
from tests.service.jobs_support import FAST

sm = pytest.importorskip("statsmodels.api")
HELD_OUT = ("DEU", "IND", "BRA", "NGA")


def fertility_rows():  # type: ignore[no-untyped-def]
    wide = sm.datasets.fertility.load_pandas().data
    years = [c for c in wide.columns if c.isdigit()]
    long = wide.melt(id_vars=["Country Code"], value_vars=years, var_name="year", value_name="y").dropna()
    long = long.rename(columns={"Country Code": "country"})
    long["x"] = long.pop("year").astype(float)
    return long[long.groupby("country")["y"].transform("size") >= 30]


def test_fertility_panel_end_to_end(client: TestClient, app: FastAPI, sqlite_store: SqlMetaStore) -> None:
    rows = fertility_rows()
    family = client.post(
        "/v1/families",
        json={"name": "fertility", "features": ["x"], "target": "y", "meta": {"inner_lr": 0.05, "shots": 10}},
    ).json()
    prior = rows[~rows["country"].isin(HELD_OUT)]
    r = client.post(
        f"/v1/families/{family['id']}/tasks",
        json={"name": "wb", "group_column": "country", "rows": json.loads(prior.to_json(orient="records"))},
    )
    assert r.status_code == 201 and len(r.json()) == prior["country"].nunique() > 150
    job = client.post(
        f"/v1/families/{family['id']}/meta-train",
        json={"iterations": 400, "validate_every": 100, "n_validation_tasks": 40, "pooled_steps": 400},
    ).json()
    Worker(jobs_for(sqlite_store), sqlite_store, app.state.settings, FAST).run(exit_when_idle=True)
    assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "succeeded"
    rng = np.random.default_rng(0)
    adapted, pooled = [], []
    for country in HELD_OUT:
        task = rows[rows["country"] == country][["x", "y"]].to_dict("records")
        order = rng.permutation(len(task))
        body = {"support": [task[i] for i in order[:10]], "query": [task[i] for i in order[10:]], "steps": 10}
        out = client.post(f"/v1/families/{family['id']}/adapt", json=body).json()
        adapted.append(out["metrics"]["query_mse"])
        pooled.append(out["baselines"]["pooled"]["query_mse"])
    assert max(adapted) < 0.1
    assert all(a < p for a, p in zip(adapted, pooled, strict=True))
