"""Regret of recommendations and the exact expected best-of-k of random search."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import comb


def expected_best_of_k(row: np.ndarray, k: int) -> float:
    """Exact E[max] of k values drawn without replacement from ``row`` (random search's best).

    The i-th smallest value is the maximum when it is drawn and the other k-1 draws come from
    the i-1 values below it: probability C(i-1, k-1) / C(n, k).
    """
    s = np.sort(np.asarray(row, dtype=float))
    n = len(s)
    if n == 0 or k < 1:
        raise ValueError(f"expected_best_of_k needs a non-empty row and k >= 1; got n={n}, k={k}")
    k = min(k, n)
    i = np.arange(1, n + 1)
    return float((comb(i - 1, k - 1) / comb(n, k) * s).sum())


def regret_curve(norm_picks: Sequence[float], ks: Sequence[int]) -> list[float]:
    """1 - the best normalised score among the first k picks, per k (flat once the list ends)."""
    out = []
    for k in ks:
        head = list(norm_picks[:k])
        out.append(1.0 - max(head) if head else math.nan)
    return out
