"""Next configurations for a dataset: cold-start picks, then expected improvement of adapted surrogates."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import norm

from learners.surrogate.encoding import config_key
from learners.surrogate.model import AdaptedSurrogate, MetaSurrogate, adapt_many
from learners.surrogate.transfer import ObservedSimilarity

Observation = tuple[str, Mapping[str, Any], "float | None"]
#: Random configurations drawn from each family's space per call (beside its stored pool).
N_RANDOM = 128
#: Local moves drawn around each of the best observed configurations of a family.
N_NEIGHBOURS = 16
TOP_OBSERVED = 3


@dataclass(frozen=True)
class Suggestion:
    """A configuration to evaluate next, with the surrogate's view of it.

    ``mean`` and ``std`` are the adapted surrogate's normalised score (1 = the best observed so
    far on this dataset, 0 = the worst) and its spread; ``acquisition`` is the expected
    improvement over the best observed, on that scale (NaN for a family without a surrogate).
    """

    family: str
    config: dict[str, Any]
    acquisition: float
    mean: float
    std: float


@dataclass
class _Family:
    """One family's state during a call: its observations (real and believed) and candidates."""

    surrogate: MetaSurrogate
    configs: list[dict[str, Any]] = field(default_factory=list)
    targets: list[float] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    encoded: torch.Tensor | None = None
    columns: np.ndarray | None = None  # each candidate's column in the transfer surrogate, or -1
    adapted: AdaptedSurrogate | None = None


def _refresh(states: Mapping[str, _Family]) -> None:
    """Adapt every family's surrogate to its current observations (one batched call)."""
    adapted = adapt_many({f: s.surrogate for f, s in states.items()},
                         {f: (s.configs, s.targets) for f, s in states.items()})
    for f, state in states.items():
        state.adapted = adapted[f]


def suggest(
    surrogates: Mapping[str, MetaSurrogate],
    observations: Sequence[tuple[str, Mapping[str, Any], float | None]],
    n: int,
    *,
    pending: Sequence[tuple[str, Mapping[str, Any]]] = (),
    cold_start: Sequence[tuple[str, Mapping[str, Any]]] = (),
    seed: int = 0,
    n_random: int = N_RANDOM,
    n_neighbours: int = N_NEIGHBOURS,
    transfer: ObservedSimilarity | None = None,
) -> list[Suggestion]:
    """The ``n`` configurations to evaluate next on one dataset, best first.

    ``observations`` are (family, config, score) with higher-is-better scores (None: the run
    failed, counted as the worst); they are min-max normalised jointly across families, so
    several surrogates compare families on one scale. ``cold_start`` picks (the zero-shot
    recommender's) come first, in order, unless already observed or pending. The rest maximise
    expected improvement over candidates (each family's stored pool, ``n_random`` random
    configurations of its space, ``n_neighbours`` local moves around each of its best observed
    ones; both 0 restricts the candidates to the pool). With ``transfer`` (the knowledge base
    weighted by agreement with the observations), a stored pool configuration's mean and spread
    combine the adapted networks' and the transfer surrogate's (precision-weighted: the product
    of the two Gaussians); every pick and
    every ``pending`` configuration joins the observations at its predicted mean (the kriging
    believer) before the next pick, so parallel workers get different configurations. Never
    returns a configuration already observed or pending. May return fewer than ``n`` when the
    candidates run out. Raises ValueError for n < 1, surrogates of mixed task types, or a
    configuration outside its family's space.
    """
    if n < 1:
        raise ValueError(f"n={n}; ask for at least one suggestion")
    if len({s.task_type for s in surrogates.values()}) > 1:
        raise ValueError("surrogates of different task types cannot share a study: "
                         f"{sorted((f, s.task_type) for f, s in surrogates.items())}")
    rng = np.random.default_rng(seed)
    states = {f: _Family(s) for f, s in surrogates.items()}
    taken: set[str] = set()
    for family, config, score in _normalise(observations):
        config = _canonical(surrogates, family, config)
        taken.add(config_key(family, config))
        if family in states:
            states[family].configs.append(config)
            states[family].targets.append(score)
    pend = [(f, _canonical(surrogates, f, c)) for f, c in pending]
    taken |= {config_key(f, c) for f, c in pend}
    out: list[Suggestion] = []
    for family, config in cold_start:
        config = _canonical(surrogates, family, config)
        if len(out) < n and config_key(family, config) not in taken:
            taken.add(config_key(family, config))
            out.append(_cold(states, family, config))
            pend.append((family, config))
    if len(out) < n and states:
        out += _by_expected_improvement(states, pend, taken, n - len(out), rng, n_random,
                                        n_neighbours, transfer)
    return out


def _normalise(observations: Sequence[Observation]) -> list[tuple[str, Mapping[str, Any], float]]:
    """The observations with their scores scaled by ``scale_scores``."""
    scaled = scale_scores([score for _, _, score in observations])
    return [(family, config, y) for (family, config, _), y in zip(observations, scaled, strict=True)]


def scale_scores(scores: Sequence[float | None]) -> list[float]:
    """Scores min-max scaled over the finite ones; failures (None) and NaN become 0 (worst).

    With fewer than two distinct finite scores there is no scale yet: they all become 1 and
    failures 0.
    """
    values = [s for s in scores if s is not None and math.isfinite(float(s))]
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    span = hi - lo
    out = []
    for score in scores:
        if score is None or not math.isfinite(float(score)):
            out.append(0.0)
        else:
            out.append((float(score) - lo) / span if span > 0 else 1.0)
    return out


def _canonical(surrogates: Mapping[str, MetaSurrogate], family: str,
               config: Mapping[str, Any]) -> dict[str, Any]:
    if family in surrogates:
        return surrogates[family].encoder.canonical(config)
    return dict(config)


def _cold(states: dict[str, _Family], family: str, config: dict[str, Any]) -> Suggestion:
    state = states.get(family)
    if state is None:
        return Suggestion(family, config, math.nan, math.nan, math.nan)
    if state.adapted is None:
        _refresh(states)
    mean, std = state.adapted.predict([config])  # type: ignore[union-attr]
    return Suggestion(family, config, math.nan, float(mean[0]), float(std[0]))


def _by_expected_improvement(states: dict[str, _Family], pending: list[tuple[str, dict]],
                             taken: set[str], n: int, rng: np.random.Generator,
                             n_random: int, n_neighbours: int,
                             transfer: ObservedSimilarity | None = None) -> list[Suggestion]:
    best = max((y for s in states.values() for y in s.targets), default=0.0)
    for family, state in states.items():
        state.candidates, state.encoded = _candidates(state, taken, rng, n_random, n_neighbours)
        if transfer is not None:
            state.columns = np.array([transfer.column.get(config_key(family, c), -1)
                                      for c in state.candidates], dtype=int)
    believed = [(f, c) for f, c in pending if f in states]
    if believed:  # pending configurations join at their predicted mean (kriging believer)
        if any(s.adapted is None for s in states.values()):
            _refresh(states)
        for family, config in believed:
            mean, _ = states[family].adapted.predict([config])  # type: ignore[union-attr]
            states[family].configs.append(config)
            states[family].targets.append(float(mean[0]))
            best = max(best, float(mean[0]))
    _refresh(states)
    out: list[Suggestion] = []
    while len(out) < n:
        prior = None if transfer is None else transfer.predict(_observed(states))
        pick = _best_candidate(states, best, prior)
        if pick is None:
            break
        family, i, ei, mean, std = pick
        state = states[family]
        config = state.candidates.pop(i)
        state.encoded = torch.cat([state.encoded[:i], state.encoded[i + 1:]])  # type: ignore[index]
        if state.columns is not None:
            state.columns = np.delete(state.columns, i)
        out.append(Suggestion(family, config, ei, mean, std))
        state.configs.append(config)
        state.targets.append(mean)
        best = max(best, mean)
        if len(out) < n:
            _refresh(states)
    return out


def _candidates(state: _Family, taken: set[str], rng: np.random.Generator, n_random: int,
                n_neighbours: int) -> tuple[list[dict[str, Any]], torch.Tensor]:
    """Not-taken configurations of the pool (encodings cached), random draws and local moves."""
    sur, enc = state.surrogate, state.surrogate.encoder
    keep = [i for i, k in enumerate(sur.pool_keys) if k not in taken]
    configs = [sur.pool[i] for i in keep]
    seen = set(taken) | set(sur.pool_keys)
    order = np.argsort(-np.asarray(state.targets), kind="stable")[:TOP_OBSERVED]
    local = [c for i in order for c in enc.neighbours(state.configs[i], n_neighbours, rng)]
    extra = []
    for config in [*enc.sample(n_random, rng), *local]:
        key = config_key(enc.family, config)
        if key not in seen:
            seen.add(key)
            extra.append(config)
    x = np.concatenate([sur.pool_encoded[keep], enc.encode(extra)])
    return configs + extra, torch.as_tensor(x)


def _best_candidate(states: dict[str, _Family], best: float,
                    prior: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> tuple[str, int, float, float, float] | None:
    top: tuple[str, int, float, float, float] | None = None
    for family, state in states.items():
        if not state.candidates:
            continue
        mean, std = state.adapted.predict_encoded(state.encoded)  # type: ignore[union-attr]
        if prior is not None and state.columns is not None:
            mean, std = _combine(mean, std, state.columns, *prior)
        ei = expected_improvement(mean, std, best)
        i = int(np.argmax(ei))
        if top is None or ei[i] > top[2]:
            top = (family, i, float(ei[i]), float(mean[i]), float(std[i]))
    return top


def _observed(states: Mapping[str, _Family]) -> dict[str, float]:
    """{config_key: normalised score} of every family's (real and believed) observations."""
    return {config_key(f, c): y for f, s in states.items()
            for c, y in zip(s.configs, s.targets, strict=True)}


def _combine(mean: np.ndarray, std: np.ndarray, columns: np.ndarray, prior_mean: np.ndarray,
             prior_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The networks' Gaussian times the transfer surrogate's where a candidate has a column."""
    has = columns >= 0
    pm = np.where(has, prior_mean[np.where(has, columns, 0)], np.nan)
    ps = np.where(has, prior_std[np.where(has, columns, 0)], np.nan)
    use = has & np.isfinite(pm) & np.isfinite(ps)
    if not use.any():
        return mean, std
    a, b = 1.0 / std ** 2, np.where(use, 1.0 / np.where(use, ps, 1.0) ** 2, 0.0)
    combined = (a * mean + b * np.where(use, pm, 0.0)) / (a + b)
    return combined, np.sqrt(1.0 / (a + b))


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """E[max(Y - best, 0)] for Y ~ N(mean, std^2), elementwise."""
    z = (mean - best) / std
    return std * (z * norm.cdf(z) + norm.pdf(z))
