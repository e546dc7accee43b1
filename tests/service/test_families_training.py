"""Meta-training a family as the job does it: progress per chunk, resume after a dead attempt."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from safetensors.torch import load_file

from metastore.families import NewFamily, SqlFamilyStore
from metastore.sql import SqlMetaStore
from service.config import Settings
from service.usecases import families as uc
from tests.service.test_families_api import sinusoid_rows

ARGS = {"iterations": 120, "validate_every": 40, "meta_batch_size": 4, "n_validation_tasks": 8}


class FakeContext:
    """The part of JobContext the handler uses; dies at the n-th progress report when asked."""

    def __init__(self, job_id: int, die_at: int | None = None) -> None:
        self.job = SimpleNamespace(id=job_id)
        self.reports: list[dict] = []
        self.die_at = die_at

    def progress(self, fraction: float, message: str = "", metrics: dict | None = None) -> None:
        self.reports.append(dict(metrics or {}))
        if self.die_at is not None and len(self.reports) == self.die_at:
            raise RuntimeError("worker killed")


@pytest.fixture
def family(sqlite_store: SqlMetaStore, tmp_path: Path) -> tuple[SqlFamilyStore, Settings, int]:
    fstore = uc.families_for(sqlite_store)
    settings = Settings(data_dir=tmp_path / "data", load_bundled_kb=False, embedded_worker=False)
    meta = {**uc.DEFAULT_SETTINGS, "hidden": [16]}
    record = fstore.create_family(NewFamily("sines", "regression", ("x",), "y", "maml", meta))
    uc.add_tasks(fstore, record.id, sinusoid_rows(12, 20, seed=2), "s", "unit")
    return fstore, settings, record.id


def test_a_killed_attempt_resumes_from_its_checkpoint_to_the_same_weights(family) -> None:
    fstore, settings, family_id = family
    args = uc.MetaTrainArguments(family_id=family_id, patience=None, pooled_steps=10, **ARGS)
    straight = uc.meta_train(fstore, settings, args, FakeContext(job_id=1))
    with pytest.raises(RuntimeError, match="killed"):
        uc.meta_train(fstore, settings, args, FakeContext(job_id=2, die_at=2))
    resumed_ctx = FakeContext(job_id=2)
    resumed = uc.meta_train(fstore, settings, args, resumed_ctx)
    assert [r["iteration"] for r in resumed_ctx.reports] == [120]  # 40 and 80 were done before
    assert resumed["metrics"]["history"] == straight["metrics"]["history"]
    files = [uc.models_dir(settings) / fstore.get_model(r["init_model_id"]).file for r in (straight, resumed)]
    a, b = (load_file(str(f)) for f in files)
    assert all((a[k] == b[k]).all() for k in a if k.startswith("model."))
    assert not list((uc.models_dir(settings) / "training").iterdir())


def test_early_stopping_keeps_the_best_initialisation(family) -> None:
    fstore, settings, family_id = family
    args = uc.MetaTrainArguments(family_id=family_id, patience=1, pooled_steps=10, **ARGS)
    ctx = FakeContext(job_id=3)
    out = uc.meta_train(fstore, settings, args, ctx)
    history = out["metrics"]["history"]
    assert out["metrics"]["best_val_loss"] == min(loss for _, loss in history)
    assert [r["iteration"] for r in ctx.reports] == [it for it, _ in history]
    assert 0 < ctx.reports[-1]["best_val_loss"] <= ctx.reports[0]["val_loss"]


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "reptile", "metasgd", "anil"])
def test_every_regression_algorithm_meta_trains_adapts_and_predicts(
    algorithm: str, sqlite_store: SqlMetaStore, tmp_path: Path
) -> None:
    fstore = uc.families_for(sqlite_store)
    settings = Settings(data_dir=tmp_path / "data", load_bundled_kb=False, embedded_worker=False)
    meta = {**uc.DEFAULT_SETTINGS, "hidden": [8], "inner_steps": 2}
    fam = fstore.create_family(NewFamily(algorithm, "regression", ("x",), "y", algorithm, meta))
    uc.add_tasks(fstore, fam.id, sinusoid_rows(6, 20, seed=4), "s", "unit")
    args = uc.MetaTrainArguments(
        family_id=fam.id,
        iterations=20,
        validate_every=10,
        meta_batch_size=2,
        n_validation_tasks=4,
        pooled_steps=5,
    )
    trained = uc.meta_train(fstore, settings, args)
    assert trained["metrics"]["algorithm"] == algorithm and trained["metrics"]["iterations"] == 20
    rows = sinusoid_rows(1, 8, seed=9).drop(columns=["unit"]).to_dict("records")
    out = uc.adapt(
        fstore,
        settings,
        uc.AdaptArguments(family_id=fam.id, support=rows[:5], query=rows[5:], steps=3, scratch_steps=5),
    )
    assert out["metrics"]["query_rows"] == 3 and set(out["baselines"]) == {"scratch", "pooled"}
    pred = uc.predict(fstore, settings, out["model_id"], [{"x": r["x"]} for r in rows[5:]])
    mse = np.mean((np.array(pred) - np.array([r["y"] for r in rows[5:]])) ** 2)
    assert mse == pytest.approx(out["metrics"]["query_mse"], rel=1e-4)
