"""Routes for search spaces and configurations."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from metastore.errors import ConfigurationNotFound
from service.deps import ReadKey, StoreDep
from service.schemas import ConfigurationOut, SearchSpaceOut

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get("/search-spaces", response_model=list[SearchSpaceOut], summary="Known search spaces")
def search_spaces(store: StoreDep, _: ReadKey) -> list[SearchSpaceOut]:
    counts = Counter(c.space_id for c in store.list_configurations())
    return [
        SearchSpaceOut(
            id=s.id,
            family=s.family,
            task_type=s.task_type,
            version=s.version,
            definition=s.definition,
            n_configurations=counts.get(s.id, 0),
        )
        for s in store.list_search_spaces()
    ]


@router.get(
    "/configurations/{configuration_id}", response_model=ConfigurationOut, summary="One configuration"
)
def configuration(configuration_id: int, store: StoreDep, _: ReadKey) -> ConfigurationOut:
    if not 1 <= configuration_id <= 2**31 - 1:
        raise ConfigurationNotFound(configuration_id)
    c = store.get_configuration(configuration_id)
    return ConfigurationOut(
        id=c.id,
        space_id=c.space_id,
        family=c.family,
        task_type=c.task_type,
        name=c.name,
        hyperparameters=c.values,
        config_hash=c.config_hash,
    )
