"""`warmstart tune`: a whole study on a file with the evaluation harness, embedded or against a service."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from service.cli import CliError, JsonFlag, emit, prepare_file, settings, store_from_settings
from service.cli_pipeline import OnUnavailable, OnUnavailableOpt, UrlOpt, library_defaults


class _Embedded:
    """The service's use cases in this process, on the embedded (or configured) metastore."""

    def __init__(self) -> None:
        from metastore.studies import SqlStudyStore
        from service.usecases.recommend import RecommenderRegistry
        from service.usecases.studies import SurrogateRegistry

        self.store = store_from_settings()
        self.studies = SqlStudyStore(self.store.engine)
        self.recommenders = RecommenderRegistry(self.store)
        self.surrogates = SurrogateRegistry(self.store)

    def dataset(self, file: Path, raw: bytes, target: str, task_type: str | None) -> dict[str, Any]:
        from service.usecases.ingest import IntakeRequest, dataset_name, ingest, parse_table, parse_task_type

        cfg = settings()
        request = IntakeRequest(dataset_name(file.name), target, parse_task_type(task_type))
        record, _ = ingest(
            self.store,
            cfg.uploads_dir,
            request,
            raw,
            parse_table(file.name, raw),
            cfg.min_rows,
            cfg.max_columns,
        )
        return {"id": record.id, "name": record.name, "task_type": record.task_type}

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        from service.schemas_studies import StudyIn, StudyOut
        from service.usecases.studies import create_study

        study = create_study(self.store, self.studies, StudyIn(**body), settings().study_pending_timeout_s)
        if study.n_initial > 0:  # meta-trained while the zero-shot trials train
            self.surrogates.warm(study.families, study.task_type, study.metric)  # type: ignore[arg-type]
        return StudyOut.of(study).model_dump(mode="json")

    def suggest(self, study_id: int, n: int) -> list[dict[str, Any]]:
        from service.schemas_studies import TrialOut
        from service.usecases.studies import suggest

        answer = suggest(self.store, self.studies, self.recommenders, self.surrogates, study_id, n)
        return [TrialOut.of(t).model_dump(mode="json") for t in answer["suggestions"]]

    def observe(self, study_id: int, body: dict[str, Any]) -> None:
        from service.schemas_studies import ObservationIn
        from service.usecases.studies import observe

        observe(self.store, self.studies, study_id, ObservationIn(**body))

    def detail(self, study_id: int) -> dict[str, Any]:
        from service.usecases.studies import study_detail

        return study_detail(self.studies, study_id).model_dump(mode="json")

    def close(self) -> None:
        self.store.engine.dispose()


class _Remote:
    """A warmstart service over HTTP (retries on 503 and lost connections)."""

    def __init__(self, url: str) -> None:
        from warmstart.client import WarmstartClient

        self.client = WarmstartClient(url)

    def dataset(self, file: Path, raw: bytes, target: str, task_type: str | None) -> dict[str, Any]:
        return self.client.upload_dataset(file, target, task_type=task_type)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.create_study(**body)

    def suggest(self, study_id: int, n: int) -> list[dict[str, Any]]:
        return self.client.suggest(study_id, n)["suggestions"]

    def observe(self, study_id: int, body: dict[str, Any]) -> None:
        self.client.observe(study_id, **body)

    def detail(self, study_id: int) -> dict[str, Any]:
        return self.client.get_study(study_id)

    def close(self) -> None:
        self.client.close()


def tune_cmd(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    target: Annotated[str, typer.Option(help="The target column.")],
    trials: Annotated[int, typer.Option("--trials", min=1, max=10_000, help="How many configurations.")],
    url: UrlOpt = None,
    space: Annotated[str, typer.Option(help="A family's search space, or auto (across families).")] = "auto",
    families: Annotated[
        list[str] | None, typer.Option("--families", help="With auto: only these families; repeat.")
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="balanced_accuracy, accuracy, roc_auc, log_loss | r2, rmse, mae")
    ] = None,
    n_initial: Annotated[
        int, typer.Option("--n-initial", min=0, max=50, help="Trials from the zero-shot recommender.")
    ] = 5,
    task_type: Annotated[str | None, typer.Option(help="classification or regression.")] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    on_unavailable: OnUnavailableOpt = OnUnavailable.fail,
    as_json: JsonFlag = False,
) -> None:
    """Tune on FILE: warmstart suggests each configuration, the harness trains it, the result goes back."""
    from learners.evaluate import SWEEP_PROTOCOL
    from service.usecases.train import ConfigToTrain, train_configs
    from warmstart.client import ServiceUnavailable

    raw = file.read_bytes()
    prepared = prepare_file(file, target, task_type, raw)
    backend: _Embedded | _Remote = _Remote(url) if url else _Embedded()
    try:
        try:
            dataset = backend.dataset(file, raw, target, prepared.task_type)
        except ServiceUnavailable as exc:
            if on_unavailable is not OnUnavailable.defaults:
                raise
            # the build still trains something sensible: the families' library defaults
            typer.echo(
                f"warning: {exc}; training the library defaults instead (--on-unavailable=defaults)", err=True
            )
            picks = library_defaults(
                file, target, prepared.task_type, min(trials, 9), metric, families, None, str(exc)
            )
            configs = [
                ConfigToTrain(
                    None, r["family"], r["hyperparameters"], f"{r['family']}-default", prepared.task_type
                )
                for r in picks["recommendations"]
            ]
            results = train_configs(prepared, configs, SWEEP_PROTOCOL)
            fallback = {
                "fallback": "defaults",
                "reason": str(exc),
                "metric": picks["metric"],
                "results": [asdict(r) for r in results],
            }
            emit(fallback, as_json, _fallback_summary(fallback))
            return
        body: dict[str, Any] = {
            "dataset_id": dataset["id"],
            "space": space,
            "n_initial": n_initial,
            "seed": seed,
        }
        if families:
            body["families"] = families
        if metric:
            body["metric"] = metric
        study = backend.create(body)
        for _ in range(trials):
            suggestions = backend.suggest(study["id"], 1)
            if not suggestions:
                raise CliError(f"study {study['id']} has no configuration left to suggest")
            s = suggestions[0]
            config = ConfigToTrain(
                s["configuration_id"], s["family"], s["hyperparameters"], None, prepared.task_type
            )
            [result] = train_configs(prepared, [config], SWEEP_PROTOCOL)
            observation = _observation(s["trial_id"], result, study["metric"], SWEEP_PROTOCOL.id)
            backend.observe(study["id"], observation)
            if not as_json:
                score = observation.get("score")
                shown = f"{score:.4f}" if score is not None else observation["status"]
                print(f"trial {s['number']:>3} {s['source']:<9} {s['family']:<14} {shown}", file=sys.stderr)
        detail = backend.detail(study["id"])
    finally:
        backend.close()
    emit({"dataset": dataset, "study": detail}, as_json, _summary(detail))


def _observation(trial_id: int, result: Any, metric: str, protocol: str) -> dict[str, Any]:
    """The observation body for a harness result; a result without the study's metric is a failure."""
    metrics = {k: v for k, v in result.metrics.items() if v is not None}
    score = metrics.get(metric) if result.status == "ok" else None
    status = result.status if result.status != "ok" or score is not None else "failed"
    error = result.error or (None if status == "ok" else f"the harness measured no {metric}")
    body: dict[str, Any] = {
        "trial_id": trial_id,
        "status": status,
        "metrics": metrics if status == "ok" else {},
        "fit_time": result.fit_time,
        "predict_time": result.predict_time,
        "error": error,
        "protocol": protocol,
    }
    if status == "ok":
        body["score"] = score
    return body


def _fallback_summary(fallback: dict[str, Any]) -> str:
    metric = fallback["metric"]
    lines = [f"service unavailable: trained {len(fallback['results'])} library default(s), {metric}:"]
    for r in fallback["results"]:
        value = r["metrics"].get(metric)
        lines.append(f"  {r['family']:<14} {r['status']:<8} {'-' if value is None else f'{value:.4f}'}")
    return "\n".join(lines)


def _summary(detail: dict[str, Any]) -> str:
    best = detail["best"]
    head = (
        f"study {detail['id']}: {detail['n_trials']} trials on dataset {detail['dataset_id']}, "
        f"{detail['metric']} ({detail['direction']})"
    )
    if best is None:
        return f"{head}; no trial succeeded"
    values = ", ".join(f"{k}={v}" for k, v in best["hyperparameters"].items())
    return (
        f"{head}\nbest: trial {best['number']} {best['family']} {detail['metric']}={best['score']:.4f}"
        f" (configuration {best['configuration_id']})\n  {values}"
    )
