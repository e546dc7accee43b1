"""Search spaces: ConfigSpace definitions, library defaults and pipeline builders per family."""

from learners.spaces.base import (
    FAMILIES,
    TASK_TYPES,
    InvalidConfigurationError,
    SearchSpace,
    UnknownFamilyError,
    get_space,
)

__all__ = [
    "FAMILIES",
    "TASK_TYPES",
    "InvalidConfigurationError",
    "SearchSpace",
    "UnknownFamilyError",
    "get_space",
]
