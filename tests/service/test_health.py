"""Liveness, readiness, and a database outage that becomes 503 with Retry-After, never a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from metastore import schema
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from service.app import create_app
from tests.service.conftest import make_settings


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json()["status"] == "ready"


def test_ready_is_503_on_a_stale_schema(tmp_path, sqlite_store: SqlMetaStore) -> None:
    app = create_app(make_settings(tmp_path, str(sqlite_store.engine.url)), sqlite_store)
    schema.downgrade(sqlite_store.engine, "base")
    r = TestClient(app).get("/readyz")
    assert r.status_code == 503 and "warmstart db upgrade" in r.json()["detail"]


def test_database_outage_is_503_with_retry_after(tmp_path, postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    schema.upgrade(engine)
    store = SqlMetaStore(engine)
    client = TestClient(create_app(make_settings(tmp_path, postgres_url), store))
    assert client.get("/v1/datasets").status_code == 200
    # Take the database away under the running service.
    engine.dispose()
    name = engine.url.database
    admin = create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=:n"), {"n": name}
        )
        conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
    try:
        for path in ("/v1/datasets", "/readyz"):
            r = client.get(path)
            assert r.status_code == 503, (path, r.text)
            assert r.headers["retry-after"] and r.headers["content-type"] == "application/problem+json"
        assert client.get("/healthz").status_code == 200
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()


def test_every_response_says_how_long_the_server_took(client: TestClient) -> None:
    r = client.get("/v1/datasets")
    name, _, value = r.headers["server-timing"].partition(";dur=")
    assert name == "app" and float(value) >= 0
    assert "server-timing" in client.get("/v1/nothing-here").headers
