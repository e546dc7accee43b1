"""Immutable records that the metastore hands out (never ORM rows) and the inputs it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

TaskType = Literal["classification", "regression"]
EvaluationStatus = Literal["ok", "failed", "timeout"]
Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")


@dataclass(frozen=True, slots=True)
class MetaFeatureVector:
    """A dataset's meta-features as computed by one extractor version."""

    version: str
    values: dict[str, float | None]
    times: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    sample_size: int | None = None


@dataclass(frozen=True, slots=True)
class NewDataset:
    name: str
    content_hash: str
    task_type: TaskType
    target: str
    n_rows: int
    n_features: int
    column_types: dict[str, str]
    column_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    description: str = ""
    source: str = "upload"
    origin_group: str | None = None
    raw_file: str | None = None
    file_format: str | None = None
    metafeatures: MetaFeatureVector | None = None


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    id: int
    name: str
    description: str
    source: str
    content_hash: str
    task_type: TaskType
    target: str
    n_rows: int
    n_features: int
    column_types: dict[str, str]
    column_stats: dict[str, dict[str, int]]
    origin_group: str | None
    raw_file: str | None
    file_format: str | None
    created_at: datetime
    metafeatures: MetaFeatureVector | None = None


@dataclass(frozen=True, slots=True)
class DatasetFilter:
    task_type: TaskType | None = None
    name: str | None = None
    min_rows: int | None = None
    max_rows: int | None = None
    min_features: int | None = None
    max_features: int | None = None
    content_hash: str | None = None  # the dataset's fingerprint: at most one match


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class SearchSpaceRecord:
    id: int
    family: str
    task_type: TaskType
    version: str
    definition: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ConfigurationRecord:
    id: int
    space_id: int
    family: str
    task_type: TaskType
    values: dict[str, Any]
    config_hash: str
    name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewEvaluation:
    dataset_id: int
    configuration_id: int
    protocol: str
    metrics: dict[str, float | None]
    status: EvaluationStatus = "ok"
    fit_time: float | None = None
    predict_time: float | None = None
    peak_memory_mb: float | None = None
    error: str | None = None
    source: str = "api"
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    id: int
    dataset_id: int
    configuration_id: int
    protocol: str
    metrics: dict[str, float | None]
    status: EvaluationStatus
    fit_time: float | None
    predict_time: float | None
    peak_memory_mb: float | None
    error: str | None
    source: str
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredEvaluation:
    """The result of writing one evaluation: the record and whether this call created it."""

    record: EvaluationRecord
    created: bool


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: int
    name: str
    prefix: str
    scopes: tuple[Scope, ...]
    created_at: datetime
    revoked: bool


@dataclass(frozen=True, slots=True)
class FamilyStats:
    """One family's part of the knowledge base: its stored configurations (both task types), the
    datasets with at least one of its results, and its results by status (each cell counted once,
    by its latest status)."""

    family: str
    configurations: int
    datasets: int
    cells: int
    ok: int
    failed: int
    timeout: int


@dataclass(frozen=True, slots=True)
class KnowledgeBaseStats:
    datasets: int
    families: int
    configurations: int
    evaluations: int
    fill_rate: float
    datasets_with_results: int = 0
    by_family: tuple[FamilyStats, ...] = ()


@dataclass(frozen=True, slots=True)
class LearnerModelRecord:
    """A stored, fitted recommender; `payload` is None when listed without it."""

    id: int
    method: str
    task_type: TaskType
    metric: str
    version: str
    kb_fingerprint: str
    metrics: dict[str, Any]
    created_at: datetime
    payload: bytes | None = None
