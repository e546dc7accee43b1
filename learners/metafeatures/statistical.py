"""Statistical meta-features: column moments, correlation and covariance, PCA, outliers, sparsity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from learners.metafeatures.general import ColumnScan
from learners.metafeatures.registry import REGISTRY, REGRESSION, NotApplicable
from learners.metafeatures.shared import NumericSample, SortedSample
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
class Dependence:
    """Pairwise |correlation| and |covariance| of the numeric columns (lower triangles, mean-imputed)."""

    abs_cor: np.ndarray
    abs_cov: np.ndarray
    n_columns: int


@REGISTRY.helper("dependence", requires=("numeric_sample",))
def dependence(sample: NumericSample) -> Dependence:
    values = sample.values
    if values.shape[1] < 2:
        raise NotApplicable(f"{values.shape[1]} numeric column: pairs need 2")
    centred = values - np.nanmean(values, axis=0)
    centred[np.isnan(centred)] = 0.0  # mean imputation
    cov = centred.T @ centred / (values.shape[0] - 1)
    sd = np.sqrt(np.diag(cov))
    with np.errstate(all="ignore"):
        cor = cov / np.outer(sd, sd)
    lower = np.tril_indices(values.shape[1], k=-1)
    return Dependence(np.abs(cor[lower]), np.abs(cov[lower]), values.shape[1])


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


@REGISTRY.helper("target_cor", requires=("table", "numeric_sample"))
def target_cor(table: Table, sample: NumericSample) -> np.ndarray:
    """|Pearson correlation| of each numeric column with the (regression) target."""
    y = table.y if sample.rows is None else table.y[sample.rows]
    x = sample.values - np.nanmean(sample.values, axis=0)
    x[np.isnan(x)] = 0.0
    yc = y - y.mean()
    with np.errstate(all="ignore"):
        return np.abs(x.T @ yc) / np.sqrt((x * x).sum(axis=0) * (yc @ yc))


REGISTRY.summary("target_cor", GROUP, "target_cor", (REGRESSION,))


# --- PCA of the standardised design matrix (statistics sample) ----------------------------------


@dataclass(frozen=True)
class Pca:
    """Explained-variance ratios of the standardised design matrix and first-component scores."""

    explained_ratio: np.ndarray
    first_scores: np.ndarray
    rows: int


@REGISTRY.helper("pca", requires=("table",))
def pca(table: Table) -> Pca:
    # the widest the design can be bounds the rows up front (samples are nested)
    widest = len(table.numeric) + len(table.categorical) * table.limits.max_onehot_levels
    design = table.design_matrix(table.sample(table.limits.pca_rows(widest)))
    if design.shape[1] == 0:
        raise NotApplicable("no non-constant column for PCA")
    z = (design - design.mean(axis=0)) / design.std(axis=0)
    # the non-zero spectrum of Z'Z equals that of ZZ': decompose the smaller one
    wide = z.shape[1] > z.shape[0]
    eigval, eigvec = np.linalg.eigh((z @ z.T if wide else z.T @ z) / z.shape[0])
    top = int(np.argmax(eigval))
    first = eigvec[:, top] if wide else z @ eigvec[:, top]  # scores up to scale: enough for shape
    eigval = np.sort(np.clip(eigval, 0.0, None))[::-1][: z.shape[1]]
    ratio = np.zeros(design.shape[1])
    ratio[: eigval.size] = eigval / eigval.sum()
    return Pca(ratio, first, z.shape[0])


@REGISTRY.feature("pca.frac_95", GROUP, ("pca",))
def pca_frac_95(p: Pca) -> float:
    """Fraction of the principal components needed to explain 95% of the variance (auto-sklearn)."""
    needed = int(np.searchsorted(np.cumsum(p.explained_ratio), 0.95 - 1e-12) + 1)
    return min(needed, p.explained_ratio.size) / p.explained_ratio.size


REGISTRY.feature("pca.explained_pc1", GROUP, ("pca",))(lambda p: p.explained_ratio[0])


@REGISTRY.feature("pca.skewness_pc1", GROUP, ("pca",))
def pca_skewness_pc1(p: Pca) -> float:
    s = p.first_scores - p.first_scores.mean()
    return float(np.mean(s**3) / np.mean(s**2) ** 1.5)


@REGISTRY.feature("pca.kurtosis_pc1", GROUP, ("pca",))
def pca_kurtosis_pc1(p: Pca) -> float:
    s = p.first_scores - p.first_scores.mean()
    return float(np.mean(s**4) / np.mean(s**2) ** 2 - 3.0)


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
