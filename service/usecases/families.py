"""Task families: declare one, add prior tasks, meta-train (a job), adapt to a new task, predict.

The meta-training job splits the prior tasks into meta-training and meta-validation tasks,
meta-trains with early stopping in resumable chunks (a restarted job continues from its
checkpoint, kept in the metastore, on whichever machine it runs), and stores the initialisation
plus a pooled baseline (one network fitted on all prior rows) as versioned models whose weights
live in the metastore too.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from learners.meta import GroupedClassTasks, GroupedTasks, MetaLearner, TaskBatch, TaskSampler, mlp
from metastore.families import (
    FamilyModelRecord,
    FamilyNameTaken,
    FamilyRecord,
    FamilyStore,
    NewFamily,
    NewFamilyModel,
    SqlFamilyStore,
)
from metastore.jobs import JobRecord, JobStore
from metastore.store import MetaStore
from service.config import Settings
from service.jobs.context import JobContext, PermanentJobError
from service.jobs.handlers import register, submit
from service.problems import IntakeError, InvalidRequest, ProblemError
from service.usecases import family_nets as nets

DEFAULT_SETTINGS: dict[str, Any] = {
    "hidden": [40, 40],
    "inner_lr": 0.01,
    "inner_steps": 1,
    "multi_step_loss": False,
    "outer_lr": 1e-3,
    "shots": 5,
    "query": 10,
    "n_way": 2,
    "embedding": 16,
    "seed": 0,
}
MIN_SUPPORT_ROWS = 2
MAX_INLINE_STEPS = 200
MAX_INLINE_ROWS = 5_000
VALIDATION_FRACTION = 0.2


class NotMetaTrained(ProblemError):
    status = 409
    title = "The family has no meta-trained model yet"


class SchemaMismatch(IntakeError):
    title = "The rows do not match the family's schema"


def families_for(store: MetaStore) -> SqlFamilyStore:
    """The families store in the same database as ``store``."""
    engine = getattr(store, "engine", None)
    if engine is None:
        raise TypeError(f"{type(store).__name__} has no SQL engine; families need a SQL metastore")
    return SqlFamilyStore(engine)


def models_dir(settings: Settings) -> Path:
    """Where models made before migration 0007 keep their files (read, never written, now)."""
    return settings.data_dir / "models"


def check_algorithm(algorithm: str, task_type: str) -> None:
    """Raises InvalidRequest for an unknown algorithm or one that does not fit the target kind."""
    if algorithm not in nets.ALGORITHMS:
        raise InvalidRequest(f"Unknown algorithm {algorithm!r}; use one of {list(nets.ALGORITHMS)}.")
    if (algorithm == "protonet") != (task_type == "classification"):
        raise InvalidRequest(
            f"algorithm {algorithm!r} does not fit task_type {task_type!r}: protonet is for "
            "classification families (label sets may vary by task); the others are for regression."
        )


def declare(
    fstore: FamilyStore,
    name: str,
    features: list[str],
    target: str,
    task_type: str,
    algorithm: str,
    settings: dict[str, Any],
) -> FamilyRecord:
    """Store a new family; ``settings`` override DEFAULT_SETTINGS.

    Raises InvalidRequest (algorithm, columns), a 409 problem when the name is taken.
    """
    check_algorithm(algorithm, task_type)
    if settings.get("multi_step_loss") and (
        algorithm not in nets.MULTI_STEP_ALGORITHMS or int(settings.get("inner_steps", 1)) < 2
    ):
        raise InvalidRequest(
            f"multi_step_loss averages the query loss after each inner step: it needs inner_steps >= 2 "
            f"and one of {list(nets.MULTI_STEP_ALGORITHMS)}, not {algorithm!r} with inner_steps "
            f"{settings.get('inner_steps', 1)}. Raise inner_steps or drop multi_step_loss."
        )
    if target in features or len(set(features)) != len(features):
        raise InvalidRequest("features must be distinct column names that do not include the target.")
    new = NewFamily(name, task_type, tuple(features), target, algorithm, {**DEFAULT_SETTINGS, **settings})
    try:
        return fstore.create_family(new)
    except FamilyNameTaken as exc:
        raise ProblemError(str(exc), status=409, name=name) from exc


def start_meta_train(
    fstore: FamilyStore, jobs: JobStore, family_id: int, arguments: dict[str, Any]
) -> JobRecord:
    """Queue a meta-training job. Raises FamilyNotFound; InvalidRequest with fewer than 2 prior tasks."""
    fstore.get_family(family_id)
    n_tasks = len(fstore.list_tasks(family_id))
    if n_tasks < 2:
        raise InvalidRequest(
            f"Family {family_id} has {n_tasks} prior task(s); meta-training needs at least 2 "
            f"(one is held out to validate on). POST them to /v1/families/{family_id}/tasks."
        )
    return submit(jobs, "family_meta_train", {**arguments, "family_id": family_id})


# -- rows -----------------------------------------------------------------------------------------
def rows_matrix(frame: pd.DataFrame, family: FamilyRecord, *, with_target: bool = True) -> np.ndarray:
    """Features in the family's order (then the target) as float64. Raises SchemaMismatch."""
    wanted = [*family.features, family.target] if with_target else list(family.features)
    missing = [c for c in wanted if c not in frame.columns]
    extra = [c for c in frame.columns if c not in wanted and not (not with_target and c == family.target)]
    if missing or extra:
        raise SchemaMismatch(
            f"The rows must have exactly the columns {wanted}; missing {missing}, unexpected {extra}.",
            missing=missing,
            unexpected=extra,
        )
    frame = frame[wanted]
    text = [c for c in wanted if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise SchemaMismatch(f"Columns {text} hold non-numeric values; the family's network needs numbers.")
    values = frame.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        bad = [c for c, ok in zip(wanted, np.isfinite(values).all(axis=0), strict=True) if not ok]
        raise SchemaMismatch(f"Columns {bad} hold missing or infinite values; fill or drop those rows.")
    if with_target and family.task_type == "classification" and np.any(np.mod(values[:, -1], 1) != 0):
        raise SchemaMismatch(
            f"The target {family.target!r} of a classification family must hold integer labels."
        )
    return values


def split_tasks(frame: pd.DataFrame, group_column: str | None, name: str) -> list[tuple[str, pd.DataFrame]]:
    """One task, or one per value of ``group_column``."""
    if group_column is None:
        return [(name, frame)]
    if group_column not in frame.columns:
        raise IntakeError(
            f"group_column {group_column!r} is not a column; the columns are {list(frame.columns)}."
        )
    return [
        (f"{name}:{key}", part.drop(columns=[group_column]))
        for key, part in frame.groupby(group_column, sort=True)
    ]


def add_tasks(
    fstore: FamilyStore, family_id: int, frame: pd.DataFrame, name: str, group_column: str | None
) -> list[tuple[Any, bool]]:
    """Validate every task, then store each; a task whose content is stored already is not stored twice.

    A table whose one group breaks the schema stores nothing, since all are checked first.
    """
    family = fstore.get_family(family_id)
    tasks = [
        (task_name, rows_matrix(part, family)) for task_name, part in split_tasks(frame, group_column, name)
    ]
    return [
        fstore.add_task(family_id, task_name[:255], len(mx), nets.matrix_hash(mx), nets.matrix_bytes(mx))
        for task_name, mx in tasks
    ]


# -- meta-training ----------------------------------------------------------------------------------
class MetaTrainArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family_id: int = Field(ge=1, le=2**31 - 1)
    iterations: int = Field(default=2_000, ge=1, le=1_000_000)
    meta_batch_size: int = Field(default=16, ge=1, le=1_000)
    validate_every: int = Field(default=100, ge=1, le=100_000)
    patience: int | None = Field(default=5, ge=1, le=1_000)
    n_validation_tasks: int = Field(default=100, ge=1, le=10_000)
    pooled_steps: int = Field(default=1_000, ge=0, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


@dataclass(frozen=True)
class PriorTasks:
    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    n_tasks: int


def load_prior(fstore: FamilyStore, family: FamilyRecord) -> PriorTasks:
    tasks = fstore.task_payloads(family.id)
    if len(tasks) < 2:
        raise PermanentJobError(
            f"family {family.id} has {len(tasks)} task(s); meta-training needs at least 2 "
            "(one to validate on). POST more to /v1/families/{id}/tasks."
        )
    matrices = [nets.matrix_from_bytes(p) for _, p in tasks]
    groups = np.concatenate([np.full(len(mx), r.id) for (r, _), mx in zip(tasks, matrices, strict=True)])
    stacked = np.vstack(matrices)
    return PriorTasks(stacked[:, :-1], stacked[:, -1], groups, len(tasks))


def _samplers(
    prior: PriorTasks, norm: nets.Normalisation, settings: dict[str, Any], seed: int, classify: bool
) -> tuple[TaskSampler, TaskSampler]:
    """Meta-training and meta-validation samplers on disjoint tasks."""
    names = np.unique(prior.groups)
    order = np.random.default_rng(seed).permutation(names)
    n_val = max(1, round(VALIDATION_FRACTION * len(names)))
    val = np.isin(prior.groups, order[:n_val])
    x, y = norm.x(prior.x).numpy(), norm.y(prior.y).numpy()
    shots, query = int(settings["shots"]), int(settings["query"])
    try:
        if classify:
            n_way, labels = int(settings["n_way"]), prior.y
            return (
                GroupedClassTasks(x[~val], labels[~val], prior.groups[~val], n_way, shots, query),
                GroupedClassTasks(x[val], labels[val], prior.groups[val], n_way, shots, query),
            )
        return (
            GroupedTasks(x[~val], y[~val], prior.groups[~val], shots, query),
            GroupedTasks(x[val], y[val], prior.groups[val], shots, query),
        )
    except ValueError as exc:
        raise PermanentJobError(f"cannot draw tasks from the family's prior tasks: {exc}") from exc


def meta_train(
    fstore: FamilyStore, settings: Settings, args: MetaTrainArguments, ctx: JobContext | None = None
) -> dict[str, Any]:
    """Meta-train a family's initialisation and fit the pooled baseline; store both as models."""
    family = fstore.get_family(args.family_id)
    classify = family.algorithm == "protonet"
    prior = load_prior(fstore, family)
    norm = nets.Normalisation.fit(prior.x, prior.y, regression=not classify)
    train, val = _samplers(prior, norm, family.settings, args.seed, classify)
    sizes = nets.sizes_for(len(family.features), family.settings, family.algorithm)
    learner = nets.build_learner(family.algorithm, sizes, family.settings)
    gen = torch.Generator().manual_seed(args.seed + 1)
    val_batch = val.sample(args.n_validation_tasks, gen)
    started = time.perf_counter()
    # The local file lives for this attempt only (and goes, whatever happens); the metastore's
    # copy carries the state to the next attempt and is deleted when the job ends.
    with tempfile.TemporaryDirectory(prefix="warmstart-meta-train-") as tmp:
        checkpoint = Path(tmp) / "checkpoint.safetensors"
        saved = _saved_checkpoint(ctx, settings)
        if saved is not None:
            checkpoint.write_bytes(saved)
        keep = None if ctx is None else (lambda: ctx.save_checkpoint(checkpoint.read_bytes()))
        _train_in_chunks(learner, train, val_batch, args, checkpoint, ctx, keep)
    seconds = time.perf_counter() - started
    init = _store_init(fstore, family, learner, norm, prior, args, seconds)
    # Label sets vary by task in a protonet family: one classifier of all tasks pooled means nothing.
    pooled = None if classify else _store_pooled(fstore, family, sizes, norm, prior, args)
    return {
        "family_id": family.id,
        "init_model_id": init.id,
        "init_version": init.version,
        "pooled_model_id": None if pooled is None else pooled.id,
        "metrics": init.metrics,
    }


def _saved_checkpoint(ctx: JobContext | None, settings: Settings) -> bytes | None:
    """What an earlier attempt of this job saved; a file of a version before 0007 moves to the metastore."""
    if ctx is None:
        return None
    legacy = models_dir(settings) / "training" / f"job-{ctx.job.id}.safetensors"
    if legacy.exists():
        ctx.save_checkpoint(legacy.read_bytes())
        legacy.unlink()
    return ctx.saved_checkpoint()


def _train_in_chunks(
    learner: MetaLearner,
    train: TaskSampler,
    val_batch: TaskBatch,
    args: MetaTrainArguments,
    checkpoint: Path,
    ctx: JobContext | None,
    keep: Callable[[], None] | None = None,
) -> None:
    """``meta_fit`` one validation interval at a time, so progress, cancel and resume work.

    ``checkpoint`` is written at the end of every chunk; ``keep`` then stores it durably.
    """
    done = 0
    if checkpoint.exists():  # an earlier attempt of this job got this far
        done = learner.load(checkpoint).iteration_
    while done < args.iterations and not _patience_spent(learner, args.patience):
        done = min(args.iterations, done + args.validate_every)
        learner.meta_fit(
            train,
            iterations=done,
            meta_batch_size=args.meta_batch_size,
            validation=val_batch,
            validate_every=args.validate_every,
            patience=args.patience,
            seed=args.seed,
            checkpoint=checkpoint,
            checkpoint_every=args.validate_every,
        )
        last = learner.history_[-1]
        if keep is not None:
            keep()
        if ctx is not None:
            ctx.progress(
                0.95 * done / args.iterations,
                f"iteration {learner.iteration_}: meta-validation loss {last.loss:.4g}",
                {
                    "iteration": learner.iteration_,
                    "val_loss": last.loss,
                    "best_val_loss": learner.best_val_loss_,
                },
            )
    learner.restore_best()  # a resumed run that had nothing left to do must end on them too


def _patience_spent(learner: MetaLearner, patience: int | None) -> bool:
    return patience is not None and learner.stale_validations() >= patience


def _store_init(
    fstore: FamilyStore,
    family: FamilyRecord,
    learner: MetaLearner,
    norm: nets.Normalisation,
    prior: PriorTasks,
    args: MetaTrainArguments,
    seconds: float,
) -> FamilyModelRecord:
    metrics = {
        "algorithm": family.algorithm,
        "iterations": learner.iteration_,
        "best_val_loss": learner.best_val_loss_,
        "history": [[p.iteration, p.loss] for p in learner.history_],
        "prior_tasks": prior.n_tasks,
        "prior_rows": len(prior.x),
        "seconds": round(seconds, 3),
        "seed": args.seed,
        "normalisation": norm.to_json(),
    }
    weights = nets.learner_bytes(learner)
    return fstore.add_model(NewFamilyModel(family.id, "init", nets.new_file_name(), metrics, weights=weights))


def _store_pooled(
    fstore: FamilyStore,
    family: FamilyRecord,
    sizes: tuple[int, ...],
    norm: nets.Normalisation,
    prior: PriorTasks,
    args: MetaTrainArguments,
) -> FamilyModelRecord:
    net = mlp(sizes, seed=int(family.settings["seed"]))
    nets.fit_plain(
        net,
        norm.x(prior.x),
        norm.y(prior.y),
        steps=args.pooled_steps,
        lr=1e-3,
        batch_size=256,
        seed=args.seed,
    )
    meta = {"kind": "pooled", "family_id": family.id, "normalisation": norm.to_json()}
    weights = nets.network_bytes(net, meta)
    metrics = {"steps": args.pooled_steps, "prior_rows": len(prior.x), "normalisation": norm.to_json()}
    return fstore.add_model(
        NewFamilyModel(family.id, "pooled", nets.new_file_name(), metrics, weights=weights)
    )


@register(
    "family_meta_train",
    arguments=MetaTrainArguments,
    description="Meta-train a task family's initialisation (and its pooled baseline) on its prior tasks.",
)
def meta_train_job(ctx: JobContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return meta_train(families_for(ctx.store), ctx.settings, MetaTrainArguments(**arguments), ctx)


# -- adaptation -----------------------------------------------------------------------------------
Row = dict[str, Any]


class AdaptArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    family_id: int = Field(ge=1, le=2**31 - 1)
    support: Annotated[list[Row], Field(min_length=1, max_length=100_000)]
    query: Annotated[list[Row], Field(max_length=100_000)] | None = None
    steps: int = Field(default=10, ge=0, le=100_000)
    scratch_steps: int = Field(default=100, ge=0, le=100_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


def needs_job(args: AdaptArguments) -> bool:
    """Short adaptations answer within the request; long ones become jobs."""
    return max(args.steps, args.scratch_steps) > MAX_INLINE_STEPS or len(args.support) > MAX_INLINE_ROWS


def frame_of(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows)


def adapt(fstore: FamilyStore, settings: Settings, args: AdaptArguments) -> dict[str, Any]:
    """Fine-tune the latest initialisation on the support set; score it and both baselines."""
    family = fstore.get_family(args.family_id)
    support = rows_matrix(frame_of(args.support), family)
    query = rows_matrix(frame_of(args.query), family) if args.query else None
    if len(support) < MIN_SUPPORT_ROWS:
        raise IntakeError(
            f"The support set has {len(support)} row(s); adaptation needs at least {MIN_SUPPORT_ROWS}."
        )
    init = fstore.latest_model(family.id, "init")
    if init is None:
        raise NotMetaTrained(
            f"Family {family.id} has no meta-trained initialisation; POST "
            f"/v1/families/{family.id}/meta-train and wait for the job to succeed.",
            family_id=family.id,
        )
    norm = nets.Normalisation.from_json(init.metrics["normalisation"])
    if family.algorithm == "protonet":
        net, extra, metrics, baselines = _adapt_protonet(
            fstore, family, init, settings, norm, support, query, args
        )
    else:
        net, extra, metrics, baselines = _adapt_regression(
            fstore, family, init, settings, norm, support, query, args
        )
    weights = nets.network_bytes(
        net,
        {"kind": "adapted", "family_id": family.id, "init_id": init.id, "normalisation": norm.to_json()},
        extra,
    )
    record = fstore.add_model(
        NewFamilyModel(
            family.id,
            "adapted",
            nets.new_file_name(),
            {**metrics, "baselines": baselines},
            init.id,
            nets.matrix_hash(support),
            weights,
        )
    )
    return {
        "model_id": record.id,
        "family_id": family.id,
        "init_model_id": init.id,
        "init_version": init.version,
        "metrics": metrics,
        "baselines": baselines,
    }


Adapted = tuple[torch.nn.Module, dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]


def _adapt_regression(
    fstore: FamilyStore,
    family: FamilyRecord,
    init: FamilyModelRecord,
    settings: Settings,
    norm: nets.Normalisation,
    support: np.ndarray,
    query: np.ndarray | None,
    args: AdaptArguments,
) -> Adapted:
    sx, sy = norm.x(support[:, :-1]), norm.y(support[:, -1])
    net = _adapted_network(fstore, family, init, settings, sx, sy, args.steps)
    metrics = {"steps": args.steps, "support_rows": len(support), "support_mse": _mse(net, norm, support)}
    baselines: dict[str, Any] = {}
    if query is not None:
        metrics["query_mse"] = _mse(net, norm, query)
        metrics["query_rows"] = len(query)
        baselines = _baselines(fstore, settings, family, norm, sx, sy, query, args)
    return net, {}, metrics, baselines


def _adapt_protonet(
    fstore: FamilyStore,
    family: FamilyRecord,
    init: FamilyModelRecord,
    settings: Settings,
    norm: nets.Normalisation,
    support: np.ndarray,
    query: np.ndarray | None,
    args: AdaptArguments,
) -> Adapted:
    """Prototypes of the support classes; the scratch baseline is the MLP trained on those classes."""
    labels = support[:, -1].astype(np.int64)
    if len(np.unique(labels)) < 2:
        raise IntakeError(f"The support set has one class ({labels[0]}); a classifier needs at least two.")
    sx = norm.x(support[:, :-1])
    classifier = _adapted_network(fstore, family, init, settings, sx, torch.as_tensor(labels), 0)
    extra = nets.prototype_tensors(classifier)  # type: ignore[arg-type]
    metrics: dict[str, Any] = {"steps": 0, "support_rows": len(support)}
    metrics["support_accuracy"] = _accuracy(classifier.embedding, extra, norm, support)
    baselines: dict[str, Any] = {}
    if query is not None:
        metrics["query_accuracy"] = _accuracy(classifier.embedding, extra, norm, query)
        metrics["query_rows"] = len(query)
        classes, codes = np.unique(labels, return_inverse=True)
        sizes = (len(family.features), *map(int, family.settings["hidden"]), len(classes))
        scratch = nets.fit_plain(
            mlp(sizes, seed=int(family.settings["seed"])),
            sx,
            torch.as_tensor(codes),
            steps=args.scratch_steps,
            lr=1e-2,
            batch_size=None,
            seed=args.seed,
        )
        with torch.no_grad():
            pred = classes[scratch(norm.x(query[:, :-1])).argmax(-1).numpy()]
        baselines["scratch"] = {
            "query_accuracy": float(np.mean(pred == query[:, -1])),
            "steps": args.scratch_steps,
        }
    return classifier.embedding, extra, metrics, baselines


def _accuracy(
    net: torch.nn.Module, extra: dict[str, torch.Tensor], norm: nets.Normalisation, rows: np.ndarray
) -> float:
    pred = nets.predict_with(net, extra, norm.x(rows[:, :-1])).numpy()
    return float(np.mean(pred == rows[:, -1]))


def _adapted_network(
    fstore: FamilyStore,
    family: FamilyRecord,
    init: FamilyModelRecord,
    settings: Settings,
    sx: torch.Tensor,
    sy: torch.Tensor,
    steps: int,
) -> torch.nn.Module:
    sizes = nets.sizes_for(len(family.features), family.settings, family.algorithm)
    learner = nets.build_learner(family.algorithm, sizes, family.settings)
    nets.load_learner(learner, model_weights(fstore, settings, init))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Meta-SGD caps steps at its meta-trained count, on purpose
        return learner.adapt(sx, sy, steps=steps)


def _mse(net: torch.nn.Module, norm: nets.Normalisation, rows: np.ndarray) -> float:
    with torch.no_grad():
        pred = norm.y_back(net(norm.x(rows[:, :-1])))
    return float(np.mean((pred - rows[:, -1]) ** 2))


def _baselines(
    fstore: FamilyStore,
    settings: Settings,
    family: FamilyRecord,
    norm: nets.Normalisation,
    sx: torch.Tensor,
    sy: torch.Tensor,
    query: np.ndarray,
    args: AdaptArguments,
) -> dict[str, Any]:
    sizes = nets.sizes_for(len(family.features), family.settings, family.algorithm)
    scratch = nets.fit_plain(
        mlp(sizes, seed=int(family.settings["seed"])),
        sx,
        sy,
        steps=args.scratch_steps,
        lr=1e-2,
        batch_size=None,
        seed=args.seed,
    )
    out: dict[str, Any] = {"scratch": {"query_mse": _mse(scratch, norm, query), "steps": args.scratch_steps}}
    pooled = fstore.latest_model(family.id, "pooled")
    if pooled is not None:
        net, _, _ = nets.load_network(model_weights(fstore, settings, pooled))
        out["pooled"] = {"query_mse": _mse(net, norm, query), "model_id": pooled.id}
    return out


class AdaptJobArguments(AdaptArguments):
    pass


@register(
    "family_adapt",
    arguments=AdaptJobArguments,
    description="Adapt a family's initialisation to a new task's support set (long adaptations).",
)
def adapt_job(ctx: JobContext, arguments: dict[str, Any]) -> dict[str, Any]:
    ctx.progress(0.0, "adapting")
    try:
        return adapt(families_for(ctx.store), ctx.settings, AdaptJobArguments(**arguments))
    except ProblemError as exc:
        raise PermanentJobError(exc.detail) from exc


# -- models ---------------------------------------------------------------------------------------
def predict(fstore: FamilyStore, settings: Settings, model_id: int, rows: list[Row]) -> list[float]:
    """Predictions of a stored model in the target's units."""
    record = fstore.get_model(model_id)
    family = fstore.get_family(record.family_id)
    if family.algorithm == "protonet" and record.kind == "init":
        raise InvalidRequest(
            f"Model {model_id} is a protonet embedding, not a classifier; adapt it to a support set "
            f"with POST /v1/families/{family.id}/adapt and predict with the adapted model."
        )
    matrix = rows_matrix(frame_of(rows), family, with_target=False)
    net, extra, meta = nets.load_network(model_weights(fstore, settings, record))
    norm_json = meta.get("normalisation") or record.metrics.get("normalisation")
    norm = nets.Normalisation.from_json(norm_json)
    out = nets.predict_with(net, extra, norm.x(matrix))
    if "prototypes" in extra:
        return [float(v) for v in out.tolist()]
    return [float(v) for v in norm.y_back(out)]


def model_weights(fstore: FamilyStore, settings: Settings, record: FamilyModelRecord) -> bytes:
    """A model's safetensors bytes: from the metastore, or (a model made before migration 0007)
    from its file in this machine's data directory. Raises a 410 problem when neither has them."""
    stored = fstore.model_weights(record.id)
    if stored is not None:
        return stored
    path = models_dir(settings) / record.file
    if path.exists():
        return path.read_bytes()
    raise ProblemError(
        f"Model {record.id} was made before weights moved into the metastore, and its file "
        f"{record.file} is not in this machine's data directory ({models_dir(settings)}); serve it "
        "from the machine that made it, or copy the file there.",
        status=410,
        model_id=record.id,
    )


def weights(fstore: FamilyStore, settings: Settings, model_id: int) -> bytes:
    """The safetensors bytes of a stored model. Raises ModelNotFound, or a 410 problem."""
    return model_weights(fstore, settings, fstore.get_model(model_id))
