"""Landmarkers against scikit-learn's cross_val_score with the same folds, and their regression twins."""

from __future__ import annotations

import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from learners.metafeatures import extract, feature_names


@pytest.fixture(scope="module")
def wine_landmarks(wine):
    return extract(*wine, groups=["landmarking"]).values


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("landmark.naive_bayes", GaussianNB()),
        ("landmark.lda", LinearDiscriminantAnalysis()),
        ("landmark.best_node", DecisionTreeClassifier(max_depth=1, random_state=0)),
        ("landmark.one_nn", make_pipeline(StandardScaler(), KNeighborsClassifier(1))),
    ],
)
def test_scores_equal_ten_fold_cross_validation(wine, wine_landmarks, name, model):
    X, y = wine
    expected = cross_val_score(model, X.to_numpy(), y, cv=StratifiedKFold(10)).mean()
    assert wine_landmarks[name] == pytest.approx(expected, abs=1e-9)


def test_scores_are_accuracies_in_a_plausible_order(wine_landmarks):
    assert all(0 <= v <= 1 for v in wine_landmarks.values())
    assert wine_landmarks["landmark.one_nn"] > 0.9  # standardised wine is easy for 1-NN
    assert wine_landmarks["landmark.lda"] > wine_landmarks["landmark.random_node"]


def test_seed_decides_the_random_node(breast_cancer):
    def random_node(seed: int) -> float:
        return extract(*breast_cancer, groups=["landmarking"], seed=seed).values["landmark.random_node"]

    assert random_node(1) == random_node(1)
    assert len({random_node(seed) for seed in range(4)}) > 1


def test_regression_uses_regressors_scored_by_r2(diabetes):
    X, y = diabetes
    v = extract(X, y, task_type="regression", groups=["landmarking"]).values
    assert set(v) == set(feature_names("regression", ["landmarking"]))
    assert "landmark.naive_bayes" not in v and "landmark.lda" not in v
    assert 0.4 < v["landmark.linear"] < 0.55  # diabetes: linear R^2 is about 0.48
    assert v["landmark.best_node"] < v["landmark.linear"]
