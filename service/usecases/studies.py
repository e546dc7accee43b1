"""Studies: create one, hand out the next configurations (zero-shot, then the knowledge base as a
mixture blended with the study's own GP, then the meta-learned surrogate, random where none
applies), and record results, also as knowledge-base evaluations."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from learners.recommenders.base import LOWER_IS_BETTER, default_metric
from learners.spaces import FAMILIES, InvalidConfigurationError, UnknownFamilyError, get_space
from metastore.errors import IdempotencyConflict
from metastore.records import DatasetRecord, TaskType
from metastore.sql import config_hash
from metastore.store import MetaStore
from metastore.studies import (
    OBSERVED,
    NewStudy,
    Observation,
    ObservationConflict,
    ProposedTrial,
    StudyRecord,
    StudyStore,
    TrialRecord,
)
from service.problems import InvalidRequest
from service.schemas import EvaluationIn
from service.schemas_studies import MAX_SUGGESTIONS, ObservationIn, StudyDetailOut, StudyIn
from service.usecases.recommend import PROTOCOL, RecommenderRegistry, knowledge_base, metrics_for, recommend
from service.usecases.report import report_evaluations

log = logging.getLogger("warmstart.studies")
#: The recommender whose ranking starts a study. The greedy ``portfolio`` beats ``learned`` as a
#: cold start (benchmarks/sequential.py and zero_shot.py, docs/studies.md): on the complete
#: knowledge base its top 5 reach regret 0.022 against learned's 0.040 (time-capped).
ZERO_SHOT_METHOD = "portfolio"
SURROGATE_METHOD = "surrogate/{family}"  # learner_models.method, per family
#: Trials after the zero-shot ones (numbers n_initial .. n_initial + TRANSFER_TRIALS - 1, every
#: trial of the study counted, pending and expired included) proposed from the stored pool by
#: the knowledge base as a mixture and the study's own per-family GP, blended by how well each
#: predicts the study's results (`learners.surrogate.blend.MixtureAndOwnGP`), source "transfer";
#: the meta-learned surrogates take over after them, or earlier when the pool of the study's
#: families is used up. 0 switches the phase off. 45 (to trial 50): on the complete knowledge
#: base (199 held-out datasets, benchmarks/sequential.py, session 13) the phase reaches regret
#: 0.0372 / 0.0180 / 0.0114 at 10 / 25 / 50 trials, the mixture alone 0.0471 / 0.0235 / 0.0135;
#: the networks right after the cold start did worse than the mixture (session 6,
#: docs/benchmarks/sequential.md).
TRANSFER_TRIALS = 45


# -- creating ---------------------------------------------------------------------------------
def create_study(
    store: MetaStore, studies: StudyStore, body: StudyIn, default_pending_timeout_s: float
) -> StudyRecord:
    """Check the request against the dataset and the families, and store the study; a request
    without `pending_timeout_s` gets `default_pending_timeout_s` (the server's setting)."""
    dataset = store.get_dataset(body.dataset_id)
    task_type = dataset.task_type
    metric = body.metric or default_metric(task_type)
    if metric not in metrics_for(task_type):
        raise InvalidRequest(
            f"Metric {metric!r} does not apply to {task_type}; "
            f"use one of {', '.join(metrics_for(task_type))}."
        )
    natural = "minimize" if metric in LOWER_IS_BETTER else "maximize"
    if body.direction is not None and body.direction != natural:
        raise InvalidRequest(f"{metric} is to {natural}, not {body.direction}; leave direction out.")
    if body.space == "auto":
        families = list(dict.fromkeys(body.families or FAMILIES))
    elif body.families is not None:
        raise InvalidRequest("families goes with space=auto; a family's space searches that family only.")
    else:
        families = [body.space]
    _space_ids(store, families, task_type)  # refuses an unknown family, stores each space once
    return studies.create_study(
        NewStudy(
            dataset_id=dataset.id,
            task_type=task_type,
            space=body.space,
            families=tuple(families),
            metric=metric,
            direction=natural,  # type: ignore[arg-type]
            n_initial=body.n_initial,
            seed=body.seed,
            name=body.name,
            pending_timeout_s=(
                default_pending_timeout_s if body.pending_timeout_s is None else body.pending_timeout_s
            ),
        )
    )


def _space_ids(store: MetaStore, families: Sequence[str], task_type: str) -> dict[str, int]:
    """The stored ids of warmstart's current spaces of `families` (each stored on first use)."""
    stored = {(s.family, s.task_type, s.version): s.id for s in store.list_search_spaces()}
    out = {}
    for family in families:
        try:
            space = get_space(family, task_type)
        except UnknownFamilyError as exc:
            raise InvalidRequest(
                f"Unknown family {family!r}; choose from {', '.join(FAMILIES)} or auto."
            ) from exc
        key = (family, task_type, str(space.version))
        if key not in stored:
            stored[key] = store.upsert_search_space(family, task_type, key[2], space.to_json()).id  # type: ignore[arg-type]
        out[family] = stored[key]
    return out


# -- the surrogates -----------------------------------------------------------------------------
def _load_surrogate(payload: bytes) -> Any:
    """A stored surrogate, or None when this code cannot read it (an older architecture or
    format): it is then meta-trained again, as if none were stored."""
    from learners.surrogate import MetaSurrogate

    try:
        return MetaSurrogate.from_bytes(payload)
    except ValueError as exc:
        log.warning("a stored surrogate cannot be read (%s); meta-training a new one", exc)
        return None


class SurrogateRegistry:
    """Meta-learned surrogates per (family, task type, metric), loaded from the stored learner
    models, or meta-trained on the knowledge base on first use (the missing families of a study
    together) and stored as new versions, so every replica serves the same surrogate.

    A family the knowledge base has no results for has no surrogate; that answer is kept until
    the knowledge changes. Thread-safe.
    """

    def __init__(self, store: MetaStore, params: dict[str, Any] | None = None) -> None:
        self.store = store
        self.params = dict(params or {})  # SurrogateParams overrides (smaller, faster ones in tests)
        self._cache: dict[tuple[str, str, str], tuple[Any, str]] = {}
        self._missing: dict[tuple[str, str, str], str] = {}  # key -> knowledge fingerprint
        self._lock = threading.Lock()
        self._transfer: dict[tuple[str, str], tuple[str, Transfer | None]] = {}  # fingerprint, model
        self._transfer_lock = threading.Lock()  # apart: building it never waits for meta-training
        self._warming: list[threading.Thread] = []
        self._warming_lock = threading.Lock()  # warm() and wait() come from different threads

    def get(self, families: Sequence[str], task_type: TaskType, metric: str) -> dict[str, tuple[Any, str]]:
        """family -> (surrogate, stored version) for each family that can have one."""
        if all((f, task_type, metric) in self._cache for f in families):
            return {f: self._cache[(f, task_type, metric)] for f in families}
        try:
            from learners.surrogate import MetaSurrogate  # noqa: F401  (is the optional package there?)
        except ImportError:  # the surrogate package is optional for the rest of the service
            return {}
        with self._lock:
            fingerprint = self.store.knowledge_fingerprint(PROTOCOL)
            todo = []
            for family in families:
                key = (family, task_type, metric)
                if key in self._cache or self._missing.get(key) == fingerprint:
                    continue
                stored = self.store.latest_learner_model(
                    SURROGATE_METHOD.format(family=family), task_type, metric
                )
                loaded = _load_surrogate(stored.payload) if stored is not None and stored.payload else None
                if loaded is not None:
                    self._cache[key] = (loaded, stored.version)  # type: ignore[union-attr]
                else:
                    todo.append(family)
            if todo:
                self._meta_train(todo, task_type, metric, fingerprint)
            return {
                f: self._cache[(f, task_type, metric)]
                for f in families
                if (f, task_type, metric) in self._cache
            }

    def cached(self, families: Sequence[str], task_type: TaskType, metric: str) -> dict[str, tuple[Any, str]]:
        """Those of `get` already in memory; never loads or trains."""
        return {f: self._cache[k] for f in families if (k := (f, task_type, metric)) in self._cache}

    def warm(self, families: Sequence[str], task_type: TaskType, metric: str) -> threading.Thread:
        """Load or meta-train in the background, so that the study's first surrogate suggestion
        (after the zero-shot trials) does not wait for it."""

        def run() -> None:
            try:
                if TRANSFER_TRIALS > 0:
                    self.transfer(task_type, metric)
                self.get(families, task_type, metric)
            except Exception:  # a later suggest retries and reports the error itself
                log.exception("warming the surrogates of %s failed", list(families))

        thread = threading.Thread(target=run, name="warm-surrogates", daemon=True)
        thread.start()
        with self._warming_lock:
            self._warming = [t for t in self._warming if t.is_alive()] + [thread]
        return thread

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` seconds in all for the background warm-ups (a server's shutdown
        does, so that no meta-training goes on using the database after it); True when none is
        left running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._warming_lock:
            threads = list(self._warming)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._warming_lock:
            self._warming = [t for t in self._warming if t.is_alive()]
            return not self._warming

    def transfer(self, task_type: TaskType, metric: str) -> Transfer | None:
        """The knowledge base of `task_type` and `metric` as a mixture, for the transfer phase;
        built again only when the knowledge changes. None where there is nothing to transfer
        (no results of this task type, or the optional surrogate package is missing)."""
        fingerprint = self.store.knowledge_fingerprint(PROTOCOL)
        cached = self._transfer.get((task_type, metric))
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        with self._transfer_lock:
            cached = self._transfer.get((task_type, metric))
            if cached is None or cached[0] != fingerprint:
                cached = (fingerprint, _build_transfer(self.store, task_type, metric, fingerprint))
                self._transfer[(task_type, metric)] = cached
            return cached[1]

    def cached_transfer(self, task_type: TaskType, metric: str) -> Transfer | None:
        """The last `transfer` built, whatever the knowledge now; never builds."""
        cached = self._transfer.get((task_type, metric))
        return None if cached is None else cached[1]

    def _meta_train(self, families: list[str], task_type: TaskType, metric: str, fingerprint: str) -> None:
        from learners.surrogate import meta_train_many

        try:
            kb, _, _ = knowledge_base(self.store, task_type, metric)
        except InvalidRequest:  # no results of this task type yet
            kb = None
        known = [f for f in families if kb is not None and f in kb.families]
        for family in set(families) - set(known):
            self._missing[(family, task_type, metric)] = fingerprint
        if not known:
            return
        started = time.perf_counter()
        try:
            trained = meta_train_many(kb, known, seed=0, **self.params)  # type: ignore[arg-type]
        except ValueError as exc:  # e.g. a family measured on no dataset
            log.warning("no surrogates for %s (%s); those studies sample at random", known, exc)
            for family in known:
                self._missing[(family, task_type, metric)] = fingerprint
            return
        seconds = time.perf_counter() - started
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        for family, surrogate in trained.items():
            version = f"{surrogate.version}-{metric}-{stamp}"
            facts = {
                "datasets": kb.n_datasets,  # type: ignore[union-attr]
                "families_trained_together": len(known),
                "fit_seconds": round(seconds, 3),
            }
            method = SURROGATE_METHOD.format(family=family)
            self.store.save_learner_model(
                method, task_type, metric, version, fingerprint, surrogate.to_bytes(), facts
            )
            self._cache[(family, task_type, metric)] = (surrogate, version)
        log.info("meta-trained surrogates of %s in %.1f s", known, seconds)


# -- the knowledge base as a mixture, and the study's own GP --------------------------------------
@dataclass
class Transfer:
    """The transfer phase's model of a knowledge base (`learners.surrogate.blend.MixtureAndOwnGP`),
    with what its columns are (family, values)."""

    blend: Any  # learners.surrogate.blend.MixtureAndOwnGP
    families: list[str]  # of each column
    values: list[dict[str, Any]]  # of each column
    task_type: str
    version: str  # of the knowledge it was built from
    _encoders: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def similarity(self) -> Any:  # learners.surrogate.transfer.ObservedSimilarity
        return self.blend.similarity

    def allowed(self, families: Sequence[str]) -> np.ndarray:
        """A mask of the columns of `families`."""
        return np.isin(np.asarray(self.families, dtype=object), list(families))

    def key(self, family: str, values: dict[str, Any]) -> str | None:
        """The `config_key` of a configuration as the columns are keyed; None if it cannot be one."""
        from learners.surrogate import config_key

        encoder = self._encoder(family)
        try:
            return None if encoder is None else config_key(family, encoder.canonical(values))
        except (InvalidConfigurationError, UnknownFamilyError):
            return None

    def encode(self, family: str, values: dict[str, Any]) -> np.ndarray | None:
        """A configuration's encoding, as the GP sees the columns; None for a family without
        columns or a configuration that cannot be encoded."""
        encoder = self._encoder(family) if family in self.blend.columns else None
        try:
            return None if encoder is None else encoder.encode([encoder.canonical(values)])[0]
        except (InvalidConfigurationError, ValueError, TypeError):
            return None

    def _encoder(self, family: str) -> Any:
        from learners.surrogate.encoding import SpaceEncoder

        if family not in self._encoders:
            try:
                self._encoders[family] = SpaceEncoder(family, self.task_type)  # type: ignore[arg-type]
            except (InvalidConfigurationError, UnknownFamilyError):
                self._encoders[family] = None
        return self._encoders[family]


def _build_transfer(store: MetaStore, task_type: TaskType, metric: str, fingerprint: str) -> Transfer | None:
    try:
        from learners.surrogate.blend import MixtureAndOwnGP
        from learners.surrogate.transfer import ObservedSimilarity
    except ImportError:  # the surrogate package is optional for the rest of the service
        return None
    try:
        kb, _, _ = knowledge_base(store, task_type, metric)
    except InvalidRequest:  # no results of this task type yet
        return None
    if kb.n_datasets == 0 or not kb.families:
        return None
    started = time.perf_counter()
    blend = MixtureAndOwnGP.of(kb, ObservedSimilarity.of(kb))
    log.info(
        "built the transfer model of %s/%s (%d datasets, %d configurations) in %.2f s",
        task_type, metric, kb.n_datasets, len(kb.families), time.perf_counter() - started,
    )  # fmt: skip
    return Transfer(blend, list(kb.families), list(kb.config_values), task_type, f"kb-{fingerprint[:12]}")


# -- suggesting ---------------------------------------------------------------------------------
@dataclass
class _Plan:
    """What a suggest call prepared before taking the study's lock (reads, model loading)."""

    study: StudyRecord
    spaces: dict[str, int]
    zero_shot: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    zero_shot_version: str | None = None
    transfer: Transfer | None = None  # None: no transfer phase in this call
    surrogates: dict[str, tuple[Any, str]] = field(default_factory=dict)
    consulted: bool = False  # whether a proposal asked the surrogates (named in the answer then)


def suggest(
    store: MetaStore,
    studies: StudyStore,
    recommenders: RecommenderRegistry,
    surrogates: SurrogateRegistry,
    study_id: int,
    n: int,
) -> dict[str, Any]:
    """The answer of POST /v1/studies/{id}/suggest: `n` new trials, none handed out before."""
    if not 1 <= n <= MAX_SUGGESTIONS:
        raise InvalidRequest(f"n must be between 1 and {MAX_SUGGESTIONS}, not {n}.")
    study = studies.get_study(study_id)
    plan = _plan(store, recommenders, surrogates, study, n)
    # Propose outside the lock (the surrogate takes up to seconds, and SQLite's write lock
    # holds the whole database); under the lock, keep it only if no trial was added (or
    # expired) since, else propose again there, seeing the newcomers.
    seen = studies.trials(study_id)
    early = _propose(plan, study, seen, n)

    def propose(locked: StudyRecord, trials: list[TrialRecord]) -> list[ProposedTrial]:
        if _snapshot(trials) == _snapshot(seen):
            return early
        return _propose(plan, locked, trials, n)

    trials = studies.suggest(study_id, propose)
    return {
        "study_id": study_id,
        "suggestions": trials,
        "zero_shot_version": plan.zero_shot_version,
        "surrogate_versions": {f: v for f, (_, v) in plan.surrogates.items()} if plan.consulted else {},
    }


def _snapshot(trials: list[TrialRecord]) -> list[tuple[int, bool]]:
    return [(t.id, t.state == "expired") for t in trials]


def _plan(
    store: MetaStore,
    recommenders: RecommenderRegistry,
    surrogates: SurrogateRegistry,
    study: StudyRecord,
    n: int,
) -> _Plan:
    dataset = store.get_dataset(study.dataset_id)
    plan = _Plan(study, _space_ids(store, study.families, study.task_type))
    if study.n_trials < study.n_initial:
        # Enough picks to skip the ones pending or observed already, whatever other workers took.
        plan.zero_shot, plan.zero_shot_version = _zero_shot(recommenders, dataset, study, study.n_initial + n)
    # The surrogates are needed from this trial on, unless they are needed sooner (below).
    surrogates_from = study.n_initial
    if TRANSFER_TRIALS > 0 and study.n_trials < study.n_initial + TRANSFER_TRIALS:
        if study.n_trials + n > study.n_initial:
            transfer = surrogates.transfer(study.task_type, study.metric)  # type: ignore[arg-type]
        else:  # other workers may end the zero-shot trials first: use it if it is ready
            transfer = surrogates.cached_transfer(study.task_type, study.metric)  # type: ignore[arg-type]
        columns = 0 if transfer is None else int(transfer.allowed(study.families).sum())
        if columns:
            plan.transfer = transfer
            surrogates_from = study.n_initial + TRANSFER_TRIALS
            if columns < study.n_trials + n:  # the study's pool may run out in this call
                surrogates_from = study.n_trials
    if study.n_trials + n > surrogates_from:
        plan.surrogates = surrogates.get(study.families, study.task_type, study.metric)  # type: ignore[arg-type]
    else:  # other workers may end the zero-shot trials first: use the surrogates if they are ready
        plan.surrogates = surrogates.cached(study.families, study.task_type, study.metric)  # type: ignore[arg-type]
    return plan


def _zero_shot(
    recommenders: RecommenderRegistry, dataset: DatasetRecord, study: StudyRecord, k: int
) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
    try:
        answer = recommend(recommenders, dataset, k, ZERO_SHOT_METHOD, study.metric, list(study.families))
    except InvalidRequest as exc:  # no knowledge yet for this task type or these families
        log.info("study %d: no zero-shot picks (%s); sampling at random", study.id, exc.detail)
        return [], None
    picks = [(p["family"], p["hyperparameters"]) for p in answer["recommendations"]]
    return picks, answer["model_version"]


class _Proposals:
    """The proposals of one suggest call, never a configuration the study holds already."""

    def __init__(self, plan: _Plan, trials: list[TrialRecord]) -> None:
        self.plan = plan
        self.task_type = plan.study.task_type
        self.taken = {(t.family, config_hash(t.hyperparameters)) for t in trials}
        self.items: list[ProposedTrial] = []

    def add(
        self, family: str, values: dict[str, Any], source: str, version: str | None = None, **extra: Any
    ) -> bool:
        if family not in self.plan.spaces:
            return False
        try:
            values = get_space(family, self.task_type).validate(values)
        except InvalidConfigurationError as exc:
            log.warning("study %d: skipped an invalid %s proposal: %s", self.plan.study.id, source, exc)
            return False
        key = (family, config_hash(values))
        if key in self.taken:
            return False
        self.taken.add(key)
        self.items.append(ProposedTrial(self.plan.spaces[family], family, values, source, version, **extra))
        return True


def _propose(plan: _Plan, study: StudyRecord, trials: list[TrialRecord], n: int) -> list[ProposedTrial]:
    """Configurations that none of `trials` holds (`suggest` makes sure they are all the study's)."""
    out = _Proposals(plan, trials)
    for family, values in plan.zero_shot:
        if len(out.items) >= n or len(trials) + len(out.items) >= study.n_initial:
            break
        out.add(family, values, "zero_shot", plan.zero_shot_version)
    if plan.transfer is not None:
        _add_transfer(out, plan.transfer, study, trials, n)
    if len(out.items) < n and plan.surrogates:
        for s in _surrogate_suggestions(plan, study, trials, out.items, n - len(out.items)):
            if len(out.items) >= n:
                break
            out.add(
                s.family,
                s.config,
                "surrogate",
                plan.surrogates[s.family][1],
                acquisition=s.acquisition,
                predicted_mean=s.mean,
                predicted_std=s.std,
            )
    _fill_at_random(out, study, len(trials), n)
    return out.items


def _add_transfer(
    out: _Proposals, transfer: Transfer, study: StudyRecord, trials: list[TrialRecord], n: int
) -> None:
    """The transfer phase's picks, one at a time by the blended expected improvement of the
    knowledge base as a mixture and the study's own GP, each pick pending for the next; stops at
    the phase's end, at `n`, or when no column of the study's families is left."""
    end = study.n_initial + TRANSFER_TRIALS
    if len(out.items) >= n or len(trials) + len(out.items) >= end:
        return
    similarity = transfer.similarity
    allowed = transfer.allowed(study.families)
    observations, pending = surrogate_evidence(study, trials, set(study.families))
    observed, outside = _scaled_observations(transfer, observations)
    pending_keys: list[str] = []
    outside_pending: list[tuple[str, np.ndarray]] = []

    def believe(family: str, values: dict[str, Any]) -> None:
        """A pending configuration: known in every stored dataset, believed by the GP."""
        key = transfer.key(family, values)
        if key in similarity.column:
            pending_keys.append(key)  # type: ignore[arg-type]
        elif (x := transfer.encode(family, values)) is not None:
            outside_pending.append((family, x))

    for family, values in pending + [(p.family, p.values) for p in out.items]:
        believe(family, values)
    # Everything the study holds is out, expired trials included (neither observed nor pending).
    for t in trials:
        if (j := similarity.column.get(transfer.key(t.family, t.hyperparameters))) is not None:
            allowed[j] = False
    while len(out.items) < n and len(trials) + len(out.items) < end:
        blended = transfer.blend.evaluate(observed, pending_keys, outside=outside,
                                          outside_pending=outside_pending)  # fmt: skip
        gain = np.where(allowed, blended.gain, -np.inf)
        j = int(np.argmax(gain))
        if not np.isfinite(gain[j]):
            return  # the pool of the study's families is used up
        allowed[j] = False
        mean, std = float(blended.mean[j]), float(blended.std[j])
        if out.add(
            transfer.families[j],
            transfer.values[j],
            "transfer",
            transfer.version,
            acquisition=float(gain[j]),
            predicted_mean=mean if np.isfinite(mean) else None,
            predicted_std=std if np.isfinite(std) and np.isfinite(mean) else None,
        ):
            pending_keys.append(similarity.keys[j])


def _scaled_observations(
    transfer: Transfer, observations: list[tuple[str, dict[str, Any], float | None]]
) -> tuple[dict[str, float], list[tuple[str, np.ndarray, float]]]:
    """The observations scaled as the surrogates scale them (`learners.surrogate.scale_scores`):
    {config_key: score} of those in the pool (min-max over them, a failure the worst, as the
    stored scores are scaled over the same columns), and (family, encoding, score) of the others
    the GP can encode, on the same scale (a failure at the worst of all)."""
    from learners.surrogate import scale_scores

    inside: list[tuple[str, float | None]] = []
    others: list[tuple[str, np.ndarray, float | None]] = []
    for family, values, score in observations:
        if (key := transfer.key(family, values)) in transfer.similarity.column:
            inside.append((key, score))  # type: ignore[arg-type]
        elif (x := transfer.encode(family, values)) is not None:
            others.append((family, x, score))
    observed = dict(zip([k for k, _ in inside], scale_scores([s for _, s in inside]), strict=True))
    finite_in = [float(s) for _, s in inside if s is not None and np.isfinite(s)]
    finite = finite_in + [float(s) for *_, s in others if s is not None and np.isfinite(s)]
    if not others or not finite:
        return observed, [(f, x, 0.0) for f, x, _ in others]
    if max(finite_in, default=0.0) > min(finite_in, default=0.0):  # the pool's scale
        lo, span = min(finite_in), max(finite_in) - min(finite_in)
    else:  # none yet: the top of the pool's (or of all) at 1, the span of all
        span = (max(finite) - min(finite)) or 1.0
        lo = max(finite_in or finite) - span
    scaled = [None if s is None or not np.isfinite(s) else (float(s) - lo) / span for *_, s in others]
    worst = min([0.0] + [y for y in scaled if y is not None])
    return observed, [(f, x, worst if y is None else y) for (f, x, _), y in zip(others, scaled, strict=True)]


def _surrogate_suggestions(
    plan: _Plan, study: StudyRecord, trials: list[TrialRecord], chosen: list[ProposedTrial], n: int
) -> list[Any]:
    from learners.surrogate import suggest as surrogate_suggest

    plan.consulted = True

    families = set(plan.surrogates)
    observations, pending = surrogate_evidence(study, trials, families)
    pending += [(p.family, p.values) for p in chosen if p.family in families]
    cold = [(f, v) for f, v in plan.zero_shot if f in families]
    try:
        return surrogate_suggest(
            {f: s for f, (s, _) in plan.surrogates.items()},
            observations,
            n,
            pending=pending,
            cold_start=cold,
            seed=study.seed + len(trials),
        )
    except ValueError as exc:
        log.warning("study %d: the surrogate could not propose (%s); sampling at random", study.id, exc)
        return []


def surrogate_evidence(
    study: StudyRecord, trials: Sequence[TrialRecord], families: set[str]
) -> tuple[list[tuple[str, dict[str, Any], float | None]], list[tuple[str, dict[str, Any]]]]:
    """The surrogate's inputs from the trials of `families`: observations (family, configuration,
    score to maximise; None for a failure) and pending configurations, which it believes at its
    predicted mean. An expired trial is neither: no result, and no worker is still on it."""
    sign = 1.0 if study.direction == "maximize" else -1.0  # the surrogate maximises
    mine = [t for t in trials if t.family in families]
    observations = [
        (t.family, t.hyperparameters, None if t.score is None else sign * t.score)
        for t in mine
        if t.state in OBSERVED
    ]
    pending = [(t.family, t.hyperparameters) for t in mine if t.state == "pending"]
    return observations, pending


def _fill_at_random(out: _Proposals, study: StudyRecord, start: int, n: int) -> None:
    """Each family's library default first, then seeded random points, round robin over families."""
    families = list(out.plan.spaces)
    attempt = 0
    while len(out.items) < n and attempt < 50 * n:
        family = families[(start + attempt) % len(families)]
        space = get_space(family, study.task_type)
        if not out.add(family, space.default(), "random"):
            space.configspace.seed(study.seed * 100_003 + start * 101 + attempt)
            out.add(family, space.to_dict(space.configspace.sample_configuration()), "random")
        attempt += 1


# -- observing ----------------------------------------------------------------------------------
def observe(
    store: MetaStore, studies: StudyStore, study_id: int, body: ObservationIn
) -> tuple[TrialRecord, bool]:
    """Record a trial's result in the study and, as an evaluation, in the knowledge base.

    Both writes are idempotent under a key made of the study and trial, so a resend (after a lost
    answer, or a crash between the two writes) stores each once; a different result is refused.
    """
    study = studies.get_study(study_id)
    trial = studies.get_trial(study_id, body.trial_id)
    metrics = {k: v for k, v in body.metrics.items() if v is not None}
    if body.score is not None:
        if metrics.get(study.metric, body.score) != body.score:
            raise InvalidRequest(
                f"score {body.score} and metrics.{study.metric} {metrics[study.metric]} disagree; send one."
            )
        metrics[study.metric] = body.score
    score = metrics.get(study.metric)
    if body.status == "ok" and score is None:
        raise InvalidRequest(
            f"A successful trial needs the study's metric {study.metric!r}: send score, or "
            f"metrics.{study.metric}; report a failure with status=failed."
        )
    item = EvaluationIn(
        dataset_id=study.dataset_id,
        configuration_id=trial.configuration_id,
        protocol=body.protocol,
        metrics=metrics,
        status=body.status,
        fit_time=body.fit_time,
        predict_time=body.predict_time,
        error=body.error,
        source="study",
    )
    try:
        [stored] = report_evaluations(store, [item], f"study-{study_id}-trial-{trial.id}")
    except IdempotencyConflict as exc:
        raise ObservationConflict(trial.id) from exc
    state = "ok" if body.status == "ok" else "failed"
    return studies.observe(
        study_id,
        trial.id,
        Observation(
            state=state,  # type: ignore[arg-type]
            score=score if state == "ok" else None,
            metrics=metrics,
            fit_time=body.fit_time,
            error=body.error,
            evaluation_id=stored.record.id,
        ),
    )


# -- reading --------------------------------------------------------------------------------------
def study_detail(studies: StudyStore, study_id: int) -> StudyDetailOut:
    """The answer of GET /v1/studies/{id}: the study, its trajectory and its best trial."""
    study = studies.get_study(study_id)
    steps, best = trajectory(study, studies.trials(study_id))
    return StudyDetailOut.build(study, steps, best)


def trajectory(
    study: StudyRecord, trials: Sequence[TrialRecord]
) -> tuple[list[tuple[TrialRecord, float | None]], TrialRecord | None]:
    """Each trial with the best score up to it, and the best trial (the first of equals)."""
    sign = 1.0 if study.direction == "maximize" else -1.0
    best: TrialRecord | None = None
    out = []
    for t in trials:
        if t.score is not None and (best is None or sign * t.score > sign * best.score):  # type: ignore[operator]
            best = t
        out.append((t, None if best is None else best.score))
    return out, best
