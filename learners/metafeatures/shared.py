"""Helpers shared by several groups: the numeric columns of the sort sample, sorted once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from learners.metafeatures.registry import REGISTRY
from learners.metafeatures.table import Table


@dataclass(frozen=True)
class SortedSample:
    """The numeric columns on the sort sample (`limits.order_rows` rows, nested in the statistics
    sample): as drawn (`drawn`, NaN where missing) and each column sorted ascending (NaN last), with
    its count of present values."""

    drawn: np.ndarray
    values: np.ndarray
    present: np.ndarray
    rows: np.ndarray | None

    def quantiles(self, column: int, q: np.ndarray) -> np.ndarray:
        """np.quantile(..., method="linear") of the present values of `column`, from the sorted copy."""
        return sorted_quantiles(self.values[: self.present[column], column], q)


def sorted_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles of an ascending array (the same numbers as np.quantile)."""
    position = (ordered.shape[0] - 1) * np.asarray(q, dtype=float)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ordered.shape[0] - 1)
    frac = position - low
    a, b = ordered[low], ordered[high]
    # numpy's lerp: exact at both ends, so a quantile that falls on a data value equals it
    return np.where(frac >= 0.5, b - (b - a) * (1 - frac), a + (b - a) * frac)


@REGISTRY.helper("sorted_sample", requires=("table",))
def sorted_sample(table: Table) -> SortedSample:
    rows = table.sample(table.limits.order_rows)
    drawn = table.numeric_matrix(rows)
    ordered = np.sort(drawn, axis=0)
    return SortedSample(drawn, ordered, np.count_nonzero(~np.isnan(ordered), axis=0), rows)
