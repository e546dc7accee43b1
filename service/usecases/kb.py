"""The knowledge base: register spaces, pools and datasets, run the sweep on Dask, ingest results."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from learners.datasets import Dataset, DatasetRef
from learners.evaluate import SWEEP_PROTOCOL, Protocol
from learners.spaces import FAMILIES, TASK_TYPES, get_space
from learners.sweep import Shard, pools_for, run_shard, shard_cost
from metastore.records import DatasetFilter, DatasetRecord, NewDataset, NewEvaluation
from metastore.store import MetaStore
from service.usecases.ingest import column_kind, content_hash
from service.usecases.metafeatures import compute_metafeatures

log = logging.getLogger("warmstart.kb")
KB_SOURCES = ("pmlb", "sklearn")


@dataclass(frozen=True)
class PoolIndex:
    """Stored configuration ids of every pool, by (task type, family, configuration name)."""

    ids: dict[tuple[str, str, str], int]

    def family_ids(self, task_type: str, family: str) -> list[int]:
        return [i for (t, f, _), i in self.ids.items() if t == task_type and f == family]

    def missing(
        self, task_type: str, family: str, dataset_id: int, done: Collection[tuple[int, int]]
    ) -> list[str]:
        """Names of the family's pool configurations with no result on the dataset in `done`."""
        return [
            name
            for (t, f, name), i in self.ids.items()
            if t == task_type and f == family and (dataset_id, i) not in done
        ]


def register_pools(
    store: MetaStore, families: Sequence[str] = FAMILIES, task_types: Sequence[str] = TASK_TYPES
) -> PoolIndex:
    """Store each family's space and pool (the same on every dataset); idempotent."""
    ids: dict[tuple[str, str, str], int] = {}
    for task_type in task_types:
        for family, configs in pools_for(task_type, families).items():
            space = get_space(family, task_type)
            stored = store.upsert_search_space(family, task_type, str(space.version), space.to_json())  # type: ignore[arg-type]
            known = {c.name: c.values for c in store.list_configurations(stored.id) if c.name}
            records = store.add_configurations(
                stored.id, [(same_point(known.get(c.name), c.values), c.name) for c in configs]
            )
            for config, record in zip(configs, records, strict=True):
                ids[(task_type, family, config.name)] = record.id
    return PoolIndex(ids)


def same_point(stored: dict[str, Any] | None, computed: dict[str, Any]) -> dict[str, Any]:
    """The stored values of a pool configuration when this machine computed the same point.

    The Sobol design goes through log/exp, whose last bit differs between CPUs and libm builds
    (C = 206.0952074228886 on one machine, ...887 on another). The configuration hash is exact,
    so without this a machine would register a second copy of such a configuration and split its
    column of the knowledge base in two.
    """
    if stored is None or stored.keys() != computed.keys():
        return computed
    for key, value in computed.items():
        other = stored[key]
        if isinstance(value, float) and isinstance(other, (int, float)) and not isinstance(other, bool):
            if not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12):
                return computed
        elif value != other:
            return computed
    return stored


def describe_dataset(data: Dataset) -> NewDataset:
    """A knowledge-base dataset as the metastore stores it, meta-features included."""
    y = pd.Series(data.y, name="target")
    X = data.X
    n = len(X)
    column_types = {c: _kind(data.column_types.get(c), X[c], n) for c in X.columns}
    return NewDataset(
        name=data.name,
        description=f"{data.source} dataset {data.name} (origin group {data.origin_group})",
        source=data.source,
        content_hash=content_hash(X, y, "target"),
        task_type=data.task_type,  # type: ignore[arg-type]
        target="target",
        n_rows=n,
        n_features=X.shape[1],
        column_types=column_types,
        column_stats={
            c: {"missing": int(X[c].isna().sum()), "unique": int(X[c].nunique())} for c in X.columns
        },
        origin_group=data.origin_group,
        metafeatures=compute_metafeatures(X, y, column_types, data.task_type),  # type: ignore[arg-type]
    )


def _kind(declared: str | None, col: pd.Series, n: int) -> str:
    inferred = column_kind(col, n)
    # The source's own typing wins, except that constants and identifiers are recognised.
    return inferred if inferred in ("constant", "id") or declared is None else declared


def describe_ref(ref: DatasetRef) -> NewDataset:
    """Load and describe a dataset where it is (a Dask task ships only the reference)."""
    return describe_dataset(ref.load())


def kb_datasets(store: MetaStore) -> dict[tuple[str, str], DatasetRecord]:
    """Knowledge-base datasets already stored, by (source, name)."""
    out: dict[tuple[str, str], DatasetRecord] = {}
    offset = 0
    while True:
        page = store.list_datasets(DatasetFilter(), limit=500, offset=offset)
        for record in page.items:
            if record.source in KB_SOURCES:
                out[(record.source, record.name)] = record
        offset += len(page.items)
        if offset >= page.total or not page.items:
            return out


def records_to_evaluations(
    records: Iterable[dict[str, Any]], dataset: DatasetRecord, pools: PoolIndex, source: str
) -> list[NewEvaluation]:
    """Sweep records (learners.sweep) as metastore evaluations, keyed so that reloads are no-ops."""
    out = []
    for r in records:
        config_id = pools.ids.get((dataset.task_type, r["family"], r["config_name"]))
        if config_id is None:
            raise ValueError(
                f"configuration {r['config_name']!r} of {r['family']} is not in the stored pool; "
                "the pools changed: rebuild with a new protocol version"
            )
        metrics = {k[len("metric_") :]: finite_or_none(v) for k, v in r.items() if k.startswith("metric_")}
        out.append(
            NewEvaluation(
                dataset_id=dataset.id,
                configuration_id=config_id,
                protocol=r["protocol"],
                metrics=metrics,
                status=r["status"],
                fit_time=finite_or_none(r.get("fit_time_s")),
                predict_time=finite_or_none(r.get("predict_time_s")),
                peak_memory_mb=finite_or_none(r.get("peak_memory_mb")),
                error=r.get("error") or None,
                source=source,
                idempotency_key=f"kb:{dataset.content_hash[:20]}:{config_id}:{r['protocol']}",
            )
        )
    return out


def finite_or_none(v: Any) -> float | None:
    """A float, or None for a missing, NaN or infinite value (JSON has none of those)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


# -- the build --------------------------------------------------------------------------------
@dataclass
class BuildReport:
    datasets_registered: int = 0
    shards_run: int = 0
    shards_skipped: int = 0
    evaluations_added: int = 0
    failures: int = 0


def build(
    store: MetaStore,
    catalog: Sequence[tuple[DatasetRef, str, int, int]],
    families: Sequence[str] = FAMILIES,
    protocol: Protocol = SWEEP_PROTOCOL,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    batch_size: int = 4,
) -> BuildReport:
    """Run every missing (dataset, family) shard on Dask and write the results in batches.

    Resumable: a shard whose pool is already fully evaluated under `protocol` is skipped, so an
    interrupted build continues where it stopped. A local cluster of `workers` single-threaded
    processes is used unless `scheduler` names an existing Dask scheduler (tcp://HOST:PORT).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    report = BuildReport()
    pools = register_pools(store, families, sorted({t for _, t, _, _ in catalog}))
    cluster = (
        None
        if scheduler
        else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    )
    client = Client(scheduler) if scheduler else Client(cluster)
    try:
        stored = _register_missing(store, client, catalog, report, progress)
        done = store.evaluated_cells(protocol.id)
        shards = []
        for ref, task_type, rows, cols in catalog:
            record = stored.get((ref.source, ref.name))
            if record is None:
                continue
            for family in families:
                missing = pools.missing(task_type, family, record.id, done)
                if not missing:
                    report.shards_skipped += 1
                    continue
                # Only what is missing runs: a pool that gained configurations runs just those.
                shards.append(Shard(ref, family, task_type, shard_cost(rows, cols, protocol), tuple(missing)))
        shards.sort(key=lambda s: (s.cost, s.dataset.name, families.index(s.family)))
        futures = {client.submit(run_shard, s, protocol, pure=False): s for s in shards}
        pending: list[NewEvaluation] = []
        for i, (future, result) in enumerate(as_completed(futures, with_results=True), 1):
            shard = futures[future]
            record = stored[(shard.dataset.source, shard.dataset.name)]
            pending += records_to_evaluations(result, record, pools, source="kb-sweep")
            report.shards_run += 1
            report.failures += sum(r["status"] != "ok" for r in result)
            if i % batch_size == 0 or i == len(futures):
                report.evaluations_added += store.import_evaluations(pending)
                pending = []
            if progress:
                progress(i, len(futures), f"{shard.dataset.name} {shard.family}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return report


def _register_missing(store, client, catalog, report, progress):  # type: ignore[no-untyped-def]
    from dask.distributed import as_completed

    stored = kb_datasets(store)
    missing = [ref for ref, *_ in catalog if (ref.source, ref.name) not in stored]
    futures = {client.submit(describe_ref, ref, pure=False): ref for ref in missing}
    for i, (_, new) in enumerate(as_completed(futures, with_results=True), 1):
        record, _ = store.add_dataset(new)
        stored[(record.source, record.name)] = record
        report.datasets_registered += 1
        if progress:
            progress(i, len(futures), f"meta-features of {record.name}")
    return stored


def ingest_shards(
    store: MetaStore, folder: str, progress: Callable[[int, int, str], None] | None = None
) -> BuildReport:
    """Load sweep shards written by scripts/sweep_shards.py into the metastore."""
    from learners.sweep import read_shards

    frame = read_shards(folder)
    report = BuildReport()
    pools = register_pools(store, sorted(frame["family"].unique()), sorted(frame["task_type"].unique()))
    stored = kb_datasets(store)
    groups = list(frame.groupby(["source", "dataset"], sort=True))
    for i, ((source, name), part) in enumerate(groups, 1):
        record = stored.get((source, name))
        if record is None:
            root = part["root"].iloc[0] if "root" in part else None
            ref = DatasetRef(name, source, root or _default_root(source))
            record, _ = store.add_dataset(describe_ref(ref))
            report.datasets_registered += 1
        rows = part.to_dict("records")
        for r in rows:
            if isinstance(r.get("config"), str):
                r["config"] = json.loads(r["config"])
        report.evaluations_added += store.import_evaluations(
            records_to_evaluations(rows, record, pools, source="kb-sweep")
        )
        report.shards_run += part.groupby("family").ngroups
        if progress:
            progress(i, len(groups), name)
    return report


def _default_root(source: str) -> str | None:
    if source != "pmlb":
        return None
    from service.paths import default_pmlb_root

    return str(default_pmlb_root())
