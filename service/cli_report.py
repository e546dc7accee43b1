"""`warmstart report results.json`: send results produced by any tool (schema: warmstart/results.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli import CliError, JsonFlag, emit, settings, store_from_settings
from service.cli_pipeline import OnUnavailable, OnUnavailableOpt
from warmstart.results import ResultsFile, ResultsFileError, load_results


def report_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    url: Annotated[
        str | None, typer.Option("--url", help="A remote service (default: the embedded metastore).")
    ] = None,
    on_unavailable: OnUnavailableOpt = OnUnavailable.fail,
    as_json: JsonFlag = False,
) -> None:
    """Send the results in FILE (JSON, see docs/ci.md) as evaluations; resending it stores nothing twice."""
    from metastore.errors import StoreUnavailable
    from warmstart.client import ServiceUnavailable, WarmstartClient

    try:
        doc = load_results(file)
    except ResultsFileError as exc:
        raise CliError(str(exc)) from exc
    try:
        if url:
            with WarmstartClient(url) as client:
                answer = client.report_results(doc)
        else:
            answer = _report_local(doc)
    except (ServiceUnavailable, StoreUnavailable) as exc:
        if on_unavailable is not OnUnavailable.defaults:
            raise
        typer.echo(f"warning: {exc}; report skipped (send {file} again later)", err=True)
        emit({"skipped": str(exc), "results": len(doc.results)}, as_json, f"report skipped: {exc}")
        return
    out = {**answer, "results": len(doc.results), "to": url or "embedded metastore"}
    emit(
        out,
        as_json,
        f"reported {out['results']} result(s) for dataset {out['dataset_id']} to {out['to']}: "
        f"{out['created']} new, {out['replayed']} already stored",
    )


def _report_local(doc: ResultsFile) -> dict[str, Any]:
    from service.schemas import EvaluationIn
    from service.usecases.report import report_evaluations

    store = store_from_settings()
    dataset_id = _local_dataset(store, doc)
    created = replayed = 0
    for key, batch in doc.batches(dataset_id):
        stored = report_evaluations(store, [EvaluationIn.model_validate(b) for b in batch], key)
        n_new = sum(s.created for s in stored)
        created, replayed = created + n_new, replayed + len(stored) - n_new
    return {"dataset_id": dataset_id, "created": created, "replayed": replayed}


def _local_dataset(store, doc: ResultsFile) -> int:  # type: ignore[no-untyped-def]
    from service.usecases.ingest import IntakeRequest, dataset_name, ingest, parse_table

    ref = doc.dataset
    if ref.id is not None:
        return store.get_dataset(ref.id).id
    if ref.content_hash is not None and (found := store.find_dataset(ref.content_hash)):
        return found.id
    if ref.file is None or ref.target is None:
        raise CliError(
            f"no stored dataset has content_hash {ref.content_hash}; add `file` and `target` to the "
            "results file's dataset so that it is added"
        )
    cfg = settings()
    path = Path(ref.file)
    raw = path.read_bytes()
    request = IntakeRequest(dataset_name(path.name), ref.target, ref.task_type)
    record, _ = ingest(
        store, cfg.uploads_dir, request, raw, parse_table(path.name, raw), cfg.min_rows, cfg.max_columns
    )
    return record.id
