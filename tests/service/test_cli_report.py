"""Pipeline flows as real processes: `warmstart report`, and `--on-unavailable=defaults` on recommend and
evaluate when the service is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from metastore import schema
from metastore.sql import SqlMetaStore
from service.cli import main
from service.usecases.kb import register_pools
from tests.service.conftest import free_port
from tests.service.data import csv_bytes, regression_frame

FAMILIES = ["knn", "linear"]
FAMILY_ARGS = ["--families", "knn", "--families", "linear"]


@pytest.fixture
def warmstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run the real entry point (`service.cli.main`: argv, output, exit code) in this process, in
    tmp_path: a fresh interpreter costs seconds of imports per command. One test uses a process."""
    monkeypatch.setenv("WARMSTART_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("WARMSTART_RETRIES", "1")
    monkeypatch.delenv("WARMSTART_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> SimpleNamespace:
        monkeypatch.setattr(sys, "argv", ["warmstart", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def process(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WARMSTART_DATA_DIR": str(tmp_path / "cli-data"), "WARMSTART_RETRIES": "1"}
    env.pop("WARMSTART_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_bytes(csv_bytes(regression_frame(120)))
    return path


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_recommend_falls_back_to_library_defaults_and_says_so(tmp_path: Path, data: Path) -> None:
    args = ["recommend", str(data), "--target", "y", "--url", dead_url(), "--k", "2", "--json"]
    failed = process(tmp_path, *args)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error:") and "unreachable" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1

    proc = process(tmp_path, *args, "--on-unavailable", "defaults", *FAMILY_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "library defaults" in proc.stderr
    answer = json.loads(proc.stdout)
    assert (
        answer["fallback"] == "defaults" and answer["task_type"] == "regression" and answer["metric"] == "r2"
    )
    assert [(r["rank"], r["family"], r["configuration_id"]) for r in answer["recommendations"]] == [
        (1, "knn", None),
        (2, "linear", None),
    ]
    from learners.spaces import get_space

    assert answer["recommendations"][0]["hyperparameters"] == get_space("knn", "regression").default()


def test_evaluate_trains_when_the_report_cannot_be_sent_and_report_sends_it_later(
    warmstart, tmp_path: Path, data: Path, live_server, sqlite_store: SqlMetaStore
) -> None:
    recommend = ["recommend", str(data), "--target", "y", "--url", dead_url(), "--json", *FAMILY_ARGS]
    rec = warmstart(*recommend, "--on-unavailable", "defaults")
    (tmp_path / "rec.json").write_text(rec.stdout)
    evaluate = [
        *("evaluate", str(data), "--target", "y", "--configs-from", "rec.json"),
        *("--report", dead_url(), "--output", "results.json", "--json"),
    ]
    failed = warmstart(*evaluate)
    assert failed.returncode == 1 and "not reported" in failed.stderr and "warmstart report" in failed.stderr
    proc = warmstart(*evaluate, "--on-unavailable", "defaults")
    assert proc.returncode == 0, proc.stderr
    assert "report skipped" in proc.stderr
    out = json.loads(proc.stdout)
    assert out["reported"]["skipped"] and [r["family"] for r in out["results"]] == FAMILIES
    assert all(r["status"] == "ok" and r["metrics"]["r2"] > 0.5 for r in out["results"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["results"] == out["results"]

    register_pools(sqlite_store, FAMILIES, ["regression"])  # the service knows these families' spaces
    sent = warmstart("report", "results.json", "--url", live_server.url, "--json")
    assert sent.returncode == 0, sent.stderr
    first = json.loads(sent.stdout)
    assert (first["created"], first["replayed"], first["results"]) == (2, 0, 2)
    again = json.loads(warmstart("report", "results.json", "--url", live_server.url, "--json").stdout)
    assert (again["created"], again["replayed"], again["dataset_id"]) == (0, 2, first["dataset_id"])
    stored = sqlite_store.list_evaluations(dataset_id=first["dataset_id"])
    assert sorted(sqlite_store.get_configuration(e.configuration_id).family for e in stored) == FAMILIES
    assert {e.source for e in stored} == {"cli-evaluate"} and {e.protocol for e in stored} == {
        out["protocol"]
    }
    by_family = {sqlite_store.get_configuration(e.configuration_id).family: e for e in stored}
    assert by_family["knn"].metrics["r2"] == out["results"][0]["metrics"]["r2"]
    assert sqlite_store.get_dataset(first["dataset_id"]).content_hash == out["dataset"]["content_hash"]


def test_report_from_any_tool_into_the_embedded_metastore(warmstart, tmp_path: Path, data: Path) -> None:
    results = {
        "dataset": {"file": "train.csv", "target": "y"},
        "protocol": "my-holdout",
        "results": [
            {"family": "knn", "hyperparameters": {"n_neighbors": 7}, "metrics": {"r2": 0.8}, "fit_time": 0.1},
            {"family": "linear", "hyperparameters": {}, "status": "failed", "error": "diverged"},
        ],
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    embedded = tmp_path / "cli-data" / "warmstart.sqlite"
    embedded.parent.mkdir()
    store = SqlMetaStore.from_url(f"sqlite+pysqlite:///{embedded}")
    schema.upgrade(store.engine)
    register_pools(store, FAMILIES, ["regression"])  # as the bundled knowledge base would
    proc = warmstart("report", "results.json", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["created"], out["to"]) == (2, "embedded metastore")
    try:
        evals = {store.get_configuration(e.configuration_id).family: e for e in store.list_evaluations()}
        assert evals["knn"].metrics == {"r2": 0.8} and evals["knn"].protocol == "my-holdout"
        assert store.get_configuration(evals["knn"].configuration_id).values["n_neighbors"] == 7
        assert evals["linear"].status == "failed" and evals["linear"].error == "diverged"
    finally:
        store.engine.dispose()
    results["dataset"] = {"id": out["dataset_id"]}  # by id now; the same results are already stored
    (tmp_path / "by-id.json").write_text(json.dumps(results))
    again = json.loads(warmstart("report", "by-id.json", "--json").stdout)
    assert (again["created"], again["replayed"]) == (0, 2)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ("{not json", "is not a readable JSON file"),
        ({"results": [{"configuration_id": 1, "metrics": {"r2": 1}}]}, "dataset: Field required"),
        (
            {"dataset": {"id": 1}, "results": [{"family": "knn", "metrics": {"r2": 1}}]},
            "results.0: Value error",
        ),
        ({"dataset": {"id": 1}, "results": [{"configuration_id": 1}]}, "needs at least one metric"),
        ({"dataset": {"content_hash": "abc"}, "results": [{"configuration_id": 1}]}, "dataset.content_hash"),
        ({"dataset": {"id": 1}, "results": [{"configuration_id": 1, "fit_tme": 1}]}, "results.0.fit_tme"),
        ({"dataset": {"file": "x.csv"}, "results": [{"configuration_id": 1}]}, "needs its target"),
    ],
)
def test_bad_results_files_fail_in_one_line(warmstart, tmp_path: Path, doc, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    proc = warmstart("report", str(path))
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr, proc.stderr
