"""Bring your own history: a real Optuna study in a SQLite file and a real MLflow file store become
evaluations, mapped onto a family's space or a new one."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsRegressor

from learners.spaces import get_space
from metastore.records import DatasetRecord
from metastore.sql import SqlMetaStore
from service.cli import main
from service.problems import IntakeError
from service.usecases.import_history import (
    by_dataset,
    dataset_from_file,
    mlflow_runs,
    optuna_trials,
    store_trials,
)
from tests.service.data import csv_bytes, regression_frame

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_bytes(csv_bytes(regression_frame(120)))
    return path


@pytest.fixture
def dataset(sqlite_store: SqlMetaStore, data: Path, tmp_path: Path) -> DatasetRecord:
    return dataset_from_file(sqlite_store, tmp_path / "uploads", data, "y", None, 10, 5000)


def knn_study(storage: str, data: Path, name: str = "knn-study") -> optuna.Study:
    """A real study: 6 k-NN fits scored by 3-fold CV r2, one failed trial and one pruned one."""
    frame = regression_frame(120)
    X, y = frame[["a", "b"]].to_numpy(), frame["y"].to_numpy()
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["r2"])

    def objective(trial: optuna.Trial) -> float:
        k = trial.suggest_int("n_neighbors", 1, 30)
        weights = trial.suggest_categorical("weights", ["uniform", "distance"])
        if trial.number == 3:
            raise ValueError("the fit diverged")
        if trial.number == 5:
            raise optuna.TrialPruned()
        model = KNeighborsRegressor(n_neighbors=k, weights=weights)
        return float(np.mean(cross_val_score(model, X, y, cv=3, scoring="r2")))

    study.optimize(objective, n_trials=8, catch=(ValueError,))
    return study


def test_an_optuna_study_becomes_evaluations_of_the_inferred_family(
    sqlite_store: SqlMetaStore, dataset: DatasetRecord, data: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = knn_study(storage, data)
    trials, definition, skipped = optuna_trials(storage, "knn-study", None)
    assert dict(skipped) == {"pruned": 1} and len(trials) == 7
    done = store_trials(
        sqlite_store, dataset, trials, family=None, new_space=("optuna-knn-study", definition),
        protocol="cv3", source="import-optuna", skipped=skipped,
    )  # fmt: skip
    assert (done.family, done.new_space, done.created, done.ok, done.failed) == ("knn", False, 7, 6, 1)
    evals = sqlite_store.list_evaluations(dataset_id=dataset.id)
    ok = sorted((e for e in evals if e.status == "ok"), key=lambda e: e.metrics["r2"])
    completed = sorted(t.value for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    assert [e.metrics["r2"] for e in ok] == pytest.approx(completed)
    assert all(e.protocol == "cv3" and e.source == "import-optuna" for e in evals)
    [failed] = [e for e in evals if e.status == "failed"]
    assert failed.error == "the Optuna trial failed" and failed.metrics == {}  # Optuna keeps no reason
    best = study.best_trial
    config = sqlite_store.get_configuration(max(ok, key=lambda e: e.metrics["r2"]).configuration_id)
    assert config.family == "knn" and config.values == {
        **get_space("knn", "regression").default(),
        **best.params,
    }
    again = store_trials(
        sqlite_store, dataset, trials, family=None, new_space=("x", definition), protocol="cv3",
        source="import-optuna",
    )  # fmt: skip
    assert (again.created, again.replayed) == (0, 7)


def test_a_study_outside_every_family_registers_its_own_space(
    sqlite_store: SqlMetaStore, dataset: DatasetRecord, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="custom", storage=storage, directions=["maximize", "minimize"])
    study.optimize(
        lambda t: (t.suggest_float("depth", 0, 1), t.suggest_float("lr", 1e-4, 1, log=True)), n_trials=3
    )
    trials, definition, _ = optuna_trials(storage, "custom", "r2,fit_cost")
    done = store_trials(
        sqlite_store, dataset, trials, family=None, new_space=("optuna-custom", definition),
        protocol="user", source="import-optuna",
    )  # fmt: skip
    assert (done.family, done.new_space, done.created) == ("optuna-custom", True, 3)
    [space] = [s for s in sqlite_store.list_search_spaces() if s.id == done.space_id]
    assert space.definition["distributions"]["lr"]["attributes"]["log"] is True
    assert space.definition["directions"] == ["maximize", "minimize"]
    stored = sqlite_store.list_evaluations(dataset_id=dataset.id)
    assert sorted(e.metrics["fit_cost"] for e in stored) == sorted(t.values[1] for t in study.trials)
    with pytest.raises(IntakeError, match="2 objective"):
        optuna_trials(storage, "custom", "r2")
    with pytest.raises(IntakeError, match="'custom'"):
        optuna_trials(storage, "nope", None)


def test_family_mismatch_and_ambiguity_are_clear_errors(
    sqlite_store: SqlMetaStore, dataset: DatasetRecord, data: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    knn_study(storage, data)
    trials, definition, _ = optuna_trials(storage, "knn-study", None)
    with pytest.raises(IntakeError, match=r"family 'svm'.*n_neighbors"):
        store_trials(
            sqlite_store, dataset, trials, family="svm", new_space=("n", definition), protocol="p", source="s"
        )
    forest = optuna.create_study(study_name="forest", storage=storage)
    forest.optimize(lambda t: t.suggest_int("min_samples_leaf", 1, 5) / 10, n_trials=2)
    trials, definition, _ = optuna_trials(storage, "forest", None)
    with pytest.raises(IntakeError, match="random_forest, extra_trees"):
        store_trials(
            sqlite_store, dataset, trials, family=None, new_space=("n", definition), protocol="p", source="s"
        )
    done = store_trials(
        sqlite_store, dataset, trials, family="extra_trees", new_space=("n", definition), protocol="p",
        source="s",
    )  # fmt: skip
    assert done.family == "extra_trees" and not done.new_space


def test_import_optuna_command(data: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """Through the real entry point (argv, output, exit code), in this process."""
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    knn_study(storage, data)
    monkeypatch.setenv("WARMSTART_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.delenv("WARMSTART_DATABASE_URL", raising=False)
    args = ["import", "optuna", "--storage", storage, "--study", "knn-study", "--dataset", str(data)]
    monkeypatch.setattr(sys, "argv", ["warmstart", *args, "--target", "y", "--json"])
    capsys.readouterr()
    main()
    [row] = json.loads(capsys.readouterr().out)["imports"]
    assert (row["family"], row["created"], row["ok"], row["failed"], row["skipped"]) == (
        "knn", 7, 6, 1, {"pruned": 1},
    )  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["warmstart", *args, "--target", "nope"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1 and "Unknown target column 'nope'" in capsys.readouterr().err


def test_an_mlflow_experiment_becomes_evaluations(
    sqlite_store: SqlMetaStore, dataset: DatasetRecord, tmp_path: Path, monkeypatch
) -> None:
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (mlflow-skinny) is not installed")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file://{tmp_path / 'mlruns'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("knn-runs")
    for k, weights, r2 in [(3, "uniform", 0.71), (9, "distance", 0.83)]:
        with mlflow.start_run():
            mlflow.log_params({"n_neighbors": k, "weights": weights})
            mlflow.log_metrics({"r2": r2, "rmse": 1 - r2})
            mlflow.set_tag("warmstart.dataset", str(dataset.id))
    mlflow.start_run()
    mlflow.log_param("n_neighbors", 50)
    mlflow.set_tag("warmstart.dataset", dataset.content_hash)  # by fingerprint works too
    mlflow.end_run(status="FAILED")
    with mlflow.start_run():
        mlflow.log_param("n_neighbors", 4)  # finished without a metric: nothing to learn from
    with mlflow.start_run():
        mlflow.log_params({"n_neighbors": 5})
        mlflow.log_metric("r2", 0.5)  # no dataset tag: skipped when no --dataset is given
    mlflow.set_tracking_uri("")

    trials, definition, skipped = mlflow_runs(uri, "knn-runs")
    assert dict(skipped) == {"finished without metrics": 1} and len(trials) == 4
    [(record, group)] = by_dataset(sqlite_store, trials, None, skipped)
    assert record.id == dataset.id and len(group) == 3 and skipped["no warmstart.dataset tag"] == 1
    done = store_trials(
        sqlite_store, dataset, group, family=None, new_space=("mlflow-knn-runs", definition),
        protocol="user", source="import-mlflow",
    )  # fmt: skip
    assert (done.family, done.created, done.ok, done.failed) == ("knn", 3, 2, 1)
    stored = {
        sqlite_store.get_configuration(e.configuration_id).values["n_neighbors"]: e
        for e in sqlite_store.list_evaluations(dataset_id=dataset.id)
    }
    assert stored[9].metrics == pytest.approx({"r2": 0.83, "rmse": 0.17})
    assert sqlite_store.get_configuration(stored[9].configuration_id).values["weights"] == "distance"
    assert stored[50].status == "failed" and stored[50].fit_time is not None
    with pytest.raises(IntakeError, match="knn-runs"):
        mlflow_runs(uri, "missing")
