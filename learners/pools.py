"""Candidate pools: per family the library default plus a seeded scrambled-Sobol design."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ConfigSpace import Configuration
from ConfigSpace.hyperparameters import CategoricalHyperparameter, NumericalHyperparameter
from ConfigSpace.util import deactivate_inactive_hyperparameters
from scipy.stats import qmc

from learners.spaces import SearchSpace, get_space
from learners.spaces.base import plain

#: Sobol points per family beyond the default; a power of two keeps the design balanced.
POOL_SIZE = 32
POOL_SEED = 20240
_MAX_DRAWS = 16
#: Hyperparameters the Sobol design leaves at their default; the pool adds a twin of every
#: point (the default included) with the value given here, named ``{name}-{suffix}``.
TWINS: dict[str, tuple[Any, str]] = {"class_weight": ("balanced", "balanced")}


def is_twin(values: dict[str, Any]) -> bool:
    """Whether a configuration is one of the ``TWINS`` (``class_weight="balanced"``)."""
    return any(values.get(hp) == value for hp, (value, _) in TWINS.items())


@dataclass(frozen=True)
class PoolConfig:
    """One named configuration of a pool: ``lightgbm-default`` or ``lightgbm-sobol-07``."""

    name: str
    family: str
    task_type: str
    space_version: int
    values: dict[str, Any] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "task_type": self.task_type,
            "space_version": self.space_version,
            "values": dict(self.values),
        }


def _value(hp: Any, u: float) -> Any:
    """Map a unit-interval coordinate to a value of ``hp`` (log scale and integers respected)."""
    if isinstance(hp, CategoricalHyperparameter):
        return hp.choices[min(int(u * len(hp.choices)), len(hp.choices) - 1)]
    if isinstance(hp, NumericalHyperparameter):
        return plain(hp.to_value(np.float64(u)))
    raise TypeError(f"hyperparameter {hp.name!r} of type {type(hp).__name__} has no Sobol mapping")


def sobol_configs(space: SearchSpace, n: int = POOL_SIZE, seed: int = POOL_SEED) -> list[dict]:
    """``n`` distinct configurations of ``space`` from a scrambled Sobol design.

    The same seed gives the same list. Small discrete spaces (k-NN) map several Sobol points
    to one configuration; those repeats, and the default, are skipped in favour of later points.
    The hyperparameters in ``TWINS`` stay at their defaults (so adding one to a space keeps its
    other points where they were); ``pool`` adds their twins.
    """
    hps = [hp for hp in space.configspace.values() if hp.name not in TWINS]
    fixed = {name: hp.default_value for name, hp in space.configspace.items() if name in TWINS}
    sampler = qmc.Sobol(d=len(hps), scramble=True, seed=seed)
    seen = {_key(space.default())}
    configs: list[dict] = []
    for _ in range(_MAX_DRAWS):
        for row in sampler.random(n):
            values = {hp.name: _value(hp, float(u)) for hp, u in zip(hps, row, strict=True)} | fixed
            active = deactivate_inactive_hyperparameters(values, space.configspace)
            config = space.to_dict(Configuration(space.configspace, values=dict(active)))
            if _key(config) not in seen:
                seen.add(_key(config))
                configs.append(config)
            if len(configs) == n:
                return configs
    raise ValueError(f"space {space.name} has fewer than {n} distinct configurations")


def _key(config: dict) -> str:
    return json.dumps(config, sort_keys=True)


def pool(family: str, task_type: str, n: int = POOL_SIZE, seed: int = POOL_SEED) -> list[PoolConfig]:
    """The default plus ``n`` Sobol configurations of one family, named ``{family}-sobol-NN``;
    where the space has a ``TWINS`` hyperparameter, each of them again with the twin's value
    (``lightgbm-sobol-07-balanced``: the same point with ``class_weight="balanced"``)."""
    space = get_space(family, task_type)
    width = max(2, len(str(n - 1)))
    items = [PoolConfig(f"{family}-default", family, task_type, space.version, space.default())]
    for i, values in enumerate(sobol_configs(space, n, seed)):
        name = f"{family}-sobol-{i:0{width}d}"
        items.append(PoolConfig(name, family, task_type, space.version, values))
    for hp, (value, suffix) in TWINS.items():
        if hp in space.configspace:
            items += [
                PoolConfig(f"{c.name}-{suffix}", family, task_type, space.version, {**c.values, hp: value})
                for c in items[: n + 1]
            ]
    return items
