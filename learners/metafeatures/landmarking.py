"""Landmarkers: cross-validated scores of simple learners on a (stratified) subsample.

Classification scores are accuracies, regression scores R^2, each the mean over the folds.
Folds are stratified and unshuffled for classification (as pymfe; the sample is already random
when the dataset is larger than `limits.landmark_rows`), shuffled with the seed for regression.
1-NN learners see columns standardised on each training fold, so units do not matter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from learners.metafeatures.registry import CLASSIFICATION, REGISTRY, REGRESSION, NotApplicable
from learners.metafeatures.table import Table

GROUP = "landmarking"
CLS = (CLASSIFICATION,)
REG = (REGRESSION,)


@dataclass(frozen=True)
class LandmarkData:
    """Design matrix and target of the landmarking sample, and its cross-validation folds."""

    X: np.ndarray
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    classification: bool
    seed: int


@REGISTRY.helper("landmark_data", requires=("table",))
def landmark_data(table: Table) -> LandmarkData:
    rows = table.sample(table.limits.landmark_rows)
    X = table.design_matrix(rows)
    y = table.y if rows is None else table.y[rows]
    if X.shape[1] == 0:
        raise NotApplicable("no non-constant column to learn from")
    if X.shape[1] > table.limits.landmark_columns:  # random subspace: LDA is cubic in columns
        rng = np.random.default_rng(table.seed)
        keep = np.sort(rng.choice(X.shape[1], table.limits.landmark_columns, replace=False))
        X = np.ascontiguousarray(X[:, keep])
    n_folds = min(table.limits.cv_folds, y.shape[0])
    if table.is_classification:
        y = np.unique(y, return_inverse=True)[1]
        if np.bincount(y).max() < 2:
            raise NotApplicable("every class has a single row: nothing to cross-validate")
        n_folds = min(n_folds, int(np.bincount(y).max()))
        splitter = StratifiedKFold(n_splits=n_folds)
    else:
        splitter = KFold(n_splits=n_folds, shuffle=True, random_state=table.seed)
    folds = list(splitter.split(X, y))
    return LandmarkData(X, y, folds, table.is_classification, table.seed)


class OneNearestNeighbour:
    """1-NN by brute force in numpy; ties go to the earliest training row.

    sklearn's KNN pays a thread-pool start per predict call, which dominates on small folds.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> OneNearestNeighbour:
        self.X_, self.y_ = X, y
        self.sq_norms_ = np.einsum("ij,ij->i", X, X)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        chunk = max(1, 4_000_000 // max(self.X_.shape[0], 1))
        nearest = np.empty(X.shape[0], dtype=np.int64)
        for start in range(0, X.shape[0], chunk):
            part = X[start : start + chunk]
            # |a - b|^2 up to the |a|^2 term, which does not change the argmin over b
            dist = self.sq_norms_[None, :] - 2.0 * (part @ self.X_.T)
            nearest[start : start + chunk] = np.argmin(dist, axis=1)
        return self.y_[nearest]


def _score(classification: bool, truth: np.ndarray, predicted: np.ndarray) -> float:
    """Accuracy, or R^2 (1 - SSE / SST, 0 when the fold's target is constant and matched)."""
    if classification:
        return float(np.mean(truth == predicted))
    total = float(((truth - truth.mean()) ** 2).sum())
    error = float(((truth - predicted) ** 2).sum())
    if total == 0:
        return 1.0 if error == 0 else 0.0
    return 1.0 - error / total


def cross_validate(
    data: LandmarkData,
    make: Callable[[], BaseEstimator | OneNearestNeighbour],
    columns: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    standardise: bool = False,
) -> float:
    """Mean fold score of `make()`; `columns(X_train, y_train)` picks the columns it may use."""
    scores = []
    for train, test in data.folds:
        X_train, X_test = data.X[train], data.X[test]
        if columns is not None:
            keep = columns(X_train, data.y[train])
            X_train, X_test = X_train[:, keep], X_test[:, keep]
        if standardise:
            centre, scale = X_train.mean(axis=0), X_train.std(axis=0)
            scale[scale == 0] = 1.0
            X_train, X_test = (X_train - centre) / scale, (X_test - centre) / scale
        model = make().fit(X_train, data.y[train])
        scores.append(_score(data.classification, data.y[test], model.predict(X_test)))
    return float(np.mean(scores))


def _tree(data: LandmarkData, **params) -> BaseEstimator:
    cls = DecisionTreeClassifier if data.classification else DecisionTreeRegressor
    return cls(random_state=data.seed, **params)


def _random_column(data: LandmarkData) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    column = np.random.default_rng(data.seed).integers(data.X.shape[1])
    return lambda X, y: np.array([column])


@REGISTRY.helper("fold_stumps", requires=("landmark_data",))
def fold_stumps(data: LandmarkData) -> list[BaseEstimator]:
    """One decision stump per training fold: the best-node landmarker and the elite column."""
    return [_tree(data, max_depth=1).fit(data.X[train], data.y[train]) for train, _ in data.folds]


def _elite_columns(stumps: list[BaseEstimator]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The column the training fold's stump splits on: the single most informative one.

    pymfe takes the top column by importance in a fully grown tree; the root split is that
    column in most cases, and the stumps are fitted anyway for the best-node landmarker.
    """
    chosen = iter([max(int(stump.tree_.feature[0]), 0) for stump in stumps])
    return lambda X, y: np.array([next(chosen)])


@REGISTRY.feature("landmark.one_nn", GROUP, ("landmark_data",))
def one_nn(data: LandmarkData) -> float:
    return cross_validate(data, OneNearestNeighbour, standardise=True)


@REGISTRY.feature("landmark.elite_nn", GROUP, ("landmark_data", "fold_stumps"))
def elite_nn(data: LandmarkData, stumps: list[BaseEstimator]) -> float:
    return cross_validate(data, OneNearestNeighbour, columns=_elite_columns(stumps), standardise=True)


@REGISTRY.feature("landmark.best_node", GROUP, ("landmark_data", "fold_stumps"))
def best_node(data: LandmarkData, stumps: list[BaseEstimator]) -> float:
    """Decision stump: one split on the best column."""
    fits = zip(data.folds, stumps, strict=True)
    scores = [_score(data.classification, data.y[t], m.predict(data.X[t])) for (_, t), m in fits]
    return float(np.mean(scores))


@REGISTRY.feature("landmark.random_node", GROUP, ("landmark_data",))
def random_node(data: LandmarkData) -> float:
    """Decision stump on one column drawn with the seed."""
    return cross_validate(data, lambda: _tree(data, max_depth=1), columns=_random_column(data))


@REGISTRY.feature("landmark.naive_bayes", GROUP, ("landmark_data",), CLS)
def naive_bayes(data: LandmarkData) -> float:
    return cross_validate(data, GaussianNB)


@REGISTRY.feature("landmark.lda", GROUP, ("landmark_data",), CLS)
def lda(data: LandmarkData) -> float:
    # lsqr gives the svd solver's predictions (pymfe's default) at a fraction of the cost
    return cross_validate(data, lambda: LinearDiscriminantAnalysis(solver="lsqr"))


@REGISTRY.feature("landmark.linear", GROUP, ("landmark_data",), REG)
def linear(data: LandmarkData) -> float:
    """Least squares (a whisker of ridge, so collinear columns do not fail): LDA's regression twin."""
    return cross_validate(data, lambda: Ridge(alpha=1e-6), standardise=True)
