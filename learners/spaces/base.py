"""SearchSpace: a family's ConfigSpace for one task type, its default and its pipeline builder."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from ConfigSpace import Configuration, ConfigurationSpace
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from learners.spaces.families import SPECS, FamilySpec
from learners.spaces.preprocessing import make_preprocessor

TASK_TYPES = ("classification", "regression")
FAMILIES = tuple(SPECS)


class UnknownFamilyError(ValueError):
    """A family or task type that no search space defines."""

    def __init__(self, family: str, task_type: str) -> None:
        super().__init__(
            f"no search space for family={family!r}, task_type={task_type!r}; "
            f"families: {', '.join(FAMILIES)}; task types: {', '.join(TASK_TYPES)}"
        )
        self.family = family
        self.task_type = task_type


class InvalidConfigurationError(ValueError):
    """A configuration outside its space; the message names the space and the problem."""


def plain(value: Any) -> Any:
    """Turn numpy scalars into Python ones so configurations serialise to JSON."""
    if isinstance(value, np.generic):
        return value.item()
    return value


class SearchSpace:
    """One family's hyperparameter space for one task type.

    ``configspace`` holds the ranges; ``default()`` the library default configuration;
    ``build(config, column_types, seed)`` an unfitted sklearn pipeline (preprocessing + model)
    that accepts a DataFrame with those columns, NaNs included.
    """

    def __init__(self, spec: FamilySpec, task_type: str) -> None:
        if task_type not in TASK_TYPES:
            raise UnknownFamilyError(spec.family, task_type)
        self.spec = spec
        self.family = spec.family
        self.task_type = task_type
        self.version = spec.version_for(task_type)
        self.name = f"{spec.family}-{task_type}-v{self.version}"
        self.configspace = ConfigurationSpace(name=self.name)
        self.configspace.add(spec.hyperparameters(task_type))

    def __repr__(self) -> str:
        return f"SearchSpace({self.name!r}, {len(self.configspace)} hyperparameters)"

    def default(self) -> dict[str, Any]:
        """The library default configuration (every hyperparameter at its library value)."""
        return self.to_dict(self.configspace.get_default_configuration())

    @staticmethod
    def to_dict(config: Configuration | Mapping[str, Any]) -> dict[str, Any]:
        return {k: plain(v) for k, v in dict(config).items()}

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``config`` against the space and return it as plain values; raise if invalid."""
        try:
            checked = Configuration(self.configspace, values=dict(config))
            checked.check_valid_configuration()
        except Exception as err:  # ConfigSpace raises several unrelated types
            raise InvalidConfigurationError(
                f"configuration {dict(config)!r} is not valid in space {self.name}: {err}"
            ) from err
        return self.to_dict(checked)

    def build(
        self, config: Mapping[str, Any], column_types: Mapping[str, str], seed: int = 0
    ) -> BaseEstimator:
        """An unfitted pipeline for ``config`` on a frame with ``column_types``."""
        values = self.validate(config)
        model = self.spec.make_model(values, self.task_type, seed)
        pipe = Pipeline(
            [("preprocess", make_preprocessor(column_types, self.spec.encoding)), ("model", model)]
        )
        if self.spec.scale_target and self.task_type == "regression":
            return TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler())
        return pipe

    def to_json(self) -> dict[str, Any]:
        """A JSON-able definition to store beside the configurations it produced."""
        buffer = io.StringIO()
        self.configspace.to_json(buffer)
        return {
            "name": self.name,
            "family": self.family,
            "task_type": self.task_type,
            "version": self.version,
            "configspace": json.loads(buffer.getvalue()),
            "default": self.default(),
            "preprocessing": self.spec.encoding,
            "scale_target": self.spec.scale_target and self.task_type == "regression",
            "fixed": {k: plain(v) for k, v in self.spec.fixed.items()},
            "references": self.spec.references,
        }


def get_space(family: str, task_type: str) -> SearchSpace:
    """The search space of ``family`` for ``task_type``; raise UnknownFamilyError otherwise."""
    if family not in SPECS:
        raise UnknownFamilyError(family, task_type)
    return SearchSpace(SPECS[family], task_type)
