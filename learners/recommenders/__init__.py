"""Recommenders: fit on a knowledge base, return the k configurations to try first."""

from learners.recommenders.base import (
    KnowledgeBase,
    NotFittedError,
    Recommendation,
    Recommender,
    default_metric,
    from_records,
    load,
)
from learners.recommenders.defaults import DefaultsRecommender
from learners.recommenders.flaml_style import FlamlStyleRecommender
from learners.recommenders.knn import KnnRecommender
from learners.recommenders.learned import LearnedRecommender
from learners.recommenders.portfolio import PortfolioRecommender

#: Method name -> class, as the CLI's ``--method`` names them.
METHODS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (DefaultsRecommender, PortfolioRecommender, KnnRecommender, FlamlStyleRecommender,
                LearnedRecommender)
}


def make(method: str, **params: object) -> Recommender:
    """An unfitted recommender by method name; ValueError naming the choices otherwise."""
    if method not in METHODS:
        raise ValueError(f"method {method!r} unknown; choose from {', '.join(METHODS)}")
    return METHODS[method](**params)


__all__ = [
    "METHODS",
    "DefaultsRecommender",
    "FlamlStyleRecommender",
    "KnnRecommender",
    "KnowledgeBase",
    "LearnedRecommender",
    "NotFittedError",
    "PortfolioRecommender",
    "Recommendation",
    "Recommender",
    "default_metric",
    "from_records",
    "load",
    "make",
]
