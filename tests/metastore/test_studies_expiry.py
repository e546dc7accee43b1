"""Pending trials expire after their study's pending_timeout_s, on SQLite and PostgreSQL.

No sleeping: a trial is aged by moving its `suggested_at` into the past with a real UPDATE.
"""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from metastore import models as m
from metastore import schema
from metastore.records import NewDataset
from metastore.session import make_engine
from metastore.sql import SqlMetaStore
from metastore.studies import (
    NewStudy,
    Observation,
    ObservationConflict,
    ProposedTrial,
    SqlStudyStore,
    TrialRecord,
)
from tests.metastore.conftest import age_trial


def _study(studies: SqlStudyStore, dataset_id: int, timeout: float | None = 60.0) -> int:
    new = NewStudy(dataset_id, "regression", "knn", ("knn",), "r2", "maximize", pending_timeout_s=timeout)
    return studies.create_study(new).id


def _knn(space_id: int, *ks: int):  # type: ignore[no-untyped-def]
    def propose(study, trials):  # type: ignore[no-untyped-def]
        return [ProposedTrial(space_id, "knn", {"n_neighbors": k}, "random") for k in ks]

    return propose




def _stored_state(studies: SqlStudyStore, trial_id: int) -> str:
    with studies.engine.connect() as conn:
        return conn.scalar(select(m.StudyTrial.state).where(m.StudyTrial.id == trial_id))  # type: ignore[return-value]


def test_reads_report_a_timed_out_trial_as_expired(studies: SqlStudyStore, setup: tuple[int, int]) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id, timeout=60)
    a, b, c = studies.suggest(sid, _knn(space_id, 1, 2, 3))
    assert studies.get_study(sid).pending_timeout_s == 60
    age_trial(studies.engine, a.id, 61)
    age_trial(studies.engine, b.id, 50)  # younger than the timeout: still pending
    assert [t.state for t in studies.trials(sid)] == ["expired", "pending", "pending"]
    assert studies.get_trial(sid, a.id).state == "expired" and studies.get_trial(sid, c.id).state == "pending"
    got = studies.get_study(sid)
    assert (got.n_trials, got.n_pending) == (3, 2)
    assert [s.n_pending for s in studies.list_studies().items if s.id == sid] == [2]
    assert _stored_state(studies, a.id) == "pending"  # reads compute it; only suggest stores it


def test_suggest_stores_the_expiry_before_proposing(studies: SqlStudyStore, setup: tuple[int, int]) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id, timeout=60)
    other = _study(studies, dataset_id, timeout=60)
    a, b = studies.suggest(sid, _knn(space_id, 1, 2))
    [elsewhere] = studies.suggest(other, _knn(space_id, 1))
    age_trial(studies.engine, a.id, 3600)
    age_trial(studies.engine, elsewhere.id, 3600)
    seen: list[tuple[int, list[TrialRecord]]] = []

    def propose(study, trials):  # type: ignore[no-untyped-def]
        seen.append((study.n_pending, trials))
        return _knn(space_id, 1, 3)(study, trials)  # 1 is the expired trial's configuration

    new = studies.suggest(sid, propose)
    [(n_pending, trials)] = seen
    assert [(t.id, t.state) for t in trials] == [(a.id, "expired"), (b.id, "pending")] and n_pending == 1
    assert [t.hyperparameters for t in new] == [{"n_neighbors": 3}]  # 1 is not handed out again
    assert new[0].number == 2
    assert _stored_state(studies, a.id) == "expired"
    assert _stored_state(studies, elsewhere.id) == "pending"  # another study's trial is left alone
    assert studies.get_study(sid).n_pending == 2


def test_a_late_result_of_an_expired_trial_is_recorded(
    studies: SqlStudyStore, setup: tuple[int, int]
) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id, timeout=60)
    a, b = studies.suggest(sid, _knn(space_id, 1, 2))
    age_trial(studies.engine, a.id, 120)
    age_trial(studies.engine, b.id, 120)
    studies.suggest(sid, _knn(space_id))  # stores both as expired
    assert _stored_state(studies, a.id) == _stored_state(studies, b.id) == "expired"
    ok = Observation("ok", 0.7, {"r2": 0.7})
    trial, created = studies.observe(sid, a.id, ok)
    assert created and (trial.state, trial.score) == ("ok", 0.7)
    assert studies.observe(sid, a.id, ok) == (trial, False)
    with pytest.raises(ObservationConflict):
        studies.observe(sid, a.id, Observation("ok", 0.8, {"r2": 0.8}))
    failed, created = studies.observe(sid, b.id, Observation("failed", None, {}, error="killed"))
    assert created and failed.state == "failed"
    got = studies.get_study(sid)
    assert (got.n_pending, got.best_score) == (0, 0.7)
    assert [t.state for t in studies.trials(sid)] == ["ok", "failed"]  # observed: no longer expired


def test_a_study_without_a_timeout_never_expires(studies: SqlStudyStore, setup: tuple[int, int]) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id, timeout=None)
    [a] = studies.suggest(sid, _knn(space_id, 1))
    age_trial(studies.engine, a.id, 10 * 365 * 86_400)
    studies.suggest(sid, _knn(space_id, 2))
    assert studies.get_trial(sid, a.id).state == "pending" and _stored_state(studies, a.id) == "pending"
    assert (studies.get_study(sid).pending_timeout_s, studies.get_study(sid).n_pending) == (None, 2)


def test_migration_0008_up_and_down(database_url: str) -> None:
    """Studies made before 0008 get no timeout; going back turns expired trials into pending ones."""
    engine = make_engine(database_url)
    try:
        schema.upgrade(engine)
        store, studies = SqlMetaStore(engine), SqlStudyStore(engine)
        dataset, _ = store.add_dataset(NewDataset("d", "b" * 64, "regression", "y", 50, 2, {"a": "numeric"}))
        space = store.upsert_search_space("knn", "regression", "1", {})
        sid = _study(studies, dataset.id, timeout=60)
        [a] = studies.suggest(sid, _knn(space.id, 1))
        age_trial(studies.engine, a.id, 120)
        studies.suggest(sid, _knn(space.id))
        assert _stored_state(studies, a.id) == "expired"

        schema.downgrade(engine, "0007_durable_weights")
        assert "pending_timeout_s" not in {c["name"] for c in inspect(engine).get_columns("studies")}
        assert _stored_state(studies, a.id) == "pending"  # the only state 0007's code has for it
        schema.upgrade(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert studies.get_study(sid).pending_timeout_s is None
        assert studies.get_trial(sid, a.id).state == "pending"  # no timeout: it never expires
    finally:
        engine.dispose()
