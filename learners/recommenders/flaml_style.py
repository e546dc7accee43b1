"""`flaml_style`: FLAML zero-shot's method (nearest task in 4 meta-features, its ranked portfolio)."""

from __future__ import annotations

import numpy as np

from learners.recommenders.base import KnowledgeBase, Recommender, quiet_nan_warnings
from learners.recommenders.portfolio import greedy_portfolio

#: FLAML's four meta-features: NumberOfInstances, NumberOfFeatures, NumberOfClasses,
#: PercentageOfNumericFeatures; ours are nr_inst, nr_attr, nr_class and nr_num / nr_attr.
FOUR = ("nr_inst", "nr_attr", "nr_class", "nr_num")


def four_features(matrix: np.ndarray, names: list[str]) -> np.ndarray:
    """(n, 4) FLAML meta-features from our meta-feature matrix (0 classes for regression)."""
    col = {n: matrix[:, names.index(n)] if n in names else np.full(len(matrix), np.nan)
           for n in FOUR}
    with np.errstate(all="ignore"):
        numeric = col["nr_num"] / col["nr_attr"]
    classes = np.nan_to_num(col["nr_class"], nan=0.0)
    return np.stack([col["nr_inst"], col["nr_attr"], classes, numeric], axis=1)


class FlamlStyleRecommender(Recommender):
    """The nearest training task (Euclidean in FLAML's 4 meta-features, centred on the median
    and scaled by the IQR as FLAML's ``preprocessing`` does), then that task's ranking of a greedy
    portfolio of ``portfolio_size`` configurations; the rest of the pool follows in that task's
    order when k asks for more.
    """

    name = "flaml_style"

    def __init__(self, portfolio_size: int = 16) -> None:
        self.portfolio_size = portfolio_size

    def _fit(self, kb: KnowledgeBase) -> None:
        four = four_features(kb.metafeatures, kb.metafeature_names)
        with quiet_nan_warnings():  # a feature missing on every dataset scales as 0 / 1
            self.centre_ = np.nan_to_num(np.nanmedian(four, axis=0), nan=0.0)
            q1, q3 = np.nanquantile(four, [0.25, 0.75], axis=0)
        spread = np.nan_to_num(q3 - q1, nan=1.0)
        self.scale_ = np.where(spread > 0, spread, 1.0)
        self.points_ = np.nan_to_num((four - self.centre_) / self.scale_, nan=0.0)
        self.portfolio_ = np.array(greedy_portfolio(self.norm_, self.portfolio_size), np.int64)

    def nearest(self, x: np.ndarray) -> np.ndarray:
        """KB dataset indices by distance in the 4 scaled meta-features, nearest first."""
        q = four_features(x[None, :], list(self.kb_.metafeature_names))[0]
        q = np.nan_to_num((q - self.centre_) / self.scale_, nan=0.0)
        return np.argsort(((self.points_ - q) ** 2).sum(axis=1), kind="stable")

    def _rank(self, x: np.ndarray, allowed: np.ndarray, k: int, times: np.ndarray,
              budget: float | None) -> list[tuple[int, float, float]]:
        near = self.nearest(x)
        task = near[0]
        in_portfolio = np.isin(np.arange(self.kb_.n_configs), self.portfolio_)
        order = np.lexsort((-self.norm_[task], ~in_portfolio))  # portfolio first, by score
        picks: list[int] = []
        spent = 0.0
        for j in order:
            if len(picks) == k:
                break
            if allowed[j] and (budget is None or spent + times[j] <= budget):
                picks.append(int(j))
                spent += float(times[j])
        top = self.norm_[near[:5]]
        return [(j, float(self.norm_[task, j]), float(top[:, j].std())) for j in picks]

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {"centre_": self.centre_, "scale_": self.scale_, "points_": self.points_,
                    "portfolio_": self.portfolio_}
