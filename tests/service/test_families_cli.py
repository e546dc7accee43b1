"""`warmstart families ...`: the whole flow on the local metastore and against a server with --url.

The commands run in this process through the real entry point (`service.cli.main`, argv and
exit code included): a fresh interpreter costs ~6 s of imports per command on this machine.
One test runs the installed command as a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from metastore.sql import SqlMetaStore
from service.app import create_app
from service.cli import main
from tests.service.conftest import LiveServer, make_settings
from tests.service.test_families_api import sinusoid_rows

TRAIN = ["--iterations", "30", "--validate-every", "10", "--meta-batch-size", "4"]
TRAIN += ["--n-validation-tasks", "4", "--pooled-steps", "10"]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("WARMSTART_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WARMSTART_JOB_POLL_S", "0.1")
    monkeypatch.delenv("WARMSTART_DATABASE_URL", raising=False)

    def run(*args: str, ok: bool = True) -> SimpleNamespace:
        monkeypatch.setattr(sys, "argv", ["warmstart", *args])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        if ok:
            assert code == 0, err
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"prior": tmp_path / "prior.csv", "support": tmp_path / "s.csv", "query": tmp_path / "q.csv"}
    sinusoid_rows(8, 20, seed=3).to_csv(paths["prior"], index=False)
    task = sinusoid_rows(1, 15, seed=5).drop(columns=["unit"])
    task.iloc[:5].to_csv(paths["support"], index=False)
    task.iloc[5:].to_csv(paths["query"], index=False)
    return paths


def flow(cli, files: dict[str, Path], *remote: str, worker: bool) -> dict:
    """create, add-tasks, meta-train, (worker), show, adapt, list; returns what they printed."""

    def out(*args: str) -> dict:
        return json.loads(cli(*args, *remote, "--json").stdout)

    family = out(
        "families", "create", "sines", "-f", "x", "--target", "y", "--hidden", "16", "--inner-lr", "0.02"
    )
    fid = str(family["id"])
    tasks = out("families", "add-tasks", fid, str(files["prior"]), "--group-column", "unit")
    again = out("families", "add-tasks", fid, str(files["prior"]), "--group-column", "unit")
    if worker:
        job = out("families", "meta-train", fid, *TRAIN)
        assert job["state"] == "queued"
        cli("worker", "--exit-when-idle")
    else:  # the server's embedded worker runs it; --wait follows it
        job = out("families", "meta-train", fid, *TRAIN, "--wait")
        assert job["state"] == "succeeded", job["error"]
    shown = out("families", "show", fid)
    adapted = out(
        "families", "adapt", fid, "--support", str(files["support"]), "--query", str(files["query"])
    )
    listed = out("families", "list")
    return {
        "family": family,
        "tasks": tasks,
        "again": again,
        "shown": shown,
        "adapted": adapted,
        "list": listed,
    }


def check(result: dict) -> None:
    assert result["family"]["settings"]["hidden"] == [16] and result["family"]["algorithm"] == "maml"
    assert len(result["tasks"]) == 8 and all(t["created"] for t in result["tasks"])
    assert not any(t["created"] for t in result["again"])  # stored once
    assert sorted(m["kind"] for m in result["shown"]["models"]) == ["init", "pooled"]
    assert len(result["shown"]["tasks"]) == 8
    adapted = result["adapted"]
    assert adapted["metrics"]["support_rows"] == 5 and adapted["metrics"]["query_rows"] == 10
    assert set(adapted["baselines"]) == {"scratch", "pooled"} and adapted["model_id"] > 0
    assert [f["name"] for f in result["list"]] == ["sines"]


def test_the_whole_flow_on_the_local_metastore_with_a_worker(cli, files: dict[str, Path]) -> None:
    check(flow(cli, files, worker=True))
    human = cli("families", "show", "1").stdout
    assert "family 1 'sines'" in human and "8 prior task(s), 160 rows" in human


def test_the_whole_flow_against_a_server(
    cli, files: dict[str, Path], sqlite_store: SqlMetaStore, tmp_path
) -> None:
    settings = make_settings(
        tmp_path / "server",
        str(sqlite_store.engine.url),
        embedded_worker=True,
        job_poll_s=0.05,
        job_heartbeat_s=0.1,
        job_grace_s=1.0,
    )
    with LiveServer(create_app(settings, sqlite_store)) as server:
        result = flow(cli, files, "--url", server.url, worker=False)
        check(result)
        missing = cli("families", "show", "999", "--url", server.url, ok=False)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "404" in missing.stderr and "999" in missing.stderr
    assert not (tmp_path / "data" / "warmstart.sqlite").exists()  # nothing local was touched


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["create", "x", "-f", "a", "--target", "y", "--algorithm", "magic"], "Unknown algorithm 'magic'"),
        (["create", "x", "-f", "y", "--target", "y"], "must be distinct column names"),
        (["create", "x", "-f", "a", "--target", "y", "--hidden", "4,big"], "comma-separated integers"),
        (["show", "7"], "family 7"),
    ],
)
def test_errors_are_one_line_and_non_zero(cli, args: list[str], why: str) -> None:
    proc = cli("families", *args, ok=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert why in proc.stderr


def test_the_installed_command_answers_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "WARMSTART_DATA_DIR": str(tmp_path / "data")}
    env.pop("WARMSTART_DATABASE_URL", None)
    command = [sys.executable, "-c", "from service.cli import main; main()", "families"]
    proc = subprocess.run([*command, "show", "7"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "family 7" in proc.stderr


def test_bad_tasks_and_support_sets_are_one_line_errors(cli, files: dict[str, Path], tmp_path: Path) -> None:
    cli("families", "create", "sines", "-f", "x", "--target", "y")
    few = cli("families", "meta-train", "1", ok=False)
    assert few.returncode == 1 and "needs at least 2" in few.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("x,z\n1,2\n3,4\n")
    bad = cli("families", "add-tasks", "1", str(wrong), ok=False)
    assert bad.returncode == 1 and "missing ['y']" in bad.stderr and bad.stderr.count("\n") == 1
    early = cli("families", "adapt", "1", "--support", str(files["support"]), ok=False)
    assert early.returncode == 1 and "no meta-trained initialisation" in early.stderr
