"""Task families: their schema, prior tasks (rows stored as .npy bytes), models and their weights.

Every method is one transaction and returns frozen records, never ORM rows. A model's weights
(safetensors bytes) are stored with its record, in the same transaction, so any machine that
reaches the database can serve it. Models made before migration 0007 have no weights here:
their record names a file in the data directory of the machine that wrote it.
"""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from metastore import models as m
from metastore.errors import MetastoreError, NotFound
from metastore.session import SessionFactory

MODEL_KINDS = ("init", "pooled", "adapted")


class FamilyNotFound(NotFound):
    kind = "family"


class ModelNotFound(NotFound):
    kind = "model"


class FamilyNameTaken(MetastoreError):
    """A family with this name exists already."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a family named {name!r} exists already; choose another name")


@dataclass(frozen=True, slots=True)
class NewFamily:
    name: str
    task_type: str
    features: tuple[str, ...]
    target: str
    algorithm: str
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FamilyRecord:
    id: int
    name: str
    task_type: str
    features: tuple[str, ...]
    target: str
    algorithm: str
    settings: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FamilyTaskRecord:
    id: int
    family_id: int
    name: str
    n_rows: int
    content_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewFamilyModel:
    family_id: int
    kind: str
    file: str
    metrics: dict[str, Any]
    parent_id: int | None = None
    support_hash: str | None = None
    weights: bytes | None = None  # safetensors bytes; None only for records of older files


@dataclass(frozen=True, slots=True)
class FamilyModelRecord:
    id: int
    family_id: int
    kind: str
    version: int
    parent_id: int | None
    support_hash: str | None
    file: str
    metrics: dict[str, Any]
    created_at: datetime


class FamilyStore(abc.ABC):
    """The families contract. Every method may raise `StoreUnavailable`; all are thread-safe."""

    @abc.abstractmethod
    def create_family(self, new: NewFamily) -> FamilyRecord:
        """Raises: FamilyNameTaken."""

    @abc.abstractmethod
    def get_family(self, family_id: int) -> FamilyRecord:
        """Raises: FamilyNotFound."""

    @abc.abstractmethod
    def list_families(self) -> list[FamilyRecord]:
        """Every family, oldest first."""

    @abc.abstractmethod
    def add_task(
        self, family_id: int, name: str, n_rows: int, content_hash: str, payload: bytes
    ) -> tuple[FamilyTaskRecord, bool]:
        """Store a task once per content; returns (record, created). Raises: FamilyNotFound."""

    @abc.abstractmethod
    def list_tasks(self, family_id: int) -> list[FamilyTaskRecord]:
        """The family's tasks, oldest first. Raises: FamilyNotFound."""

    @abc.abstractmethod
    def task_payloads(self, family_id: int) -> list[tuple[FamilyTaskRecord, bytes]]:
        """Every task with its stored rows. Raises: FamilyNotFound."""

    @abc.abstractmethod
    def add_model(self, new: NewFamilyModel) -> FamilyModelRecord:
        """Record a model with the next version of its family and kind. Raises: FamilyNotFound."""

    @abc.abstractmethod
    def get_model(self, model_id: int) -> FamilyModelRecord:
        """Raises: ModelNotFound."""

    @abc.abstractmethod
    def model_weights(self, model_id: int) -> bytes | None:
        """The model's stored weights, or None for a model whose weights are a file (before 0007).

        Raises: ModelNotFound.
        """

    @abc.abstractmethod
    def latest_model(self, family_id: int, kind: str) -> FamilyModelRecord | None:
        """The highest version of that kind, or None."""

    @abc.abstractmethod
    def list_models(self, family_id: int, kind: str | None = None) -> list[FamilyModelRecord]:
        """The family's models, newest first. Raises: FamilyNotFound."""


class SqlFamilyStore(FamilyStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = SessionFactory(engine)

    def create_family(self, new: NewFamily) -> FamilyRecord:
        try:
            with self.sessions.scope(write=True) as s:
                row = m.Family(
                    name=new.name,
                    task_type=new.task_type,
                    features=list(new.features),
                    target=new.target,
                    algorithm=new.algorithm,
                    settings=new.settings,
                )
                s.add(row)
                s.flush()
                return _family(row)
        except IntegrityError as exc:
            raise FamilyNameTaken(new.name) from exc

    def get_family(self, family_id: int) -> FamilyRecord:
        with self.sessions.scope() as s:
            row = s.get(m.Family, family_id)
            if row is None:
                raise FamilyNotFound(family_id)
            return _family(row)

    def list_families(self) -> list[FamilyRecord]:
        with self.sessions.scope() as s:
            return [_family(r) for r in s.scalars(select(m.Family).order_by(m.Family.id))]

    def add_task(
        self, family_id: int, name: str, n_rows: int, content_hash: str, payload: bytes
    ) -> tuple[FamilyTaskRecord, bool]:
        with self.sessions.scope(write=True) as s:
            if s.get(m.Family, family_id) is None:
                raise FamilyNotFound(family_id)
            existing = s.scalars(
                select(m.FamilyTask).where(
                    m.FamilyTask.family_id == family_id, m.FamilyTask.content_hash == content_hash
                )
            ).first()
            if existing is not None:
                return _task(existing), False
            row = m.FamilyTask(
                family_id=family_id, name=name, n_rows=n_rows, content_hash=content_hash, payload=payload
            )
            s.add(row)
            s.flush()
            return _task(row), True

    def list_tasks(self, family_id: int) -> list[FamilyTaskRecord]:
        return [t for t, _ in self._tasks(family_id, with_payload=False)]

    def task_payloads(self, family_id: int) -> list[tuple[FamilyTaskRecord, bytes]]:
        return self._tasks(family_id, with_payload=True)

    def _tasks(self, family_id: int, with_payload: bool) -> list[tuple[FamilyTaskRecord, bytes]]:
        with self.sessions.scope() as s:
            if s.get(m.Family, family_id) is None:
                raise FamilyNotFound(family_id)
            rows = s.scalars(
                select(m.FamilyTask).where(m.FamilyTask.family_id == family_id).order_by(m.FamilyTask.id)
            )
            return [(_task(r), r.payload if with_payload else b"") for r in rows]

    def add_model(self, new: NewFamilyModel) -> FamilyModelRecord:
        if new.kind not in MODEL_KINDS:
            raise ValueError(f"kind must be one of {MODEL_KINDS}, got {new.kind!r}")
        with self.sessions.scope(write=True) as s:
            if s.get(m.Family, new.family_id) is None:
                raise FamilyNotFound(new.family_id)
            last = s.scalar(
                select(func.max(m.FamilyModel.version)).where(
                    m.FamilyModel.family_id == new.family_id, m.FamilyModel.kind == new.kind
                )
            )
            row = m.FamilyModel(
                family_id=new.family_id,
                kind=new.kind,
                version=(last or 0) + 1,
                parent_id=new.parent_id,
                support_hash=new.support_hash,
                file=new.file,
                metrics=new.metrics,
            )
            s.add(row)
            s.flush()
            if new.weights is not None:
                digest = hashlib.sha256(new.weights).hexdigest()
                s.add(m.FamilyModelWeights(model_id=row.id, payload=new.weights, sha256=digest))
            return _model(row)

    def get_model(self, model_id: int) -> FamilyModelRecord:
        with self.sessions.scope() as s:
            row = s.get(m.FamilyModel, model_id)
            if row is None:
                raise ModelNotFound(model_id)
            return _model(row)

    def model_weights(self, model_id: int) -> bytes | None:
        with self.sessions.scope() as s:
            if s.get(m.FamilyModel, model_id) is None:
                raise ModelNotFound(model_id)
            payload = s.scalar(
                select(m.FamilyModelWeights.payload).where(m.FamilyModelWeights.model_id == model_id)
            )
            return None if payload is None else bytes(payload)

    def latest_model(self, family_id: int, kind: str) -> FamilyModelRecord | None:
        with self.sessions.scope() as s:
            row = s.scalars(
                select(m.FamilyModel)
                .where(m.FamilyModel.family_id == family_id, m.FamilyModel.kind == kind)
                .order_by(m.FamilyModel.version.desc())
                .limit(1)
            ).first()
            return None if row is None else _model(row)

    def list_models(self, family_id: int, kind: str | None = None) -> list[FamilyModelRecord]:
        with self.sessions.scope() as s:
            if s.get(m.Family, family_id) is None:
                raise FamilyNotFound(family_id)
            query = select(m.FamilyModel).where(m.FamilyModel.family_id == family_id)
            if kind is not None:
                query = query.where(m.FamilyModel.kind == kind)
            return [_model(r) for r in s.scalars(query.order_by(m.FamilyModel.id.desc()))]


def _family(r: m.Family) -> FamilyRecord:
    features = tuple(r.features)
    created = _aware(r.created_at)
    return FamilyRecord(r.id, r.name, r.task_type, features, r.target, r.algorithm, dict(r.settings), created)


def _task(r: m.FamilyTask) -> FamilyTaskRecord:
    return FamilyTaskRecord(r.id, r.family_id, r.name, r.n_rows, r.content_hash, _aware(r.created_at))


def _model(r: m.FamilyModel) -> FamilyModelRecord:
    return FamilyModelRecord(
        r.id,
        r.family_id,
        r.kind,
        r.version,
        r.parent_id,
        r.support_hash,
        r.file,
        dict(r.metrics),
        _aware(r.created_at),
    )


def _aware(ts: datetime) -> datetime:
    """SQLite drops the time zone; every stored time is UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
