"""Bring your own history: the trials of an Optuna study and the runs of an MLflow experiment
become evaluations, their parameters mapped onto a family's search space or a new space."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ConfigSpace import CategoricalHyperparameter, Constant, OrdinalHyperparameter
from ConfigSpace.hyperparameters import FloatHyperparameter, IntegerHyperparameter

from learners.spaces import FAMILIES, InvalidConfigurationError, SearchSpace, get_space
from metastore.records import DatasetRecord, EvaluationStatus, NewEvaluation, TaskType
from metastore.store import MetaStore
from service.problems import IntakeError
from service.usecases.ingest import IntakeRequest, dataset_name, ingest, parse_table


@dataclass(frozen=True)
class Trial:
    """One finished trial or run, as any tracker holds it."""

    key: str  # stable across re-imports: the tracker's own id for it
    params: dict[str, Any]
    metrics: dict[str, float | None]
    status: EvaluationStatus
    fit_time: float | None = None
    error: str | None = None
    family: str | None = None  # a family the tracker names for this trial (an MLflow tag)
    dataset: str | None = None  # a stored dataset's id or content hash the tracker names (a tag)


@dataclass
class HistoryImport:
    dataset: DatasetRecord
    family: str
    space_id: int
    new_space: bool
    created: int = 0
    replayed: int = 0
    ok: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def store_trials(
    store: MetaStore,
    dataset: DatasetRecord,
    trials: list[Trial],
    *,
    family: str | None,
    new_space: tuple[str, dict[str, Any]],
    protocol: str,
    source: str,
    skipped: Mapping[str, int] | None = None,
) -> HistoryImport:
    """Store the trials on `dataset`: under `family`'s space (a library family, named or inferred
    from the parameter names) or else under a new space (name, definition) registered here."""
    if not trials:
        raise IntakeError(f"Nothing to import: no finished trial ({dict(skipped or {}) or 'none at all'}).")
    task = dataset.task_type
    mapped = _library_values(trials, family, task)
    if mapped is not None:
        name, values = mapped
        space = get_space(name, task)
        stored = store.upsert_search_space(name, task, str(space.version), space.to_json())
        is_new = False
    else:
        name, definition = (family, new_space[1]) if family else new_space
        values = [dict(t.params) for t in trials]
        version = hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()
        stored = store.upsert_search_space(name, task, version[:12], definition)
        is_new = True
    configs = store.add_configurations(stored.id, [(v, None) for v in values])
    new = [
        NewEvaluation(
            dataset_id=dataset.id,
            configuration_id=c.id,
            protocol=protocol,
            metrics=t.metrics,
            status=t.status,
            fit_time=t.fit_time,
            error=t.error,
            source=source,
            idempotency_key=_key(source, t.key, dataset.id, protocol),
        )
        for t, c in zip(trials, configs, strict=True)
    ]
    written = store.add_evaluations(new)
    created = sum(w.created for w in written)
    counts = Counter(t.status for t in trials)
    return HistoryImport(
        dataset=dataset,
        family=name,
        space_id=stored.id,
        new_space=is_new,
        created=created,
        replayed=len(written) - created,
        ok=counts["ok"],
        failed=len(trials) - counts["ok"],
        skipped=dict(skipped or {}),
    )


def _key(source: str, trial_key: str, dataset_id: int, protocol: str) -> str:
    digest = hashlib.sha256(f"{trial_key}|{dataset_id}|{protocol}".encode()).hexdigest()[:40]
    return f"{source}-{digest}"


def _library_values(
    trials: list[Trial], family: str | None, task: str
) -> tuple[str, list[dict[str, Any]]] | None:
    """(family, full configurations) when the trials fit a library family, else None (a new space).

    A family the user names must fit (or is not a library family: then it names the new space);
    an inferred one is the only library family whose space holds every parameter and every value."""
    tagged = {t.family for t in trials if t.family}
    if family is None and len(tagged) == 1:
        family = tagged.pop()
    if family is not None:
        if family not in FAMILIES:
            return None
        values, problem = _fit(get_space(family, task), trials)
        if problem:
            raise IntakeError(f"The trials do not fit family {family!r}: {problem}")
        return family, values
    names = set().union(*(t.params for t in trials))
    if not names:
        return None
    fits = {}
    for candidate in FAMILIES:
        space = get_space(candidate, task)
        if names <= set(space.configspace):
            values, problem = _fit(space, trials)
            if not problem:
                fits[candidate] = values
    if len(fits) > 1:
        raise IntakeError(
            f"The parameters {sorted(names)} fit several families ({', '.join(fits)}); "
            "name one with --family."
        )
    return next(iter(fits.items()), None)


def _fit(space: SearchSpace, trials: Iterable[Trial]) -> tuple[list[dict[str, Any]], str | None]:
    """Each trial's full configuration in `space` (left-out hyperparameters at the library default)."""
    out = []
    for t in trials:
        unknown = sorted(set(t.params) - set(space.configspace))
        if unknown:
            return [], f"{space.name} has no hyperparameter(s) {unknown} (trial {t.key})"
        try:
            params = {k: coerce(space, k, v) for k, v in t.params.items()}
            out.append(space.validate({**space.default(), **params}))
        except (InvalidConfigurationError, ValueError) as exc:
            return [], f"trial {t.key}: {exc}"
    return out, None


def coerce(space: SearchSpace, name: str, value: Any) -> Any:
    """A tracker's value (MLflow keeps every parameter as a string) as the space's type."""
    hp = space.configspace[name]
    if isinstance(hp, CategoricalHyperparameter | OrdinalHyperparameter):
        choices = hp.choices if isinstance(hp, CategoricalHyperparameter) else hp.sequence
        for choice in choices:
            if choice == value or str(choice) == str(value):
                return choice
        raise ValueError(f"{name}={value!r} is not one of {list(choices)}")
    if isinstance(hp, Constant):
        return hp.value if str(hp.value) == str(value) else value
    if isinstance(hp, IntegerHyperparameter):
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{name}={value!r} is not a whole number")
        return int(number)
    if isinstance(hp, FloatHyperparameter):
        return float(value)
    return value


def finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# -- Optuna -------------------------------------------------------------------------------------
def optuna_trials(storage: str, study_name: str, metric: str | None) -> tuple[list[Trial], dict, Counter]:
    """(finished trials, new-space definition, skipped counts) of a stored Optuna study."""
    import optuna
    from optuna.distributions import distribution_to_json
    from optuna.trial import TrialState

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError as exc:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise IntakeError(f"No Optuna study {study_name!r} in {storage}; its studies: {names}.") from exc
    names = _metric_names(study.metric_names, len(study.directions), metric)
    trials, skipped, distributions = [], Counter(), {}
    for t in study.get_trials(deepcopy=False):
        if t.state not in (TrialState.COMPLETE, TrialState.FAIL):
            skipped[t.state.name.lower()] += 1
            continue
        for k, d in t.distributions.items():
            distributions.setdefault(k, json.loads(distribution_to_json(d)))
        ok = t.state == TrialState.COMPLETE
        values = t.values or []
        trials.append(
            Trial(
                key=f"optuna:{storage}:{study_name}:{t.number}",
                params=dict(t.params),
                metrics={n: finite(v) for n, v in zip(names, values, strict=False)} if ok else {},
                status="ok" if ok else "failed",
                fit_time=t.duration.total_seconds() if t.duration else None,
                error=None if ok else str(t.system_attrs.get("fail_reason") or "the Optuna trial failed"),
            )
        )
    definition = {
        "source": "optuna",
        "study": study_name,
        "directions": [d.name.lower() for d in study.directions],
        "metrics": names,
        "distributions": distributions,
    }
    return trials, definition, skipped


def _metric_names(stored: list[str] | None, n: int, given: str | None) -> list[str]:
    if given:
        names = [m.strip() for m in given.split(",")]
        if len(names) != n:
            raise IntakeError(f"The study has {n} objective(s); --metric names {len(names)}: {given!r}.")
        return names
    if stored and all(stored):
        return list(stored)
    return ["objective"] if n == 1 else [f"objective_{i}" for i in range(n)]


# -- MLflow -------------------------------------------------------------------------------------
MLFLOW_STATUS: dict[str, EvaluationStatus] = {"FINISHED": "ok", "FAILED": "failed", "KILLED": "failed"}
DATASET_TAG, FAMILY_TAG = "warmstart.dataset", "warmstart.family"


def mlflow_runs(tracking_uri: str, experiment: str) -> tuple[list[Trial], dict, Counter]:
    """(finished runs as trials, new-space definition, skipped counts) of an MLflow experiment."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise IntakeError(
            "MLflow is not installed: pip install 'warmstart[mlflow]' (mlflow-skinny)."
        ) from exc
    if "://" not in tracking_uri or tracking_uri.startswith("file:"):
        # MLflow 3 refuses file stores unless asked; reading one to import it is what they are for now.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        found = client.get_experiment_by_name(experiment)
    except Exception as exc:  # MlflowException and the store's own errors
        raise IntakeError(f"Cannot read MLflow at {tracking_uri}: {str(exc).splitlines()[0]}") from exc
    if found is None:
        names = [e.name for e in client.search_experiments()]
        raise IntakeError(f"No MLflow experiment {experiment!r} at {tracking_uri}; its experiments: {names}.")
    trials, skipped, kinds = [], Counter(), {}
    for run in _all_runs(client, found.experiment_id):
        status = MLFLOW_STATUS.get(run.info.status)
        if status is None:
            skipped[run.info.status.lower()] += 1
            continue
        tags = run.data.tags
        params = {k: _parse(v) for k, v in run.data.params.items()}
        for k, v in params.items():
            kinds.setdefault(k, type(v).__name__)
        metrics = {k: finite(v) for k, v in run.data.metrics.items()}
        if status == "ok" and not any(v is not None for v in metrics.values()):
            skipped["finished without metrics"] += 1
            continue
        end, start = run.info.end_time, run.info.start_time
        trials.append(
            Trial(
                key=f"mlflow:{found.experiment_id}:{run.info.run_id}",
                params=params,
                metrics=metrics,
                status=status,
                fit_time=(end - start) / 1000 if end and start else None,
                error=None if status == "ok" else f"MLflow run {run.info.status.lower()}",
                family=tags.get(FAMILY_TAG),
                dataset=tags.get(DATASET_TAG),
            )
        )
    definition = {"source": "mlflow", "experiment": experiment, "parameters": dict(sorted(kinds.items()))}
    return trials, definition, skipped


def _all_runs(client: Any, experiment_id: str) -> Iterable[Any]:
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], max_results=1000, page_token=token, order_by=["start_time"]
        )
        yield from page
        token = page.token
        if not token:
            return


def _parse(value: str) -> Any:
    """MLflow parameters are strings: read back numbers, booleans and None where they are."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(value, value)


# -- datasets -----------------------------------------------------------------------------------
def dataset_from_file(
    store: MetaStore,
    uploads_dir: Path,
    path: Path,
    target: str,
    task_type: TaskType | None,
    min_rows: int,
    max_columns: int,
) -> DatasetRecord:
    """The dataset the history was made on: added like an upload (or found, if stored already)."""
    raw = path.read_bytes()
    request = IntakeRequest(dataset_name(path.name), target, task_type)
    record, _ = ingest(store, uploads_dir, request, raw, parse_table(path.name, raw), min_rows, max_columns)
    return record


def dataset_from_tag(store: MetaStore, value: str) -> DatasetRecord:
    """A stored dataset named by a run's tag: its id or its content hash."""
    if value.isdigit():
        return store.get_dataset(int(value))
    found = store.find_dataset(value)
    if found is None:
        raise IntakeError(
            f"No stored dataset has id or content hash {value!r} (tag {DATASET_TAG}); "
            "add it first with `warmstart datasets add`, or pass --dataset FILE --target COL."
        )
    return found


def by_dataset(
    store: MetaStore, trials: list[Trial], given: DatasetRecord | None, skipped: Counter
) -> list[tuple[DatasetRecord, list[Trial]]]:
    """The trials per dataset: all on `given`, or each on the dataset its tag names (untagged
    trials are counted in `skipped`)."""
    if given is not None:
        return [(given, trials)] if trials else []
    records: dict[str, DatasetRecord] = {}
    groups: dict[int, list[Trial]] = {}
    for t in trials:
        if t.dataset is None:
            skipped[f"no {DATASET_TAG} tag"] += 1
            continue
        if t.dataset not in records:
            records[t.dataset] = dataset_from_tag(store, t.dataset)
        groups.setdefault(records[t.dataset].id, []).append(t)
    by_id = {r.id: r for r in records.values()}
    return [(by_id[i], group) for i, group in groups.items()]
