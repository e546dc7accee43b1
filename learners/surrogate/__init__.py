"""Surrogates of configuration -> score, meta-learned on the knowledge base and adapted to each new dataset.

    surrogates = meta_train_many(kb)                        # family -> MetaSurrogate
    payload = surrogates["lightgbm"].to_bytes()             # safetensors, JSON header
    picks = suggest(surrogates, observations, n=4, pending=..., cold_start=zero_shot_picks)

See docs/surrogate.md for the design and why.
"""

from learners.surrogate.acquisition import Suggestion, expected_improvement, scale_scores, suggest
from learners.surrogate.encoding import SpaceEncoder, config_key
from learners.surrogate.model import (
    AdaptedSurrogate,
    MetaSurrogate,
    SurrogateParams,
    meta_train,
    meta_train_many,
)

__all__ = [
    "AdaptedSurrogate",
    "MetaSurrogate",
    "SpaceEncoder",
    "Suggestion",
    "SurrogateParams",
    "config_key",
    "expected_improvement",
    "meta_train",
    "meta_train_many",
    "scale_scores",
    "suggest",
]
