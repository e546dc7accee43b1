"""`warmstart evaluate`: train stored configurations on a file, locally or against a service, and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from metastore.sql import SqlMetaStore
from tests.service.data import csv_bytes, regression_frame


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WARMSTART_DATA_DIR": str(tmp_path / "cli-data")}
    return subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", "evaluate", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_evaluate_and_report_to_a_service(live_server, sqlite_store: SqlMetaStore, tmp_path: Path) -> None:
    space = sqlite_store.upsert_search_space("knn", "regression", "1", {})
    configs = sqlite_store.add_configurations(
        space.id,
        [
            ({"n_neighbors": 5, "p": 2, "weights": "uniform"}, "knn-default"),
            ({"n_neighbors": 50, "p": 1, "weights": "distance"}, None),
        ],
    )
    data = tmp_path / "train.csv"
    data.write_bytes(csv_bytes(regression_frame(120)))
    args = [str(data), "--target", "y", "--json", "--report", live_server.url]
    for c in configs:
        args += ["--config", str(c.id)]
    proc = _run(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dataset"]["task_type"] == "regression" and out["protocol"]
    assert [r["configuration_id"] for r in out["results"]] == [c.id for c in configs]
    first = out["results"][0]
    assert first["status"] == "ok" and first["metrics"]["r2"] > 0.5 and first["fit_time"] > 0
    assert out["reported"]["created"] == 2
    stored = sqlite_store.list_evaluations(dataset_id=out["reported"]["dataset_id"])
    assert sorted(e.configuration_id for e in stored) == sorted(c.id for c in configs)
    assert all(e.source == "cli-evaluate" for e in stored)


def test_evaluate_without_configs_fails_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(csv_bytes(regression_frame()))
    proc = _run(tmp_path, str(data), "--target", "y")
    assert proc.returncode == 1 and proc.stderr.startswith("error: name configurations")
