"""extract(): failures stay local, results are deterministic, and awkward datasets do not break it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from learners.metafeatures import EXTRACTOR_VERSION, GROUPS, Limits, extract, feature_names
from learners.metafeatures.registry import REGISTRY
from tests.learners.metafeatures.conftest import mixed_frame


def _boom(*args):
    raise RuntimeError("deliberate")


def test_a_failing_feature_is_missing_with_its_reason(monkeypatch, iris):
    feature = REGISTRY.features["cor.mean"]
    monkeypatch.setitem(REGISTRY.features, "cor.mean", dataclasses.replace(feature, func=_boom))
    result = extract(*iris)
    assert math.isnan(result.values["cor.mean"])
    assert result.failures == {"cor.mean": "RuntimeError: deliberate"}
    assert result.values["cor.max"] > 0.9


def test_a_failing_helper_fails_only_its_dependants(monkeypatch, iris):
    helper = REGISTRY.helpers["entropies"]
    monkeypatch.setitem(REGISTRY.helpers, "entropies", dataclasses.replace(helper, func=_boom))
    result = extract(*iris)
    broken = set(feature_names("classification", ["info_theory"]))
    assert set(result.failures) == broken
    assert all("helper 'entropies' failed: RuntimeError" in r for r in result.failures.values())
    assert result.values["class_ent"] == pytest.approx(math.log2(3))  # general's own


def test_vector_carries_version_times_and_every_name(wine):
    result = extract(*wine)
    names = feature_names("classification")
    assert list(result.values) == names and set(result.times) == set(names)
    assert result.version == EXTRACTOR_VERSION and result.task_type == "classification"
    assert result.sample_size is None and result.sample_sizes == dict.fromkeys(GROUPS, 178)
    assert all(t >= 0 for t in result.times.values()) and result.total_time > 0
    np.testing.assert_array_equal(result.vector(["nr_inst", "nope"]), [178, np.nan])


def test_same_seed_same_values_on_a_sampled_table():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(1500, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(size=1500) > 0).astype(int).to_numpy()
    limits = Limits(sample_rows=600, landmark_rows=200)
    first = extract(X, y, seed=3, limits=limits)
    assert first.values == extract(X, y, seed=3, limits=limits).values
    other = extract(X, y, seed=4, limits=limits)
    assert other.values["cor.mean"] != first.values["cor.mean"]
    assert first.sample_sizes == {"general": 1500, "statistical": 600, "info_theory": 600, "landmarking": 200}


def test_mixed_types_missing_values_constant_and_id_columns():
    X, y, types = mixed_frame()
    result = extract(X, y, types)
    assert result.failures == {}
    assert result.values["nr_attr"] == 6


def test_single_feature():
    X = pd.DataFrame({"x": np.concatenate([np.linspace(0, 0.4, 20), np.linspace(0.6, 1, 20)])})
    result = extract(X, (X["x"] > 0.5).astype(int))
    assert result.values["landmark.best_node"] == pytest.approx(1.0)
    assert set(result.failures) == {"cor.min", "cor.max", "cor.mean", "cor.std", "cov.min",
                                    "cov.max", "cov.mean", "cov.std", "nr_cor_attr"}  # fmt: skip
    assert "pairs need 2" in result.failures["cor.mean"]


def test_target_with_many_classes():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(150), 3)[:400]
    X = pd.DataFrame({"a": y + rng.normal(scale=0.1, size=400), "b": 2 * y + rng.normal(size=400)})
    result = extract(X, y)
    assert result.values["nr_class"] == 134
    assert result.values["class_ent"] == pytest.approx(np.log2(134), abs=0.01)
    assert result.values["landmark.one_nn"] > 0.5  # the nearest row is of the same class, mostly
    assert not result.failures


def test_ten_rows():
    X = pd.DataFrame({"a": np.arange(10.0), "b": [1, 0] * 5, "c": list("xyxyxyxyzz")})
    result = extract(X, np.array([0, 1] * 5))
    assert result.values["nr_inst"] == 10
    assert result.values["landmark.naive_bayes"] >= 0
    assert not result.failures


def test_a_class_seen_once_is_kept_in_the_sample():
    y = np.array([0] * 995 + [1] * 4 + [2])
    X = pd.DataFrame({"a": np.arange(1000.0)})
    result = extract(X, y, limits=Limits(sample_rows=100, landmark_rows=50))
    assert result.values["nr_class"] == 3 and result.sample_size == 50


def test_rows_without_target_are_left_out():
    X = pd.DataFrame({"a": np.arange(6.0)})
    y = pd.Series([0, 1, None, 1, 0, 1])
    assert extract(X, y, groups=["general"]).values["nr_inst"] == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_type": "ranking"}, "task_type='ranking'"),
        ({"groups": ["general", "model_based"]}, "['model_based'] are unknown"),
        ({"column_types": {"zz": "numeric"}}, "not in X: ['zz']"),
        ({"column_types": {"a": "text"}}, "'text': use one of"),
    ],
)
def test_invalid_arguments_say_what_to_do(kwargs, message):
    X = pd.DataFrame({"a": np.arange(5.0)})
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        extract(X, np.array([0, 1, 0, 1, 0]), **kwargs)


def test_regression_vector_names(diabetes):
    result = extract(*diabetes, task_type="regression")
    assert list(result.values) == feature_names("regression")
    assert not result.failures


def test_record_round_trips_through_json(iris):
    import json

    result = extract(pd.DataFrame({"x": np.ones(150)}), iris[1], groups=["statistical"])
    record = json.loads(json.dumps(result.to_dict()))
    assert record["values"]["cor.mean"] is None  # NaN is stored as null
    back = type(result).from_dict(record)
    assert back.failures == result.failures and back.version == EXTRACTOR_VERSION
    assert back.values.keys() == result.values.keys()
    assert math.isnan(back.values["cor.mean"]) and back.values["zero_frac"] == 0.0


def test_csv_and_nullable_dtypes_give_the_same_vector():
    import io

    csv = "a,b,c,d\n1,x,1.5,true\n2,y,,false\n,x,2.5,true\n4,,3.5,\n5,y,1.0,false\n6,x,0.5,true\n"
    plain = pd.read_csv(io.StringIO(csv))
    y = np.array([0, 1, 0, 1, 0, 1])
    first = extract(plain, y, groups=["general", "statistical"])
    second = extract(plain.convert_dtypes(), y, groups=["general", "statistical"])
    assert first.values["nr_cat"] == 2 and first.values["nr_missing"] == 4
    assert first.values["symbols.sum"] == 4 and not first.failures
    np.testing.assert_allclose(
        second.vector(list(first.values)), first.vector(list(first.values)), equal_nan=True
    )


def test_text_target_for_regression_is_refused_with_advice():
    with pytest.raises(ValueError, match="use task_type='classification'"):
        extract(pd.DataFrame({"a": [1.0, 2.0, 3.0]}), np.array(["x", "y", "z"]), None, "regression")


def test_no_usable_column_leaves_only_sizes_and_targets():
    X = pd.DataFrame({"id": range(20)})
    result = extract(X, np.arange(20) % 2, {"id": "id"})
    assert result.values["nr_attr"] == 0 and result.values["class_ent"] == 1.0
    assert all(reason.startswith("not applicable") for reason in result.failures.values())
    assert math.isnan(result.values["landmark.one_nn"])
