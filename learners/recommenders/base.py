"""The knowledge base container, the recommendation record and the common recommender base."""

from __future__ import annotations

import abc
import contextlib
import json
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from safetensors.numpy import load_file, save_file

from learners.spaces import get_space

#: Files a saved recommender folder holds.
STATE_JSON = "recommender.json"
ARRAYS_FILE = "arrays.safetensors"
#: Metrics where a lower value is better; every other metric is higher-is-better.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
#: Meta-features used to explain a pick (similarity) are min-max scaled then compared with L1.
SUPPORT_SIZE = 3
#: Fit times below this are measurement noise; the fit-time model floors them here.
MIN_SECONDS = 1e-3


# --- the knowledge base -------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    """Evaluations of one pool of configurations on many datasets of one task type.

    ``scores[i, j]`` is the raw metric of configuration j on dataset i (NaN where never run or
    failed); ``fit_times`` the mean seconds per fit (NaN where unknown). Failures should be NaN
    or the dataset's worst score: ``normalised`` maps both to 0 through ``normalised(fill=0)``.
    """

    task_type: str
    dataset_keys: list[str]
    groups: list[str]
    metafeature_names: list[str]
    metafeatures: np.ndarray
    n_rows: np.ndarray
    n_features: np.ndarray
    config_keys: list[Any]
    families: list[str]
    config_values: list[dict]
    scores: np.ndarray
    fit_times: np.ndarray
    metric: str
    higher_is_better: bool

    def __post_init__(self) -> None:
        n, m = len(self.dataset_keys), len(self.config_keys)
        shapes = {
            "groups": (len(self.groups),), "metafeatures": self.metafeatures.shape,
            "n_rows": self.n_rows.shape, "n_features": self.n_features.shape,
            "families": (len(self.families),), "config_values": (len(self.config_values),),
            "scores": self.scores.shape, "fit_times": self.fit_times.shape,
        }
        wanted = {
            "groups": (n,), "metafeatures": (n, len(self.metafeature_names)), "n_rows": (n,),
            "n_features": (n,), "families": (m,), "config_values": (m,), "scores": (n, m),
            "fit_times": (n, m),
        }
        wrong = {k: (shapes[k], wanted[k]) for k in wanted if tuple(shapes[k]) != wanted[k]}
        if wrong:
            raise ValueError(f"KnowledgeBase fields have shapes (got, wanted) {wrong}; "
                             f"every per-dataset field needs {n} rows, per-config {m} entries")
        if self.task_type not in ("classification", "regression"):
            raise ValueError(f"task_type={self.task_type!r}; use 'classification' or 'regression'")

    @property
    def n_datasets(self) -> int:
        return len(self.dataset_keys)

    @property
    def n_configs(self) -> int:
        return len(self.config_keys)

    def subset(self, dataset_idx: Sequence[int] | np.ndarray) -> KnowledgeBase:
        """The same pool on the datasets at ``dataset_idx`` (in that order)."""
        idx = np.asarray(dataset_idx, dtype=int)
        return KnowledgeBase(
            self.task_type, [self.dataset_keys[i] for i in idx], [self.groups[i] for i in idx],
            list(self.metafeature_names), self.metafeatures[idx], self.n_rows[idx],
            self.n_features[idx], list(self.config_keys), list(self.families),
            list(self.config_values), self.scores[idx], self.fit_times[idx], self.metric,
            self.higher_is_better,
        )

    def with_configs(self, config_idx: Sequence[int] | np.ndarray) -> KnowledgeBase:
        """The same datasets with only the configurations at ``config_idx`` (in that order)."""
        idx = np.asarray(config_idx, dtype=int)
        return KnowledgeBase(
            self.task_type, list(self.dataset_keys), list(self.groups), list(self.metafeature_names),
            self.metafeatures, self.n_rows, self.n_features, [self.config_keys[j] for j in idx],
            [self.families[j] for j in idx], [self.config_values[j] for j in idx],
            self.scores[:, idx], self.fit_times[:, idx], self.metric, self.higher_is_better,
        )

    def normalised(self, fill: float | None = 0.0) -> np.ndarray:
        """Scores min-max scaled per dataset: 1 is the best of the pool there, 0 the worst.

        Missing or failed cells become ``fill`` (0: a failure is as bad as the worst; None keeps
        NaN). A dataset whose scores are all equal maps to 1 everywhere it was measured.
        """
        return normalise_rows(self.scores, self.higher_is_better, fill)

    def metafeature_vector(self, metafeatures: Mapping[str, float | None]) -> np.ndarray:
        """A dict of meta-features aligned to ``metafeature_names`` (NaN where absent)."""
        return align(metafeatures, self.metafeature_names)

    def to_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able fields and numpy arrays: what ``from_arrays`` reads back (no pickle)."""
        meta = {
            "task_type": self.task_type, "dataset_keys": list(self.dataset_keys),
            "groups": list(self.groups), "metafeature_names": list(self.metafeature_names),
            "config_keys": list(self.config_keys), "families": list(self.families),
            "config_values": list(self.config_values), "metric": self.metric,
            "higher_is_better": self.higher_is_better,
        }
        arrays = {
            "metafeatures": np.asarray(self.metafeatures, dtype=np.float64),
            "n_rows": np.asarray(self.n_rows, dtype=np.float64),
            "n_features": np.asarray(self.n_features, dtype=np.float64),
            "scores": np.asarray(self.scores, dtype=np.float64),
            "fit_times": np.asarray(self.fit_times, dtype=np.float64),
        }
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> KnowledgeBase:
        return cls(meta["task_type"], list(meta["dataset_keys"]), list(meta["groups"]),
                   list(meta["metafeature_names"]), arrays["metafeatures"], arrays["n_rows"],
                   arrays["n_features"], list(meta["config_keys"]), list(meta["families"]),
                   list(meta["config_values"]), arrays["scores"], arrays["fit_times"],
                   meta["metric"], bool(meta["higher_is_better"]))


def normalise_rows(scores: np.ndarray, higher_is_better: bool, fill: float | None = 0.0) -> np.ndarray:
    """Per-row min-max scaling of a score matrix (see ``KnowledgeBase.normalised``)."""
    s = np.asarray(scores, dtype=float)
    s = s if higher_is_better else -s
    with np.errstate(all="ignore"), quiet_nan_warnings():
        lo, hi = np.nanmin(s, axis=1, keepdims=True), np.nanmax(s, axis=1, keepdims=True)
        span = hi - lo
        out = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)
    out[np.isnan(s)] = np.nan
    if fill is not None:
        out = np.where(np.isnan(out), fill, out)
    return out


@contextlib.contextmanager
def quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's all-NaN-slice warnings (a dataset with no measured cell is legitimate)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def align(metafeatures: Mapping[str, float | None], names: Sequence[str]) -> np.ndarray:
    """Values of ``metafeatures`` in the order of ``names``; NaN for absent or non-finite ones."""
    out = np.full(len(names), np.nan)
    for j, name in enumerate(names):
        value = metafeatures.get(name)
        if value is not None and math.isfinite(float(value)):
            out[j] = float(value)
    return out


def from_records(
    records: Any, metafeatures: Mapping[str, Mapping[str, float | None]], task_type: str,
    metric: str | None = None,
) -> KnowledgeBase:
    """A knowledge base from sweep records (``learners.sweep.read_shards``) and meta-feature dicts.

    ``records`` is a DataFrame with columns dataset, origin_group, task_type, family,
    config_name, config (JSON), status, metric_<metric>, fit_time_s, n_rows, n_features. Datasets
    without meta-features are left out. A failed or timed-out cell scores the dataset's worst.
    """
    metric = metric or default_metric(task_type)
    column = f"metric_{metric}"
    frame = records[records["task_type"] == task_type]
    frame = frame[frame["dataset"].isin(list(metafeatures))]
    if column not in frame.columns:
        raise ValueError(f"records have no column {column!r}; metrics for {task_type} are "
                         f"{[c for c in records.columns if c.startswith('metric_')]}")
    if frame.empty:
        raise ValueError(f"no {task_type} records with meta-features; have "
                         f"{sorted(records['task_type'].unique())} and {len(metafeatures)} vectors")
    configs = frame.drop_duplicates("config_name").sort_values(["family", "config_name"])
    datasets = frame.drop_duplicates("dataset").sort_values("dataset")
    ci = {name: j for j, name in enumerate(configs["config_name"])}
    di = {name: i for i, name in enumerate(datasets["dataset"])}
    scores = np.full((len(di), len(ci)), np.nan)
    times = np.full_like(scores, np.nan)
    rows, cols = frame["dataset"].map(di).to_numpy(), frame["config_name"].map(ci).to_numpy()
    ok = (frame["status"] == "ok").to_numpy()
    scores[rows[ok], cols[ok]] = frame[column].to_numpy()[ok]
    times[rows, cols] = frame["fit_time_s"].to_numpy()
    higher = metric not in LOWER_IS_BETTER
    scores = _failures_to_worst(scores, rows[~ok], cols[~ok], higher)
    names = sorted({n for v in metafeatures.values() for n in v})
    mf = np.stack([align(metafeatures[d], names) for d in datasets["dataset"]])
    return KnowledgeBase(
        task_type, list(datasets["dataset"]), list(datasets["origin_group"]), names, mf,
        datasets["n_rows"].to_numpy(dtype=float), datasets["n_features"].to_numpy(dtype=float),
        list(configs["config_name"]), list(configs["family"]),
        [json.loads(c) if isinstance(c, str) else dict(c) for c in configs["config"]],
        scores, times, metric, higher,
    )


def _failures_to_worst(scores: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                       higher: bool) -> np.ndarray:
    with quiet_nan_warnings():
        worst = np.nanmin(scores, axis=1) if higher else np.nanmax(scores, axis=1)
    scores = scores.copy()
    scores[rows, cols] = worst[rows]
    return scores


def default_metric(task_type: str) -> str:
    """The metric recommenders optimise unless told otherwise."""
    return "balanced_accuracy" if task_type == "classification" else "r2"


# --- recommendations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    """One recommended configuration, with what the recommender expects of it and why.

    expected_score is a normalised score in [0, 1] (1 = the best of the pool on a dataset);
    support holds (dataset key, similarity in [0, 1], normalised score there) for the most
    similar prior datasets.
    """

    config_index: int
    config_key: Any
    family: str
    hyperparameters: dict
    expected_score: float
    uncertainty: float
    predicted_fit_time: float
    support: list[tuple[str, float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config_index": self.config_index, "config_key": self.config_key,
            "family": self.family, "hyperparameters": dict(self.hyperparameters),
            "expected_score": self.expected_score, "uncertainty": self.uncertainty,
            "predicted_fit_time": self.predicted_fit_time,
            "support": [list(s) for s in self.support],
        }


class NotFittedError(RuntimeError):
    """A recommender used before ``fit`` (or ``load``)."""


# --- fit-time model -----------------------------------------------------------------------------


#: Meta-features besides the size that fit time scales with: the number of classes (boosting
#: and one-vs-rest models fit one model per class) and the distinct values of the categorical
#: columns (the one-hot width the preprocessing adds). Missing (regression, no categoricals): 0.
TIME_METAFEATURES = ("nr_class", "symbols.sum")


def size_features(n_rows: np.ndarray, n_features: np.ndarray, n_classes: Any = None,
                  n_symbols: Any = None) -> np.ndarray:
    """[1, log rows, log features, their product, log classes, log one-hot width]: what fit time
    scales with (the last two 0 where unknown)."""
    r, f = np.log1p(np.asarray(n_rows, float)), np.log1p(np.asarray(n_features, float))

    def extra(values: Any, floor: float, transform: Any) -> np.ndarray:
        v = np.zeros_like(r) if values is None else np.asarray(values, float) * np.ones_like(r)
        return np.where(np.isfinite(v), transform(np.maximum(np.nan_to_num(v), floor)), 0.0)

    c, s = extra(n_classes, 1.0, np.log), extra(n_symbols, 0.0, np.log1p)
    return np.stack([np.ones_like(r), r, f, r * f, c, s], axis=-1)


def time_extras(names: Sequence[str], values: Any) -> list[Any]:
    """The ``TIME_METAFEATURES`` columns (or entries, for a mapping) of meta-feature ``values``."""
    if isinstance(values, Mapping):
        return [values.get(n) for n in TIME_METAFEATURES]
    return [values[..., list(names).index(n)] if n in names else None for n in TIME_METAFEATURES]


def time_group(family: str, values: Mapping[str, Any]) -> str:
    """The group whose size slopes a configuration's fit time shares: its family, with the
    class-weighted configurations apart. Weighted fits can scale otherwise: HistGradientBoosting
    bins with sample weights (scikit-learn 1.9), which grows with the continuous features and
    took the balanced twin up to 18x its unweighted twin's time in the knowledge base."""
    return f"{family}+balanced" if values.get("class_weight") == "balanced" else family


def fit_time_model(kb: KnowledgeBase, ridge: float = 1.0, max_cells: int = 30_000,
                   shrink: float = 10.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-configuration offsets, per-group size slopes and per-configuration spreads of log fit
    time (ridge least squares).

    log(seconds) = offset[config] + size_features(rows, features, classes, one-hot width) @
    slope[group] (seconds floored at ``MIN_SECONDS``; the group is ``time_group``: the family,
    class-weighted configurations apart). Returns offsets (n_configs,), slopes (n_configs, 6):
    each configuration's group slope, spread (n_configs,): the standard
    deviation of each configuration's residuals, shrunk towards its group's with weight
    ``shrink`` cells (what a cap in seconds must allow for), and relative spread (n_configs,):
    the same of the residuals less their dataset's mean residual (what a cap relative to other
    configurations' time on the same dataset must allow for: a dataset slow for every
    configuration, or a machine slow when it was measured, moves both sides alike).
    """
    of = [time_group(f, v) for f, v in zip(kb.families, kb.config_values, strict=True)]
    groups = sorted(set(of))
    group_idx = np.array([groups.index(g) for g in of])
    X = size_features(kb.n_rows, kb.n_features,
                      *time_extras(kb.metafeature_names, kb.metafeatures))
    rows, cols = np.nonzero(np.isfinite(kb.fit_times))
    if len(rows) > max_cells:  # a seeded sample keeps the dense design small for large KBs
        keep = np.sort(np.random.default_rng(0).choice(len(rows), max_cells, replace=False))
        rows, cols = rows[keep], cols[keep]
    y = np.log(np.maximum(kb.fit_times[rows, cols], MIN_SECONDS))
    m, q, ng = kb.n_configs, X.shape[1], len(groups)
    if len(rows) == 0:
        return np.full(m, math.log(MIN_SECONDS)), np.zeros((m, q)), np.zeros(m), np.zeros(m)
    design = np.zeros((len(rows), m + ng * q))
    design[np.arange(len(rows)), cols] = 1.0
    for k in range(q):
        design[np.arange(len(rows)), m + group_idx[cols] * q + k] = X[rows, k]
    penalty = np.full(m + ng * q, ridge)
    penalty[m::q] = 1e3  # the group intercept duplicates the offsets: keep it at 0
    coef = np.linalg.solve(design.T @ design + np.diag(penalty), design.T @ y)
    slopes = coef[m:].reshape(ng, q)[group_idx]
    residual = y - design @ coef
    n_cfg = np.bincount(cols, minlength=m)
    group_n = np.maximum(np.bincount(group_idx[cols], minlength=ng), 1)

    def spread_of(r: np.ndarray) -> np.ndarray:
        ss_cfg = np.bincount(cols, weights=r ** 2, minlength=m)
        group_var = (np.bincount(group_idx[cols], weights=r ** 2, minlength=ng) / group_n)[group_idx]
        return np.sqrt((ss_cfg + shrink * group_var) / (n_cfg + shrink))

    per_dataset = np.bincount(rows, weights=residual, minlength=kb.n_datasets) / np.maximum(
        np.bincount(rows, minlength=kb.n_datasets), 1)
    return coef[:m], slopes, spread_of(residual), spread_of(residual - per_dataset[rows])


def predict_fit_times(offsets: np.ndarray, slopes: np.ndarray, n_rows: float,
                      n_features: float, n_classes: Any = None, n_symbols: Any = None) -> np.ndarray:
    """Predicted seconds per fit of every configuration on a dataset of this size (a model
    saved with fewer size features uses the first ones)."""
    x = size_features(np.array([n_rows]), np.array([n_features]), n_classes, n_symbols)[0]
    return np.exp(np.clip(offsets + slopes @ x[:slopes.shape[1]], math.log(MIN_SECONDS), 12.0))


# --- the base -----------------------------------------------------------------------------------


_REGISTRY: dict[str, type[Recommender]] = {}


class Recommender(abc.ABC):
    """Fit on a knowledge base, then recommend k configurations for a new dataset.

    scikit-learn conventions: ``__init__`` only stores arguments, ``fit`` validates and returns
    self, fitted state ends in ``_``. Subclasses implement ``_fit`` and ``_rank``; the base
    handles meta-feature alignment, family filters, time budgets, fit-time predictions and the
    explanation (support) of each pick, and saving/loading (JSON + safetensors, never pickle).
    """

    name: ClassVar[str] = "base"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.name] = cls

    def get_params(self) -> dict[str, Any]:
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    @property
    def version(self) -> str:
        """``<method>-<12 hex digits>``: changes whenever the parameters or the knowledge base do."""
        self._check_fitted()
        if hasattr(self, "version_"):
            return self.version_
        return f"{self.name}-{fingerprint(self.kb_, self.get_params())}"

    # -- fitting --

    def fit(self, kb: KnowledgeBase) -> Recommender:
        if kb.n_datasets == 0 or kb.n_configs == 0:
            raise ValueError(f"the knowledge base has {kb.n_datasets} datasets and {kb.n_configs} "
                             "configurations; fit needs at least one of each")
        self.kb_ = kb
        self.norm_ = kb.normalised(fill=0.0)
        self._scaled_cache = None
        self._fit_shared(kb)
        self._fit(kb)
        return self

    def _fit_shared(self, kb: KnowledgeBase) -> None:
        mf = kb.metafeatures
        with quiet_nan_warnings():
            self.mf_min_ = np.nan_to_num(np.nanmin(mf, axis=0), nan=0.0)
            self.mf_max_ = np.nan_to_num(np.nanmax(mf, axis=0), nan=0.0)
        (self.time_offsets_, self.time_slopes_, self.time_spread_,
         self.time_relative_spread_) = fit_time_model(kb)

    @abc.abstractmethod
    def _fit(self, kb: KnowledgeBase) -> None:
        """Method-specific fitting; set attributes ending in ``_``."""

    @abc.abstractmethod
    def _rank(self, x: np.ndarray, allowed: np.ndarray, k: int, times: np.ndarray,
              budget: float | None) -> list[tuple[int, float, float]]:
        """Up to k (config index, expected normalised score, uncertainty), best first.

        ``x`` is the aligned meta-feature vector, ``allowed`` a boolean mask over configurations,
        ``times`` the predicted seconds per configuration and ``budget`` the total seconds the
        picks may take (None: no limit). Use ``take_within_budget`` for a ranking-then-cut method.
        """

    # -- recommending --

    def recommend(
        self, metafeatures: Mapping[str, float | None], k: int = 5,
        families: Sequence[str] | None = None, time_budget_s: float | None = None,
        n_rows: int | None = None, n_features: int | None = None,
    ) -> list[Recommendation]:
        """The k configurations to try first on a dataset with these meta-features, best first.

        ``n_rows``/``n_features`` default to the meta-features ``nr_inst``/``nr_attr``; they
        drive the fit-time predictions that ``time_budget_s`` (total seconds) is checked against.
        Raises NotFittedError before fit and ValueError for k < 1 or unknown families.
        """
        self._check_fitted()
        if k < 1:
            raise ValueError(f"k={k}; ask for at least one recommendation")
        x = self.kb_.metafeature_vector(metafeatures)
        rows, cols = self._size(metafeatures, n_rows, n_features)
        times = predict_fit_times(self.time_offsets_, self.time_slopes_, rows, cols,
                                  *time_extras(self.kb_.metafeature_names, metafeatures))
        allowed = self._family_mask(families)
        picks = self._rank(x, allowed, k, times, time_budget_s)
        support = self._support(x)
        return [self._record(j, e, u, times[j], support) for j, e, u in picks]

    def _check_fitted(self) -> None:
        if not hasattr(self, "kb_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(kb) or load(path)")

    def _size(self, mf: Mapping[str, float | None], n_rows: int | None,
              n_features: int | None) -> tuple[float, float]:
        rows = n_rows if n_rows is not None else mf.get("nr_inst")
        cols = n_features if n_features is not None else mf.get("nr_attr")
        rows = float(rows) if rows is not None and math.isfinite(float(rows)) else float(
            np.median(self.kb_.n_rows))
        cols = float(cols) if cols is not None and math.isfinite(float(cols)) else float(
            np.median(self.kb_.n_features))
        return rows, cols

    def _family_mask(self, families: Sequence[str] | None) -> np.ndarray:
        fams = np.array(self.kb_.families)
        if families is None:
            return np.ones(len(fams), dtype=bool)
        unknown = sorted(set(families) - set(fams))
        if unknown:
            raise ValueError(f"families {unknown} are not in the knowledge base; "
                             f"choose from {sorted(set(fams))}")
        return np.isin(fams, list(families))

    def scaled(self, matrix: np.ndarray) -> np.ndarray:
        """Meta-features min-max scaled by the knowledge base's ranges (NaN kept)."""
        span = np.where(self.mf_max_ > self.mf_min_, self.mf_max_ - self.mf_min_, 1.0)
        return np.clip((matrix - self.mf_min_) / span, -1.0, 2.0)

    def _scaled_kb(self) -> tuple[np.ndarray, np.ndarray]:
        """The KB's scaled meta-features with NaN as 0, and the mask of present values (1/0).

        Derived from fitted state, so computed once per process rather than saved.
        """
        if getattr(self, "_scaled_cache", None) is None:
            scaled = self.scaled(self.kb_.metafeatures)
            present = ~np.isnan(scaled)
            self._scaled_cache = (
                np.ascontiguousarray(np.where(present, scaled, 0.0)),
                np.ascontiguousarray(present, dtype=np.float64),
            )
        return self._scaled_cache

    def mean_l1_distance(self, x: np.ndarray) -> np.ndarray:
        """Mean absolute difference of min-max scaled meta-features to every KB dataset, over the
        meta-features both sides have (inf where none is shared)."""
        values, present = self._scaled_kb()
        b = self.scaled(x[None, :])[0]
        cols = np.flatnonzero(~np.isnan(b))
        # three passes over the (datasets x features present) block, no NaN bookkeeping per request
        diff = np.abs(values[:, cols] - b[cols])
        mask = present[:, cols]
        diff *= mask
        total, shared = diff.sum(axis=1), mask.sum(axis=1)
        with np.errstate(all="ignore"):
            return np.where(shared > 0, total / shared, np.inf)

    def similarity(self, x: np.ndarray) -> np.ndarray:
        """1 - mean absolute difference of min-max scaled meta-features to every KB dataset
        (0 for a dataset that shares no meta-feature)."""
        return np.clip(1.0 - self.mean_l1_distance(x), 0.0, 1.0)

    def _support(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sim = self.similarity(x)
        return top_indices(sim, SUPPORT_SIZE), sim

    def _record(self, j: int, expected: float, unc: float, seconds: float,
                support: tuple[np.ndarray, np.ndarray]) -> Recommendation:
        near, sim = support
        kb = self.kb_
        why = [(str(kb.dataset_keys[i]), round(float(sim[i]), 4), round(float(self.norm_[i, j]), 4))
               for i in near]
        return Recommendation(int(j), kb.config_keys[j], kb.families[j], dict(kb.config_values[j]),
                              float(np.clip(expected, 0.0, 1.0)), float(unc), float(seconds), why)

    # -- persistence --

    def save(self, path: str | Path) -> Path:
        """Write the fitted recommender to folder ``path`` (JSON + safetensors); return it."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        kb_meta, kb_arrays = self.kb_.to_arrays()
        state, arrays = self._get_state()
        shared = {"mf_min_": self.mf_min_, "mf_max_": self.mf_max_,
                  "time_offsets_": self.time_offsets_, "time_slopes_": self.time_slopes_,
                  "time_spread_": self.time_spread_, "time_relative_spread_": self.time_relative_spread_}
        tensors = {f"kb.{k}": v for k, v in kb_arrays.items()}
        tensors.update({f"shared.{k}": np.ascontiguousarray(v) for k, v in shared.items()})
        tensors.update({f"state.{k}": np.ascontiguousarray(v) for k, v in arrays.items()})
        save_file(tensors, str(path / ARRAYS_FILE))
        doc = {"method": self.name, "params": self.get_params(), "kb": kb_meta, "state": state}
        (path / STATE_JSON).write_text(json.dumps(doc, indent=1, default=_json_default))
        return path

    @staticmethod
    def load(path: str | Path) -> Recommender:
        """Read a folder written by ``save``; returns the fitted recommender of the saved method."""
        path = Path(path)
        if not (path / STATE_JSON).exists():
            raise FileNotFoundError(f"{path / STATE_JSON} not found; save a fitted recommender there")
        doc = json.loads((path / STATE_JSON).read_text())
        if doc["method"] not in _REGISTRY:
            raise ValueError(f"saved method {doc['method']!r} unknown; have {sorted(_REGISTRY)}")
        tensors = load_file(str(path / ARRAYS_FILE))
        part = {p: {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(p + ".")}
                for p in ("kb", "shared", "state")}
        rec = _REGISTRY[doc["method"]](**doc["params"])
        rec.kb_ = KnowledgeBase.from_arrays(doc["kb"], part["kb"])
        rec.norm_ = rec.kb_.normalised(fill=0.0)
        rec._scaled_cache = None
        rec.time_spread_ = np.zeros(rec.kb_.n_configs)  # saved before the spread was kept
        for k, v in part["shared"].items():
            setattr(rec, k, v)
        if "time_relative_spread_" not in part["shared"]:  # saved before it was kept
            rec.time_relative_spread_ = rec.time_spread_
        rec._set_state(doc["state"], part["state"])
        return rec

    def _get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Method-specific fitted state: JSON-able values and numpy arrays."""
        return {}, {}

    def _set_state(self, state: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        for k, v in arrays.items():
            setattr(self, k, v)


def top_indices(values: np.ndarray, m: int) -> np.ndarray:
    """Indices of the m largest values, largest first, ties by index: what
    ``np.argsort(-values, kind="stable")[:m]`` gives, in O(n) instead of O(n log n)."""
    n = len(values)
    if m >= n:
        return np.argsort(-values, kind="stable")
    kth = np.partition(values, n - m)[n - m]  # the m-th largest
    candidates = np.flatnonzero(values >= kth)  # ascending index: ties keep index order below
    return candidates[np.argsort(-values[candidates], kind="stable")][:m]


def fingerprint(kb: KnowledgeBase, params: Mapping[str, Any]) -> str:
    """12 hex digits of a hash of the parameters, the scores, meta-features and configurations."""
    import hashlib

    digest = hashlib.sha256(json.dumps(dict(params), sort_keys=True, default=str).encode())
    for arr in (kb.scores, kb.metafeatures):
        digest.update(np.ascontiguousarray(np.nan_to_num(arr, nan=-1e300), dtype=float).tobytes())
    digest.update(json.dumps([str(k) for k in kb.config_keys]).encode())
    return digest.hexdigest()[:12]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to JSON")


def take_within_budget(order: Sequence[int], allowed: np.ndarray, k: int, times: np.ndarray,
                       budget: float | None) -> list[int]:
    """The first k allowed indices of ``order`` whose predicted times keep the total in budget."""
    out: list[int] = []
    spent = 0.0
    for j in order:
        if len(out) == k:
            break
        if not allowed[j] or j in out:
            continue
        if budget is not None and spent + times[j] > budget:
            continue
        out.append(int(j))
        spent += float(times[j])
    return out


def is_library_default(task_type: str, family: str, values: Mapping[str, Any], key: Any) -> bool:
    """Whether a configuration is its family's library default (by name, else by values)."""
    if isinstance(key, str) and key.endswith("-default"):
        return True
    try:
        return get_space(family, task_type).default() == dict(values)
    except ValueError:
        return False


def load(path: str | Path) -> Recommender:
    """Load any saved recommender (see ``Recommender.save``)."""
    return Recommender.load(path)
