"""The CI example end to end: a real `warmstart serve` (bundled knowledge base), the example's own
pipeline script run against it twice, then once more with the service stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.service.conftest import free_port
from warmstart import WarmstartClient

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ci"
BIN = Path(sys.executable).parent


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {
        **os.environ,
        "WARMSTART_DATA_DIR": str(tmp_path / "service-data"),
        "WARMSTART_LOAD_BUNDLED_KB": "true",
        "WARMSTART_EMBEDDED_WORKER": "false",
    }
    env.pop("WARMSTART_DATABASE_URL", None)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(BIN / "warmstart"), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(
                f"warmstart serve did not become ready: {(tmp_path / 'serve.log').read_text()[-2000:]}"
            )
        time.sleep(0.2)
    yield url, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    log.close()


def pipeline(tmp_path: Path, url: str, out: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    env = {
        **os.environ,
        "WARMSTART_URL": url,
        "OUT": str(tmp_path / out),
        "WARMSTART": str(BIN / "warmstart"),
        "PYTHON": sys.executable,
        "WARMSTART_RETRIES": "1",  # the outage run should not wait out four back-offs
        "WARMSTART_DATA_DIR": str(tmp_path / "cli-data"),
    }
    proc = subprocess.run(
        ["bash", str(EXAMPLE / "pipeline.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, tmp_path / out


def best(results: dict) -> dict:
    return max(results["results"], key=lambda r: r["metrics"]["balanced_accuracy"])


def test_the_workflow_runs_the_pipeline_script_and_keeps_the_model() -> None:
    workflow = yaml.safe_load((EXAMPLE / "warmstart.yml").read_text())
    steps = [s.get("run", "") + s.get("uses", "") for s in workflow["jobs"]["train"]["steps"]]
    assert any("examples/ci/pipeline.sh" in s for s in steps)
    assert any(s.startswith("actions/upload-artifact") for s in steps)


@pytest.mark.slow
def test_pipeline_reports_learns_and_falls_back(tmp_path: Path, service) -> None:
    url, server = service
    _, out1 = pipeline(tmp_path, url, "run1")
    rec1 = json.loads((out1 / "recommendations.json").read_text())
    results1 = json.loads((out1 / "results.json").read_text())
    assert "fallback" not in rec1 and rec1["method"] == "knn" and len(rec1["recommendations"]) == 3
    assert [r["configuration_id"] for r in results1["results"]] == [
        r["configuration_id"] for r in rec1["recommendations"]
    ]
    assert all(r["status"] == "ok" for r in results1["results"])

    # (a) the evaluations arrived: the service's leaderboard for the data holds run 1's results
    with WarmstartClient(url, retries=0) as client:
        dataset = client.find_dataset(results1["dataset"]["content_hash"])
        assert dataset is not None and dataset["id"] == rec1["dataset_id"]
        board = client.leaderboard(dataset["id"], sort="balanced_accuracy")["items"]
    assert sorted((e["configuration_id"], e["metrics"]["balanced_accuracy"]) for e in board) == sorted(
        (r["configuration_id"], r["metrics"]["balanced_accuracy"]) for r in results1["results"]
    )
    assert {e["protocol"] for e in board} == {results1["protocol"]}

    # (b) the second run's recommendations use them: the knn recommender is refitted on a knowledge
    # base that now holds this dataset (a new model version), whose nearest dataset is this one, so
    # its first pick is run 1's best configuration. (Whether run 1 already ranked it first depends
    # on the shipped knowledge base, which grows between releases; the pick must be the best
    # either way, and a new model version must have made it.)
    first_best = best(results1)
    _, out2 = pipeline(tmp_path, url, "run2")
    rec2 = json.loads((out2 / "recommendations.json").read_text())
    assert rec2["dataset_id"] == rec1["dataset_id"] and rec2["model_version"] != rec1["model_version"]
    assert rec2["recommendations"][0]["configuration_id"] == first_best["configuration_id"]
    kept = json.loads((out2 / "model" / "best.json").read_text())
    assert (out2 / "model" / "model.joblib").stat().st_size > 0 and kept["metric"] == "balanced_accuracy"
    assert kept["score"] == max(r["metrics"]["balanced_accuracy"] for r in json.loads(
        (out2 / "results.json").read_text())["results"])  # fmt: skip

    # (c) with the service stopped the build still trains (library defaults) and says so
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    third, out3 = pipeline(tmp_path, url, "run3")
    rec3 = json.loads((out3 / "recommendations.json").read_text())
    assert rec3["fallback"] == "defaults" and rec3["dataset_id"] is None
    assert [r["family"] for r in rec3["recommendations"]] == ["lightgbm", "xgboost", "hist_gb"]
    assert "library defaults" in third.stderr and "report skipped" in third.stderr
    results3 = json.loads((out3 / "results.json").read_text())
    assert all(r["status"] == "ok" and r["configuration_id"] is None for r in results3["results"])
    assert (out3 / "model" / "model.joblib").exists()
