"""Reporting evaluations: resolve each configuration, then store the batch atomically and idempotently."""

from __future__ import annotations

from learners.spaces import InvalidConfigurationError, UnknownFamilyError, get_space
from metastore.records import NewEvaluation, StoredEvaluation
from metastore.store import MetaStore
from service.problems import InvalidRequest
from service.schemas import EvaluationIn


def report_evaluations(
    store: MetaStore, items: list[EvaluationIn], idempotency_key: str | None
) -> list[StoredEvaluation]:
    """Store reported results. With one key for a batch, item i gets the key `KEY/i`."""
    new = []
    for i, item in enumerate(items):
        key = None
        if idempotency_key:
            key = idempotency_key if len(items) == 1 else f"{idempotency_key}/{i}"
        new.append(
            NewEvaluation(
                dataset_id=item.dataset_id,
                configuration_id=_configuration_id(store, item),
                protocol=item.protocol,
                metrics=dict(item.metrics),
                status=item.status,
                fit_time=item.fit_time,
                predict_time=item.predict_time,
                peak_memory_mb=item.peak_memory_mb,
                error=item.error,
                source=item.source,
                idempotency_key=key,
            )
        )
    return store.add_evaluations(new)


def _configuration_id(store: MetaStore, item: EvaluationIn) -> int:
    if item.configuration_id is not None:
        return item.configuration_id
    dataset = store.get_dataset(item.dataset_id)
    spaces = [
        s for s in store.list_search_spaces() if s.family == item.family and s.task_type == dataset.task_type
    ]
    if not spaces:
        known = sorted({s.family for s in store.list_search_spaces()})
        raise InvalidRequest(
            f"No {dataset.task_type} search space for family {item.family!r}; known families: "
            f"{known}. See GET /v1/search-spaces."
        )
    space = max(spaces, key=lambda s: s.id)
    values = _validated(item.family or "", dataset.task_type, space.version, item.hyperparameters or {})
    [config] = store.add_configurations(space.id, [(values, None)])
    return config.id


def _validated(family: str, task_type: str, version: str, values: dict) -> dict:
    """Check values against warmstart's own space of that family, when the stored space is it."""
    try:
        space = get_space(family, task_type)
    except UnknownFamilyError:
        return values  # a space registered by a user: stored as given
    if str(space.version) != version:
        return values
    try:
        # Hyperparameters left out take the library default, which is what the user ran.
        return space.validate({**space.default(), **values})
    except InvalidConfigurationError as exc:
        raise InvalidRequest(f"{exc}. See GET /v1/search-spaces for the ranges.") from exc
