"""Recommendations: the knowledge base from the metastore, fitted recommenders (cached, versioned)."""

from __future__ import annotations

import io
import logging
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from learners.evaluate import SWEEP_PROTOCOL
from learners.recommenders import (
    METHODS,
    KnowledgeBase,
    Recommender,
    default_metric,
    from_records,
    load,
    make,
)
from metastore.records import DatasetRecord, TaskType
from metastore.store import MetaStore
from service.problems import InvalidRequest

log = logging.getLogger("warmstart.recommend")
PROTOCOL = SWEEP_PROTOCOL.id  # only results under the knowledge base's protocol are comparable
CLASSIFICATION_METRICS = ("balanced_accuracy", "accuracy", "roc_auc", "log_loss")
REGRESSION_METRICS = ("r2", "rmse", "mae")


@dataclass(frozen=True)
class Fitted:
    recommender: Recommender
    version: str
    fingerprint: str
    datasets: dict[str, DatasetRecord]  # by content hash (the knowledge base's dataset keys)
    configurations: dict[str, int]  # configuration key -> stored configuration id


def metrics_for(task_type: str) -> tuple[str, ...]:
    return CLASSIFICATION_METRICS if task_type == "classification" else REGRESSION_METRICS


def knowledge_base(
    store: MetaStore, task_type: TaskType, metric: str
) -> tuple[KnowledgeBase, dict[str, DatasetRecord], dict[str, int]]:
    """The evaluation matrix of `task_type` under the knowledge base's protocol, from the store."""
    vectors = {r.content_hash: (r, v) for r, v in store.all_metafeatures(task_type)}
    by_id = {r.id: r for r, _ in vectors.values()}
    configs = {c.id: c for c in store.list_configurations() if c.task_type == task_type}
    rows = []
    for e in store.list_evaluations(protocol=PROTOCOL):
        d, c = by_id.get(e.dataset_id), configs.get(e.configuration_id)
        if d is None or c is None:
            continue
        rows.append(
            {
                "dataset": d.content_hash,
                "origin_group": d.origin_group or d.name,
                "task_type": task_type,
                "family": c.family,
                "config_name": config_key(c),
                "config": c.values,
                "status": e.status,
                f"metric_{metric}": e.metrics.get(metric, float("nan")),
                "fit_time_s": e.fit_time if e.fit_time is not None else float("nan"),
                "n_rows": d.n_rows,
                "n_features": d.n_features,
            }
        )
    if not rows:
        raise InvalidRequest(
            f"The knowledge base holds no {task_type} results under protocol {PROTOCOL} yet. "
            "Load one (`warmstart kb load`) or build it (`warmstart kb build`)."
        )
    frame = pd.DataFrame(rows)
    kb = from_records(frame, {h: v.values for h, (_, v) in vectors.items()}, task_type, metric)
    return kb, {h: r for h, (r, _) in vectors.items()}, {config_key(c): c.id for c in configs.values()}


def knowledge_base_from_file(path: Path, task_type: TaskType, metric: str | None = None) -> KnowledgeBase:
    """The evaluation matrix of a knowledge-base file (`warmstart kb export`), the same matrix the
    service builds after loading the file (same configuration keys, same protocol filter), read
    straight from the file: what benchmarks use to measure the shipped knowledge. Dataset keys
    are the datasets' names."""
    from metastore.kb.bundle import read_kb
    from metastore.upgrades import upgrade_file_entries

    kb_file = read_kb(path)
    datasets = {d["content_hash"]: d for d in kb_file.header["datasets"] if d["task_type"] == task_type}
    # as load_kb does: a file from before a space gained a hyperparameter reads as the newer version
    header = kb_file.header
    _, configurations, moved = upgrade_file_entries(header["spaces"], header["configurations"])
    values = {(c["family"], str(c["space_version"]), c["hash"]): c["values"]
              for c in configurations if c["task_type"] == task_type}
    frame = kb_file.evaluations.to_pandas()
    frame = frame[(frame["protocol"] == PROTOCOL) & frame["dataset"].isin(list(datasets))]
    if frame.empty:
        raise ValueError(f"{path} holds no {task_type} results under protocol {PROTOCOL}")
    cells = zip(frame["family"], frame["task_type"], frame["space_version"].astype(str), frame["config"],
                strict=True)
    keys = [(family, version, digest) for family, _, version, digest in (moved.get(c, c) for c in cells)]
    frame = frame.assign(
        config_name=[f"{family}/{digest}" for family, _, digest in keys],
        config=[values[key] for key in keys],
        origin_group=[datasets[h].get("origin_group") or datasets[h]["name"] for h in frame["dataset"]],
        n_rows=[int(datasets[h]["n_rows"]) for h in frame["dataset"]],
        n_features=[int(datasets[h]["n_features"]) for h in frame["dataset"]],
        fit_time_s=frame["fit_time"].astype(float),
        dataset=[datasets[h]["name"] for h in frame["dataset"]],
    )
    vectors = {d["name"]: d["metafeatures"]["values"] for d in datasets.values() if d.get("metafeatures")}
    return from_records(frame, vectors, task_type, metric or default_metric(task_type))


def config_key(c) -> str:  # type: ignore[no-untyped-def]
    """Stable across metastores; the family is part of it because two families' spaces can hold
    the same values (random forest and extra trees share their hyperparameters)."""
    return f"{c.family}/{c.config_hash}"


class RecommenderRegistry:
    """Fitted recommenders per (method, task type, metric), refreshed when the knowledge changes.

    `learned` is served from the latest stored model (made by `warmstart learners fit`); when none
    is stored it is fitted once and stored. The cheap methods are refitted whenever the knowledge
    base's fingerprint changes. Thread-safe.
    """

    #: Seconds a knowledge fingerprint is trusted before it is read again: recommendations may
    #: lag a new result by this much, and a busy server reads it once per window, not per request.
    FINGERPRINT_TTL_S = 1.0

    def __init__(self, store: MetaStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str, str], Fitted] = {}
        self._lock = threading.Lock()
        self._fingerprint: tuple[float, str] | None = None
        self._latest: tuple[float, dict[tuple[str, str, str], str]] | None = None

    def fingerprint(self) -> str:
        now = time.monotonic()
        if self._fingerprint is None or now - self._fingerprint[0] > self.FINGERPRINT_TTL_S:
            self._fingerprint = (now, self.store.knowledge_fingerprint(PROTOCOL))
        return self._fingerprint[1]

    def get(self, method: str, task_type: TaskType, metric: str) -> Fitted:
        key = (method, task_type, metric)
        fingerprint = self.fingerprint()
        cached = self._cache.get(key)
        # Cheap methods follow the knowledge; `learned` follows the stored models.
        fresh = cached is not None and (
            cached.fingerprint == fingerprint if method != "learned" else not self._newer_stored(cached, key)
        )
        if fresh:
            return cached  # type: ignore[return-value]
        with self._lock:
            fitted = self._load_or_fit(method, task_type, metric, fingerprint)
            self._cache[key] = fitted
            return fitted

    def _newer_stored(self, cached: Fitted, key: tuple[str, str, str]) -> bool:
        latest = self._latest_versions().get(key)
        return latest is not None and latest != cached.version

    def _latest_versions(self) -> dict[tuple[str, str, str], str]:
        """The newest stored model version per (method, task type, metric), read at most once per
        FINGERPRINT_TTL_S: a newly fitted model is picked up within that window."""
        now = time.monotonic()
        if self._latest is None or now - self._latest[0] > self.FINGERPRINT_TTL_S:
            versions: dict[tuple[str, str, str], str] = {}
            for m in self.store.list_learner_models():  # newest first
                versions.setdefault((m.method, m.task_type, m.metric), m.version)
            self._latest = (now, versions)
        return self._latest[1]

    def _load_or_fit(self, method: str, task_type: TaskType, metric: str, fingerprint: str) -> Fitted:
        kb, datasets, configs = knowledge_base(self.store, task_type, metric)
        stored = self.store.latest_learner_model(method, task_type, metric) if method == "learned" else None
        if stored is not None and stored.payload is not None:
            return Fitted(unpack(stored.payload), stored.version, fingerprint, datasets, configs)
        return fit_and_store(self.store, method, task_type, metric, kb, fingerprint, datasets, configs)


def fit_and_store(
    store: MetaStore,
    method: str,
    task_type: TaskType,
    metric: str,
    kb: KnowledgeBase,
    fingerprint: str,
    datasets: dict[str, DatasetRecord],
    configs: dict[str, int],
) -> Fitted:
    started = time.perf_counter()
    recommender = make(method).fit(kb)
    seconds = time.perf_counter() - started
    version = f"{method}-{task_type}-{metric}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{fingerprint[:8]}"
    facts = {"datasets": kb.n_datasets, "configurations": kb.n_configs, "fit_seconds": round(seconds, 3)}
    store.save_learner_model(method, task_type, metric, version, fingerprint, pack(recommender), facts)
    log.info("fitted %s on %d datasets in %.1f s (%s)", method, kb.n_datasets, seconds, version)
    return Fitted(recommender, version, fingerprint, datasets, configs)


def pack(recommender: Recommender) -> bytes:
    """A fitted recommender's saved folder (JSON + safetensors) as zip bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = recommender.save(Path(tmp) / "model")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.iterdir()):
                zf.write(f, f.name)
        return buf.getvalue()


def unpack(payload: bytes) -> Recommender:
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(payload)) as zf:
        zf.extractall(tmp)
        return load(tmp)


def recommend(
    registry: RecommenderRegistry,
    dataset: DatasetRecord,
    k: int,
    method: str = "learned",
    metric: str | None = None,
    families: list[str] | None = None,
    time_budget_s: float | None = None,
) -> dict[str, Any]:
    """The answer of POST /v1/recommendations for a stored dataset."""
    if method not in METHODS:
        raise InvalidRequest(f"Unknown method {method!r}; choose from {', '.join(METHODS)}.")
    metric = metric or default_metric(dataset.task_type)
    if metric not in metrics_for(dataset.task_type):
        raise InvalidRequest(
            f"Metric {metric!r} does not apply to {dataset.task_type}; use one of "
            f"{', '.join(metrics_for(dataset.task_type))}."
        )
    if dataset.metafeatures is None:
        raise InvalidRequest(f"Dataset {dataset.id} has no meta-features yet; re-upload it.")
    fitted = registry.get(method, dataset.task_type, metric)
    known = set(fitted.recommender.kb_.families)
    if families and (unknown := sorted(set(families) - known)):
        raise InvalidRequest(f"Unknown families {unknown}; the knowledge base has {sorted(known)}.")
    try:
        picks = fitted.recommender.recommend(
            dataset.metafeatures.values,
            k=k,
            families=families,
            time_budget_s=time_budget_s,
            n_rows=dataset.n_rows,
            n_features=dataset.n_features,
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    return {
        "dataset_id": dataset.id,
        "task_type": dataset.task_type,
        "method": method,
        "model_version": fitted.version,
        "metric": metric,
        "k": k,
        "time_budget_s": time_budget_s,
        "recommendations": [_pick(rank, p, fitted, dataset) for rank, p in enumerate(picks, 1)],
    }


def _pick(rank: int, p, fitted: Fitted, dataset: DatasetRecord) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    similar = []
    for key, similarity, score in p.support:
        record = fitted.datasets.get(key)
        if record is None or record.id == dataset.id:
            continue
        similar.append(
            {
                "dataset_id": record.id,
                "name": record.name,
                "similarity": similarity,
                "normalised_score": score,
            }
        )
    return {
        "rank": rank,
        "configuration_id": fitted.configurations[p.config_key],
        "family": p.family,
        "hyperparameters": p.hyperparameters,
        "expected_score": round(p.expected_score, 4),
        "uncertainty": round(p.uncertainty, 4),
        "predicted_fit_time": round(p.predicted_fit_time, 4),
        "explanation": {"similar_datasets": similar},
    }
