"""The typed view of a dataset that the meta-feature groups read: columns by kind, target, samples."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from learners.metafeatures.registry import CLASSIFICATION, REGRESSION, TASK_TYPES

COLUMN_TYPES = ("numeric", "categorical", "boolean", "id", "constant")


@dataclass(frozen=True)
class Limits:
    """Row budgets: above them a group works on a (stratified, for classification) random subsample.

    `sample_rows` feeds the statistical estimates that need one pass over the rows (correlations,
    covariances, PCA: their standard error at 100,000 rows is about 0.003); `sort_rows` (at most
    `sample_rows`) the ones that sort every column: quartiles, outliers and distinct values (on
    10,000 rows within a few percent of their full-data value), and the whole information-theoretic
    group (whose bins follow the rows used: see info_theory). Sorting costs more than the rest of
    both groups together. `landmark_rows` feeds the cross-validated landmarkers, whose cost grows with the
    square of the rows (1-NN).
    Wide tables cost more: PCA takes at most `pca_flops / columns**2` rows (never fewer than
    1,000), and landmarkers see at most `landmark_columns` design columns (a seeded random subset:
    LDA is cubic in the columns). `blas_threads` caps the BLAS/OpenMP pools during extraction
    (process-wide, via threadpoolctl; None leaves them alone): the matrices here are small, and
    a multi-threaded BLAS on a busy machine made one LDA 20x slower than on one thread.
    """

    sample_rows: int = 100_000
    sort_rows: int = 10_000
    landmark_rows: int = 5_000
    landmark_columns: int = 256
    pca_flops: float = 1e9
    cv_folds: int = 10
    max_onehot_levels: int = 10
    blas_threads: int | None = 1

    def pca_rows(self, n_columns: int) -> int:
        """Rows the PCA may use for a design matrix of `n_columns` columns."""
        return min(self.sample_rows, max(1_000, int(self.pca_flops / max(n_columns, 1) ** 2)))

    @property
    def order_rows(self) -> int:
        """Rows the sorting estimates use: `sort_rows`, never more than `sample_rows`."""
        return min(self.sort_rows, self.sample_rows)

    def __post_init__(self) -> None:
        if self.landmark_rows < 20 or self.sample_rows < self.landmark_rows:
            raise ValueError(
                f"Limits(sample_rows={self.sample_rows}, landmark_rows={self.landmark_rows}) "
                "needs 20 <= landmark_rows <= sample_rows"
            )
        if self.sort_rows < 20:
            raise ValueError(f"Limits(sort_rows={self.sort_rows}) needs at least 20 rows")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds={self.cv_folds}: use at least 2 folds")


@dataclass(frozen=True)
class Table:
    """Columns split by kind (id columns dropped), the target encoded, and seeded row samples.

    For classification `y` holds class codes 0..k-1; for regression the float target.
    """

    frame: pd.DataFrame
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    y: np.ndarray
    task_type: str
    seed: int
    limits: Limits
    _samples: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _columns: dict[str, pd.Series] = field(default_factory=dict, repr=False, compare=False)
    _storage: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.numeric) + len(self.categorical)

    @property
    def is_classification(self) -> bool:
        return self.task_type == CLASSIFICATION

    @cached_property
    def class_counts(self) -> np.ndarray:
        if not self.is_classification:
            raise ValueError("class_counts is only defined for classification")
        return np.bincount(self.y)

    def column(self, name: str) -> pd.Series:
        """The column `name` of the frame, looked up once per extraction (several helpers read it)."""
        if name not in self._columns:
            self._columns[name] = self.frame[name]
        return self._columns[name]

    def numeric_column(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Float64 values of a numeric column (a view when the column is float64 already)."""
        if name not in self._storage:
            column = self.column(name)
            plain = isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiu"
            self._storage[name] = column.to_numpy() if plain else None
        values = self._storage[name]
        if values is not None:  # plain numpy storage: gather without pandas overhead
            values = values if rows is None else values[rows]
            return values.astype(np.float64, copy=False)
        column = self.column(name)
        if rows is not None:
            column = column.iloc[rows]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            column = pd.to_numeric(column.astype("object"), errors="coerce")
        return column.to_numpy(dtype=np.float64, na_value=np.nan)

    def category_codes(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Integer codes 0..k-1 of a categorical column (levels present on `rows`), -1 where missing."""
        column = self.column(name)
        if isinstance(column.dtype, pd.CategoricalDtype):
            codes = column.cat.codes.to_numpy()
            codes = codes if rows is None else codes[rows]
            present = codes >= 0
            compact = np.full(codes.shape[0], -1, dtype=np.int64)
            compact[present] = np.unique(codes[present], return_inverse=True)[1]
            return compact
        values = column.to_numpy()
        codes, _ = pd.factorize(values if rows is None else values[rows], use_na_sentinel=True)
        return codes.astype(np.int64, copy=False)

    def numeric_matrix(self, rows: np.ndarray | None) -> np.ndarray:
        """Numeric columns on `rows` (all when None) as an (n, p) float64 matrix, NaN where missing."""
        n = self.n_rows if rows is None else rows.shape[0]
        out = np.empty((n, len(self.numeric)), dtype=np.float64, order="F")
        for j, name in enumerate(self.numeric):
            out[:, j] = self.numeric_column(name, rows)
        return out

    def design_matrix(self, rows: np.ndarray | None, numeric: np.ndarray | None = None) -> np.ndarray:
        """Model input on `rows`: numeric columns mean-imputed, categorical ones one-hot encoded.

        `numeric` may pass `numeric_matrix(rows)` when the caller has it already (it is modified).
        Only the `limits.max_onehot_levels` most frequent levels of a categorical column get a
        column (the rest and missing values are all zeros); constant columns are left out.
        """
        numeric = self.numeric_matrix(rows) if numeric is None else numeric
        n = numeric.shape[0]
        holes = np.isnan(numeric)
        if holes.any():
            means = np.nan_to_num(np.nanmean(numeric, axis=0))
            numeric[holes] = np.take(means, np.nonzero(holes)[1])
        varying = numeric.min(axis=0) < numeric.max(axis=0) if n else np.zeros(0, dtype=bool)
        onehots = [self._onehot_levels(name, rows, n) for name in self.categorical]
        width = int(varying.sum()) + sum(len(levels) for _, levels in onehots)
        out = np.zeros((n, width), dtype=np.float64, order="F")
        out[:, : varying.sum()] = numeric[:, varying]
        _fill_onehot(out, int(varying.sum()), onehots)
        return out

    def onehot_matrix(self, rows: np.ndarray | None) -> np.ndarray:
        """The one-hot columns of `design_matrix(rows)` alone (its last columns)."""
        n = self.n_rows if rows is None else rows.shape[0]
        onehots = [self._onehot_levels(name, rows, n) for name in self.categorical]
        out = np.zeros((n, sum(len(levels) for _, levels in onehots)), dtype=np.float64, order="F")
        _fill_onehot(out, 0, onehots)
        return out

    def _onehot_levels(self, name: str, rows: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Codes of a categorical column and the levels that get a one-hot column (not constant)."""
        codes = self.category_codes(name, rows)
        counts = np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(0, int)
        top = np.argsort(-counts, kind="stable")[: self.limits.max_onehot_levels]
        return codes, top[(counts[top] > 0) & (counts[top] < n)]

    def rows_used(self, size: int) -> int:
        """Rows in `sample(size)` (more than `size` if classes outnumber it), without drawing it."""
        if size >= self.n_rows:
            return self.n_rows
        return int(_quotas(self.class_counts, size).sum()) if self.is_classification else size

    def sample(self, size: int) -> np.ndarray | None:
        """Sorted row indices of a seeded random sample of `size` rows; None when all rows fit.

        Stratified by class for classification (every class keeps at least one row). Samples of
        different sizes are nested: the smaller is a subset of the larger.
        """
        if size >= self.n_rows:
            return None
        if size not in self._samples:
            self._samples[size] = np.sort(self._priority_order[self._quota_mask(size)])
        return self._samples[size]

    @cached_property
    def _priority_order(self) -> np.ndarray:
        """Rows grouped by class (one group for regression), each group in seeded random order."""
        key = np.random.default_rng(self.seed).random(self.n_rows)  # in [0, 1)
        if self.is_classification:
            key += self.y  # class first, random within: one float sort instead of a lexsort
        return np.argsort(key)

    def _quota_mask(self, size: int) -> np.ndarray:
        """Boolean mask over `_priority_order`: the first `quota` rows of each class."""
        if not self.is_classification:
            mask = np.zeros(self.n_rows, dtype=bool)
            mask[:size] = True
            return mask
        counts = self.class_counts
        quota = _quotas(counts, size)
        labels = self.y[self._priority_order]
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(self.n_rows) - starts[labels]
        return rank < quota[labels]


def _fill_onehot(out: np.ndarray, start: int, onehots: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Set the one-hot columns of each (codes, levels) pair in `out`, from column `start` on."""
    for codes, levels in onehots:
        position = np.full(max(int(codes.max(initial=-1)) + 1, 1), -1)  # level code -> output column
        position[levels] = np.arange(levels.size)
        hit = np.nonzero(codes >= 0)[0]
        column = position[codes[hit]]
        on = column >= 0
        out[hit[on], start + column[on]] = 1.0
        start += levels.size


def _quotas(counts: np.ndarray, size: int) -> np.ndarray:
    """Largest-remainder share of `size` per class, at least 1 for every present class."""
    present = counts > 0
    exact = size * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    quota[present] = np.maximum(quota[present], 1)
    spare = size - quota.sum()
    if spare > 0:
        order = np.argsort(-(exact - quota), kind="stable")
        room = counts[order] > quota[order]
        quota[order[room][:spare]] += 1
    while spare < 0 and (quota > 1).any():  # the minimum of 1 overshot: trim the big classes
        order = np.argsort(exact - quota, kind="stable")
        trim = order[quota[order] > 1][:-spare]
        quota[trim] -= 1
        spare += trim.size
    return np.minimum(quota, counts)


def build_table(
    X: pd.DataFrame,
    y: pd.Series | np.ndarray,
    column_types: Mapping[str, str] | None,
    task_type: str,
    seed: int,
    limits: Limits,
) -> Table:
    """Validate the inputs and split the columns by kind; rows whose target is missing are dropped."""
    if task_type not in TASK_TYPES:
        raise ValueError(f"task_type={task_type!r}: use one of {TASK_TYPES}")
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X is a {type(X).__name__}: pass a pandas DataFrame")
    target = pd.Series(np.asarray(y)) if not isinstance(y, pd.Series) else y.reset_index(drop=True)
    if len(target) != len(X):
        raise ValueError(f"y has {len(target)} rows but X has {len(X)}: they must match")
    keep = target.notna().to_numpy()
    if not keep.all():
        X, target = X.iloc[keep], target[keep].reset_index(drop=True)
    if len(X) < 2:
        raise ValueError(f"{len(X)} rows with a target: meta-features need at least 2")
    numeric, categorical = _split_columns(X, column_types or {})
    if task_type == CLASSIFICATION:
        codes, _ = pd.factorize(target, sort=True)
        encoded = codes.astype(np.int64)
    else:
        try:
            encoded = pd.to_numeric(target, errors="raise").to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"regression target is not numeric ({error}); use task_type='classification'"
            ) from error
    return Table(X, numeric, categorical, encoded, task_type, seed, limits)


def _split_columns(
    X: pd.DataFrame, column_types: Mapping[str, str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    unknown = set(column_types) - set(map(str, X.columns))
    if unknown:
        raise ValueError(f"column_types names columns not in X: {sorted(unknown)[:5]}")
    numeric, categorical = [], []
    for name in X.columns:
        kind = column_types.get(str(name)) or _infer(X[name])
        if kind not in COLUMN_TYPES:
            raise ValueError(f"column {name!r} has type {kind!r}: use one of {COLUMN_TYPES}")
        if kind == "constant":
            kind = _infer(X[name])
        if kind == "numeric":
            numeric.append(name)
        elif kind in ("categorical", "boolean"):
            categorical.append(name)
    return tuple(numeric), tuple(categorical)


def _infer(column: pd.Series) -> str:
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "categorical"


__all__ = ["CLASSIFICATION", "COLUMN_TYPES", "REGRESSION", "Limits", "Table", "build_table"]
