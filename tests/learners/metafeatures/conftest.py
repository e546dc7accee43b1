"""Bundled scikit-learn datasets as (frame, target) pairs for the meta-feature tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

LOADERS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
}


def load(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = LOADERS[name](return_X_y=True, as_frame=True)
    return X, y.to_numpy()


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    return load("iris")


@pytest.fixture(scope="session")
def wine() -> tuple[pd.DataFrame, np.ndarray]:
    return load("wine")


@pytest.fixture(scope="session")
def breast_cancer() -> tuple[pd.DataFrame, np.ndarray]:
    return load("breast_cancer")


@pytest.fixture(scope="session")
def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    return load("diabetes")


def mixed_frame(n: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, dict[str, str]]:
    """Numeric, categorical (string and integer-coded), boolean, id and constant columns, with NaNs."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.exponential(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n).astype(object),
            "level": rng.integers(0, 5, size=n),
            "flag": rng.random(n) < 0.3,
            "row_id": np.arange(n),
            "same": np.full(n, 7.0),
        }
    )
    X.loc[rng.random(n) < 0.1, "a"] = np.nan
    X.loc[rng.random(n) < 0.05, "colour"] = None
    y = X["a"].fillna(0) + (X["colour"] == "red") + rng.normal(scale=0.5, size=n) > 0.5
    types = {"level": "categorical", "flag": "boolean", "row_id": "id", "same": "constant"}
    return X, y.to_numpy().astype(int), types
