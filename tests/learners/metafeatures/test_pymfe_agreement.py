"""Agreement with pymfe where both compute the same quantity (pymfe is a test-only dependency).

Conversions: pymfe summarises with the sample sd (ddof=1) where we use the population std, and its
default skewness/kurtosis are the bias-adjusted "type 3" estimators b1 = g1 ((n-1)/n)^1.5 and
b2 = (g2 + 3) (1 - 1/n)^2 - 3, where ours are scipy's g1, g2.
Tolerance: 1e-9 relative, except 1e-5 for what derives from the joint entropy, because pymfe adds
1e-8 to every cell of the joint probability table (empty cells included) and we do not.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from learners.metafeatures import extract
from tests.learners.metafeatures.conftest import load

pymfe_mfe = pytest.importorskip("pymfe.mfe")

FEATURES = ["nr_inst", "nr_attr", "nr_num", "nr_cat", "nr_class", "inst_to_attr", "attr_to_inst",
            "freq_class", "class_ent", "skewness", "kurtosis", "mean", "sd", "range", "iq_range",
            "cor", "cov", "nr_cor_attr", "sparsity", "nr_outliers", "attr_ent", "joint_ent",
            "mut_inf", "eq_num_attr", "ns_ratio", "naive_bayes", "linear_discr", "best_node",
            "one_nn"]  # fmt: skip


SMOOTHED_BY_PYMFE = {"joint_ent.mean", "mut_inf.mean", "eq_num_attr", "ns_ratio"}


def _pymfe(X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings(), threadpool_limits(1):  # threaded BLAS thrashes when busy
        warnings.simplefilter("ignore")
        mfe = pymfe_mfe.MFE(features=FEATURES, random_state=0, suppress_warnings=True)
        mfe.fit(X, y, suppress_warnings=True)
        names, values = mfe.extract(suppress_warnings=True)
    return dict(zip(names, map(float, values), strict=True))


def _pairs(ours: dict[str, float], n: int, k: int) -> list[tuple[str, float, str]]:
    """(pymfe name, our value converted to pymfe's definition, our name)."""
    shape = ((n - 1) / n) ** 1.5
    return [
        ("nr_inst", ours["nr_inst"], "nr_inst"),
        ("nr_attr", ours["nr_attr"], "nr_attr"),
        ("nr_class", ours["nr_class"], "nr_class"),
        ("inst_to_attr", ours["inv_dataset_ratio"], "inv_dataset_ratio"),
        ("attr_to_inst", ours["dataset_ratio"], "dataset_ratio"),
        ("freq_class.mean", ours["class_prob.mean"], "class_prob.mean"),
        ("freq_class.sd", ours["class_prob.std"] * np.sqrt(k / (k - 1)), "class_prob.std"),
        ("class_ent", ours["class_ent"], "class_ent"),
        ("skewness.mean", ours["skewness.mean"] * shape, "skewness.mean"),
        ("kurtosis.mean", (ours["kurtosis.mean"] + 3) * (1 - 1 / n) ** 2 - 3, "kurtosis.mean"),
        ("mean.mean", ours["mean.mean"], "mean.mean"),
        ("sd.mean", ours["sd.mean"], "sd.mean"),
        ("range.mean", ours["range.mean"], "range.mean"),
        ("iq_range.mean", ours["iq_range.mean"], "iq_range.mean"),
        ("cor.mean", ours["cor.mean"], "cor.mean"),
        ("cov.mean", ours["cov.mean"], "cov.mean"),
        ("nr_cor_attr", ours["nr_cor_attr"], "nr_cor_attr"),
        ("sparsity.mean", ours["sparsity.mean"], "sparsity.mean"),
        ("nr_outliers", ours["outlier_attr_frac"] * ours["nr_num"], "outlier_attr_frac"),
        ("attr_ent.mean", ours["attr_ent.mean"], "attr_ent.mean"),
        ("joint_ent.mean", ours["joint_ent.mean"], "joint_ent.mean"),
        ("mut_inf.mean", ours["mut_inf.mean"], "mut_inf.mean"),
        ("eq_num_attr", ours["eq_num_attr"], "eq_num_attr"),
        ("ns_ratio", ours["ns_ratio"], "ns_ratio"),
        ("naive_bayes.mean", ours["landmark.naive_bayes"], "landmark.naive_bayes"),
        ("linear_discr.mean", ours["landmark.lda"], "landmark.lda"),
        ("best_node.mean", ours["landmark.best_node"], "landmark.best_node"),
    ]


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_same_quantities_agree(name):
    X, y = load(name)
    ours = extract(X, y).values
    theirs = _pymfe(X.to_numpy(), y)
    k = np.unique(y).size
    for pymfe_name, value, our_name in _pairs(ours, len(y), k):
        rel = 1e-5 if pymfe_name in SMOOTHED_BY_PYMFE else 1e-9
        assert value == pytest.approx(theirs[pymfe_name], rel=rel, abs=1e-12), our_name


def test_one_nn_agrees_on_standardised_data(wine):
    # pymfe's 1-NN sees raw columns, ours standardised per fold: compare on standardised input
    X, y = wine
    z = (X - X.mean()) / X.std(ddof=0)
    ours = extract(z, y, groups=["landmarking"]).values["landmark.one_nn"]
    assert ours == pytest.approx(_pymfe(z.to_numpy(), y)["one_nn.mean"], abs=0.02)
