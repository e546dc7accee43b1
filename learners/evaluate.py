"""The evaluation harness: a versioned protocol, splits, metrics and time-limited fits."""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import cache, partial
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, StratifiedShuffleSplit
from threadpoolctl import threadpool_limits

from learners.isolation import run_many
from learners.spaces import get_space

Status = Literal["ok", "failed", "timeout"]
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss")
REGRESSION_METRICS = ("r2", "rmse", "mae")
_PROBA_EPS = 1e-15
_WARMUP_ROWS = 40


@dataclass(frozen=True)
class Protocol:
    """How a configuration is scored on a dataset; any change needs a new ``version``.

    The defaults are the knowledge base's protocol ``kb-v1`` (``SWEEP_PROTOCOL``), so that a
    user's own evaluations compare with the stored ones.

    ``kind='holdout'`` splits once per seed (stratified for classification, ``test_size`` of
    the rows for testing); ``kind='kfold'`` runs ``n_splits`` folds per seed. A holdout protocol
    switches to ``n_splits``-fold cross-validation on datasets of at most ``kfold_max_rows`` rows,
    where a single small test set would make scores too noisy (0 turns this off). Training sets are
    capped at ``max_train_rows`` and test sets at ``max_test_rows`` by a seeded (stratified)
    subsample, identical for every configuration. Each fit (with its prediction) runs in a
    forked child killed after ``time_limit_s`` CPU seconds, or 30x that in wall-clock time
    (``isolation='fork'``, see ``learners.isolation``); ``isolation='none'`` runs in-process
    without a limit (for platforms without fork, and for debugging).
    """

    name: str = "kb"
    version: int = 1
    kind: Literal["holdout", "kfold"] = "holdout"
    test_size: float = 1 / 3
    n_splits: int = 3
    kfold_max_rows: int = 500
    seeds: tuple[int, ...] = (0,)
    max_train_rows: int = 1000
    max_test_rows: int = 1000
    time_limit_s: float = 10.0
    isolation: Literal["fork", "none"] = "fork"

    def __post_init__(self) -> None:
        if self.kind not in ("holdout", "kfold"):
            raise ValueError(f"Protocol.kind={self.kind!r}; use 'holdout' or 'kfold'")
        if not 0 < self.test_size < 1:
            raise ValueError(f"Protocol.test_size={self.test_size}; use a value in (0, 1)")
        if not self.seeds:
            raise ValueError("Protocol.seeds is empty; give at least one seed")

    @property
    def id(self) -> str:
        return f"{self.name}-v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seeds"] = list(self.seeds)
        out["id"] = self.id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Protocol:
        """Inverse of ``to_dict`` (``id`` is derived, so ignored); unknown keys raise."""
        values = {k: v for k, v in data.items() if k != "id"}
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown protocol settings {sorted(unknown)}; see Protocol's fields")
        if "seeds" in values:
            values["seeds"] = tuple(values["seeds"])
        return cls(**values)


#: The protocol of the shipped knowledge base; docs/knowledge-base.md gives the measurements
#: behind the caps, the k-fold threshold and the time limit.
SWEEP_PROTOCOL = Protocol()
DEFAULT_PROTOCOL = SWEEP_PROTOCOL


@dataclass
class EvaluationResult:
    """One (dataset, configuration) cell; a failure or time-out is a result too."""

    family: str
    task_type: str
    config: dict[str, Any]
    protocol: str
    status: Status
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    fit_time_s: float = math.nan
    predict_time_s: float = math.nan
    fit_cpu_s: float = math.nan
    predict_cpu_s: float = math.nan
    peak_memory_mb: float = math.nan
    n_train: int = 0
    n_test: int = 0
    n_fits: int = 0
    config_name: str | None = None
    space_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Flat record: metric columns are ``metric_<name>``, NaN where not measured."""
        out = {k: v for k, v in asdict(self).items() if k != "metrics"}
        names = CLASSIFICATION_METRICS if self.task_type == "classification" else REGRESSION_METRICS
        for name in names:
            out[f"metric_{name}"] = float(self.metrics.get(name, math.nan))
        return out


# --- splits -----------------------------------------------------------------------------------


def _cap(idx: np.ndarray, cap: int, y: np.ndarray | None, seed: int) -> np.ndarray:
    """At most ``cap`` of ``idx``, stratified by ``y`` when it can be, sorted."""
    if len(idx) <= cap:
        return idx
    rng = np.random.default_rng(seed)
    if y is not None:
        try:
            splitter = StratifiedShuffleSplit(n_splits=1, train_size=cap, random_state=seed)
            keep, _ = next(splitter.split(idx, y[idx]))
            return np.sort(idx[keep])
        except ValueError:
            pass  # some class too small to stratify; fall back to a plain sample
    return np.sort(rng.choice(idx, size=cap, replace=False))


def make_splits(
    y: np.ndarray, task_type: str, protocol: Protocol
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(seed, train, test) index triples; classes with one row always go to training.

    Cross-validation when the protocol is k-fold or the data has at most ``kfold_max_rows``
    rows, a holdout otherwise; the same triples for every configuration.
    """
    n = len(y)
    strat = task_type == "classification"
    rows = np.arange(n)
    if strat:
        _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        single = counts[inverse] == 1
        fixed, rows = rows[single], rows[~single]
    else:
        fixed = rows[:0]
    kfold = protocol.kind == "kfold" or n <= protocol.kfold_max_rows
    out = []
    for seed in protocol.seeds:
        labels = y[rows] if strat else None
        for tr, te in _raw_splits(rows, labels, protocol, seed, kfold):
            train = np.sort(np.concatenate([rows[tr], fixed]))
            test = rows[te]
            yy = y if strat else None
            out.append(
                (
                    seed,
                    _cap(train, protocol.max_train_rows, yy, seed),
                    _cap(test, protocol.max_test_rows, yy, seed + 1),
                )
            )
    return out


def _raw_splits(
    rows: np.ndarray, labels: np.ndarray | None, protocol: Protocol, seed: int, kfold: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    if not kfold:
        plain = ShuffleSplit(n_splits=1, test_size=protocol.test_size, random_state=seed)
        strat = StratifiedShuffleSplit(n_splits=1, test_size=protocol.test_size, random_state=seed)
    else:
        plain = KFold(n_splits=protocol.n_splits, shuffle=True, random_state=seed)
        strat = StratifiedKFold(n_splits=protocol.n_splits, shuffle=True, random_state=seed)
    if labels is not None:
        try:
            return list(strat.split(rows, labels))
        except ValueError:
            pass  # too few rows per class to stratify
    return list(plain.split(rows))


# --- metrics ----------------------------------------------------------------------------------


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    scores: np.ndarray | None,
    is_proba: bool,
    n_classes: int,
) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC (binary, or one-vs-rest mean) and log loss.

    ``scores`` has one column per class code ``0..n_classes-1`` (NaN where the model never saw
    the class). ROC AUC averages the classes with both positives and negatives in ``y_true``;
    log loss is NaN unless ``is_proba``.
    """
    out = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "roc_auc": math.nan,
        "log_loss": math.nan,
    }
    if scores is None:
        return out
    aucs = []
    for k in range(n_classes):
        positive = y_true == k
        if 0 < positive.sum() < len(y_true) and np.isfinite(scores[:, k]).all():
            aucs.append(skm.roc_auc_score(positive, scores[:, k]))
        if n_classes == 2:
            break  # binary AUC is the positive class's; class 0's is the same number
    if n_classes == 2 and aucs:
        out["roc_auc"] = float(aucs[0])
    elif aucs:
        out["roc_auc"] = float(np.mean(aucs))
    if is_proba:
        proba = np.nan_to_num(scores, nan=0.0)
        proba = np.clip(proba, _PROBA_EPS, 1.0)
        proba /= proba.sum(axis=1, keepdims=True)
        out["log_loss"] = float(skm.log_loss(y_true, proba, labels=np.arange(n_classes)))
    return out


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R2 (NaN when the test target is constant), RMSE and MAE."""
    r2 = skm.r2_score(y_true, y_pred) if np.ptp(y_true) > 0 else math.nan
    return {
        "r2": float(r2),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
    }


# --- one fit ----------------------------------------------------------------------------------


def _status_mb(key: str) -> float:
    """A ``Vm*`` line of /proc/self/status in MiB (NaN where there is no procfs)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


@cache
def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None  # not glibc: growth is then a lower bound


def _trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc) so the RSS base is the live memory.

    Without it, memory freed by an earlier fit in the same worker process is reused silently
    and a fit's growth reads as 0.
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _reset_peak() -> None:
    """Reset the peak-RSS mark (Linux >= 4.0) so VmHWM measures this fit alone."""
    _trim_heap()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _scores(model: Any, X: pd.DataFrame, seen: np.ndarray, n_classes: int) -> tuple[Any, bool]:
    """Per-class scores on the full code range: probabilities if the model has them."""
    if hasattr(model, "predict_proba"):
        raw, is_proba = model.predict_proba(X), True
    elif hasattr(model, "decision_function"):
        raw, is_proba = model.decision_function(X), False
        if raw.ndim == 1:
            raw = np.column_stack([-raw, raw])
    else:
        return None, False
    full = np.full((len(X), n_classes), 0.0 if is_proba else np.nan)
    full[:, seen] = raw
    return full, is_proba


def _fit_once(
    space: Any,
    config: Mapping[str, Any],
    column_types: Mapping[str, str],
    X: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    n_classes: int,
) -> dict[str, Any]:
    """Fit on ``train`` and score on ``test``; runs inside the time-limited child."""
    with threadpool_limits(limits=1):  # one core per fit: OpenMP/BLAS in the libraries too
        return _fit_once_single_thread(space, config, column_types, X, y, train, test, seed, n_classes)


def _fit_once_single_thread(
    space: Any,
    config: Mapping[str, Any],
    column_types: Mapping[str, str],
    X: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    n_classes: int,
) -> dict[str, Any]:
    _reset_peak()
    rss0 = _status_mb("VmRSS")
    model = space.build(config, column_types, seed)
    X_train, X_test, y_train = X.iloc[train], X.iloc[test], y[train]
    clf = space.task_type == "classification"
    if clf:  # codes seen in training, re-coded 0..k-1 (xgboost needs contiguous labels)
        seen, y_train = np.unique(y_train, return_inverse=True)
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(X_train, y_train)
    fit_time, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    pred = model.predict(X_test)
    if clf:
        pred = seen[np.asarray(pred, dtype=int)]
        scores, is_proba = _scores(model, X_test, seen, n_classes)
    predict_time, predict_cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _status_mb("VmHWM")
    metrics = (
        classification_metrics(y[test], pred, scores, is_proba, n_classes)
        if clf
        else regression_metrics(y[test], pred)
    )
    return {
        "metrics": metrics,
        "fit_time_s": fit_time,
        "predict_time_s": predict_time,
        "fit_cpu_s": fit_cpu,
        "predict_cpu_s": predict_cpu,
        "peak_memory_mb": max(0.0, peak - rss0),
    }  # growth over the resident base


# --- the harness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One configuration to evaluate: its family, hyperparameter values and optional name."""

    family: str
    config: Mapping[str, Any]
    name: str | None = None


def prepare_target(y: Sequence[Any] | np.ndarray, task_type: str) -> tuple[np.ndarray, int]:
    """Class labels as codes 0..K-1 (K returned) or a float regression target (K = 0)."""
    y = np.asarray(y)
    if task_type == "classification":
        _, codes = np.unique(y, return_inverse=True)
        return codes.astype(np.int64), int(codes.max()) + 1
    if task_type == "regression":
        return y.astype(np.float64), 0
    raise ValueError(f"task_type={task_type!r}; use 'classification' or 'regression'")


def _as_frame(X: Any, column_types: Mapping[str, str]) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        missing = [c for c in column_types if c not in X.columns]
        if missing:
            raise ValueError(f"columns {missing} of column_types are not in X; pass X's columns")
        return X.reset_index(drop=True)
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[1] != len(column_types):
        raise ValueError(f"X has shape {arr.shape} but column_types names {len(column_types)} columns")
    return pd.DataFrame(arr, columns=list(column_types))


def evaluate(
    X: pd.DataFrame | np.ndarray,
    y: Sequence[Any] | np.ndarray,
    column_types: Mapping[str, str],
    task_type: str,
    family: str,
    config: Mapping[str, Any],
    protocol: Protocol = DEFAULT_PROTOCOL,
    *,
    config_name: str | None = None,
) -> EvaluationResult:
    """Score one configuration of ``family`` on (X, y) under ``protocol``.

    Raises InvalidConfigurationError / UnknownFamilyError for a configuration or family that
    does not exist (a caller's mistake); anything that goes wrong while fitting or predicting
    is returned as ``status='failed'`` with its message, an overrun as ``status='timeout'``.
    Metrics are means over the protocol's splits; times are means per fit.
    """
    cell = Cell(family, config, config_name)
    return evaluate_many(X, y, column_types, task_type, [cell], protocol)[0]


def evaluate_many(
    X: pd.DataFrame | np.ndarray,
    y: Sequence[Any] | np.ndarray,
    column_types: Mapping[str, str],
    task_type: str,
    cells: Sequence[Cell],
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> list[EvaluationResult]:
    """``evaluate`` for several configurations on one dataset, sharing one worker process.

    Every cell sees the same splits; each fit has the protocol's time limit; after a fit of a
    cell fails or times out, that cell's remaining fits are skipped.
    """
    spaces = [get_space(c.family, task_type) for c in cells]
    values = [s.validate(c.config) for s, c in zip(spaces, cells, strict=True)]
    frame = _as_frame(X, column_types)
    codes, n_classes = prepare_target(y, task_type)
    splits = make_splits(codes, task_type, protocol)
    types = dict(column_types)
    fns, warm, groups = [], [], []
    for k, (space, vals) in enumerate(zip(spaces, values, strict=True)):
        fit = partial(_fit_once, space, vals, types, frame, codes)
        for seed, train, test in splits:
            fns.append(partial(fit, train, test, seed, n_classes))
            # a few rows fitted once per worker, unmeasured: lazy imports and library
            # initialisation (~15-20 MB, tenths of a second) are then no cell's cost
            warm.append(partial(fit, train[:_WARMUP_ROWS], test[:_WARMUP_ROWS], seed, n_classes))
            groups.append(k)
    outcomes = run_many(fns, groups, protocol.time_limit_s, protocol.isolation, lambda i: warm[i]())
    per_cell = len(splits)
    return [
        _aggregate(
            EvaluationResult(
                c.family, task_type, vals, protocol.id, "ok", config_name=c.name, space_version=space.version
            ),
            outcomes[k * per_cell : (k + 1) * per_cell],
            splits,
            protocol,
        )
        for k, (c, vals, space) in enumerate(zip(cells, values, spaces, strict=True))
    ]


def _aggregate(
    result: EvaluationResult, outcomes: list, splits: list, protocol: Protocol
) -> EvaluationResult:
    result.n_train = int(np.mean([len(tr) for _, tr, _ in splits]))
    result.n_test = int(np.mean([len(te) for _, _, te in splits]))
    result.n_fits = sum(status != "skipped" for status, _ in outcomes)
    for status, payload in outcomes:
        if status == "failed":
            result.status, result.error = "failed", payload
            return result
        if status == "timeout":
            result.status = "timeout"
            result.error = f"fit + predict exceeded the per-fit time limit of {protocol.time_limit_s:g} s"
            return result
    runs = [payload for _, payload in outcomes]
    names = runs[0]["metrics"]
    result.metrics = {k: float(np.mean([r["metrics"][k] for r in runs])) for k in names}
    result.fit_time_s = float(np.mean([r["fit_time_s"] for r in runs]))
    result.predict_time_s = float(np.mean([r["predict_time_s"] for r in runs]))
    result.fit_cpu_s = float(np.mean([r["fit_cpu_s"] for r in runs]))
    result.predict_cpu_s = float(np.mean([r["predict_cpu_s"] for r in runs]))
    result.peak_memory_mb = float(max(r["peak_memory_mb"] for r in runs))
    return result
