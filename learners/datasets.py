"""Dataset loading (PMLB folders, scikit-learn's bundled sets) and origin-group tagging."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn import datasets as skd

TARGET = "target"
SKLEARN_PREFIX = "sklearn_"

#: Ordered (group, pattern) rules; the first whose regex matches the dataset name wins. Names
#: that match none form their own group (the name without PMLB's numeric OpenML-id prefix).
ORIGIN_RULES: tuple[tuple[str, str], ...] = (
    ("gametes", r"^GAMETES_"),
    ("bng", r"(^|_)BNG_"),
    ("friedman", r"(^|_)fri_c\d+_"),
    ("cpu", r"(^|_)(cpu_act|cpu_small|cpu|machine_cpu)$"),
    ("thyroid", r"^(hypothyroid|allhypo|allbp|allrep|dis|new_thyroid|sick|ann_thyroid)$"),
    ("monks", r"^monk\d$"),
    ("led", r"^led\d+$"),
    ("waveform", r"^waveform_\d+$"),
    ("hill_valley", r"^Hill_Valley_"),
    ("mushroom", r"^(mushroom|agaricus_lepiota)$"),
    ("splice", r"^(splice|dna)$"),
    ("spect", r"^spectf?$"),
    ("breiman_gaussians", r"^(ring|twonorm|threenorm)$"),
    ("mlcpp_boolean", r"^(parity5\+5|threeOf9|mofn_3_7_10|corral|xd6)$"),
    ("chess", r"^(chess|krkopt|kr_vs_kp)$"),
    ("analcatdata", r"(^|_)analcatdata_"),
    ("prnn", r"^prnn_"),
    ("sleuth", r"(^|_)sleuth_"),
    ("visualizing", r"(^|_)visualizing_"),
    ("iris", r"^(sklearn_)?iris$"),
    ("wine_recognition", r"^(wine_recognition|sklearn_wine)$"),
    ("wine_quality", r"^wine_quality_"),
    ("digits", r"^(optdigits|sklearn_digits)$"),
    ("breast_cancer_wisconsin", r"^(sklearn_breast_cancer|breast_cancer_wisconsin)$"),
    ("lev_esl_swd_era", r"^\d+_(ESL|SWD|LEV|ERA)$"),
)
_COMPILED = tuple((group, re.compile(pattern)) for group, pattern in ORIGIN_RULES)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset name that the given source does not hold."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"dataset {name!r} not found in {where}; check the name and the folder")
        self.name = name


def origin_group(name: str) -> str:
    """The origin group of a dataset name, for holding related datasets out together."""
    for group, pattern in _COMPILED:
        if pattern.search(name):
            return group
    bare = name.removeprefix(SKLEARN_PREFIX)
    return re.sub(r"^\d+_", "", bare).lower()


@dataclass(frozen=True)
class Dataset:
    """A table ready for evaluation: features, target, per-column kinds and the task type."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    column_types: dict[str, str]
    task_type: str
    source: str
    origin_group: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.X.shape


@dataclass(frozen=True)
class DatasetRef:
    """A picklable pointer to a dataset (for Dask tasks): load it where it runs."""

    name: str
    source: str  # "pmlb" or "sklearn"
    root: str | None = None

    def load(self) -> Dataset:
        if self.source == "pmlb":
            if self.root is None:
                raise ValueError(f"DatasetRef({self.name!r}) needs root= for source 'pmlb'")
            return load_pmlb(self.name, self.root)
        if self.source == "sklearn":
            return load_sklearn(self.name)
        raise ValueError(f"source {self.source!r} unknown; use 'pmlb' or 'sklearn'")


def _pmlb_kind(feature_type: str) -> str:
    # binary and ordinal features are already numbers whose order means something
    return "categorical" if feature_type == "categorical" else "numeric"


def load_pmlb(name: str, root: str | Path) -> Dataset:
    """Load PMLB's ``NAME.tsv.gz`` (target column ``target``) with the types from ``NAME.yaml``."""
    root = Path(root)
    data_path, meta_path = root / f"{name}.tsv.gz", root / f"{name}.yaml"
    if not data_path.exists():
        raise DatasetNotFoundError(name, str(root))
    frame = pd.read_csv(data_path, sep="\t", compression="gzip")
    if TARGET not in frame.columns:
        raise ValueError(f"{data_path} has no column {TARGET!r}; PMLB files name the target so")
    meta = yaml.safe_load(meta_path.read_text()) if meta_path.exists() else {}
    declared = {f["name"]: f.get("type", "continuous") for f in meta.get("features") or []}
    X = frame.drop(columns=[TARGET])
    X.columns = [str(c) for c in X.columns]
    column_types = {c: _pmlb_kind(declared.get(c, "continuous")) for c in X.columns}
    task_type = meta.get("task") or ("classification" if _looks_discrete(frame[TARGET]) else "regression")
    return Dataset(name, X, frame[TARGET].to_numpy(), column_types, task_type, "pmlb", origin_group(name))


def _looks_discrete(y: pd.Series) -> bool:
    return y.dtype.kind in "biuO" and y.nunique() <= 100


def infer_column_types(X: pd.DataFrame) -> dict[str, str]:
    """``numeric`` for number columns, ``categorical`` for text, category and bool columns."""
    return {str(c): "numeric" if X[c].dtype.kind in "iuf" else "categorical" for c in X.columns}


def infer_task_type(y: pd.Series) -> str:
    """``classification`` for text, bool or integer targets with at most 100 values, else
    ``regression``; pass the task type explicitly where this guess is wrong."""
    y = pd.Series(y)
    if y.dtype.kind in "Obc" or str(y.dtype) in ("category", "string", "str"):
        return "classification"
    return "classification" if _looks_discrete(y) else "regression"


def from_frame(
    frame: pd.DataFrame,
    target: str,
    name: str = "user",
    task_type: str | None = None,
    column_types: dict[str, str] | None = None,
) -> Dataset:
    """A Dataset from a user's table (e.g. a CSV): rows with a missing target are dropped."""
    if target not in frame.columns:
        raise ValueError(f"target column {target!r} not in the table; columns are {list(frame.columns)[:20]}")
    frame = frame[frame[target].notna()].reset_index(drop=True)
    X = frame.drop(columns=[target])
    X.columns = [str(c) for c in X.columns]
    types = column_types or infer_column_types(X)
    task = task_type or infer_task_type(frame[target])
    return Dataset(name, X, frame[target].to_numpy(), types, task, "user", origin_group(name))


_SKLEARN_LOADERS: dict[str, tuple[Callable[..., object], str]] = {
    "iris": (skd.load_iris, "classification"),
    "wine": (skd.load_wine, "classification"),
    "breast_cancer": (skd.load_breast_cancer, "classification"),
    "digits": (skd.load_digits, "classification"),
    "diabetes": (skd.load_diabetes, "regression"),
}
SKLEARN_DATASETS = tuple(f"{SKLEARN_PREFIX}{n}" for n in _SKLEARN_LOADERS)


def load_sklearn(name: str) -> Dataset:
    """Load a scikit-learn bundled dataset as ``sklearn_NAME`` (all features numeric)."""
    bare = name.removeprefix(SKLEARN_PREFIX)
    if bare not in _SKLEARN_LOADERS:
        raise DatasetNotFoundError(name, f"scikit-learn's bundled sets {SKLEARN_DATASETS}")
    loader, task_type = _SKLEARN_LOADERS[bare]
    bunch = loader(as_frame=True)
    X = bunch.frame.drop(columns=[bunch.target.name])
    X.columns = [str(c) for c in X.columns]
    full = f"{SKLEARN_PREFIX}{bare}"
    return Dataset(
        full,
        X,
        bunch.target.to_numpy(),
        dict.fromkeys(X.columns, "numeric"),
        task_type,
        "sklearn",
        origin_group(full),
    )


def list_pmlb(root: str | Path) -> list[str]:
    """Names of the PMLB datasets in ``root`` (those with a ``.tsv.gz`` file), sorted."""
    return sorted(p.name.removesuffix(".tsv.gz") for p in Path(root).glob("*.tsv.gz"))


def all_refs(pmlb_root: str | Path | None) -> list[DatasetRef]:
    """References to every PMLB dataset under ``pmlb_root`` plus scikit-learn's bundled ones."""
    refs = [DatasetRef(n, "pmlb", str(pmlb_root)) for n in list_pmlb(pmlb_root)] if pmlb_root else []
    return refs + [DatasetRef(n, "sklearn") for n in SKLEARN_DATASETS]


def _pmlb_catalog(root: Path) -> list[tuple[DatasetRef, str, int, int]]:
    """Sizes from PMLB's ``index.csv`` when present, else from loading each file."""
    names = list_pmlb(root)
    index = root / "index.csv"
    if index.exists():
        with index.open() as f:
            rows = {r["dataset"]: r for r in csv.DictReader(f)}
        if all(n in rows for n in names):
            return [
                (
                    DatasetRef(n, "pmlb", str(root)),
                    rows[n]["task"],
                    int(rows[n]["n_instances"]),
                    int(rows[n]["n_features"]),
                )
                for n in names
            ]
    out = []
    for name in names:
        data = load_pmlb(name, root)
        out.append((DatasetRef(name, "pmlb", str(root)), data.task_type, *data.X.shape))
    return out


def catalog(
    pmlb_root: str | Path | None, include_sklearn: bool = True
) -> list[tuple[DatasetRef, str, int, int]]:
    """(reference, task type, rows, features) for every dataset: what ``sweep.plan`` takes."""
    out = _pmlb_catalog(Path(pmlb_root)) if pmlb_root else []
    if include_sklearn:
        for name in SKLEARN_DATASETS:
            data = load_sklearn(name)
            out.append((DatasetRef(name, "sklearn"), data.task_type, *data.X.shape))
    return out
