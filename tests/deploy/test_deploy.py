"""Deployment files: the entrypoint runs for real; the Dockerfile and compose file keep their promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _entrypoint(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = Path(sys.executable).parent
    full_env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "WARMSTART_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    full_env.pop("WARMSTART_DATABASE_URL", None)
    return subprocess.run(
        ["sh", str(ROOT / "docker" / "entrypoint.sh"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_entrypoint_migrates_then_runs_the_command(tmp_path: Path) -> None:
    proc = _entrypoint(tmp_path, "warmstart", "db", "current", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "migrating the metastore schema" in proc.stdout
    assert json.loads(proc.stdout[proc.stdout.index("{") :])["up_to_date"] is True


def test_entrypoint_can_skip_migrations(tmp_path: Path) -> None:
    proc = _entrypoint(tmp_path, "warmstart", "db", "current", "--json", WARMSTART_MIGRATE_ON_START="0")
    assert proc.returncode == 0, proc.stderr
    assert "migrating" not in proc.stdout
    assert json.loads(proc.stdout)["up_to_date"] is False


def test_entrypoint_propagates_failure(tmp_path: Path) -> None:
    proc = _entrypoint(tmp_path, "warmstart", "datasets", "add", "/nonexistent.csv", "--target", "y")
    assert proc.returncode == 2


def test_dockerfile_is_slim_non_root_cpu_and_health_checked() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "\nUSER warmstart" in text and "useradd" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "whl/cpu torch==2.13.0" in text
    assert "-c constraints.txt" in text
    for package in ("service", "metastore", "learners", "migrations"):
        assert f"COPY {package} ./{package}" in text


def test_compose_runs_the_service_on_postgres_16_with_a_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    db, api = compose["services"]["db"], compose["services"]["api"]
    assert db["image"] == "postgres:16"
    assert any(v.startswith("pgdata:") for v in db["volumes"]) and "pgdata" in compose["volumes"]
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["environment"]["WARMSTART_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert api["environment"]["WARMSTART_MIGRATE_ON_START"] == "1"
