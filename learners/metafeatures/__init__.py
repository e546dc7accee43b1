"""Meta-features of a dataset (four groups) and the distances between meta-feature vectors."""

from learners.metafeatures.extract import (
    EXTRACTOR_VERSION,
    MetaFeatures,
    extract,
    feature_groups,
    feature_names,
)
from learners.metafeatures.neighbors import compatible, distances, fit_scaling, nearest
from learners.metafeatures.registry import GROUPS, TASK_TYPES
from learners.metafeatures.table import COLUMN_TYPES, Limits

__all__ = [
    "COLUMN_TYPES",
    "EXTRACTOR_VERSION",
    "GROUPS",
    "TASK_TYPES",
    "Limits",
    "MetaFeatures",
    "compatible",
    "distances",
    "extract",
    "feature_groups",
    "feature_names",
    "fit_scaling",
    "nearest",
]
