"""The `warmstart` command line, run as a real process on a temporary data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.data import csv_bytes, regression_frame


@pytest.fixture
def cli(tmp_path: Path):
    env = {**os.environ, "WARMSTART_DATA_DIR": str(tmp_path / "data")}
    env.pop("WARMSTART_DATABASE_URL", None)

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-c", "from service.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        return proc

    return run


def test_db_upgrade_and_current(cli) -> None:
    up = json.loads(cli("db", "upgrade", "--json").stdout)
    assert up["from"] is None and up["to"]
    current = json.loads(cli("db", "current", "--json").stdout)
    assert current["up_to_date"] is True and current["current"] == up["to"]


def test_datasets_add_list_and_dedup(cli, tmp_path: Path) -> None:
    path = tmp_path / "reg.csv"
    path.write_bytes(csv_bytes(regression_frame()))
    human = cli("datasets", "add", str(path), "--target", "y").stdout
    assert "added dataset 1 'reg': regression, 50 rows x 2 features" in human
    again = json.loads(cli("datasets", "add", str(path), "--target", "y", "--json").stdout)
    assert again["created"] is False and again["dataset"]["id"] == 1
    listed = json.loads(cli("datasets", "list", "--json").stdout)
    assert listed["total"] == 1 and listed["items"][0]["name"] == "reg"
    assert "reg" in cli("datasets", "list").stdout


def test_failures_are_one_line_and_non_zero(cli, tmp_path: Path) -> None:
    path = tmp_path / "reg.csv"
    path.write_bytes(csv_bytes(regression_frame()))
    bad_target = cli("datasets", "add", str(path), "--target", "nope", ok=False)
    assert bad_target.returncode == 1
    assert bad_target.stderr.startswith("error: Unknown target column 'nope'")
    assert len(bad_target.stderr.strip().splitlines()) == 1
    missing = cli("datasets", "add", str(tmp_path / "absent.csv"), "--target", "y", ok=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad_scope = cli("keys", "create", "--scope", "root", ok=False)
    assert bad_scope.returncode == 1 and "unknown scope" in bad_scope.stderr


def test_keys_create_prints_the_key_once(cli) -> None:
    made = json.loads(cli("keys", "create", "--scope", "write", "--name", "ci", "--json").stdout)
    assert made["key"].startswith("ws_") and made["scopes"] == ["write"]
    assert made["key"] not in cli("datasets", "list").stdout


def test_metafeatures_command(cli, tmp_path: Path) -> None:
    path = tmp_path / "reg.csv"
    path.write_bytes(csv_bytes(regression_frame()))
    out = json.loads(cli("metafeatures", str(path), "--target", "y", "--json").stdout)
    assert out["task_type"] == "regression" and out["values"]["nr_inst"] == 50
    assert set(out["times"]) and out["version"]
    human = cli("metafeatures", str(path), "--target", "y").stdout
    assert "nr_inst" in human and "extractor" in human


def test_stale_schema_refuses_to_serve_with_the_fix(cli, tmp_path: Path) -> None:
    cli("db", "upgrade")
    cli("db", "downgrade", "base")
    # An existing database at an older revision is not upgraded behind the user's back.
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'warmstart.sqlite'}")
    with engine.begin() as conn:
        conn.execute(text("create table keep_me (x int)"))
    served = cli("serve", "--port", "1", ok=False)
    assert served.returncode == 1 and "warmstart db upgrade" in served.stderr


def test_public_bind_without_keys_refuses(cli) -> None:
    served = cli("serve", "--host", "0.0.0.0", "--port", "1", ok=False)
    assert served.returncode == 1 and "keys create" in served.stderr
