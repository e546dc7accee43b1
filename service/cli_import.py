"""`warmstart import ...`: datasets from OpenML or from a folder, optionally evaluated at once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli import CliError, JsonFlag, emit, settings, store_from_settings

import_app = typer.Typer(
    help="Import datasets (OpenML, a folder of files) or tuning history (Optuna, MLflow).",
    no_args_is_help=True,
)

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


# -- history from other trackers --------------------------------------------------------------------
HistoryFamilyOpt = Annotated[
    str | None,
    typer.Option(
        "--family",
        help="A warmstart family the parameters belong to (default: inferred from their names), or a "
        "new name to register the study's own space under.",
    ),
]
ProtocolOpt = Annotated[
    str, typer.Option(help="How the trials were scored (kept apart from other protocols' scores).")
]
TaskTypeOpt = Annotated[str | None, typer.Option(help="classification or regression.")]


def _emit_history(done, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {
            "dataset_id": d.dataset.id,
            "dataset": d.dataset.name,
            "family": d.family,
            "space_id": d.space_id,
            "new_space": d.new_space,
            "created": d.created,
            "replayed": d.replayed,
            "ok": d.ok,
            "failed": d.failed,
            "skipped": d.skipped,
        }
        for d in done
    ]
    lines = [
        f"dataset {r['dataset_id']} {r['dataset']!r}: {r['ok']} ok + {r['failed']} failed trial(s) as "
        f"{'a new space ' if r['new_space'] else ''}{r['family']!r} (space {r['space_id']}); "
        f"{r['created']} new, {r['replayed']} already stored"
        + (f"; skipped {r['skipped']}" if r["skipped"] else "")
        for r in rows
    ]
    emit({"imports": rows}, as_json, "\n".join(lines))


@import_app.command("optuna")
def import_optuna_cmd(
    storage: Annotated[str, typer.Option(help="The study's storage URL, e.g. sqlite:///optuna.db")],
    study: Annotated[str, typer.Option(help="The study name.")],
    dataset: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, readable=True, help="The data the study tuned on.")
    ],
    target: Annotated[str, typer.Option(help="The target column of --dataset.")],
    family: HistoryFamilyOpt = None,
    metric: Annotated[
        str | None,
        typer.Option(help="Metric name of the objective (comma-separated if several; default: the study's)."),
    ] = None,
    protocol: ProtocolOpt = "user",
    task_type: TaskTypeOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Import an Optuna study's trials as evaluations (failed trials as failed ones)."""
    from service.usecases.import_history import dataset_from_file, optuna_trials, store_trials
    from service.usecases.ingest import parse_task_type

    cfg = settings()
    store = store_from_settings()
    trials, definition, skipped = optuna_trials(storage, study, metric)
    record = dataset_from_file(
        store, cfg.uploads_dir, dataset, target, parse_task_type(task_type), cfg.min_rows, cfg.max_columns
    )
    done = store_trials(
        store,
        record,
        trials,
        family=family,
        new_space=(f"optuna-{study}", definition),
        protocol=protocol,
        source="import-optuna",
        skipped=skipped,
    )
    _emit_history([done], as_json)


@import_app.command("mlflow")
def import_mlflow_cmd(
    tracking_uri: Annotated[str, typer.Option(help="e.g. file:///path/mlruns or http://mlflow:5000")],
    experiment: Annotated[str, typer.Option(help="The experiment name.")],
    dataset: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="The data every run trained on (default: each run's warmstart.dataset tag: a stored "
            "dataset's id or content hash).",
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="The target column of --dataset.")] = None,
    family: HistoryFamilyOpt = None,
    protocol: ProtocolOpt = "user",
    task_type: TaskTypeOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Import an MLflow experiment's runs (params and metrics) as evaluations; needs the mlflow extra."""
    from service.usecases.import_history import by_dataset, dataset_from_file, mlflow_runs, store_trials
    from service.usecases.ingest import parse_task_type

    if dataset is not None and target is None:
        raise CliError("--dataset needs --target (the target column)")
    cfg = settings()
    store = store_from_settings()
    trials, definition, skipped = mlflow_runs(tracking_uri, experiment)
    given = (
        dataset_from_file(
            store,
            cfg.uploads_dir,
            dataset,
            target or "",
            parse_task_type(task_type),
            cfg.min_rows,
            cfg.max_columns,
        )
        if dataset is not None
        else None
    )
    groups = by_dataset(store, trials, given, skipped)
    if not groups:
        raise CliError(
            f"no run of {experiment!r} to import (skipped: {dict(skipped) or 'none found'}); runs need "
            "a warmstart.dataset tag, or pass --dataset FILE --target COL"
        )
    done = [
        store_trials(
            store,
            record,
            group,
            family=family,
            new_space=(f"mlflow-{experiment}", definition),
            protocol=protocol,
            source="import-mlflow",
            skipped=skipped,
        )
        for record, group in groups
    ]
    _emit_history(done, as_json)
