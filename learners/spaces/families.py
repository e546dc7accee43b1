"""The nine model families: their hyperparameter ranges, library defaults and model builders.

Ranges follow the tunability study of Probst, Boulesteix and Bischl (JMLR 2019), auto-sklearn's
spaces and HPO-B, narrowed where a value would break the sweep's time budget (tree counts at most
512, forests at 100 trees, MLP at 200 epochs); each hyperparameter's default is the library default,
so ``cs.get_default_configuration()`` is the library's own configuration. Where the library default
is 0 on a log-scaled range, the range's lower bound stands for it (1e-8 or 1e-10, numerically 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import xgboost as xgb
from ConfigSpace import Categorical, EqualsCondition, Float, Integer
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor

from learners.spaces.estimators import ClippedKNN, PowerFeaturesForest, ScaledGammaSVM
from learners.spaces.preprocessing import Encoding

Config = Mapping[str, Any]
HyperparameterFactory = Callable[[str], list[Any]]
ModelFactory = Callable[[Config, str, int], BaseEstimator]


@dataclass(frozen=True)
class FamilySpec:
    """How one family is searched and built; ``version`` changes whenever either changes."""

    family: str
    version: int
    encoding: Encoding
    hyperparameters: HyperparameterFactory
    make_model: ModelFactory
    scale_target: bool
    references: str
    fixed: Mapping[str, Any]
    #: Task types whose space moved on from ``version`` (its number there).
    task_versions: Mapping[str, int] = field(default_factory=dict)

    def version_for(self, task_type: str) -> int:
        return self.task_versions.get(task_type, self.version)


def _is_clf(task_type: str) -> bool:
    return task_type == "classification"


# --- class weights (classification) -------------------------------------------------------------

#: The families whose classifiers take ``class_weight``; their classification spaces have it
#: from version 2 on. Balanced accuracy, the knowledge base's classification metric, weighs each
#: class's recall equally, and weighting the classes is the cheapest way a model serves it.
CLASS_WEIGHT_FAMILIES = ("lightgbm", "hist_gb", "random_forest", "extra_trees", "linear", "svm")
#: The classification space version that added ``class_weight`` (the library default, "none",
#: is what every configuration of the version before it meant).
CLASS_WEIGHT_VERSION = 2


def _class_weight() -> Categorical:
    """Choices "none" (the library default, ``class_weight=None``) and "balanced" (each class
    weighted by the inverse of its frequency)."""
    return Categorical("class_weight", ["none", "balanced"], default="none")


def _pop_class_weight(config: Config) -> tuple[dict[str, Any], str | None]:
    """The configuration without ``class_weight``, and the estimator's value for it."""
    params = dict(config)
    weight = params.pop("class_weight", "none")
    return params, None if weight == "none" else weight


# --- gradient boosting ------------------------------------------------------------------------


def _lightgbm_hps(task_type: str) -> list[Any]:
    return [
        Integer("n_estimators", (16, 512), log=True, default=100),
        Float("learning_rate", (0.01, 0.3), log=True, default=0.1),
        Integer("num_leaves", (4, 256), log=True, default=31),
        Integer("min_child_samples", (2, 100), log=True, default=20),
        Float("subsample", (0.5, 1.0), default=1.0),
        Float("colsample_bytree", (0.3, 1.0), default=1.0),
        Float("reg_alpha", (1e-8, 10.0), log=True, default=1e-8),
        Float("reg_lambda", (1e-8, 10.0), log=True, default=1e-8),
        *([_class_weight()] if _is_clf(task_type) else []),
    ]


def _lightgbm(config: Config, task_type: str, seed: int) -> BaseEstimator:
    if not _is_clf(task_type):
        return lgb.LGBMRegressor(**config, subsample_freq=1, n_jobs=1, random_state=seed, verbose=-1)
    params, weight = _pop_class_weight(config)
    return lgb.LGBMClassifier(
        **params, class_weight=weight, subsample_freq=1, n_jobs=1, random_state=seed, verbose=-1
    )


def _xgboost_hps(task_type: str) -> list[Any]:
    return [
        Integer("n_estimators", (16, 512), log=True, default=100),
        Float("learning_rate", (0.01, 1.0), log=True, default=0.3),
        Integer("max_depth", (1, 12), default=6),
        Float("min_child_weight", (1.0, 128.0), log=True, default=1.0),
        Float("subsample", (0.5, 1.0), default=1.0),
        Float("colsample_bytree", (0.3, 1.0), default=1.0),
        Float("reg_lambda", (1e-3, 1e3), log=True, default=1.0),
        Float("reg_alpha", (1e-8, 100.0), log=True, default=1e-8),
    ]


def _xgboost(config: Config, task_type: str, seed: int) -> BaseEstimator:
    cls = xgb.XGBClassifier if _is_clf(task_type) else xgb.XGBRegressor
    return cls(**config, tree_method="hist", n_jobs=1, random_state=seed, verbosity=0)


def _hist_gb_hps(task_type: str) -> list[Any]:
    return [
        Float("learning_rate", (0.01, 1.0), log=True, default=0.1),
        Integer("max_iter", (16, 512), log=True, default=100),
        Integer("max_leaf_nodes", (4, 256), log=True, default=31),
        Integer("min_samples_leaf", (1, 200), log=True, default=20),
        Float("l2_regularization", (1e-10, 10.0), log=True, default=1e-10),
        Float("max_features", (0.1, 1.0), default=1.0),
        *([_class_weight()] if _is_clf(task_type) else []),
    ]


def _hist_gb(config: Config, task_type: str, seed: int) -> BaseEstimator:
    # early stopping off: 'auto' would switch it on above 10,000 rows and change the model.
    if not _is_clf(task_type):
        return HistGradientBoostingRegressor(**config, early_stopping=False, random_state=seed)
    params, weight = _pop_class_weight(config)
    return HistGradientBoostingClassifier(
        **params, class_weight=weight, early_stopping=False, random_state=seed
    )


# --- forests ------------------------------------------------------------------------------------


def _forest_hps(bootstrap_default: bool) -> HyperparameterFactory:
    def hps(task_type: str) -> list[Any]:
        out = [
            Float("max_features_exponent", (0.0, 1.0), default=0.5 if _is_clf(task_type) else 1.0),
            Integer("min_samples_split", (2, 20), default=2),
            Integer("min_samples_leaf", (1, 20), default=1),
            Categorical("bootstrap", [True, False], default=bootstrap_default),
        ]
        if _is_clf(task_type):
            out += [Categorical("criterion", ["gini", "entropy"], default="gini"), _class_weight()]
        return out

    return hps


def _forest(kind: str) -> ModelFactory:
    def make(config: Config, task_type: str, seed: int) -> BaseEstimator:
        params, weight = _pop_class_weight(config)
        return PowerFeaturesForest(
            task_type=task_type, kind=kind, n_estimators=100, random_state=seed, class_weight=weight, **params
        )

    return make


# --- linear, kernel, neighbours, network -------------------------------------------------------


def _linear_hps(task_type: str) -> list[Any]:
    if _is_clf(task_type):
        penalty = Categorical("penalty", ["l2", "elasticnet"], default="l2")
        l1_ratio = Float("l1_ratio", (0.0, 1.0), default=0.5)
        return [
            Float("C", (1e-4, 1e4), log=True, default=1.0),
            penalty,
            l1_ratio,
            _class_weight(),
            EqualsCondition(l1_ratio, penalty, "elasticnet"),
        ]
    return [
        Float("alpha", (1e-6, 10.0), log=True, default=1.0),
        Float("l1_ratio", (0.0, 1.0), default=0.5),
    ]


def _linear(config: Config, task_type: str, seed: int) -> BaseEstimator:
    if not _is_clf(task_type):
        return ElasticNet(**config, random_state=seed)
    _, weight = _pop_class_weight(config)
    if config.get("penalty", "l2") == "l2":
        return LogisticRegression(
            C=config["C"], l1_ratio=0.0, solver="lbfgs", class_weight=weight, random_state=seed
        )
    return LogisticRegression(
        C=config["C"], l1_ratio=config["l1_ratio"], solver="saga", class_weight=weight, random_state=seed
    )


def _svm_hps(task_type: str) -> list[Any]:
    out = [
        Float("C", (2.0**-5, 2.0**15), log=True, default=1.0),
        Float("gamma_factor", (1e-3, 1e2), log=True, default=1.0),
    ]
    if not _is_clf(task_type):
        out.append(Float("epsilon", (1e-3, 1.0), log=True, default=0.1))
    else:
        out.append(_class_weight())
    return out


def _svm(config: Config, task_type: str, seed: int) -> BaseEstimator:
    params, weight = _pop_class_weight(config)
    return ScaledGammaSVM(task_type=task_type, random_state=seed, class_weight=weight, **params)


def _knn_hps(task_type: str) -> list[Any]:
    return [
        Integer("n_neighbors", (1, 100), log=True, default=5),
        Categorical("weights", ["uniform", "distance"], default="uniform"),
        Categorical("p", [1, 2], default=2),
    ]


def _knn(config: Config, task_type: str, seed: int) -> BaseEstimator:
    return ClippedKNN(task_type=task_type, **config)


def _mlp_hps(task_type: str) -> list[Any]:
    return [
        Integer("n_layers", (1, 2), default=1),
        Integer("n_units", (16, 256), log=True, default=100),
        Categorical("activation", ["relu", "tanh"], default="relu"),
        Float("alpha", (1e-7, 1e-1), log=True, default=1e-4),
        Float("learning_rate_init", (1e-4, 1e-1), log=True, default=1e-3),
    ]


def _mlp(config: Config, task_type: str, seed: int) -> BaseEstimator:
    cls = MLPClassifier if _is_clf(task_type) else MLPRegressor
    params = dict(config)
    sizes = (params.pop("n_units"),) * params.pop("n_layers")
    return cls(hidden_layer_sizes=sizes, **params, max_iter=200, random_state=seed)


_PROBST = "Probst, Boulesteix & Bischl, JMLR 20(53), 2019"
_AUTOSKLEARN = "Feurer et al., auto-sklearn, NeurIPS 2015 / JMLR 2022"
_HPOB = "Pineda Arango et al., HPO-B, NeurIPS 2021 Datasets & Benchmarks"

SPECS: dict[str, FamilySpec] = {
    spec.family: spec
    for spec in [
        FamilySpec(
            "lightgbm",
            1,
            "native_nan",
            _lightgbm_hps,
            _lightgbm,
            False,
            f"{_HPOB}; {_PROBST} (xgboost ranges)",
            {"subsample_freq": 1, "n_jobs": 1},
            task_versions={"classification": CLASS_WEIGHT_VERSION},
        ),
        FamilySpec(
            "xgboost",
            1,
            "native_nan",
            _xgboost_hps,
            _xgboost,
            False,
            f"{_PROBST}; {_HPOB}",
            {"tree_method": "hist", "n_jobs": 1},
        ),
        FamilySpec(
            "hist_gb",
            1,
            "native_nan",
            _hist_gb_hps,
            _hist_gb,
            False,
            f"{_AUTOSKLEARN} (gradient_boosting)",
            {"early_stopping": False},
            task_versions={"classification": CLASS_WEIGHT_VERSION},
        ),
        FamilySpec(
            "random_forest",
            1,
            "imputed_ordinal",
            _forest_hps(True),
            _forest("random_forest"),
            False,
            f"{_AUTOSKLEARN} (max_features as exponent of d); {_PROBST}",
            {"n_estimators": 100, "n_jobs": 1},
            task_versions={"classification": CLASS_WEIGHT_VERSION},
        ),
        FamilySpec(
            "extra_trees",
            1,
            "imputed_ordinal",
            _forest_hps(False),
            _forest("extra_trees"),
            False,
            _AUTOSKLEARN,
            {"n_estimators": 100, "n_jobs": 1},
            task_versions={"classification": CLASS_WEIGHT_VERSION},
        ),
        FamilySpec(
            "linear",
            1,
            "scaled_onehot",
            _linear_hps,
            _linear,
            True,
            f"{_PROBST} (glmnet); {_AUTOSKLEARN}",
            {"solver": "lbfgs for l2, saga for elasticnet"},
            task_versions={"classification": CLASS_WEIGHT_VERSION},
        ),
        FamilySpec(
            "svm",
            1,
            "scaled_onehot",
            _svm_hps,
            _svm,
            True,
            f"{_AUTOSKLEARN} (libsvm_svc C); {_PROBST}",
            {"kernel": "rbf", "gamma": "gamma_factor * 'scale'", "probability": False},
            task_versions={"classification": CLASS_WEIGHT_VERSION},
        ),
        FamilySpec(
            "knn",
            1,
            "scaled_onehot",
            _knn_hps,
            _knn,
            False,
            f"{_AUTOSKLEARN}; {_PROBST}",
            {"n_neighbors": "clipped to training rows"},
        ),
        FamilySpec(
            "mlp",
            1,
            "scaled_onehot",
            _mlp_hps,
            _mlp,
            True,
            f"{_AUTOSKLEARN} (mlp); {_HPOB}",
            {"solver": "adam", "max_iter": 200, "early_stopping": False},
        ),
    ]
}
