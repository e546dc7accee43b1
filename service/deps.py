"""Typed dependencies: the store, the settings, and API-key checks by scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from metastore.records import ApiKeyRecord, Scope
from metastore.store import MetaStore
from service.config import Settings
from service.problems import Forbidden, InvalidRequest, Unauthorized

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key made with `warmstart keys create --scope read|write|admin`.",
)

# admin implies write implies read
_IMPLIED: dict[Scope, set[Scope]] = {
    "read": {"read", "write", "admin"},
    "write": {"write", "admin"},
    "admin": {"admin"},
}


async def reject_unknown_query(request: Request) -> None:
    """A misspelt filter (`?task=regression`) must fail loudly, not return everything.

    `async` because it does no I/O: FastAPI runs a plain `def` dependency in its thread pool,
    a thread hop per request that costs milliseconds on a loaded machine.
    """
    route = request.scope.get("route")
    if route is None or not request.query_params:
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        raise InvalidRequest(
            f"Unknown query parameter(s) {unknown}; this endpoint takes {sorted(known) or 'none'}."
        )
    # Every query parameter of the API is a single value; a repeated one is ambiguous.
    repeated = sorted({k for k in request.query_params if len(request.query_params.getlist(k)) > 1})
    if repeated:
        raise InvalidRequest(f"Query parameter(s) {repeated} given more than once; give each once.")


def _query_names(dependant) -> set[str]:  # type: ignore[no-untyped-def]
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def get_store(request: Request) -> MetaStore:
    return request.app.state.store


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


StoreDep = Annotated[MetaStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _authorize(scope: Scope):  # type: ignore[no-untyped-def]
    def check(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> ApiKeyRecord | None:
        if key is None:
            # Open mode lasts only while no key exists: the first key created closes it.
            if request.app.state.anonymous and request.app.state.store.count_api_keys() == 0:
                return None
            raise Unauthorized(
                "Send an API key in the X-API-Key header. Create one with "
                "`warmstart keys create --scope " + scope + "`."
            )
        record = request.app.state.store.verify_api_key(key)
        if record is None:
            raise Unauthorized("The API key in X-API-Key is unknown or revoked.")
        if not _IMPLIED[scope] & set(record.scopes):
            raise Forbidden(
                f"This endpoint needs the {scope!r} scope; the key has {list(record.scopes)}. "
                f"Create a key with `warmstart keys create --scope {scope}`."
            )
        return record

    return check


ReadKey = Annotated[ApiKeyRecord | None, Depends(_authorize("read"))]
WriteKey = Annotated[ApiKeyRecord | None, Depends(_authorize("write"))]
AdminKey = Annotated[ApiKeyRecord | None, Depends(_authorize("admin"))]
