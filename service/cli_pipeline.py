"""Pipeline commands: `warmstart evaluate` trains stored configurations on a file, and can report back."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli import CliError, JsonFlag, emit, settings, store_from_settings

UrlOpt = Annotated[
    str | None, typer.Option("--url", help="A remote service (default: the embedded metastore).")
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
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Train stored configurations on FILE with the evaluation harness; optionally report the results."""
    from learners.evaluate import SWEEP_PROTOCOL
    from service.usecases.ingest import parse_table, parse_task_type, prepare
    from service.usecases.train import train_configs

    ids = list(config or []) + _ids_from(configs_from)
    if not ids:
        raise CliError("name configurations with --config ID (repeat) or --configs-from recommend.json")
    cfg = settings()
    raw = file.read_bytes()
    prepared = prepare(
        parse_table(file.name, raw).frame, target, parse_task_type(task_type), cfg.min_rows, cfg.max_columns
    )
    remote = url or report
    configs = _remote_configs(remote, ids) if remote else _local_configs(ids)
    results = train_configs(prepared, configs, SWEEP_PROTOCOL)
    reported = _report(report, file, target, prepared, results, SWEEP_PROTOCOL.id) if report else None
    out = {
        "dataset": {
            "file": str(file),
            "task_type": prepared.task_type,
            "n_rows": len(prepared.X),
            "content_hash": prepared.content_hash,
        },
        "protocol": SWEEP_PROTOCOL.id,
        "results": [asdict(r) for r in results],
        "reported": reported,
    }
    main_metric = "accuracy" if prepared.task_type == "classification" else "r2"
    lines = [f"{'config':>7} {'family':<14} {'status':<8} {main_metric:>9} {'fit s':>7}"]
    for r in results:
        value = r.metrics.get(main_metric)
        lines.append(
            f"{r.configuration_id:>7} {r.family:<14} {r.status:<8} "
            f"{'-' if value is None else f'{value:.4f}':>9} {r.fit_time or 0:>7.3f}"
        )
    if reported:
        lines.append(
            f"reported {reported['created']} new result(s) for dataset {reported['dataset_id']} to {report}"
        )
    emit(out, as_json, "\n".join(lines))


def _ids_from(path: Path | None) -> list[int]:
    if path is None:
        return []
    try:
        doc = json.loads(path.read_text())
        return [int(r["configuration_id"]) for r in doc["recommendations"]]
    except (ValueError, KeyError, TypeError) as exc:
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


def _report(url: str, file: Path, target: str, prepared, results, protocol: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from warmstart.client import WarmstartClient

    with WarmstartClient(url) as client:
        dataset = client.upload_dataset(file, target, task_type=prepared.task_type)
        answer = client.report_evaluations([r.report(dataset["id"], protocol) for r in results])
    return {"dataset_id": dataset["id"], "created": answer["created"], "replayed": answer["replayed"]}


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
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Recommend the configurations to train first on FILE (stores the dataset, as an upload does)."""
    if url:
        from warmstart.client import WarmstartClient

        with WarmstartClient(url) as client:
            dataset = client.upload_dataset(file, target, task_type=task_type)
            answer = client.recommend(
                dataset["id"], k=k, method=method, metric=metric, families=families, time_budget_s=time_budget
            )
    else:
        answer = _local_recommend(file, target, task_type, k, method, metric, families, time_budget)
    lines = [f"{answer['method']} ({answer['model_version']}), metric {answer['metric']}:"]
    lines.append(
        f"{'#':>2} {'config':>7} {'family':<14} {'expected':>8} {'+-':>6} {'fit s':>7}  similar datasets"
    )
    for r in answer["recommendations"]:
        similar = ", ".join(
            f"{s['name']} ({s['similarity']:.2f})" for s in r["explanation"]["similar_datasets"][:2]
        )
        lines.append(
            f"{r['rank']:>2} {r['configuration_id']:>7} {r['family']:<14} {r['expected_score']:>8.3f} "
            f"{r['uncertainty']:>6.3f} {r['predicted_fit_time']:>7.3f}  {similar}"
        )
    emit(answer, as_json, "\n".join(lines))


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
