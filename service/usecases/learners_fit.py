"""Refit the recommenders on the knowledge base as it is now and store them: also the `learners.fit` job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from learners.recommenders import METHODS, default_metric
from metastore.store import MetaStore
from service.jobs.context import JobContext, PermanentJobError
from service.jobs.handlers import register
from service.problems import InvalidRequest
from service.usecases.recommend import PROTOCOL, fit_and_store, knowledge_base, metrics_for

TaskTypeName = Literal["classification", "regression"]
TASK_TYPES: tuple[TaskTypeName, ...] = ("classification", "regression")
OnFitted = Callable[[int, int, dict[str, Any]], None]


class LearnersFitArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    methods: list[str] | None = Field(
        default=None, min_length=1, max_length=len(METHODS), description=f"Default: all of {list(METHODS)}."
    )
    task_types: list[TaskTypeName] | None = Field(
        default=None,
        min_length=1,
        max_length=2,
        description="Default: both; a task type the knowledge base has no results for is skipped.",
    )
    metric: str | None = Field(
        default=None, max_length=32, description="Default: balanced_accuracy / r2 by task type."
    )

    @model_validator(mode="after")
    def _known(self) -> LearnersFitArguments:
        if unknown := sorted(set(self.methods or ()) - set(METHODS)):
            raise ValueError(f"unknown method(s) {unknown}; use {list(METHODS)}")
        for task in self.task_types or TASK_TYPES:
            if self.metric is not None and self.metric not in metrics_for(task):
                raise ValueError(f"metric {self.metric!r} does not apply to {task}; use {metrics_for(task)}")
        return self


def fit_learners(
    store: MetaStore, args: LearnersFitArguments, on_fitted: OnFitted | None = None
) -> dict[str, Any]:
    """Fit and store a new version of each method for each task type; returns what was made.

    Task types named explicitly must have knowledge (else InvalidRequest); by default those
    without are listed under `skipped`. `on_fitted(done, total, model)` follows each fit.
    """
    methods = args.methods or list(METHODS)
    fingerprint = store.knowledge_fingerprint(PROTOCOL)
    bases, skipped = {}, {}
    for task in args.task_types or TASK_TYPES:
        metric = args.metric or default_metric(task)
        try:
            bases[task] = (metric, knowledge_base(store, task, metric))
        except InvalidRequest as exc:
            if args.task_types is not None:
                raise
            skipped[task] = exc.detail
    if not bases:
        raise InvalidRequest(" ".join(skipped.values()))
    total, made = len(bases) * len(methods), []
    for task, (metric, (kb, datasets, configs)) in bases.items():
        for name in methods:
            fitted = fit_and_store(store, name, task, metric, kb, fingerprint, datasets, configs)
            made.append(
                {
                    "method": name,
                    "task_type": task,
                    "metric": metric,
                    "version": fitted.version,
                    "datasets": kb.n_datasets,
                    "configurations": kb.n_configs,
                }
            )
            if on_fitted is not None:
                on_fitted(len(made), total, made[-1])
    return {"models": made, "skipped": skipped}


@register(
    "learners.fit",
    arguments=LearnersFitArguments,
    description="Refit the recommenders on the knowledge base as it is now; store them as new versions.",
)
def learners_fit_job(ctx: JobContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = LearnersFitArguments(**arguments)

    def report(done: int, total: int, model: dict[str, Any]) -> None:
        ctx.progress(
            done / total,
            f"fitted {model['version']} on {model['datasets']} datasets",
            {"done": done, "total": total, "last_version": model["version"]},
        )

    ctx.progress(0.0, "reading the knowledge base")
    try:
        return fit_learners(ctx.store, args, report)
    except InvalidRequest as exc:  # no knowledge to fit on: another attempt would not find more
        raise PermanentJobError(exc.detail) from exc
