"""Statistical meta-features: column moments, correlation and covariance, PCA, outliers, sparsity."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from learners.metafeatures.general import ColumnScan
from learners.metafeatures.registry import REGISTRY, REGRESSION, NotApplicable
from learners.metafeatures.shared import SortedSample
from learners.metafeatures.table import Table

GROUP = "statistical"


# --- per-column moments on all rows (from the general scan) -------------------------------------


@REGISTRY.helper("col_mean", requires=("scan",))
def col_mean(scan: ColumnScan) -> np.ndarray:
    return scan.mean


@REGISTRY.helper("col_sd", requires=("scan",))
def col_sd(scan: ColumnScan) -> np.ndarray:
    """Sample standard deviation (ddof=1) of each numeric column."""
    with np.errstate(all="ignore"):
        return scan.std * np.sqrt(scan.count / (scan.count - 1))


@REGISTRY.helper("col_range", requires=("scan",))
def col_range(scan: ColumnScan) -> np.ndarray:
    return scan.maximum - scan.minimum


@REGISTRY.helper("col_cv", requires=("scan",))
def col_cv(scan: ColumnScan) -> np.ndarray:
    """Coefficient of variation std / |mean| of each numeric column: a scale-free spread."""
    with np.errstate(all="ignore"):
        return np.where(scan.mean != 0, scan.std / np.abs(scan.mean), np.nan)


REGISTRY.summary("mean", GROUP, "col_mean")
REGISTRY.summary("sd", GROUP, "col_sd")
REGISTRY.summary("range", GROUP, "col_range")
REGISTRY.summary("cv", GROUP, "col_cv")


@REGISTRY.feature("zero_frac", GROUP, ("scan",))
def zero_frac(scan: ColumnScan) -> float:
    """Fraction of the present numeric values that are exactly 0 (sparsity of the data matrix)."""
    present = scan.count.sum()
    if present == 0:
        raise NotApplicable("no numeric value")
    return float(scan.zeros.sum() / present)


# --- correlation and covariance (statistics sample) ---------------------------------------------


@dataclass(frozen=True)
class Centred:
    """The statistics sample mean-imputed and centred, and its cross-product matrix `values.T @ values`.

    The first `n_numeric` columns are the numeric ones (constant ones included); when the PCA reads
    the same rows (`for_pca`), the one-hot columns of `Table.design_matrix` follow, so that one
    product serves both the correlations and the PCA. `varying` marks the non-constant columns.
    """

    values: np.ndarray
    cross: np.ndarray
    varying: np.ndarray
    n_numeric: int
    for_pca: bool
    rows: np.ndarray | None


@REGISTRY.helper("centred", requires=("table", "scan"))
def centred(table: Table, scan: ColumnScan) -> Centred:
    rows = table.sample(table.limits.sample_rows)
    n = table.n_rows if rows is None else rows.shape[0]
    out = np.empty((n, len(table.numeric)), dtype=np.float64, order="F")
    varying = np.zeros(len(table.numeric), dtype=bool)
    for j, name in enumerate(table.numeric):
        x = table.numeric_column(name, rows)
        if rows is None:  # every row: the scan has these already
            mean, lo, hi = scan.mean[j], scan.minimum[j], scan.maximum[j]
            missing = scan.missing_per_column[j] > 0
        else:
            mean, lo, hi, missing = _present_summary(x)
        np.subtract(x, mean, out=out[:, j])
        if missing:
            out[np.isnan(x), j] = 0.0  # mean imputation
        # imputed values lie within the present ones: constant after imputation iff min == max
        varying[j] = lo < hi
    for_pca = table.sample(_pca_rows(table)) is rows  # samples of one size are cached
    if for_pca and table.categorical:
        onehot = table.onehot_matrix(rows)
        out = np.hstack([out, onehot - onehot.mean(axis=0)])
        varying = np.concatenate([varying, np.ones(onehot.shape[1], dtype=bool)])
    return Centred(out, out.T @ out, varying, len(table.numeric), for_pca, rows)


def _present_summary(x: np.ndarray) -> tuple[float, float, float, bool]:
    """Mean, min and max of the present values of `x`, and whether any is missing."""
    mean = float(x.mean())
    if math.isfinite(mean):
        return mean, float(x.min()), float(x.max()), False
    # a non-finite mean tells of a missing (or infinite) value: only then look for the holes
    missing = bool(np.isnan(x).any())
    return float(np.nanmean(x)), float(np.fmin.reduce(x)), float(np.fmax.reduce(x)), missing


@dataclass(frozen=True)
class Dependence:
    """Pairwise |correlation| and |covariance| of the numeric columns (lower triangles, mean-imputed)."""

    abs_cor: np.ndarray
    abs_cov: np.ndarray
    n_columns: int


@REGISTRY.helper("dependence", requires=("centred",))
def dependence(c: Centred) -> Dependence:
    p = c.n_numeric
    if p < 2:
        raise NotApplicable(f"{p} numeric column: pairs need 2")
    cov = c.cross[:p, :p] / (c.values.shape[0] - 1)
    sd = np.sqrt(np.diag(cov))
    with np.errstate(all="ignore"):
        cor = cov / np.outer(sd, sd)
    lower = np.tril_indices(p, k=-1)
    return Dependence(np.abs(cor[lower]), np.abs(cov[lower]), p)


REGISTRY.helper("abs_cor", requires=("dependence",))(lambda d: d.abs_cor)
REGISTRY.helper("abs_cov", requires=("dependence",))(lambda d: d.abs_cov)
REGISTRY.summary("cor", GROUP, "abs_cor")
REGISTRY.summary("cov", GROUP, "abs_cov")


@REGISTRY.feature("nr_cor_attr", GROUP, ("dependence",))
def nr_cor_attr(dep: Dependence) -> float:
    """Fraction of column pairs with |correlation| >= 0.5 (pymfe's normalised nr_cor_attr)."""
    finite = dep.abs_cor[np.isfinite(dep.abs_cor)]
    if finite.size == 0:
        raise NotApplicable("no pair of non-constant numeric columns")
    return float(np.count_nonzero(finite >= 0.5) / dep.abs_cor.size)


@REGISTRY.helper("target_cor", requires=("table", "centred"))
def target_cor(table: Table, c: Centred) -> np.ndarray:
    """|Pearson correlation| of each numeric column with the (regression) target."""
    y = table.y if c.rows is None else table.y[c.rows]
    x = c.values[:, : c.n_numeric]
    yc = y - y.mean()
    with np.errstate(all="ignore"):
        return np.abs(x.T @ yc) / np.sqrt(np.diag(c.cross)[: c.n_numeric] * (yc @ yc))


REGISTRY.summary("target_cor", GROUP, "target_cor", (REGRESSION,))


# --- PCA of the standardised design matrix (statistics sample) ----------------------------------


@dataclass(frozen=True)
class Pca:
    """Explained-variance ratios of the standardised design matrix, shape of the first component's scores."""

    explained_ratio: np.ndarray
    skewness_pc1: float
    kurtosis_pc1: float
    rows: int


def _pca_rows(table: Table) -> int:
    # the widest the design can be bounds the rows up front (samples are nested)
    widest = len(table.numeric) + len(table.categorical) * table.limits.max_onehot_levels
    return table.limits.pca_rows(widest)


@REGISTRY.helper("pca", requires=("table", "centred"))
def pca(table: Table, c: Centred) -> Pca:
    keep = np.nonzero(c.varying)[0]
    if not c.for_pca or keep.size > c.values.shape[0]:  # other rows, or wide: see _pca_of
        return _pca_of(table.design_matrix(table.sample(_pca_rows(table))))
    if keep.size == 0:
        raise NotApplicable("no non-constant column for PCA")
    # the correlation matrix of the kept columns is Z'Z/n for the standardised design Z
    scale = np.sqrt(np.diag(c.cross)[keep])
    eigval, eigvec = np.linalg.eigh(c.cross[np.ix_(keep, keep)] / np.outer(scale, scale))
    weights = np.zeros(c.values.shape[1])  # zero for the constant columns: no copy of the kept ones
    weights[keep] = eigvec[:, int(np.argmax(eigval))] / scale
    return _pca_result(eigval, c.values @ weights, keep.size, c.values.shape[0])  # scores up to scale


def _pca_of(design: np.ndarray) -> Pca:
    if design.shape[1] == 0:
        raise NotApplicable("no non-constant column for PCA")
    z = (design - design.mean(axis=0)) / design.std(axis=0)
    # the non-zero spectrum of Z'Z equals that of ZZ': decompose the smaller one
    wide = z.shape[1] > z.shape[0]
    eigval, eigvec = np.linalg.eigh((z @ z.T if wide else z.T @ z) / z.shape[0])
    top = int(np.argmax(eigval))
    first = eigvec[:, top] if wide else z @ eigvec[:, top]  # scores up to scale: enough for shape
    return _pca_result(eigval, first, design.shape[1], z.shape[0])


def _pca_result(eigval: np.ndarray, first: np.ndarray, n_columns: int, n_rows: int) -> Pca:
    eigval = np.sort(np.clip(eigval, 0.0, None))[::-1][:n_columns]
    ratio = np.zeros(n_columns)
    ratio[: eigval.size] = eigval / eigval.sum()
    s = first - first.mean()
    s2 = s * s
    m2 = s2.mean()
    return Pca(ratio, float(s2 @ s / s.size / m2**1.5), float(s2 @ s2 / s.size / m2**2 - 3.0), n_rows)


@REGISTRY.feature("pca.frac_95", GROUP, ("pca",))
def pca_frac_95(p: Pca) -> float:
    """Fraction of the principal components needed to explain 95% of the variance (auto-sklearn)."""
    needed = int(np.searchsorted(np.cumsum(p.explained_ratio), 0.95 - 1e-12) + 1)
    return min(needed, p.explained_ratio.size) / p.explained_ratio.size


REGISTRY.feature("pca.explained_pc1", GROUP, ("pca",))(lambda p: p.explained_ratio[0])


REGISTRY.feature("pca.skewness_pc1", GROUP, ("pca",))(lambda p: p.skewness_pc1)
REGISTRY.feature("pca.kurtosis_pc1", GROUP, ("pca",))(lambda p: p.kurtosis_pc1)


# --- quantile-based: spread, outliers, sparsity (statistics sample) -----------------------------


@dataclass(frozen=True)
class Quantiles:
    """Per numeric column of the sample: quartiles, Tukey-fence outlier count, distinct values."""

    q1: np.ndarray
    q3: np.ndarray
    outliers: np.ndarray
    present: np.ndarray
    distinct: np.ndarray


@REGISTRY.helper("quantiles", requires=("sorted_sample",))
def quantiles(ordered: SortedSample) -> Quantiles:
    present = ordered.present
    q1, q3 = np.full(present.size, np.nan), np.full(present.size, np.nan)
    outliers, distinct = np.zeros(present.size), np.zeros(present.size)
    for j, n in enumerate(present):
        if n == 0:
            continue
        col = ordered.values[:n, j]
        q1[j], q3[j] = ordered.quantiles(j, np.array([0.25, 0.75]))
        fence = 1.5 * (q3[j] - q1[j])
        # sorted, so the outliers are the head below the low fence and the tail above the high one
        outliers[j] = (
            np.searchsorted(col, q1[j] - fence) + n - np.searchsorted(col, q3[j] + fence, side="right")
        )
        distinct[j] = 1 + np.count_nonzero(col[1:] != col[:-1])
    return Quantiles(q1, q3, outliers, present, distinct)


REGISTRY.helper("iq_range", requires=("quantiles",))(lambda q: q.q3 - q.q1)
REGISTRY.summary("iq_range", GROUP, "iq_range")


@REGISTRY.feature("outlier_frac", GROUP, ("quantiles",))
def outlier_frac(q: Quantiles) -> float:
    """Fraction of present numeric values outside the Tukey fences (1.5 IQR beyond the quartiles)."""
    if q.present.sum() == 0:
        raise NotApplicable("no numeric value")
    return float(q.outliers.sum() / q.present.sum())


@REGISTRY.feature("outlier_attr_frac", GROUP, ("quantiles",))
def outlier_attr_frac(q: Quantiles) -> float:
    """Fraction of numeric columns with at least one Tukey outlier (pymfe's nr_outliers / nr_num)."""
    if q.outliers.size == 0:
        raise NotApplicable("no numeric column")
    return float(np.count_nonzero(q.outliers) / q.outliers.size)


@REGISTRY.helper("sparsity", requires=("quantiles",))
def sparsity(q: Quantiles) -> np.ndarray:
    """pymfe's sparsity per column: (n / distinct - 1) / (n - 1), 0 when all values differ."""
    with np.errstate(all="ignore"):
        return (q.present / q.distinct - 1.0) / (q.present - 1.0)


REGISTRY.summary("sparsity", GROUP, "sparsity")
