"""Shared fixtures: a fresh metastore on SQLite and on PostgreSQL, apps and clients on top of them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from metastore import schema
from metastore.session import make_engine
from metastore.sql import SqlMetaStore

POSTGRES_ADMIN_URL = os.environ.get(
    "WARMSTART_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED = Path(__file__).resolve().parents[2] / "shared"
PMLB = SHARED / "data" / "pmlb"


def _postgres_reachable() -> str | None:
    """None when reachable, else the reason."""
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {str(exc).splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = _postgres_reachable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must reach PostgreSQL: {reason}")
        pytest.skip(reason)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"warmstart_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:  # FORCE ends the sessions a test left open (PostgreSQL 13+)
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+pysqlite:///{tmp_path / 'metastore.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind (no schema yet)."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def store(database_url: str) -> Iterator[SqlMetaStore]:
    """A migrated, empty metastore on SQLite and on PostgreSQL."""
    engine = make_engine(database_url)
    schema.upgrade(engine)
    yield SqlMetaStore(engine)
    engine.dispose()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[SqlMetaStore]:
    engine = make_engine(sqlite_url)
    schema.upgrade(engine)
    yield SqlMetaStore(engine)
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_bundled_kb_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from empty metastores (also in the CLI processes they spawn) unless a test
    loads the bundled knowledge base on purpose."""
    monkeypatch.setenv("WARMSTART_LOAD_BUNDLED_KB", "false")
