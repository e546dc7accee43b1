"""16 concurrent writers x 50 reports, each sent twice under one key: exactly 800 rows, on both databases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from metastore import schema
from metastore.records import NewDataset
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from service.app import create_app
from tests.service.conftest import LiveServer, make_settings

WRITERS, REPORTS = 16, 50


def _seed(store: SqlMetaStore) -> tuple[int, list[int]]:
    ds, _ = store.add_dataset(
        NewDataset(
            "c", "c" * 64, "regression", "y", 10, 1, {"a": "numeric"}, {"a": {"missing": 0, "unique": 9}}
        )
    )
    space = store.upsert_search_space("knn", "regression", "1", {})
    configs = store.add_configurations(space.id, [({"k": k}, None) for k in range(REPORTS)])
    return ds.id, [c.id for c in configs]


def _writer(url: str, w: int, ds: int, configs: list[int]) -> list[int]:
    statuses = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(REPORTS):
            body = {"dataset_id": ds, "configuration_id": configs[i], "metrics": {"r2": w + i / 100}}
            for _ in range(2):  # the retry a flaky network would make
                r = http.post("/v1/evaluations", json=body, headers={"Idempotency-Key": f"w{w}-r{i}"})
                statuses.append(r.status_code)
    return statuses


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_concurrent_idempotent_reports(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = request.getfixturevalue("sqlite_url" if kind == "sqlite" else "postgres_url")
    engine = make_engine(url)
    schema.upgrade(engine)
    store = SqlMetaStore(engine)
    ds, configs = _seed(store)
    app = create_app(make_settings(tmp_path, url), store)
    with LiveServer(app) as server, ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(lambda w: _writer(server.url, w, ds, configs), range(WRITERS)))
    statuses = [s for r in results for s in r]
    assert statuses.count(201) == WRITERS * REPORTS
    assert statuses.count(200) == WRITERS * REPORTS
    rows = store.list_evaluations(dataset_id=ds)
    assert len(rows) == WRITERS * REPORTS == 800
    assert len({r.idempotency_key for r in rows}) == 800
    engine.dispose()
