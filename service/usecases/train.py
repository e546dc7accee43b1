"""Train stored configurations on a user's file with the evaluation harness (what CI pipelines call)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from learners.evaluate import SWEEP_PROTOCOL, Protocol, evaluate
from service.usecases.ingest import PreparedDataset
from service.usecases.kb import finite_or_none


@dataclass(frozen=True)
class ConfigToTrain:
    configuration_id: int | None  # None: a configuration the service has not stored (library defaults)
    family: str
    hyperparameters: dict[str, Any]
    name: str | None = None
    task_type: str | None = None


@dataclass
class TrainResult:
    configuration_id: int | None
    family: str
    hyperparameters: dict[str, Any]
    status: str
    error: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    fit_time: float | None = None
    predict_time: float | None = None
    peak_memory_mb: float | None = None

    def report(self, dataset_id: int, protocol: str) -> dict[str, Any]:
        """The body of one POST /v1/evaluations item."""
        named: dict[str, Any] = (
            {"configuration_id": self.configuration_id}
            if self.configuration_id is not None
            else {"family": self.family, "hyperparameters": self.hyperparameters}
        )
        return {
            "dataset_id": dataset_id,
            **named,
            "protocol": protocol,
            "metrics": {k: v for k, v in self.metrics.items() if v is not None},
            "status": self.status,
            "fit_time": self.fit_time,
            "predict_time": self.predict_time,
            "peak_memory_mb": self.peak_memory_mb,
            "error": self.error,
            "source": "cli-evaluate",
        }


def train_configs(
    prepared: PreparedDataset, configs: list[ConfigToTrain], protocol: Protocol = SWEEP_PROTOCOL
) -> list[TrainResult]:
    wrong = [
        c.configuration_id or c.family for c in configs if c.task_type and c.task_type != prepared.task_type
    ]
    if wrong:
        raise ValueError(
            f"configuration(s) {wrong} belong to another task type than this {prepared.task_type} "
            "dataset; ask `warmstart recommend` for configurations of this dataset"
        )
    out = []
    for c in configs:
        r = evaluate(
            prepared.X,
            prepared.y.to_numpy(),
            prepared.column_types,
            prepared.task_type,
            c.family,
            c.hyperparameters,
            protocol,
            config_name=c.name,
        )
        out.append(
            TrainResult(
                configuration_id=c.configuration_id,
                family=c.family,
                hyperparameters=c.hyperparameters,
                status=r.status,
                error=r.error,
                metrics={k: finite_or_none(v) for k, v in r.metrics.items()},
                fit_time=finite_or_none(r.fit_time_s),
                predict_time=finite_or_none(r.predict_time_s),
                peak_memory_mb=finite_or_none(r.peak_memory_mb),
            )
        )
    return out
