"""The knowledge base: a real (small) Dask build, resume, export, load anywhere, and first-start load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learners.datasets import catalog
from metastore import schema
from metastore.kb import export_kb, load_kb, read_kb
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from service.usecases.kb import build
from service.usecases.recommend import knowledge_base, knowledge_base_from_file
from tests.conftest import PMLB

FAMILIES = ["knn"]


@pytest.fixture(scope="module")
def small_catalog():
    if not PMLB.exists():
        pytest.skip(f"{PMLB} is not there (../shared missing)")
    entries = sorted(catalog(PMLB, include_sklearn=False), key=lambda e: (e[2] * e[3], e[0].name))
    return entries[:2]


def _fresh(url: str) -> SqlMetaStore:
    engine = make_engine(url)
    schema.upgrade(engine)
    return SqlMetaStore(engine)


def test_build_resume_export_and_load(
    small_catalog, sqlite_url: str, postgres_url: str, tmp_path: Path
) -> None:
    store = _fresh(sqlite_url)
    seen = []
    report = build(store, small_catalog, FAMILIES, workers=1, progress=lambda i, n, what: seen.append((i, n)))
    assert report.datasets_registered == 2 and report.shards_run == 2
    assert report.evaluations_added == 2 * 33
    assert seen and seen[-1][0] == seen[-1][1]
    stats = store.stats()
    assert (stats.datasets, stats.evaluations) == (2, 66)
    records = store.all_metafeatures()
    assert all(r.origin_group and v.values for r, v in records)

    again = build(store, small_catalog, FAMILIES, workers=1)
    assert (again.shards_run, again.shards_skipped, again.evaluations_added) == (0, 2, 0)

    out = tmp_path / "kb.parquet"
    exported = export_kb(store, out)
    assert exported["datasets"] == 2 and exported["evaluations"] == 66
    assert out.stat().st_size < 200_000
    header = read_kb(out).header
    assert "values" in header["datasets"][0]["metafeatures"]
    assert not any("X" in d or "rows" in d for d in header["datasets"])  # no raw data

    other = _fresh(postgres_url)
    loaded = load_kb(other, out)
    assert loaded["datasets_added"] == 2 and loaded["evaluations_added"] == 66
    assert load_kb(other, out)["evaluations_added"] == 0
    a = {(e.metrics.get("accuracy") or e.metrics.get("r2"), e.status) for e in store.list_evaluations()}
    b = {(e.metrics.get("accuracy") or e.metrics.get("r2"), e.status) for e in other.list_evaluations()}
    assert a == b
    s = other.stats()
    assert (s.datasets, s.evaluations, s.families) == (2, 66, stats.families)


def test_empty_metastore_loads_the_bundled_kb_on_first_start(
    small_catalog, sqlite_url: str, tmp_path: Path, monkeypatch
) -> None:
    import metastore.kb as kb_pkg
    from service.app import open_store
    from service.config import Settings

    source = _fresh(f"sqlite+pysqlite:///{tmp_path / 'src.sqlite'}")
    build(source, small_catalog[:1], FAMILIES, workers=1)
    bundle = tmp_path / "bundle.parquet"
    export_kb(source, bundle)
    monkeypatch.setattr(kb_pkg, "BUNDLED_KB", bundle)
    settings = Settings(data_dir=tmp_path / "data", load_bundled_kb=True)
    store = open_store(settings)
    assert store.stats().evaluations == 33
    assert open_store(settings).stats().evaluations == 33  # not loaded twice
    # and the learned recommender's fit is queued once, for a worker, not left to the first request
    from service.jobs.worker import jobs_for

    queued = jobs_for(store).list_jobs(kind="learners.fit").items
    assert len(queued) == 1 and queued[0].arguments["methods"] == ["learned"]


def test_the_bundled_file_is_a_readable_knowledge_base(sqlite_url: str) -> None:
    from metastore.kb import BUNDLED_KB

    if not BUNDLED_KB.exists():
        pytest.skip("no bundled knowledge base committed yet")
    kb = read_kb(BUNDLED_KB)
    assert kb.stats["datasets"] > 0 and kb.stats["evaluations"] == kb.evaluations.num_rows
    assert BUNDLED_KB.stat().st_size < 20 * 1024 * 1024
    store = _fresh(sqlite_url)
    loaded = load_kb(store, BUNDLED_KB)
    assert loaded["datasets_added"] == kb.stats["datasets"]
    assert store.stats().evaluations == kb.stats["evaluations"]
    # Benchmarks read the file directly; they must see the matrix a server that loaded it builds.
    for task_type, metric in (("classification", "balanced_accuracy"), ("regression", "r2")):
        from_file = knowledge_base_from_file(BUNDLED_KB, task_type, metric)
        served, datasets, _ = knowledge_base(store, task_type, metric)
        names = [datasets[h].name for h in served.dataset_keys]
        order = [names.index(n) for n in from_file.dataset_keys]
        assert from_file.config_keys == served.config_keys
        assert from_file.groups == [served.groups[i] for i in order]
        np.testing.assert_allclose(from_file.scores, served.scores[order], equal_nan=True)
        np.testing.assert_allclose(from_file.metafeatures, served.metafeatures[order], equal_nan=True)


def test_a_pool_point_computed_a_bit_differently_reuses_the_stored_configuration(
    sqlite_store, monkeypatch
) -> None:
    """log/exp differ in the last bit between machines: the pool must not grow a second copy."""
    import dataclasses

    import service.usecases.kb as kb_usecase

    first = kb_usecase.register_pools(sqlite_store, ["linear"], ["classification"])
    n_stored = len(sqlite_store.list_configurations())
    real = kb_usecase.pools_for

    def other_machine(task_type, families):  # the same pool, every float off in its last bits
        nudge = lambda v: v * (1 + 4e-16) if isinstance(v, float) and v else v  # noqa: E731
        return {f: [dataclasses.replace(c, values={k: nudge(v) for k, v in c.values.items()}) for c in cs]
                for f, cs in real(task_type, families).items()}

    assert other_machine("classification", ["linear"]) != real("classification", ["linear"])
    monkeypatch.setattr(kb_usecase, "pools_for", other_machine)
    again = kb_usecase.register_pools(sqlite_store, ["linear"], ["classification"])
    assert again.ids == first.ids
    assert len(sqlite_store.list_configurations()) == n_stored
    # a genuinely different point is not merged
    stored = next(c.values for c in sqlite_store.list_configurations() if c.name == "linear-sobol-27")
    moved = {k: (v * 1.01 if isinstance(v, float) and v else v) for k, v in stored.items()}
    assert moved != stored and kb_usecase.same_point(stored, moved) is moved
