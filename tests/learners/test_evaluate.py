"""The harness: every family runs on mixed data, failures and time-outs are recorded, determinism."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from learners.evaluate import (
    Cell,
    Protocol,
    classification_metrics,
    evaluate,
    evaluate_many,
    make_splits,
    regression_metrics,
)
from learners.isolation import WALL_BACKSTOP, run_forked_many
from learners.pools import pool
from learners.spaces import FAMILIES, InvalidConfigurationError
from tests.learners.tables import mixed_table

FAST = Protocol(name="test", kfold_max_rows=0, time_limit_s=30.0)


def _cells(family: str, task_type: str) -> list[Cell]:
    items = pool(family, task_type)
    return [Cell(family, c.values, c.name) for c in (items[0], items[1], items[2])]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("task_type", "n_classes"), [("classification", 2), ("classification", 3), ("regression", 0)]
)
def test_default_and_pool_configs_run_on_mixed_data(family, task_type, n_classes):
    X, y, types = mixed_table(task_type, max(n_classes, 2))
    results = evaluate_many(X, y, types, task_type, _cells(family, task_type), FAST)
    assert [r.status for r in results] == ["ok"] * 3, [r.error for r in results]
    for r in results:
        assert (r.n_train, r.n_test, r.n_fits) == (80, 40, 1)
        assert r.fit_time_s > 0 and r.predict_time_s > 0
        if task_type == "classification":
            assert 0 <= r.metrics["accuracy"] <= 1
            assert 0 <= r.metrics["roc_auc"] <= 1
            has_proba = family != "svm"
            assert math.isfinite(r.metrics["log_loss"]) == has_proba
        else:
            assert r.metrics["rmse"] >= r.metrics["mae"] * 0.99 > 0
    default = results[0]
    # the signal is learnable: each family's default beats chance / the mean predictor
    if task_type == "classification":
        assert default.metrics["roc_auc"] > 0.6, default.metrics
    else:
        assert default.metrics["r2"] > 0.2, default.metrics


def test_results_are_deterministic_for_a_seed():
    X, y, types = mixed_table("classification", 3)
    config = pool("lightgbm", "classification")[5].values
    first = evaluate(X, y, types, "classification", "lightgbm", config, FAST)
    again = evaluate(X, y, types, "classification", "lightgbm", config, FAST)
    other = evaluate(
        X, y, types, "classification", "lightgbm", config, Protocol(name="test", kfold_max_rows=0, seeds=(1,))
    )
    assert first.metrics == again.metrics
    assert first.metrics != other.metrics


def test_kfold_fits_every_fold_and_averages():
    X, y, types = mixed_table("regression")
    protocol = Protocol(name="cv", kind="kfold", n_splits=4, seeds=(0, 1))
    r = evaluate(X, y, types, "regression", "linear", {"alpha": 0.01, "l1_ratio": 0.5}, protocol)
    assert r.status == "ok"
    assert (r.n_fits, r.n_train, r.n_test) == (8, 90, 30)


def test_small_data_switches_a_holdout_to_kfold():
    y = np.arange(300) % 2
    small = make_splits(y, "classification", Protocol(kfold_max_rows=300, n_splits=3))
    large = make_splits(y, "classification", Protocol(kfold_max_rows=299, n_splits=3))
    assert [len(te) for _, _, te in small] == [100, 100, 100]
    assert sorted(np.concatenate([te for _, _, te in small]).tolist()) == list(range(300))
    assert [(len(tr), len(te)) for _, tr, te in large] == [(200, 100)]


def test_time_out_is_recorded_and_the_next_cell_still_runs():
    X, y, types = mixed_table("classification", 2, n=3000)
    slow = {"n_layers": 2, "n_units": 256, "activation": "tanh", "alpha": 1e-4, "learning_rate_init": 1e-4}
    fast = {"C": 1.0, "penalty": "l2", "class_weight": "none"}
    cells = [Cell("mlp", slow, "slow"), Cell("linear", fast, "fast")]
    start = time.perf_counter()
    results = evaluate_many(X, y, types, "classification", cells, Protocol(name="t", time_limit_s=1.0))
    assert time.perf_counter() - start < 10
    assert results[0].status == "timeout"
    assert "time limit of 1 s" in results[0].error
    assert math.isnan(results[0].metrics.get("accuracy", math.nan))
    assert results[1].status == "ok"


def test_a_failing_fit_records_its_error():
    X, y, types = mixed_table("classification")
    wrong_types = {**types, "cat_str": "numeric"}  # strings cannot be median-imputed
    r = evaluate(
        X, y, wrong_types, "classification", "knn", {"n_neighbors": 5, "weights": "uniform", "p": 2}, FAST
    )
    assert r.status == "failed"
    assert r.error.startswith("ValueError: Cannot use median strategy")
    assert "'red'" in r.error
    assert r.metrics == {}


def test_invalid_configuration_is_the_callers_error():
    X, y, types = mixed_table("regression")
    with pytest.raises(InvalidConfigurationError):
        evaluate(X, y, types, "regression", "knn", {"n_neighbors": 0}, FAST)


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_forked_runner_skips_the_rest_of_a_failed_group():
    def boom():
        raise RuntimeError("bad config 7")

    start = time.perf_counter()
    outcomes = run_forked_many(
        [boom, lambda: 1, lambda: 2, lambda: _spin(5), lambda: 3], ["a", "a", "b", "c", "d"], time_limit_s=0.5
    )
    assert time.perf_counter() - start < 4
    assert outcomes[0][0] == "failed" and "bad config 7" in outcomes[0][1]
    assert outcomes[1] == ("skipped", None)
    assert outcomes[2] == ("ok", 2)
    assert outcomes[3] == ("timeout", None)
    assert outcomes[4] == ("ok", 3)


def test_limit_is_cpu_time_with_a_wall_clock_backstop():
    start = time.perf_counter()
    limit = 0.05
    outcomes = run_forked_many([lambda: time.sleep(0.5), lambda: time.sleep(60)], [0, 1], time_limit_s=limit)
    elapsed = time.perf_counter() - start
    assert outcomes == [("ok", None), ("timeout", None)]  # sleeping costs no CPU time...
    assert 0.5 + WALL_BACKSTOP * limit <= elapsed < 5  # ...until the backstop ends it


def test_splits_cap_rows_stratify_and_keep_singletons_in_training():
    y = np.array([0] * 600 + [1] * 300 + [2])
    splits = make_splits(
        y, "classification", Protocol(kfold_max_rows=0, max_train_rows=300, max_test_rows=90)
    )
    ((seed, train, test),) = splits
    assert (seed, len(train), len(test)) == (0, 300, 90)
    assert 900 in train and 900 not in test
    assert abs(np.mean(y[test] == 1) - 1 / 3) < 0.02
    assert not set(train) & set(test)


def test_classification_metrics_known_values():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.35, 0.65], [0.2, 0.8]])
    m = classification_metrics(y, proba.argmax(1), proba, True, 2)
    assert m["accuracy"] == 0.75
    assert m["roc_auc"] == 1.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.65, 0.8])))


def test_multiclass_auc_averages_present_classes_and_ignores_unseen():
    y = np.array([0, 1, 2, 0, 1, 2])
    seen = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6], [0.5, 0.5]])
    scores = np.column_stack([seen, np.full(6, np.nan)])  # class 2 never seen in training
    m = classification_metrics(y, seen.argmax(1), scores, False, 3)
    expected = np.mean([roc_auc_score(y == k, seen[:, k]) for k in (0, 1)])
    assert m["roc_auc"] == pytest.approx(expected)
    assert 0.5 < m["roc_auc"] < 1
    assert math.isnan(m["log_loss"])


def test_regression_metrics_known_values():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_protocol_round_trips_through_json():
    p = Protocol(name="x", version=3, kind="kfold", seeds=(1, 2))
    assert Protocol.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError, match="folds"):
        Protocol.from_dict({"folds": 3})


def test_default_protocol_is_the_knowledge_base_protocol():
    p = Protocol()
    assert p.id == "kb-v1"
    assert (p.kind, p.kfold_max_rows, p.n_splits, p.max_train_rows, p.time_limit_s) == (
        "holdout",
        500,
        3,
        1000,
        10.0,
    )


def test_peak_memory_is_per_fit_in_a_reused_worker():
    X, y, types = mixed_table("regression", n=3000)
    knn = Cell("knn", {"n_neighbors": 5, "weights": "uniform", "p": 2})
    forest = Cell(
        "random_forest",
        {"max_features_exponent": 1.0, "min_samples_split": 2, "min_samples_leaf": 1, "bootstrap": False},
    )
    r = evaluate_many(X, y, types, "regression", [knn, forest, knn], Protocol(name="t", kfold_max_rows=0))
    assert [x.status for x in r] == ["ok"] * 3
    # 100 unpruned trees on 2,000 rows hold ~4,000 nodes each; k-NN stores the 2,000 rows
    assert r[1].peak_memory_mb > 5
    # the first cell is not charged for library start-up, the third not helped by reuse
    assert r[0].peak_memory_mb < 3 and r[2].peak_memory_mb < 3
