"""`portfolio`: a greedy dataset-agnostic portfolio maximising the average best-of-k."""

from __future__ import annotations

import numpy as np

from learners.recommenders.base import KnowledgeBase, Recommender


def greedy_portfolio(
    norm: np.ndarray, size: int, allowed: np.ndarray | None = None,
    weights: np.ndarray | None = None, times: np.ndarray | None = None,
    budget: float | None = None,
) -> list[int]:
    """Column indices chosen one at a time to maximise the (weighted) mean best-so-far.

    ``norm`` is (datasets, configurations) in [0, 1]. With ``times`` and ``budget`` a column
    whose time would take the total past the budget is skipped. Ties go to the lower index, so
    the result is deterministic. This is how auto-sklearn 2.0 and TabRepo build portfolios.
    """
    n, m = norm.shape
    mask = np.ones(m, dtype=bool) if allowed is None else allowed.copy()
    w = np.full(n, 1.0 / max(n, 1)) if weights is None else weights / weights.sum()
    best = np.zeros(n)
    chosen: list[int] = []
    spent = 0.0
    while len(chosen) < size:
        if budget is not None and times is not None:
            mask &= spent + times <= budget
        if not mask.any():
            break
        gain = w @ np.maximum(norm, best[:, None])
        gain[~mask] = -np.inf
        j = int(np.argmax(gain))
        chosen.append(j)
        mask[j] = False
        best = np.maximum(best, norm[:, j])
        spent += 0.0 if times is None else float(times[j])
    return chosen


class PortfolioRecommender(Recommender):
    """The same list for every dataset: greedy best-of-k over the knowledge base.

    Under a family filter or a time budget the portfolio is rebuilt greedily among what is
    allowed, so each pick still adds the most to the average best-so-far.
    """

    name = "portfolio"

    def __init__(self, size: int = 32) -> None:
        self.size = size

    def _fit(self, kb: KnowledgeBase) -> None:
        self.order_ = np.array(greedy_portfolio(self.norm_, self.size), dtype=np.int64)

    def _rank(self, x: np.ndarray, allowed: np.ndarray, k: int, times: np.ndarray,
              budget: float | None) -> list[tuple[int, float, float]]:
        if k <= len(self.order_) and allowed.all() and budget is None:
            picks = [int(j) for j in self.order_[:k]]
        else:
            picks = greedy_portfolio(self.norm_, k, allowed, times=times, budget=budget)
        return [(j, float(self.norm_[:, j].mean()), float(self.norm_[:, j].std())) for j in picks]

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {"order_": self.order_}
