"""Studies: tuning runs on one dataset, the configurations they hand out (trials) and the results.

Every method is one transaction and returns frozen records, never ORM rows. `suggest` is the one
place where trials are created: it holds the study's row lock (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises every writer) while it reads the study's trials,
asks the caller's `propose` for new configurations and stores them, so two concurrent requests
never see the same pending set and a configuration is never handed out twice in one study (a
unique key on (study, configuration) enforces it as well).

A trial still pending `pending_timeout_s` after it was handed out (its worker probably died) is
`expired`: every read reports it so, computed from `suggested_at`, and `suggest` stores the state
under the lock before proposing, so proposals neither believe it pending nor take it for a
result. Its configuration is not handed out again, and a late result for it is still recorded.
"""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from metastore import models as m
from metastore.errors import (
    DatasetNotFound,
    IdempotencyConflict,
    InvalidReference,
    MetastoreError,
    NotFound,
    SearchSpaceNotFound,
)
from metastore.records import Page
from metastore.session import SessionFactory
from metastore.sql import config_hash

log = logging.getLogger("warmstart.studies")

Direction = Literal["maximize", "minimize"]
TrialState = Literal["pending", "ok", "failed", "expired"]
#: The states of a trial that holds a result (a late result turns an expired trial into one).
OBSERVED = ("ok", "failed")
TRIAL_SOURCES = ("zero_shot", "transfer", "surrogate", "random")


class StudyNotFound(NotFound):
    kind = "study"


class UnknownTrial(InvalidReference):
    """An observation names a trial that does not exist, or one of another study."""

    def __init__(self, trial_id: int, study_id: int, owner: int | None = None) -> None:
        self.what = "trial"
        self.ids = [trial_id]
        where = "does not exist" if owner is None else f"belongs to study {owner}"
        MetastoreError.__init__(
            self,
            f"trial {trial_id} {where}, not to study {study_id}; send the trial_id that "
            f"POST /v1/studies/{study_id}/suggest returned. Nothing was written",
        )


class ObservationConflict(IdempotencyConflict):
    """A trial already holds a different result; a resend of the same result is fine."""

    def __init__(self, trial_id: int) -> None:
        self.key = f"trial-{trial_id}"
        MetastoreError.__init__(
            self,
            f"trial {trial_id} already holds a different result; a result is recorded once "
            "(resending the same one is harmless). Ask for a new suggestion to try again",
        )


@dataclass(frozen=True, slots=True)
class NewStudy:
    dataset_id: int
    task_type: str
    space: str
    families: tuple[str, ...]
    metric: str
    direction: Direction
    n_initial: int = 5
    seed: int = 0
    name: str = ""
    pending_timeout_s: float | None = None  # None: pending trials never expire


@dataclass(frozen=True, slots=True)
class StudyRecord:
    id: int
    dataset_id: int
    name: str
    task_type: str
    space: str
    families: tuple[str, ...]
    metric: str
    direction: Direction
    n_initial: int
    seed: int
    created_at: datetime
    n_trials: int = 0
    n_pending: int = 0  # expired trials are not pending
    best_score: float | None = None
    pending_timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class ProposedTrial:
    """A configuration to hand out: the stored space it belongs to, and why it was chosen."""

    space_id: int
    family: str
    values: dict[str, Any]
    source: str
    model_version: str | None = None
    acquisition: float | None = None
    predicted_mean: float | None = None
    predicted_std: float | None = None


@dataclass(frozen=True, slots=True)
class TrialRecord:
    id: int
    study_id: int
    number: int
    configuration_id: int
    family: str
    hyperparameters: dict[str, Any]
    source: str
    model_version: str | None
    acquisition: float | None
    predicted_mean: float | None
    predicted_std: float | None
    state: TrialState
    score: float | None
    metrics: dict[str, Any] | None
    fit_time: float | None
    error: str | None
    evaluation_id: int | None
    suggested_at: datetime
    observed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Observation:
    state: Literal["ok", "failed"]
    score: float | None
    metrics: dict[str, Any]
    fit_time: float | None = None
    error: str | None = None
    evaluation_id: int | None = None


Propose = Callable[[StudyRecord, list[TrialRecord]], Sequence[ProposedTrial]]


class StudyStore(abc.ABC):
    """The studies contract. Every method may raise `StoreUnavailable`; all are thread- and
    process-safe."""

    @abc.abstractmethod
    def create_study(self, new: NewStudy) -> StudyRecord:
        """Raises: DatasetNotFound."""

    @abc.abstractmethod
    def get_study(self, study_id: int) -> StudyRecord:
        """The study with its counts; a trial pending past the study's `pending_timeout_s` is
        not counted in `n_pending` (it is expired). Raises: StudyNotFound."""

    @abc.abstractmethod
    def list_studies(
        self, dataset_id: int | None = None, limit: int = 50, offset: int = 0
    ) -> Page[StudyRecord]:
        """Studies, newest first, with the total count."""

    @abc.abstractmethod
    def trials(self, study_id: int) -> list[TrialRecord]:
        """The study's trials in the order they were handed out, a trial pending past the
        study's `pending_timeout_s` as `expired`. Raises: StudyNotFound."""

    @abc.abstractmethod
    def get_trial(self, study_id: int, trial_id: int) -> TrialRecord:
        """The trial, `expired` if pending past the study's `pending_timeout_s`. Raises:
        StudyNotFound, UnknownTrial (no such trial in this study)."""

    @abc.abstractmethod
    def suggest(self, study_id: int, propose: Propose) -> list[TrialRecord]:
        """Store what `propose(study, trials)` returns as new pending trials, under the study's lock.

        First the study's trials pending past its `pending_timeout_s` are stored as `expired`, so
        `propose` sees them so. `propose` runs inside the write transaction: it must be quick and
        must not write to the store. Proposals of a configuration the study already holds (expired
        ones included) are dropped, so fewer trials than proposed may come back. Raises:
        StudyNotFound, SearchSpaceNotFound.
        """

    @abc.abstractmethod
    def observe(self, study_id: int, trial_id: int, observation: Observation) -> tuple[TrialRecord, bool]:
        """Record a pending or expired trial's result; returns (trial, recorded now).

        A late result of an expired trial is recorded: it is real information. The same result
        sent again returns the trial and False. Raises: StudyNotFound, UnknownTrial (no such
        trial in this study), ObservationConflict (a different result).
        """


class SqlStudyStore(StudyStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = SessionFactory(engine)
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def create_study(self, new: NewStudy) -> StudyRecord:
        with self.sessions.scope(write=True) as s:
            if s.get(m.Dataset, new.dataset_id) is None:
                raise DatasetNotFound(new.dataset_id)
            row = m.Study(
                dataset_id=new.dataset_id,
                name=new.name,
                task_type=new.task_type,
                space=new.space,
                families=list(new.families),
                metric=new.metric,
                direction=new.direction,
                n_initial=new.n_initial,
                seed=new.seed,
                pending_timeout_s=new.pending_timeout_s,
            )
            s.add(row)
            s.flush()
            return _study(row)

    def get_study(self, study_id: int) -> StudyRecord:
        with self.sessions.scope() as s:
            row = s.get(m.Study, study_id)
            if row is None:
                raise StudyNotFound(study_id)
            return self._with_counts(s, [row])[0]

    def list_studies(
        self, dataset_id: int | None = None, limit: int = 50, offset: int = 0
    ) -> Page[StudyRecord]:
        where = [] if dataset_id is None else [m.Study.dataset_id == dataset_id]
        with self.sessions.scope() as s:
            total = s.scalar(select(func.count()).select_from(m.Study).where(*where)) or 0
            rows = list(
                s.scalars(
                    select(m.Study).where(*where).order_by(m.Study.id.desc()).limit(limit).offset(offset)
                )
            )
            return Page(items=self._with_counts(s, rows), total=total, limit=limit, offset=offset)

    def trials(self, study_id: int) -> list[TrialRecord]:
        with self.sessions.scope() as s:
            study = s.get(m.Study, study_id)
            if study is None:
                raise StudyNotFound(study_id)
            return _trials(s, study, datetime.now(UTC))

    def get_trial(self, study_id: int, trial_id: int) -> TrialRecord:
        with self.sessions.scope() as s:
            study, row = self._trial_row(s, study_id, trial_id)
            values = s.get_one(m.Configuration, row.configuration_id).values
            return _trial(row, values, _state(row, study.pending_timeout_s, datetime.now(UTC)))

    def suggest(self, study_id: int, propose: Propose) -> list[TrialRecord]:
        with self.sessions.scope(write=True) as s:
            row = s.scalars(select(m.Study).where(m.Study.id == study_id).with_for_update()).first()
            if row is None:
                raise StudyNotFound(study_id)
            now = datetime.now(UTC)
            self._expire(s, row, now)
            trials = _trials(s, row, now)
            proposals = list(propose(self._with_counts(s, [row])[0], trials))
            ids = self._configuration_ids(s, proposals)
            taken = {t.configuration_id for t in trials}
            new_rows = []
            for p, configuration_id in zip(proposals, ids, strict=True):
                if configuration_id in taken:
                    log.warning(
                        "study %d: dropped a proposal of configuration %d, handed out already",
                        study_id,
                        configuration_id,
                    )
                    continue
                taken.add(configuration_id)
                new_rows.append(
                    m.StudyTrial(
                        study_id=study_id,
                        number=len(trials) + len(new_rows),
                        configuration_id=configuration_id,
                        family=p.family,
                        source=p.source,
                        model_version=p.model_version,
                        acquisition=_finite(p.acquisition),
                        predicted_mean=_finite(p.predicted_mean),
                        predicted_std=_finite(p.predicted_std),
                        state="pending",
                        suggested_at=now,
                    )
                )
            s.add_all(new_rows)
            s.flush()
            values = {i: p.values for p, i in zip(proposals, ids, strict=True)}
            return [_trial(r, values[r.configuration_id]) for r in new_rows]

    def observe(self, study_id: int, trial_id: int, observation: Observation) -> tuple[TrialRecord, bool]:
        with self.sessions.scope(write=True) as s:
            _, row = self._trial_row(s, study_id, trial_id, lock=True)
            values = s.get_one(m.Configuration, row.configuration_id).values
            wanted = {
                "state": observation.state,
                "score": _finite(observation.score),
                "metrics": dict(observation.metrics),
                "fit_time": observation.fit_time,
                "error": observation.error,
            }
            if row.state in OBSERVED:
                stored = {k: getattr(row, k) for k in wanted}
                if stored != wanted:
                    raise ObservationConflict(trial_id)
                return _trial(row, values), False
            for k, v in wanted.items():
                setattr(row, k, v)
            row.evaluation_id = observation.evaluation_id
            row.observed_at = datetime.now(UTC)
            s.flush()
            return _trial(row, values), True

    # -- helpers --------------------------------------------------------------------------------
    def _trial_row(
        self, s: Session, study_id: int, trial_id: int, lock: bool = False
    ) -> tuple[m.Study, m.StudyTrial]:
        study = s.get(m.Study, study_id)
        if study is None:
            raise StudyNotFound(study_id)
        query = select(m.StudyTrial).where(m.StudyTrial.id == trial_id)
        row = s.scalars(query.with_for_update() if lock else query).first()
        if row is None or row.study_id != study_id:
            raise UnknownTrial(trial_id, study_id, None if row is None else row.study_id)
        return study, row

    def _expire(self, s: Session, study: m.Study, now: datetime) -> None:
        """Store `expired` on the study's trials pending past its timeout (caller holds the lock)."""
        if study.pending_timeout_s is None:
            return
        t = m.StudyTrial
        pending = s.execute(select(t.id, t.suggested_at).where(t.study_id == study.id, t.state == "pending"))
        late = [i for i, at in pending if _timed_out(at, study.pending_timeout_s, now)]
        if late:
            # `state = 'pending'` again: a result recorded meanwhile (PostgreSQL re-checks the
            # condition after waiting for the row) is never overwritten.
            s.execute(update(t).where(t.id.in_(late), t.state == "pending").values(state="expired"))
            log.info(
                "study %d: %d trial(s) pending for over %g s expired: %s",
                study.id,
                len(late),
                study.pending_timeout_s,
                late,
            )

    def _configuration_ids(self, s: Session, proposals: list[ProposedTrial]) -> list[int]:
        """Each proposal stored as a configuration of its space (once per canonical hash)."""
        hashes = [config_hash(p.values) for p in proposals]
        ids: dict[tuple[int, str], int] = {}
        for space_id in {p.space_id for p in proposals}:
            if s.get(m.SearchSpace, space_id) is None:
                raise SearchSpaceNotFound(space_id)
            mine = {h: p for p, h in zip(proposals, hashes, strict=True) if p.space_id == space_id}
            now = datetime.now(UTC)
            rows = [
                {"space_id": space_id, "values": p.values, "config_hash": h, "name": None, "created_at": now}
                for h, p in mine.items()
            ]
            s.execute(
                self._insert(m.Configuration)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["space_id", "config_hash"])
            )
            stored = s.execute(
                select(m.Configuration.config_hash, m.Configuration.id).where(
                    m.Configuration.space_id == space_id, m.Configuration.config_hash.in_(list(mine))
                )
            )
            ids.update({(space_id, h): i for h, i in stored})
        return [ids[(p.space_id, h)] for p, h in zip(proposals, hashes, strict=True)]

    def _with_counts(self, s: Session, rows: list[m.Study]) -> list[StudyRecord]:
        if not rows:
            return []
        t = m.StudyTrial
        ids = [r.id for r in rows]
        stats = {
            sid: (n, hi, lo)
            for sid, n, hi, lo in s.execute(
                select(t.study_id, func.count(), func.max(t.score), func.min(t.score))
                .where(t.study_id.in_(ids))
                .group_by(t.study_id)
            )
        }
        # Pending trials are few (about one per busy worker), so whether one has expired is
        # decided here rather than by date arithmetic, which differs between SQLite and PostgreSQL.
        timeouts = {r.id: r.pending_timeout_s for r in rows}
        now = datetime.now(UTC)
        n_pending = dict.fromkeys(ids, 0)
        pending = select(t.study_id, t.suggested_at).where(t.study_id.in_(ids), t.state == "pending")
        for sid, at in s.execute(pending):
            n_pending[sid] += not _timed_out(at, timeouts[sid], now)
        out = []
        for r in rows:
            n, hi, lo = stats.get(r.id, (0, None, None))
            best = hi if r.direction == "maximize" else lo
            out.append(_study(r, n, n_pending[r.id], best))
        return out


def _trials(s: Session, study: m.Study, now: datetime) -> list[TrialRecord]:
    rows = s.execute(
        select(m.StudyTrial, m.Configuration.values)
        .join(m.Configuration, m.Configuration.id == m.StudyTrial.configuration_id)
        .where(m.StudyTrial.study_id == study.id)
        .order_by(m.StudyTrial.number)
    )
    return [_trial(r, values, _state(r, study.pending_timeout_s, now)) for r, values in rows]


def _timed_out(suggested_at: datetime, timeout_s: float | None, now: datetime) -> bool:
    return timeout_s is not None and _aware(suggested_at) + timedelta(seconds=timeout_s) <= now


def _state(r: m.StudyTrial, timeout_s: float | None, now: datetime) -> TrialState:
    """The trial's state as of `now`: a pending one past the timeout is expired, stored so or not."""
    if r.state == "pending" and _timed_out(r.suggested_at, timeout_s, now):
        return "expired"
    return r.state  # type: ignore[return-value]


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _study(r: m.Study, n_trials: int = 0, n_pending: int = 0, best: float | None = None) -> StudyRecord:
    return StudyRecord(
        id=r.id,
        dataset_id=r.dataset_id,
        name=r.name,
        task_type=r.task_type,
        space=r.space,
        families=tuple(r.families),
        metric=r.metric,
        direction=r.direction,  # type: ignore[arg-type]
        n_initial=r.n_initial,
        seed=r.seed,
        created_at=_aware(r.created_at),
        n_trials=n_trials,
        n_pending=n_pending,
        best_score=best,
        pending_timeout_s=r.pending_timeout_s,
    )


def _trial(r: m.StudyTrial, values: dict[str, Any], state: TrialState | None = None) -> TrialRecord:
    """The record of a trial row; `state` overrides the stored one (see `_state`)."""
    return TrialRecord(
        id=r.id,
        study_id=r.study_id,
        number=r.number,
        configuration_id=r.configuration_id,
        family=r.family,
        hyperparameters=dict(values),
        source=r.source,
        model_version=r.model_version,
        acquisition=r.acquisition,
        predicted_mean=r.predicted_mean,
        predicted_std=r.predicted_std,
        state=state or r.state,  # type: ignore[arg-type]
        score=r.score,
        metrics=None if r.metrics is None else dict(r.metrics),
        fit_time=r.fit_time,
        error=r.error,
        evaluation_id=r.evaluation_id,
        suggested_at=_aware(r.suggested_at),
        observed_at=None if r.observed_at is None else _aware(r.observed_at),
    )


def _aware(ts: datetime) -> datetime:
    """SQLite drops the time zone; every stored time is UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
