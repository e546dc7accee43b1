"""Reporting results: one or a batch, idempotent, atomic; and the leaderboard that shows them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from metastore.sql import SqlMetaStore
from tests.service.data import csv_bytes, regression_frame


@pytest.fixture
def dataset_and_configs(client: TestClient, sqlite_store: SqlMetaStore):
    ds = client.post(
        "/v1/datasets", files={"file": ("r.csv", csv_bytes(regression_frame()))}, data={"target": "y"}
    ).json()
    space = sqlite_store.upsert_search_space("knn", "regression", "1", {"n_neighbors": [1, 50]})
    configs = sqlite_store.add_configurations(space.id, [({"n_neighbors": k}, None) for k in (1, 5, 15)])
    return ds["id"], [c.id for c in configs]


def test_single_report_and_replay(client: TestClient, dataset_and_configs) -> None:
    ds, cfg = dataset_and_configs
    body = {"dataset_id": ds, "configuration_id": cfg[0], "metrics": {"r2": 0.5}, "fit_time": 0.1}
    first = client.post("/v1/evaluations", json=body, headers={"Idempotency-Key": "run-1"})
    assert first.status_code == 201 and first.json()["created"] == 1
    replay = client.post("/v1/evaluations", json=body, headers={"Idempotency-Key": "run-1"})
    assert replay.status_code == 200 and replay.json()["replayed"] == 1
    assert replay.json()["evaluations"][0]["id"] == first.json()["evaluations"][0]["id"]
    conflict = client.post(
        "/v1/evaluations", json={**body, "metrics": {"r2": 0.9}}, headers={"Idempotency-Key": "run-1"}
    )
    assert conflict.status_code == 409 and "run-1" in conflict.json()["detail"]
    without_key = client.post("/v1/evaluations", json=body)
    assert without_key.status_code == 201
    assert client.get(f"/v1/datasets/{ds}/evaluations").json()["total"] == 2


def test_batch_is_atomic(client: TestClient, dataset_and_configs) -> None:
    ds, cfg = dataset_and_configs
    items = [{"dataset_id": ds, "configuration_id": c, "metrics": {"r2": 0.1 * i}} for i, c in enumerate(cfg)]
    bad = [*items, {"dataset_id": ds, "configuration_id": 987654, "metrics": {"r2": 1.0}}]
    r = client.post("/v1/evaluations", json={"evaluations": bad})
    assert r.status_code == 422 and "987654" in r.json()["detail"]
    assert client.get(f"/v1/datasets/{ds}/evaluations").json()["total"] == 0
    ok = client.post("/v1/evaluations", json={"evaluations": items}, headers={"Idempotency-Key": "b"})
    assert ok.status_code == 201 and ok.json()["created"] == 3
    again = client.post("/v1/evaluations", json={"evaluations": items}, headers={"Idempotency-Key": "b"})
    assert again.status_code == 200 and again.json()["replayed"] == 3


def test_report_by_family_and_hyperparameters_grows_the_pool(
    client: TestClient, dataset_and_configs, sqlite_store: SqlMetaStore
) -> None:
    ds, _ = dataset_and_configs
    body = {"dataset_id": ds, "family": "knn", "hyperparameters": {"n_neighbors": 7}, "metrics": {"r2": 0.4}}
    r = client.post("/v1/evaluations", json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["evaluations"][0]["configuration_id"]
    assert client.get(f"/v1/configurations/{cid}").json()["hyperparameters"] == {
        "n_neighbors": 7,
        "p": 2,
        "weights": "uniform",
    }
    unknown = client.post("/v1/evaluations", json={**body, "family": "nope"})
    assert unknown.status_code == 422 and "knn" in unknown.json()["detail"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"dataset_id": 1, "metrics": {"r2": 1}}, "either by configuration_id"),
        (
            {
                "dataset_id": 1,
                "configuration_id": 1,
                "family": "knn",
                "hyperparameters": {},
                "metrics": {"r2": 1},
            },
            "not both",
        ),
        ({"dataset_id": 1, "configuration_id": 1}, "at least one metric"),
        ({"dataset_id": 1, "configuration_id": 1, "metrics": {"r2": 1}, "surprise": 1}, "surprise"),
        ({"evaluations": []}, "evaluations"),
    ],
)
def test_invalid_reports(client: TestClient, body, words) -> None:
    r = client.post("/v1/evaluations", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert words in r.text


def test_unknown_dataset_is_rejected(client: TestClient, dataset_and_configs) -> None:
    _, cfg = dataset_and_configs
    r = client.post(
        "/v1/evaluations", json={"dataset_id": 4242, "configuration_id": cfg[0], "metrics": {"r2": 1}}
    )
    assert r.status_code == 422 and "4242" in r.json()["detail"]


def test_failures_are_recorded(client: TestClient, dataset_and_configs) -> None:
    ds, cfg = dataset_and_configs
    r = client.post(
        "/v1/evaluations",
        json={"dataset_id": ds, "configuration_id": cfg[1], "status": "failed", "error": "OOM"},
    )
    assert r.status_code == 201 and r.json()["evaluations"][0]["error"] == "OOM"


def test_leaderboard_sorting(client: TestClient, dataset_and_configs) -> None:
    ds, cfg = dataset_and_configs
    for c, r2, rmse in zip(cfg, (0.2, 0.9, 0.5), (3.0, 1.0, 2.0), strict=True):
        client.post(
            "/v1/evaluations",
            json={"dataset_id": ds, "configuration_id": c, "metrics": {"r2": r2, "rmse": rmse}},
        )
    client.post("/v1/evaluations", json={"dataset_id": ds, "configuration_id": cfg[0], "status": "failed"})
    board = client.get(f"/v1/datasets/{ds}/evaluations").json()
    assert board["sort"] == "r2" and board["order"] == "desc"
    assert [e["metrics"].get("r2") for e in board["items"]] == [0.9, 0.5, 0.2, None]
    by_rmse = client.get(f"/v1/datasets/{ds}/evaluations", params={"sort": "rmse"}).json()
    assert by_rmse["order"] == "asc" and [e["metrics"].get("rmse") for e in by_rmse["items"]][:3] == [
        1.0,
        2.0,
        3.0,
    ]
    page = client.get(f"/v1/datasets/{ds}/evaluations", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 4 and page["items"][0]["metrics"]["r2"] == 0.5
    assert client.get("/v1/datasets/777/evaluations").status_code == 404


def test_catalog(client: TestClient, dataset_and_configs) -> None:
    _, cfg = dataset_and_configs
    spaces = client.get("/v1/search-spaces").json()
    assert [(s["family"], s["n_configurations"]) for s in spaces] == [("knn", 3)]
    c = client.get(f"/v1/configurations/{cfg[1]}").json()
    assert c["family"] == "knn" and c["hyperparameters"] == {"n_neighbors": 5}
    assert client.get("/v1/configurations/99999").status_code == 404


def test_hyperparameters_are_checked_against_our_own_spaces(
    client: TestClient, sqlite_store: SqlMetaStore
) -> None:
    from learners.spaces import get_space

    ds = client.post(
        "/v1/datasets", files={"file": ("r.csv", csv_bytes(regression_frame()))}, data={"target": "y"}
    ).json()["id"]
    space = get_space("lightgbm", "regression")
    sqlite_store.upsert_search_space("lightgbm", "regression", str(space.version), space.to_json())
    good = {**space.default(), "learning_rate": 0.05}
    body = {"dataset_id": ds, "family": "lightgbm", "hyperparameters": good, "metrics": {"r2": 0.5}}
    assert client.post("/v1/evaluations", json=body).status_code == 201
    bad = {**body, "hyperparameters": {**good, "learning_rate": 7.0}}
    r = client.post("/v1/evaluations", json=bad)
    assert r.status_code == 422 and "learning_rate" in r.json()["detail"]
