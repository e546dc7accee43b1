"""`warmstart import ...`: datasets from OpenML or from a folder, optionally evaluated at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli import JsonFlag, emit, settings, store_from_settings

import_app = typer.Typer(help="Import datasets from OpenML or a folder of files.", no_args_is_help=True)

EvaluateFlag = Annotated[
    bool, typer.Option("--evaluate", help="Also run every family's pool on the new datasets now.")
]
FamiliesOpt = Annotated[list[str] | None, typer.Option("--families", help="With --evaluate; repeat.")]


def _finish(imported, evaluate: bool, families: list[str] | None, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from learners.spaces import FAMILIES
    from service.usecases.importers import evaluate_pools

    store = store_from_settings()
    rows = []
    for item in imported:
        added = evaluate_pools(store, item, families or list(FAMILIES)) if evaluate else 0
        rows.append(
            {
                "id": item.record.id,
                "name": item.record.name,
                "created": item.created,
                "task_type": item.record.task_type,
                "evaluations_added": added,
            }
        )
    lines = [
        f"{'added' if r['created'] else 'already stored'} dataset {r['id']} {r['name']!r} ({r['task_type']})"
        + (f", {r['evaluations_added']} evaluations" if evaluate else "")
        for r in rows
    ]
    emit({"datasets": rows}, as_json, "\n".join(lines))


@import_app.command("openml")
def import_openml_cmd(
    dataset: Annotated[list[int] | None, typer.Option("--dataset", help="OpenML dataset id; repeat.")] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="An OpenML suite id or alias.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="openml's cache directory.")] = None,
    server: Annotated[
        str | None, typer.Option(help="OpenML server API URL (its cache folder is keyed by it).")
    ] = None,
    evaluate: EvaluateFlag = False,
    families: FamiliesOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Import OpenML datasets (their default target) with meta-features."""
    import openml

    from service.usecases.importers import import_openml, openml_dataset_ids

    if cache_dir is not None:
        openml.config.set_root_cache_directory(str(cache_dir))
    if server is not None:
        openml.config.server = server
    cfg = settings()
    ids = openml_dataset_ids(dataset or [], suite)
    imported = import_openml(store_from_settings(), cfg.uploads_dir, ids, cfg.min_rows, cfg.max_columns)
    _finish(imported, evaluate, families, as_json)


@import_app.command("folder")
def import_folder_cmd(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    target: Annotated[str, typer.Option(help="The target column (PMLB: target).")] = "target",
    evaluate: EvaluateFlag = False,
    families: FamiliesOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Import every CSV, TSV(.gz), Parquet or ARFF file of FOLDER (PMLB-style folders too)."""
    from service.usecases.importers import import_folder

    cfg = settings()
    imported = import_folder(
        store_from_settings(), cfg.uploads_dir, folder, target, cfg.min_rows, cfg.max_columns
    )
    _finish(imported, evaluate, families, as_json)
