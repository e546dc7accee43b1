"""The SQLAlchemy implementation of the metastore contract (SQLite embedded, PostgreSQL for teams)."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from metastore import models as m
from metastore.errors import (
    ConfigurationNotFound,
    DatasetNotFound,
    IdempotencyConflict,
    InvalidReference,
    SearchSpaceNotFound,
)
from metastore.records import (
    ApiKeyRecord,
    ConfigurationRecord,
    DatasetFilter,
    DatasetRecord,
    EvaluationRecord,
    FamilyStats,
    KnowledgeBaseStats,
    LearnerModelRecord,
    MetaFeatureVector,
    NewDataset,
    NewEvaluation,
    Page,
    Scope,
    SearchSpaceRecord,
    StoredEvaluation,
    TaskType,
)
from metastore.schema import check_schema
from metastore.session import SessionFactory, make_engine
from metastore.store import MetaStore

API_KEY_PREFIX = "ws_"
_BULK_CHUNK = 5000  # parameter sets per executemany; SQLAlchemy batches each under the driver limits


def canonical_json(values: Any) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(values).encode()).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SqlMetaStore(MetaStore):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = SessionFactory(engine)

    @classmethod
    def from_url(cls, url: str) -> SqlMetaStore:
        return cls(make_engine(url))

    def _insert(self, table: type[m.Base]):  # type: ignore[no-untyped-def]
        builder = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        return builder(table)

    # -- datasets -------------------------------------------------------------------------
    def add_dataset(self, new: NewDataset) -> tuple[DatasetRecord, bool]:
        with self.sessions.scope(write=True) as s:
            stmt = (
                self._insert(m.Dataset)
                .values(
                    name=new.name,
                    description=new.description,
                    source=new.source,
                    content_hash=new.content_hash,
                    task_type=new.task_type,
                    target=new.target,
                    n_rows=new.n_rows,
                    n_features=new.n_features,
                    column_types=new.column_types,
                    column_stats=new.column_stats,
                    origin_group=new.origin_group,
                    raw_file=new.raw_file,
                    file_format=new.file_format,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=["content_hash"])
                .returning(m.Dataset.id)
            )
            new_id = s.execute(stmt).scalar_one_or_none()
            if new_id is None:
                row = s.scalars(select(m.Dataset).where(m.Dataset.content_hash == new.content_hash)).one()
                return self._dataset(s, row), False
            if new.metafeatures is not None:
                self._put_metafeatures(s, new_id, new.metafeatures)
            return self._dataset(s, s.get_one(m.Dataset, new_id)), True

    def get_dataset(self, dataset_id: int) -> DatasetRecord:
        with self.sessions.scope() as s:
            return self._dataset(s, self._get_dataset_row(s, dataset_id))

    def find_dataset(self, content_hash: str) -> DatasetRecord | None:
        with self.sessions.scope() as s:
            row = s.scalars(select(m.Dataset).where(m.Dataset.content_hash == content_hash)).first()
            return None if row is None else self._dataset(s, row)

    def list_datasets(
        self, filters: DatasetFilter = DatasetFilter(), limit: int = 50, offset: int = 0
    ) -> Page[DatasetRecord]:
        conditions = []
        d = m.Dataset
        if filters.task_type:
            conditions.append(d.task_type == filters.task_type)
        if filters.name:
            conditions.append(func.lower(d.name).contains(filters.name.lower(), autoescape=True))
        if filters.min_rows is not None:
            conditions.append(d.n_rows >= filters.min_rows)
        if filters.max_rows is not None:
            conditions.append(d.n_rows <= filters.max_rows)
        if filters.min_features is not None:
            conditions.append(d.n_features >= filters.min_features)
        if filters.max_features is not None:
            conditions.append(d.n_features <= filters.max_features)
        if filters.content_hash is not None:
            conditions.append(d.content_hash == filters.content_hash)
        with self.sessions.scope() as s:
            total = s.scalar(select(func.count()).select_from(d).where(*conditions)) or 0
            rows = s.scalars(select(d).where(*conditions).order_by(d.id).limit(limit).offset(offset)).all()
            mf = self._metafeatures_for(s, [r.id for r in rows])
            items = [self._dataset(s, r, mf.get(r.id)) for r in rows]
        return Page(items=items, total=total, limit=limit, offset=offset)

    def delete_dataset(self, dataset_id: int) -> DatasetRecord:
        with self.sessions.scope(write=True) as s:
            row = self._get_dataset_row(s, dataset_id)
            record = self._dataset(s, row)
            # Explicit deletes: SQLite enforces ON DELETE CASCADE only with foreign_keys=ON,
            # which a user's own connection may not set.
            s.execute(delete(m.Evaluation).where(m.Evaluation.dataset_id == dataset_id))
            s.execute(delete(m.DatasetMetaFeatures).where(m.DatasetMetaFeatures.dataset_id == dataset_id))
            s.delete(row)
            return record

    def set_metafeatures(self, dataset_id: int, vector: MetaFeatureVector) -> None:
        with self.sessions.scope(write=True) as s:
            self._get_dataset_row(s, dataset_id)
            self._put_metafeatures(s, dataset_id, vector)

    def all_metafeatures(
        self, task_type: TaskType | None = None
    ) -> list[tuple[DatasetRecord, MetaFeatureVector]]:
        stmt = select(m.Dataset, m.DatasetMetaFeatures).join(
            m.DatasetMetaFeatures, m.DatasetMetaFeatures.dataset_id == m.Dataset.id
        )
        if task_type:
            stmt = stmt.where(m.Dataset.task_type == task_type)
        with self.sessions.scope() as s:
            out = []
            for ds, mf in s.execute(stmt.order_by(m.Dataset.id)).all():
                vector = _vector(mf)
                out.append((self._dataset(s, ds, vector), vector))
            return out

    # -- spaces and configurations ------------------------------------------------------------
    def upsert_search_space(
        self, family: str, task_type: TaskType, version: str, definition: dict[str, Any]
    ) -> SearchSpaceRecord:
        with self.sessions.scope(write=True) as s:
            stmt = (
                self._insert(m.SearchSpace)
                .values(
                    family=family,
                    task_type=task_type,
                    version=version,
                    definition=definition,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=["family", "task_type", "version"])
            )
            s.execute(stmt)
            row = s.scalars(
                select(m.SearchSpace).where(
                    m.SearchSpace.family == family,
                    m.SearchSpace.task_type == task_type,
                    m.SearchSpace.version == version,
                )
            ).one()
            return _space(row)

    def list_search_spaces(self) -> list[SearchSpaceRecord]:
        with self.sessions.scope() as s:
            return [_space(r) for r in s.scalars(select(m.SearchSpace).order_by(m.SearchSpace.id))]

    def get_search_space(self, space_id: int) -> SearchSpaceRecord:
        with self.sessions.scope() as s:
            row = s.get(m.SearchSpace, space_id)
            if row is None:
                raise SearchSpaceNotFound(space_id)
            return _space(row)

    def add_configurations(
        self, space_id: int, configs: Sequence[tuple[dict[str, Any], str | None]]
    ) -> list[ConfigurationRecord]:
        with self.sessions.scope(write=True) as s:
            space = s.get(m.SearchSpace, space_id)
            if space is None:
                raise SearchSpaceNotFound(space_id)
            hashes = [config_hash(values) for values, _ in configs]
            now = datetime.now(UTC)
            rows = [
                {"space_id": space_id, "values": v, "config_hash": h, "name": n, "created_at": now}
                for (v, n), h in zip(configs, hashes, strict=True)
            ]
            if rows:
                s.execute(
                    self._insert(m.Configuration)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["space_id", "config_hash"])
                )
            stored = {
                r.config_hash: r
                for r in s.scalars(
                    select(m.Configuration).where(
                        m.Configuration.space_id == space_id,
                        m.Configuration.config_hash.in_(set(hashes)),
                    )
                )
            }
            return [_configuration(stored[h], space) for h in hashes]

    def get_configuration(self, configuration_id: int) -> ConfigurationRecord:
        with self.sessions.scope() as s:
            row = s.get(m.Configuration, configuration_id)
            if row is None:
                raise ConfigurationNotFound(configuration_id)
            return _configuration(row, s.get_one(m.SearchSpace, row.space_id))

    def list_configurations(self, space_id: int | None = None) -> list[ConfigurationRecord]:
        stmt = select(m.Configuration, m.SearchSpace).join(
            m.SearchSpace, m.SearchSpace.id == m.Configuration.space_id
        )
        if space_id is not None:
            stmt = stmt.where(m.Configuration.space_id == space_id)
        with self.sessions.scope() as s:
            return [_configuration(c, sp) for c, sp in s.execute(stmt.order_by(m.Configuration.id))]

    # -- evaluations --------------------------------------------------------------------------
    def add_evaluations(self, new: Sequence[NewEvaluation]) -> list[StoredEvaluation]:
        if not new:
            return []
        with self.sessions.scope(write=True) as s:
            self._check_references(s, new)
            return [self._add_evaluation(s, item) for item in new]

    def import_evaluations(self, new: Sequence[NewEvaluation]) -> int:
        missing = [i for i, e in enumerate(new) if not e.idempotency_key]
        if missing:
            raise ValueError(f"items {missing[:10]} carry no idempotency key; bulk loads need one")
        if not new:
            return 0
        inserted = 0
        now = datetime.now(UTC)
        # One statement executed with many parameter sets: SQLAlchemy compiles it once and sends
        # it in batches ("insertmanyvalues", RETURNING included); building one literal multi-row
        # VALUES per chunk instead compiled a bind parameter per cell (minutes for the bundled KB).
        stmt = (
            self._insert(m.Evaluation)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(m.Evaluation.id)
        )
        with self.sessions.scope(write=True) as s:
            self._check_references(s, new)
            conn = s.connection()
            for start in range(0, len(new), _BULK_CHUNK):
                rows = [
                    {
                        **_payload(e),
                        "idempotency_key": e.idempotency_key,
                        "request_hash": None,
                        "created_at": now,
                    }
                    for e in new[start : start + _BULK_CHUNK]
                ]
                # rowcount is not reliable for bulk inserts on every driver; RETURNING is.
                inserted += len(conn.execute(stmt, rows).all())
        return inserted

    def _check_references(self, s: Session, new: Sequence[NewEvaluation]) -> None:
        for what, model, ids in (
            ("dataset", m.Dataset, {e.dataset_id for e in new}),
            ("configuration", m.Configuration, {e.configuration_id for e in new}),
        ):
            found = set(s.scalars(select(model.id).where(model.id.in_(ids))))
            if missing := sorted(ids - found):
                raise InvalidReference(what, missing)

    def _add_evaluation(self, s: Session, e: NewEvaluation) -> StoredEvaluation:
        request_hash = _sha256(canonical_json(_payload(e))) if e.idempotency_key else None
        values = {
            **_payload(e),
            "idempotency_key": e.idempotency_key,
            "request_hash": request_hash,
            "created_at": datetime.now(UTC),
        }
        stmt = self._insert(m.Evaluation).values(**values)
        if e.idempotency_key:
            stmt = stmt.on_conflict_do_nothing(index_elements=["idempotency_key"])
        new_id = s.execute(stmt.returning(m.Evaluation.id)).scalar_one_or_none()
        if new_id is not None:
            return StoredEvaluation(_evaluation(s.get_one(m.Evaluation, new_id)), created=True)
        existing = s.scalars(
            select(m.Evaluation).where(m.Evaluation.idempotency_key == e.idempotency_key)
        ).one()
        if existing.request_hash != request_hash:
            raise IdempotencyConflict(e.idempotency_key or "")
        return StoredEvaluation(_evaluation(existing), created=False)

    def list_evaluations(
        self,
        dataset_id: int | None = None,
        configuration_id: int | None = None,
        protocol: str | None = None,
    ) -> list[EvaluationRecord]:
        e = m.Evaluation
        conditions = []
        if dataset_id is not None:
            conditions.append(e.dataset_id == dataset_id)
        if configuration_id is not None:
            conditions.append(e.configuration_id == configuration_id)
        if protocol is not None:
            conditions.append(e.protocol == protocol)
        with self.sessions.scope() as s:
            if dataset_id is not None:
                self._get_dataset_row(s, dataset_id)
            # Plain rows, not ORM objects: the knowledge base reads every result of a protocol
            # (80k rows in the bundled file), where building mapped instances took most of 3 s.
            rows = s.execute(select(*m.Evaluation.__table__.columns).where(*conditions).order_by(e.id))
            return [_evaluation(r) for r in rows]

    def evaluated_cells(self, protocol: str) -> set[tuple[int, int]]:
        e = m.Evaluation
        with self.sessions.scope() as s:
            rows = s.execute(
                select(e.dataset_id, e.configuration_id).where(e.protocol == protocol).distinct()
            )
            return {(d, c) for d, c in rows}

    def stats(self) -> KnowledgeBaseStats:
        with self.sessions.scope() as s:
            n_datasets = s.scalar(select(func.count(m.Dataset.id))) or 0
            n_families = s.scalar(select(func.count(func.distinct(m.SearchSpace.family)))) or 0
            n_configs = s.scalar(select(func.count(m.Configuration.id))) or 0
            n_evals = s.scalar(select(func.count(m.Evaluation.id))) or 0
            cells = (
                s.scalar(
                    select(func.count()).select_from(
                        select(m.Evaluation.dataset_id, m.Evaluation.configuration_id).distinct().subquery()
                    )
                )
                or 0
            )
            # Fill rate over the matrix of datasets x configurations of their own task type.
            per_task = dict(
                s.execute(
                    select(m.SearchSpace.task_type, func.count(m.Configuration.id))
                    .join(m.Configuration, m.Configuration.space_id == m.SearchSpace.id)
                    .group_by(m.SearchSpace.task_type)
                ).all()
            )
            datasets_per_task = dict(
                s.execute(select(m.Dataset.task_type, func.count()).group_by(m.Dataset.task_type)).all()
            )
            with_results = s.scalar(select(func.count(func.distinct(m.Evaluation.dataset_id)))) or 0
            by_family = self._family_stats(s)
        possible = sum(per_task.get(t, 0) * n for t, n in datasets_per_task.items())
        return KnowledgeBaseStats(
            datasets=n_datasets,
            families=n_families,
            configurations=n_configs,
            evaluations=n_evals,
            fill_rate=round(cells / possible, 4) if possible else 0.0,
            datasets_with_results=with_results,
            by_family=by_family,
        )

    @staticmethod
    def _family_stats(s: Session) -> tuple[FamilyStats, ...]:
        e, c, sp = m.Evaluation, m.Configuration, m.SearchSpace
        n_configs = dict(
            s.execute(
                select(sp.family, func.count(c.id)).join(c, c.space_id == sp.id).group_by(sp.family)
            ).all()
        )
        latest = (
            select(func.max(e.id).label("id"))
            .group_by(e.dataset_id, e.configuration_id)
            .subquery()
        )
        rows = s.execute(
            select(sp.family, e.status, func.count())
            .join(latest, latest.c.id == e.id)
            .join(c, c.id == e.configuration_id)
            .join(sp, sp.id == c.space_id)
            .group_by(sp.family, e.status)
        ).all()
        datasets = dict(
            s.execute(
                select(sp.family, func.count(func.distinct(e.dataset_id)))
                .join(c, c.id == e.configuration_id)
                .join(sp, sp.id == c.space_id)
                .group_by(sp.family)
            ).all()
        )
        status: dict[str, dict[str, int]] = {}
        for family, st, count in rows:
            status.setdefault(family, {})[st] = count
        out = []
        for f in sorted(n_configs):
            by_status = status.get(f, {})
            out.append(
                FamilyStats(
                    family=f,
                    configurations=n_configs[f],
                    datasets=datasets.get(f, 0),
                    cells=sum(by_status.values()),
                    ok=by_status.get("ok", 0),
                    failed=by_status.get("failed", 0),
                    timeout=by_status.get("timeout", 0),
                )
            )
        return tuple(out)

    def knowledge_fingerprint(self, protocol: str) -> str:
        # Cheap on a large store: index maxima and a count of datasets, no scan of evaluations.
        # A new result of `protocol` moves its max(id) (results of other protocols, such as a
        # study's "user" observations, never enter the knowledge base, so they do not move it);
        # a deletion moves the dataset count.
        e, mf, d = m.Evaluation, m.DatasetMetaFeatures, m.Dataset
        with self.sessions.scope() as s:
            top = s.scalar(select(func.max(e.id)).where(e.protocol == protocol))
            n_datasets = s.scalar(select(func.count(d.id)))
            last_mf = s.scalar(select(func.max(mf.computed_at)))
        return _sha256(f"{protocol}:{top}:{n_datasets}:{last_mf}")[:16]

    # -- fitted recommenders --------------------------------------------------------------------
    def save_learner_model(
        self,
        method: str,
        task_type: TaskType,
        metric: str,
        version: str,
        kb_fingerprint: str,
        payload: bytes,
        metrics: dict[str, Any],
    ) -> LearnerModelRecord:
        with self.sessions.scope(write=True) as s:
            row = m.LearnerModel(
                method=method,
                task_type=task_type,
                metric=metric,
                version=version,
                kb_fingerprint=kb_fingerprint,
                payload=payload,
                metrics=metrics,
                created_at=datetime.now(UTC),
            )
            s.add(row)
            s.flush()
            return _learner_model(row, with_payload=False)

    def latest_learner_model(
        self, method: str, task_type: TaskType, metric: str
    ) -> LearnerModelRecord | None:
        lm = m.LearnerModel
        with self.sessions.scope() as s:
            row = s.scalars(
                select(lm)
                .where(lm.method == method, lm.task_type == task_type, lm.metric == metric)
                .order_by(lm.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _learner_model(row, with_payload=True)

    def list_learner_models(self) -> list[LearnerModelRecord]:
        lm = m.LearnerModel
        cols = [
            lm.id,
            lm.method,
            lm.task_type,
            lm.metric,
            lm.version,
            lm.kb_fingerprint,
            lm.metrics,
            lm.created_at,
        ]
        with self.sessions.scope() as s:
            return [
                LearnerModelRecord(
                    id=r.id,
                    method=r.method,
                    task_type=r.task_type,
                    metric=r.metric,
                    version=r.version,
                    kb_fingerprint=r.kb_fingerprint,
                    metrics=dict(r.metrics),
                    created_at=_aware(r.created_at),
                )
                for r in s.execute(select(*cols).order_by(lm.id.desc()))
            ]

    # -- API keys -----------------------------------------------------------------------------
    def create_api_key(self, scopes: Iterable[Scope], name: str = "") -> tuple[ApiKeyRecord, str]:
        plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
        with self.sessions.scope(write=True) as s:
            row = m.ApiKey(
                name=name,
                prefix=plaintext[:10],
                key_hash=_sha256(plaintext),
                scopes=sorted(set(scopes)),
                created_at=datetime.now(UTC),
            )
            s.add(row)
            s.flush()
            return _api_key(row), plaintext

    def verify_api_key(self, plaintext: str) -> ApiKeyRecord | None:
        with self.sessions.scope() as s:
            row = s.scalars(
                select(m.ApiKey).where(m.ApiKey.key_hash == _sha256(plaintext), m.ApiKey.revoked_at.is_(None))
            ).first()
            return None if row is None else _api_key(row)

    def count_api_keys(self) -> int:
        with self.sessions.scope() as s:
            return s.scalar(select(func.count(m.ApiKey.id)).where(m.ApiKey.revoked_at.is_(None))) or 0

    def revoke_api_key(self, key_id: int) -> None:
        with self.sessions.scope(write=True) as s:
            row = s.get(m.ApiKey, key_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)

    def check(self) -> None:
        check_schema(self.engine)

    # -- helpers ------------------------------------------------------------------------------
    def _get_dataset_row(self, s: Session, dataset_id: int) -> m.Dataset:
        row = s.get(m.Dataset, dataset_id)
        if row is None:
            raise DatasetNotFound(dataset_id)
        return row

    def _put_metafeatures(self, s: Session, dataset_id: int, v: MetaFeatureVector) -> None:
        s.merge(
            m.DatasetMetaFeatures(
                dataset_id=dataset_id,
                version=v.version,
                values=_json_floats(v.values),
                times=dict(v.times),
                failures=dict(v.failures),
                sample_size=v.sample_size,
                computed_at=datetime.now(UTC),
            )
        )

    def _metafeatures_for(self, s: Session, ids: list[int]) -> dict[int, MetaFeatureVector]:
        if not ids:
            return {}
        rows = s.scalars(select(m.DatasetMetaFeatures).where(m.DatasetMetaFeatures.dataset_id.in_(ids)))
        return {r.dataset_id: _vector(r) for r in rows}

    def _dataset(self, s: Session, row: m.Dataset, vector: MetaFeatureVector | None = None) -> DatasetRecord:
        if vector is None:
            vector = self._metafeatures_for(s, [row.id]).get(row.id)
        return DatasetRecord(
            id=row.id,
            name=row.name,
            description=row.description,
            source=row.source,
            content_hash=row.content_hash,
            task_type=row.task_type,  # type: ignore[arg-type]
            target=row.target,
            n_rows=row.n_rows,
            n_features=row.n_features,
            column_types=dict(row.column_types),
            column_stats=dict(row.column_stats),
            origin_group=row.origin_group,
            raw_file=row.raw_file,
            file_format=row.file_format,
            created_at=_aware(row.created_at),
            metafeatures=vector,
        )


def _json_floats(values: dict[str, float | None]) -> dict[str, float | None]:
    # JSON has no NaN or infinity: a missing value is stored as null.
    out: dict[str, float | None] = {}
    for k, v in values.items():
        out[k] = None if v is None or v != v or v in (float("inf"), float("-inf")) else float(v)
    return out


def _payload(e: NewEvaluation) -> dict[str, Any]:
    return {
        "dataset_id": e.dataset_id,
        "configuration_id": e.configuration_id,
        "protocol": e.protocol,
        "metrics": _json_floats(e.metrics),
        "status": e.status,
        "fit_time": e.fit_time,
        "predict_time": e.predict_time,
        "peak_memory_mb": e.peak_memory_mb,
        "error": e.error,
        "source": e.source,
    }


def _aware(ts: datetime) -> datetime:
    # SQLite returns naive datetimes; every stored time is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _vector(r: m.DatasetMetaFeatures) -> MetaFeatureVector:
    return MetaFeatureVector(
        version=r.version,
        values=dict(r.values),
        times=dict(r.times),
        failures=dict(r.failures),
        sample_size=r.sample_size,
    )


def _space(r: m.SearchSpace) -> SearchSpaceRecord:
    return SearchSpaceRecord(
        id=r.id,
        family=r.family,
        task_type=r.task_type,  # type: ignore[arg-type]
        version=r.version,
        definition=dict(r.definition),
        created_at=_aware(r.created_at),
    )


def _configuration(r: m.Configuration, space: m.SearchSpace) -> ConfigurationRecord:
    return ConfigurationRecord(
        id=r.id,
        space_id=r.space_id,
        family=space.family,
        task_type=space.task_type,  # type: ignore[arg-type]
        values=dict(r.values),
        config_hash=r.config_hash,
        name=r.name,
        created_at=_aware(r.created_at),
    )


def _evaluation(r: Any) -> EvaluationRecord:
    """From a mapped `Evaluation` or a row of its table's columns (the same names)."""
    return EvaluationRecord(
        id=r.id,
        dataset_id=r.dataset_id,
        configuration_id=r.configuration_id,
        protocol=r.protocol,
        metrics=dict(r.metrics),
        status=r.status,  # type: ignore[arg-type]
        fit_time=r.fit_time,
        predict_time=r.predict_time,
        peak_memory_mb=r.peak_memory_mb,
        error=r.error,
        source=r.source,
        idempotency_key=r.idempotency_key,
        created_at=_aware(r.created_at),
    )


def _learner_model(r: m.LearnerModel, with_payload: bool) -> LearnerModelRecord:
    return LearnerModelRecord(
        id=r.id,
        method=r.method,
        task_type=r.task_type,  # type: ignore[arg-type]
        metric=r.metric,
        version=r.version,
        kb_fingerprint=r.kb_fingerprint,
        metrics=dict(r.metrics),
        created_at=_aware(r.created_at),
        payload=bytes(r.payload) if with_payload else None,
    )


def _api_key(r: m.ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=r.id,
        name=r.name,
        prefix=r.prefix,
        scopes=tuple(r.scopes),
        created_at=_aware(r.created_at),
        revoked=r.revoked_at is not None,
    )
