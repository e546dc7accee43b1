"""Expiry of pending trials through the API (SQLite and PostgreSQL), the setting, and what the
surrogate is given. No sleeping: a trial is aged with a real UPDATE of its `suggested_at`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from metastore import models as m
from metastore.sql import SqlMetaStore
from metastore.studies import StudyRecord, TrialRecord
from service.app import create_app
from service.usecases.studies import ZERO_SHOT_METHOD, surrogate_evidence
from tests.metastore.conftest import age_trial
from tests.service.conftest import make_settings
from tests.service.studies_support import FAMILIES, build_regression_kb, fast_surrogates


@pytest.fixture
def kb(store: SqlMetaStore) -> int:
    """A small regression knowledge base on SQLite and PostgreSQL; the id of one of its datasets."""
    return build_regression_kb(store, n_datasets=6)[-1]


@pytest.fixture
def client(store: SqlMetaStore, kb: int, tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, str(store.engine.url), study_pending_timeout_s=7200)
    with TestClient(fast_surrogates(create_app(settings, store), store)) as client:
        yield client  # its shutdown waits for the background warm-ups


def _post(client: TestClient, url: str, status: int = 200, **kw) -> dict:  # type: ignore[no-untyped-def]
    r = client.post(url, **kw)
    assert r.status_code == status, r.text
    return r.json()


def test_an_expired_trial_frees_its_slot_and_still_takes_a_late_result(
    client: TestClient, store: SqlMetaStore, kb: int
) -> None:
    study = _post(
        client,
        "/v1/studies",
        201,
        json={"dataset_id": kb, "families": FAMILIES, "n_initial": 3, "pending_timeout_s": 60},
    )
    assert study["pending_timeout_s"] == 60
    sid = study["id"]
    picks = _post(
        client,
        "/v1/recommendations",
        json={"dataset_id": kb, "k": 3, "families": FAMILIES, "method": ZERO_SHOT_METHOD},
    )
    a, b = _post(client, f"/v1/studies/{sid}/suggest", params={"n": 2})["suggestions"]
    age_trial(store.engine, a["trial_id"], 61)

    detail = client.get(f"/v1/studies/{sid}").json()
    assert [t["state"] for t in detail["trials"]] == ["expired", "pending"]
    assert (detail["n_trials"], detail["n_pending"]) == (2, 1)
    listed = client.get("/v1/studies", params={"dataset_id": kb}).json()["items"]
    assert [s["n_pending"] for s in listed if s["id"] == sid] == [1]

    # The expired zero-shot pick is not handed out again: the third pick comes next.
    [c] = _post(client, f"/v1/studies/{sid}/suggest", params={"n": 1})["suggestions"]
    assert (c["source"], c["hyperparameters"]) == (
        "zero_shot",
        picks["recommendations"][2]["hyperparameters"],
    )
    assert a["configuration_id"] not in {b["configuration_id"], c["configuration_id"]}
    with store.engine.connect() as conn:
        stored = conn.scalar(select(m.StudyTrial.state).where(m.StudyTrial.id == a["trial_id"]))
    assert stored == "expired"
    assert client.get(f"/v1/studies/{sid}").json()["n_pending"] == 2  # b and c

    late = _post(
        client, f"/v1/studies/{sid}/observations", 201, json={"trial_id": a["trial_id"], "score": 0.8}
    )
    assert (late["created"], late["trial"]["state"], late["trial"]["score"]) == (True, "ok", 0.8)
    detail = client.get(f"/v1/studies/{sid}").json()
    assert [t["state"] for t in detail["trials"]] == ["ok", "pending", "pending"]
    assert (detail["best_score"], detail["n_pending"]) == (0.8, 2)
    evaluations = store.list_evaluations(dataset_id=kb, protocol="user")
    assert [e.id for e in evaluations if e.source == "study"] == [late["trial"]["evaluation_id"]]


def test_the_default_timeout_is_the_setting_and_a_younger_trial_stays_pending(
    client: TestClient, store: SqlMetaStore, kb: int
) -> None:
    study = _post(client, "/v1/studies", 201, json={"dataset_id": kb, "space": "knn", "n_initial": 0})
    assert study["pending_timeout_s"] == 7200  # the app's WARMSTART_STUDY_PENDING_TIMEOUT_S
    [a] = _post(client, f"/v1/studies/{study['id']}/suggest")["suggestions"]
    age_trial(store.engine, a["trial_id"], 3600)  # would have expired under the 60 s of the other test
    _post(client, f"/v1/studies/{study['id']}/suggest")
    detail = client.get(f"/v1/studies/{study['id']}").json()
    assert [t["state"] for t in detail["trials"]] == ["pending", "pending"] and detail["n_pending"] == 2


@pytest.mark.parametrize("value", [0, 0.5, -1, 30 * 86_400 + 1, "60", True])
def test_a_bad_pending_timeout_is_refused(tmp_path: Path, sqlite_store: SqlMetaStore, value: object) -> None:
    client = TestClient(create_app(make_settings(tmp_path, str(sqlite_store.engine.url)), sqlite_store))
    r = client.post("/v1/studies", json={"dataset_id": 1, "pending_timeout_s": value})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "pending_timeout_s" in r.text


def test_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_settings(tmp_path).study_pending_timeout_s == 6 * 3600
    monkeypatch.setenv("WARMSTART_STUDY_PENDING_TIMEOUT_S", "900")
    assert make_settings(tmp_path).study_pending_timeout_s == 900
    monkeypatch.setenv("WARMSTART_STUDY_PENDING_TIMEOUT_S", "0")
    with pytest.raises(ValidationError, match="study_pending_timeout_s"):
        make_settings(tmp_path)


def _record(number: int, state: str, score: float | None, family: str = "knn") -> TrialRecord:
    now = datetime.now(UTC)
    return TrialRecord(
        number, 1, number, 100 + number, family, {"n_neighbors": number}, "random", None, None, None, None,
        state, score, None, None, None, None, now, None,  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_surrogate_sees_an_expired_trial_neither_as_result_nor_as_pending() -> None:
    study = StudyRecord(
        1, 1, "", "regression", "auto", ("knn", "linear"), "rmse", "minimize", 0, 0, datetime.now(UTC)
    )
    trials = [
        _record(0, "ok", 2.0),
        _record(1, "failed", None),
        _record(2, "expired", None),
        _record(3, "pending", None),
        _record(4, "ok", 1.0, family="linear"),
    ]
    observations, pending = surrogate_evidence(study, trials, {"knn"})
    assert observations == [("knn", {"n_neighbors": 0}, -2.0), ("knn", {"n_neighbors": 1}, None)]
    assert pending == [("knn", {"n_neighbors": 3})]
