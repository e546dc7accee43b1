"""A real Optuna study driven by WarmStartSampler against a real server on a small knowledge base."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from metastore import schema
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from service.app import create_app
from tests.service.conftest import LiveServer, make_settings
from tests.service.studies_support import FAMILIES, build_regression_kb, fast_surrogates
from warmstart.client import WarmstartClient
from warmstart.optuna import PARAMS_ATTR, TRIAL_ID_ATTR, WarmStartSampler, enqueue_recommendations

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def kb_server(tmp_path_factory) -> Iterator[tuple[LiveServer, SqlMetaStore]]:
    root = tmp_path_factory.mktemp("optuna")
    engine = make_engine(f"sqlite+pysqlite:///{root / 'm.sqlite'}")
    schema.upgrade(engine)
    store = SqlMetaStore(engine)
    build_regression_kb(store)
    app = fast_surrogates(create_app(make_settings(Path(root), str(engine.url)), store), store)
    with LiveServer(app) as server:
        yield server, store


def knn_objective(trial: optuna.Trial) -> float:
    k = trial.suggest_int("n_neighbors", 1, 100, log=True)
    weights = trial.suggest_categorical("weights", ["uniform", "distance"])
    p = trial.suggest_categorical("p", [1, 2])
    noise = trial.suggest_float("noise", 0.0, 0.01)  # not in the service's space: sampled independently
    return 1.0 - abs(k - 12) / 100 + (0.05 if weights == "distance" else 0.0) + 0.01 * p + noise


def two_family_objective(trial: optuna.Trial) -> float:
    if trial.suggest_categorical("family", FAMILIES) == "knn":
        return knn_objective(trial)
    alpha = trial.suggest_float("alpha", 1e-6, 10.0, log=True)
    return 0.9 - alpha / 100 + 0.01 * trial.suggest_float("l1_ratio", 0.0, 1.0)


def test_sampler_trials_are_the_service_suggestions(kb_server) -> None:  # type: ignore[no-untyped-def]
    server, store = kb_server
    with WarmstartClient(server.url) as client:
        sampler = WarmStartSampler(client, dataset_id=7, space="knn", n_initial=3, seed=1)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(knn_objective, n_trials=8)
        served = client.get_study(sampler.study_id)  # type: ignore[arg-type]
    trials = study.trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 8
    assert len(served["trials"]) == 8
    assert [s["source"] for s in served["trials"]] == ["zero_shot"] * 3 + ["transfer"] * 5
    for t, s in zip(trials, served["trials"], strict=True):
        assert t.system_attrs[TRIAL_ID_ATTR] == s["trial_id"]
        assert {k: v for k, v in t.params.items() if k != "noise"} == s["hyperparameters"]
        assert 0.0 <= t.params["noise"] <= 0.01
        assert (s["state"], s["score"]) == ("ok", pytest.approx(t.value))
    assert served["best"]["score"] == pytest.approx(study.best_value)
    assert len({s["configuration_id"] for s in served["trials"]}) == 8
    kb = [e for e in store.list_evaluations(dataset_id=7) if e.source == "study"]
    assert sorted(e.configuration_id for e in kb) >= sorted(s["configuration_id"] for s in served["trials"])


def test_failed_trials_are_reported_as_failures(kb_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = kb_server

    def broken(trial: optuna.Trial) -> float:
        trial.suggest_int("n_neighbors", 1, 100, log=True)
        raise RuntimeError("the model would not fit")

    with WarmstartClient(server.url) as client:
        sampler = WarmStartSampler(client, dataset_id=7, space="knn")
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(broken, n_trials=2, catch=(RuntimeError,))
        served = client.get_study(sampler.study_id)  # type: ignore[arg-type]
    assert [s["state"] for s in served["trials"]] == ["failed", "failed"]
    assert "FAIL" in served["trials"][0]["error"]


def test_direction_must_match_the_metric(kb_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = kb_server
    with WarmstartClient(server.url) as client:
        sampler = WarmStartSampler(client, dataset_id=7, space="knn", metric="rmse")
        study = optuna.create_study(direction="maximize", sampler=sampler)
        with pytest.raises(ValueError, match="direction='minimize'"):
            study.optimize(knn_objective, n_trials=1)


def test_suggestions_across_families_offer_the_family(kb_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = kb_server
    with WarmstartClient(server.url) as client:
        sampler = WarmStartSampler(client, dataset_id=7, families=FAMILIES, n_initial=4)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(two_family_objective, n_trials=4)
        served = client.get_study(sampler.study_id)  # type: ignore[arg-type]
    assert [t.params["family"] for t in study.trials] == [s["family"] for s in served["trials"]]
    for t in study.trials:
        assert t.system_attrs[PARAMS_ATTR]["family"] == t.params["family"]


def test_enqueue_recommendations_into_any_study(kb_server) -> None:  # type: ignore[no-untyped-def]
    server, _ = kb_server
    with WarmstartClient(server.url) as client:
        picks = client.recommend(7, k=3, families=FAMILIES)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    assert enqueue_recommendations(study, picks) == 3
    assert enqueue_recommendations(study, picks) == 3  # skipped: the same trials are queued already
    study.optimize(two_family_objective, n_trials=3)
    wanted = [{"family": p["family"], **p["hyperparameters"]} for p in picks["recommendations"]]
    assert [{k: v for k, v in t.params.items() if k != "noise"} for t in study.trials] == wanted
    assert [t.user_attrs["warmstart:configuration_id"] for t in study.trials] == [
        p["configuration_id"] for p in picks["recommendations"]
    ]
