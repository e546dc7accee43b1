"""Access: every route outside the allow-list needs a valid key with the right scope."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from metastore.sql import SqlMetaStore
from service.app import StartupRefused, create_app
from tests.service.conftest import make_settings

OPEN_PATHS = {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json"}


def _routes(routes, prefix: str = ""):
    """(method, path, route) of every route, descending into included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI >= 0.16x wraps included routers
        if inner is not None:
            yield from _routes(inner.routes, prefix + route.include_context.prefix)
            continue
        methods = getattr(route, "methods", None) or set()
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            yield method, prefix + route.path, route


def test_every_route_needs_a_key(client: TestClient, keys, app) -> None:
    checked = 0
    walked = set()
    for method, path, route in _routes(app.routes):
        walked.add((method.lower(), path))
        if path in OPEN_PATHS:
            continue
        assert isinstance(route, APIRoute), f"unexpected non-API route {path}"
        url = re.sub(r"\{[^}]+\}", "1", path)
        for headers in ({}, {"X-API-Key": "ws_not-a-real-key"}):
            r = client.request(method, url, headers=headers)
            assert r.status_code == 401, f"{method} {path} answered {r.status_code} with {headers}"
            assert r.headers["content-type"] == "application/problem+json"
        checked += 1
    assert checked >= 8
    documented = {(m, p) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented <= walked, f"routes the walk missed: {documented - walked}"


def test_allow_list_routes_answer_without_a_key(client: TestClient, keys) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_scopes(client: TestClient, keys) -> None:
    read = {"X-API-Key": keys["read"]}
    write = {"X-API-Key": keys["write"]}
    admin = {"X-API-Key": keys["admin"]}
    assert client.get("/v1/datasets", headers=read).status_code == 200
    body = {"name": "t", "target": "y", "rows": [{"a": i % 3, "y": i * 1.5} for i in range(12)]}
    denied = client.post("/v1/datasets", json=body, headers=read)
    assert denied.status_code == 403 and "write" in denied.json()["detail"]
    created = client.post("/v1/datasets", json=body, headers=write)
    assert created.status_code == 201
    ds = created.json()["id"]
    assert client.delete(f"/v1/datasets/{ds}", headers=write).status_code == 403
    assert client.delete(f"/v1/datasets/{ds}", headers=admin).status_code == 204
    assert client.get("/v1/datasets", headers=admin).status_code == 200  # admin implies read


def test_openapi_declares_the_key_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert any(s["type"] == "apiKey" and s["name"] == "X-API-Key" for s in schemes.values())


def test_open_mode_ends_when_a_key_exists(client: TestClient, sqlite_store: SqlMetaStore) -> None:
    assert client.get("/v1/datasets").status_code == 200
    sqlite_store.create_api_key(["read"])
    assert client.get("/v1/datasets").status_code == 401


def test_no_keys_on_a_public_address_refuses_to_start(tmp_path, sqlite_store: SqlMetaStore) -> None:
    settings = make_settings(tmp_path, str(sqlite_store.engine.url), host="0.0.0.0")
    with pytest.raises(StartupRefused, match="keys create"):
        create_app(settings, sqlite_store)
    sqlite_store.create_api_key(["admin"])
    assert create_app(settings, sqlite_store).state.anonymous is False


def test_required_auth_mode_needs_keys_even_on_loopback(tmp_path, sqlite_store: SqlMetaStore) -> None:
    app = create_app(make_settings(tmp_path, str(sqlite_store.engine.url), auth="required"), sqlite_store)
    assert TestClient(app).get("/v1/datasets").status_code == 401
