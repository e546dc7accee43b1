"""Bad uploads: each gets its status and a message that says what to fix, and nothing is stored."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

from tests.service.data import classification_frame, csv_bytes, regression_frame

GOOD = csv_bytes(regression_frame())
WIDE = (
    ",".join(f"c{i}" for i in range(12))
    + ",y\n"
    + "\n".join(",".join(["1"] * 12) + f",{i}" for i in range(20))
).encode()

CASES = [
    # (id, filename, content, form fields, status, words in the detail)
    ("empty file", "e.csv", b"", {"target": "y"}, 422, "empty"),
    ("header only", "h.csv", b"a,b,y\n", {"target": "y"}, 422, "no data rows"),
    (
        "unparseable parquet",
        "p.parquet",
        b"PAR1 this is not parquet",
        {"target": "y"},
        422,
        "could not be parsed as PARQUET",
    ),
    ("broken gzip", "g.csv.gz", b"\x1f\x8b\x08\x00garbage", {"target": "y"}, 422, "gzip"),
    (
        "broken arff",
        "a.arff",
        b"@relation x\n@attribute a {\n@data\n",
        {"target": "a"},
        422,
        "could not be parsed as ARFF",
    ),
    ("unsupported type", "data.xlsx", b"PK\x03\x04binary", {"target": "y"}, 415, "not supported"),
    ("unknown target", "r.csv", GOOD, {"target": "nope"}, 422, "Unknown target column 'nope'"),
    ("no target field", "r.csv", GOOD, {}, 422, "target"),
    (
        "bad task type",
        "r.csv",
        GOOD,
        {"target": "y", "task_type": "clustering"},
        422,
        "classification or regression",
    ),
    (
        "regression on text",
        "c.csv",
        csv_bytes(classification_frame()),
        {"target": "label", "task_type": "regression"},
        422,
        "numeric target",
    ),
    (
        "single class",
        "s.csv",
        b"a,y\n" + b"".join(f"{i},same\n".encode() for i in range(20)),
        {"target": "y"},
        422,
        "single class",
    ),
    (
        "target all missing",
        "m.csv",
        b"a,y\n" + b"".join(f"{i},\n".encode() for i in range(20)),
        {"target": "y"},
        422,
        "entirely missing",
    ),
    (
        "fewer than 10 rows",
        "f.csv",
        b"a,y\n" + b"".join(f"{i},{i}.5\n".encode() for i in range(9)),
        {"target": "y"},
        422,
        "at least 10",
    ),
    ("too many columns", "w.csv", WIDE, {"target": "y"}, 422, "limit is 10"),
    (
        "duplicate columns",
        "d.csv",
        b"a,a,y\n" + b"".join(f"{i},{i},{i}\n".encode() for i in range(20)),
        {"target": "y"},
        422,
        "unique",
    ),
    (
        "only the target",
        "o.csv",
        b"y\n" + b"".join(f"{i}\n".encode() for i in range(20)),
        {"target": "y"},
        422,
        "no feature columns",
    ),
]


@pytest.fixture
def small_limits_client(tmp_path, sqlite_store) -> TestClient:
    from service.app import create_app
    from tests.service.conftest import make_settings

    settings = make_settings(tmp_path, str(sqlite_store.engine.url), max_columns=10, max_upload_bytes=50_000)
    settings.prepare_dirs()
    return TestClient(create_app(settings, sqlite_store))


@pytest.mark.parametrize(
    ("filename", "content", "fields", "status", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_upload(small_limits_client: TestClient, filename, content, fields, status, words) -> None:
    client = small_limits_client
    r = client.post("/v1/datasets", files={"file": (filename, content)}, data=fields)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and words in body["detail"]
    assert client.get("/v1/datasets").json()["total"] == 0
    uploads = client.app.state.settings.uploads_dir
    assert list(uploads.iterdir()) == []


def test_body_over_limit_is_413(small_limits_client: TestClient) -> None:
    big = b"a,y\n" + b"".join(f"{i},{i}\n".encode() for i in range(20_000))
    r = small_limits_client.post("/v1/datasets", files={"file": ("big.csv", big)}, data={"target": "y"})
    assert r.status_code == 413
    assert "50000 bytes" in r.json()["detail"]
    assert small_limits_client.get("/v1/datasets").json()["total"] == 0


def test_limit_counts_the_compressed_body(small_limits_client: TestClient) -> None:
    # 6000 rows are over the 50 kB limit as text but far under it compressed.
    rows = b"a,y\n" + b"".join(f"{i % 13},{i % 7}.25\n".encode() for i in range(8000))
    assert len(rows) > 50_000
    r = small_limits_client.post(
        "/v1/datasets", files={"file": ("z.csv.gz", gzip.compress(rows))}, data={"target": "y"}
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "x", "target": "y", "rows": []}, "no rows"),
        ({"name": "x", "target": "y", "rows": [{"a": {"nested": 1}, "y": 1}] * 12}, "number, a string"),
        ({"name": "x", "target": "y"}, "rows"),
        ({"name": "x", "target": "y", "rows": "abc"}, "rows"),
    ],
)
def test_bad_json_rows(client: TestClient, body, words) -> None:
    r = client.post("/v1/datasets", json=body)
    assert r.status_code == 422 and words in r.json()["detail"]


def test_wrong_content_type(client: TestClient) -> None:
    r = client.post("/v1/datasets", content=b"a,b", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]


def test_failed_metastore_write_leaves_no_file(client: TestClient, app, monkeypatch) -> None:
    from metastore.errors import StoreUnavailable

    def down(*a, **k):
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(app.state.store, "add_dataset", down)
    r = client.post("/v1/datasets", files={"file": ("r.csv", GOOD)}, data={"target": "y"})
    assert r.status_code == 503 and r.headers["retry-after"]
    assert list(app.state.settings.uploads_dir.iterdir()) == []
