"""Routes for search spaces and configurations."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Path

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
def configuration(
    configuration_id: Annotated[int, Path(ge=1, le=2**31 - 1)], store: StoreDep, _: ReadKey
) -> ConfigurationOut:
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
