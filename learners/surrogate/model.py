"""The meta-learned surrogate of one search space: an ensemble of MAML-trained MLPs, adapted per dataset."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load as load_tensors
from safetensors.numpy import save as save_tensors
from torch import Tensor
from torch.func import functional_call, vmap

from learners.meta import functional as fn
from learners.meta import mlp
from learners.recommenders.base import KnowledgeBase, fingerprint
from learners.recommenders.learned import single_thread
from learners.surrogate.encoding import SpaceEncoder, config_key

#: Bump when the network, its inputs, the targets or the serialised layout change.
ARCHITECTURE_VERSION = 2
FORMAT = "warmstart-surrogate"
META_KEY = "warmstart.surrogate"
ALGORITHMS = ("fomaml", "metasgd", "maml")
#: Query configurations per meta-training task (drawn with replacement from the pool).
QUERY = 24


@dataclass(frozen=True)
class SurrogateParams:
    """How a surrogate is meta-trained and adapted.

    ``n_members`` MLPs of ``depth`` hidden layers of width ``hidden``, each meta-trained with
    ``algorithm`` (first-order Meta-SGD by default) for ``iterations`` outer Adam steps
    (``outer_lr``) of ``meta_batch_size`` tasks drawn from its own bootstrap of the datasets.
    Outer step i's tasks have ``shots[i % len(shots)]`` support configurations (a study sees
    every support size from one up). The inner loop takes ``inner_steps`` steps of
    ``inner_lr``; adaptation at suggestion time takes ``adapt_steps``. ``min_std`` floors the
    ensemble spread (the noise of a measured score).
    """

    n_members: int = 5
    hidden: int = 32
    depth: int = 2
    algorithm: str = "metasgd"
    iterations: int = 150
    meta_batch_size: int = 8
    shots: tuple[int, ...] = (2, 5, 10, 20, 40)
    inner_lr: float = 0.1
    inner_steps: int = 3
    outer_lr: float = 3e-3
    adapt_steps: int = 5
    min_std: float = 0.02

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm={self.algorithm!r}; choose from {', '.join(ALGORITHMS)}")
        for name in ("n_members", "hidden", "depth", "iterations", "meta_batch_size",
                     "inner_steps", "adapt_steps"):
            if int(getattr(self, name)) < (0 if name == "adapt_steps" else 1):
                raise ValueError(f"{name}={getattr(self, name)!r}; it must be a positive integer")
        if not self.shots or min(self.shots) < 1:
            raise ValueError(f"shots={self.shots!r}; give at least one positive support size")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> SurrogateParams:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown surrogate parameters {unknown}; known: {sorted(known)}")
        values = dict(params)
        if "shots" in values:
            values["shots"] = tuple(int(s) for s in values["shots"])
        return cls(**values)

    def sizes(self, width: int) -> tuple[int, ...]:
        return (width, *([self.hidden] * self.depth), 1)


class MetaSurrogate:
    """A family's surrogate of configuration -> normalised score, meta-learned on a knowledge base.

    Scores are normalised per dataset over every family's pool (1 = the best stored configuration
    of any family there, 0 = the worst), so the surrogates of different families share one scale.
    ``members`` holds each ensemble member's weights (and, for Meta-SGD, step sizes); the pool is
    the family's stored configurations, always among the candidates.
    """

    def __init__(self, family: str, task_type: str, params: SurrogateParams,
                 members: list[dict[str, np.ndarray]], pool: list[dict[str, Any]],
                 step_sizes: list[dict[str, np.ndarray]] | None, version: str) -> None:
        self.family = family
        self.task_type = task_type
        self.params = params
        self.version = version
        self.pool = pool
        self.encoder = SpaceEncoder(family, task_type)
        self._net = mlp(params.sizes(self.encoder.width), seed=0)
        self._members = members
        self._stacked = {k: torch.as_tensor(np.stack([m[k] for m in members]))
                         for k in members[0]}
        self._steps = None if step_sizes is None else {
            k: torch.as_tensor(np.stack([s[k] for s in step_sizes])) for k in step_sizes[0]}
        self.pool_encoded = self.encoder.encode(pool)
        self.pool_keys = [config_key(family, c) for c in pool]

    def __repr__(self) -> str:
        return f"MetaSurrogate({self.version!r}, {len(self._members)} members, {len(self.pool)} pool)"

    # -- predicting --

    def adapt(self, configs: Sequence[Mapping[str, Any]], y: Sequence[float] | np.ndarray,
              steps: int | None = None) -> AdaptedSurrogate:
        """Every member adapted to (configs, normalised y) in one batched computation."""
        return adapt_many({self.family: self}, {self.family: (configs, y)}, steps)[self.family]

    def step_sizes(self) -> dict[str, Tensor]:
        """Per-member, per-entry inner step sizes: Meta-SGD's learned ones, else ``inner_lr``."""
        if self._steps is not None:
            return self._steps
        return {k: torch.full_like(v, self.params.inner_lr) for k, v in self._stacked.items()}

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Prior (unadapted) mean and spread of the normalised score of each configuration."""
        return AdaptedSurrogate(self, self._stacked).predict(configs)

    # -- persistence --

    def to_bytes(self) -> bytes:
        """Safetensors bytes; the JSON header holds everything else (never pickle)."""
        tensors = {f"member{m}.{k}": np.ascontiguousarray(v, dtype=np.float32)
                   for m, member in enumerate(self._members) for k, v in member.items()}
        if self._steps is not None:
            tensors.update({f"steps{m}.{k}": np.ascontiguousarray(v[m].numpy())
                            for k, v in self._steps.items() for m in range(len(v))})
        header = {"format": FORMAT, "architecture": ARCHITECTURE_VERSION, "family": self.family,
                  "task_type": self.task_type, "version": self.version,
                  "params": asdict(self.params), "pool": self.pool,
                  "n_members": len(self._members)}
        return save_tensors(tensors, metadata={META_KEY: json.dumps(header)})

    @classmethod
    def from_bytes(cls, data: bytes) -> MetaSurrogate:
        """Read what ``to_bytes`` wrote; ValueError for anything else or another architecture."""
        header = _header(data)
        if header.get("architecture") != ARCHITECTURE_VERSION:
            raise ValueError(f"surrogate has architecture {header.get('architecture')}, this code "
                             f"{ARCHITECTURE_VERSION}; meta-train it again")
        tensors = load_tensors(data)
        n = int(header["n_members"])
        members = [_prefixed(tensors, f"member{m}.") for m in range(n)]
        steps = [_prefixed(tensors, f"steps{m}.") for m in range(n)]
        return cls(header["family"], header["task_type"],
                   SurrogateParams.from_dict(header["params"]), members, header["pool"],
                   steps if steps[0] else None, header["version"])


def adapt_many(surrogates: Mapping[str, MetaSurrogate],
               data: Mapping[str, tuple[Sequence[Mapping[str, Any]], Sequence[float] | np.ndarray]],
               steps: int | None = None) -> dict[str, AdaptedSurrogate]:
    """Adapt several families' surrogates to their observations in one batched call.

    Every (family, member) network is a slice of one stack (first layers zero-padded to the
    widest encoding, observations padded and masked out of the loss), and the meta-learning
    library's pure inner loop runs on all of them under one ``vmap``: on a CPU the cost of a
    call, not its arithmetic, dominates, so nine families cost about what one does. A family
    without observations keeps its meta-learned initialisation (its loss is zero).
    """
    families = list(surrogates)
    if not families:
        return {}
    first = surrogates[families[0]]
    steps = first.params.adapt_steps if steps is None else steps
    shapes = {(s.params.hidden, s.params.depth) for s in surrogates.values()}
    if len(shapes) > 1:
        raise ValueError(f"surrogates of different network shapes {sorted(shapes)} cannot be "
                         "adapted together; meta-train them with the same parameters")
    width = max(s.encoder.width for s in surrogates.values())
    xs, ys = [], []
    for f in families:
        configs, y = data.get(f, ((), ()))
        xs.append(surrogates[f].encoder.encode(list(configs)))
        ys.append(np.asarray(y, dtype=np.float32).reshape(-1))
    n = max(1, max(len(y) for y in ys))
    if steps == 0 or all(len(y) == 0 for y in ys):
        return {f: AdaptedSurrogate(surrogates[f], surrogates[f]._stacked) for f in families}
    x_all, t_all, params, lrs, owner = [], [], [], [], []
    for f, x, y in zip(families, xs, ys, strict=True):
        s = surrogates[f]
        m = len(s._members)
        x_pad = np.zeros((n, width), np.float32)
        x_pad[: len(x), : x.shape[1]] = x
        t = np.zeros((n, 2), np.float32)
        t[: len(y), 0], t[: len(y), 1] = y, 1.0
        x_all += [x_pad] * m
        t_all += [t] * m
        params.append(_pad_first(s._stacked, width))
        lrs.append(_pad_first(s.step_sizes(), width))
        owner += [f] * m
    stacked = {k: torch.cat([p[k] for p in params]) for k in params[0]}
    step_sizes = {k: torch.cat([p[k] for p in lrs]) for k in lrs[0]}
    net = mlp(first.params.sizes(width), seed=0)
    inner = {"loss_fn": _masked_mse, "steps": steps, "first_order": True,
             "adapt_names": tuple(stacked)}

    def one(p: fn.Params, lr: fn.Params, x: Tensor, t: Tensor) -> fn.Params:
        return fn.inner_loop(net, p, {}, x, t, lr=lr, **inner)

    with single_thread(), torch.no_grad():
        fast = vmap(one)(stacked, step_sizes, torch.as_tensor(np.stack(x_all)),
                         torch.as_tensor(np.stack(t_all)))
    out = {}
    for f in families:
        idx = torch.as_tensor([i for i, o in enumerate(owner) if o == f])
        w = surrogates[f].encoder.width
        out[f] = AdaptedSurrogate(surrogates[f], {
            k: (v[idx][..., :w] if k == "0.weight" else v[idx]) for k, v in fast.items()})
    return out


def _masked_mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over the rows whose weight (``target[:, 1]``) is 1; 0 when none."""
    weight = target[:, 1:]
    return (weight * (pred - target[:, :1]) ** 2).sum() / weight.sum().clamp(min=1.0)


def _pad_first(params: Mapping[str, Tensor], width: int) -> dict[str, Tensor]:
    """Zero columns appended to the first layer's weights (stacked over members) up to ``width``."""
    out = dict(params)
    w = out["0.weight"]
    out["0.weight"] = torch.nn.functional.pad(w, (0, width - w.shape[-1]))
    return out


class AdaptedSurrogate:
    """A surrogate's members after adaptation to one dataset; predicts mean and spread."""

    def __init__(self, surrogate: MetaSurrogate, params: dict[str, Tensor]) -> None:
        self.surrogate = surrogate
        self.params = params

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and standard deviation (floored at ``min_std``) per configuration."""
        if len(configs) == 0:
            return np.zeros(0), np.zeros(0)
        x = torch.as_tensor(self.surrogate.encoder.encode(configs))
        return self.predict_encoded(x)

    def predict_encoded(self, x: Tensor) -> tuple[np.ndarray, np.ndarray]:
        net = self.surrogate._net
        with single_thread(), torch.no_grad():
            out = vmap(lambda p: functional_call(net, p, (x,)))(self.params)[..., 0].numpy()
        std = np.sqrt(out.var(axis=0) + self.surrogate.params.min_std ** 2)
        return out.mean(axis=0).astype(float), std.astype(float)


# --- meta-training ------------------------------------------------------------------------------


def meta_train(kb: KnowledgeBase, family: str, *, seed: int = 0, **params: Any) -> MetaSurrogate:
    """Meta-train the surrogate of ``family``'s space on ``kb`` (each dataset is a task).

    ``params`` are ``SurrogateParams`` fields. Raises ValueError when the family has no
    configuration or no measured dataset in ``kb``.
    """
    return meta_train_many(kb, [family], seed=seed, **params)[family]


def meta_train_many(kb: KnowledgeBase, families: Sequence[str] | None = None, *, seed: int = 0,
                    **params: Any) -> dict[str, MetaSurrogate]:
    """The surrogates of several families (default: all in ``kb``), meta-trained together.

    Every (family, member) network is one slice of a stacked batch: inputs are zero-padded to
    the widest encoding, and each outer step computes all their meta-gradients in one vmapped
    call of the meta-learning library's pure meta-gradient, so nine families cost little more
    than one on a CPU where per-call overhead, not arithmetic, dominates.
    """
    p = SurrogateParams.from_dict(params)
    families = sorted(set(kb.families)) if families is None else list(families)
    data = [_family_data(kb, f) for f in families]
    width = max(enc.width for enc, *_ in data)
    norm = kb.normalised(fill=0.0)
    rng = np.random.default_rng(seed)
    nets = [(f, b) for f in range(len(families)) for b in range(p.n_members)]
    boots = [rng.integers(0, len(data[f][2]), len(data[f][2])) for f, _ in nets]
    with single_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        stacked, steps = _train_stacked(p, data, norm, width, nets, boots, rng, seed)
    out = {}
    for f, family in enumerate(families):
        enc, pool, *_ = data[f]
        idx = [i for i, (g, _) in enumerate(nets) if g == f]
        members = [_unpad({k: v[i].numpy().copy() for k, v in stacked.items()}, enc.width)
                   for i in idx]
        step_sizes = None if steps is None else [
            _unpad({k: v[i].numpy().copy() for k, v in steps.items()}, enc.width) for i in idx]
        digest = hashlib.sha256(f"{family}/{fingerprint(kb, {**asdict(p), 'seed': seed})}".encode())
        version = f"surrogate-a{ARCHITECTURE_VERSION}-{family}-{digest.hexdigest()[:12]}"
        out[family] = MetaSurrogate(family, kb.task_type, p, members, pool, step_sizes, version)
    return out


def _family_data(kb: KnowledgeBase, family: str
                 ) -> tuple[SpaceEncoder, list[dict[str, Any]], np.ndarray, np.ndarray]:
    """The family's encoder, its pool (canonical values), the KB rows that measured it and its
    KB columns."""
    cols = np.array([j for j, f in enumerate(kb.families) if f == family], dtype=int)
    if len(cols) == 0:
        raise ValueError(f"family {family!r} has no configuration in the knowledge base; "
                         f"it has {sorted(set(kb.families))}")
    rows = np.flatnonzero(np.isfinite(kb.scores[:, cols]).any(axis=1))
    if len(rows) == 0:
        raise ValueError(f"family {family!r} is measured on no dataset of the knowledge base")
    encoder = SpaceEncoder(family, kb.task_type)
    pool = [encoder.canonical(kb.config_values[j]) for j in cols]
    return encoder, pool, rows, cols


def _train_stacked(p: SurrogateParams, data: list, norm: np.ndarray, width: int,
                   nets: list[tuple[int, int]], boots: list[np.ndarray], rng: np.random.Generator,
                   seed: int) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
    xs = [np.pad(enc.encode(pool), ((0, 0), (0, width - enc.width))) for enc, pool, *_ in data]
    template = mlp(p.sizes(width), seed=seed)
    inits = [mlp(p.sizes(width), seed=seed * 1000 + i) for i in range(len(nets))]
    params = {k: torch.stack([dict(n.named_parameters())[k].detach() for n in inits]).clone()
              for k, _ in template.named_parameters()}
    leaves = {k: v.requires_grad_(True) for k, v in params.items()}
    steps = None
    if p.algorithm == "metasgd":
        steps = {k: torch.full_like(v, p.inner_lr).requires_grad_(True) for k, v in leaves.items()}
    opt = torch.optim.Adam([*leaves.values(), *(steps or {}).values()], lr=p.outer_lr)
    inner = {"loss_fn": _masked_mse, "lr": float(p.inner_lr), "steps": p.inner_steps,
             "adapt_names": tuple(leaves), "first_order": p.algorithm != "maml"}

    def one(prm: fn.Params, lr: fn.Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor
            ) -> tuple:
        return fn.meta_gradient(template, prm, lr, {}, sx, sy, qx, qy, **inner)

    gradient = vmap(one, in_dims=(0, 0 if steps else None, 0, 0, 0, 0))
    for it in range(p.iterations):
        shots = p.shots[it % len(p.shots)]
        batch = _sample(xs, norm, data, nets, boots, shots, p.meta_batch_size, rng)
        detached = {k: v.detach() for k, v in leaves.items()}
        lrs = {k: v.detach() for k, v in steps.items()} if steps else {}
        (g_params, g_steps), _ = gradient(detached, lrs, *batch)
        for k, v in leaves.items():
            v.grad = g_params[k] / p.meta_batch_size
        if steps:
            for k, v in steps.items():
                v.grad = g_steps[k] / p.meta_batch_size
        opt.step()
        if steps:
            with torch.no_grad():
                for v in steps.values():
                    v.clamp_(min=0.0)
    return ({k: v.detach() for k, v in leaves.items()},
            None if steps is None else {k: v.detach() for k, v in steps.items()})


def _sample(xs: list[np.ndarray], norm: np.ndarray, data: list, nets: list[tuple[int, int]],
            boots: list[np.ndarray], shots: int, n_tasks: int, rng: np.random.Generator
            ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """[nets, tasks, ...] support and query sets, targets as ``suggest`` will see them.

    A task is one dataset of the net's bootstrap and a *context* of ``shots`` observed
    configurations: from every family's pool (the "auto" space: the net's family may have few
    or none of them) or from its own family's only, with even odds. Targets are min-max scaled
    over the context (``suggest`` scales observations jointly across families the same way);
    the support is the context's configurations of the net's family (padded, weight 0), the
    query ``QUERY`` random configurations of its pool on the same scale (clipped to [-1, 2]).
    Targets carry their weight in a second column, for ``_masked_mse``.
    """
    n_all = norm.shape[1]
    sx = np.zeros((len(nets), n_tasks, shots, xs[0].shape[1]), np.float32)
    sy = np.zeros((len(nets), n_tasks, shots, 2), np.float32)
    qx = np.zeros((len(nets), n_tasks, QUERY, xs[0].shape[1]), np.float32)
    qy = np.ones((len(nets), n_tasks, QUERY, 2), np.float32)
    for i, (f, _) in enumerate(nets):
        _, _, rows, cols = data[f]
        where = np.full(n_all, -1)
        where[cols] = np.arange(len(cols))
        for t in range(n_tasks):
            row = rows[boots[i][rng.integers(len(boots[i]))]]
            if rng.random() < 0.5:
                context = rng.choice(n_all, min(shots, n_all), replace=False)
            else:
                context = cols[rng.choice(len(cols), min(shots, len(cols)), replace=False)]
            seen = norm[row, context]
            lo, hi = seen.min(), seen.max()
            scale = (lambda v, lo=lo, hi=hi: (v - lo) / (hi - lo)) if hi - lo > 1e-9 else (
                lambda v, hi=hi: v - hi + 1.0)
            own = where[context][where[context] >= 0]
            sx[i, t, : len(own)] = xs[f][own]
            sy[i, t, : len(own), 0] = scale(norm[row, cols[own]])
            sy[i, t, : len(own), 1] = 1.0
            query = rng.integers(0, len(cols), QUERY)
            qx[i, t] = xs[f][query]
            qy[i, t, :, 0] = np.clip(scale(norm[row, cols[query]]), -1.0, 2.0)
    return tuple(torch.as_tensor(a) for a in (sx, sy, qx, qy))  # type: ignore[return-value]


def _unpad(state: dict[str, np.ndarray], width: int) -> dict[str, np.ndarray]:
    """Drop the first layer's weights on the padding columns (their inputs are always 0)."""
    return {k: np.ascontiguousarray(v[:, :width] if k == "0.weight" else v) for k, v in state.items()}


def _header(data: bytes) -> dict[str, Any]:
    try:
        (size,) = struct.unpack("<Q", data[:8])
        meta = json.loads(data[8:8 + size]).get("__metadata__", {})
        header = json.loads(meta[META_KEY])
    except (struct.error, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"not a serialised surrogate ({len(data)} bytes): {err}") from err
    if header.get("format") != FORMAT:
        raise ValueError(f"not a serialised surrogate: format {header.get('format')!r}")
    return header


def _prefixed(tensors: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
