"""Search spaces: ranges hold the library defaults, pipelines run on mixed data, pools are stable."""

from __future__ import annotations

import json

import pytest
from ConfigSpace import ConfigurationSpace

from learners.pools import POOL_SIZE, is_twin, pool, sobol_configs
from learners.spaces import (
    FAMILIES,
    TASK_TYPES,
    InvalidConfigurationError,
    UnknownFamilyError,
    get_space,
)
from learners.spaces.families import CLASS_WEIGHT_FAMILIES, CLASS_WEIGHT_VERSION
from tests.learners.tables import mixed_table

ALL = [(f, t) for f in FAMILIES for t in TASK_TYPES]


def test_nine_families_are_defined():
    assert set(FAMILIES) == {
        "lightgbm",
        "xgboost",
        "hist_gb",
        "random_forest",
        "extra_trees",
        "linear",
        "svm",
        "knn",
        "mlp",
    }


@pytest.mark.parametrize(("family", "task_type"), ALL)
def test_default_is_valid_and_json_round_trips(family, task_type):
    space = get_space(family, task_type)
    default = space.default()
    assert space.validate(default) == default
    definition = json.loads(json.dumps(space.to_json()))
    assert definition["default"] == default
    assert definition["version"] == space.version
    restored = ConfigurationSpace.from_serialized_dict(definition["configspace"])
    assert set(restored.keys()) == set(space.configspace.keys())


@pytest.mark.parametrize(
    ("family", "task_type", "expected"),
    [
        (
            "lightgbm",
            "classification",
            {"n_estimators": 100, "num_leaves": 31, "learning_rate": 0.1, "min_child_samples": 20},
        ),
        ("xgboost", "regression", {"n_estimators": 100, "max_depth": 6, "learning_rate": 0.3}),
        ("hist_gb", "classification", {"max_iter": 100, "max_leaf_nodes": 31}),
        ("random_forest", "classification", {"max_features_exponent": 0.5, "bootstrap": True}),
        ("random_forest", "regression", {"max_features_exponent": 1.0}),
        ("extra_trees", "classification", {"bootstrap": False}),
        ("linear", "classification", {"C": 1.0, "penalty": "l2"}),
        ("linear", "regression", {"alpha": 1.0, "l1_ratio": 0.5}),
        ("svm", "classification", {"C": 1.0, "gamma_factor": 1.0}),
        ("knn", "regression", {"n_neighbors": 5, "weights": "uniform", "p": 2}),
        ("mlp", "classification", {"n_layers": 1, "n_units": 100, "alpha": 1e-4}),
    ],
)
def test_default_is_the_library_default(family, task_type, expected):
    default = get_space(family, task_type).default()
    assert {k: default[k] for k in expected} == expected


def test_default_lightgbm_pipeline_has_library_values():
    _, _, types = mixed_table("classification")
    model = get_space("lightgbm", "classification").build(
        get_space("lightgbm", "classification").default(), types, seed=3
    )
    lgbm = model.named_steps["model"]
    assert (lgbm.n_estimators, lgbm.num_leaves, lgbm.random_state, lgbm.n_jobs) == (100, 31, 3, 1)


def test_invalid_configuration_names_the_space_and_value():
    space = get_space("lightgbm", "regression")
    bad = {**space.default(), "num_leaves": 100_000}
    with pytest.raises(InvalidConfigurationError, match="lightgbm-regression-v1"):
        space.build(bad, {"a": "numeric"})


def test_unknown_family_and_task_type_raise():
    with pytest.raises(UnknownFamilyError, match="catboost"):
        get_space("catboost", "classification")
    with pytest.raises(UnknownFamilyError, match="ranking"):
        get_space("lightgbm", "ranking")


def test_unknown_column_kind_is_rejected():
    space = get_space("knn", "classification")
    with pytest.raises(ValueError, match="'text'"):
        space.build(space.default(), {"a": "text"})


@pytest.mark.parametrize(("family", "task_type"), ALL)
def test_pool_has_default_and_named_sobol_points(family, task_type):
    items = pool(family, task_type)
    twins = family in CLASS_WEIGHT_FAMILIES and task_type == "classification"
    assert len(items) == (POOL_SIZE + 1) * (2 if twins else 1) >= 33
    assert items[0].name == f"{family}-default"
    assert items[0].values == get_space(family, task_type).default()
    assert [c.name for c in items[1:4]] == [f"{family}-sobol-{i:02d}" for i in range(3)]
    space = get_space(family, task_type)
    for item in items:
        assert space.validate(item.values) == item.values
    distinct = {json.dumps(c.values, sort_keys=True) for c in items}
    assert len(distinct) == len(items)


@pytest.mark.parametrize("family", CLASS_WEIGHT_FAMILIES)
def test_class_weight_twins_repeat_every_point_with_balanced_weights(family):
    items = pool(family, "classification")
    plain, twins = items[: POOL_SIZE + 1], items[POOL_SIZE + 1 :]
    assert [t.name for t in twins] == [f"{c.name}-balanced" for c in plain]
    assert all(c.values["class_weight"] == "none" for c in plain)
    assert [t.values for t in twins] == [{**c.values, "class_weight": "balanced"} for c in plain]
    assert all(is_twin(t.values) for t in twins) and not any(is_twin(c.values) for c in plain)
    assert {c.space_version for c in items} == {CLASS_WEIGHT_VERSION}
    # The Sobol design leaves class_weight out: the unweighted points are those of version 1,
    # the regression pool's shared hyperparameters included.
    without = [{k: v for k, v in c.values.items() if k != "class_weight"} for c in plain]
    assert without[0] == {
        k: v for k, v in get_space(family, "classification").default().items() if k != "class_weight"
    }
    assert pool(family, "regression")[0].space_version == 1


@pytest.mark.parametrize("family", CLASS_WEIGHT_FAMILIES)
def test_class_weight_reaches_the_estimator(family):
    X, y, types = mixed_table("classification")
    space = get_space(family, "classification")
    for weight, expected in (("none", None), ("balanced", "balanced")):
        model = space.build({**space.default(), "class_weight": weight}, types).fit(X, y)
        inner = model.named_steps["model"]
        inner = getattr(inner, "estimator_", inner)  # the wrappers build theirs at fit time
        assert inner.get_params()["class_weight"] == expected


def test_pool_is_identical_across_calls_and_changes_with_seed():
    space = get_space("xgboost", "classification")
    assert sobol_configs(space) == sobol_configs(space)
    assert sobol_configs(space, seed=1) != sobol_configs(space)
    assert pool("xgboost", "classification") == pool("xgboost", "classification")


def test_pool_covers_log_ranges_on_both_sides_of_the_midpoint():
    values = [c.values["C"] for c in pool("svm", "classification")[1 : POOL_SIZE + 1]]
    # C is log-uniform on [2^-5, 2^15]; the geometric midpoint is 2^5 = 32
    below = sum(v < 32 for v in values)
    assert 12 <= below <= 20


def test_conditional_hyperparameter_only_when_active():
    for item in pool("linear", "classification")[1:]:
        assert ("l1_ratio" in item.values) == (item.values["penalty"] == "elasticnet")


@pytest.mark.parametrize("family", ["lightgbm", "random_forest", "linear"])
def test_categorical_column_mixing_numbers_and_strings_runs(family):
    X, y, types = mixed_table("classification")
    X["cat_str"] = X["cat_str"].where(X.index % 3 != 0, 7)  # some codes are ints
    space = get_space(family, "classification")
    model = space.build(space.default(), types, seed=0).fit(X, y)
    assert model.predict(X).shape == (len(X),)
