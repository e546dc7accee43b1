"""The results file that `warmstart report` sends: results from any tool, one dataset per file.

`warmstart evaluate --json` writes this shape (with a few extra keys, which are ignored), so its
output can be kept as a build artifact and reported later. A minimal file:

    {
      "dataset": {"content_hash": "9f2c...", "file": "train.csv", "target": "label"},
      "protocol": "my-5fold-cv",
      "results": [
        {"family": "random_forest", "hyperparameters": {"n_estimators": 300},
         "metrics": {"accuracy": 0.91}, "fit_time": 2.4},
        {"configuration_id": 17, "status": "failed", "error": "out of memory"}
      ]
    }
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA_VERSION = "warmstart-results/1"
BATCH = 1000  # the API's batch limit


class ResultsDataset(BaseModel):
    """Which dataset the results are for: its service id, its fingerprint, or the file itself."""

    model_config = ConfigDict(extra="ignore")

    id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="A dataset id on the service.")
    content_hash: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="The dataset's fingerprint (content_hash of an upload or of `warmstart evaluate`).",
    )
    file: str | None = Field(default=None, description="The data file; uploaded when the service lacks it.")
    target: str | None = Field(default=None, min_length=1, description="The target column of `file`.")
    task_type: Literal["classification", "regression"] | None = None

    @model_validator(mode="after")
    def _named(self) -> ResultsDataset:
        if self.id is None and self.content_hash is None and self.file is None:
            raise ValueError("name the dataset by id, content_hash, or file and target")
        if self.file is not None and self.target is None:
            raise ValueError("a dataset file needs its target column")
        return self


class Result(BaseModel):
    """One trained configuration: which one, how it scored, how long it took."""

    model_config = ConfigDict(extra="forbid")

    configuration_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    family: str | None = Field(default=None, min_length=1, max_length=64)
    hyperparameters: dict[str, Any] | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict, max_length=64)
    status: Literal["ok", "failed", "timeout"] = "ok"
    fit_time: float | None = Field(default=None, ge=0, description="Seconds.")
    predict_time: float | None = Field(default=None, ge=0)
    peak_memory_mb: float | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=20_000)

    @model_validator(mode="after")
    def _configuration(self) -> Result:
        if self.configuration_id is None and (self.family is None or self.hyperparameters is None):
            raise ValueError("name the configuration by configuration_id, or by family and hyperparameters")
        if self.status == "ok" and not any(v is not None for v in self.metrics.values()):
            raise ValueError("a result with status ok needs at least one metric value")
        return self

    def evaluation(self, dataset_id: int, protocol: str, source: str) -> dict[str, Any]:
        """The POST /v1/evaluations item (a stored configuration id wins over family/values)."""
        body: dict[str, Any] = {"dataset_id": dataset_id}
        if self.configuration_id is not None:
            body["configuration_id"] = self.configuration_id
        else:
            body.update(family=self.family, hyperparameters=self.hyperparameters)
        body.update(
            protocol=protocol,
            metrics={k: v for k, v in self.metrics.items() if v is not None},
            status=self.status,
            fit_time=self.fit_time,
            predict_time=self.predict_time,
            peak_memory_mb=self.peak_memory_mb,
            error=self.error,
            source=source,
        )
        return body


class ResultsFile(BaseModel):
    """A results file; keys other than these are ignored (so `warmstart evaluate --json` output fits)."""

    model_config = ConfigDict(extra="ignore")

    schema_: str = Field(default=SCHEMA_VERSION, alias="schema", pattern=r"^warmstart-results/1$")
    dataset: ResultsDataset
    protocol: str = Field(default="user", min_length=1, max_length=64, description="How it was scored.")
    source: str = Field(default="report", min_length=1, max_length=64)
    results: list[Result] = Field(min_length=1, max_length=100_000)

    def batches(self, dataset_id: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """(idempotency key, evaluations) per API batch; the key is the batch's content hash, so
        resending the same file stores nothing twice."""
        items = [r.evaluation(dataset_id, self.protocol, self.source) for r in self.results]
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            digest = hashlib.sha256(json.dumps(chunk, sort_keys=True, default=str).encode()).hexdigest()
            yield f"report-{digest}", chunk


class ResultsFileError(ValueError):
    """A results file that cannot be read or does not follow the schema; one line saying where."""


def load_results(path: str | Path) -> ResultsFile:
    """Read and validate a results file; raise ResultsFileError with the first problem."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ResultsFileError(f"{path} is not a readable JSON file ({exc})") from exc
    try:
        results = ResultsFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise ResultsFileError(
            f"{path}: {where}: {first['msg']} ({exc.error_count()} problem(s); see docs/ci.md for the schema)"
        ) from exc
    data = results.dataset.file
    if data is not None and not Path(data).exists() and (path.parent / data).exists():
        results.dataset.file = str(path.parent / data)  # a path relative to the results file
    return results
