"""`extract`: compute the registered meta-features of one dataset, with times, failures and sample sizes."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

# the group modules register their meta-features on import
from learners.metafeatures import general, info_theory, landmarking, statistical  # noqa: F401
from learners.metafeatures.registry import CLASSIFICATION, GROUPS, REGISTRY, Resolver
from learners.metafeatures.table import Limits, Table, build_table

# Any change marks stored vectors stale (the recompute_metafeatures job refreshes them). Bump the
# major part when old and new vectors can no longer be compared (neighbours ignore other majors);
# the minor part when features are added or values move on some datasets only.
# 1.1: above 10,000 rows, quartiles, outliers, distinct values and the information-theoretic group
# come from a 10,000-row sample (Limits.sort_rows); vectors of smaller datasets are unchanged.
EXTRACTOR_VERSION = "1.1"


@dataclass(frozen=True)
class MetaFeatures:
    """One dataset's meta-feature vector.

    values: name -> value, NaN where missing (the reason is in `failures`).
    times: name -> seconds spent in the feature itself; helper_times: shared helper -> seconds.
    sample_sizes: group -> rows its estimates used (equal to `n_rows` where no sampling happened).
    """

    values: dict[str, float]
    times: dict[str, float]
    failures: dict[str, str]
    sample_sizes: dict[str, int]
    n_rows: int
    task_type: str
    version: str = EXTRACTOR_VERSION
    helper_times: dict[str, float] = field(default_factory=dict)
    total_time: float = 0.0

    @property
    def sample_size(self) -> int | None:
        """The smallest row count any group used, None when every group saw every row."""
        smallest = min(self.sample_sizes.values(), default=self.n_rows)
        return None if smallest >= self.n_rows else smallest

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (NaN values become None) that `from_dict` reads back."""
        return {
            "version": self.version,
            "task_type": self.task_type,
            "n_rows": self.n_rows,
            "sample_sizes": dict(self.sample_sizes),
            "values": {k: (None if math.isnan(v) else v) for k, v in self.values.items()},
            "times": dict(self.times),
            "helper_times": dict(self.helper_times),
            "failures": dict(self.failures),
            "total_time": self.total_time,
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> MetaFeatures:
        values = {k: (math.nan if v is None else float(v)) for k, v in record["values"].items()}
        return cls(
            values=values,
            times=dict(record.get("times", {})),
            failures=dict(record.get("failures", {})),
            sample_sizes=dict(record.get("sample_sizes", {})),
            n_rows=int(record["n_rows"]),
            task_type=record["task_type"],
            version=record["version"],
            helper_times=dict(record.get("helper_times", {})),
            total_time=float(record.get("total_time", 0.0)),
        )

    def vector(self, names: Sequence[str]) -> np.ndarray:
        """Values in the order of `names`, NaN for a name this vector lacks."""
        return np.array([self.values.get(name, math.nan) for name in names], dtype=float)


def extract(
    X: pd.DataFrame,
    y: pd.Series | np.ndarray,
    column_types: Mapping[str, str] | None = None,
    task_type: str = CLASSIFICATION,
    groups: Sequence[str] | None = None,
    seed: int = 0,
    limits: Limits | None = None,
) -> MetaFeatures:
    """Compute the meta-features of (X, y).

    column_types maps column name -> "numeric", "categorical", "boolean", "id" (ignored) or
    "constant"; unnamed columns are inferred (object, category and bool dtypes are categorical).
    groups defaults to all of `GROUPS`. Rows whose target is missing are left out.
    Deterministic for a given seed. Raises ValueError/TypeError only for invalid arguments;
    a meta-feature that cannot be computed is NaN with its reason in `failures`.
    """
    start = time.perf_counter()
    chosen = tuple(GROUPS if groups is None else groups)
    unknown = sorted(set(chosen) - set(GROUPS))
    if unknown:
        raise ValueError(f"groups {unknown} are unknown: use some of {GROUPS}")
    limits = limits or Limits()
    table = build_table(X, y, column_types, task_type, seed, limits)
    resolver = Resolver(REGISTRY, {"table": table})
    pools = nullcontext() if limits.blas_threads is None else _limit_pools(limits.blas_threads)
    with pools:
        outcome = resolver.run(REGISTRY.select(task_type, chosen))
    return MetaFeatures(
        values=outcome.values,
        times=outcome.times,
        failures=outcome.failures,
        sample_sizes=_sample_sizes(table, chosen, resolver.cached("pca")),
        n_rows=table.n_rows,
        task_type=task_type,
        helper_times=outcome.helper_times,
        total_time=time.perf_counter() - start,
    )


@cache
def _pools() -> ThreadpoolController:
    # finding the loaded BLAS/OpenMP libraries costs ~6 ms: once per process, not per call (the
    # ones these groups use are loaded by the imports above)
    return ThreadpoolController()


def _limit_pools(threads: int) -> AbstractContextManager:
    return _pools().limit(limits=threads)


def feature_names(task_type: str, groups: Sequence[str] | None = None) -> list[str]:
    """Names `extract` returns for this task type and groups, in a stable order."""
    return [f.name for f in REGISTRY.select(task_type, GROUPS if groups is None else groups)]


def feature_groups() -> dict[str, str]:
    """Meta-feature name -> its group, for every registered meta-feature."""
    return {name: f.group for name, f in REGISTRY.features.items()}


def _sample_sizes(table: Table, groups: Sequence[str], pca: Any) -> dict[str, int]:
    order_rows = table.rows_used(table.limits.order_rows)
    rows = {
        "general": table.n_rows,
        "statistical": order_rows if pca is None else min(order_rows, pca.rows),
        "info_theory": order_rows,
        "landmarking": table.rows_used(table.limits.landmark_rows),
    }
    return {group: rows[group] for group in groups}
