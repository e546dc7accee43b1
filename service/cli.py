"""The `warmstart` command line: serve, manage the metastore, add datasets, make API keys."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from metastore.errors import MetastoreError
from service import cli_jobs
from service.config import Settings
from service.problems import ProblemError

app = typer.Typer(
    name="warmstart",
    help="AutoML warm start: remember past datasets and tuned results, recommend what to train.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Manage the metastore schema.", no_args_is_help=True)
datasets_app = typer.Typer(help="Add and list datasets.", no_args_is_help=True)
keys_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(datasets_app, name="datasets")
app.add_typer(keys_app, name="keys")
app.add_typer(cli_jobs.jobs_app, name="jobs")
app.command("worker")(cli_jobs.worker)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class CliError(Exception):
    """A failure to report as one line on stderr with a non-zero exit code."""


def emit(data: Any, as_json: bool, human: str) -> None:
    if as_json:
        typer.echo(json.dumps(_plain(data), indent=2, default=str))
    else:
        typer.echo(human)


def _plain(data: Any) -> Any:
    if is_dataclass(data) and not isinstance(data, type):
        return asdict(data)
    if hasattr(data, "model_dump"):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_plain(d) for d in data]
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    return data


def settings() -> Settings:
    return Settings()


def engine_from_settings():  # type: ignore[no-untyped-def]
    from metastore.session import make_engine

    cfg = settings()
    cfg.prepare_dirs()
    return make_engine(cfg.resolved_database_url)


def store_from_settings():  # type: ignore[no-untyped-def]
    from service.app import open_store

    return open_store(settings())


def prepare_file(file: Path, target: str, task_type: str | None, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    """A table file read and checked as intake would (target, task type, the settings' limits)."""
    from service.usecases.ingest import parse_table, parse_task_type, prepare

    cfg = settings()
    raw = file.read_bytes() if raw is None else raw
    return prepare(
        parse_table(file.name, raw).frame, target, parse_task_type(task_type), cfg.min_rows, cfg.max_columns
    )


# -- serve ------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs)."""
    import uvicorn

    from service.app import create_app

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    cfg = Settings(**overrides)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    application = create_app(cfg)
    typer.echo(f"warmstart serving on http://{cfg.host}:{cfg.port} (metastore: {_safe_url(cfg)})")
    uvicorn.run(application, host=cfg.host, port=cfg.port, log_level="info")


def _safe_url(cfg: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(cfg.resolved_database_url).render_as_string(hide_password=True)


# -- db ---------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head", as_json: JsonFlag = False) -> None:
    """Migrate the metastore schema to the latest revision (or REVISION)."""
    from metastore import schema

    cfg = settings()
    engine = engine_from_settings()
    before = schema.current_revision(engine)
    schema.upgrade(engine, revision)
    after = schema.current_revision(engine)
    emit(
        {"from": before, "to": after, "database": _safe_url(cfg)},
        as_json,
        f"metastore {_safe_url(cfg)}: {before or '<empty>'} -> {after}",
    )


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, or base.")]) -> None:
    """Migrate the metastore schema down to REVISION."""
    from metastore import schema

    engine = engine_from_settings()
    schema.downgrade(engine, revision)
    typer.echo(f"metastore now at {schema.current_revision(engine) or '<empty>'}")


@db_app.command("current")
def db_current(as_json: JsonFlag = False) -> None:
    """Show the schema revision of the metastore and the one this version needs."""
    from metastore import schema

    engine = engine_from_settings()
    current, head = schema.current_revision(engine), schema.head_revision()
    emit(
        {"current": current, "head": head, "up_to_date": current == head},
        as_json,
        f"current {current or '<empty>'}, head {head}"
        + ("" if current == head else " - run: warmstart db upgrade"),
    )


# -- datasets ---------------------------------------------------------------------------------
@datasets_app.command("add")
def datasets_add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    target: Annotated[str, typer.Option(help="The target column.")],
    name: Annotated[str | None, typer.Option(help="Name (default: the file name).")] = None,
    task_type: Annotated[str | None, typer.Option(help="classification or regression.")] = None,
    description: Annotated[str, typer.Option()] = "",
    origin_group: Annotated[str | None, typer.Option(help="Family of related datasets.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a CSV, TSV(.gz), Parquet or ARFF file to the metastore, with its meta-features."""
    from service.schemas import DatasetOut
    from service.usecases.ingest import IntakeRequest, dataset_name, ingest, parse_table, parse_task_type

    cfg = settings()
    store = store_from_settings()
    raw = file.read_bytes()
    parsed = parse_table(file.name, raw)
    request = IntakeRequest(
        name=name or dataset_name(file.name),
        target=target,
        task_type=parse_task_type(task_type),
        description=description,
        origin_group=origin_group,
    )
    record, created = ingest(store, cfg.uploads_dir, request, raw, parsed, cfg.min_rows, cfg.max_columns)
    out = DatasetOut.of(record)
    verb = "added" if created else "already stored as"
    n_mf = len(record.metafeatures.values) if record.metafeatures else 0
    emit(
        {"created": created, "dataset": out},
        as_json,
        f"{verb} dataset {record.id} {record.name!r}: {record.task_type}, {record.n_rows} rows x "
        f"{record.n_features} features, {n_mf} meta-features",
    )


@datasets_app.command("list")
def datasets_list(
    task_type: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option(help="Substring of the name.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List the datasets in the metastore."""
    from metastore.records import DatasetFilter
    from service.schemas import DatasetOut

    store = store_from_settings()
    page = store.list_datasets(DatasetFilter(task_type=task_type, name=name), limit, offset)  # type: ignore[arg-type]
    lines = [f"{'id':>5}  {'task':<14} {'rows':>8} {'feat':>5}  name"]
    lines += [f"{r.id:>5}  {r.task_type:<14} {r.n_rows:>8} {r.n_features:>5}  {r.name}" for r in page.items]
    lines.append(f"({len(page.items)} of {page.total})")
    emit(
        {"items": [DatasetOut.of(r, False) for r in page.items], "total": page.total},
        as_json,
        "\n".join(lines),
    )


# -- keys -------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option(help="read, write or admin; repeat for several.")] = ["read"],  # noqa: B006
    name: Annotated[str, typer.Option(help="A label to tell keys apart.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from metastore.records import SCOPES

    bad = [s for s in scope if s not in SCOPES]
    if bad:
        raise CliError(f"unknown scope(s) {bad}; use read, write or admin")
    record, plaintext = store_from_settings().create_api_key(scope, name)  # type: ignore[arg-type]
    emit(
        {"id": record.id, "key": plaintext, "scopes": list(record.scopes), "name": name},
        as_json,
        f"{plaintext}\n(key {record.id}, scopes {', '.join(record.scopes)}; shown once, store it now)",
    )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument()]) -> None:
    """Revoke an API key by id."""
    store_from_settings().revoke_api_key(key_id)
    typer.echo(f"revoked key {key_id}")


# -- meta-features ----------------------------------------------------------------------------
@app.command()
def metafeatures(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    target: Annotated[str, typer.Option(help="The target column.")],
    task_type: Annotated[str | None, typer.Option(help="classification or regression.")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Compute a file's meta-feature vector, with the time each value took."""
    from service.usecases.metafeatures import compute_metafeatures

    prepared = prepare_file(file, target, task_type)
    v = compute_metafeatures(prepared.X, prepared.y, prepared.column_types, prepared.task_type, seed)
    lines = [f"{'meta-feature':<36} {'value':>14} {'ms':>9}"]
    for k in sorted(v.values):
        val = v.values[k]
        shown = "missing" if val is None else f"{val:.6g}"
        lines.append(f"{k:<36} {shown:>14} {1000 * v.times.get(k, 0.0):>9.2f}")
    lines += [f"failed {k}: {why}" for k, why in v.failures.items()]
    lines.append(f"extractor {v.version}, sample size {v.sample_size}, task {prepared.task_type}")
    emit({"task_type": prepared.task_type, **asdict(v)}, as_json, "\n".join(lines))


def _register_subcommands() -> None:
    from service.cli_families import families_app
    from service.cli_import import import_app
    from service.cli_kb import kb_app
    from service.cli_pipeline import evaluate_cmd, learners_fit_cmd, recommend_cmd
    from service.cli_report import report_cmd
    from service.cli_tune import tune_cmd

    app.add_typer(kb_app, name="kb")
    app.add_typer(import_app, name="import")
    app.command("evaluate")(evaluate_cmd)
    app.command("recommend")(recommend_cmd)
    app.command("report")(report_cmd)
    app.command("tune")(tune_cmd)
    learners_app = typer.Typer(help="Fit and list the recommenders.", no_args_is_help=True)
    learners_app.command("fit")(learners_fit_cmd)
    app.add_typer(learners_app, name="learners")
    app.add_typer(families_app, name="families")


def main() -> None:
    _register_subcommands()
    try:
        app(standalone_mode=False)
    except SystemExit:
        raise
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # every failure ends as one line and a non-zero exit
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # click's usage errors
            exc.show()
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Exit":
            sys.exit(getattr(exc, "exit_code", 0))
        typer.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(1)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ProblemError):
        return exc.detail
    text = str(exc).strip().splitlines()
    name = "" if isinstance(exc, CliError | MetastoreError) else f"{type(exc).__name__}: "
    return name + (text[0] if text else type(exc).__name__)
