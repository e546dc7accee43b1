"""Studies through the API on a small knowledge base: cold start, observations, trajectory, errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from metastore import schema
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from service.app import create_app
from service.usecases import studies as studies_usecases
from service.usecases.studies import ZERO_SHOT_METHOD, SurrogateRegistry
from tests.service.conftest import make_settings
from tests.service.studies_support import FAMILIES, build_regression_kb, fast_surrogates


@pytest.fixture(autouse=True)
def _no_transfer_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check the surrogate right after the cold start; test_studies_transfer.py
    covers the transfer phase between them."""
    monkeypatch.setattr(studies_usecases, "TRANSFER_TRIALS", 0)


@pytest.fixture(scope="module")
def kb_store(tmp_path_factory) -> SqlMetaStore:
    url = f"sqlite+pysqlite:///{tmp_path_factory.mktemp('kb') / 'm.sqlite'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    store = SqlMetaStore(engine)
    build_regression_kb(store)
    return store


@pytest.fixture(scope="module")
def kb_client(kb_store: SqlMetaStore, tmp_path_factory) -> TestClient:
    app = create_app(make_settings(tmp_path_factory.mktemp("app"), str(kb_store.engine.url)), kb_store)
    return TestClient(fast_surrogates(app, kb_store))


@pytest.fixture
def client(kb_client: TestClient) -> TestClient:
    return kb_client


def _study(client: TestClient, **body) -> dict:  # type: ignore[no-untyped-def]
    body = {"dataset_id": 7, "families": FAMILIES, **body}
    r = client.post("/v1/studies", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _suggest(client: TestClient, study_id: int, n: int) -> dict:
    r = client.post(f"/v1/studies/{study_id}/suggest", params={"n": n})
    assert r.status_code == 200, r.text
    return r.json()


def test_create_defaults_and_list(client: TestClient) -> None:
    study = _study(client, name="first")
    assert (study["space"], study["metric"], study["direction"], study["families"]) == (
        "auto",
        "r2",
        "maximize",
        FAMILIES,
    )
    assert (study["n_trials"], study["best_score"]) == (0, None)
    lowered = _study(client, metric="rmse", space="knn", families=None)
    assert (lowered["direction"], lowered["families"]) == ("minimize", ["knn"])
    listed = client.get("/v1/studies", params={"dataset_id": 7}).json()
    assert listed["total"] >= 2 and listed["items"][0]["id"] == lowered["id"]


def test_cold_start_takes_the_zero_shot_picks_then_moves_on(client: TestClient) -> None:
    study = _study(client, n_initial=3)
    picks = client.post(
        "/v1/recommendations",
        json={"dataset_id": 7, "k": 3, "families": FAMILIES, "method": ZERO_SHOT_METHOD},
    ).json()
    first = _suggest(client, study["id"], 2)
    assert [s["source"] for s in first["suggestions"]] == ["zero_shot", "zero_shot"]
    assert [s["hyperparameters"] for s in first["suggestions"]] == [
        p["hyperparameters"] for p in picks["recommendations"][:2]
    ]
    assert first["zero_shot_version"] == picks["model_version"]
    assert all(s["model_version"] == picks["model_version"] for s in first["suggestions"])
    second = _suggest(client, study["id"], 3)
    assert [s["source"] for s in second["suggestions"]] == ["zero_shot", "surrogate", "surrogate"]
    versions = second["surrogate_versions"]
    assert set(versions) == set(FAMILIES) and first["surrogate_versions"] == {}
    for s in second["suggestions"][1:]:
        assert s["model_version"] == versions[s["family"]]
    assert second["suggestions"][0]["hyperparameters"] == picks["recommendations"][2]["hyperparameters"]
    every = first["suggestions"] + second["suggestions"]
    assert [s["number"] for s in every] == [0, 1, 2, 3, 4]
    assert len({s["configuration_id"] for s in every}) == 5
    for s in every:  # suggestions are stored configurations like any other
        stored = client.get(f"/v1/configurations/{s['configuration_id']}").json()
        assert (stored["family"], stored["hyperparameters"]) == (s["family"], s["hyperparameters"])


def test_surrogates_are_stored_versions_reused_across_replicas(
    client: TestClient, kb_store: SqlMetaStore
) -> None:
    study = _study(client, n_initial=0)
    versions = _suggest(client, study["id"], 2)["surrogate_versions"]
    stored = {m["method"]: m["version"] for m in client.get("/v1/learner-models").json()}
    assert {f: stored[f"surrogate/{f}"] for f in FAMILIES} == versions
    # Another replica (a fresh registry on the same metastore) serves the stored versions.
    fresh = SurrogateRegistry(kb_store).get(FAMILIES, "regression", "r2")
    assert {f: v for f, (_, v) in fresh.items()} == versions
    assert _suggest(client, study["id"], 1)["surrogate_versions"] == versions


def test_observations_enter_the_knowledge_base_once(client: TestClient, kb_store: SqlMetaStore) -> None:
    study = _study(client)
    a, b = _suggest(client, study["id"], 2)["suggestions"]
    body = {
        "trial_id": a["trial_id"],
        "score": 0.75,
        "metrics": {"rmse": 0.4},
        "fit_time": 0.2,
        "protocol": "p1",
    }
    r = client.post(f"/v1/studies/{study['id']}/observations", json=body)
    assert r.status_code == 201, r.text
    trial = r.json()["trial"]
    assert (trial["state"], trial["score"], trial["metrics"]) == ("ok", 0.75, {"rmse": 0.4, "r2": 0.75})
    again = client.post(f"/v1/studies/{study['id']}/observations", json=body)
    assert again.status_code == 200 and again.json()["created"] is False
    evaluation = [e for e in kb_store.list_evaluations(dataset_id=7, protocol="p1") if e.source == "study"]
    assert len(evaluation) == 1 and evaluation[0].id == trial["evaluation_id"]
    assert (evaluation[0].configuration_id, evaluation[0].metrics["r2"]) == (a["configuration_id"], 0.75)
    changed = client.post(f"/v1/studies/{study['id']}/observations", json={**body, "score": 0.8})
    assert changed.status_code == 409 and "already holds a different result" in changed.json()["detail"]
    failed = client.post(
        f"/v1/studies/{study['id']}/observations",
        json={"trial_id": b["trial_id"], "status": "failed", "error": "out of memory", "protocol": "p1"},
    )
    assert failed.status_code == 201 and failed.json()["trial"]["state"] == "failed"
    stored = kb_store.list_evaluations(dataset_id=7, protocol="p1")
    assert sorted(e.status for e in stored if e.source == "study") == ["failed", "ok"]


def test_trajectory_and_best_follow_the_direction(client: TestClient) -> None:
    study = _study(client, metric="rmse", n_initial=0)
    trials = _suggest(client, study["id"], 4)["suggestions"]
    for t, value in zip(trials, [3.0, 1.5, 2.0, None], strict=True):
        body = (
            {"trial_id": t["trial_id"], "score": value}
            if value
            else {"trial_id": t["trial_id"], "status": "failed"}
        )
        assert client.post(f"/v1/studies/{study['id']}/observations", json=body).status_code == 201
    more = _suggest(client, study["id"], 1)["suggestions"][0]
    assert more["source"] == "surrogate" and more["acquisition"] >= 0 and more["predicted_std"] > 0
    detail = client.get(f"/v1/studies/{study['id']}").json()
    assert [t["best_so_far"] for t in detail["trials"]] == [3.0, 1.5, 1.5, 1.5, 1.5]
    assert [t["state"] for t in detail["trials"]] == ["ok", "ok", "ok", "failed", "pending"]
    assert detail["best"]["trial_id"] == trials[1]["trial_id"] and detail["best_score"] == 1.5
    assert (detail["n_trials"], detail["n_pending"]) == (5, 1) and detail["trials"][4]["trial_id"] == more[
        "trial_id"
    ]


def test_no_configuration_comes_back_twice(client: TestClient) -> None:
    """Past the zero-shot picks and linear's small stored pool, every suggestion is new."""
    study = _study(client, space="linear", families=None, n_initial=2)
    seen = [s["configuration_id"] for _ in range(6) for s in _suggest(client, study["id"], 5)["suggestions"]]
    assert len(seen) == 30 and len(set(seen)) == 30


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"dataset_id": 999}, 404, "dataset 999"),
        ({"dataset_id": 7, "space": "nope"}, 422, "Unknown family 'nope'"),
        ({"dataset_id": 7, "families": ["knn", "nope"]}, 422, "Unknown family 'nope'"),
        ({"dataset_id": 7, "metric": "accuracy"}, 422, "does not apply to regression"),
        ({"dataset_id": 7, "metric": "rmse", "direction": "maximize"}, 422, "rmse is to minimize"),
        ({"dataset_id": 7, "space": "knn", "families": ["knn"]}, 422, "families goes with space=auto"),
        ({"dataset_id": 7, "n_initial": 51}, 422, "n_initial"),
        ({"dataset_id": 7, "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_studies(client: TestClient, body: dict, status: int, words: str) -> None:
    r = client.post("/v1/studies", json=body)
    assert r.status_code == status and r.headers["content-type"] == "application/problem+json"
    assert words in r.json()["detail"], r.text


def test_bad_suggest_and_observations(client: TestClient) -> None:
    study, other = _study(client), _study(client)
    [trial] = _suggest(client, study["id"], 1)["suggestions"]
    [foreign] = _suggest(client, other["id"], 1)["suggestions"]
    url = f"/v1/studies/{study['id']}/observations"
    cases = [
        (client.post(f"/v1/studies/{study['id']}/suggest", params={"n": 0}), 422, "n"),
        (client.post(f"/v1/studies/{study['id']}/suggest", params={"n": 51}), 422, "n"),
        (client.post(f"/v1/studies/{study['id']}/suggest", params={"m": 1}), 422, "Unknown query"),
        (client.post("/v1/studies/999/suggest"), 404, "study 999"),
        (client.get("/v1/studies/999"), 404, "study 999"),
        (client.post("/v1/studies/999/observations", json={"trial_id": 1, "score": 1}), 404, "study 999"),
        (client.post(url, json={"trial_id": 99999, "score": 1}), 422, "does not exist"),
        (client.post(url, json={"trial_id": foreign["trial_id"], "score": 1}), 422, "belongs to study"),
        (client.post(url, json={"trial_id": trial["trial_id"]}), 422, "needs the study's metric 'r2'"),
        (
            client.post(url, json={"trial_id": trial["trial_id"], "status": "failed", "score": 1}),
            422,
            "no score",
        ),
        (
            client.post(url, json={"trial_id": trial["trial_id"], "score": 1, "metrics": {"r2": 2}}),
            422,
            "disagree",
        ),
    ]
    for r, status, words in cases:
        assert r.status_code == status and words in r.json()["detail"], (r.request.url, r.text)
    assert client.get(f"/v1/studies/{study['id']}").json()["trials"][0]["state"] == "pending"


def test_scopes(client: TestClient, kb_store: SqlMetaStore) -> None:
    study = _study(client)
    made = [kb_store.create_api_key([scope], scope) for scope in ("read", "write")]
    read, write = (plaintext for _, plaintext in made)
    try:
        assert client.post("/v1/studies", json={"dataset_id": 7}).status_code == 401
        r = client.post(f"/v1/studies/{study['id']}/suggest", headers={"X-API-Key": read})
        assert r.status_code == 403 and "write" in r.json()["detail"]
        assert client.get(f"/v1/studies/{study['id']}", headers={"X-API-Key": read}).status_code == 200
        assert (
            client.post(f"/v1/studies/{study['id']}/suggest", headers={"X-API-Key": write}).status_code == 200
        )
    finally:
        for record, _ in made:  # back to open mode for the module's other tests
            kb_store.revoke_api_key(record.id)


def test_a_stored_surrogate_this_code_cannot_read_is_meta_trained_again(sqlite_store) -> None:  # type: ignore[no-untyped-def]
    from service.usecases.recommend import PROTOCOL
    from service.usecases.studies import SurrogateRegistry
    from tests.service.studies_support import FAST_SURROGATE, build_regression_kb

    build_regression_kb(sqlite_store)
    fingerprint = sqlite_store.knowledge_fingerprint(PROTOCOL)
    sqlite_store.save_learner_model(
        "surrogate/linear", "regression", "r2", "surrogate-old-format", fingerprint, b"not a surrogate", {}
    )
    got = SurrogateRegistry(sqlite_store, FAST_SURROGATE).get(["linear"], "regression", "r2")
    assert got["linear"][1] != "surrogate-old-format"  # a new version, meta-trained and stored
    assert (
        sqlite_store.latest_learner_model("surrogate/linear", "regression", "r2").version == got["linear"][1]
    )
