"""`warmstart tune`: a whole study with the harness, on the embedded metastore and against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from learners.evaluate import SWEEP_PROTOCOL
from metastore.sql import SqlMetaStore
from service.app import create_app
from service.cli_tune import tune_cmd
from service.config import Settings
from tests.service.conftest import LiveServer, make_settings
from tests.service.data import csv_bytes, regression_frame
from tests.service.studies_support import FAMILIES, build_regression_kb, fast_surrogates


def _tune(capsys: pytest.CaptureFixture[str], file: Path, **options) -> dict:  # type: ignore[no-untyped-def]
    defaults = {"url": None, "space": "auto", "families": FAMILIES, "metric": None, "n_initial": 5}
    tune_cmd(file, "y", **{**defaults, **options}, task_type=None, seed=0, as_json=True)
    return json.loads(capsys.readouterr().out)


def _check_run(out: dict, trials: int) -> list[dict]:
    study = out["study"]
    steps = study["trials"]
    assert study["n_trials"] == trials and study["n_pending"] == 0
    assert [t["state"] for t in steps] == ["ok"] * trials and all(t["fit_time"] > 0 for t in steps)
    assert study["best"]["score"] == max(t["score"] for t in steps) == study["best_score"]
    assert all(-1 < t["score"] <= 1 for t in steps)  # r2 measured by the harness
    assert len({t["configuration_id"] for t in steps}) == trials
    return steps


def test_tune_on_the_embedded_metastore(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WARMSTART_DATA_DIR", str(tmp_path / "embedded"))
    data = tmp_path / "train.csv"
    data.write_bytes(csv_bytes(regression_frame(120)))
    out = _tune(capsys, data, trials=3)
    steps = _check_run(out, 3)
    assert [t["source"] for t in steps] == ["random"] * 3  # an empty knowledge base: nothing to transfer
    store = SqlMetaStore.from_url(Settings().resolved_database_url)
    stored = store.list_evaluations(dataset_id=out["dataset"]["id"], protocol=SWEEP_PROTOCOL.id)
    assert sorted(e.id for e in stored) == sorted(t["evaluation_id"] for t in steps)
    assert all(e.source == "study" for e in stored)


def test_tune_against_a_service(tmp_path: Path, sqlite_store: SqlMetaStore, capsys) -> None:  # type: ignore[no-untyped-def]
    build_regression_kb(sqlite_store)
    app = fast_surrogates(
        create_app(make_settings(tmp_path, str(sqlite_store.engine.url)), sqlite_store), sqlite_store
    )
    data = tmp_path / "train.csv"
    data.write_bytes(csv_bytes(regression_frame(120)))
    with LiveServer(app) as server:
        out = _tune(capsys, data, trials=4, url=server.url, n_initial=2)
    steps = _check_run(out, 4)
    assert [t["source"] for t in steps] == ["zero_shot", "zero_shot", "transfer", "transfer"]
    assert out["dataset"]["name"] == "train"
    stored = sqlite_store.list_evaluations(dataset_id=out["dataset"]["id"], protocol=SWEEP_PROTOCOL.id)
    assert sorted((e.configuration_id, e.metrics["r2"]) for e in stored) == sorted(
        (t["configuration_id"], t["score"]) for t in steps
    )


def test_tune_fails_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(csv_bytes(regression_frame()))
    env = {**os.environ, "WARMSTART_DATA_DIR": str(tmp_path / "d"), "WARMSTART_RETRIES": "0"}
    args = ["tune", str(data), "--target", "y", "--trials", "2", "--families", "nope"]
    proc = subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Unknown family 'nope'")


def test_tune_falls_back_to_library_defaults_when_the_service_is_down(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, capsys
) -> None:
    from service.cli_pipeline import OnUnavailable
    from tests.service.conftest import free_port
    from warmstart.client import ServiceUnavailable

    monkeypatch.setenv("WARMSTART_RETRIES", "0")
    data = tmp_path / "train.csv"
    data.write_bytes(csv_bytes(regression_frame(120)))
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = _tune(
        capsys, data, trials=3, url=down, families=["linear", "knn"], on_unavailable=OnUnavailable.defaults
    )
    assert out["fallback"] == "defaults" and out["reason"]
    assert [r["family"] for r in out["results"]] == ["linear", "knn"]
    assert all(r["status"] == "ok" and -1 < r["metrics"]["r2"] <= 1 for r in out["results"])
    with pytest.raises(ServiceUnavailable):  # the default: fail
        _tune(capsys, data, trials=3, url=down, families=["linear"])
