"""`knn`: auto-sklearn 1.x's meta-learning (min-max meta-features, L1, neighbours' best configs)."""

from __future__ import annotations

import numpy as np

from learners.recommenders.base import KnowledgeBase, Recommender


class KnnRecommender(Recommender):
    """Nearest datasets first; each contributes its best configuration, duplicates skipped.

    As in auto-sklearn 1.x: meta-features min-max scaled over the knowledge base, L1 distance.
    When the neighbours' best configurations run out, their second best follow (nearest first),
    and so on. Expected score and uncertainty are the mean and spread of a pick's normalised
    score over the ``n_neighbors`` nearest datasets.
    """

    name = "knn"

    def __init__(self, n_neighbors: int = 5) -> None:
        self.n_neighbors = n_neighbors

    def _fit(self, kb: KnowledgeBase) -> None:
        self.ranked_ = np.argsort(-self.norm_, axis=1, kind="stable").astype(np.int64)

    def neighbours(self, x: np.ndarray) -> np.ndarray:
        """KB dataset indices by L1 distance on min-max scaled meta-features, nearest first."""
        return np.argsort(self.mean_l1_distance(x), kind="stable")

    def _rank(self, x: np.ndarray, allowed: np.ndarray, k: int, times: np.ndarray,
              budget: float | None) -> list[tuple[int, float, float]]:
        near = self.neighbours(x)
        picks: list[int] = []
        spent = 0.0
        for level in range(self.ranked_.shape[1]):
            for i in near:
                j = int(self._best_allowed(i, level, allowed))
                if j < 0 or j in picks or (budget is not None and spent + times[j] > budget):
                    continue
                picks.append(j)
                spent += float(times[j])
                if len(picks) == k:
                    return self._scored(picks, near)
        return self._scored(picks, near)

    def _best_allowed(self, i: int, level: int, allowed: np.ndarray) -> int:
        ranked = self.ranked_[i][allowed[self.ranked_[i]]]
        return int(ranked[level]) if level < len(ranked) else -1

    def _scored(self, picks: list[int], near: np.ndarray) -> list[tuple[int, float, float]]:
        top = self.norm_[near[: self.n_neighbors]]
        return [(j, float(top[:, j].mean()), float(top[:, j].std())) for j in picks]

    def _get_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {"ranked_": self.ranked_}
