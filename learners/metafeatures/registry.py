"""Registry of meta-features and the shared helpers they depend on, and the resolver that runs them."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASK_TYPES = (CLASSIFICATION, REGRESSION)
BOTH = frozenset(TASK_TYPES)
GROUPS = ("general", "statistical", "info_theory", "landmarking")
SUMMARY_STATS = ("min", "max", "mean", "std")


class NotApplicable(Exception):
    """Raised by a meta-feature that is undefined for this dataset (it becomes NaN with this reason)."""


@dataclass(frozen=True)
class Helper:
    """An intermediate result shared by several meta-features, computed at most once per extraction."""

    name: str
    requires: tuple[str, ...]
    func: Callable[..., Any]


@dataclass(frozen=True)
class MetaFeature:
    """One named meta-feature: its group, the task types it applies to and the helpers it reads."""

    name: str
    group: str
    tasks: frozenset[str]
    requires: tuple[str, ...]
    func: Callable[..., float]


@dataclass
class Registry:
    """Definitions only: computed values live in a `Resolver`, one per extraction."""

    features: dict[str, MetaFeature] = field(default_factory=dict)
    helpers: dict[str, Helper] = field(default_factory=dict)

    def helper(self, name: str, requires: Iterable[str] = ()) -> Callable:
        """Register `func(*requires) -> Any` as the helper `name`."""

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            if name in self.helpers:
                raise ValueError(f"helper {name!r} is registered twice; rename one of them")
            self.helpers[name] = Helper(name, tuple(requires), func)
            return func

        return register

    def feature(
        self, name: str, group: str, requires: Iterable[str], tasks: Iterable[str] = BOTH
    ) -> Callable:
        """Register `func(*requires) -> float` as the meta-feature `name` of `group`."""

        def register(func: Callable[..., float]) -> Callable[..., float]:
            self.add(MetaFeature(name, group, frozenset(tasks), tuple(requires), func))
            return func

        return register

    def summary(
        self,
        base: str,
        group: str,
        requires: str,
        tasks: Iterable[str] = BOTH,
        stats: Iterable[str] = SUMMARY_STATS,
    ) -> None:
        """Register `base.min`, `base.max`, ... over the finite values of the array helper `requires`."""
        for stat in stats:
            func = _summarise(stat)
            self.add(MetaFeature(f"{base}.{stat}", group, frozenset(tasks), (requires,), func))

    def add(self, feature: MetaFeature) -> None:
        if feature.group not in GROUPS:
            raise ValueError(f"group {feature.group!r} of {feature.name!r} is not one of {GROUPS}")
        if feature.name in self.features:
            raise ValueError(f"meta-feature {feature.name!r} is registered twice; rename one")
        self.features[feature.name] = feature

    def select(self, task_type: str, groups: Iterable[str]) -> list[MetaFeature]:
        """The meta-features of `groups` that apply to `task_type`, in registration order."""
        wanted = set(groups)
        return [f for f in self.features.values() if f.group in wanted and task_type in f.tasks]


def _summarise(stat: str) -> Callable[[np.ndarray], float]:
    def summarise(values: np.ndarray) -> float:
        finite = np.asarray(values, dtype=float)
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            raise NotApplicable("no finite value to summarise")
        if stat == "min":
            return float(finite.min())
        if stat == "max":
            return float(finite.max())
        if stat == "mean":
            return float(finite.mean())
        return float(finite.std())  # population std (ddof=0), as auto-sklearn

    summarise.__name__ = f"summary_{stat}"
    return summarise


@dataclass
class Outcome:
    """What a resolver produced: values, per-feature and per-helper seconds, failure reasons."""

    values: dict[str, float] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    helper_times: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class Resolver:
    """Runs meta-features and their helpers once each; a failure never escapes a single feature."""

    def __init__(self, registry: Registry, roots: Mapping[str, Any]) -> None:
        self._registry = registry
        self._cache: dict[str, Any] = dict(roots)
        self._errors: dict[str, str] = {}
        self.outcome = Outcome()

    def run(self, features: Iterable[MetaFeature]) -> Outcome:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for feature in features:
                self._run_feature(feature)
        return self.outcome

    def cached(self, name: str) -> Any:
        """A helper's value if this extraction computed it, else None."""
        return self._cache.get(name)

    def _run_feature(self, feature: MetaFeature) -> None:
        out = self.outcome
        try:
            args = [self._resolve(name) for name in feature.requires]
            start = time.perf_counter()
            try:
                value = float(feature.func(*args))
            finally:
                out.times[feature.name] = time.perf_counter() - start
        except Exception as error:  # one failing feature must not sink the extraction
            out.values[feature.name] = math.nan
            out.failures[feature.name] = _reason(error)
            return
        if not math.isfinite(value):
            out.failures[feature.name] = f"not finite ({value})"
            value = math.nan
        out.values[feature.name] = value

    def _resolve(self, name: str) -> Any:
        if name in self._cache:
            return self._cache[name]
        if name in self._errors:
            raise HelperFailed(self._errors[name])
        helper = self._registry.helpers.get(name)
        if helper is None:
            raise KeyError(f"helper {name!r} is not registered; register it with Registry.helper")
        try:
            args = [self._resolve(dep) for dep in helper.requires]
            start = time.perf_counter()
            value = helper.func(*args)
            self.outcome.helper_times[name] = time.perf_counter() - start
        except HelperFailed as error:
            self._errors[name] = str(error)
            raise
        except NotApplicable as error:
            self._errors[name] = _reason(error)
            raise HelperFailed(self._errors[name]) from error
        except Exception as error:
            self._errors[name] = f"helper {name!r} failed: {_reason(error)}"
            raise HelperFailed(self._errors[name]) from error
        self._cache[name] = value
        return value


class HelperFailed(Exception):
    """A helper raised; every meta-feature that needs it gets this reason."""


def _reason(error: Exception) -> str:
    if isinstance(error, NotApplicable):
        return f"not applicable: {error}"
    if isinstance(error, HelperFailed):
        return str(error)
    return f"{type(error).__name__}: {error}"


REGISTRY = Registry()
