"""Jobs across real processes: workers sharing a queue, a SIGKILLed worker, a server restart, the CLI."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from metastore import schema
from metastore.errors import JobAlreadyFinished
from metastore.jobs import JobEvent, SqlJobStore
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from service.cli import app as cli_app
from service.jobs.handlers import submit
from tests.service.conftest import free_port
from tests.service.jobs_support import FAST_ENV, current, seed_stale_datasets, wait_for

KIND = "recompute_metafeatures"
# Forked, not spawned: a fresh interpreter spends seconds importing scikit-learn, and the point
# here is what the processes do, not how they start. The child runs the real `warmstart` CLI.
FORK = multiprocessing.get_context("fork")


def _run_cli(args: list[str], env: dict[str, str], log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    logging.root.handlers.clear()  # pytest's capture handlers came along with the fork
    os.environ.clear()
    os.environ.update(env)
    code = 0
    try:
        cli_app(args, standalone_mode=False)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Env:
    """A metastore at `url`, its data directory, and `warmstart` processes that share it."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.data = tmp_path / "data"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.engine = make_engine(url)
        schema.upgrade(self.engine)
        self.store = SqlMetaStore(self.engine)
        self.jobs = SqlJobStore(self.engine)
        self.vars = {
            **os.environ,
            "WARMSTART_DATA_DIR": str(self.data),
            "WARMSTART_DATABASE_URL": url,
            "WARMSTART_LOAD_BUNDLED_KB": "0",
            **FAST_ENV,
        }
        self.procs: list[multiprocessing.process.BaseProcess] = []

    def spawn(self, name: str, *args: str) -> multiprocessing.process.BaseProcess:
        """Run `warmstart ARGS` in a child process; its output goes to logs/NAME.log."""
        proc = FORK.Process(target=_run_cli, args=(list(args), self.vars, str(self.logs / f"{name}.log")))
        proc.start()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def cli(self, *args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli_app, list(args), env=self.vars)

    def close(self) -> None:
        for proc in self.procs:  # only the processes this test started
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=10)
        self.engine.dispose()


def _stop(proc: multiprocessing.process.BaseProcess, sig: int, timeout: float = 30) -> int | None:
    os.kill(proc.pid, sig)  # type: ignore[arg-type]
    proc.join(timeout)
    return proc.exitcode


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    e = Env(tmp_path, url)
    yield e
    e.close()


@pytest.fixture
def sqlite_env(tmp_path: Path, sqlite_url: str) -> Iterator[Env]:
    e = Env(tmp_path, sqlite_url)
    yield e
    e.close()


def _claims(events: list[JobEvent]) -> list[str]:
    return [e.owner or "" for e in events if e.type == "claimed"]


def _never_two_at_once(events: list[JobEvent]) -> bool:
    """Between two claims of a job, the first claim ended (requeued, retried or released)."""
    holding = False
    for e in events:
        if e.type == "claimed":
            if holding:
                return False
            holding = True
        elif e.type in ("requeued", "retrying", "released", "succeeded", "failed", "cancelled"):
            holding = False
    return True


def test_workers_share_the_queue_and_a_sigkilled_workers_job_finishes_elsewhere_once(env: Env) -> None:
    """Three worker processes on one queue; whoever runs the long job is killed with SIGKILL mid-way.

    Every job must run to exactly one result, no job may be held by two workers at once, and the
    killed worker's job must be finished by a survivor, keeping the work already done.
    """
    long_ids = seed_stale_datasets(env.store, env.data / "uploads", 10)
    long_job = submit(env.jobs, KIND, {"dataset_ids": long_ids})
    more = seed_stale_datasets(env.store, env.data / "uploads", 14, first=10)
    small_jobs = [submit(env.jobs, KIND, {"dataset_ids": [i]}) for i in more]
    workers = {f"w{k}": env.spawn(f"w{k}", "worker", "--name", f"w{k}") for k in range(3)}

    running = wait_for(
        lambda: (j := env.jobs.get_job(long_job.id)).metrics.get("done", 0) >= 2 and j,
        timeout=90,
        what="the long job's second step",
    )
    victim = running.owner
    assert victim in workers
    assert _stop(workers[victim], signal.SIGKILL) == -signal.SIGKILL
    all_ids = [long_job.id] + [j.id for j in small_jobs]
    wait_for(
        lambda: all(env.jobs.get_job(i).state == "succeeded" for i in all_ids),
        timeout=60,
        what=f"every job to succeed (logs: {env.logs})",
    )
    for name, proc in workers.items():
        if name != victim:  # survivors stop cleanly on SIGTERM
            assert _stop(proc, signal.SIGTERM) == 0, env.log(name)

    for job_id in all_ids:
        events = env.jobs.events(job_id)
        assert [e.type for e in events].count("succeeded") == 1
        assert _never_two_at_once(events), [(e.type, e.owner) for e in events]
    assert all(len(_claims(env.jobs.events(j.id))) == 1 for j in small_jobs)

    final = env.jobs.get_job(long_job.id)
    claims = _claims(env.jobs.events(long_job.id))
    assert final.attempts == 2 and claims[0] == victim and claims[1] in set(workers) - {victim}
    requeued = [e for e in env.jobs.events(long_job.id) if e.type == "requeued"]
    assert len(requeued) == 1 and f"worker {victim} stopped sending heartbeats" in requeued[0].message
    result = final.result or {}
    assert len(result["already_current"]) >= 2  # what the killed worker finished was kept
    assert sorted(result["already_current"] + result["recomputed"]) == long_ids
    assert current(env.store, long_ids + more) == long_ids + more


def test_restarting_the_server_loses_no_job(sqlite_env: Env) -> None:
    """`warmstart serve` runs jobs in its embedded worker; it crashes (SIGKILL) mid-job and restarts."""
    env = sqlite_env
    ids = seed_stale_datasets(env.store, env.data / "uploads", 10)
    long_job = submit(env.jobs, KIND, {"dataset_ids": ids})
    queued = submit(env.jobs, KIND, {"dataset_ids": ids[:1], "force": True})
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    first = env.spawn("serve-1", "serve", "--port", str(port))
    wait_for(lambda: _job(url, long_job.id).get("metrics", {}).get("done", 0) >= 2, 90, "serve-1 to work")
    assert _stop(first, signal.SIGKILL) == -signal.SIGKILL
    assert env.jobs.get_job(queued.id).state == "queued"

    second = env.spawn("serve-2", "serve", "--port", str(port))
    wait_for(
        lambda: {_job(url, i).get("state") for i in (long_job.id, queued.id)} == {"succeeded"},
        90,
        f"serve-2 to finish both jobs (logs: {env.logs})",
    )
    body = _job(url, long_job.id)
    assert (body["state"], body["attempts"]) == ("succeeded", 2)
    assert sorted(body["result"]["already_current"] + body["result"]["recomputed"]) == ids
    listed = httpx.get(f"{url}/v1/jobs").json()
    assert listed["total"] == 2 and {j["state"] for j in listed["items"]} == {"succeeded"}
    _stop(second, signal.SIGTERM)
    assert "Application shutdown complete" in env.log("serve-2")


def _job(url: str, job_id: int) -> dict:
    try:
        r = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5)
    except httpx.TransportError:
        return {}  # not up yet
    return r.json() if r.status_code == 200 else {}


def test_jobs_cli(sqlite_env: Env) -> None:
    env = sqlite_env
    ids = seed_stale_datasets(env.store, env.data / "uploads", 3)
    submitted = env.cli("jobs", "submit", KIND, "--args", json.dumps({"dataset_ids": ids}), "--json")
    job = json.loads(submitted.stdout)
    assert job["state"] == "queued" and job["arguments"]["dataset_ids"] == ids
    assert "not JSON" in str(env.cli("jobs", "submit", KIND, "--args", "{oops").exception)

    worker = env.spawn("worker", "worker", "--max-jobs", "1")
    watched = env.cli("jobs", "watch", str(job["id"]), "--interval", "0.05")
    assert watched.exit_code == 0, watched.output
    assert f"job {job['id']} {KIND}" in watched.output  # the progress bar's label
    assert f"job {job['id']} succeeded after 1 attempt(s)" in watched.output
    worker.join(timeout=60)
    assert worker.exitcode == 0 and "stopped after 1 job(s)" in env.log("worker")

    listed = json.loads(env.cli("jobs", "list", "--json").stdout)
    assert listed["total"] == 1 and listed["items"][0]["state"] == "succeeded"
    assert "succeeded" in env.cli("jobs", "list", "--state", "succeeded").stdout
    shown = json.loads(env.cli("jobs", "show", str(job["id"]), "--events", "--json").stdout)
    assert shown["job"]["result"]["recomputed"] == ids
    assert [e["type"] for e in shown["events"]][-1] == "succeeded"

    other = json.loads(env.cli("jobs", "submit", KIND, "--json").stdout)["id"]
    assert f"cancelled job {other}" in env.cli("jobs", "cancel", str(other)).stdout
    assert isinstance(env.cli("jobs", "cancel", str(other)).exception, JobAlreadyFinished)
    assert env.cli("jobs", "watch", str(other)).exit_code == 1
