"""The Python client against a real server: uploads, reports, problem+json errors and retries."""

from __future__ import annotations

import time

import pytest

from metastore.sql import SqlMetaStore
from tests.service.conftest import free_port
from tests.service.data import regression_frame
from warmstart import ApiError, ServiceUnavailable, WarmstartClient


def test_round_trip_with_a_dataframe(live_server, sqlite_store: SqlMetaStore) -> None:
    space = sqlite_store.upsert_search_space("knn", "regression", "1", {})
    [config] = sqlite_store.add_configurations(space.id, [({"n_neighbors": 5}, "knn-default")])
    with WarmstartClient(live_server.url, retries=0) as client:
        assert client.health()["status"] == "ok"
        ds = client.upload_dataset(regression_frame(), target="y", name="frame")
        assert ds["name"] == "frame" and ds["task_type"] == "regression"
        assert client.upload_dataset(regression_frame(), target="y")["id"] == ds["id"]
        body = {"dataset_id": ds["id"], "configuration_id": config.id, "metrics": {"r2": 0.7}}
        first = client.report_evaluations([body], idempotency_key="k1")
        again = client.report_evaluations([body], idempotency_key="k1")
        assert (first["created"], again["replayed"]) == (1, 1)
        board = client.leaderboard(ds["id"], sort="r2")
        assert board["items"][0]["metrics"]["r2"] == 0.7
        assert client.get_configuration(config.id)["family"] == "knn"


def test_errors_carry_problem_details(live_server) -> None:
    with WarmstartClient(live_server.url, retries=0) as client, pytest.raises(ApiError) as exc:
        client.get_dataset(424242)
    assert exc.value.status == 404 and "424242" in exc.value.detail
    assert exc.value.body["title"] == "Dataset not found"


def test_api_key_from_environment(live_server, keys, monkeypatch) -> None:
    monkeypatch.setenv("WARMSTART_URL", live_server.url)
    with WarmstartClient(retries=0) as anonymous, pytest.raises(ApiError) as exc:
        anonymous.list_datasets()
    assert exc.value.status == 401
    monkeypatch.setenv("WARMSTART_API_KEY", keys["read"])
    with WarmstartClient(retries=0) as client:
        assert client.list_datasets()["total"] == 0


def test_unreachable_service_retries_then_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with WarmstartClient(url, retries=2, backoff=0.1) as client, pytest.raises(ServiceUnavailable) as exc:
        client.health()
    assert time.monotonic() - started >= 0.3  # 0.1 + 0.2 of backoff
    assert "unreachable" in str(exc.value).lower()
