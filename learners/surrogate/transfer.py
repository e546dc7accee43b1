"""The knowledge base as a surrogate: stored datasets weighted by how well they agree with a study's results.

After a few observations on a new dataset, the stored datasets whose scores on the same
configurations rank and space them alike are the best guides to the rest of the pool. This is
the observation-based similarity of two-stage transfer surrogates (Wistuba, Schilling and
Schmidt-Thieme, "Two-stage transfer surrogate model for automatic hyperparameter
optimization", ECML-PKDD 2016) on our dense knowledge base: each stored dataset's scores are
scaled over the observed configurations exactly as ``suggest`` scales the observations (min-max
over the observed), a dataset's weight is a Gaussian kernel of its mean squared disagreement
with the observations, and the prediction for every pool configuration is the weighted mean of
the scaled stored scores, its spread their weighted standard deviation. Unlike the per-family
networks it sees every family's columns at once, so five observations across families already
say which stored datasets, and so which families and regions, the new one resembles.

It covers the stored pool only (a configuration never measured has no column); ``suggest``
combines it with the adapted networks there and uses the networks alone elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from learners.recommenders.base import KnowledgeBase
from learners.surrogate.encoding import SpaceEncoder, config_key

#: Kernel width on the mean squared disagreement (scores scaled to [0, 1] over the observed).
#: Chosen on benchmarks/sequential.py (all 199 held-out datasets, kb_ei, regret at 10 / 25 / 50
#: trials, session 6): 0.02 gave 0.0344 / 0.0209 / 0.0090, 0.05 0.0314 / 0.0190 / 0.0095,
#: 0.1 0.0285 / 0.0176 / 0.0092, 0.2 0.0303 / 0.0170 / 0.0098, 0.3 0.0289 / 0.0165 / 0.0089,
#: 1.0 0.0323 / 0.0167 / 0.0093 (uniform weights, the portfolio's order: 0.0297 / 0.0173 /
#: 0.0109). A narrow kernel trusts five observations too much, a wide one ignores them.
BANDWIDTH = 0.3
#: Fewer observed configurations than this leave every stored dataset its prior weight.
MIN_OBSERVED = 2
#: Scaled stored scores are clipped to this range (a pool far outside the observed span).
CLIP = (-1.0, 2.0)


class ObservedSimilarity:
    """Stored datasets' scores on the pool, turned into predictions for a new dataset.

    ``norm`` is [datasets, configurations] of normalised scores (NaN where not measured), with
    ``keys[j]`` the ``config_key`` of column j.
    """

    def __init__(self, keys: Sequence[str], norm: np.ndarray, *, bandwidth: float = BANDWIDTH,
                 min_std: float = 0.02) -> None:
        norm = np.asarray(norm, dtype=float)
        if norm.ndim != 2 or norm.shape[1] != len(keys):
            raise ValueError(f"norm is {norm.shape}, expected [datasets, {len(keys)}]")
        if bandwidth <= 0:
            raise ValueError(f"bandwidth={bandwidth}; it must be positive")
        self.keys = list(keys)
        self.column = {k: j for j, k in enumerate(self.keys)}
        self.norm = norm
        self.bandwidth = float(bandwidth)
        self.min_std = float(min_std)

    @classmethod
    def of(cls, kb: KnowledgeBase, **kwargs: float) -> ObservedSimilarity:
        """From a knowledge base: its pool's keys (canonical, as ``suggest`` keys them) and its
        normalised scores (a failure is stored as the dataset's worst; unmeasured cells NaN)."""
        encoders: dict[str, SpaceEncoder] = {}
        keys = []
        for family, values in zip(kb.families, kb.config_values, strict=True):
            if family not in encoders:  # one per family (building one parses its space)
                encoders[family] = SpaceEncoder(family, kb.task_type)
            enc = encoders[family]
            keys.append(config_key(family, enc.canonical(values)))
        return cls(keys, kb.normalised(fill=None), **kwargs)

    @property
    def n_datasets(self) -> int:
        return int(self.norm.shape[0])

    def agreement(self, observed: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """``weights`` and ``disagreement`` of the same observations, computed once (a caller that
        needs both, or passes the weights on to ``predict`` and ``improvement``, asks here)."""
        cols, y = self.observed_columns(observed)
        if not cols:
            return self._uniform(), np.full(self.n_datasets, np.inf)
        seen = self.norm[:, cols]
        disagreement = _disagreement(*_scale(seen, seen), y)
        weights = self._uniform() if len(cols) < MIN_OBSERVED else self._kernel(disagreement)
        return weights, disagreement

    def weights(self, observed: Mapping[str, float]) -> np.ndarray:
        """Each stored dataset's weight (summing to 1) given {config_key: scaled score}."""
        return self.agreement(observed)[0]

    def disagreement(self, observed: Mapping[str, float]) -> np.ndarray:
        """Each stored dataset's mean squared disagreement with ``observed`` ({config_key: scaled
        score}) over the observed columns, its scores scaled as ``weights`` scales them; inf
        where it has none of them measured. What ``weights`` puts the kernel on."""
        return self.agreement(observed)[1]

    def predict(self, observed: Mapping[str, float],
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread for every pool column, on the observations' scale (``weights``: the
        observations' ``weights``, when the caller has them already)."""
        cols, _ = self.observed_columns(observed)
        w = self.weights(observed) if weights is None else weights
        if len(cols) >= MIN_OBSERVED:
            scaled, _ = _scale(self.norm, self.norm[:, cols])
        else:
            scaled = self.norm.copy()
            if len(cols) == 1:  # one observation is the scale's top (suggest maps it to 1)
                scaled = scaled - self.norm[:, cols[0]][:, None] + 1.0
        scaled = np.clip(scaled, *CLIP)
        finite = np.isfinite(scaled)
        wm = np.where(finite, w[:, None], 0.0)
        total = wm.sum(axis=0)
        safe = np.where(finite, scaled, 0.0)
        mean = np.where(total > 0, (wm * safe).sum(axis=0) / np.maximum(total, 1e-300), np.nan)
        var = np.where(total > 0, (wm * (safe - mean) ** 2).sum(axis=0) / np.maximum(total, 1e-300),
                       np.nan)
        return mean, np.sqrt(var + self.min_std ** 2)

    def improvement(self, observed: Mapping[str, float], pending: Sequence[str] = (),
                    weights: np.ndarray | None = None) -> np.ndarray:
        """Expected improvement of every pool column under the stored datasets as a mixture.

        Each stored dataset is a scenario for the new one, weighted as in ``weights`` (by
        agreement with ``observed``, {config_key: scaled score}); a column's improvement in a
        scenario is its normalised score there over that dataset's best among the observed and
        ``pending`` columns (a pending configuration's outcome is known in every scenario, so
        parallel picks spread without a believer). Unmeasured cells count as no improvement;
        a tiny weighted-mean term breaks ties once nothing is left to gain. Observed and pending
        columns get -inf. ``weights``: the observations' ``weights``, when the caller has them.
        """
        w = self.weights(observed) if weights is None else weights
        cols, _ = self.observed_columns(observed)
        cols += [self.column[k] for k in pending if k in self.column]
        norm = np.nan_to_num(self.norm, nan=0.0)
        best = norm[:, cols].max(axis=1) if cols else np.zeros(len(norm))
        gain = w @ np.maximum(norm - best[:, None], 0.0) + 1e-9 * (w @ norm)
        gain[cols] = -np.inf
        return gain

    def observed_columns(self, observed: Mapping[str, float]) -> tuple[list[int], np.ndarray]:
        """The pool columns of the observed configurations (unknown ones left out), and their scores."""
        known = [k for k in observed if k in self.column]
        return [self.column[k] for k in known], np.array([observed[k] for k in known], dtype=float)

    def _uniform(self) -> np.ndarray:
        return np.full(self.n_datasets, 1.0 / self.n_datasets) if self.n_datasets else np.zeros(0)

    def _kernel(self, disagreement: np.ndarray) -> np.ndarray:
        """Gaussian kernel of each stored dataset's mean squared disagreement with the
        observations, normalised (uniform when no dataset has any observed column measured)."""
        if not np.isfinite(disagreement).any():
            return self._uniform()
        logw = -(disagreement - disagreement[np.isfinite(disagreement)].min()) / self.bandwidth
        w = np.exp(np.where(np.isfinite(logw), logw, -np.inf))
        return w / w.sum()


def _disagreement(scaled: np.ndarray, ok: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean squared difference of each row of ``scaled`` from ``y`` over its finite cells (inf for
    a row with none, or not ``ok``)."""
    finite = np.isfinite(scaled)
    counts = finite.sum(axis=1)
    sq = np.where(finite, (scaled - y[None, :]) ** 2, 0.0).sum(axis=1)
    return np.where(ok & (counts > 0), sq / np.maximum(counts, 1), np.inf)


def _scale(values: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``values`` min-max scaled over that row's finite ``seen``; rows with no span
    shifted so their seen level is 1 (as ``suggest`` does), and a flag of rows with any seen."""
    with np.errstate(all="ignore"):
        lo = np.nanmin(np.where(np.isfinite(seen), seen, np.nan), axis=1)
        hi = np.nanmax(np.where(np.isfinite(seen), seen, np.nan), axis=1)
    ok = np.isfinite(lo)
    span = hi - lo
    wide = ok & (span > 1e-9)
    out = np.where(wide[:, None], (values - lo[:, None]) / np.where(wide, span, 1.0)[:, None],
                   values - np.where(ok, hi, 0.0)[:, None] + 1.0)
    return out, ok

