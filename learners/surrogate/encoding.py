"""Configurations of one search space as fixed-width vectors, and new candidates drawn from the space."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ConfigSpace import Configuration
from ConfigSpace.configuration import ROUND_PLACES
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    NumericalHyperparameter,
)
from ConfigSpace.util import deactivate_inactive_hyperparameters, get_random_neighbor

from learners.spaces import InvalidConfigurationError, SearchSpace, get_space
from learners.spaces.base import plain

#: Significant digits kept when two configurations are compared (JSON round trips lose the rest).
KEY_DIGITS = 10
#: Standard deviation of a local move of a numerical hyperparameter, on its unit scale.
NEIGHBOUR_STEP = 0.1


class SpaceEncoder:
    """Encodes configurations of ``family``'s space for ``task_type`` from the space alone.

    Unlike an encoding fitted on a pool (min-max over the stored values), this one maps any valid
    configuration, so configurations never seen in the knowledge base can be scored. Numbers go
    to ConfigSpace's unit interval (log scale where the space says so), categoricals to one-hot;
    a conditional hyperparameter adds an "active" column and is 0 while inactive.
    """

    def __init__(self, family: str, task_type: str) -> None:
        self.family = family
        self.task_type = task_type
        self.space: SearchSpace = get_space(family, task_type)
        cs = self.space.configspace
        conditional = set(cs.conditional_hyperparameters)
        self._hps = sorted(cs.values(), key=lambda h: h.name)
        names: list[str] = []
        for hp in self._hps:
            if isinstance(hp, CategoricalHyperparameter):
                names += [f"{hp.name}={c}" for c in hp.choices]
            elif isinstance(hp, NumericalHyperparameter):
                names.append(hp.name)
            else:
                raise TypeError(f"hyperparameter {hp.name!r} of type {type(hp).__name__} has no encoding")
            if hp.name in conditional:
                names.append(f"{hp.name}:active")
        self.columns = names
        self._conditional = conditional

    @property
    def width(self) -> int:
        return len(self.columns)

    def canonical(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` checked against the space, as plain values; InvalidConfigurationError if not."""
        return self.space.validate(config)

    def key(self, config: Mapping[str, Any]) -> str:
        """A comparison key: equal for configurations that differ only by float round-off."""
        return config_key(self.family, config)

    def encode(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(n, width) float32 features of configurations of this space (one pass per column)."""
        names = {hp.name for hp in self._hps}
        for config in configs:
            if not config.keys() <= names:
                raise InvalidConfigurationError(
                    f"configuration {dict(config)!r} has hyperparameters "
                    f"{sorted(set(config) - names)} that space {self.space.name} does not define")
        out = np.zeros((len(configs), self.width), dtype=np.float32)
        col = 0
        for hp in self._hps:
            values = [c.get(hp.name) for c in configs]
            active = np.array([v is not None for v in values], dtype=bool)
            if isinstance(hp, CategoricalHyperparameter):
                for k, choice in enumerate(hp.choices):
                    out[:, col + k] = [v is not None and v == choice for v in values]
                col += len(hp.choices)
            else:
                if active.any():
                    raw = np.array([v for v in values if v is not None], dtype=float)
                    out[active, col] = np.clip(hp.to_vector(raw), 0.0, 1.0)
                col += 1
            if hp.name in self._conditional:
                out[:, col] = active
                col += 1
        return out

    def sample(self, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` configurations drawn uniformly (in the unit/log scale) from the space."""
        if n <= 0:
            return []
        columns: dict[str, list[Any]] = {}
        for hp in self._hps:
            if isinstance(hp, CategoricalHyperparameter):
                columns[hp.name] = [hp.choices[i] for i in rng.integers(0, len(hp.choices), n)]
            else:
                columns[hp.name] = [_as_configspace(hp, v) for v in hp.to_value(rng.random(n))]
        configs = [{k: v[i] for k, v in columns.items()} for i in range(n)]
        if self._conditional:
            cs = self.space.configspace
            configs = [self.space.to_dict(deactivate_inactive_hyperparameters(c, cs))
                       for c in configs]
        return configs

    def neighbours(self, config: Mapping[str, Any], n: int,
                   rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` random one-hyperparameter moves away from ``config`` (local search candidates):
        a number moves by N(0, ``NEIGHBOUR_STEP``) on its unit scale, a categorical changes."""
        base = self.canonical(config)
        if self._conditional:  # activation can change: let ConfigSpace handle the conditions
            start = Configuration(self.space.configspace, values=base)
            return [self.space.to_dict(get_random_neighbor(start, seed=int(rng.integers(2**31 - 1))))
                    for _ in range(n)]
        movable = [hp for hp in self._hps if not (
            isinstance(hp, CategoricalHyperparameter) and len(hp.choices) < 2)]
        out = []
        for _ in range(n):
            hp = movable[int(rng.integers(len(movable)))]
            moved = dict(base)
            if isinstance(hp, CategoricalHyperparameter):
                others = [c for c in hp.choices if c != base[hp.name]]
                moved[hp.name] = others[int(rng.integers(len(others)))]
            else:
                u = float(hp.to_vector(base[hp.name])) + rng.normal(0.0, NEIGHBOUR_STEP)
                moved[hp.name] = _as_configspace(hp, hp.to_value(np.clip(u, 0.0, 1.0)))
            out.append(moved)
        return out


def _as_configspace(hp: Any, value: Any) -> Any:
    """``value`` as a ``Configuration`` reads it back (floats rounded to ROUND_PLACES), so
    candidates are canonical without building a ``Configuration`` for each."""
    if isinstance(hp, FloatHyperparameter):
        return float(np.round(value, ROUND_PLACES))
    return plain(value)


def config_key(family: str, config: Mapping[str, Any]) -> str:
    """``family`` + the configuration as sorted JSON, floats rounded to ``KEY_DIGITS`` digits."""
    def rounded(v: Any) -> Any:
        if isinstance(v, np.generic):
            return rounded(v.item())
        if isinstance(v, float) and math.isfinite(v):
            return int(v) if v.is_integer() else float(f"{v:.{KEY_DIGITS}g}")
        return v

    return family + "/" + json.dumps({k: rounded(v) for k, v in config.items()}, sort_keys=True)
