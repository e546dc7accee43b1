"""`warmstart families create|list|show|add-tasks|meta-train|adapt`, on the metastore or a server (--url)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

families_app = typer.Typer(
    help="Task families: declare one, add prior tasks, meta-train, adapt to a new task.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
UrlOpt = Annotated[
    str | None, typer.Option("--url", help="A warmstart server (default: the metastore of this machine).")
]
TableFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV, TSV, Parquet...")
]


# -- the two back ends: the same answers as the HTTP API, from the metastore or from a server ------
class Local:
    """The use cases on this machine's metastore (WARMSTART_DATA_DIR / WARMSTART_DATABASE_URL)."""

    def __init__(self) -> None:
        from service.cli import settings, store_from_settings
        from service.usecases import families as uc

        self.uc = uc
        self.store = store_from_settings()
        self.settings = settings()
        self.families = uc.families_for(self.store)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        from service.api.families import FamilyIn, FamilyOut

        spec = _validated(FamilyIn, body)
        record = self.uc.declare(
            self.families,
            spec.name,
            spec.features,
            spec.target,
            spec.task_type,
            spec.algorithm,
            spec.settings(),
        )
        return FamilyOut.of(record).model_dump(mode="json")

    def list(self) -> list[dict[str, Any]]:
        from service.api.families import FamilyOut

        return [FamilyOut.of(r).model_dump(mode="json") for r in self.families.list_families()]

    def show(self, family_id: int) -> dict[str, Any]:
        from service.api.families import FamilyModelOut, FamilyOut, TaskOut

        return {
            "family": FamilyOut.of(self.families.get_family(family_id)).model_dump(mode="json"),
            "tasks": [TaskOut.of(t).model_dump(mode="json") for t in self.families.list_tasks(family_id)],
            "models": [
                FamilyModelOut.of(m).model_dump(mode="json") for m in self.families.list_models(family_id)
            ],
        }

    def add_tasks(self, family_id: int, file: Path, name: str, group: str | None) -> list[dict[str, Any]]:
        from service.api.families import TaskOut
        from service.usecases.ingest import parse_table

        frame = parse_table(file.name, file.read_bytes()).frame
        stored = self.uc.add_tasks(self.families, family_id, frame, name, group)
        return [TaskOut.of(r, created).model_dump(mode="json") for r, created in stored]

    def meta_train(self, family_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
        from service.api.families import MetaTrainIn
        from service.jobs.schemas import JobOut
        from service.jobs.worker import jobs_for

        checked = _validated(MetaTrainIn, arguments).model_dump()
        job = self.uc.start_meta_train(self.families, jobs_for(self.store), family_id, checked)
        return JobOut.of(job).model_dump(mode="json")

    def job(self, job_id: int) -> dict[str, Any]:
        from service.jobs.schemas import JobOut
        from service.jobs.worker import jobs_for

        return JobOut.of(jobs_for(self.store).get_job(job_id)).model_dump(mode="json")

    def adapt(self, family_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Runs here, whatever its size: this process is the user's own."""
        from service.api.families import AdaptIn

        args = self.uc.AdaptArguments(family_id=family_id, **_validated(AdaptIn, body).model_dump())
        return self.uc.adapt(self.families, self.settings, args)


class Remote:
    """The same calls through `warmstart.WarmstartClient` (WARMSTART_API_KEY for the key)."""

    def __init__(self, url: str) -> None:
        from warmstart.client import WarmstartClient

        self.client = WarmstartClient(url)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.create_family(**body)

    def list(self) -> list[dict[str, Any]]:
        return self.client.list_families()

    def show(self, family_id: int) -> dict[str, Any]:
        return {
            "family": self.client.get_family(family_id),
            "tasks": self.client.list_tasks(family_id),
            "models": self.client.list_family_models(family_id),
        }

    def add_tasks(self, family_id: int, file: Path, name: str, group: str | None) -> list[dict[str, Any]]:
        return self.client.add_tasks(family_id, file, name=name, group_column=group)

    def meta_train(self, family_id: int, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.client.meta_train(family_id, **arguments)

    def job(self, job_id: int) -> dict[str, Any]:
        return self.client.get_job(job_id)

    def adapt(self, family_id: int, body: dict[str, Any]) -> dict[str, Any]:
        support, query = body.pop("support"), body.pop("query", None)
        return self.client.adapt(family_id, support, query, **body)


@contextmanager
def backend(url: str | None) -> Iterator[Local | Remote]:
    """The back end, with a server's problem+json errors turned into one-line CLI errors."""
    from service.cli import CliError
    from warmstart.client import ApiError

    try:
        yield Remote(url) if url else Local()
    except ApiError as exc:
        raise CliError(f"{url}: {exc.status} {exc.detail}") from exc


def _validated(model: Any, body: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from service.cli import CliError

    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "arguments"
        raise CliError(f"{where}: {first['msg']}") from exc


def _emit(data: Any, as_json: bool, human: str) -> None:
    from service.cli import emit

    emit(data, as_json, human)


def _rows(file: Path) -> list[dict[str, Any]]:
    """A table file's rows as JSON objects (numbers stay numbers)."""
    from service.usecases.ingest import parse_table

    frame = parse_table(file.name, file.read_bytes()).frame
    return json.loads(frame.to_json(orient="records"))


# -- commands -------------------------------------------------------------------------------------
@families_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name.")],
    feature: Annotated[
        list[str], typer.Option("--feature", "-f", help="A feature column; repeat, in order.")
    ],
    target: Annotated[str, typer.Option(help="The target column.")],
    task_type: Annotated[str, typer.Option(help="regression or classification.")] = "regression",
    algorithm: Annotated[
        str, typer.Option(help="maml, fomaml, reptile, metasgd, anil or protonet.")
    ] = "maml",
    hidden: Annotated[str, typer.Option(help="Hidden layer widths, comma-separated.")] = "40,40",
    embedding: Annotated[int, typer.Option(help="Embedding width (protonet).")] = 16,
    inner_lr: Annotated[float, typer.Option()] = 0.01,
    inner_steps: Annotated[int, typer.Option()] = 1,
    multi_step_loss: Annotated[
        bool, typer.Option(help="Meta-train on the mean query loss after each inner step (MAML++).")
    ] = False,
    outer_lr: Annotated[float, typer.Option()] = 1e-3,
    shots: Annotated[int, typer.Option(help="Support rows per meta-training task.")] = 5,
    query: Annotated[int, typer.Option(help="Query rows per meta-training task.")] = 10,
    n_way: Annotated[int, typer.Option(help="Classes per protonet training task.")] = 2,
    seed: Annotated[int, typer.Option()] = 0,
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Declare a task family: its columns, its network and its meta-learning algorithm."""
    from service.cli import CliError

    try:
        widths = [int(w) for w in hidden.split(",") if w.strip()]
    except ValueError as exc:
        raise CliError(f"--hidden must be comma-separated integers such as 40,40, not {hidden!r}") from exc
    meta = {"inner_lr": inner_lr, "inner_steps": inner_steps, "outer_lr": outer_lr,
            "multi_step_loss": multi_step_loss}
    meta |= {"shots": shots, "query": query, "n_way": n_way, "seed": seed}
    body = {
        "name": name,
        "features": feature,
        "target": target,
        "task_type": task_type,
        "algorithm": algorithm,
        "model": {"hidden": widths, "embedding": embedding},
        "meta": meta,
    }
    with backend(url) as b:
        family = b.create(body)
    _emit(family, as_json, f"created family {family['id']} {family['name']!r} ({family['algorithm']})")


@families_app.command("list")
def list_(url: UrlOpt = None, as_json: JsonFlag = False) -> None:
    """List the task families."""
    with backend(url) as b:
        items = b.list()
    lines = [f"{'id':>5}  {'algorithm':<9} {'task':<14} name"]
    lines += [f"{f['id']:>5}  {f['algorithm']:<9} {f['task_type']:<14} {f['name']}" for f in items]
    _emit(items, as_json, "\n".join([*lines, f"({len(items)} families)"]))


@families_app.command("show")
def show(family_id: Annotated[int, typer.Argument()], url: UrlOpt = None, as_json: JsonFlag = False) -> None:
    """Show a family: schema, settings, prior tasks and models."""
    with backend(url) as b:
        data = b.show(family_id)
    f, tasks, models = data["family"], data["tasks"], data["models"]
    lines = [
        f"family {f['id']} {f['name']!r}: {f['task_type']}, {f['algorithm']}, "
        f"features {f['features']} -> {f['target']!r}",
        f"settings: {json.dumps(f['settings'])}",
        f"{len(tasks)} prior task(s), {sum(t['n_rows'] for t in tasks)} rows",
    ]
    lines += [
        f"  model {m['id']:>5}  {m['kind']:<8} v{m['version']:<3} parent {m['parent_id'] or '-'}"
        for m in models
    ]
    _emit(data, as_json, "\n".join(lines))


@families_app.command("add-tasks")
def add_tasks(
    family_id: Annotated[int, typer.Argument()],
    file: TableFile,
    group_column: Annotated[str | None, typer.Option(help="Split the rows into one task per value.")] = None,
    name: Annotated[str | None, typer.Option(help="Task name (default: the file name).")] = None,
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Add prior tasks from a table file (one task, or one per value of --group-column)."""
    with backend(url) as b:
        stored = b.add_tasks(family_id, file, name or file.name, group_column)
    new = sum(1 for t in stored if t.get("created", True))
    _emit(stored, as_json, f"family {family_id}: {new} task(s) added, {len(stored) - new} already stored")


@families_app.command("meta-train")
def meta_train(
    family_id: Annotated[int, typer.Argument()],
    iterations: Annotated[int, typer.Option()] = 2_000,
    meta_batch_size: Annotated[int, typer.Option()] = 16,
    validate_every: Annotated[int, typer.Option()] = 100,
    patience: Annotated[
        int | None, typer.Option(help="Validations without improvement before stopping.")
    ] = 5,
    n_validation_tasks: Annotated[int, typer.Option()] = 100,
    pooled_steps: Annotated[int, typer.Option(help="Adam steps of the pooled baseline.")] = 1_000,
    seed: Annotated[int, typer.Option()] = 0,
    wait: Annotated[bool, typer.Option(help="Follow the job until it ends (a worker must run it).")] = False,
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue a meta-training job; `warmstart worker` or `warmstart serve` runs it."""
    arguments = {
        "iterations": iterations,
        "meta_batch_size": meta_batch_size,
        "validate_every": validate_every,
        "patience": patience,
        "n_validation_tasks": n_validation_tasks,
        "pooled_steps": pooled_steps,
        "seed": seed,
    }
    with backend(url) as b:
        job = b.meta_train(family_id, arguments)
        if wait:
            job = _follow(b, job)
    human = f"queued job {job['id']} ({job['kind']}); follow it with: warmstart jobs watch {job['id']}"
    if wait:
        human = f"job {job['id']} {job['state']}: {json.dumps(job['result'] or job['error'])}"
    _emit(job, as_json, human)
    if wait and job["state"] != "succeeded":
        raise typer.Exit(1)


def _follow(b: Local | Remote, job: dict[str, Any], interval: float = 1.0) -> dict[str, Any]:
    while job["state"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(interval)
        job = b.job(job["id"])
    return job


@families_app.command("adapt")
def adapt(
    family_id: Annotated[int, typer.Argument()],
    support: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The new task's labelled rows.")],
    query: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Labelled rows to score on.")
    ] = None,
    steps: Annotated[int, typer.Option(help="Gradient steps from the initialisation.")] = 10,
    scratch_steps: Annotated[int, typer.Option(help="Adam steps of the from-scratch baseline.")] = 100,
    seed: Annotated[int, typer.Option()] = 0,
    url: UrlOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Fine-tune the family's initialisation on a new task; print the model id, metrics and baselines."""
    body: dict[str, Any] = {
        "support": _rows(support),
        "steps": steps,
        "scratch_steps": scratch_steps,
        "seed": seed,
    }
    if query is not None:
        body["query"] = _rows(query)
    with backend(url) as b:
        out = b.adapt(family_id, body)
    if out.get("job"):
        human = f"a long adaptation: queued job {out['job']['id']}; warmstart jobs watch {out['job']['id']}"
    else:
        scores = {k: v for k, v in out["metrics"].items() if k.endswith(("_mse", "_accuracy"))}
        base = {
            k: {m: v for m, v in b.items() if m.endswith(("_mse", "_accuracy"))}
            for k, b in out["baselines"].items()
        }
        human = f"model {out['model_id']} (from init {out['init_model_id']}): {scores}; baselines {base}"
    _emit(out, as_json, human)
