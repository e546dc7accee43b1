"""Migrations are the schema: empty to head, down and up again, and the models match them."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from metastore import schema
from metastore.errors import SchemaOutOfDate, StoreUnavailable
from metastore.models import Base
from metastore.session import make_engine
from metastore.sql import SqlMetaStore

TABLES = {
    "datasets",
    "dataset_metafeatures",
    "search_spaces",
    "configurations",
    "evaluations",
    "api_keys",
    "learner_models",
    "families",
    "family_tasks",
    "family_models",
    "family_model_weights",
    "jobs",
    "job_events",
    "job_checkpoints",
    "studies",
    "study_trials",
}


def test_empty_to_head_then_round_trip(database_url: str) -> None:
    engine = make_engine(database_url)
    assert schema.current_revision(engine) is None
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    schema.downgrade(engine, "base")
    assert schema.current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    schema.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_models_match_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    schema.upgrade(engine)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def test_stale_schema_is_refused_with_the_fix(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    store = SqlMetaStore(engine)
    with pytest.raises(SchemaOutOfDate) as exc:
        store.check()
    assert "warmstart db upgrade" in str(exc.value)
    assert exc.value.current is None and exc.value.head == schema.head_revision()


def test_unreachable_database_is_unavailable_not_a_crash() -> None:
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")
    with pytest.raises(StoreUnavailable):
        SqlMetaStore(engine).check()
