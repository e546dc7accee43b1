"""The sweep's compute core: plan (dataset, family) shards and run their cells, no storage.

Everything here is a pure function of picklable arguments so that a Dask task (or any process
pool) can run ``run_cells`` / ``run_shard``; writing the results somewhere is the caller's job.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from learners.datasets import Dataset, DatasetRef
from learners.evaluate import Cell, Protocol, evaluate_many
from learners.pools import PoolConfig, pool
from learners.spaces import FAMILIES

#: Rough cost model used only to order shards: small datasets first.
_COST_ROWS_CAP = 3000


@dataclass(frozen=True)
class Shard:
    """All pool configurations of one family on one dataset: the unit of work and of storage."""

    dataset: DatasetRef
    family: str
    task_type: str
    cost: float
    #: Only these pool configurations (by name), e.g. the ones a pool gained; None: all of them.
    configs: tuple[str, ...] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.dataset.name, self.family)


def pool_cells(family: str, task_type: str) -> list[Cell]:
    """The family's pool (default + Sobol design) as cells to evaluate."""
    return [Cell(c.family, c.values, c.name) for c in pool(family, task_type)]


def run_cells(
    dataset: Dataset | DatasetRef, cells: Sequence[Cell], protocol: Protocol
) -> list[dict[str, Any]]:
    """Evaluate ``cells`` on ``dataset`` and return flat records (one dict per cell).

    ``dataset`` may be a reference, loaded here, so a Dask task ships only a path. Each record
    holds the dataset name and origin group, the cell's family/name/config, the protocol id,
    status, error, ``metric_*`` columns, times, memory and when and where it ran.
    """
    data = dataset.load() if isinstance(dataset, DatasetRef) else dataset
    started = time.time()
    results = evaluate_many(data.X, data.y, data.column_types, data.task_type, cells, protocol)
    host = platform.node()
    records = []
    for result in results:
        record = result.to_dict()
        record.update(
            dataset=data.name,
            origin_group=data.origin_group,
            source=data.source,
            n_rows=int(data.X.shape[0]),
            n_features=int(data.X.shape[1]),
            started_at=started,
            host=host,
        )
        records.append(record)
    return records


def run_shard(shard: Shard, protocol: Protocol) -> list[dict[str, Any]]:
    """Run one shard's pool (or its ``configs``); the records of ``run_cells``."""
    cells = pool_cells(shard.family, shard.task_type)
    if shard.configs is not None:
        cells = [c for c in cells if c.name in shard.configs]
    return run_cells(shard.dataset, cells, protocol)


def shard_cost(n_rows: int, n_features: int, protocol: Protocol) -> float:
    """Relative cost of a dataset, for ordering only: capped rows times log of columns."""
    rows = min(n_rows, protocol.max_train_rows + protocol.max_test_rows, _COST_ROWS_CAP)
    return rows * (1.0 + math.log1p(n_features))


def plan(
    datasets: Iterable[tuple[DatasetRef, str, int, int]],
    protocol: Protocol,
    families: Sequence[str] = FAMILIES,
    done: Collection[tuple[str, str]] = (),
) -> list[Shard]:
    """Shards still to run, cheapest dataset first and every family of a dataset together.

    ``datasets`` yields (reference, task type, rows, features); ``done`` holds the
    (dataset, family) keys already stored, which are left out (that is what makes it resumable).
    """
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; choose from {', '.join(FAMILIES)}")
    done = set(done)
    shards = [
        Shard(ref, family, task_type, shard_cost(rows, cols, protocol))
        for ref, task_type, rows, cols in datasets
        for family in families
        if (ref.name, family) not in done
    ]
    return sorted(shards, key=lambda s: (s.cost, s.dataset.name, families.index(s.family)))


def pools_for(task_type: str, families: Sequence[str] = FAMILIES) -> dict[str, list[PoolConfig]]:
    """Every family's pool for one task type (what the metastore stores as configurations)."""
    return {f: pool(f, task_type) for f in families}


def read_shards(folder: str | Path) -> pd.DataFrame:
    """Concatenate the ``*.parquet`` shards of a sweep folder (``config`` stays a JSON string)."""
    paths = sorted(Path(folder).glob("*.parquet"))
    if not paths:
        raise FileNotFoundError(f"no *.parquet shards in {folder}; run scripts/sweep_shards.py")
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
