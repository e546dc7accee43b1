"""Small mixed-type tables (numeric + categorical columns, NaNs) for the harness tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mixed_table(task_type: str, n_classes: int = 2, n: int = 120, seed: int = 0):
    """A frame with two numeric columns, two categorical ones (int and str), ~10% NaNs."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "num_a": rng.normal(size=n),
            "num_b": rng.uniform(0, 100, size=n),
            "cat_int": rng.integers(0, 4, size=n).astype(float),
            "cat_str": rng.choice(["red", "green", "blue"], size=n).astype(object),
        }
    )
    signal = X["num_a"].to_numpy() + (X["cat_int"].to_numpy() == 2)
    for col in X.columns:
        X.loc[rng.random(n) < 0.1, col] = np.nan
    types = {"num_a": "numeric", "num_b": "numeric", "cat_int": "categorical", "cat_str": "categorical"}
    if task_type == "regression":
        y = 3 * signal + rng.normal(scale=0.3, size=n)
    else:
        cuts = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
        y = np.array(["abcdefg"[k] for k in np.digitize(signal, cuts)])
    return X, y, types
