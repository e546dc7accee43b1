"""Golden values of the general group, computed here from the formulas, on bundled datasets."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from learners.metafeatures import extract, feature_names
from learners.metafeatures.general import AUTOSKLEARN_NAMES, CLASS_ONLY
from tests.learners.metafeatures.conftest import load, mixed_frame


def test_autosklearn_set_is_complete_for_both_tasks():
    classification = set(feature_names("classification", ["general"]))
    regression = set(feature_names("regression", ["general"]))
    assert len(AUTOSKLEARN_NAMES) == 37
    assert set(AUTOSKLEARN_NAMES) <= classification
    assert set(AUTOSKLEARN_NAMES) - CLASS_ONLY <= regression
    assert len(set(AUTOSKLEARN_NAMES) - CLASS_ONLY) == 31
    assert not CLASS_ONLY & regression


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_sizes_classes_and_moments_match_the_formulas(name):
    X, y = load(name)
    v = extract(X, y, groups=["general"]).values
    n, p = X.shape
    _, counts = np.unique(y, return_counts=True)
    prob = counts / n
    assert v["nr_inst"] == n and v["nr_attr"] == p and v["nr_num"] == p and v["nr_cat"] == 0
    assert v["log_nr_inst"] == pytest.approx(math.log(n))
    assert v["dataset_ratio"] == pytest.approx(p / n)
    assert v["log_inv_dataset_ratio"] == pytest.approx(math.log(n / p))
    assert v["nr_class"] == counts.size
    assert v["class_prob.min"] == pytest.approx(prob.min())
    assert v["class_prob.std"] == pytest.approx(prob.std())
    assert v["class_ent"] == pytest.approx(-(prob * np.log2(prob)).sum())
    skew = stats.skew(X.to_numpy(), axis=0)
    kurt = stats.kurtosis(X.to_numpy(), axis=0)
    assert v["skewness.max"] == pytest.approx(skew.max(), rel=1e-9)
    assert v["skewness.std"] == pytest.approx(skew.std(), rel=1e-9)
    assert v["kurtosis.mean"] == pytest.approx(kurt.mean(), rel=1e-9)
    assert v["kurtosis.min"] == pytest.approx(kurt.min(), rel=1e-9)
    assert v["nr_missing"] == 0 and v["symbols.sum"] == 0


def test_literal_values_on_iris_and_wine(iris, wine):
    assert extract(*iris, groups=["general"]).values["class_ent"] == pytest.approx(math.log2(3))
    w = extract(*wine, groups=["general"]).values
    assert w["class_prob.max"] == pytest.approx(71 / 178)
    assert w["class_prob.min"] == pytest.approx(48 / 178)
    assert w["inv_dataset_ratio"] == pytest.approx(178 / 13)


def test_missing_values_symbols_and_kinds_on_a_mixed_frame():
    X, y, types = mixed_frame()
    v = extract(X, y, types, groups=["general"]).values
    used = X.drop(columns="row_id")
    missing = used.isna()
    assert v["nr_attr"] == 6  # the id column is ignored
    assert v["nr_num"] == 3 and v["nr_cat"] == 3  # a, b, same | colour, level, flag
    assert v["nr_missing"] == missing.to_numpy().sum()
    assert v["nr_inst_with_missing"] == missing.any(axis=1).sum()
    assert v["pct_inst_with_missing"] == pytest.approx(missing.any(axis=1).mean())
    assert v["nr_attr_with_missing"] == 2
    assert v["pct_missing"] == pytest.approx(missing.to_numpy().mean())
    symbols = np.array([3, 5, 2])  # colour, level, flag
    assert v["symbols.sum"] == symbols.sum()
    assert v["symbols.std"] == pytest.approx(symbols.std())
    assert v["nr_bin"] == 1


def test_regression_target_moments_on_diabetes(diabetes):
    X, y = diabetes
    result = extract(X, y, task_type="regression", groups=["general"])
    v = result.values
    assert "class_ent" not in v and "nr_class" not in v
    assert v["target.mean"] == pytest.approx(y.mean())
    assert v["target.std"] == pytest.approx(y.std())
    assert v["target.skewness"] == pytest.approx(stats.skew(y))
    assert v["target.kurtosis"] == pytest.approx(stats.kurtosis(y))
    assert v["target.nr_unique_ratio"] == pytest.approx(np.unique(y).size / y.size)


def test_constant_and_all_missing_columns_have_no_shape_but_do_not_fail():
    X = pd.DataFrame({"c": np.ones(30), "empty": np.full(30, np.nan), "x": np.arange(30.0)})
    y = np.arange(30) % 2
    result = extract(X, y, groups=["general"])
    assert result.values["skewness.mean"] == pytest.approx(0.0, abs=1e-12)  # only x counts
    assert result.values["nr_attr_with_missing"] == 1
    assert result.values["pct_missing"] == pytest.approx(1 / 3)
    assert not result.failures


def test_binary_columns_are_counted_whatever_their_two_values():
    rng = np.random.default_rng(0)
    two = rng.integers(0, 2, 200).astype(float)
    X = pd.DataFrame({
        "zero_one": two,
        "far_apart": np.where(two > 0, 7.5, -3.0),
        "with_missing": np.where(rng.random(200) < 0.1, np.nan, two),
        "with_inf": np.where(two > 0, np.inf, 1.0),  # one finite value (and inf): not binary
        "three": rng.integers(0, 3, 200).astype(float),
        "almost_two": np.where(two > 0, 1.0, 0.0) + np.where(np.arange(200) == 0, 0.5, 0.0),
        "constant": np.ones(200),
    })  # fmt: skip
    v = extract(X, np.arange(200) % 2, groups=["general"]).values
    assert v["nr_bin"] == 3  # zero_one, far_apart, with_missing
