"""Bring datasets in from elsewhere: OpenML (through the openml package) and folders of files."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from learners.datasets import Dataset, origin_group
from learners.evaluate import SWEEP_PROTOCOL, Protocol
from learners.spaces import FAMILIES
from learners.sweep import pool_cells, run_cells
from metastore.records import DatasetRecord, TaskType
from metastore.store import MetaStore
from service.problems import IntakeError
from service.usecases.ingest import IntakeRequest, ParsedTable, dataset_name, ingest, parse_table
from service.usecases.kb import records_to_evaluations, register_pools

log = logging.getLogger("warmstart.import")
FOLDER_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".parquet", ".pq", ".arff")


@dataclass(frozen=True)
class Imported:
    record: DatasetRecord
    created: bool
    X: pd.DataFrame
    y: pd.Series


def openml_dataset_ids(dataset: Sequence[int] = (), suite: int | str | None = None) -> list[int]:
    """The dataset ids to import: those given, plus every dataset of an OpenML suite."""
    ids = list(dataset)
    if suite is not None:
        import openml

        ids += list(openml.study.get_suite(suite).data or [])
    if not ids:
        raise IntakeError("Name at least one OpenML dataset (--dataset ID) or a suite (--suite ID).")
    return list(dict.fromkeys(ids))


def import_openml(
    store: MetaStore, uploads_dir: Path, ids: Iterable[int], min_rows: int, max_columns: int
) -> list[Imported]:
    """Import OpenML datasets by id (from openml's cache when it holds them)."""
    import openml

    out = []
    for did in ids:
        d = openml.datasets.get_dataset(
            did, download_data=True, download_qualities=False, download_features_meta_data=True
        )
        target = d.default_target_attribute
        if not target or "," in target:
            raise IntakeError(f"OpenML dataset {did} has no single default target ({target!r}).")
        frame, *_ = d.get_data()
        raw = _parquet(frame)
        out.append(
            _ingest(
                store,
                uploads_dir,
                IntakeRequest(
                    name=d.name,
                    target=target,
                    description=(d.description or "")[:10_000],
                    source=f"openml:{did}",
                    origin_group=f"openml-{origin_group(d.name)}",
                ),
                raw,
                ParsedTable(frame, "parquet"),
                min_rows,
                max_columns,
            )
        )
    return out


def import_folder(
    store: MetaStore, uploads_dir: Path, folder: Path, target: str, min_rows: int, max_columns: int
) -> list[Imported]:
    """Import every CSV/TSV/Parquet/ARFF file of a folder (PMLB-style folders included)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(FOLDER_SUFFIXES))
    if not files:
        raise IntakeError(f"{folder} holds no {', '.join(FOLDER_SUFFIXES)} file to import.")
    out = []
    for path in files:
        raw = path.read_bytes()
        name = dataset_name(path.name)
        description, task_type = _pmlb_description(path)
        request = IntakeRequest(
            name=name,
            target=target,
            task_type=task_type,
            description=description,
            source=f"folder:{folder.name}",
            origin_group=origin_group(name),
        )
        out.append(
            _ingest(store, uploads_dir, request, raw, parse_table(path.name, raw), min_rows, max_columns)
        )
    return out


def evaluate_pools(
    store: MetaStore,
    imported: Imported,
    families: Sequence[str] = FAMILIES,
    protocol: Protocol = SWEEP_PROTOCOL,
) -> int:
    """Run the families' pools on an imported dataset now, storing the results like the sweep's."""
    record = imported.record
    pools = register_pools(store, families, [record.task_type])
    data = Dataset(
        name=record.name,
        X=imported.X,
        y=imported.y.to_numpy(),
        column_types=record.column_types,
        task_type=record.task_type,
        source=record.source,
        origin_group=record.origin_group or record.name,
    )
    added = 0
    for family in families:
        results = run_cells(data, pool_cells(family, record.task_type), protocol)
        added += store.import_evaluations(records_to_evaluations(results, record, pools, source="import"))
    return added


def _ingest(store, uploads_dir, request, raw, parsed, min_rows, max_columns) -> Imported:  # type: ignore[no-untyped-def]
    record, created = ingest(store, uploads_dir, request, raw, parsed, min_rows, max_columns)
    frame = parsed.frame[parsed.frame[request.target].notna()].reset_index(drop=True)
    return Imported(record, created, frame.drop(columns=[request.target]), frame[request.target])


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def _pmlb_description(path: Path) -> tuple[str, TaskType | None]:
    """Description and task type from a PMLB-style NAME.yaml beside the file, if there is one."""
    meta = path.parent / f"{dataset_name(path.name)}.yaml"
    if not meta.exists():
        return "", None
    import yaml

    try:
        doc = yaml.safe_load(meta.read_text()) or {}
    except yaml.YAMLError:
        return "", None
    text = str(doc.get("description") or "")
    task = doc.get("task")
    return ("" if text.startswith("None yet") else text[:10_000]), (
        task if task in ("classification", "regression") else None
    )
