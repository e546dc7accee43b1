"""Golden values of the statistical group against numpy/scipy/scikit-learn computations of the formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from learners.metafeatures import Limits, extract
from learners.metafeatures.shared import sorted_quantiles
from learners.metafeatures.table import build_table
from tests.learners.metafeatures.conftest import load


def _lower(matrix: np.ndarray) -> np.ndarray:
    return np.abs(matrix[np.tril_indices(matrix.shape[0], k=-1)])


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_moments_dependence_and_quantiles_match_numpy(name):
    X, y = load(name)
    values = X.to_numpy()
    v = extract(X, y, groups=["statistical"]).values
    cor, cov = _lower(np.corrcoef(values, rowvar=False)), _lower(np.cov(values, rowvar=False))
    iqr = np.subtract(*np.percentile(values, [75, 25], axis=0))
    assert v["mean.max"] == pytest.approx(values.mean(axis=0).max())
    assert v["sd.mean"] == pytest.approx(values.std(axis=0, ddof=1).mean())
    assert v["range.min"] == pytest.approx(np.ptp(values, axis=0).min())
    assert v["cor.mean"] == pytest.approx(cor.mean())
    assert v["cor.max"] == pytest.approx(cor.max())
    assert v["cov.std"] == pytest.approx(cov.std())
    assert v["nr_cor_attr"] == pytest.approx((cor >= 0.5).mean())
    assert v["iq_range.mean"] == pytest.approx(iqr.mean())
    distinct = np.array([np.unique(col).size for col in values.T])
    n = values.shape[0]
    assert v["sparsity.max"] == pytest.approx(((n / distinct - 1) / (n - 1)).max())


@pytest.mark.parametrize("name", ["wine", "breast_cancer"])
def test_pca_matches_sklearn_on_standardised_data(name):
    X, y = load(name)
    v = extract(X, y, groups=["statistical"]).values
    z = StandardScaler().fit_transform(X.to_numpy())
    pca = PCA().fit(z)
    ratio = pca.explained_variance_ratio_
    needed = np.argmax(np.cumsum(ratio) >= 0.95) + 1
    first = pca.transform(z)[:, 0]
    assert v["pca.frac_95"] == pytest.approx(needed / X.shape[1])
    assert v["pca.explained_pc1"] == pytest.approx(ratio[0])
    # the sign of a component is arbitrary: skewness up to sign, kurtosis exactly
    from scipy import stats

    assert abs(v["pca.skewness_pc1"]) == pytest.approx(abs(stats.skew(first)), rel=1e-6)
    assert v["pca.kurtosis_pc1"] == pytest.approx(stats.kurtosis(first), rel=1e-6)


def test_outliers_follow_tukey_fences():
    x = np.concatenate([np.linspace(0, 1, 98), [10.0, -10.0]])
    X = pd.DataFrame({"x": x, "y": np.linspace(0, 1, 100)})
    v = extract(X, np.arange(100) % 2, groups=["statistical"]).values
    assert v["outlier_frac"] == pytest.approx(2 / 200)
    assert v["outlier_attr_frac"] == pytest.approx(0.5)


def test_zero_fraction_counts_present_values_only():
    X = pd.DataFrame({"x": [0.0, 0.0, 1.0, np.nan], "y": [0.0, 2.0, 3.0, 4.0]})
    v = extract(X, np.array([0, 1, 0, 1]), groups=["statistical"]).values
    assert v["zero_frac"] == pytest.approx(3 / 7)


def test_regression_target_correlation(diabetes):
    X, y = diabetes
    v = extract(X, y, task_type="regression", groups=["statistical"]).values
    expected = [abs(np.corrcoef(X[c], y)[0, 1]) for c in X.columns]
    assert v["target_cor.max"] == pytest.approx(max(expected))
    assert v["target_cor.mean"] == pytest.approx(np.mean(expected))


def test_sorted_quantiles_equal_numpy():
    rng = np.random.default_rng(3)
    x = np.sort(np.round(rng.normal(size=257), 1))  # ties on purpose
    q = np.linspace(0, 1, 11)
    np.testing.assert_array_equal(sorted_quantiles(x, q), np.quantile(x, q))


def test_large_tables_use_a_recorded_sample():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(3000, 3)), columns=list("abc"))
    X["c"] = X["a"] * 2 + rng.normal(scale=0.1, size=3000)
    y = rng.integers(0, 2, 3000)
    full = extract(X, y, groups=["statistical"]).values
    limits = Limits(sample_rows=1000, landmark_rows=500)
    sampled = extract(X, y, groups=["statistical"], limits=limits)
    assert sampled.sample_sizes["statistical"] == 1000 and sampled.sample_size == 1000
    assert sampled.values["cor.max"] == pytest.approx(full["cor.max"], abs=0.01)
    assert sampled.values["mean.mean"] == full["mean.mean"]  # moments use every row


def test_pca_of_a_wide_table_decomposes_the_row_gram_matrix():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(40, 3))
    values = base @ rng.normal(size=(3, 60)) + 0.1 * rng.normal(size=(40, 60))
    X = pd.DataFrame(values, columns=[f"c{j}" for j in range(60)])
    v = extract(X, np.arange(40) % 2, groups=["statistical"]).values
    pca = PCA().fit(StandardScaler().fit_transform(values))
    needed = np.argmax(np.cumsum(pca.explained_variance_ratio_) >= 0.95) + 1
    assert v["pca.explained_pc1"] == pytest.approx(pca.explained_variance_ratio_[0])
    assert v["pca.frac_95"] == pytest.approx(needed / 60)


def test_landmarkers_on_a_wide_table_use_a_column_subset():
    rng = np.random.default_rng(4)
    X = pd.DataFrame(rng.normal(size=(60, 300)), columns=[f"c{j}" for j in range(300)])
    y = (X.sum(axis=1) > 0).astype(int).to_numpy()
    capped = extract(X, y, groups=["landmarking"], limits=Limits(landmark_columns=20))
    full = extract(X, y, groups=["landmarking"])
    assert not capped.failures and 0 <= capped.values["landmark.lda"] <= 1
    assert capped.values["landmark.one_nn"] != full.values["landmark.one_nn"]


def test_each_estimate_reads_its_own_nested_sample():
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(3000, 3)), columns=list("abc"))
    X["c"] += X["a"]
    X.loc[rng.random(3000) < 0.05, "b"] = np.nan
    X["d"] = rng.choice(list("xyz"), 3000)
    y = rng.integers(0, 2, 3000)
    limits = Limits(sample_rows=1000, sort_rows=400, landmark_rows=200)
    sampled = extract(X, y, groups=["statistical"], seed=3, limits=limits)
    table = build_table(X, y, None, "classification", 3, limits)
    on_stats, on_sort = (extract(X.iloc[r], y[r], groups=["statistical"]).values
                         for r in (table.sample(1000), table.sample(400)))  # fmt: skip
    assert sampled.sample_sizes["statistical"] == 400
    for name in ("cor.mean", "cov.max", "nr_cor_attr", "pca.frac_95", "pca.explained_pc1",
                 "pca.kurtosis_pc1"):  # fmt: skip
        assert sampled.values[name] == pytest.approx(on_stats[name], rel=1e-9), name
    for name in ("iq_range.mean", "outlier_frac", "outlier_attr_frac", "sparsity.max"):
        assert sampled.values[name] == pytest.approx(on_sort[name], rel=1e-12), name
    assert sampled.values["mean.mean"] == pytest.approx(np.nanmean(X[list("abc")].to_numpy(), axis=0).mean())
