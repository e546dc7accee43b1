"""One contract, every storage mode: the same tests on SQLite and on PostgreSQL."""

from __future__ import annotations

import dataclasses

import pytest

from metastore.errors import (
    ConfigurationNotFound,
    DatasetNotFound,
    IdempotencyConflict,
    InvalidReference,
    SearchSpaceNotFound,
)
from metastore.records import DatasetFilter, MetaFeatureVector, NewDataset, NewEvaluation
from metastore.sql import SqlMetaStore


def new_dataset(i: int = 0, **kw) -> NewDataset:
    base = dict(
        name=f"ds-{i}",
        content_hash=f"{i:064x}",
        task_type="classification",
        target="y",
        n_rows=100 + i,
        n_features=3 + i,
        column_types={"a": "numeric", "b": "categorical"},
        column_stats={"a": {"missing": 1, "unique": 50}, "b": {"missing": 0, "unique": 3}},
    )
    base.update(kw)
    return NewDataset(**base)


def space_and_configs(store: SqlMetaStore, n: int = 2):
    space = store.upsert_search_space("lightgbm", "classification", "1", {"hp": {"lr": [0.01, 1]}})
    configs = store.add_configurations(space.id, [({"lr": 0.1 * (k + 1)}, f"c{k}") for k in range(n)])
    return space, configs


class TestStoreContract:
    def test_dataset_round_trip_and_dedup(self, store: SqlMetaStore) -> None:
        vector = MetaFeatureVector("1.0", {"nr_inst": 100.0, "x": None}, {"nr_inst": 0.01}, {"x": "why"}, 100)
        record, created = store.add_dataset(new_dataset(1, metafeatures=vector))
        assert created and record.id >= 1
        assert record.column_stats["a"] == {"missing": 1, "unique": 50}
        assert record.metafeatures == vector
        again, created_again = store.add_dataset(new_dataset(1, name="other name"))
        assert not created_again and again.id == record.id and again.name == "ds-1"
        assert store.get_dataset(record.id) == record
        assert store.find_dataset(f"{1:064x}") == record
        assert store.find_dataset("f" * 64) is None
        assert record.created_at.tzinfo is not None

    def test_records_are_immutable(self, store: SqlMetaStore) -> None:
        record, _ = store.add_dataset(new_dataset())
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.name = "changed"  # type: ignore[misc]

    def test_unknown_ids_raise_domain_errors(self, store: SqlMetaStore) -> None:
        with pytest.raises(DatasetNotFound) as exc:
            store.get_dataset(999)
        assert exc.value.id == 999 and "999" in str(exc.value)
        with pytest.raises(ConfigurationNotFound):
            store.get_configuration(5)
        with pytest.raises(SearchSpaceNotFound):
            store.add_configurations(77, [({"a": 1}, None)])
        with pytest.raises(DatasetNotFound):
            store.delete_dataset(3)

    def test_list_filters_and_pagination(self, store: SqlMetaStore) -> None:
        for i in range(5):
            store.add_dataset(new_dataset(i, task_type="regression" if i % 2 else "classification"))
        page = store.list_datasets(limit=2, offset=1)
        assert page.total == 5 and [d.name for d in page.items] == ["ds-1", "ds-2"]
        assert store.list_datasets(DatasetFilter(task_type="regression")).total == 2
        assert store.list_datasets(DatasetFilter(min_rows=102, max_rows=103)).total == 2
        assert store.list_datasets(DatasetFilter(min_features=6)).total == 2
        assert [d.name for d in store.list_datasets(DatasetFilter(name="DS-4")).items] == ["ds-4"]
        assert store.list_datasets(DatasetFilter(name="%")).total == 0  # LIKE wildcards escaped

    def test_metafeatures_replace_and_all(self, store: SqlMetaStore) -> None:
        a, _ = store.add_dataset(new_dataset(1))
        b, _ = store.add_dataset(new_dataset(2, task_type="regression"))
        store.set_metafeatures(a.id, MetaFeatureVector("1", {"f": 1.0}))
        store.set_metafeatures(a.id, MetaFeatureVector("2", {"f": float("nan"), "g": 2.0}))
        store.set_metafeatures(b.id, MetaFeatureVector("2", {"f": 3.0}))
        assert store.get_dataset(a.id).metafeatures.values == {"f": None, "g": 2.0}
        assert [r.id for r, _ in store.all_metafeatures()] == [a.id, b.id]
        assert [r.id for r, _ in store.all_metafeatures("regression")] == [b.id]
        with pytest.raises(DatasetNotFound):
            store.set_metafeatures(999, MetaFeatureVector("2", {}))

    def test_spaces_and_configurations_stored_once(self, store: SqlMetaStore) -> None:
        space, configs = space_and_configs(store)
        assert store.upsert_search_space("lightgbm", "classification", "1", {"other": 1}).id == space.id
        again = store.add_configurations(space.id, [({"lr": 0.1}, "c0"), ({"lr": 0.5}, None)])
        assert again[0].id == configs[0].id  # same values, same row
        assert again[1].id not in {c.id for c in configs}
        # key order does not change the canonical hash
        a = store.add_configurations(space.id, [({"x": 1, "y": 2}, None)])[0]
        b = store.add_configurations(space.id, [({"y": 2, "x": 1}, None)])[0]
        assert a.id == b.id and a.family == "lightgbm"
        assert store.get_configuration(a.id) == a
        assert len(store.list_configurations(space.id)) == 4
        assert [s.id for s in store.list_search_spaces()] == [space.id]

    def test_evaluations_batch_is_atomic(self, store: SqlMetaStore) -> None:
        ds, _ = store.add_dataset(new_dataset())
        _, configs = space_and_configs(store)
        good = NewEvaluation(ds.id, configs[0].id, "p1", {"accuracy": 0.9}, fit_time=1.0)
        bad = NewEvaluation(ds.id, 9999, "p1", {"accuracy": 0.5})
        with pytest.raises(InvalidReference) as exc:
            store.add_evaluations([good, bad])
        assert exc.value.ids == [9999]
        assert store.list_evaluations(dataset_id=ds.id) == []
        stored = store.add_evaluations([good, dataclasses.replace(good, configuration_id=configs[1].id)])
        assert [s.created for s in stored] == [True, True]
        assert store.evaluated_cells("p1") == {(ds.id, configs[0].id), (ds.id, configs[1].id)}
        assert store.evaluated_cells("other") == set()

    def test_idempotency_key_replays_and_conflicts(self, store: SqlMetaStore) -> None:
        ds, _ = store.add_dataset(new_dataset())
        _, configs = space_and_configs(store)
        item = NewEvaluation(ds.id, configs[0].id, "p", {"r2": 0.5}, idempotency_key="k-1")
        first = store.add_evaluations([item])[0]
        replay = store.add_evaluations([item])[0]
        assert first.created and not replay.created and replay.record.id == first.record.id
        with pytest.raises(IdempotencyConflict) as exc:
            store.add_evaluations([dataclasses.replace(item, metrics={"r2": 0.7})])
        assert exc.value.key == "k-1"
        assert len(store.list_evaluations(dataset_id=ds.id)) == 1

    def test_bulk_import_skips_known_keys(self, store: SqlMetaStore) -> None:
        ds, _ = store.add_dataset(new_dataset())
        _, configs = space_and_configs(store, n=2)
        items = [
            NewEvaluation(ds.id, c.id, "kb-v1", {"accuracy": 0.5 + k / 10}, idempotency_key=f"kb:{k}")
            for k, c in enumerate(configs * 600)
        ]
        assert store.import_evaluations(items) == 1200
        assert store.import_evaluations(items[:700]) == 0
        assert len(store.list_evaluations(dataset_id=ds.id)) == 1200
        with pytest.raises(ValueError, match="idempotency key"):
            store.import_evaluations([dataclasses.replace(items[0], idempotency_key=None)])
        with pytest.raises(InvalidReference):
            store.import_evaluations([dataclasses.replace(items[0], dataset_id=999, idempotency_key="z")])
        assert len(store.list_evaluations()) == 1200

    def test_failures_are_stored_with_their_message(self, store: SqlMetaStore) -> None:
        ds, _ = store.add_dataset(new_dataset())
        _, configs = space_and_configs(store)
        item = NewEvaluation(ds.id, configs[0].id, "p", {}, status="timeout", error="over 60 s")
        rec = store.add_evaluations([item])[0].record
        assert rec.status == "timeout" and rec.error == "over 60 s" and rec.metrics == {}

    def test_delete_dataset_removes_its_evaluations(self, store: SqlMetaStore) -> None:
        ds, _ = store.add_dataset(new_dataset())
        _, configs = space_and_configs(store)
        store.add_evaluations([NewEvaluation(ds.id, configs[0].id, "p", {"r2": 0.1})])
        store.delete_dataset(ds.id)
        with pytest.raises(DatasetNotFound):
            store.list_evaluations(dataset_id=ds.id)
        assert store.list_evaluations() == []
        assert store.stats().evaluations == 0

    def test_stats_fill_rate(self, store: SqlMetaStore) -> None:
        a, _ = store.add_dataset(new_dataset(1))
        store.add_dataset(new_dataset(2))
        _, configs = space_and_configs(store, n=2)
        store.add_evaluations([NewEvaluation(a.id, configs[0].id, "p", {"accuracy": 1.0})])
        s = store.stats()
        assert (s.datasets, s.families, s.configurations, s.evaluations) == (2, 1, 2, 1)
        assert s.fill_rate == pytest.approx(1 / 4)
        assert s.datasets_with_results == 1

    def test_stats_per_family_count_each_cell_once_by_its_latest_status(self, store: SqlMetaStore) -> None:
        a, _ = store.add_dataset(new_dataset(1))
        b, _ = store.add_dataset(new_dataset(2))
        _, configs = space_and_configs(store, n=3)
        knn = store.upsert_search_space("knn", "classification", "1", {})
        store.add_configurations(knn.id, [({"k": 1}, "k1")])
        store.add_evaluations([
            NewEvaluation(a.id, configs[0].id, "p", {}, status="timeout"),
            NewEvaluation(a.id, configs[0].id, "p", {"accuracy": 0.5}),  # measured again: now ok
            NewEvaluation(a.id, configs[1].id, "p", {}, status="failed", error="boom"),
            NewEvaluation(b.id, configs[2].id, "p", {}, status="timeout"),
        ])
        s = store.stats()
        assert s.datasets_with_results == 2
        knn_row, lgbm = s.by_family
        assert (knn_row.family, knn_row.configurations, knn_row.datasets, knn_row.cells) == ("knn", 1, 0, 0)
        assert lgbm.family == "lightgbm" and lgbm.configurations == 3 and lgbm.datasets == 2
        assert (lgbm.cells, lgbm.ok, lgbm.failed, lgbm.timeout) == (3, 1, 1, 1)

    def test_api_keys_hashed_scoped_revocable(self, store: SqlMetaStore) -> None:
        assert store.count_api_keys() == 0
        record, plaintext = store.create_api_key(["write", "read"], "ci")
        assert plaintext.startswith("ws_") and len(plaintext) > 30
        assert record.scopes == ("read", "write") and plaintext[:10] == record.prefix
        assert store.verify_api_key(plaintext) == record
        assert store.verify_api_key(plaintext + "x") is None
        assert store.count_api_keys() == 1
        store.revoke_api_key(record.id)
        assert store.verify_api_key(plaintext) is None and store.count_api_keys() == 0
        from sqlalchemy import text

        with store.engine.connect() as conn:
            stored = conn.execute(text("select key_hash from api_keys")).scalar_one()
        assert plaintext not in stored

    def test_learner_models_versioned(self, store: SqlMetaStore) -> None:
        assert store.latest_learner_model("learned", "regression", "r2") is None
        a = store.save_learner_model("learned", "regression", "r2", "v1", "fp1", b"\x00abc", {"n": 1})
        store.save_learner_model("learned", "regression", "r2", "v2", "fp2", b"\x01def", {"n": 2})
        store.save_learner_model("knn", "regression", "r2", "k1", "fp2", b"k", {})
        latest = store.latest_learner_model("learned", "regression", "r2")
        assert latest.version == "v2" and latest.payload == b"\x01def" and latest.metrics == {"n": 2}
        assert a.payload is None and a.version == "v1"
        assert [r.version for r in store.list_learner_models()] == ["k1", "v2", "v1"]

    def test_knowledge_fingerprint_moves_with_evaluations(self, store: SqlMetaStore) -> None:
        ds, _ = store.add_dataset(new_dataset())
        _, configs = space_and_configs(store)
        before = store.knowledge_fingerprint("kb-v1")
        assert store.knowledge_fingerprint("kb-v1") == before
        store.add_evaluations([NewEvaluation(ds.id, configs[0].id, "kb-v1", {"r2": 1.0})])
        after_result = store.knowledge_fingerprint("kb-v1")
        assert after_result != before
        # another protocol's result (a study's "user" observation) is not knowledge of this one
        store.add_evaluations([NewEvaluation(ds.id, configs[1].id, "user", {"r2": 0.5})])
        assert store.knowledge_fingerprint("kb-v1") == after_result
        assert store.knowledge_fingerprint("user") != store.knowledge_fingerprint("kb-v1")
        store.set_metafeatures(ds.id, MetaFeatureVector("2", {"f": 1.0}))
        assert store.knowledge_fingerprint("kb-v1") != after_result
        other, _ = store.add_dataset(new_dataset(7))
        with_other = store.knowledge_fingerprint("kb-v1")
        store.delete_dataset(other.id)
        assert store.knowledge_fingerprint("kb-v1") != with_other

    def test_check_passes_on_migrated_store(self, store: SqlMetaStore) -> None:
        store.check()
