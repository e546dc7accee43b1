"""General meta-features: the auto-sklearn 1.x simple set (sizes, missing values, classes, symbols)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from learners.metafeatures.registry import (
    CLASSIFICATION,
    REGISTRY,
    REGRESSION,
    NotApplicable,
)
from learners.metafeatures.table import Table

GROUP = "general"

# our name -> auto-sklearn 1.x name, for the simple meta-features auto-sklearn computes
# (the class ones, marked by CLASS_ONLY, only for classification: 37 vs 31 features)
AUTOSKLEARN_NAMES = {
    "nr_inst": "NumberOfInstances",
    "log_nr_inst": "LogNumberOfInstances",
    "nr_class": "NumberOfClasses",
    "nr_attr": "NumberOfFeatures",
    "log_nr_attr": "LogNumberOfFeatures",
    "nr_inst_with_missing": "NumberOfInstancesWithMissingValues",
    "pct_inst_with_missing": "PercentageOfInstancesWithMissingValues",
    "nr_attr_with_missing": "NumberOfFeaturesWithMissingValues",
    "pct_attr_with_missing": "PercentageOfFeaturesWithMissingValues",
    "nr_missing": "NumberOfMissingValues",
    "pct_missing": "PercentageOfMissingValues",
    "nr_num": "NumberOfNumericFeatures",
    "nr_cat": "NumberOfCategoricalFeatures",
    "ratio_num_to_cat": "RatioNumericalToNominal",
    "ratio_cat_to_num": "RatioNominalToNumerical",
    "dataset_ratio": "DatasetRatio",
    "log_dataset_ratio": "LogDatasetRatio",
    "inv_dataset_ratio": "InverseDatasetRatio",
    "log_inv_dataset_ratio": "LogInverseDatasetRatio",
    "class_prob.min": "ClassProbabilityMin",
    "class_prob.max": "ClassProbabilityMax",
    "class_prob.mean": "ClassProbabilityMean",
    "class_prob.std": "ClassProbabilitySTD",
    "symbols.min": "SymbolsMin",
    "symbols.max": "SymbolsMax",
    "symbols.mean": "SymbolsMean",
    "symbols.std": "SymbolsSTD",
    "symbols.sum": "SymbolsSum",
    "kurtosis.min": "KurtosisMin",
    "kurtosis.max": "KurtosisMax",
    "kurtosis.mean": "KurtosisMean",
    "kurtosis.std": "KurtosisSTD",
    "skewness.min": "SkewnessMin",
    "skewness.max": "SkewnessMax",
    "skewness.mean": "SkewnessMean",
    "skewness.std": "SkewnessSTD",
    "class_ent": "ClassEntropy",
}
CLASS_ONLY = frozenset({"nr_class", "class_prob.min", "class_prob.max", "class_prob.mean",
                        "class_prob.std", "class_ent"})  # fmt: skip
CLS = (CLASSIFICATION,)
REG = (REGRESSION,)


@dataclass(frozen=True)
class ColumnScan:
    """One pass over every column on all rows: missing values, moments of numeric, levels of categorical.

    Moment arrays have one entry per numeric column (NaN for a constant or empty column);
    `symbols` one entry per categorical column (distinct non-missing values).
    """

    n_rows: int
    missing_per_column: np.ndarray
    rows_with_missing: int
    count: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    skewness: np.ndarray
    kurtosis: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    zeros: np.ndarray
    n_binary: int
    symbols: np.ndarray


def _moments(x: np.ndarray) -> tuple[int, float, float, float, float, float, float, int, int]:
    """count, mean, std, skewness, kurtosis (Fisher, biased as scipy's defaults), min, max, zeros, missing."""
    total, n_missing = float(x.sum()), 0
    if not math.isfinite(total):  # a NaN (missing) or infinite value: only then count the missing
        missing = np.isnan(x)
        n_missing = int(missing.sum())
        if n_missing:
            x = x[~missing]
            total = float(x.sum())
    n = x.shape[0]
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, n_missing
    mean = total / n
    d = x - mean
    d2 = d * d
    m2 = float(d2.sum()) / n
    m3 = float(np.dot(d2, d)) / n
    m4 = float(np.dot(d2, d2)) / n
    lo, hi = float(x.min()), float(x.max())
    zeros = int(np.count_nonzero(x == 0.0)) if lo <= 0.0 <= hi else 0
    # a column whose spread is rounding noise has no defined shape, as in scipy
    if m2 <= (np.finfo(float).eps * max(abs(mean), 1e-300)) ** 2 or lo == hi:
        return n, mean, math.sqrt(m2), math.nan, math.nan, lo, hi, zeros, n_missing
    skew = m3 / m2**1.5
    kurt = m4 / m2**2 - 3.0
    return n, mean, math.sqrt(m2), skew, kurt, lo, hi, zeros, n_missing


@REGISTRY.helper("scan", requires=("table",))
def column_scan(table: Table) -> ColumnScan:
    n_num = len(table.numeric)
    moments = np.full((n_num, 9), np.nan)
    row_missing = np.zeros(table.n_rows, dtype=bool)
    n_binary = 0
    for i, name in enumerate(table.numeric):
        x = table.numeric_column(name)
        moments[i] = _moments(x)
        if moments[i, 8] > 0:
            row_missing |= np.isnan(x)
        n_binary += _is_binary(x, *moments[i, [1, 2, 5, 6]]) if moments[i, 0] > 0 else 0
    symbols = np.zeros(len(table.categorical))
    cat_missing = np.zeros(len(table.categorical))
    for j, name in enumerate(table.categorical):
        codes = table.category_codes(name)
        absent = codes < 0
        cat_missing[j] = absent.sum()
        if cat_missing[j]:
            row_missing |= absent
        symbols[j] = codes.max() + 1 if codes.size else 0
        n_binary += int(symbols[j] == 2)
    return ColumnScan(
        n_rows=table.n_rows,
        missing_per_column=np.concatenate([moments[:, 8], cat_missing]),
        rows_with_missing=int(row_missing.sum()),
        count=moments[:, 0],
        mean=moments[:, 1],
        std=moments[:, 2],
        skewness=moments[:, 3],
        kurtosis=moments[:, 4],
        minimum=moments[:, 5],
        maximum=moments[:, 6],
        zeros=moments[:, 7],
        n_binary=n_binary,
        symbols=symbols,
    )


def _is_binary(x: np.ndarray, mean: float, std: float, lo: float, hi: float) -> bool:
    """Whether the finite values of `x` take exactly two values (the moments are of its present values)."""
    # Bhatia-Davis: var <= (hi - mean)(mean - lo), with equality only for two values; most
    # columns fall well short, which saves the element-wise test
    bounded = np.isfinite(lo) and np.isfinite(hi)
    if bounded and (lo == hi or std * std < (1 - 1e-6) * (hi - mean) * (mean - lo)):
        return False
    x = x[np.isfinite(x)]
    lo, hi = x.min(), x.max()
    return bool(lo != hi and np.all((x == lo) | (x == hi)))


# --- sizes --------------------------------------------------------------------------------------

REGISTRY.feature("nr_inst", GROUP, ("table",))(lambda t: t.n_rows)
REGISTRY.feature("log_nr_inst", GROUP, ("table",))(lambda t: math.log(t.n_rows))
REGISTRY.feature("nr_attr", GROUP, ("table",))(lambda t: t.n_features)


@REGISTRY.feature("log_nr_attr", GROUP, ("table",))
def log_nr_attr(table: Table) -> float:
    if table.n_features == 0:
        raise NotApplicable("no feature column")
    return math.log(table.n_features)


@REGISTRY.feature("dataset_ratio", GROUP, ("table",))
def dataset_ratio(table: Table) -> float:
    return table.n_features / table.n_rows


@REGISTRY.feature("log_dataset_ratio", GROUP, ("table",))
def log_dataset_ratio(table: Table) -> float:
    return math.log(dataset_ratio(table)) if table.n_features else _no_features()


@REGISTRY.feature("inv_dataset_ratio", GROUP, ("table",))
def inv_dataset_ratio(table: Table) -> float:
    return table.n_rows / table.n_features if table.n_features else _no_features()


@REGISTRY.feature("log_inv_dataset_ratio", GROUP, ("table",))
def log_inv_dataset_ratio(table: Table) -> float:
    return math.log(inv_dataset_ratio(table))


def _no_features() -> float:
    raise NotApplicable("no feature column")


# --- feature kinds ------------------------------------------------------------------------------

REGISTRY.feature("nr_num", GROUP, ("table",))(lambda t: len(t.numeric))
REGISTRY.feature("nr_cat", GROUP, ("table",))(lambda t: len(t.categorical))
REGISTRY.feature("nr_bin", GROUP, ("scan",))(lambda s: s.n_binary)


@REGISTRY.feature("ratio_num_to_cat", GROUP, ("table",))
def ratio_num_to_cat(table: Table) -> float:
    # auto-sklearn's convention: 0 when the denominator is 0
    return len(table.numeric) / len(table.categorical) if table.categorical else 0.0


@REGISTRY.feature("ratio_cat_to_num", GROUP, ("table",))
def ratio_cat_to_num(table: Table) -> float:
    return len(table.categorical) / len(table.numeric) if table.numeric else 0.0


# --- missing values -----------------------------------------------------------------------------


@REGISTRY.feature("nr_inst_with_missing", GROUP, ("scan",))
def nr_inst_with_missing(scan: ColumnScan) -> float:
    return scan.rows_with_missing


@REGISTRY.feature("pct_inst_with_missing", GROUP, ("scan",))
def pct_inst_with_missing(scan: ColumnScan) -> float:
    return scan.rows_with_missing / scan.n_rows


@REGISTRY.feature("nr_attr_with_missing", GROUP, ("scan",))
def nr_attr_with_missing(scan: ColumnScan) -> float:
    return int(np.count_nonzero(scan.missing_per_column))


@REGISTRY.feature("pct_attr_with_missing", GROUP, ("scan",))
def pct_attr_with_missing(scan: ColumnScan) -> float:
    if scan.missing_per_column.size == 0:
        raise NotApplicable("no feature column")
    return nr_attr_with_missing(scan) / scan.missing_per_column.size


@REGISTRY.feature("nr_missing", GROUP, ("scan",))
def nr_missing(scan: ColumnScan) -> float:
    return float(scan.missing_per_column.sum())


@REGISTRY.feature("pct_missing", GROUP, ("scan",))
def pct_missing(scan: ColumnScan) -> float:
    if scan.missing_per_column.size == 0:
        raise NotApplicable("no feature column")
    return nr_missing(scan) / (scan.n_rows * scan.missing_per_column.size)


# --- classes (classification) -------------------------------------------------------------------

REGISTRY.feature("nr_class", GROUP, ("table",), CLS)(lambda t: int(np.count_nonzero(t.class_counts)))


@REGISTRY.helper("class_prob", requires=("table",))
def class_prob(table: Table) -> np.ndarray:
    counts = table.class_counts
    return counts[counts > 0] / table.n_rows


REGISTRY.summary("class_prob", GROUP, "class_prob", CLS)


@REGISTRY.feature("class_ent", GROUP, ("class_prob",), CLS)
def class_ent(prob: np.ndarray) -> float:
    """Shannon entropy of the class distribution, in bits."""
    return float(-(prob * np.log2(prob)).sum())


# --- target (regression) ------------------------------------------------------------------------


@REGISTRY.helper("target_moments", requires=("table",))
def target_moments(table: Table) -> tuple[float, ...]:
    return _moments(table.y.astype(np.float64, copy=False))


REGISTRY.feature("target.mean", GROUP, ("target_moments",), REG)(lambda m: m[1])
REGISTRY.feature("target.std", GROUP, ("target_moments",), REG)(lambda m: m[2])
REGISTRY.feature("target.skewness", GROUP, ("target_moments",), REG)(lambda m: m[3])
REGISTRY.feature("target.kurtosis", GROUP, ("target_moments",), REG)(lambda m: m[4])
REGISTRY.feature("target.min", GROUP, ("target_moments",), REG)(lambda m: m[5])
REGISTRY.feature("target.max", GROUP, ("target_moments",), REG)(lambda m: m[6])


@REGISTRY.feature("target.cv", GROUP, ("target_moments",), REG)
def target_cv(moments: tuple[float, ...]) -> float:
    """Coefficient of variation std / |mean|: scale-free spread of the target."""
    if moments[1] == 0:
        raise NotApplicable("target mean is 0")
    return moments[2] / abs(moments[1])


@REGISTRY.feature("target.nr_unique_ratio", GROUP, ("table",), REG)
def target_unique_ratio(table: Table) -> float:
    """Distinct target values per row: near 0 for an ordinal-like target, 1 for a continuous one."""
    return np.unique(table.y).size / table.n_rows


# --- symbols and shape of the columns -----------------------------------------------------------


def _symbols(stat: str):
    def symbols(scan: ColumnScan) -> float:
        # auto-sklearn's convention: 0 when there is no categorical column
        values = scan.symbols
        if values.size == 0:
            return 0.0
        return float(getattr(np, stat)(values))

    return symbols


for _stat in ("min", "max", "mean", "std", "sum"):
    REGISTRY.feature(f"symbols.{_stat}", GROUP, ("scan",))(_symbols(_stat))

REGISTRY.helper("skewness", requires=("scan",))(lambda s: s.skewness)
REGISTRY.helper("kurtosis", requires=("scan",))(lambda s: s.kurtosis)
REGISTRY.summary("skewness", GROUP, "skewness")
REGISTRY.summary("kurtosis", GROUP, "kurtosis")
