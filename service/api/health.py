"""Liveness and readiness probes (no API key needed)."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import StoreDep
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"description": "Database unreachable or schema out of date"}},
    summary="The database is reachable and its schema is current",
)
def readyz(store: StoreDep) -> Health:
    store.check()  # raises StoreUnavailable / SchemaOutOfDate -> 503 problem+json
    return Health(status="ready")
