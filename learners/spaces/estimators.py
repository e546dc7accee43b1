"""Estimators whose hyperparameters are resolved against the data shape at fit time.

Some literature ranges are relative to the data (auto-sklearn's forests draw ``d ** e``
features per split; scikit-learn's RBF default ``gamma='scale'`` depends on the feature variance;
k-NN cannot use more neighbours than training rows). These wrappers keep such hyperparameters
data-independent so that one configuration means the same thing on every dataset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.svm import SVC, SVR
from sklearn.utils.metaestimators import available_if


def _is_classifier(est: Any) -> bool:
    return est.task_type == "classification"


class _Delegating(BaseEstimator):
    """Fit builds ``estimator_`` from the data shape; predictions delegate to it."""

    def _make(self, X: np.ndarray, n_rows: int) -> BaseEstimator:
        raise NotImplementedError

    def fit(self, X: Any, y: Any) -> _Delegating:
        X = np.asarray(X, dtype=np.float64)
        if self.task_type not in ("classification", "regression"):
            raise ValueError(f"task_type={self.task_type!r}; use 'classification' or 'regression'")
        self.estimator_ = self._make(X, X.shape[0]).fit(X, y)
        if _is_classifier(self):
            self.classes_ = self.estimator_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.estimator_.predict(np.asarray(X, dtype=np.float64))

    @available_if(lambda self: _is_classifier(self) and self._has_proba())
    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator_.predict_proba(np.asarray(X, dtype=np.float64))

    def _has_proba(self) -> bool:
        return True


class PowerFeaturesForest(_Delegating):
    """Random forest or extra trees drawing ``max(1, int(d ** max_features_exponent))`` features."""

    def __init__(
        self,
        task_type: str = "classification",
        kind: str = "random_forest",
        n_estimators: int = 100,
        max_features_exponent: float = 0.5,
        min_samples_split: int = 2,
        min_samples_leaf: int = 1,
        bootstrap: bool = True,
        criterion: str | None = None,
        random_state: int | None = None,
        class_weight: str | None = None,
    ) -> None:
        self.task_type = task_type
        self.kind = kind
        self.n_estimators = n_estimators
        self.max_features_exponent = max_features_exponent
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.bootstrap = bootstrap
        self.criterion = criterion
        self.random_state = random_state
        self.class_weight = class_weight

    def _make(self, X: np.ndarray, n_rows: int) -> BaseEstimator:
        classes = {
            ("random_forest", "classification"): RandomForestClassifier,
            ("random_forest", "regression"): RandomForestRegressor,
            ("extra_trees", "classification"): ExtraTreesClassifier,
            ("extra_trees", "regression"): ExtraTreesRegressor,
        }
        if (self.kind, self.task_type) not in classes:
            raise ValueError(f"kind={self.kind!r}; use 'random_forest' or 'extra_trees'")
        extra = {"criterion": self.criterion} if self.criterion else {}
        if self.task_type == "classification":
            extra["class_weight"] = self.class_weight
        return classes[self.kind, self.task_type](
            n_estimators=self.n_estimators,
            max_features=max(1, int(X.shape[1] ** self.max_features_exponent)),
            min_samples_split=self.min_samples_split,
            min_samples_leaf=self.min_samples_leaf,
            bootstrap=self.bootstrap,
            random_state=self.random_state,
            n_jobs=1,
            **extra,
        )


class ScaledGammaSVM(_Delegating):
    """RBF SVC/SVR with ``gamma = gamma_factor / (d * var(X))``: factor 1 is sklearn's 'scale'.

    Classification uses no Platt scaling (``probability=False``, five extra fits per
    configuration), so it offers ``decision_function`` but no ``predict_proba``.
    """

    def __init__(
        self,
        task_type: str = "classification",
        C: float = 1.0,
        gamma_factor: float = 1.0,
        epsilon: float = 0.1,
        tol: float = 1e-3,
        max_iter: int = -1,
        random_state: int | None = None,
        class_weight: str | None = None,
    ) -> None:
        self.task_type = task_type
        self.C = C
        self.gamma_factor = gamma_factor
        self.epsilon = epsilon
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.class_weight = class_weight

    def _make(self, X: np.ndarray, n_rows: int) -> BaseEstimator:
        var = float(X.var())
        gamma = self.gamma_factor / (X.shape[1] * var) if var > 0 else self.gamma_factor
        if _is_classifier(self):
            return SVC(
                C=self.C,
                gamma=gamma,
                tol=self.tol,
                max_iter=self.max_iter,
                random_state=self.random_state,
                class_weight=self.class_weight,
            )
        return SVR(C=self.C, gamma=gamma, epsilon=self.epsilon, tol=self.tol, max_iter=self.max_iter)

    def _has_proba(self) -> bool:
        return False

    @available_if(_is_classifier)
    def decision_function(self, X: Any) -> np.ndarray:
        return self.estimator_.decision_function(np.asarray(X, dtype=np.float64))


class ClippedKNN(_Delegating):
    """k-NN whose ``n_neighbors`` is clipped to the number of training rows."""

    def __init__(
        self,
        task_type: str = "classification",
        n_neighbors: int = 5,
        weights: str = "uniform",
        p: int = 2,
    ) -> None:
        self.task_type = task_type
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.p = p

    def _make(self, X: np.ndarray, n_rows: int) -> BaseEstimator:
        cls = KNeighborsClassifier if _is_classifier(self) else KNeighborsRegressor
        return cls(n_neighbors=min(self.n_neighbors, n_rows), weights=self.weights, p=self.p, n_jobs=1)
