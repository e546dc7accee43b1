"""Pipeline commands: `warmstart evaluate` trains stored configurations on a file, and can report back."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli import CliError, JsonFlag, emit, prepare_file, settings, store_from_settings

UrlOpt = Annotated[
    str | None, typer.Option("--url", help="A remote service (default: the embedded metastore).")
]


class OnUnavailable(StrEnum):
    fail = "fail"
    defaults = "defaults"


OnUnavailableOpt = Annotated[
    OnUnavailable,
    typer.Option(
        "--on-unavailable",
        help="When the service is unreachable or answers 503: fail (exit 1), or carry on (recommend "
        "prints the library defaults, evaluate and report skip the report), say so on stderr, exit 0.",
    ),
]


def evaluate_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    target: Annotated[str, typer.Option(help="The target column.")],
    config: Annotated[list[int] | None, typer.Option("--config", help="A configuration id; repeat.")] = None,
    configs_from: Annotated[
        Path | None, typer.Option(help="JSON from `warmstart recommend --json`: train its recommendations.")
    ] = None,
    task_type: Annotated[str | None, typer.Option(help="classification or regression.")] = None,
    report: Annotated[
        str | None, typer.Option("--report", help="Send the results to this service URL.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Also write the results here (JSON that `warmstart report` reads), first."),
    ] = None,
    on_unavailable: OnUnavailableOpt = OnUnavailable.fail,
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Train stored configurations on FILE with the evaluation harness; optionally report the results."""
    from learners.evaluate import SWEEP_PROTOCOL
    from service.usecases.train import train_configs
    from warmstart.results import SCHEMA_VERSION

    given = _configs_in(configs_from)
    ids = list(config or [])
    if not ids and not given:
        raise CliError("name configurations with --config ID (repeat) or --configs-from recommend.json")
    prepared = prepare_file(file, target, task_type)
    remote = url or report
    looked_up = (_remote_configs(remote, ids) if remote else _local_configs(ids)) if ids else []
    results = train_configs(prepared, looked_up + given, SWEEP_PROTOCOL)
    out: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "dataset": {
            "file": str(file),
            "target": target,
            "task_type": prepared.task_type,
            "n_rows": len(prepared.X),
            "content_hash": prepared.content_hash,
        },
        "protocol": SWEEP_PROTOCOL.id,
        "source": "cli-evaluate",
        "results": [asdict(r) for r in results],
        "reported": None,
    }
    if output is not None:
        output.write_text(json.dumps(out, indent=2))
    if report:
        out["reported"] = _report(report, out, output, on_unavailable)
    main_metric = "accuracy" if prepared.task_type == "classification" else "r2"
    lines = [f"{'config':>7} {'family':<14} {'status':<8} {main_metric:>9} {'fit s':>7}"]
    for r in results:
        value = r.metrics.get(main_metric)
        lines.append(
            f"{r.configuration_id or '-':>7} {r.family:<14} {r.status:<8} "
            f"{'-' if value is None else f'{value:.4f}':>9} {r.fit_time or 0:>7.3f}"
        )
    reported = out["reported"]
    if reported and not reported.get("skipped"):
        lines.append(
            f"reported {reported['created']} new result(s) for dataset {reported['dataset_id']} to {report}"
        )
    emit(out, as_json, "\n".join(lines))


def _configs_in(path: Path | None) -> list[Any]:
    """The configurations of a `warmstart recommend --json` answer, trained as they stand there
    (family and hyperparameters), so that no service is needed to look them up."""
    from service.usecases.train import ConfigToTrain

    if path is None:
        return []
    try:
        doc = json.loads(path.read_text())
        return [
            ConfigToTrain(
                r.get("configuration_id"),
                r["family"],
                dict(r["hyperparameters"]),
                r.get("name"),
                doc.get("task_type"),
            )
            for r in doc["recommendations"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CliError(f"{path} is not the JSON of `warmstart recommend --json` ({exc})") from exc


def _local_configs(ids: list[int]):  # type: ignore[no-untyped-def]
    from service.usecases.train import ConfigToTrain

    store = store_from_settings()
    out = []
    for i in ids:
        c = store.get_configuration(i)
        out.append(ConfigToTrain(c.id, c.family, c.values, c.name, c.task_type))
    return out


def _remote_configs(url: str, ids: list[int]):  # type: ignore[no-untyped-def]
    from service.usecases.train import ConfigToTrain
    from warmstart.client import WarmstartClient

    with WarmstartClient(url) as client:
        out = []
        for i in ids:
            c = client.get_configuration(i)
            out.append(
                ConfigToTrain(c["id"], c["family"], c["hyperparameters"], c.get("name"), c.get("task_type"))
            )
        return out


def _report(
    url: str, out: dict[str, Any], output: Path | None, on_unavailable: OnUnavailable
) -> dict[str, Any]:
    """Send the results like `warmstart report` would (same idempotency keys, so a later resend of
    the --output file stores nothing twice); with --on-unavailable=defaults an outage skips it."""
    from warmstart.client import ServiceUnavailable, WarmstartClient
    from warmstart.results import ResultsFile

    try:
        with WarmstartClient(url) as client:
            return client.report_results(ResultsFile.model_validate(out))
    except ServiceUnavailable as exc:
        resend = f"`warmstart report {output} --url {url}`" if output else "rerun with --output FILE"
        if on_unavailable is not OnUnavailable.defaults:
            raise CliError(f"the results were not reported: {exc} (to resend them: {resend})") from exc
        _warn(f"the service is unavailable ({exc}); report skipped; to send the results later: {resend}")
        return {"skipped": str(exc)}


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def recommend_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    target: Annotated[str, typer.Option(help="The target column.")],
    k: Annotated[int, typer.Option("--k", min=1, max=100)] = 5,
    metric: Annotated[
        str | None, typer.Option(help="balanced_accuracy, accuracy, roc_auc, log_loss | r2, rmse, mae")
    ] = None,
    method: Annotated[str, typer.Option(help="learned, defaults, portfolio, knn or flaml_style")] = "learned",
    families: Annotated[
        list[str] | None, typer.Option("--families", help="Only these families; repeat.")
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", min=0.001, help="Total fit seconds.")
    ] = None,
    task_type: Annotated[str | None, typer.Option(help="classification or regression.")] = None,
    on_unavailable: OnUnavailableOpt = OnUnavailable.fail,
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Recommend the configurations to train first on FILE (stores the dataset, as an upload does)."""
    from metastore.errors import StoreUnavailable
    from warmstart.client import ServiceUnavailable

    try:
        answer = _recommend(file, target, task_type, k, method, metric, families, time_budget, url)
    except (ServiceUnavailable, StoreUnavailable) as exc:
        if on_unavailable is not OnUnavailable.defaults:
            raise
        answer = library_defaults(file, target, task_type, k, metric, families, time_budget, str(exc))
        _warn(f"{exc}; recommending the library defaults instead (--on-unavailable=defaults)")
    lines = [f"{answer['method']} ({answer['model_version']}), metric {answer['metric']}:"]
    lines.append(
        f"{'#':>2} {'config':>7} {'family':<14} {'expected':>8} {'+-':>6} {'fit s':>7}  similar datasets"
    )
    for r in answer["recommendations"]:
        similar = ", ".join(
            f"{s['name']} ({s['similarity']:.2f})" for s in r["explanation"]["similar_datasets"][:2]
        )
        lines.append(
            f"{r['rank']:>2} {r['configuration_id'] or '-':>7} {r['family']:<14} "
            f"{_num(r['expected_score'], 8)} {_num(r['uncertainty'], 6)} {_num(r['predicted_fit_time'], 7)}"
            f"  {similar}"
        )
    emit(answer, as_json, "\n".join(lines))


def _num(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.3f}"


def _recommend(file, target, task_type, k, method, metric, families, time_budget, url):  # type: ignore[no-untyped-def]
    if not url:
        return _local_recommend(file, target, task_type, k, method, metric, families, time_budget)
    from warmstart.client import WarmstartClient

    with WarmstartClient(url) as client:
        dataset = client.upload_dataset(file, target, task_type=task_type)
        return client.recommend(
            dataset["id"], k=k, method=method, metric=metric, families=families, time_budget_s=time_budget
        )


def library_defaults(  # type: ignore[no-untyped-def]
    file: Path, target, task_type, k: int, metric, families, time_budget, reason: str
) -> dict[str, Any]:
    """What to train without the service: each family's library default, in the shape of a
    recommendation answer (no stored configuration, no expected score), marked as a fallback."""
    from learners.recommenders.base import default_metric
    from learners.spaces import FAMILIES, get_space

    unknown = sorted(set(families or []) - set(FAMILIES))
    if unknown:
        raise CliError(f"unknown famil(ies) {unknown}; known: {', '.join(FAMILIES)}")
    prepared = prepare_file(file, target, task_type)
    chosen = list(dict.fromkeys(families or FAMILIES))[:k]  # the order the user named them in
    return {
        "dataset_id": None,
        "task_type": prepared.task_type,
        "method": "defaults",
        "model_version": "library-defaults",
        "metric": metric or default_metric(prepared.task_type),
        "k": k,
        "time_budget_s": time_budget,
        "recommendations": [
            {
                "rank": rank,
                "configuration_id": None,
                "family": family,
                "hyperparameters": get_space(family, prepared.task_type).default(),
                "expected_score": None,
                "uncertainty": None,
                "predicted_fit_time": None,
                "explanation": {"similar_datasets": []},
            }
            for rank, family in enumerate(chosen, start=1)
        ],
        "fallback": "defaults",
        "reason": reason,
    }


def _local_recommend(file, target, task_type, k, method, metric, families, time_budget):  # type: ignore[no-untyped-def]
    from service.usecases.ingest import IntakeRequest, dataset_name, ingest, parse_table, parse_task_type
    from service.usecases.recommend import RecommenderRegistry, recommend

    cfg = settings()
    store = store_from_settings()
    raw = file.read_bytes()
    record, _ = ingest(
        store,
        cfg.uploads_dir,
        IntakeRequest(dataset_name(file.name), target, parse_task_type(task_type)),
        raw,
        parse_table(file.name, raw),
        cfg.min_rows,
        cfg.max_columns,
    )
    return recommend(RecommenderRegistry(store), record, k, method, metric, families, time_budget)


def learners_fit_cmd(
    method: Annotated[list[str] | None, typer.Option("--method", help="Repeat; default: all five.")] = None,
    task_type: Annotated[list[str] | None, typer.Option("--task-type", help="Repeat; default: both.")] = None,
    metric: Annotated[str | None, typer.Option(help="Default: balanced_accuracy / r2.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Refit the recommenders on the knowledge base as it is now and store them as new versions."""
    from learners.recommenders import METHODS, default_metric
    from service.usecases.recommend import PROTOCOL, fit_and_store, knowledge_base

    store = store_from_settings()
    fingerprint = store.knowledge_fingerprint(PROTOCOL)
    made = []
    for task in task_type or ["classification", "regression"]:
        chosen_metric = metric or default_metric(task)
        kb, datasets, configs = knowledge_base(store, task, chosen_metric)  # type: ignore[arg-type]
        for name in method or list(METHODS):
            fitted = fit_and_store(store, name, task, chosen_metric, kb, fingerprint, datasets, configs)  # type: ignore[arg-type]
            made.append(
                {
                    "method": name,
                    "task_type": task,
                    "metric": chosen_metric,
                    "version": fitted.version,
                    "datasets": kb.n_datasets,
                    "configurations": kb.n_configs,
                }
            )
    emit(
        {"models": made},
        as_json,
        "\n".join(
            f"{m['version']}  ({m['datasets']} datasets x {m['configurations']} configurations)" for m in made
        ),
    )
