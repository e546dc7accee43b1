"""Column typing and the seeded, stratified, nested row samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from learners.metafeatures.table import Limits, build_table


def _table(y: np.ndarray, seed: int = 0, task_type: str = "classification"):
    X = pd.DataFrame({"a": np.arange(y.size, dtype=float)})
    return build_table(X, y, None, task_type, seed, Limits())


def test_stratified_sample_keeps_class_shares_and_every_class():
    y = np.array([0] * 7000 + [1] * 2990 + [2] * 10)
    rows = _table(y).sample(1000)
    assert rows.size == 1000 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(np.bincount(y[rows]), [700, 299, 1])


def test_samples_are_nested_and_seeded():
    y = np.arange(5000) % 3
    table = _table(y, seed=5)
    small, large = table.sample(100), table.sample(1000)
    assert np.isin(small, large).all()
    np.testing.assert_array_equal(large, _table(y, seed=5).sample(1000))
    assert not np.array_equal(large, _table(y, seed=6).sample(1000))
    assert table.sample(5000) is None


def test_more_classes_than_rows_keeps_one_row_per_class():
    y = np.repeat(np.arange(300), 4)
    rows = _table(y).sample(100)
    assert rows.size == 300 and np.unique(y[rows]).size == 300


def test_regression_sample_is_uniform():
    y = np.linspace(0, 1, 10_000)
    rows = _table(y, task_type="regression").sample(2000)
    assert rows.size == 2000 and abs(y[rows].mean() - 0.5) < 0.03


def test_column_kinds_from_types_and_dtypes():
    X = pd.DataFrame({"n": [1.0, 2.0], "s": ["a", "b"], "b": [True, False], "i": [1, 2],
                      "k": [3, 3], "c": pd.Categorical(["x", "y"])})  # fmt: skip
    table = build_table(X, np.array([0, 1]), {"i": "id", "k": "constant"}, "classification", 0,
                        Limits())  # fmt: skip
    assert table.numeric == ("n", "k") and table.categorical == ("s", "b", "c")


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="landmark_rows <= sample_rows"):
        Limits(sample_rows=100, landmark_rows=1000)


def test_design_matrix_imputes_encodes_and_drops_constants():
    X = pd.DataFrame({
        "x": [1.0, np.nan, 3.0, 5.0],
        "const": [2.0] * 4,
        "c": ["a", "b", None, "a"],
        "many": list("pqrs"),
    })  # fmt: skip
    limits = Limits(max_onehot_levels=2)
    table = build_table(X, np.array([0, 1, 0, 1]), None, "classification", 0, limits)
    design = table.design_matrix(None)
    expected = np.array([
        [1.0, 1, 0, 1, 0],
        [3.0, 0, 1, 0, 1],  # the mean of x fills the hole
        [3.0, 0, 0, 0, 0],  # missing level: all zeros; "r" is beyond the top 2 levels
        [5.0, 1, 0, 0, 0],
    ])  # fmt: skip
    np.testing.assert_array_equal(design, expected)


@pytest.mark.parametrize("task_type", ["classification", "regression"])
def test_rows_used_counts_the_sample_without_drawing_it(task_type):
    y = np.repeat(np.arange(300), 4) if task_type == "classification" else np.linspace(0, 1, 1200)
    for size in (50, 100, 700, 1200, 5000):
        table = _table(y, task_type=task_type)
        counted = table.rows_used(size)
        drawn = table.sample(size)
        assert counted == (y.size if drawn is None else drawn.size)


def test_sort_rows_is_bounded_by_sample_rows():
    assert Limits().order_rows == 10_000
    assert Limits(sample_rows=600, landmark_rows=200).order_rows == 600
    with pytest.raises(ValueError, match="sort_rows"):
        Limits(sort_rows=5)
