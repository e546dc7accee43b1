"""Synthetic knowledge bases with a known structure, for tests and for benchmarking the method itself."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from learners.pools import pool
from learners.recommenders.base import KnowledgeBase
from learners.recommenders.learned import config_encoding
from learners.spaces import FAMILIES

LATENT = 4


def synthetic_kb(
    n_datasets: int = 60, seed: int = 0, task_type: str = "classification",
    families: Sequence[str] = FAMILIES, pool_size: int = 8, noise: float = 0.02,
    group_size: int = 2,
) -> KnowledgeBase:
    """A knowledge base whose scores follow the datasets' hidden traits.

    Each dataset has a latent vector u; each configuration a vector v from its real
    hyperparameters (the pools' defaults and Sobol points) through a fixed random map. The score
    is 0.7 + 0.08 u.v + a family effect that depends on u + noise, so which configuration wins
    depends on the dataset, and the meta-features (nr_inst, nr_attr, nr_class, nr_num and six
    noisy views of u, with holes) reveal u. Fit times grow with rows and features and differ by
    configuration. Consecutive ``group_size`` datasets share an origin group.
    """
    rng = np.random.default_rng(seed)
    # The pools without the class-weighted twins, and scores drawn from the other
    # hyperparameters (as before class_weight), so this stand-in and what was measured on it
    # stay the same; the values are the current spaces' (class_weight "none").
    configs = [c for f in families for c in pool(f, task_type, n=pool_size)[: pool_size + 1]]
    values = [dict(c.values) for c in configs]
    fams = [c.family for c in configs]
    enc, _ = config_encoding(fams, [{k: v for k, v in c.items() if k != "class_weight"} for c in values])
    fixed = np.random.default_rng(12345)  # the same map for every seed: seeds vary datasets
    v = np.tanh(enc @ fixed.normal(0, 1.0, (enc.shape[1], LATENT)))
    fam_w = fixed.normal(0, 1.0, (len(families), LATENT))
    fam_of = np.array([list(families).index(f) for f in fams])
    u = rng.normal(0, 1, (n_datasets, LATENT))
    scores = (0.7 + 0.08 * u @ v.T + 0.05 * np.tanh(u @ fam_w.T)[:, fam_of]
              + rng.normal(0, noise, (n_datasets, len(configs))))
    names, mf, rows, cols = _metafeatures(u, rng, task_type)
    cost = fixed.normal(0, 1.0, len(configs)) + np.where(np.isin(fams, ["svm", "mlp"]), 1.0, 0.0)
    times = np.exp(cost[None, :] + 0.6 * np.log(rows)[:, None] + 0.3 * np.log(cols)[:, None] - 5
                   + rng.normal(0, 0.1, scores.shape))
    keys = [f"synthetic_{seed}_{i:03d}" for i in range(n_datasets)]
    groups = [f"group_{seed}_{i // group_size:03d}" for i in range(n_datasets)]
    return KnowledgeBase(task_type, keys, groups, names, mf, rows, cols,
                         [c.name for c in configs], fams, values,
                         scores, times, "accuracy" if task_type == "classification" else "r2",
                         True)


def _metafeatures(u: np.ndarray, rng: np.random.Generator,
                  task_type: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    n = len(u)
    rows = np.round(np.exp(5.5 + 1.0 * u[:, 0])).clip(20, 100_000)
    cols = np.round(np.exp(2.0 + 0.8 * u[:, 1])).clip(1, 2000)
    classes = (2 + np.floor(np.abs(u[:, 2]) * 2)) if task_type == "classification" else np.nan
    numeric = np.round(cols / (1 + np.exp(-u[:, 3])))
    views = u @ rng.normal(0, 1, (LATENT, 6)) + rng.normal(0, 0.1, (n, 6))
    views[rng.random(views.shape) < 0.05] = np.nan
    names = ["nr_inst", "nr_attr", "nr_class", "nr_num"] + [f"view_{i}" for i in range(6)]
    mf = np.column_stack([rows, cols, np.broadcast_to(classes, (n,)), numeric, views])
    return names, mf, rows, cols
