"""The study store on SQLite and PostgreSQL: trials, the per-study lock, observations once."""

from __future__ import annotations

import threading
import time

import pytest

from metastore.errors import DatasetNotFound, SearchSpaceNotFound
from metastore.sql import SqlMetaStore
from metastore.studies import (
    NewStudy,
    Observation,
    ObservationConflict,
    ProposedTrial,
    SqlStudyStore,
    StudyNotFound,
    TrialRecord,
    UnknownTrial,
)


def _study(studies: SqlStudyStore, dataset_id: int, direction: str = "maximize") -> int:
    return studies.create_study(
        NewStudy(dataset_id, "regression", "knn", ("knn",), "r2", direction)  # type: ignore[arg-type]
    ).id


def _fixed(space_id: int, ks: list[int], seen: list[list[TrialRecord]] | None = None):  # type: ignore[no-untyped-def]
    """A proposer that hands out the first `n_neighbors` values not yet in the study."""

    def propose(study, trials):  # type: ignore[no-untyped-def]
        if seen is not None:
            seen.append(trials)
        used = {t.hyperparameters["n_neighbors"] for t in trials}
        return [ProposedTrial(space_id, "knn", {"n_neighbors": k}, "random") for k in ks if k not in used][:2]

    return propose


def test_create_get_list_and_unknown(studies: SqlStudyStore, setup: tuple[int, int]) -> None:
    dataset_id, _ = setup
    first = _study(studies, dataset_id)
    second = _study(studies, dataset_id, "minimize")
    got = studies.get_study(first)
    assert (got.families, got.metric, got.direction, got.n_trials, got.best_score) == (
        ("knn",),
        "r2",
        "maximize",
        0,
        None,
    )
    page = studies.list_studies()
    assert page.total == 2 and [s.id for s in page.items] == [second, first]
    assert studies.list_studies(dataset_id=dataset_id + 1).total == 0
    with pytest.raises(StudyNotFound):
        studies.get_study(999)
    with pytest.raises(DatasetNotFound):
        _study(studies, 999)


def test_suggest_stores_configurations_and_sees_pending(
    store: SqlMetaStore, studies: SqlStudyStore, setup: tuple[int, int]
) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id)
    seen: list[list[TrialRecord]] = []
    propose = _fixed(space_id, [1, 2, 3, 4, 5], seen)
    a = studies.suggest(sid, propose)
    b = studies.suggest(sid, propose)
    assert [t.hyperparameters["n_neighbors"] for t in a + b] == [1, 2, 3, 4]
    assert [t.number for t in a + b] == [0, 1, 2, 3] and all(t.state == "pending" for t in a + b)
    assert [t.id for t in seen[1]] == [t.id for t in a]  # the second call saw the first's pending trials
    stored = store.get_configuration(b[0].configuration_id)
    assert stored.values == {"n_neighbors": 3} and stored.family == "knn"
    assert studies.get_study(sid).n_pending == 4


def test_a_configuration_is_never_handed_out_twice(studies: SqlStudyStore, setup: tuple[int, int]) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id)
    same = [ProposedTrial(space_id, "knn", {"n_neighbors": 7}, "random")] * 2
    assert len(studies.suggest(sid, lambda s, t: same)) == 1
    assert studies.suggest(sid, lambda s, t: same) == []
    with pytest.raises(SearchSpaceNotFound):
        studies.suggest(sid, lambda s, t: [ProposedTrial(999, "knn", {"n_neighbors": 8}, "random")])
    with pytest.raises(StudyNotFound):
        studies.suggest(999, lambda s, t: same)


def test_observe_once_replay_conflict_and_wrong_trials(
    studies: SqlStudyStore, setup: tuple[int, int]
) -> None:
    dataset_id, space_id = setup
    sid, other = _study(studies, dataset_id), _study(studies, dataset_id)
    a, b = studies.suggest(sid, _fixed(space_id, [1, 2]))
    ok = Observation("ok", 0.5, {"r2": 0.5}, fit_time=0.1)
    trial, created = studies.observe(sid, a.id, ok)
    assert created and (trial.state, trial.score, trial.metrics) == ("ok", 0.5, {"r2": 0.5})
    assert studies.observe(sid, a.id, ok) == (trial, False)
    with pytest.raises(ObservationConflict):
        studies.observe(sid, a.id, Observation("ok", 0.6, {"r2": 0.6}))
    failed, _ = studies.observe(sid, b.id, Observation("failed", None, {}, error="boom"))
    assert failed.state == "failed" and failed.score is None
    with pytest.raises(UnknownTrial, match="belongs to study"):
        studies.observe(other, a.id, ok)
    with pytest.raises(UnknownTrial, match="does not exist"):
        studies.observe(sid, 999, ok)
    got = studies.get_study(sid)
    assert (got.n_trials, got.n_pending, got.best_score) == (2, 0, 0.5)


def test_best_follows_the_direction(studies: SqlStudyStore, setup: tuple[int, int]) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id, "minimize")
    for trial, value in zip(studies.suggest(sid, _fixed(space_id, [1, 2])), [3.0, 1.0], strict=True):
        studies.observe(sid, trial.id, Observation("ok", value, {"rmse": value}))
    assert studies.get_study(sid).best_score == 1.0


def test_concurrent_suggest_is_serialised(store: SqlMetaStore, setup: tuple[int, int]) -> None:
    dataset_id, space_id = setup
    sid = _study(SqlStudyStore(store.engine), dataset_id)
    got: list[int] = []
    errors: list[BaseException] = []

    def slow(study, trials):  # type: ignore[no-untyped-def]
        used = {t.hyperparameters["n_neighbors"] for t in trials}
        time.sleep(0.02)  # widen the window a race would need
        k = min(set(range(1, 100)) - used)
        return [ProposedTrial(space_id, "knn", {"n_neighbors": k}, "random")]

    def worker() -> None:
        try:
            for _ in range(3):
                got.extend(
                    t.hyperparameters["n_neighbors"] for t in SqlStudyStore(store.engine).suggest(sid, slow)
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(got) == list(range(1, 13))


def test_get_trial_and_deleting_the_dataset_removes_its_studies(
    store: SqlMetaStore, studies: SqlStudyStore, setup: tuple[int, int]
) -> None:
    dataset_id, space_id = setup
    sid = _study(studies, dataset_id)
    [trial, _] = studies.suggest(sid, _fixed(space_id, [1, 2]))
    assert studies.get_trial(sid, trial.id) == trial
    with pytest.raises(UnknownTrial):
        studies.get_trial(_study(studies, dataset_id), trial.id)
    store.delete_dataset(dataset_id)
    with pytest.raises(StudyNotFound):
        studies.get_study(sid)
    assert studies.list_studies().total == 0
