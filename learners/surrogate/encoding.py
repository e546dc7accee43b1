"""Configurations of one search space as fixed-width vectors, and new candidates drawn from the space."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ConfigSpace import Configuration
from ConfigSpace.hyperparameters import CategoricalHyperparameter, NumericalHyperparameter
from ConfigSpace.util import get_random_neighbor

from learners.spaces import InvalidConfigurationError, SearchSpace, get_space

#: Significant digits kept when two configurations are compared (JSON round trips lose the rest).
KEY_DIGITS = 10


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
        """(n, width) float32 features of configurations of this space."""
        out = np.zeros((len(configs), self.width), dtype=np.float32)
        for i, config in enumerate(configs):
            out[i] = self._row(config)
        return out

    def _row(self, config: Mapping[str, Any]) -> np.ndarray:
        row: list[float] = []
        unknown = set(config) - {hp.name for hp in self._hps}
        if unknown:
            raise InvalidConfigurationError(
                f"configuration {dict(config)!r} has hyperparameters {sorted(unknown)} that space "
                f"{self.space.name} does not define")
        for hp in self._hps:
            value = config.get(hp.name)
            active = value is not None
            if isinstance(hp, CategoricalHyperparameter):
                row += [float(active and value == c) for c in hp.choices]
            else:
                row.append(float(np.clip(hp.to_vector(value), 0.0, 1.0)) if active else 0.0)
            if hp.name in self._conditional:
                row.append(float(active))
        return np.asarray(row, dtype=np.float32)

    def sample(self, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` configurations drawn uniformly (in the unit/log scale) from the space."""
        if n <= 0:
            return []
        cs = self.space.configspace
        cs.seed(int(rng.integers(2**31 - 1)))
        drawn = cs.sample_configuration(n)
        drawn = [drawn] if isinstance(drawn, Configuration) else drawn
        return [self.space.to_dict(c) for c in drawn]

    def neighbours(self, config: Mapping[str, Any], n: int,
                   rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` random one-hyperparameter moves away from ``config`` (local search candidates)."""
        cs = self.space.configspace
        base = Configuration(cs, values=self.canonical(config))
        out = []
        for _ in range(n):
            moved = get_random_neighbor(base, seed=int(rng.integers(2**31 - 1)))
            out.append(self.space.to_dict(moved))
        return out


def config_key(family: str, config: Mapping[str, Any]) -> str:
    """``family`` + the configuration as sorted JSON, floats rounded to ``KEY_DIGITS`` digits."""
    def plain(v: Any) -> Any:
        if isinstance(v, np.generic):
            return plain(v.item())
        if isinstance(v, float) and math.isfinite(v):
            return int(v) if v.is_integer() else float(f"{v:.{KEY_DIGITS}g}")
        return v

    return family + "/" + json.dumps({k: plain(v) for k, v in config.items()}, sort_keys=True)
