"""Reporting evaluations: resolve each configuration, then store the batch atomically and idempotently."""

from __future__ import annotations

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
    [config] = store.add_configurations(space.id, [(item.hyperparameters or {}, None)])
    return config.id
