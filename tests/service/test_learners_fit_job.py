"""Retraining the recommenders as a job (`learners.fit`): over HTTP, from the command line, with a worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from metastore.jobs import SqlJobStore
from metastore.sql import SqlMetaStore
from service.app import create_app
from service.jobs.worker import Worker, jobs_for
from tests.service.conftest import make_settings
from tests.service.jobs_support import FAST
from tests.service.test_recommendations_api import kb, kb_store  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def api(kb_store: SqlMetaStore, tmp_path_factory: pytest.TempPathFactory) -> TestClient:  # noqa: F811
    settings = make_settings(tmp_path_factory.mktemp("fit-app"), str(kb_store.engine.url))
    return TestClient(create_app(settings, kb_store))


def run_worker(store: SqlMetaStore, tmp_path: Path) -> None:
    Worker(jobs_for(store), store, make_settings(tmp_path, str(store.engine.url)), FAST).run(
        exit_when_idle=True
    )


def test_post_fit_runs_as_a_job_and_the_service_serves_the_new_version(
    api: TestClient,
    kb_store: SqlMetaStore,  # noqa: F811
    kb: list[int],  # noqa: F811
    tmp_path: Path,
) -> None:
    before = {m["version"] for m in api.get("/v1/learner-models").json()}
    r = api.post("/v1/learner-models/fit", json={"methods": ["knn", "learned"], "task_types": ["regression"]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert (job["kind"], job["state"]) == ("learners.fit", "queued")
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    run_worker(kb_store, tmp_path)
    done = api.get(f"/v1/jobs/{job['id']}").json()
    assert done["state"] == "succeeded", done["error"]
    made = done["result"]["models"]
    assert [(m["method"], m["task_type"], m["metric"]) for m in made] == [
        ("knn", "regression", "r2"),
        ("learned", "regression", "r2"),
    ]
    assert all(m["datasets"] == len(kb) for m in made)
    stored = {m["version"] for m in api.get("/v1/learner-models").json()}
    assert stored - before == {m["version"] for m in made}
    progress = [e for e in SqlJobStore(kb_store.engine).events(job["id"]) if e.type == "progress"]
    assert [(e.progress, e.metrics.get("done")) for e in progress] == [(0.0, None), (0.5, 1), (1.0, 2)]
    # the running service answers with the version the job made
    answer = api.post("/v1/recommendations", json={"dataset_id": kb[5], "k": 2, "method": "learned"}).json()
    assert answer["model_version"] == made[1]["version"]


def test_by_default_a_task_type_without_knowledge_is_skipped(
    api: TestClient,
    kb_store: SqlMetaStore,  # noqa: F811
    kb: list[int],  # noqa: F811
    tmp_path: Path,
) -> None:
    job = api.post("/v1/learner-models/fit", json={"methods": ["defaults"]}).json()
    run_worker(kb_store, tmp_path)
    result = api.get(f"/v1/jobs/{job['id']}").json()["result"]
    assert [m["task_type"] for m in result["models"]] == ["regression"]
    assert "no classification results" in result["skipped"]["classification"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"methods": ["magic"]}, "unknown method(s) ['magic']"),
        ({"task_types": ["regression"], "metric": "accuracy"}, "does not apply to regression"),
        ({"methods": []}, "at least 1"),
        ({"epochs": 3}, "epochs"),
    ],
)
def test_bad_arguments_are_a_422(api: TestClient, body: dict, why: str) -> None:
    r = api.post("/v1/learner-models/fit", json=body)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert why in json.dumps(r.json())


def test_no_knowledge_at_all_fails_at_once_with_the_reason(
    sqlite_store: SqlMetaStore, tmp_path: Path
) -> None:
    client = TestClient(create_app(make_settings(tmp_path, str(sqlite_store.engine.url)), sqlite_store))
    job = client.post("/v1/learner-models/fit", json={"methods": ["knn"]}).json()
    run_worker(sqlite_store, tmp_path)
    final = client.get(f"/v1/jobs/{job['id']}").json()
    assert (final["state"], final["attempts"]) == ("failed", 1)  # no retry: more attempts find no more
    assert "holds no regression results" in final["error"]


def test_the_command_line_submits_it_and_a_worker_process_runs_it(
    kb_store: SqlMetaStore,  # noqa: F811
    kb: list[int],  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "WARMSTART_DATA_DIR": str(tmp_path / "data"),
        "WARMSTART_DATABASE_URL": str(kb_store.engine.url),
        "WARMSTART_JOB_POLL_S": "0.1",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from service.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    submitted = cli("jobs", "submit", "learners.fit", "--args", '{"methods": ["portfolio"]}', "--json")
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["id"]
    worker = cli("worker", "--exit-when-idle")
    assert worker.returncode == 0, worker.stderr
    shown = cli("jobs", "show", str(job_id), "--json")
    job = json.loads(shown.stdout)["job"]
    assert job["state"] == "succeeded", job["error"]
    assert [m["method"] for m in job["result"]["models"]] == ["portfolio"]


def test_the_python_client_starts_it_and_waits_for_it(
    kb_store: SqlMetaStore,  # noqa: F811
    kb: list[int],  # noqa: F811
    tmp_path: Path,
) -> None:
    import threading

    from tests.service.conftest import LiveServer
    from warmstart.client import ApiError, WarmstartClient

    app = create_app(make_settings(tmp_path / "app", str(kb_store.engine.url)), kb_store)
    with LiveServer(app) as server, WarmstartClient(server.url, retries=0) as client:
        job = client.fit_learners(methods=["portfolio"], task_types=["regression"])
        assert (job["kind"], job["state"]) == ("learners.fit", "queued")
        worker = threading.Thread(target=run_worker, args=(kb_store, tmp_path))
        worker.start()
        done = client.wait_for_job(job["id"], timeout=120)
        worker.join()
        assert done["state"] == "succeeded", done["error"]
        assert [m["method"] for m in done["result"]["models"]] == ["portfolio"]
        with pytest.raises(ApiError) as bad:
            client.fit_learners(methods=["magic"])
        assert bad.value.status == 422 and "magic" in str(bad.value)
