"""Workers asking one study for suggestions at once, through a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from metastore.sql import SqlMetaStore
from service.app import create_app
from tests.service.conftest import LiveServer, make_settings
from tests.service.data import csv_bytes, regression_frame

WORKERS = 6
ROUNDS = 3
N = 2


def test_parallel_workers_never_get_the_same_configuration(tmp_path: Path, store: SqlMetaStore) -> None:
    app = create_app(make_settings(tmp_path, str(store.engine.url)), store)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        dataset = http.post(
            "/v1/datasets", files={"file": ("r.csv", csv_bytes(regression_frame()))}, data={"target": "y"}
        ).json()
        study = http.post(
            "/v1/studies", json={"dataset_id": dataset["id"], "families": ["knn", "linear"]}
        ).json()
        got: list[dict] = []
        errors: list[str] = []
        start = threading.Barrier(WORKERS)

        def worker() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as mine:
                start.wait()
                for _ in range(ROUNDS):
                    r = mine.post(f"/v1/studies/{study['id']}/suggest", params={"n": N})
                    if r.status_code != 200:
                        errors.append(r.text)
                        return
                    for s in r.json()["suggestions"]:
                        got.append(s)
                        # Observing while others suggest: results and suggestions interleave.
                        mine.post(
                            f"/v1/studies/{study['id']}/observations",
                            json={"trial_id": s["trial_id"], "score": s["number"] / 100},
                        ).raise_for_status()

        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        total = WORKERS * ROUNDS * N
        assert len(got) == total
        assert len({s["configuration_id"] for s in got}) == total
        assert len({(s["family"], str(sorted(s["hyperparameters"].items()))) for s in got}) == total
        assert sorted(s["number"] for s in got) == list(range(total))
        detail = http.get(f"/v1/studies/{study['id']}").json()
        assert (detail["n_trials"], detail["n_pending"]) == (total, 0)
        assert detail["best_score"] == (total - 1) / 100
