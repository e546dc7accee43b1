"""The knowledge base as a mixture and the dataset's own GP, two experts weighted by how well each
predicts the dataset's results: the acquisition of a study's transfer phase.

The mixture (``learners.surrogate.transfer.ObservedSimilarity``) knows only what the stored
datasets measured: a new dataset on which one family is far above everything any stored dataset
shows (Hill_Valley: one linear configuration at C ~ 870) never sends it back there. The second
expert is a Gaussian process per family on the dataset's own observations (RBF kernel on the
[0, 1] encoding, fixed hyperparameters, a constant prior at the observations' mean), which
follows the dataset's own results wherever they lead. Each expert is weighted by its error on
the observations, as RGPE weights its target model (Feurer, Letham and Bakshy, "Scalable
meta-learning for Bayesian optimization using ranking-weighted Gaussian process ensembles",
AutoML 2018): the mixture's weighted squared disagreement against the GP's leave-one-out error,
through a logistic of width ``TAU``. The acquisition is the blend of the two expected
improvements, the GP's put on the stored datasets' normalised scale by their weighted span over
the observed columns.

Measured with ``benchmarks/sequential.py`` (all 199 held-out datasets, 5 seeds, regret at 10 /
25 / 50 trials, session 12): the blend 0.0372 / 0.0180 / 0.0114, the mixture alone 0.0471 /
0.0235 / 0.0135; half of Optuna TPE's at 25 is 0.0190 (docs/benchmarks/sequential.md).

It proposes from the stored pool only (a configuration never measured has no column); the GP
learns from every observation of the study, inside the pool or not, and believes pending
configurations at its predicted mean (kriging believer), so parallel picks spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from learners.recommenders.base import KnowledgeBase
from learners.surrogate.acquisition import expected_improvement
from learners.surrogate.encoding import SpaceEncoder
from learners.surrogate.transfer import ObservedSimilarity

#: Width of the logistic that turns (the GP's leave-one-out error - the mixture's weighted
#: disagreement) into the GP's weight. Chosen on benchmarks/sequential.py (classification, all
#: groups, regret at 25 trials, length 0.5, session 12): tau 0.02 / 0.05 / 0.1 / 0.2 / 0.5 / 1.0
#: gave 0.0384 / 0.0337 / 0.0345 / 0.0311 / 0.0310 / 0.0312. From 0.2 on the weight stays near
#: one half unless one expert is far off.
TAU = 0.2
#: The GP's RBF length scale on the [0, 1] encoding (tau 0.05: 0.3 gave 0.0331, 0.5 0.0337, 1.0 0.0358).
LENGTH = 0.5
#: The GP's prior variance is the observations' variance, at least this (scores scaled to [0, 1]).
MIN_VAR = 0.01
#: Jitter on the kernel's diagonal, relative to the prior variance.
JITTER = 1e-3

#: An observation outside the stored pool: (family, its encoding, its scaled score).
Outside = tuple[str, np.ndarray, float]


@dataclass(frozen=True)
class Blended:
    """``MixtureAndOwnGP.evaluate``'s answer, one entry per column: the blended expected
    improvement (-inf for observed and pending columns), the GP's weight, and the blended mean
    and spread on the observations' scale (None when not asked for)."""

    gain: np.ndarray
    weight: float
    mean: np.ndarray | None
    std: np.ndarray | None


def own_gp(x: np.ndarray, y: np.ndarray, xs: np.ndarray, mean: float, var: float,
           length: float = LENGTH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A GP (RBF kernel of variance ``var`` and length ``length``, constant prior ``mean``, jitter
    ``JITTER * var``) on observations ``y`` at ``x``: its mean and spread at ``xs``, and each
    observation's leave-one-out mean (closed form: Rasmussen and Williams, eq. 5.12)."""
    def k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return var * np.exp(-0.5 * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / length ** 2)

    inv = np.linalg.inv(k(x, x) + JITTER * var * np.eye(len(x)))
    alpha = inv @ (y - mean)
    ks = k(xs, x)
    mu = mean + ks @ alpha
    sd = np.sqrt(np.maximum(var - np.einsum("ij,jk,ik->i", ks, inv, ks), 1e-9))
    return mu, sd, y - alpha / np.diag(inv)


class MixtureAndOwnGP:
    """``similarity``'s columns with their families and encodings, and the blended acquisition.

    ``encoded[family]`` holds the encodings of that family's columns in column order.
    """

    def __init__(self, similarity: ObservedSimilarity, families: Sequence[str],
                 encoded: Mapping[str, np.ndarray], *, tau: float = TAU, length: float = LENGTH) -> None:
        if len(families) != len(similarity.keys):
            raise ValueError(f"{len(families)} families for {len(similarity.keys)} columns")
        if tau <= 0 or length <= 0:
            raise ValueError(f"tau={tau}, length={length}; both must be positive")
        self.similarity = similarity
        family_of = np.asarray(families, dtype=object)
        self.columns = {f: np.flatnonzero(family_of == f) for f in dict.fromkeys(families)}
        for f, cols in self.columns.items():
            if f not in encoded or len(encoded[f]) != len(cols):
                raise ValueError(f"encoded[{f!r}] must hold the {len(cols)} encodings of its columns")
        self.encoded = {f: np.asarray(encoded[f], dtype=float) for f in self.columns}
        self.family_of = family_of
        self._row = np.zeros(len(families), dtype=int)  # each column's row in its family's encoding
        for cols in self.columns.values():
            self._row[cols] = np.arange(len(cols))
        self.tau = float(tau)
        self.length = float(length)

    @classmethod
    def of(cls, kb: KnowledgeBase, similarity: ObservedSimilarity | None = None,
           **kwargs: float) -> MixtureAndOwnGP:
        """From a knowledge base (and its ``ObservedSimilarity``, built here when not given)."""
        similarity = similarity or ObservedSimilarity.of(kb)
        encoded = {}
        for family in dict.fromkeys(kb.families):
            encoder = SpaceEncoder(family, kb.task_type)
            encoded[family] = encoder.encode([v for f, v in zip(kb.families, kb.config_values, strict=True)
                                              if f == family])
        return cls(similarity, kb.families, encoded, **kwargs)

    def improvement(self, observed: Mapping[str, float], pending: Sequence[str] = (), *,
                    outside: Sequence[Outside] = (),
                    outside_pending: Sequence[tuple[str, np.ndarray]] = ()) -> tuple[np.ndarray, float]:
        """The blended expected improvement of every column, and the GP's weight in it.

        ``observed`` ({config_key: scaled score}) and ``pending`` (config keys) are as in
        ``ObservedSimilarity.improvement``; ``outside`` are observations off the pool, on the
        same scale, and ``outside_pending`` pending configurations off the pool (family,
        encoding): the GP learns from those too. Observed and pending columns get -inf.
        """
        out = self.evaluate(observed, pending, outside=outside, outside_pending=outside_pending,
                            predict=False)
        return out.gain, out.weight

    def evaluate(self, observed: Mapping[str, float], pending: Sequence[str] = (), *,
                 outside: Sequence[Outside] = (), outside_pending: Sequence[tuple[str, np.ndarray]] = (),
                 predict: bool = True) -> Blended:
        """``improvement``'s gain and weight, and (``predict``) each column's blended prediction on
        the observations' scale (1: the best observed so far, 0: the worst): the two experts'
        means mixed by the weight, and the spread of that mixture."""
        sim = self.similarity
        w, disagreement = sim.agreement(observed)  # once: both experts' weights and the mixture
        mixture = sim.improvement(observed, pending, weights=w)
        done = ~np.isfinite(mixture)
        mean = std = None
        if predict:
            mean, std = sim.predict(observed, weights=w)
        cols, y_in = sim.observed_columns(observed)
        points = [self._point(j) for j in cols] + [(f, np.asarray(x, dtype=float)) for f, x, _ in outside]
        y = np.concatenate([y_in, np.array([v for _, _, v in outside], dtype=float)])
        if len(y) < 2:  # nothing to learn from yet: the mixture alone
            return Blended(mixture, 0.0, mean, std)
        waiting = [self._point(j) for k in pending if (j := sim.column.get(k)) is not None]
        waiting += [(f, np.asarray(x, dtype=float)) for f, x in outside_pending]
        mu, sd, loo = self._own(points, y, waiting)
        # RGPE's comparison: the GP's leave-one-out error against the mixture's weighted one.
        known = np.isfinite(disagreement)
        excess = float(np.mean((y - loo) ** 2)) - float(w[known] @ disagreement[known])
        weight = 1.0 / (1.0 + math.exp(min(excess / self.tau, 700.0)))
        own = self._span(cols, w) * expected_improvement(mu, sd, float(y.max()))
        gain = (1 - weight) * np.where(done, 0.0, mixture) + weight * own
        gain[done] = -np.inf
        if predict:  # a column the mixture cannot predict (never measured) is the GP's alone
            share = np.where(np.isfinite(mean), 1 - weight, 0.0)
            m1, s1 = np.nan_to_num(mean), np.nan_to_num(std)
            blended = share * m1 + (1 - share) * mu
            second = share * (s1 ** 2 + m1 ** 2) + (1 - share) * (sd ** 2 + mu ** 2)
            mean, std = blended, np.sqrt(np.maximum(second - blended ** 2, 0.0))
        return Blended(gain, weight, mean, std)

    def _point(self, column: int) -> tuple[str, np.ndarray]:
        family = str(self.family_of[column])
        return family, self.encoded[family][self._row[column]]

    def _own(self, points: Sequence[tuple[str, np.ndarray]], y: np.ndarray,
             waiting: Sequence[tuple[str, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The per-family GPs' mean and spread at every column (the prior where a family has no
        observation) and each observation's leave-one-out mean (the prior's for a family's only
        one); ``waiting`` configurations are believed at the GP's mean."""
        mean, var = float(y.mean()), max(float(y.var()), MIN_VAR)
        mu = np.full(len(self.family_of), mean)
        sd = np.full(len(self.family_of), math.sqrt(var))
        loo = np.full(len(y), mean)
        of = np.asarray([f for f, _ in points], dtype=object)
        for family, cols in self.columns.items():
            mine = np.flatnonzero(of == family)
            if not len(mine):
                continue
            x, grid = np.stack([points[t][1] for t in mine]), self.encoded[family]
            mu[cols], sd[cols], left_out = own_gp(x, y[mine], grid, mean, var, self.length)
            if len(mine) > 1:
                loo[mine] = left_out
            believed = [x for f, x in waiting if f == family]
            if believed:  # kriging believer: their neighbourhood is spoken for
                bx = np.stack(believed)
                by, _, _ = own_gp(x, y[mine], bx, mean, var, self.length)
                mu[cols], sd[cols], _ = own_gp(np.vstack([x, bx]), np.concatenate([y[mine], by]), grid,
                                               mean, var, self.length)
        return mu, sd, loo

    def _span(self, cols: list[int], w: np.ndarray) -> float:
        """What one unit of the observations' scale is worth on the normalised one: the stored
        datasets' weighted span over the observed columns (0 with none)."""
        if not cols:
            return 0.0
        seen = self.similarity.norm[:, cols]
        finite = np.isfinite(seen)
        hi = np.where(finite, seen, -np.inf).max(axis=1)
        lo = np.where(finite, seen, np.inf).min(axis=1)
        return float(np.sum(np.where(finite.any(axis=1), w * (hi - lo), 0.0)))
