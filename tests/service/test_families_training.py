"""Meta-training a family as the job does it: progress per chunk, resume on another machine, cleanup."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load as load_tensors

from metastore.families import NewFamily, SqlFamilyStore
from metastore.jobs import SqlJobStore
from metastore.sql import SqlMetaStore
from service.config import Settings
from service.jobs.context import JobContext
from service.jobs.handlers import submit
from service.usecases import families as uc
from tests.service.jobs_support import WorkerThread, job_in, wait_for
from tests.service.test_families_api import sinusoid_rows

ARGS = {"iterations": 120, "validate_every": 40, "meta_batch_size": 4, "n_validation_tasks": 8}


class FakeContext:
    """The part of JobContext the handler uses when no durable checkpoint is at stake."""

    def __init__(self, job_id: int) -> None:
        self.job = SimpleNamespace(id=job_id)
        self.reports: list[dict] = []

    def progress(self, fraction: float, message: str = "", metrics: dict | None = None) -> None:
        self.reports.append(dict(metrics or {}))

    def save_checkpoint(self, payload: bytes) -> None:
        pass

    def saved_checkpoint(self) -> bytes | None:
        return None


class RecordingContext(JobContext):
    """A real job context (real queue, real checkpoints) that can die at its n-th progress report."""

    def __init__(self, *args, die_at: int | None = None, **kw) -> None:
        super().__init__(*args, **kw)
        self.reports: list[dict] = []
        self.die_at = die_at

    def progress(self, fraction: float, message: str = "", metrics: dict | None = None) -> None:
        super().progress(fraction, message, metrics)
        self.reports.append(dict(metrics or {}))
        if self.die_at is not None and len(self.reports) == self.die_at:
            raise RuntimeError("worker killed")


def machine(tmp_path: Path, name: str) -> Settings:
    """Settings of one machine: its own data directory (nothing shared but the database)."""
    return Settings(data_dir=tmp_path / name, load_bundled_kb=False, embedded_worker=False)


def attempt(jobs: SqlJobStore, store: SqlMetaStore, settings: Settings, owner: str, **kw) -> RecordingContext:
    job = jobs.claim(owner)
    assert job is not None
    return RecordingContext(job, jobs, owner, store, settings, threading.Event(), **kw)


@pytest.fixture
def family(sqlite_store: SqlMetaStore, tmp_path: Path) -> tuple[SqlFamilyStore, Settings, int]:
    fstore = uc.families_for(sqlite_store)
    settings = machine(tmp_path, "data")
    meta = {**uc.DEFAULT_SETTINGS, "hidden": [16]}
    record = fstore.create_family(NewFamily("sines", "regression", ("x",), "y", "maml", meta))
    uc.add_tasks(fstore, record.id, sinusoid_rows(12, 20, seed=2), "s", "unit")
    return fstore, settings, record.id


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's directory for this test only, to see what a run leaves behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_killed_attempt_resumes_on_another_machine_to_the_same_weights(
    family, sqlite_store: SqlMetaStore, tmp_path: Path, private_tmp: Path
) -> None:
    fstore, settings, family_id = family
    jobs = SqlJobStore(sqlite_store.engine)
    args = uc.MetaTrainArguments(family_id=family_id, patience=None, pooled_steps=10, **ARGS)
    straight = uc.meta_train(fstore, settings, args, FakeContext(job_id=1))

    job = jobs.enqueue("family_meta_train", args.model_dump())
    first = attempt(jobs, sqlite_store, machine(tmp_path, "a"), "worker-a", die_at=2)
    with pytest.raises(RuntimeError, match="killed"):
        uc.meta_train(fstore, first.settings, args, first)
    assert jobs.checkpoint(job.id) is not None  # the state after 80 iterations, in the database
    jobs.fail(job.id, "worker-a", "worker killed")

    second = attempt(jobs, sqlite_store, machine(tmp_path, "b"), "worker-b")  # no file of machine a
    resumed = uc.meta_train(fstore, second.settings, args, second)
    assert [r["iteration"] for r in second.reports] == [120]  # 40 and 80 were done before
    assert resumed["metrics"]["history"] == straight["metrics"]["history"]
    a, b = (load_tensors(fstore.model_weights(r["init_model_id"])) for r in (straight, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("model."))
    jobs.complete(job.id, "worker-b", resumed)
    assert jobs.checkpoint(job.id) is None  # gone with the job
    # nothing was written to any data directory, and every temporary file is gone
    assert (
        not any(p.is_file() for p in tmp_path.glob("[ab]/**/*"))
        and not (settings.data_dir / "models").exists()
    )
    assert not list(private_tmp.glob("warmstart-*"))


def test_a_checkpoint_file_of_an_older_version_is_resumed_and_moved_into_the_metastore(
    family, sqlite_store: SqlMetaStore, tmp_path: Path
) -> None:
    fstore, settings, family_id = family
    jobs = SqlJobStore(sqlite_store.engine)
    args = uc.MetaTrainArguments(family_id=family_id, patience=None, pooled_steps=10, **ARGS)
    donor = jobs.enqueue("family_meta_train", args.model_dump())
    ctx = attempt(jobs, sqlite_store, settings, "w", die_at=2)
    with pytest.raises(RuntimeError, match="killed"):
        uc.meta_train(fstore, settings, args, ctx)
    saved = jobs.checkpoint(donor.id)
    jobs.fail(donor.id, "w", "gave up", retry=False)

    job = jobs.enqueue("family_meta_train", args.model_dump())
    legacy = uc.models_dir(settings) / "training" / f"job-{job.id}.safetensors"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(saved)  # where versions before 0007 kept it
    ctx = attempt(jobs, sqlite_store, settings, "w")
    uc.meta_train(fstore, settings, args, ctx)
    assert [r["iteration"] for r in ctx.reports] == [120] and not legacy.exists()


def test_a_cancelled_meta_train_leaves_no_checkpoint(
    family, sqlite_store: SqlMetaStore, tmp_path: Path, private_tmp: Path
) -> None:
    fstore, settings, family_id = family
    jobs = SqlJobStore(sqlite_store.engine)
    arguments = {
        "family_id": family_id,
        "iterations": 100_000,
        "validate_every": 20,
        "meta_batch_size": 2,
        "n_validation_tasks": 4,
        "patience": None,
    }
    job = submit(jobs, "family_meta_train", arguments)
    with WorkerThread(jobs, sqlite_store, settings):
        wait_for(lambda: jobs.checkpoint(job.id), what="a stored checkpoint")
        assert list(private_tmp.glob("warmstart-*"))  # the attempt's working file, while it runs
        jobs.cancel(job.id)
        final = wait_for(lambda: job_in(jobs, job.id, "cancelled", "succeeded", "failed"), what="the end")
    assert final.state == "cancelled"
    assert jobs.checkpoint(job.id) is None
    assert not list(private_tmp.glob("warmstart-*")) and not (settings.data_dir / "models").exists()
    assert fstore.list_models(family_id) == []


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


def test_a_multi_step_loss_family_builds_that_learner_and_older_settings_build_the_plain_one() -> None:
    from service.usecases import family_nets as nets

    settings = {**uc.DEFAULT_SETTINGS, "inner_steps": 2, "multi_step_loss": True}
    assert nets.build_learner("maml", (1, 8, 1), settings).multi_step_loss is True
    assert nets.build_learner("anil", (1, 8, 1), settings).multi_step_loss is True
    older = {k: v for k, v in uc.DEFAULT_SETTINGS.items() if k != "multi_step_loss"}
    assert nets.build_learner("maml", (1, 8, 1), older).multi_step_loss is False
