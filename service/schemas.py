"""The API contract: request and response models (never ORM classes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from metastore.records import DatasetRecord, EvaluationRecord

TaskTypeStr = Literal["classification", "regression"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnOut(BaseModel):
    name: str
    kind: str = Field(description="numeric, categorical, boolean, id (ignored) or constant")
    missing: int
    unique: int


class MetaFeaturesOut(BaseModel):
    version: str
    sample_size: int | None
    values: dict[str, float | None]
    failures: dict[str, str]


class DatasetOut(BaseModel):
    id: int
    name: str
    description: str
    source: str
    content_hash: str
    task_type: TaskTypeStr
    target: str
    n_rows: int
    n_features: int
    origin_group: str | None
    file_format: str | None
    created_at: datetime
    columns: list[ColumnOut]
    metafeatures: MetaFeaturesOut | None = None

    @classmethod
    def of(cls, r: DatasetRecord, with_metafeatures: bool = True) -> DatasetOut:
        mf = r.metafeatures
        return cls(
            id=r.id,
            name=r.name,
            description=r.description,
            source=r.source,
            content_hash=r.content_hash,
            task_type=r.task_type,
            target=r.target,
            n_rows=r.n_rows,
            n_features=r.n_features,
            origin_group=r.origin_group,
            file_format=r.file_format,
            created_at=r.created_at,
            columns=[
                ColumnOut(
                    name=name,
                    kind=kind,
                    missing=r.column_stats.get(name, {}).get("missing", 0),
                    unique=r.column_stats.get(name, {}).get("unique", 0),
                )
                for name, kind in r.column_types.items()
            ],
            metafeatures=(
                MetaFeaturesOut(
                    version=mf.version,
                    sample_size=mf.sample_size,
                    values=mf.values,
                    failures=mf.failures,
                )
                if mf is not None and with_metafeatures
                else None
            ),
        )


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    total: int
    limit: int
    offset: int


class DatasetRowsIn(Strict):
    """A small dataset sent as JSON rows instead of a file."""

    name: str = Field(min_length=1, max_length=255)
    target: str = Field(min_length=1, max_length=255)
    rows: list[dict[str, Any]] = Field(description="One object per row, column name -> value.")
    task_type: TaskTypeStr | None = None
    description: str = Field(default="", max_length=10_000)
    origin_group: str | None = Field(default=None, max_length=128)


class NeighborOut(BaseModel):
    dataset: DatasetOut
    distance: float


class NeighborsOut(BaseModel):
    dataset_id: int
    k: int
    metafeatures_version: str | None
    neighbors: list[NeighborOut]


class EvaluationIn(Strict):
    dataset_id: int = Field(ge=1, le=2**31 - 1)
    configuration_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    family: str | None = Field(default=None, max_length=64, description="With hyperparameters.")
    hyperparameters: dict[str, Any] | None = None
    protocol: str = Field(default="user", min_length=1, max_length=64)
    metrics: dict[str, float | None] = Field(default_factory=dict, max_length=64)
    status: Literal["ok", "failed", "timeout"] = "ok"
    fit_time: float | None = Field(default=None, ge=0)
    predict_time: float | None = Field(default=None, ge=0)
    peak_memory_mb: float | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=20_000)
    source: str = Field(default="api", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_configuration(self) -> EvaluationIn:
        by_id = self.configuration_id is not None
        by_values = self.family is not None or self.hyperparameters is not None
        if by_id == by_values:
            raise ValueError(
                "name the configuration either by configuration_id, or by family and "
                "hyperparameters, not both and not neither"
            )
        if by_values and (self.family is None or self.hyperparameters is None):
            raise ValueError("family and hyperparameters go together")
        if self.status == "ok" and not self.metrics:
            raise ValueError("a successful evaluation needs at least one metric")
        return self


class EvaluationBatchIn(Strict):
    evaluations: list[EvaluationIn] = Field(min_length=1, max_length=1000)


class EvaluationOut(BaseModel):
    id: int
    dataset_id: int
    configuration_id: int
    protocol: str
    metrics: dict[str, float | None]
    status: str
    fit_time: float | None
    predict_time: float | None
    peak_memory_mb: float | None
    error: str | None
    source: str
    created_at: datetime

    @classmethod
    def of(cls, r: EvaluationRecord) -> EvaluationOut:
        return cls(
            id=r.id,
            dataset_id=r.dataset_id,
            configuration_id=r.configuration_id,
            protocol=r.protocol,
            metrics=r.metrics,
            status=r.status,
            fit_time=r.fit_time,
            predict_time=r.predict_time,
            peak_memory_mb=r.peak_memory_mb,
            error=r.error,
            source=r.source,
            created_at=r.created_at,
        )


class EvaluationsReported(BaseModel):
    evaluations: list[EvaluationOut]
    created: int
    replayed: int


class LeaderboardOut(BaseModel):
    dataset_id: int
    sort: str
    order: Literal["asc", "desc"]
    total: int
    items: list[EvaluationOut]


class SearchSpaceOut(BaseModel):
    id: int
    family: str
    task_type: TaskTypeStr
    version: str
    definition: dict[str, Any]
    n_configurations: int


class ConfigurationOut(BaseModel):
    id: int
    space_id: int
    family: str
    task_type: TaskTypeStr
    name: str | None
    hyperparameters: dict[str, Any]
    config_hash: str


class Problem(BaseModel):
    """RFC 9457 problem details: every error the API returns has this shape."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("Malformed request"),
    401: _problem("Missing or invalid API key"),
    403: _problem("The key lacks the required scope"),
    404: _problem("No such resource"),
    409: _problem("Idempotency key reused with another payload"),
    413: _problem("Body over the size limit"),
    415: _problem("Unsupported content type"),
    422: _problem("Invalid input; the detail says what to fix"),
    503: _problem("Metastore temporarily unavailable; retry after Retry-After seconds"),
}


class Health(BaseModel):
    status: str
    detail: str | None = None


class RecommendationRequest(Strict):
    dataset_id: int = Field(ge=1, le=2**31 - 1, description="A stored dataset (upload it first).")
    k: int = Field(default=5, ge=1, le=100)
    method: Literal["learned", "defaults", "portfolio", "knn", "flaml_style"] = "learned"
    metric: str | None = Field(default=None, max_length=32, description="Default: balanced_accuracy or r2.")
    families: list[str] | None = Field(default=None, max_length=20)
    time_budget_s: float | None = Field(default=None, gt=0, le=1e7, description=(
        "Total fit seconds allowed for the picks. Without it the learned method keeps its first five "
        "picks within 2x the predicted fit time of the five best library defaults. In regression "
        "either cap is checked on an upper estimate of each pick's time."))


class SimilarDataset(BaseModel):
    dataset_id: int
    name: str
    similarity: float
    normalised_score: float = Field(description="How this pick did there (1 = best of the pool).")


class Explanation(BaseModel):
    similar_datasets: list[SimilarDataset]


class RecommendationOut(BaseModel):
    rank: int
    configuration_id: int
    family: str
    hyperparameters: dict[str, Any]
    expected_score: float = Field(description="Expected normalised score, 1 = best of the pool.")
    uncertainty: float
    predicted_fit_time: float = Field(description="Seconds per fit on this dataset's size.")
    explanation: Explanation


class RecommendationsOut(BaseModel):
    dataset_id: int
    task_type: TaskTypeStr
    method: str
    model_version: str
    metric: str
    k: int
    time_budget_s: float | None
    recommendations: list[RecommendationOut]


class LearnerModelOut(BaseModel):
    id: int
    method: str
    task_type: TaskTypeStr
    metric: str
    version: str
    kb_fingerprint: str
    metrics: dict[str, Any]
    created_at: datetime
