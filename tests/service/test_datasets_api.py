"""The datasets router: intake of every format, dedup, listing, details, deletion, neighbours."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SHARED
from tests.service.data import (
    OPENML_ANNEAL_ARFF,
    classification_frame,
    csv_bytes,
    parquet_bytes,
    regression_frame,
    tsv_gz_bytes,
)


def upload(client: TestClient, filename: str, content: bytes, target: str, **fields: str):
    return client.post("/v1/datasets", files={"file": (filename, content)}, data={"target": target, **fields})


def test_csv_upload_types_columns_and_stores_raw(client: TestClient, app) -> None:
    r = upload(client, "shop.csv", csv_bytes(classification_frame()), "label", description="demo")
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/datasets/{body['id']}"
    assert body["task_type"] == "classification" and body["n_rows"] == 60 and body["n_features"] == 7
    assert body["name"] == "shop" and body["description"] == "demo" and body["file_format"] == "csv"
    kinds = {c["name"]: c["kind"] for c in body["columns"]}
    assert kinds == {
        "row_id": "id",
        "x1": "numeric",
        "x2": "numeric",
        "colour": "categorical",
        "flag": "boolean",
        "noisy": "numeric",
        "const": "constant",
    }
    missing = {c["name"]: c["missing"] for c in body["columns"]}
    assert missing["noisy"] == classification_frame()["noisy"].isna().sum() > 0
    mf = body["metafeatures"]
    assert mf["version"] and mf["values"]["nr_inst"] == 60
    uploads = list((app.state.settings.uploads_dir).iterdir())
    assert [p.name for p in uploads] != ["shop.csv"] and len(uploads) == 1
    assert uploads[0].read_bytes() == csv_bytes(classification_frame())


def test_same_content_twice_returns_the_existing_dataset(client: TestClient, app) -> None:
    first = upload(client, "a.csv", csv_bytes(regression_frame()), "y")
    second = upload(client, "b.tsv.gz", tsv_gz_bytes(regression_frame()), "y", name="again")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"] and second.json()["name"] == "a"
    assert len(list(app.state.settings.uploads_dir.iterdir())) == 1


@pytest.mark.parametrize(
    ("filename", "make"),
    [("r.tsv.gz", tsv_gz_bytes), ("r.parquet", parquet_bytes), ("r", csv_bytes)],
)
def test_other_formats(client: TestClient, filename: str, make) -> None:
    r = upload(client, filename, make(regression_frame()), "y")
    assert r.status_code == 201, r.text
    assert r.json()["task_type"] == "regression" and r.json()["n_rows"] == 50


def test_arff_from_openml(client: TestClient) -> None:
    path = SHARED / OPENML_ANNEAL_ARFF
    if not path.exists():
        pytest.skip(f"{path} is not there (../shared missing)")
    r = upload(client, "anneal.arff", path.read_bytes(), "class")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["task_type"] == "classification" and body["n_rows"] == 898
    assert body["file_format"] == "arff"
    kinds = {c["name"]: c["kind"] for c in body["columns"]}
    assert kinds["steel"] == "categorical" and kinds["carbon"] == "numeric"


def test_json_rows_and_task_override(client: TestClient) -> None:
    rows = [{"a": i, "b": i % 3, "y": i % 4} for i in range(20)]
    r = client.post("/v1/datasets", json={"name": "tiny", "target": "y", "rows": rows})
    assert r.status_code == 201 and r.json()["task_type"] == "classification"
    rows2 = [{"a": i, "b": i % 5, "y": i % 4} for i in range(20)]
    r2 = client.post(
        "/v1/datasets", json={"name": "t2", "target": "y", "rows": rows2, "task_type": "regression"}
    )
    assert r2.status_code == 201 and r2.json()["task_type"] == "regression"


def test_list_filters_and_pagination(client: TestClient) -> None:
    for seed in range(3):
        assert (
            upload(
                client, f"c{seed}.csv", csv_bytes(classification_frame(40 + seed, seed)), "label"
            ).status_code
            == 201
        )
    assert upload(client, "reg.csv", csv_bytes(regression_frame()), "y").status_code == 201
    page = client.get("/v1/datasets", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 4 and [d["name"] for d in page["items"]] == ["c1", "c2"]
    assert page["items"][0]["metafeatures"] is None  # lists stay light
    assert client.get("/v1/datasets", params={"task_type": "regression"}).json()["total"] == 1
    assert client.get("/v1/datasets", params={"min_rows": 41, "max_rows": 42}).json()["total"] == 2
    assert client.get("/v1/datasets", params={"name": "REG"}).json()["total"] == 1
    fingerprint = page["items"][0]["content_hash"]
    found = client.get("/v1/datasets", params={"content_hash": fingerprint}).json()
    assert found["total"] == 1 and found["items"][0]["name"] == "c1"
    assert client.get("/v1/datasets", params={"content_hash": "0" * 64}).json()["total"] == 0
    assert client.get("/v1/datasets", params={"content_hash": "not-a-hash"}).status_code == 422
    assert client.get("/v1/datasets", params={"limit": 0}).status_code == 422


def test_get_and_delete(client: TestClient, app) -> None:
    created = upload(client, "r.csv", csv_bytes(regression_frame()), "y").json()
    got = client.get(f"/v1/datasets/{created['id']}")
    assert got.status_code == 200 and got.json()["metafeatures"]["values"]
    assert client.delete(f"/v1/datasets/{created['id']}").status_code == 204
    missing = client.get(f"/v1/datasets/{created['id']}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert list(app.state.settings.uploads_dir.iterdir()) == []
    assert client.get("/v1/datasets/99999999999").status_code == 422


def test_neighbors_rank_by_metafeature_distance(client: TestClient) -> None:
    ids = [
        upload(client, f"c{n}.csv", csv_bytes(classification_frame(n, n)), "label").json()["id"]
        for n in (40, 45, 300)
    ]
    upload(client, "reg.csv", csv_bytes(regression_frame()), "y")
    r = client.get(f"/v1/datasets/{ids[0]}/neighbors", params={"k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    names = [n["dataset"]["name"] for n in body["neighbors"]]
    assert names == ["c45", "c300"]  # same task type only, itself excluded, nearest first
    distances = [n["distance"] for n in body["neighbors"]]
    assert distances == sorted(distances) and distances[0] >= 0
    assert client.get(f"/v1/datasets/{ids[0]}/neighbors", params={"k": 0}).status_code == 422


def test_upload_dir_is_server_chosen(client: TestClient, app, tmp_path: Path) -> None:
    r = upload(client, "../../evil.csv", csv_bytes(regression_frame()), "y")
    assert r.status_code == 201
    stored = list(app.state.settings.uploads_dir.iterdir())
    assert len(stored) == 1 and "evil" not in stored[0].name
    assert not (tmp_path / "evil.csv").exists()


def test_misspelt_filter_is_an_error_not_everything(client: TestClient) -> None:
    r = client.get("/v1/datasets", params={"task": "regression"})
    assert r.status_code == 422 and "task_type" in r.json()["detail"]
