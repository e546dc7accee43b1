"""`defaults`: each family's library default, best on average first (the user's baseline)."""

from __future__ import annotations

import numpy as np

from learners.recommenders.base import (
    KnowledgeBase,
    Recommender,
    is_library_default,
    take_within_budget,
)


class DefaultsRecommender(Recommender):
    """The library defaults ordered by their mean normalised score over the knowledge base."""

    name = "defaults"

    def __init__(self) -> None:
        pass

    def _fit(self, kb: KnowledgeBase) -> None:
        flags = [is_library_default(kb.task_type, f, v, key)
                 for f, v, key in zip(kb.families, kb.config_values, kb.config_keys, strict=True)]
        idx = np.flatnonzero(flags)
        if idx.size == 0:
            raise ValueError("the knowledge base holds no library-default configuration "
                             "(named '<family>-default' or equal to the space default)")
        mean = self.norm_[:, idx].mean(axis=0)
        self.order_ = idx[np.argsort(-mean, kind="stable")]

    def _rank(self, x: np.ndarray, allowed: np.ndarray, k: int, times: np.ndarray,
              budget: float | None) -> list[tuple[int, float, float]]:
        picks = take_within_budget(self.order_, allowed, k, times, budget)
        return [(j, float(self.norm_[:, j].mean()), float(self.norm_[:, j].std())) for j in picks]

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {"order_": self.order_.astype(np.int64)}
