"""Meta-features for the service: computed by learners.metafeatures, converted to metastore records."""

from __future__ import annotations

import math

import pandas as pd

from learners.metafeatures import extract
from metastore.records import MetaFeatureVector, TaskType


def compute_metafeatures(
    X: pd.DataFrame, y: pd.Series, column_types: dict[str, str], task_type: TaskType, seed: int = 0
) -> MetaFeatureVector:
    result = extract(X, y, column_types=column_types, task_type=task_type, seed=seed)
    return MetaFeatureVector(
        version=result.version,
        values={k: (None if v is None or math.isnan(v) else float(v)) for k, v in result.values.items()},
        times={k: float(v) for k, v in result.times.items()},
        failures=dict(result.failures),
        sample_size=result.sample_size,
    )
