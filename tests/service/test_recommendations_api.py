"""POST /v1/recommendations on a small knowledge base: structure, filters, budgets, versions, errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from metastore import schema
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from service.app import create_app
from tests.service.conftest import make_settings
from tests.service.studies_support import build_regression_kb


@pytest.fixture(scope="module")
def kb_store(tmp_path_factory) -> SqlMetaStore:
    """One store and one app per module, so that each recommender is fitted once here."""
    url = f"sqlite+pysqlite:///{tmp_path_factory.mktemp('kb') / 'm.sqlite'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    return SqlMetaStore(engine)


@pytest.fixture(scope="module")
def kb_client(kb_store: SqlMetaStore, tmp_path_factory) -> TestClient:
    settings = make_settings(tmp_path_factory.mktemp("app"), str(kb_store.engine.url))
    return TestClient(create_app(settings, kb_store))


@pytest.fixture
def client(kb_client: TestClient) -> TestClient:
    return kb_client


@pytest.fixture
def sqlite_store(kb_store: SqlMetaStore) -> SqlMetaStore:
    return kb_store


@pytest.fixture(scope="module")
def kb(kb_store: SqlMetaStore) -> list[int]:
    """Eight regression datasets; knn wins on the large ones, linear on the small ones."""
    return build_regression_kb(kb_store)


@pytest.mark.parametrize("method", ["defaults", "portfolio", "knn", "flaml_style", "learned"])
def test_every_method_answers(client: TestClient, kb: list[int], method: str) -> None:
    r = client.post("/v1/recommendations", json={"dataset_id": kb[6], "k": 3, "method": method})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == method and body["metric"] == "r2" and body["model_version"].startswith(method)
    picks = body["recommendations"]
    expected = 2 if method == "defaults" else 3  # one library default per family, two families
    assert [p["rank"] for p in picks] == list(range(1, expected + 1))
    assert len({p["configuration_id"] for p in picks}) == expected
    for p in picks:
        assert 0 <= p["expected_score"] <= 1 and p["uncertainty"] >= 0 and p["predicted_fit_time"] > 0
        assert client.get(f"/v1/configurations/{p['configuration_id']}").json()["family"] == p["family"]
        similar = p["explanation"]["similar_datasets"]
        assert similar and all(s["dataset_id"] != kb[6] for s in similar)


def test_learned_prefers_what_won_on_similar_datasets(client: TestClient, kb: list[int]) -> None:
    large = client.post("/v1/recommendations", json={"dataset_id": kb[7], "k": 1}).json()
    assert large["recommendations"][0]["family"] == "knn"


def test_families_filter_and_time_budget(client: TestClient, kb: list[int]) -> None:
    only = client.post(
        "/v1/recommendations", json={"dataset_id": kb[0], "k": 4, "families": ["linear"]}
    ).json()
    assert {p["family"] for p in only["recommendations"]} == {"linear"}
    budget = 0.05
    r = client.post(
        "/v1/recommendations", json={"dataset_id": kb[0], "k": 10, "time_budget_s": budget}
    ).json()
    assert sum(p["predicted_fit_time"] for p in r["recommendations"]) <= budget + 1e-9


def test_model_is_versioned_stored_and_reused(client: TestClient, kb: list[int]) -> None:
    first = client.post("/v1/recommendations", json={"dataset_id": kb[1]}).json()["model_version"]
    again = client.post("/v1/recommendations", json={"dataset_id": kb[2]}).json()["model_version"]
    assert first == again
    stored = [m for m in client.get("/v1/learner-models").json() if m["method"] == "learned"]
    assert [m["version"] for m in stored] == [first]
    assert stored[0]["metrics"]["datasets"] == 8


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"dataset_id": 1, "method": "magic"}, 422, "method"),
        ({"dataset_id": 1, "metric": "accuracy"}, 422, "does not apply to regression"),
        ({"dataset_id": 1, "families": ["nope"]}, 422, "Unknown families"),
        ({"dataset_id": 999}, 404, "999"),
        ({"dataset_id": 1, "k": 0}, 422, "k"),
    ],
)
def test_bad_requests(client: TestClient, kb: list[int], body, status, words) -> None:
    r = client.post("/v1/recommendations", json=body)
    assert r.status_code == status and words in r.text


def test_empty_knowledge_base_says_how_to_fill_it(kb: list[int]) -> None:
    # The module's knowledge base has no classification results at all.
    from fastapi.testclient import TestClient as Client

    client = Client(create_app_on_fresh_store())
    r = client.post(
        "/v1/datasets",
        json={"name": "c", "target": "y", "rows": [{"a": i % 7, "y": i % 2} for i in range(30)]},
    )
    r = client.post("/v1/recommendations", json={"dataset_id": r.json()["id"]})
    assert r.status_code == 422 and "warmstart kb load" in r.json()["detail"]


def create_app_on_fresh_store():
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite+pysqlite:///{root / 'm.sqlite'}")
    schema.upgrade(engine)
    return create_app(make_settings(root, str(engine.url)), SqlMetaStore(engine))
