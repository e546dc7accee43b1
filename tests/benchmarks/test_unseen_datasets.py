"""benchmarks/unseen_datasets.py: the curated sets export in PMLB's layout and are new to PMLB and the KB."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from learners.datasets import TARGET, catalog, load_pmlb, origin_group

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "unseen_datasets.py"
PMLB = ROOT.parent / "shared" / "data" / "pmlb"


@pytest.fixture
def pmlb() -> Path:
    """The shared PMLB folder: skipped where it is absent, a failure in CI (it is there)."""
    if not (PMLB / "index.csv").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared PMLB folder at {PMLB}")
        pytest.skip(f"shared PMLB folder not present at {PMLB}")
    return PMLB

_spec = importlib.util.spec_from_file_location("unseen_datasets", SCRIPT)
assert _spec is not None and _spec.loader is not None
unseen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = unseen  # dataclasses look their module up while the class is built
_spec.loader.exec_module(unseen)

#: (name, task, rows, features, a categorical feature): a dropped leaky column, rows without a
#: target dropped (Chile: 168, Hitters: 59), several classes, and text categories with gaps
EXPECTED = {
    "r_AER_CreditCard": ("classification", 1319, 9, "owner"),
    "r_carData_Chile": ("classification", 2532, 7, "region"),
    "r_ISLR_Hitters": ("regression", 263, 19, "League"),
}


def _export(out: Path) -> str:
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--pmlb", str(PMLB), "--only", *EXPECTED]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_exported_sets_read_back_with_their_task_and_columns(tmp_path: Path) -> None:
    stdout = _export(tmp_path)
    assert "3 datasets" in stdout
    listed = catalog(tmp_path, include_sklearn=False)
    refs = {ref.name: (task, rows, cols) for ref, task, rows, cols in listed}
    assert refs == {name: (task, rows, cols) for name, (task, rows, cols, _) in EXPECTED.items()}
    with (tmp_path / "index.csv").open() as f:
        assert sorted(r["dataset"] for r in csv.DictReader(f)) == sorted(EXPECTED)
    for name, (task, rows, cols, categorical) in EXPECTED.items():
        data = load_pmlb(name, tmp_path)
        assert (data.task_type, data.X.shape) == (task, (rows, cols))
        assert data.column_types[categorical] == "categorical"
        assert "rownames" not in data.X.columns and TARGET not in data.X.columns
        assert not pd.isna(data.y).any()
    credit = load_pmlb("r_AER_CreditCard", tmp_path)
    assert {"share", "expenditure"}.isdisjoint(credit.X.columns)  # they exist only with a card
    assert sorted(set(load_pmlb("r_carData_Chile", tmp_path).y)) == ["A", "N", "U", "Y"]
    assert load_pmlb("r_carData_Chile", tmp_path).X["income"].isna().sum() > 0  # feature gaps kept


def test_a_rerun_writes_the_same_bytes(tmp_path: Path) -> None:
    _export(tmp_path)
    first = _digests(tmp_path)
    _export(tmp_path)
    assert _digests(tmp_path) == first


def test_no_curated_name_is_a_pmlb_name_and_no_group_is_a_kb_group(pmlb: Path) -> None:
    names = [d.name for d in unseen.DATASETS]
    assert len(set(names)) == len(names)
    pmlb = unseen.pmlb_names(pmlb)
    assert set(names).isdisjoint(pmlb)
    assert [d.name for d in unseen.DATASETS if unseen.name_clash(d, pmlb)] == []
    groups = unseen.kb_groups()
    assert [n for n in names if origin_group(n) in groups] == []
    left_out = {(e.package, e.item) for e in unseen.EXCLUDED}
    assert [d.name for d in unseen.DATASETS if (d.package, d.item) in left_out] == []
    tasks = [d.task for d in unseen.DATASETS]
    assert 45 <= len(tasks) <= 60 and abs(tasks.count("classification") - tasks.count("regression")) <= 4


def test_the_column_check_catches_a_pmlb_set_under_another_name(pmlb: Path) -> None:
    caravan = unseen.UnseenDataset("ISLR", "Caravan", "Purchase", "classification", "")
    raw = unseen.load_raw(caravan)
    names = unseen.pmlb_names(pmlb)
    reason = unseen.screen(caravan, raw, names, unseen.pmlb_columns(pmlb, names), unseen.kb_groups())
    assert reason is not None and "coil2000" in reason
    ames = next(d for d in unseen.DATASETS if d.item == "ames")
    raw = unseen.load_raw(ames)
    assert unseen.screen(ames, raw, names, unseen.pmlb_columns(pmlb, names), unseen.kb_groups()) is None
