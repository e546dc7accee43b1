"""Importers: real OpenML files from openml's cache (offline) and a PMLB-style folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from metastore.sql import SqlMetaStore
from service.usecases.importers import evaluate_pools, import_folder, import_openml
from tests.conftest import PMLB, SHARED

OPENML_CACHE = SHARED / "fixtures" / "openml-cache"
OPENML_TEST_SERVER = "https://test.openml.org/api/v1/xml"


@pytest.fixture
def openml_offline(tmp_path: Path, monkeypatch):
    if not OPENML_CACHE.exists():
        pytest.skip(f"{OPENML_CACHE} is not there (../shared missing)")
    import openml

    cache = tmp_path / "openml-cache"
    shutil.copytree(OPENML_CACHE, cache)  # openml writes its parsed copies beside the files
    for p in cache.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    monkeypatch.setattr(openml.config, "server", OPENML_TEST_SERVER)
    openml.config.set_root_cache_directory(str(cache))
    return cache


def test_openml_dataset_2_anneal(openml_offline, sqlite_store: SqlMetaStore, tmp_path: Path) -> None:
    [item] = import_openml(sqlite_store, tmp_path / "uploads", [2], min_rows=10, max_columns=5000)
    r = item.record
    assert item.created and r.name == "anneal" and r.source == "openml:2"
    assert r.task_type == "classification" and r.target == "class"
    assert (r.n_rows, r.n_features) == (898, 38)
    assert r.column_types["steel"] == "categorical"
    assert r.metafeatures is not None and r.metafeatures.values["nr_inst"] == 898
    assert "anneal" in r.description.lower() or "annealing" in r.description.lower()
    assert (tmp_path / "uploads" / r.raw_file).exists()
    again = import_openml(sqlite_store, tmp_path / "uploads", [2], min_rows=10, max_columns=5000)
    assert not again[0].created and again[0].record.id == r.id


def test_pmlb_folder_with_evaluation(sqlite_store: SqlMetaStore, tmp_path: Path) -> None:
    if not PMLB.exists():
        pytest.skip(f"{PMLB} is not there (../shared missing)")
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("228_elusage", "1027_ESL"):
        for suffix in (".tsv.gz", ".yaml"):
            shutil.copy(PMLB / f"{name}{suffix}", folder)
    items = import_folder(sqlite_store, tmp_path / "uploads", folder, "target", 10, 5000)
    by_name = {i.record.name: i for i in items}
    assert set(by_name) == {"228_elusage", "1027_ESL"}
    assert by_name["1027_ESL"].record.task_type == "regression"  # from the yaml, not guessed
    assert by_name["228_elusage"].record.origin_group == "elusage"
    added = evaluate_pools(sqlite_store, by_name["228_elusage"], ["knn"])
    assert added == 33
    evals = sqlite_store.list_evaluations(dataset_id=by_name["228_elusage"].record.id)
    assert len(evals) == 33 and all(e.source == "import" for e in evals)
    assert sum(e.status == "ok" for e in evals) >= 30
