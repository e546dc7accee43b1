"""The sweep core: planning order, resumption, picklable shards and flat records."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from learners.datasets import DatasetRef, load_sklearn
from learners.evaluate import Cell, Protocol
from learners.pools import pool
from learners.spaces import FAMILIES
from learners.sweep import plan, read_shards, run_cells, run_shard

PROTOCOL = Protocol(name="test", kfold_max_rows=0)
ROWS = [
    (DatasetRef("big", "pmlb", "/x"), "classification", 50_000, 20),
    (DatasetRef("small", "pmlb", "/x"), "regression", 100, 5),
    (DatasetRef("mid", "pmlb", "/x"), "classification", 1000, 10),
]


def test_plan_orders_small_datasets_first_with_all_families_together():
    shards = plan(ROWS, PROTOCOL)
    assert len(shards) == 3 * len(FAMILIES)
    assert [s.dataset.name for s in shards[:: len(FAMILIES)]] == ["small", "mid", "big"]
    assert [s.family for s in shards[: len(FAMILIES)]] == list(FAMILIES)
    assert shards[0].task_type == "regression"


def test_plan_skips_what_is_done_and_unknown_families_raise():
    shards = plan(ROWS, PROTOCOL, families=["knn", "svm"], done={("small", "knn")})
    assert [s.key for s in shards] == [
        ("small", "svm"),
        ("mid", "knn"),
        ("mid", "svm"),
        ("big", "knn"),
        ("big", "svm"),
    ]
    with pytest.raises(ValueError, match="catboost"):
        plan(ROWS, PROTOCOL, families=["catboost"])


def test_run_shard_from_a_pickled_shard_gives_one_record_per_pool_config():
    rows = [(DatasetRef("sklearn_iris", "sklearn"), "classification", 150, 4)]
    (shard,) = plan(rows, PROTOCOL, families=["knn"])
    records = run_shard(pickle.loads(pickle.dumps(shard)), PROTOCOL)
    assert len(records) == 33
    assert records[0]["config_name"] == "knn-default"
    assert {r["dataset"] for r in records} == {"sklearn_iris"}
    assert {r["origin_group"] for r in records} == {"iris"}
    assert {r["status"] for r in records} == {"ok"}
    assert records[0]["metric_accuracy"] > 0.85
    assert records[0]["protocol"] == "test-v1"


def test_run_cells_records_failures_alongside_results():
    data = load_sklearn("sklearn_diabetes")
    cells = [
        Cell("linear", {"alpha": 0.01, "l1_ratio": 0.5}, "ok-one"),
        Cell(
            "mlp",
            {"n_layers": 2, "n_units": 256, "activation": "tanh", "alpha": 1e-7, "learning_rate_init": 1e-4},
            "slow-one",
        ),
    ]
    records = run_cells(data, cells, Protocol(name="t", time_limit_s=0.3))
    assert [r["status"] for r in records] == ["ok", "timeout"]
    assert records[0]["metric_r2"] > 0.3
    assert records[1]["error"].startswith("fit + predict exceeded")


def test_read_shards_concatenates_and_names_the_folder_when_empty(tmp_path):
    pd.DataFrame({"dataset": ["a"], "status": ["ok"]}).to_parquet(tmp_path / "a__knn.parquet")
    pd.DataFrame({"dataset": ["b"], "status": ["timeout"]}).to_parquet(tmp_path / "b__knn.parquet")
    frame = read_shards(tmp_path)
    assert frame.to_dict("list") == {"dataset": ["a", "b"], "status": ["ok", "timeout"]}
    with pytest.raises(FileNotFoundError, match="empty"):
        read_shards(tmp_path / "empty")


@pytest.mark.slow
def test_run_shard_inside_a_daemonic_dask_worker_process():
    distributed = pytest.importorskip("dask.distributed")
    rows = [(DatasetRef("sklearn_iris", "sklearn"), "classification", 150, 4)]
    (shard,) = plan(rows, PROTOCOL, families=["linear"])
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        records = client.submit(run_shard, shard, PROTOCOL).result(timeout=120)
    assert len(records) == len(pool("linear", "classification")) == 66
    assert {r["status"] for r in records} == {"ok"}


def test_a_shard_limited_to_some_configurations_runs_only_those():
    rows = [(DatasetRef("sklearn_iris", "sklearn"), "classification", 150, 4)]
    (shard,) = plan(rows, PROTOCOL, families=["linear"])
    some = ("linear-default-balanced", "linear-sobol-03-balanced")
    records = run_shard(dataclasses.replace(shard, configs=some), PROTOCOL)
    assert [r["config_name"] for r in records] == list(some)
    assert [r["config"]["class_weight"] for r in records] == ["balanced", "balanced"]
    assert {r["status"] for r in records} == {"ok"}


@pytest.mark.slow
def test_sweep_script_writes_shards_and_resumes(tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts/sweep_shards.py"
    args = [
        sys.executable,
        str(script),
        "--out",
        str(tmp_path),
        "--pmlb",
        str(tmp_path / "none"),
        "--datasets",
        "sklearn_iris",
        "--families",
        "knn",
    ]
    first = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    shard = tmp_path / "kb-v1" / "sklearn_iris__knn.parquet"
    frame = pd.read_parquet(shard)
    assert len(frame) == 33 and "1 to run" in first.stdout
    assert json.loads(frame.config[0]) == {"n_neighbors": 5, "p": 2, "weights": "uniform"}
    assert (frame.shard_cpu_s > 0).all()
    second = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    assert "1 shards stored, 0 to run" in second.stdout
