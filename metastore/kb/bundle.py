"""Export a metastore's knowledge to one compact Parquet file, and load such a file into a metastore.

The file is the evaluations table (one row per result, metrics as columns) with the datasets
(meta-features and descriptions, no raw data), search spaces and configurations in the Parquet
schema metadata under the key ``warmstart.kb`` (zlib-compressed JSON, base64). Rows refer to
datasets by content hash and to configurations by (family, task type, space version, canonical
hash), so a load into any metastore maps them to its own ids, and loading twice adds nothing.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from metastore.records import MetaFeatureVector, NewDataset, NewEvaluation
from metastore.store import MetaStore
from metastore.upgrades import upgrade_file_entries

BUNDLED_KB = Path(__file__).parent / "data" / "knowledge-base.parquet"
FORMAT_VERSION = 1
META_KEY = b"warmstart.kb"


@dataclass(frozen=True)
class KnowledgeBaseFile:
    """What a knowledge-base file holds, read back."""

    header: dict[str, Any]
    evaluations: pa.Table

    @property
    def stats(self) -> dict[str, Any]:
        return self.header["stats"]


def export_kb(store: MetaStore, path: Path, sources: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Write the store's datasets (optionally only of `sources`), spaces, configurations and
    evaluations to `path`; returns the header's counts."""
    datasets = [(r, v) for r, v in store.all_metafeatures() if sources is None or r.source in sources]
    by_id = {r.id: r for r, _ in datasets}
    spaces = {s.id: s for s in store.list_search_spaces()}
    configs = {c.id: c for c in store.list_configurations()}
    rows = [e for e in store.list_evaluations() if e.dataset_id in by_id]
    metric_names = sorted({k for e in rows for k in e.metrics})
    columns: dict[str, list[Any]] = {
        k: []
        for k in (
            "dataset",
            "family",
            "task_type",
            "space_version",
            "config",
            "protocol",
            "status",
            "error",
            "fit_time",
            "predict_time",
            "peak_memory_mb",
            "source",
        )
    }
    columns.update({f"metric_{m}": [] for m in metric_names})
    for e in rows:
        c = configs[e.configuration_id]
        columns["dataset"].append(by_id[e.dataset_id].content_hash)
        columns["family"].append(c.family)
        columns["task_type"].append(c.task_type)
        columns["space_version"].append(spaces[c.space_id].version)
        columns["config"].append(c.config_hash)
        columns["protocol"].append(e.protocol)
        columns["status"].append(e.status)
        columns["error"].append((e.error or "")[:500] or None)
        columns["fit_time"].append(e.fit_time)
        columns["predict_time"].append(e.predict_time)
        columns["peak_memory_mb"].append(e.peak_memory_mb)
        columns["source"].append(e.source)
        for m in metric_names:
            columns[f"metric_{m}"].append(e.metrics.get(m))
    used_configs = {e.configuration_id for e in rows} | {c.id for c in configs.values() if c.name is not None}
    header = {
        "format": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "datasets": [_dataset_json(r, v) for r, v in datasets],
        "spaces": [
            {"family": s.family, "task_type": s.task_type, "version": s.version, "definition": s.definition}
            for s in spaces.values()
        ],
        "configurations": [
            {
                "family": c.family,
                "task_type": c.task_type,
                "space_version": spaces[c.space_id].version,
                "values": c.values,
                "hash": c.config_hash,
                "name": c.name,
            }
            for c in configs.values()
            if c.id in used_configs
        ],
    }
    header["stats"] = {
        "datasets": len(datasets),
        "families": len({s["family"] for s in header["spaces"]}),
        "configurations": len(header["configurations"]),
        "evaluations": len(rows),
        "protocols": sorted({e.protocol for e in rows}),
    }
    packed = base64.b64encode(zlib.compress(json.dumps(header).encode(), 9))
    table = pa.table(columns).replace_schema_metadata({META_KEY: packed})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=9)
    tmp.replace(path)
    return header["stats"]


def read_kb(path: Path) -> KnowledgeBaseFile:
    table = pq.read_table(path)
    meta = (table.schema.metadata or {}).get(META_KEY)
    if meta is None:
        raise ValueError(f"{path} is not a warmstart knowledge-base file (no {META_KEY.decode()} metadata)")
    header = json.loads(zlib.decompress(base64.b64decode(meta)))
    if header.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has knowledge-base format {header.get('format')}; this version reads "
            f"{FORMAT_VERSION}. Export it again with this version."
        )
    return KnowledgeBaseFile(header, table)


def load_kb(store: MetaStore, path: Path = BUNDLED_KB) -> dict[str, int]:
    """Load a knowledge-base file; what is already stored is kept and not duplicated."""
    kb = read_kb(path)
    # A file exported before a space gained a hyperparameter loads as the newer version.
    spaces, configurations, moved = upgrade_file_entries(kb.header["spaces"], kb.header["configurations"])
    space_ids: dict[tuple[str, str, str], int] = {}
    for s in spaces:
        stored = store.upsert_search_space(s["family"], s["task_type"], str(s["version"]), s["definition"])
        space_ids[(s["family"], s["task_type"], str(s["version"]))] = stored.id
    config_ids: dict[tuple[str, str, str, str], int] = {}
    by_space: dict[int, list[dict[str, Any]]] = {}
    for c in configurations:
        by_space.setdefault(space_ids[(c["family"], c["task_type"], str(c["space_version"]))], []).append(c)
    for space_id, items in by_space.items():
        records = store.add_configurations(space_id, [(c["values"], c["name"]) for c in items])
        for c, r in zip(items, records, strict=True):
            config_ids[(c["family"], c["task_type"], str(c["space_version"]), c["hash"])] = r.id
    for before, after in moved.items():
        config_ids[before] = config_ids[after]
    dataset_ids: dict[str, tuple[int, str]] = {}
    added = 0
    for d in kb.header["datasets"]:
        record, created = store.add_dataset(_dataset_from_json(d))
        dataset_ids[d["content_hash"]] = (record.id, record.content_hash)
        added += created
    evaluations = _evaluations(kb.evaluations, dataset_ids, config_ids)
    new_evaluations = store.import_evaluations(evaluations)
    return {
        "datasets_added": added,
        "configurations": len(set(config_ids.values())),
        "evaluations_added": new_evaluations,
        "evaluations_in_file": len(evaluations),
    }


def _evaluations(table: pa.Table, dataset_ids, config_ids) -> list[NewEvaluation]:  # type: ignore[no-untyped-def]
    metric_cols = [c for c in table.column_names if c.startswith("metric_")]
    out = []
    for row in table.to_pylist():
        ds_id, ds_hash = dataset_ids[row["dataset"]]
        cid = config_ids[(row["family"], row["task_type"], str(row["space_version"]), row["config"])]
        out.append(
            NewEvaluation(
                dataset_id=ds_id,
                configuration_id=cid,
                protocol=row["protocol"],
                metrics={c[7:]: row[c] for c in metric_cols if row[c] is not None and math.isfinite(row[c])},
                status=row["status"],
                fit_time=row["fit_time"],
                predict_time=row["predict_time"],
                peak_memory_mb=row["peak_memory_mb"],
                error=row["error"],
                source=row["source"],
                idempotency_key=f"kb:{ds_hash[:20]}:{cid}:{row['protocol']}",
            )
        )
    return out


def _dataset_json(r, v: MetaFeatureVector) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "name": r.name,
        "description": r.description,
        "source": r.source,
        "content_hash": r.content_hash,
        "task_type": r.task_type,
        "target": r.target,
        "n_rows": r.n_rows,
        "n_features": r.n_features,
        "column_types": r.column_types,
        "column_stats": r.column_stats,
        "origin_group": r.origin_group,
        "metafeatures": {
            "version": v.version,
            "values": v.values,
            "failures": v.failures,
            "sample_size": v.sample_size,
        },
    }


def _dataset_from_json(d: dict[str, Any]) -> NewDataset:
    mf = d["metafeatures"]
    return NewDataset(
        name=d["name"],
        content_hash=d["content_hash"],
        task_type=d["task_type"],
        target=d["target"],
        n_rows=d["n_rows"],
        n_features=d["n_features"],
        column_types=d["column_types"],
        column_stats=d["column_stats"],
        description=d["description"],
        source=d["source"],
        origin_group=d["origin_group"],
        metafeatures=MetaFeatureVector(mf["version"], mf["values"], {}, mf["failures"], mf["sample_size"]),
    )
