"""KnowledgeBase, normalisation, alignment, records, fit-time model and the regret helpers."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from learners.recommenders import KnowledgeBase, from_records
from learners.recommenders.base import (
    align,
    fit_time_model,
    normalise_rows,
    predict_fit_times,
    take_within_budget,
    time_group,
)
from learners.recommenders.evaluation import expected_best_of_k, regret_curve


def tiny_kb(scores: np.ndarray, higher: bool = True) -> KnowledgeBase:
    n, m = scores.shape
    return KnowledgeBase(
        "classification", [f"d{i}" for i in range(n)], [f"g{i}" for i in range(n)], ["a", "b"],
        np.arange(2 * n, dtype=float).reshape(n, 2), np.full(n, 100.0), np.full(n, 5.0),
        [f"c{j}" for j in range(m)], ["linear"] * m, [{} for _ in range(m)], scores,
        np.ones((n, m)), "accuracy", higher)


def test_normalised_is_min_max_per_dataset_with_failures_as_worst():
    s = np.array([[0.5, 0.7, 0.9], [0.2, np.nan, 0.2]])
    np.testing.assert_allclose(tiny_kb(s).normalised(), [[0.0, 0.5, 1.0], [1.0, 0.0, 1.0]])
    kept = tiny_kb(s).normalised(fill=None)
    assert math.isnan(kept[1, 1])


def test_normalised_flips_lower_is_better_metrics():
    np.testing.assert_allclose(normalise_rows(np.array([[1.0, 3.0, 2.0]]), False), [[1, 0, 0.5]])


def test_shapes_are_checked_with_the_field_named():
    with pytest.raises(ValueError, match="scores"):
        tiny_kb(np.zeros((2, 3))).__class__(
            "classification", ["a"], ["g"], ["x"], np.zeros((1, 1)), np.ones(1), np.ones(1),
            ["c"], ["linear"], [{}], np.zeros((1, 2)), np.zeros((1, 1)), "accuracy", True)


def test_subset_keeps_rows_aligned():
    kb = tiny_kb(np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]))
    sub = kb.subset([2, 0])
    assert sub.dataset_keys == ["d2", "d0"]
    np.testing.assert_allclose(sub.scores, [[0.5, 0.6], [0.1, 0.2]])
    np.testing.assert_allclose(sub.metafeatures, [[4, 5], [0, 1]])


def test_align_orders_by_name_and_fills_absent_and_non_finite_with_nan():
    out = align({"b": 2.0, "a": None, "z": 9.0, "c": float("inf")}, ["a", "b", "c"])
    assert math.isnan(out[0]) and out[1] == 2.0 and math.isnan(out[2])


def records() -> pd.DataFrame:
    rows = []
    for d, group in (("ds1", "g1"), ("ds2", "g2")):
        for j, status in enumerate(["ok", "ok", "failed"]):
            rows.append({"dataset": d, "origin_group": group, "task_type": "classification",
                         "family": "linear", "config_name": f"linear-{j}",
                         "config": json.dumps({"C": float(j + 1)}), "status": status,
                         "metric_accuracy": 0.5 + 0.1 * j + (0.05 if d == "ds2" else 0),
                         "fit_time_s": 0.1 * (j + 1), "n_rows": 100, "n_features": 4})
    return pd.DataFrame(rows)


def test_from_records_puts_failures_at_the_datasets_worst_score():
    mf = {"ds1": {"nr_inst": 100.0}, "ds2": {"nr_inst": 100.0, "nr_attr": 4.0}}
    kb = from_records(records(), mf, "classification", "accuracy")
    assert kb.dataset_keys == ["ds1", "ds2"] and kb.groups == ["g1", "g2"]
    assert kb.metafeature_names == ["nr_attr", "nr_inst"]
    np.testing.assert_allclose(kb.scores, [[0.5, 0.6, 0.5], [0.55, 0.65, 0.55]])
    assert kb.config_values[1] == {"C": 2.0}
    np.testing.assert_allclose(kb.fit_times[0], [0.1, 0.2, 0.3])


def test_from_records_names_the_missing_metric():
    with pytest.raises(ValueError, match="metric_r2"):
        from_records(records(), {"ds1": {}}, "classification", "r2")


def time_kb(truth: np.ndarray, rows: np.ndarray, cols: np.ndarray,
            classes: np.ndarray | None = None) -> KnowledgeBase:
    n, m = truth.shape
    names, mf = ([], np.zeros((n, 0))) if classes is None else (["nr_class"], classes[:, None])
    return KnowledgeBase("classification", [str(i) for i in range(n)], [str(i) for i in range(n)],
                         names, mf, rows, cols, [f"c{j}" for j in range(m)], ["linear"] * m,
                         [{}] * m, np.zeros((n, m)), truth, "accuracy", True)


def test_fit_time_model_recovers_a_log_linear_law():
    rng = np.random.default_rng(0)
    n = 60
    rows, cols = np.exp(rng.uniform(3, 9, n)), np.exp(rng.uniform(0, 4, n))
    offsets = np.array([-3.0, -2.0, -1.0, 0.0])
    truth = np.exp(offsets[None, :] + 0.5 * np.log1p(rows)[:, None])
    off, slopes, spread, _ = fit_time_model(time_kb(truth, rows, cols), ridge=1e-6)
    pred = predict_fit_times(off, slopes, 5000.0, 10.0)
    want = np.exp(offsets + 0.5 * np.log1p(5000.0))
    np.testing.assert_allclose(pred, want, rtol=0.05)
    assert spread.max() < 0.05  # an exact law leaves (almost) no residual
    # a model saved with the four size features of earlier versions still predicts the same
    np.testing.assert_allclose(predict_fit_times(off, slopes[:, :4], 5000.0, 10.0), pred)


def test_fit_time_model_scales_with_the_classes_and_measures_each_configurations_spread():
    rng = np.random.default_rng(1)
    n = 80
    rows, cols = np.exp(rng.uniform(3, 9, n)), np.exp(rng.uniform(0, 4, n))
    classes = rng.integers(2, 30, n).astype(float)
    law = 0.5 * np.log1p(rows)[:, None] + np.log(classes)[:, None]  # one model per class
    noise = np.stack([np.zeros(n), rng.normal(0.0, 1.0, n)], axis=1)  # the second is erratic
    truth = np.exp(np.array([-3.0, -2.0])[None, :] + law + noise)
    off, slopes, spread, _ = fit_time_model(time_kb(truth, rows, cols, classes), ridge=1e-6)
    ten, twenty = (predict_fit_times(off, slopes, 5000.0, 10.0, n_classes=c)[0] for c in (10, 20))
    assert twenty / ten == pytest.approx(2.0, rel=0.1)
    assert spread[1] > 3 * spread[0]


def test_the_relative_spread_leaves_out_what_a_dataset_does_to_every_configuration():
    """A dataset (or the machine when it was measured) slow for every configuration widens the
    spread in seconds, not the spread within a dataset that a cap relative to the defaults needs."""
    rng = np.random.default_rng(2)
    n = 80
    rows, cols = np.exp(rng.uniform(3, 9, n)), np.exp(rng.uniform(0, 4, n))
    shared = rng.normal(0.0, 1.0, n)[:, None]  # each dataset's own speed, for all configurations
    own = rng.normal(0.0, 0.1, (n, 3))
    truth = np.exp(np.array([-3.0, -2.0, -1.0])[None, :] + 0.5 * np.log1p(rows)[:, None] + shared + own)
    _, _, spread, relative = fit_time_model(time_kb(truth, rows, cols), ridge=1e-6)
    assert (spread > 0.7).all() and (relative < 0.2).all()


def test_take_within_budget_skips_what_does_not_fit():
    times = np.array([5.0, 1.0, 3.0, 1.0])
    allowed = np.array([True, True, True, False])
    assert take_within_budget([0, 1, 2, 3], allowed, 3, times, 4.5) == [1, 2]
    assert take_within_budget([3, 0, 1], allowed, 2, times, None) == [0, 1]


def test_expected_best_of_k_matches_enumeration():
    row = np.array([0.1, 0.9, 0.4, 0.4, 0.0, 0.7])
    for k in (1, 2, 3, 6):
        brute = np.mean([max(c) for c in itertools.combinations(row, k)])
        assert expected_best_of_k(row, k) == pytest.approx(brute)
    assert expected_best_of_k(row, 1) == pytest.approx(row.mean())


def test_regret_curve_is_flat_after_the_list_ends():
    assert regret_curve([0.2, 0.9, 0.5], [1, 2, 3, 10]) == pytest.approx([0.8, 0.1, 0.1, 0.1])


def test_class_weighted_twins_get_their_own_size_slopes():
    """A balanced twin whose fit grows faster with the features than its unweighted twin (as
    HistGradientBoosting's weighted binning does) is predicted so: the two do not share a slope."""
    rng = np.random.default_rng(3)
    n = 80
    rows, cols = np.exp(rng.uniform(3, 8, n)), np.exp(rng.uniform(0, 5, n))
    f = np.log1p(cols)[:, None]
    truth = np.exp(np.array([-3.0, -3.0])[None, :] + np.array([0.2, 1.0])[None, :] * f)
    kb = KnowledgeBase("classification", [str(i) for i in range(n)], [str(i) for i in range(n)], [],
                       np.zeros((n, 0)), rows, cols, ["c0", "c1"], ["hist_gb", "hist_gb"],
                       [{"class_weight": "none"}, {"class_weight": "balanced"}], np.zeros((n, 2)),
                       truth, "accuracy", True)
    assert time_group("hist_gb", {"class_weight": "balanced"}) == "hist_gb+balanced"
    assert time_group("hist_gb", {"class_weight": "none"}) == "hist_gb"
    assert time_group("hist_gb", {}) == "hist_gb"
    off, slopes, spread, _ = fit_time_model(kb, ridge=1e-6)
    narrow, wide = (predict_fit_times(off, slopes, 1000.0, c) for c in (5.0, 100.0))
    ratio = wide / narrow
    assert ratio[0] == pytest.approx((101 / 6) ** 0.2, rel=0.05)
    assert ratio[1] == pytest.approx(101 / 6, rel=0.05)
    assert spread.max() < 0.05
