"""The families store on SQLite and PostgreSQL: families, tasks stored once, versioned models."""

from __future__ import annotations

import pytest

from metastore.families import (
    FamilyNameTaken,
    FamilyNotFound,
    ModelNotFound,
    NewFamily,
    NewFamilyModel,
    SqlFamilyStore,
)
from metastore.sql import SqlMetaStore

SINES = NewFamily("sines", "regression", ("x",), "y", "maml", {"hidden": [40, 40], "seed": 0})


@pytest.fixture
def families(store: SqlMetaStore) -> SqlFamilyStore:
    return SqlFamilyStore(store.engine)


def test_family_round_trip_and_unique_name(families: SqlFamilyStore) -> None:
    made = families.create_family(SINES)
    got = families.get_family(made.id)
    assert got == made
    assert (got.features, got.algorithm, got.settings["hidden"]) == (("x",), "maml", [40, 40])
    with pytest.raises(FamilyNameTaken, match="sines"):
        families.create_family(SINES)
    assert [f.name for f in families.list_families()] == ["sines"]
    with pytest.raises(FamilyNotFound):
        families.get_family(made.id + 1)


def test_tasks_are_stored_once_per_content(families: SqlFamilyStore) -> None:
    fam = families.create_family(SINES)
    first, created = families.add_task(fam.id, "a", 3, "h" * 64, b"abc")
    again, created_again = families.add_task(fam.id, "a-again", 3, "h" * 64, b"abc")
    families.add_task(fam.id, "b", 2, "g" * 64, b"de")
    assert (created, created_again, again.id) == (True, False, first.id)
    assert [t.name for t in families.list_tasks(fam.id)] == ["a", "b"]
    assert [p for _, p in families.task_payloads(fam.id)] == [b"abc", b"de"]
    with pytest.raises(FamilyNotFound):
        families.add_task(fam.id + 1, "c", 1, "f" * 64, b"x")


def test_models_are_versioned_per_kind_with_lineage(families: SqlFamilyStore) -> None:
    fam = families.create_family(SINES)
    assert families.latest_model(fam.id, "init") is None
    v1 = families.add_model(NewFamilyModel(fam.id, "init", "a.safetensors", {"loss": 1.0}))
    v2 = families.add_model(NewFamilyModel(fam.id, "init", "b.safetensors", {"loss": 0.5}))
    pooled = families.add_model(NewFamilyModel(fam.id, "pooled", "c.safetensors", {}))
    adapted = families.add_model(
        NewFamilyModel(fam.id, "adapted", "d.safetensors", {}, parent_id=v2.id, support_hash="s" * 64)
    )
    assert (v1.version, v2.version, pooled.version, adapted.version) == (1, 2, 1, 1)
    assert families.latest_model(fam.id, "init") == v2
    assert families.get_model(adapted.id).parent_id == v2.id
    assert [m.id for m in families.list_models(fam.id)] == [adapted.id, pooled.id, v2.id, v1.id]
    assert [m.id for m in families.list_models(fam.id, "init")] == [v2.id, v1.id]
    with pytest.raises(ModelNotFound):
        families.get_model(adapted.id + 100)
    with pytest.raises(ValueError, match="kind"):
        families.add_model(NewFamilyModel(fam.id, "other", "e.safetensors", {}))


def test_weights_are_stored_with_the_model_in_one_transaction(families: SqlFamilyStore) -> None:
    fam = families.create_family(SINES)
    blob = bytes(range(256)) * 40  # binary-safe, 10 KB
    with_weights = families.add_model(NewFamilyModel(fam.id, "init", "a.safetensors", {}, weights=blob))
    older = families.add_model(NewFamilyModel(fam.id, "init", "b.safetensors", {}))  # a file, pre-0007
    assert families.model_weights(with_weights.id) == blob
    assert families.model_weights(older.id) is None
    with pytest.raises(ModelNotFound):
        families.model_weights(older.id + 100)
    # a model that cannot be stored takes its weights with it
    with pytest.raises(FamilyNotFound):
        families.add_model(NewFamilyModel(fam.id + 1, "init", "c.safetensors", {}, weights=blob))
    assert [m.id for m in families.list_models(fam.id)] == [older.id, with_weights.id]
