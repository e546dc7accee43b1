"""Nearest prior datasets: the stored meta-feature vectors, scaled and compared by learners."""

from __future__ import annotations

from learners.metafeatures import nearest
from metastore.records import DatasetRecord
from metastore.store import MetaStore


def nearest_datasets(store: MetaStore, record: DatasetRecord, k: int) -> list[tuple[DatasetRecord, float]]:
    """The k datasets of the same task type closest to `record` (itself excluded)."""
    if record.metafeatures is None:
        return []
    candidates = [(r, v) for r, v in store.all_metafeatures(task_type=record.task_type) if r.id != record.id]
    if not candidates:
        return []
    found = nearest(
        [v.values for _, v in candidates],
        record.metafeatures.values,
        k,
        versions=[v.version for _, v in candidates],
    )
    return [(candidates[i][0], d) for i, d in found]
