"""Entropies, mutual information and the discretisation, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from learners.metafeatures import Limits, extract
from learners.metafeatures.info_theory import entropy_bits, equal_frequency_codes, numeric_codes
from learners.metafeatures.shared import SortedSample
from learners.metafeatures.table import build_table


def test_a_copy_of_the_target_carries_all_its_information():
    X = pd.DataFrame({"same": [0, 0, 1, 1, 2, 2, 3, 3], "noise": [0, 1, 0, 1, 0, 1, 0, 1]})
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    v = extract(X, y, {"same": "categorical", "noise": "categorical"}, groups=["info_theory"])
    v = v.values
    # same: H=2, joint with y = 2, MI = 1; noise: H=1, joint = 2, MI = 0
    assert v["attr_ent.max"] == pytest.approx(2.0) and v["attr_ent.min"] == pytest.approx(1.0)
    assert v["joint_ent.mean"] == pytest.approx(2.0)
    assert v["mut_inf.max"] == pytest.approx(1.0) and v["mut_inf.min"] == pytest.approx(0.0)
    assert v["eq_num_attr"] == pytest.approx(2 * 1.0 / 1.0)
    assert v["ns_ratio"] == pytest.approx((3.0 - 1.0) / 1.0)


def test_independent_columns_give_no_equivalent_number():
    X = pd.DataFrame({"noise": [0, 1, 0, 1]})
    result = extract(X, np.array([0, 0, 1, 1]), {"noise": "categorical"}, groups=["info_theory"])
    assert np.isnan(result.values["eq_num_attr"])
    assert "no column shares information" in result.failures["eq_num_attr"]


def test_discretisation_matches_pymfe_definition():
    rng = np.random.default_rng(0)
    x = np.round(rng.exponential(size=500), 1)
    bins = int(500 ** (1 / 3))
    cuts = np.quantile(x, np.linspace(0, 1, bins + 1)[1:])
    cuts = np.unique(cuts[np.append(True, np.diff(cuts) > 1e-8)])
    np.testing.assert_array_equal(equal_frequency_codes(x, bins), np.digitize(x, cuts, right=True))


def test_missing_values_are_a_level_of_their_own():
    codes = equal_frequency_codes(np.array([1.0, 2.0, np.nan, 3.0, 4.0]), 2)
    assert codes[2] == codes.max() and np.unique(codes).size == 3


def test_entropy_in_bits():
    assert entropy_bits(np.array([5, 5])) == pytest.approx(1.0)
    assert entropy_bits(np.array([1, 1, 1, 1, 0])) == pytest.approx(2.0)


def test_regression_discretises_the_target(diabetes):
    X, y = diabetes
    v = extract(X, y, task_type="regression", groups=["info_theory"]).values
    bins = int(len(y) ** (1 / 3))
    # equal-frequency bins: the target entropy is close to log2(bins), never above
    assert np.log2(bins) - 0.1 < v["target_ent"] <= np.log2(bins) + 1e-9
    assert 0 < v["mut_inf.mean"] < v["attr_ent.mean"]


def test_all_columns_are_discretised_at_once_as_one_by_one():
    rng = np.random.default_rng(1)
    values = np.column_stack([
        rng.normal(size=300),
        np.round(rng.exponential(size=300), 1),  # ties
        np.where(rng.random(300) < 0.2, np.nan, rng.normal(size=300)),  # missing values
        np.ones(300),  # constant
        np.full(300, np.nan),  # empty
    ])  # fmt: skip
    ordered = np.sort(values, axis=0)
    sample = SortedSample(values, ordered, np.count_nonzero(~np.isnan(ordered), axis=0), None)
    codes = numeric_codes(sample, 6)
    for j in range(values.shape[1]):
        np.testing.assert_array_equal(codes[:, j], equal_frequency_codes(values[:, j], 6))


@pytest.mark.parametrize("task_type", ["classification", "regression"])
def test_above_sort_rows_the_group_is_pymfes_value_on_the_sort_sample(task_type):
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(3000, 3)), columns=list("abc"))
    X.loc[rng.random(3000) < 0.05, "b"] = np.nan
    X["d"] = rng.choice(list("xyz"), 3000)
    y = X["a"].to_numpy() + rng.normal(size=3000)
    y = (y > 0).astype(int) if task_type == "classification" else y
    limits = Limits(sort_rows=500)
    sampled = extract(X, y, task_type=task_type, groups=["info_theory"], seed=7, limits=limits)
    rows = build_table(X, y, None, task_type, 7, limits).sample(500)
    on_sample = extract(X.iloc[rows], y[rows], task_type=task_type, groups=["info_theory"])
    assert sampled.sample_sizes["info_theory"] == rows.size == 500
    assert sampled.values == pytest.approx(on_sample.values, rel=1e-12)
    full = extract(X, y, task_type=task_type, groups=["info_theory"])
    assert sampled.values["attr_ent.mean"] != full.values["attr_ent.mean"]
