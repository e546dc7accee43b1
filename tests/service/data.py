"""Small real tables for the service tests, made in code (nothing downloaded)."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd

OPENML_ANNEAL_ARFF = "fixtures/openml-cache/org/openml/test/datasets/2/dataset.arff"


def classification_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.integers(0, 4, size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    flag = rng.choice([True, False], size=n)
    with_missing = np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n))
    y = np.where(x1 + 0.5 * x2 > 0.8, "yes", "no")
    return pd.DataFrame(
        {
            "row_id": np.arange(n),
            "x1": x1,
            "x2": x2,
            "colour": colour,
            "flag": flag,
            "noisy": with_missing,
            "const": 7,
            "label": y,
        }
    )


def regression_frame(n: int = 50, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.uniform(size=n)
    return pd.DataFrame({"a": a, "b": b, "y": 3 * a - b + rng.normal(scale=0.1, size=n)})


def csv_bytes(frame: pd.DataFrame, sep: str = ",") -> bytes:
    return frame.to_csv(index=False, sep=sep).encode()


def tsv_gz_bytes(frame: pd.DataFrame) -> bytes:
    return gzip.compress(csv_bytes(frame, "\t"))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()
