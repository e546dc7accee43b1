"""App, client and real-server fixtures for the service tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from metastore.sql import SqlMetaStore
from service.app import create_app
from service.config import Settings


def make_settings(tmp_path: Path, url: str | None = None, **kw) -> Settings:
    kw.setdefault("embedded_worker", False)  # tests that need a worker start one themselves
    return Settings(data_dir=tmp_path / "data", database_url=url, load_bundled_kb=False, **kw)


@pytest.fixture
def app(tmp_path: Path, sqlite_store: SqlMetaStore) -> FastAPI:
    """An app in open mode (no keys yet) on a migrated SQLite metastore."""
    settings = make_settings(tmp_path, str(sqlite_store.engine.url))
    settings.prepare_dirs()
    return create_app(settings, sqlite_store)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture
def keys(sqlite_store: SqlMetaStore) -> dict[str, str]:
    """One key per scope; creating them closes the open mode."""
    return {scope: sqlite_store.create_api_key([scope], scope)[1] for scope in ("read", "write", "admin")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
