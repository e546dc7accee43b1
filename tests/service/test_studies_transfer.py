"""The transfer phase of a study (SQLite and PostgreSQL): after the zero-shot trials, the knowledge
base as a mixture proposes from the stored pool until the surrogates take over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from learners.surrogate import scale_scores
from metastore.records import NewEvaluation
from metastore.sql import SqlMetaStore, config_hash
from service.app import create_app
from service.usecases import studies as studies_usecases
from service.usecases.recommend import PROTOCOL
from service.usecases.studies import SurrogateRegistry, _scaled_observations
from tests.metastore.conftest import age_trial
from tests.service.conftest import make_settings
from tests.service.studies_support import FAMILIES, FAST_SURROGATE, build_regression_kb, fast_surrogates


@pytest.fixture
def kb(store: SqlMetaStore) -> list[int]:
    """A small regression knowledge base (knn and linear pools); its dataset ids."""
    return build_regression_kb(store, n_datasets=6)


@pytest.fixture
def client(store: SqlMetaStore, kb: list[int], tmp_path: Path) -> Iterator[TestClient]:
    app = fast_surrogates(create_app(make_settings(tmp_path, str(store.engine.url)), store), store)
    with TestClient(app) as client:  # its shutdown waits for the background warm-ups
        yield client


def _study(client: TestClient, dataset_id: int, **body) -> int:  # type: ignore[no-untyped-def]
    r = client.post("/v1/studies", json={"dataset_id": dataset_id, **body})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _suggest(client: TestClient, study_id: int, n: int) -> dict:
    r = client.post(f"/v1/studies/{study_id}/suggest", params={"n": n})
    assert r.status_code == 200, r.text
    return r.json()


def _observe(client: TestClient, study_id: int, trial_id: int, score: float) -> None:
    r = client.post(f"/v1/studies/{study_id}/observations", json={"trial_id": trial_id, "score": score})
    assert r.status_code == 201, r.text


def _pool(store: SqlMetaStore, family: str) -> set[int]:
    """The ids of `family`'s stored pool (the knowledge base's columns)."""
    return {c.id for c in store.list_configurations() if c.family == family and c.name}


def test_after_the_zero_shot_trials_the_knowledge_base_proposes(
    client: TestClient, store: SqlMetaStore, kb: list[int]
) -> None:
    sid = _study(client, kb[-1], space="knn", n_initial=2)
    first = _suggest(client, sid, 2)["suggestions"]
    assert [s["source"] for s in first] == ["zero_shot", "zero_shot"]
    for s, score in zip(first, [0.7, 0.9], strict=True):
        _observe(client, sid, s["trial_id"], score)
    answer = _suggest(client, sid, 4)
    picks = answer["suggestions"]
    assert [s["source"] for s in picks] == ["transfer"] * 4
    assert [s["number"] for s in picks] == [2, 3, 4, 5]
    assert answer["surrogate_versions"] == {}  # not asked
    ids = [s["configuration_id"] for s in first + picks]
    assert len(set(ids)) == 6 and set(ids) <= _pool(store, "knn")  # distinct, the family's pool
    assert all(s["family"] == "knn" for s in picks)
    assert len({s["model_version"] for s in picks}) == 1 and picks[0]["model_version"].startswith("kb-")
    # the blend's prediction on the study's scale (1: its best so far, 0: its worst) and spread
    assert all(s["acquisition"] >= 0 and -1.0 < s["predicted_mean"] < 2.0 for s in picks)
    assert all(s["predicted_std"] >= 0 for s in picks)
    acquisitions = [s["acquisition"] for s in picks]
    assert acquisitions[0] == max(acquisitions)  # the first pick is the best one


def test_parallel_calls_and_expired_trials_never_repeat_a_configuration(
    client: TestClient, store: SqlMetaStore, kb: list[int]
) -> None:
    sid = _study(client, kb[0], families=FAMILIES, n_initial=1, pending_timeout_s=60)
    [cold] = _suggest(client, sid, 1)["suggestions"]
    a = _suggest(client, sid, 3)["suggestions"]  # nothing observed: all still pending
    b = _suggest(client, sid, 3)["suggestions"]
    assert [s["source"] for s in a + b] == ["transfer"] * 6
    age_trial(store.engine, a[0]["trial_id"], 61)  # expired: neither pending nor observed
    c = _suggest(client, sid, 3)["suggestions"]
    assert [s["source"] for s in c] == ["transfer"] * 3
    every = [s["configuration_id"] for s in [cold, *a, *b, *c]]
    assert len(every) == len(set(every)) == 10
    assert {s["family"] for s in a + b + c} <= set(FAMILIES)


def test_the_surrogates_take_over_after_the_phase(
    client: TestClient, kb: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(studies_usecases, "TRANSFER_TRIALS", 2)
    sid = _study(client, kb[-1], families=FAMILIES, n_initial=2)
    assert [s["source"] for s in _suggest(client, sid, 1)["suggestions"]] == ["zero_shot"]
    answer = _suggest(client, sid, 4)
    assert [s["source"] for s in answer["suggestions"]] == ["zero_shot", "transfer", "transfer", "surrogate"]
    assert set(answer["surrogate_versions"]) == set(FAMILIES)
    assert [s["source"] for s in _suggest(client, sid, 2)["suggestions"]] == ["surrogate", "surrogate"]


def test_no_transfer_phase_when_switched_off(
    client: TestClient, kb: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(studies_usecases, "TRANSFER_TRIALS", 0)
    sid = _study(client, kb[-1], families=FAMILIES, n_initial=2)
    answer = _suggest(client, sid, 4)
    assert [s["source"] for s in answer["suggestions"]] == [
        "zero_shot",
        "zero_shot",
        "surrogate",
        "surrogate",
    ]


def test_a_used_up_pool_hands_over_to_the_surrogates(
    client: TestClient, store: SqlMetaStore, kb: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(studies_usecases, "TRANSFER_TRIALS", 50)
    pool = _pool(store, "linear")
    sid = _study(client, kb[-1], space="linear", n_initial=2)
    cold = _suggest(client, sid, 2)["suggestions"]
    rest = _suggest(client, sid, len(pool) + 3)["suggestions"]
    sources = [s["source"] for s in rest]
    assert sources == ["transfer"] * (len(pool) - 2) + ["surrogate"] * 5
    ids = [s["configuration_id"] for s in cold + rest]
    assert len(set(ids)) == len(ids) and {s["configuration_id"] for s in cold + rest[:-5]} == pool


def test_families_the_knowledge_base_never_measured_sample_at_random(
    client: TestClient, kb: list[int]
) -> None:
    sid = _study(client, kb[0], space="lightgbm", n_initial=1)
    assert [s["source"] for s in _suggest(client, sid, 3)["suggestions"]] == ["random"] * 3


def test_the_transfer_model_is_built_again_only_when_the_knowledge_changes(
    store: SqlMetaStore, kb: list[int]
) -> None:
    registry = SurrogateRegistry(store, FAST_SURROGATE)
    built = registry.transfer("regression", "r2")
    assert built is not None and built.similarity.n_datasets == len(kb)
    assert registry.transfer("regression", "r2") is built
    assert registry.cached_transfer("regression", "r2") is built
    assert registry.transfer("regression", "rmse") is not built  # another metric, another model
    config = min(_pool(store, "knn"))
    # a study's observation ("user" protocol) is not knowledge: the model stays
    store.import_evaluations(
        [NewEvaluation(kb[0], config, "user", {"r2": 0.1}, idempotency_key="transfer-test")]
    )
    assert registry.transfer("regression", "r2") is built
    store.import_evaluations(
        [NewEvaluation(kb[0], config, PROTOCOL, {"r2": 0.1}, idempotency_key="transfer-test-kb")]
    )
    again = registry.transfer("regression", "r2")
    assert again is not built and again.version != built.version  # type: ignore[union-attr]
    assert registry.transfer("classification", "balanced_accuracy") is None  # no results: nothing to transfer


def test_a_stopping_server_waits_for_the_surrogate_warm_up(
    store: SqlMetaStore, kb: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fast_surrogates(create_app(make_settings(tmp_path, str(store.engine.url)), store), store)
    registry: SurrogateRegistry = app.state.surrogates
    release = threading.Event()
    real_get = registry.get

    def held_get(*args, **kw):  # type: ignore[no-untyped-def]
        release.wait(20)
        return real_get(*args, **kw)

    monkeypatch.setattr(registry, "get", held_get)
    with TestClient(app) as client:
        _study(client, kb[-1], families=FAMILIES, n_initial=2)
        [warming] = registry._warming
        assert registry.wait(0.05) is False and warming.is_alive()
        threading.Timer(0.3, release.set).start()
    assert not warming.is_alive()  # the shutdown waited: nothing uses the database after it
    assert registry.wait(0) is True and set(registry.cached(FAMILIES, "regression", "r2")) == set(FAMILIES)


def _expected_pick(store: SqlMetaStore, sid: int, client: TestClient) -> tuple[int, float]:
    """The configuration that `MixtureAndOwnGP.improvement` ranks first for the study's trials as
    they stand (observed scaled as a study scales them, pending believed), and its gain."""
    registry: SurrogateRegistry = client.app.state.surrogates  # type: ignore[attr-defined]
    transfer = registry.transfer("regression", "r2")
    assert transfer is not None
    trials = client.get(f"/v1/studies/{sid}").json()["trials"]
    done = [t for t in trials if t["state"] == "ok"]
    keys = [transfer.key(t["family"], t["hyperparameters"]) for t in done]
    observed = dict(zip(keys, scale_scores([t["score"] for t in done]), strict=True))
    pending = [transfer.key(t["family"], t["hyperparameters"]) for t in trials if t["state"] == "pending"]
    gain, weight = transfer.blend.improvement(observed, pending)
    assert 0.0 < weight < 1.0
    gain = np.where(transfer.allowed(["knn"]), gain, -np.inf)
    j = int(np.argmax(gain))
    ids = {(c.family, c.config_hash): c.id for c in store.list_configurations()}
    return ids[("knn", config_hash(transfer.values[j]))], float(gain[j])


@pytest.mark.parametrize("scores", [[0.2, 0.9, 0.5], [0.9, 0.2, 0.1]])
def test_a_transfer_pick_is_the_blend_of_the_mixture_and_the_studys_own_gp(
    client: TestClient, store: SqlMetaStore, kb: list[int], scores: list[float]
) -> None:
    sid = _study(client, kb[-1], space="knn", n_initial=3)
    for s, score in zip(_suggest(client, sid, 3)["suggestions"], scores, strict=True):
        _observe(client, sid, s["trial_id"], score)
    expected, gain = _expected_pick(store, sid, client)
    [pick] = _suggest(client, sid, 1)["suggestions"]
    assert (pick["source"], pick["configuration_id"]) == ("transfer", expected)
    assert pick["acquisition"] == pytest.approx(gain)
    # a second worker while the first pick is pending: the blend believes it and moves on
    expected, gain = _expected_pick(store, sid, client)
    [second] = _suggest(client, sid, 1)["suggestions"]
    assert second["configuration_id"] == expected != pick["configuration_id"]
    assert second["acquisition"] == pytest.approx(gain)


def test_observations_off_the_pool_reach_the_gp_on_the_pools_scale(
    store: SqlMetaStore, kb: list[int]
) -> None:
    transfer = SurrogateRegistry(store, FAST_SURROGATE).transfer("regression", "r2")
    assert transfer is not None
    pool = [(f, v) for f, v in zip(transfer.families, transfer.values, strict=True) if f == "knn"]
    off, failed = [c for n in range(1, 200) if transfer.key("knn", c := {**pool[0][1], "n_neighbors": n})
                   not in transfer.similarity.column][:2]  # fmt: skip
    observed, outside = _scaled_observations(
        transfer,
        [
            ("knn", pool[0][1], 0.5),
            ("knn", pool[1][1], 0.7),
            ("knn", off, 0.8),  # above the pool's best: 1.5 on its scale
            ("knn", failed, None),  # a failure: the worst of all
            ("knn", {"n_neighbors": "many"}, 0.6),  # not a configuration of the space: left out
            ("lightgbm", {}, 0.6),  # a family without columns: left out
        ],
    )
    assert sorted(observed.values()) == [0.0, 1.0]
    assert [(f, y) for f, _, y in outside] == [("knn", pytest.approx(1.5)), ("knn", 0.0)]
    assert np.array_equal(outside[0][1], transfer.encode("knn", off))
    gain, _ = transfer.blend.improvement(observed, outside=outside)
    assert np.isfinite(gain).sum() == len(transfer.families) - 2
