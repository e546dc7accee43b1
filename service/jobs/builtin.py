"""Built-in job kinds. recompute_metafeatures: bring stored datasets up to the current extractor version."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from learners.metafeatures import EXTRACTOR_VERSION
from metastore.errors import DatasetNotFound
from metastore.records import DatasetFilter, DatasetRecord
from metastore.store import MetaStore
from service.jobs.context import JobContext
from service.jobs.handlers import register
from service.usecases.ingest import load_raw
from service.usecases.metafeatures import compute_metafeatures

PAGE = 500


class RecomputeArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(
        default=None,
        max_length=100_000,
        description="Datasets to recompute; default: every dataset with missing or stale meta-features.",
    )
    force: bool = Field(default=False, description="Recompute even vectors of the current version.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed of the sampled meta-features.")


@register(
    "recompute_metafeatures",
    arguments=RecomputeArguments,
    description="Recompute meta-features of stored datasets whose extractor version is stale.",
)
def recompute_metafeatures(ctx: JobContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """One dataset per step. Resumable: a rerun skips what an earlier attempt already brought up to date."""
    force, seed = bool(arguments["force"]), int(arguments["seed"])
    ids = arguments["dataset_ids"] or stale_dataset_ids(ctx.store)
    outcome: dict[str, Any] = {"recomputed": [], "already_current": [], "skipped": {}}
    started = time.perf_counter()
    ctx.progress(0.0, f"{len(ids)} dataset(s) to check", {"total": len(ids)})
    for i, dataset_id in enumerate(ids, start=1):
        ctx.check()
        status, detail = _recompute_one(ctx, dataset_id, force, seed)
        if status == "skipped":
            outcome["skipped"][str(dataset_id)] = detail
        else:
            outcome[status].append(dataset_id)
        ctx.progress(
            i / len(ids),
            f"dataset {dataset_id}: {detail}",
            {
                "done": i,
                "total": len(ids),
                "recomputed": len(outcome["recomputed"]),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
    return {"version": EXTRACTOR_VERSION, **outcome}


def stale_dataset_ids(store: MetaStore) -> list[int]:
    """Datasets whose meta-features are missing or were computed by another extractor version."""
    ids: list[int] = []
    offset = 0
    while True:
        page = store.list_datasets(DatasetFilter(), limit=PAGE, offset=offset)
        ids += [r.id for r in page.items if _is_stale(r)]
        offset += PAGE
        if offset >= page.total:
            return ids


def _is_stale(record: DatasetRecord) -> bool:
    return record.metafeatures is None or record.metafeatures.version != EXTRACTOR_VERSION


def _recompute_one(ctx: JobContext, dataset_id: int, force: bool, seed: int) -> tuple[str, str]:
    try:
        record = ctx.store.get_dataset(dataset_id)
    except DatasetNotFound:
        return "skipped", "deleted"
    if not force and not _is_stale(record):
        return "already_current", f"already at version {EXTRACTOR_VERSION}"
    if not record.raw_file:
        return "skipped", f"no stored raw file (it came from {record.source})"
    # A missing file raises: that attempt fails and another worker (with the data volume) may retry.
    X, y = load_raw(ctx.settings.uploads_dir, record)
    vector = compute_metafeatures(X, y, record.column_types, record.task_type, seed)
    ctx.store.set_metafeatures(record.id, vector)
    return "recomputed", f"recomputed {len(vector.values)} values"
