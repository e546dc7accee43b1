"""Space version 2 (class_weight) on stored rows and in old knowledge-base files, SQLite and
PostgreSQL: version-1 configurations move in place with class_weight "none", results follow."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from learners.spaces import get_space
from learners.spaces.families import CLASS_WEIGHT_FAMILIES as SPACE_FAMILIES
from learners.spaces.families import CLASS_WEIGHT_VERSION
from metastore import models as m
from metastore import schema
from metastore.kb.bundle import export_kb, load_kb, read_kb
from metastore.records import MetaFeatureVector, NewDataset, NewEvaluation
from metastore.session import make_engine
from metastore.sql import SqlMetaStore, config_hash
from metastore.upgrades import (
    CLASS_WEIGHT_FAMILIES,
    _v1_definition,
    _v2_definition,
    downgrade_class_weight,
    upgrade_class_weight,
)


def _v1(family: str) -> tuple[dict, dict]:
    """Version 1 of a family's classification space (definition, default): version 2 without
    class_weight, which is what version 1 was."""
    definition = _v1_definition(get_space(family, "classification").to_json(), family)
    assert "class_weight" not in json.dumps(definition)
    return definition, dict(definition["default"])


def _evaluation(dataset_id: int, config_id: int, score: float) -> NewEvaluation:
    return NewEvaluation(
        dataset_id,
        config_id,
        "kb-v1",
        {"balanced_accuracy": score},
        fit_time=0.1,
        idempotency_key=f"t:{dataset_id}:{config_id}",
    )


def _rows(store: SqlMetaStore) -> dict:
    spaces = {s.id: s for s in store.list_search_spaces()}
    return {
        (spaces[c.space_id].family, spaces[c.space_id].task_type, spaces[c.space_id].version, c.name): c
        for c in store.list_configurations()
    }


def test_the_frozen_rule_matches_the_spaces() -> None:
    assert CLASS_WEIGHT_FAMILIES == SPACE_FAMILIES and CLASS_WEIGHT_VERSION == 2
    for family in CLASS_WEIGHT_FAMILIES:
        assert _v2_definition(_v1(family)[0], family) == get_space(family, "classification").to_json()


def test_migration_0009_moves_version_1_and_back(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        schema.upgrade(engine, "0008_study_pending_timeout")
        store = SqlMetaStore(engine)
        d, _ = store.add_dataset(NewDataset("d", "a" * 64, "classification", "y", 50, 2, {"a": "numeric"}))
        definition, default = _v1("lightgbm")
        space = store.upsert_search_space("lightgbm", "classification", "1", definition)
        [c_default, c_other] = store.add_configurations(
            space.id, [(default, "lightgbm-default"), ({**default, "num_leaves": 7}, "lightgbm-sobol-00")]
        )
        reg = store.upsert_search_space("lightgbm", "regression", "1", {"version": 1})
        [c_reg] = store.add_configurations(reg.id, [({"num_leaves": 31}, "lightgbm-default")])
        knn = store.upsert_search_space("knn", "classification", "1", {"version": 1})
        [c_knn] = store.add_configurations(knn.id, [({"n_neighbors": 5}, "knn-default")])
        store.import_evaluations([_evaluation(d.id, c.id, 0.5) for c in (c_default, c_other, c_reg, c_knn)])

        schema.upgrade(engine)
        rows = _rows(store)
        moved = rows[("lightgbm", "classification", "2", "lightgbm-default")]
        assert moved.id == c_default.id and moved.values == {**default, "class_weight": "none"}
        assert moved.config_hash == config_hash(moved.values)
        assert moved.values == get_space("lightgbm", "classification").default()
        assert rows[("lightgbm", "classification", "2", "lightgbm-sobol-00")].id == c_other.id
        assert (
            store.get_search_space(space.id).definition == get_space("lightgbm", "classification").to_json()
        )
        # other task types and families are untouched; every result is still there, on its row
        assert rows[("lightgbm", "regression", "1", "lightgbm-default")].values == {"num_leaves": 31}
        assert rows[("knn", "classification", "1", "knn-default")].values == {"n_neighbors": 5}
        assert sorted(e.configuration_id for e in store.list_evaluations()) == sorted(
            [c_default.id, c_other.id, c_reg.id, c_knn.id]
        )

        [balanced] = store.add_configurations(space.id, [({**moved.values, "class_weight": "balanced"}, "b")])
        store.import_evaluations([_evaluation(d.id, balanced.id, 0.7)])
        schema.downgrade(engine, "0008_study_pending_timeout")
        rows = _rows(store)
        assert rows[("lightgbm", "classification", "1", "lightgbm-default")].values == default
        assert rows[("lightgbm", "classification", "1", "lightgbm-default")].config_hash == config_hash(
            default
        )
        assert not any(name == "b" for *_, name in rows)  # version 1 cannot express it
        assert balanced.id not in {e.configuration_id for e in store.list_evaluations()}
        assert len(store.list_evaluations()) == 4

        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert _rows(store)[("lightgbm", "classification", "2", "lightgbm-default")].id == c_default.id
    finally:
        engine.dispose()


def test_a_version_1_copy_merges_into_the_stored_version_2(store: SqlMetaStore) -> None:
    d, _ = store.add_dataset(NewDataset("d", "a" * 64, "classification", "y", 50, 2, {"a": "numeric"}))
    v2 = get_space("svm", "classification")
    new = store.upsert_search_space("svm", "classification", "2", v2.to_json())
    [kept] = store.add_configurations(new.id, [(v2.default(), "svm-default")])
    definition, default = _v1("svm")
    old = store.upsert_search_space("svm", "classification", "1", definition)
    [dup, other] = store.add_configurations(old.id, [(default, "svm-default"), ({**default, "C": 3.0}, None)])
    store.import_evaluations([_evaluation(d.id, dup.id, 0.6), _evaluation(d.id, other.id, 0.4)])
    with store.engine.begin() as conn:
        assert upgrade_class_weight(conn) == 2
    spaces = [s for s in store.list_search_spaces() if s.family == "svm"]
    assert [(s.id, s.version) for s in spaces] == [(new.id, "2")]
    configs = {c.id: c for c in store.list_configurations(new.id)}
    assert set(configs) == {kept.id, other.id} and configs[other.id].values["class_weight"] == "none"
    assert sorted(e.configuration_id for e in store.list_evaluations()) == sorted([kept.id, other.id])
    with store.engine.begin() as conn:
        assert upgrade_class_weight(conn) == 0  # nothing left to move
        assert downgrade_class_weight(conn) == 0  # nothing balanced to delete
    with store.engine.connect() as conn:
        assert conn.execute(select(m.SearchSpace.version).where(m.SearchSpace.id == new.id)).scalar() == "1"


def test_a_file_exported_before_version_2_loads_as_version_2(tmp_path: Path, sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    schema.upgrade(engine)
    source = SqlMetaStore(engine)
    d, _ = source.add_dataset(
        NewDataset(
            "d",
            "a" * 64,
            "classification",
            "y",
            50,
            2,
            {"a": "numeric"},
            source="pmlb",
            metafeatures=MetaFeatureVector("1.0", {"nr_inst": 50.0}),
        )
    )
    definition, default = _v1("linear")
    old = source.upsert_search_space("linear", "classification", "1", definition)
    [c] = source.add_configurations(old.id, [(default, "linear-default")])
    source.import_evaluations([_evaluation(d.id, c.id, 0.8)])
    export_kb(source, tmp_path / "old.parquet")
    assert {s["version"] for s in read_kb(tmp_path / "old.parquet").header["spaces"]} == {"1"}
    engine.dispose()

    target_engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'target.sqlite'}")
    schema.upgrade(target_engine)
    target = SqlMetaStore(target_engine)
    v2 = get_space("linear", "classification")
    space = target.upsert_search_space("linear", "classification", "2", v2.to_json())
    [there] = target.add_configurations(space.id, [(v2.default(), "linear-default")])
    for _ in range(2):  # loading twice adds nothing
        result = load_kb(target, tmp_path / "old.parquet")
        assert result["configurations"] == 1
    assert [(s.version, s.id) for s in target.list_search_spaces()] == [("2", space.id)]
    [e] = target.list_evaluations()
    assert e.configuration_id == there.id and e.metrics == {"balanced_accuracy": 0.8}
    target_engine.dispose()
