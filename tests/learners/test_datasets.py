"""Dataset loading (PMLB layout, scikit-learn bundles) and origin-group rules."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from learners.datasets import (
    SKLEARN_DATASETS,
    DatasetNotFoundError,
    DatasetRef,
    all_refs,
    catalog,
    from_frame,
    load_pmlb,
    load_sklearn,
    origin_group,
)

PMLB = Path(__file__).resolve().parents[3] / "shared/data/pmlb"


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("GAMETES_Epistasis_2_Way_20atts_0.1H_EDM_1_1", "gametes"),
        ("GAMETES_Heterogeneity_20atts_1600_Het_0.4_0.2_50_EDM_2_001", "gametes"),
        ("1193_BNG_lowbwt", "bng"),
        ("1199_BNG_echoMonths", "bng"),
        ("594_fri_c2_100_5", "friedman"),
        ("588_fri_c4_1000_100", "friedman"),
        ("197_cpu_act", "cpu"),
        ("562_cpu_small", "cpu"),
        ("561_cpu", "cpu"),
        ("230_machine_cpu", "cpu"),
        ("hypothyroid", "thyroid"),
        ("allbp", "thyroid"),
        ("new_thyroid", "thyroid"),
        ("monk2", "monks"),
        ("mushroom", "mushroom"),
        ("agaricus_lepiota", "mushroom"),
        ("splice", "splice"),
        ("dna", "splice"),
        ("analcatdata_dmft", "analcatdata"),
        ("556_analcatdata_apnea2", "analcatdata"),
        ("iris", "iris"),
        ("sklearn_iris", "iris"),
        ("sklearn_digits", "digits"),
        ("optdigits", "digits"),
        ("wine_recognition", "wine_recognition"),
        ("sklearn_wine", "wine_recognition"),
        ("sklearn_breast_cancer", "breast_cancer_wisconsin"),
        ("breast_cancer", "breast_cancer"),
        ("1027_ESL", "lev_esl_swd_era"),
        ("503_wind", "wind"),
        ("sklearn_diabetes", "diabetes"),
        ("Hill_Valley_with_noise", "hill_valley"),
    ],
)
def test_origin_group_rules(name, group):
    assert origin_group(name) == group


def _write_pmlb(root: Path, name: str) -> None:
    frame = pd.DataFrame(
        {"a": [1.0, np.nan, 3.0, 4.0], "colour": [0, 1, 1, 2], "flag": [0, 1, 0, 1], "target": [0, 1, 0, 1]}
    )
    with gzip.open(root / f"{name}.tsv.gz", "wt") as f:
        frame.to_csv(f, sep="\t", index=False)
    (root / f"{name}.yaml").write_text(
        "dataset: toy\ntask: classification\nfeatures:\n"
        "  - name: a\n    type: continuous\n"
        "  - name: colour\n    type: categorical\n"
        "  - name: flag\n    type: binary\n"
        "target:\n  type: categorical\n"
    )


def test_load_pmlb_reads_types_task_and_target(tmp_path):
    _write_pmlb(tmp_path, "123_fri_c0_4_3")
    data = load_pmlb("123_fri_c0_4_3", tmp_path)
    assert data.X.shape == (4, 3)
    assert data.column_types == {"a": "numeric", "colour": "categorical", "flag": "numeric"}
    assert data.task_type == "classification"
    assert np.isnan(data.X["a"][1])
    assert list(data.y) == [0, 1, 0, 1]
    assert (data.source, data.origin_group) == ("pmlb", "friedman")
    assert DatasetRef("123_fri_c0_4_3", "pmlb", str(tmp_path)).load().X.equals(data.X)


def test_missing_dataset_names_the_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="nope"):
        load_pmlb("nope", tmp_path)
    with pytest.raises(DatasetNotFoundError, match="sklearn_iris"):
        load_sklearn("sklearn_nope")


def test_sklearn_bundles():
    iris = load_sklearn("sklearn_iris")
    assert iris.X.shape == (150, 4) and iris.task_type == "classification"
    diabetes = load_sklearn("diabetes")
    assert diabetes.name == "sklearn_diabetes" and diabetes.task_type == "regression"
    assert set(diabetes.column_types.values()) == {"numeric"}
    assert len(SKLEARN_DATASETS) == 5


@pytest.mark.skipif(not PMLB.exists(), reason="shared PMLB folder not present")
def test_real_pmlb_dataset_and_listing():
    data = load_pmlb("1027_ESL", PMLB)
    assert data.X.shape == (488, 4)
    assert data.task_type == "regression"
    assert set(data.column_types.values()) == {"categorical"}
    refs = all_refs(PMLB)
    assert len(refs) == 196 + 5


def test_catalog_sizes_without_an_index_file(tmp_path):
    _write_pmlb(tmp_path, "toy")
    entries = catalog(tmp_path)
    assert entries[0] == (DatasetRef("toy", "pmlb", str(tmp_path)), "classification", 4, 3)
    assert [e[0].name for e in entries[1:]] == list(SKLEARN_DATASETS)
    assert catalog(tmp_path, include_sklearn=False) == entries[:1]


def test_from_frame_infers_types_task_and_drops_unlabelled_rows():
    frame = pd.DataFrame(
        {
            "size": [1.5, 2.0, np.nan, 4.0],
            "city": ["a", "b", "a", None],
            "n": [1, 2, 3, 4],
            "label": ["yes", "no", None, "yes"],
        }
    )
    data = from_frame(frame, "label", name="mine")
    assert data.column_types == {"size": "numeric", "city": "categorical", "n": "numeric"}
    assert data.task_type == "classification"
    assert list(data.y) == ["yes", "no", "yes"]
    assert data.X.shape == (3, 3)
    reg = from_frame(frame.assign(price=[1.1, 2.2, 3.3, 4.4]).drop(columns="label"), "price")
    assert reg.task_type == "regression"
    with pytest.raises(ValueError, match="'missing'"):
        from_frame(frame, "missing")
