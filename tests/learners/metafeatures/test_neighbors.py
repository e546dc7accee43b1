"""Distances between stored meta-feature vectors: robust scaling, missing values, group weights."""

from __future__ import annotations

import numpy as np
import pytest

from learners.metafeatures import EXTRACTOR_VERSION, compatible, distances, fit_scaling, nearest
from learners.metafeatures.neighbors import feature_weights

STORED = [
    {"nr_inst": 100.0, "cor.mean": 0.1, "landmark.one_nn": 0.9},
    {"nr_inst": 1000.0, "cor.mean": 0.5, "landmark.one_nn": 0.7},
    {"nr_inst": 10000.0, "cor.mean": 0.9, "landmark.one_nn": 0.5},
    {"nr_inst": 200.0, "cor.mean": 0.2, "landmark.one_nn": 0.85},
]


def test_a_stored_copy_of_the_query_is_at_distance_zero_and_nearest():
    result = distances(STORED, STORED[1])
    assert result[1] == 0.0
    assert nearest(STORED, STORED[1], k=2)[0] == (1, 0.0)


def test_distance_grows_with_dissimilarity():
    result = distances(STORED, {"nr_inst": 150.0, "cor.mean": 0.15, "landmark.one_nn": 0.88})
    assert np.argsort(result).tolist() == [0, 3, 1, 2]


def test_missing_values_are_skipped_and_too_little_overlap_is_inf():
    stored = [*STORED, {"nr_inst": 100.0}, {"other": 1.0}]
    result = distances(stored, STORED[0])
    # row 4 shares the general group only (1/3 of the weight): too little by default
    assert result[4] == np.inf and result[5] == np.inf
    relaxed = distances(stored, STORED[0], min_overlap=0.0)
    assert relaxed[4] == 0.0  # equal on what it shares
    assert relaxed[5] == np.inf  # shares nothing


def test_each_group_weighs_the_same_whatever_its_size():
    names = ["nr_inst", "log_nr_inst", "nr_attr", "landmark.one_nn"]
    weights = feature_weights(names)
    np.testing.assert_allclose(weights, [1 / 3, 1 / 3, 1 / 3, 1.0])
    np.testing.assert_allclose(feature_weights(names, {"landmarking": 2.0})[-1], 2.0)


def test_scaling_is_robust_to_an_outlier():
    matrix = np.array([[1.0], [2.0], [3.0], [4.0], [1e9]])
    scaling = fit_scaling(matrix, ["x"])
    assert scaling.centre[0] == 3.0 and scaling.scale[0] == 2.0
    assert scaling.transform(np.array([[1e9]]))[0, 0] == 5.0  # clipped


def test_constant_feature_does_not_divide_by_zero():
    stored = [{"a": 1.0, "b": 0.0}, {"a": 1.0, "b": 1.0}]
    result = distances(stored, {"a": 2.0, "b": 0.0})
    assert np.all(np.isfinite(result))


def test_versions_of_another_major_are_not_comparable():
    major = EXTRACTOR_VERSION.split(".")[0]
    assert compatible(f"{major}.7") and not compatible(f"{int(major) + 1}.0")
    assert not compatible(None)
    result = distances(STORED, STORED[0], versions=[EXTRACTOR_VERSION, "0.1", None, "0.9"])
    assert result[0] == 0.0 and np.isinf(result[1:]).all()


def test_query_without_values_is_refused():
    with pytest.raises(ValueError, match="no finite value"):
        distances(STORED, {"nr_inst": float("nan")})
