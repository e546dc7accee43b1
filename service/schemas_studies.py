"""The API contract of studies: create, suggest, observe, and the trajectory (never ORM classes)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from metastore.studies import StudyRecord, TrialRecord
from service.config import MAX_PENDING_TIMEOUT_S
from service.schemas import Strict, TaskTypeStr

MAX_SUGGESTIONS = 50


class StudyIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True)  # `false` is no number, `"3"` no id
    dataset_id: int = Field(ge=1, le=2**31 - 1, description="A stored dataset (upload it first).")
    space: str = Field(
        default="auto",
        min_length=1,
        max_length=64,
        description="A family's search space (e.g. lightgbm), or `auto` to search across families.",
    )
    families: list[str] | None = Field(
        default=None, min_length=1, max_length=20, description="With `auto`: only these families."
    )
    metric: str | None = Field(default=None, max_length=32, description="Default: balanced_accuracy or r2.")
    direction: Literal["maximize", "minimize"] | None = Field(
        default=None, description="Default: the metric's own (rmse, mae, log_loss are minimised)."
    )
    n_initial: int = Field(
        default=5, ge=0, le=MAX_SUGGESTIONS, description="Trials taken from the zero-shot recommender."
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    name: str = Field(default="", max_length=255)
    pending_timeout_s: float | None = Field(
        default=None,
        ge=1,
        le=MAX_PENDING_TIMEOUT_S,
        description="Seconds after which a trial handed out and never reported is `expired`: no "
        "longer pending, its configuration not handed out again, a late result still recorded. "
        "Default: the server's WARMSTART_STUDY_PENDING_TIMEOUT_S (6 hours unless set).",
    )


class ObservationIn(Strict):
    model_config = ConfigDict(extra="forbid", strict=True)
    trial_id: int = Field(ge=1, le=2**31 - 1, description="The trial_id a suggestion returned.")
    status: Literal["ok", "failed", "timeout"] = "ok"
    score: float | None = Field(default=None, description="The study metric's value.")
    metrics: dict[str, float | None] = Field(
        default_factory=dict, max_length=64, description="Other metrics (may hold the study's too)."
    )
    fit_time: float | None = Field(default=None, ge=0)
    predict_time: float | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=20_000)
    protocol: str = Field(
        default="user",
        min_length=1,
        max_length=64,
        description="How it was evaluated; the knowledge base compares results of one protocol only.",
    )

    @field_validator("score")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("score must be a finite number; report a failure with status=failed")
        return v

    @model_validator(mode="after")
    def _failed_has_no_score(self) -> ObservationIn:
        if self.status != "ok" and self.score is not None:
            raise ValueError("a failed trial has no score; leave it out and say why in error")
        return self


class TrialOut(BaseModel):
    trial_id: int
    number: int = Field(description="0, 1, ... in the order handed out.")
    configuration_id: int
    family: str
    hyperparameters: dict[str, Any]
    source: str = Field(description="zero_shot, transfer, surrogate or random.")
    model_version: str | None = Field(
        description="The recommender, knowledge base (transfer) or surrogate that proposed it."
    )
    acquisition: float | None
    predicted_mean: float | None
    predicted_std: float | None
    state: Literal["pending", "ok", "failed", "expired"] = Field(
        description="pending until a result arrives: ok or failed; expired when pending past the "
        "study's pending_timeout_s (a late result still turns it into ok or failed)."
    )
    score: float | None
    metrics: dict[str, Any] | None
    fit_time: float | None
    error: str | None
    evaluation_id: int | None = Field(description="The result's copy in the knowledge base.")
    suggested_at: datetime
    observed_at: datetime | None
    best_so_far: float | None = Field(default=None, description="Best score of trials 0..number.")

    @classmethod
    def of(cls, t: TrialRecord, best_so_far: float | None = None) -> TrialOut:
        return cls(
            trial_id=t.id,
            number=t.number,
            configuration_id=t.configuration_id,
            family=t.family,
            hyperparameters=t.hyperparameters,
            source=t.source,
            model_version=t.model_version,
            acquisition=t.acquisition,
            predicted_mean=t.predicted_mean,
            predicted_std=t.predicted_std,
            state=t.state,
            score=t.score,
            metrics=t.metrics,
            fit_time=t.fit_time,
            error=t.error,
            evaluation_id=t.evaluation_id,
            suggested_at=t.suggested_at,
            observed_at=t.observed_at,
            best_so_far=best_so_far,
        )


class StudyOut(BaseModel):
    id: int
    dataset_id: int
    name: str
    task_type: TaskTypeStr
    space: str
    families: list[str]
    metric: str
    direction: Literal["maximize", "minimize"]
    n_initial: int
    seed: int
    created_at: datetime
    n_trials: int
    n_pending: int = Field(description="Trials handed out and not yet reported (expired ones excluded).")
    best_score: float | None
    pending_timeout_s: float | None = Field(
        description="Seconds after which a pending trial expires; null: never "
        "(studies created before trials could expire)."
    )

    @classmethod
    def of(cls, r: StudyRecord) -> StudyOut:
        return cls(
            id=r.id,
            dataset_id=r.dataset_id,
            name=r.name,
            task_type=r.task_type,  # type: ignore[arg-type]
            space=r.space,
            families=list(r.families),
            metric=r.metric,
            direction=r.direction,
            n_initial=r.n_initial,
            seed=r.seed,
            created_at=r.created_at,
            n_trials=r.n_trials,
            n_pending=r.n_pending,
            best_score=r.best_score,
            pending_timeout_s=r.pending_timeout_s,
        )


class StudyDetailOut(StudyOut):
    best: TrialOut | None = Field(description="The best observed trial so far.")
    trials: list[TrialOut] = Field(description="Every trial in order: the trajectory.")

    @classmethod
    def build(
        cls, study: StudyRecord, steps: list[tuple[TrialRecord, float | None]], best: TrialRecord | None
    ) -> StudyDetailOut:
        return cls(
            **StudyOut.of(study).model_dump(),
            best=None if best is None else TrialOut.of(best),
            trials=[TrialOut.of(t, best_so_far) for t, best_so_far in steps],
        )


class StudyPage(BaseModel):
    items: list[StudyOut]
    total: int
    limit: int
    offset: int


class SuggestionsOut(BaseModel):
    study_id: int
    suggestions: list[TrialOut]
    zero_shot_version: str | None = Field(description="The recommender that made the cold-start picks.")
    surrogate_versions: dict[str, str] = Field(description="Family -> meta-learned surrogate version.")


class ObservationOut(BaseModel):
    study_id: int
    trial: TrialOut
    created: bool = Field(description="False when this result had been recorded already (a resend).")
