"""The compose file runs jobs in a worker service on the api's database and data volume."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_has_a_worker_beside_the_api() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    api, worker = services["api"], services["worker"]
    assert worker["command"] == ["warmstart", "worker"]
    db_url = "WARMSTART_DATABASE_URL"
    assert worker["environment"][db_url] == api["environment"][db_url]
    assert worker["volumes"] == api["volumes"]  # raw uploads are read by jobs
    assert worker["environment"]["WARMSTART_MIGRATE_ON_START"] == "0"  # one migrator: the api
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"
    assert api["environment"]["WARMSTART_EMBEDDED_WORKER"] == "0"
