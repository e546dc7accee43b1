"""Fixtures of the studies store tests: the store on both databases, a dataset and a search space."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from metastore import models as m
from metastore.records import NewDataset
from metastore.sql import SqlMetaStore
from metastore.studies import SqlStudyStore


@pytest.fixture
def studies(store: SqlMetaStore) -> SqlStudyStore:
    return SqlStudyStore(store.engine)


@pytest.fixture
def setup(store: SqlMetaStore) -> tuple[int, int]:
    """(dataset id, knn search space id) in the store."""
    dataset, _ = store.add_dataset(NewDataset("d", "a" * 64, "regression", "y", 50, 2, {"a": "numeric"}))
    space = store.upsert_search_space("knn", "regression", "1", {})
    return dataset.id, space.id


def age_trial(engine: Engine, trial_id: int, seconds: float) -> None:
    """Move a trial's `suggested_at` `seconds` into the past, as a worker that went quiet would."""
    with engine.begin() as conn:
        conn.execute(
            update(m.StudyTrial)
            .where(m.StudyTrial.id == trial_id)
            .values(suggested_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )
