"""The body limit holds for a declared length and for a chunked upload that never declares one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.app import create_app
from tests.service.conftest import LiveServer, make_settings


@pytest.fixture
def limited_server(tmp_path, sqlite_store):
    app = create_app(
        make_settings(tmp_path, str(sqlite_store.engine.url), max_upload_bytes=10_000), sqlite_store
    )
    with LiveServer(app) as server:
        yield server, app


def _chunks(total: int) -> Iterator[bytes]:
    yield b"a,y\n"
    sent = 4
    i = 0
    while sent < total:
        line = f"{i},{i}\n".encode()
        sent += len(line)
        i += 1
        yield line


def test_chunked_upload_over_limit_is_413(limited_server) -> None:
    server, app = limited_server
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post(
            "/v1/datasets",
            content=_chunks(200_000),
            headers={"content-type": "application/json"},
        )
        assert "content-length" not in r.request.headers  # really chunked
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert "10000 bytes" in r.json()["detail"]
        assert http.get("/v1/datasets").json()["total"] == 0
    assert list(app.state.settings.uploads_dir.iterdir()) == []


def test_declared_length_over_limit_is_413(limited_server) -> None:
    server, _ = limited_server
    body = b"a,y\n" + b"1,2\n" * 5000
    r = httpx.post(f"{server.url}/v1/datasets", files={"file": ("x.csv", body)}, data={"target": "y"})
    assert r.status_code == 413


def test_under_limit_passes(limited_server) -> None:
    server, _ = limited_server
    body = b"a,y\n" + b"".join(f"{i % 5},{i}.5\n".encode() for i in range(50))
    r = httpx.post(
        f"{server.url}/v1/datasets", files={"file": ("x.csv", body)}, data={"target": "y"}, timeout=60
    )
    assert r.status_code == 201, r.text
