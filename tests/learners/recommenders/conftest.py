"""Synthetic knowledge bases and small fitted recommenders shared by the recommender tests."""

from __future__ import annotations

import pytest

from learners.recommenders import KnowledgeBase
from learners.recommenders.synthetic import synthetic_kb

#: Small enough to meta-train in a second or two on one thread.
FAST_LEARNED = {"n_members": 2, "epochs": 80, "hidden": 32, "seed": 0}


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return synthetic_kb(40, seed=0, pool_size=4)


@pytest.fixture(scope="session")
def big_kb() -> KnowledgeBase:
    return synthetic_kb(100, seed=3, pool_size=8)
