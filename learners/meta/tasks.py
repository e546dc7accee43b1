"""Task batches and the samplers that draw them: K-shot regression and N-way K-shot classification."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch of tasks, each with a support set (to adapt on) and a query set (to score on).

    Shapes: ``support_x`` is ``[tasks, support, *features]``, ``support_y`` is ``[tasks, support, *targets]``
    (``[tasks, support]`` integer labels for classification); the query tensors likewise.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor

    def __post_init__(self) -> None:
        sizes = {t.shape[0] for t in (self.support_x, self.support_y, self.query_x, self.query_y)}
        if len(sizes) != 1:
            raise ValueError(
                f"TaskBatch tensors disagree on the number of tasks: {sorted(sizes)}; "
                "give every tensor the same leading dimension"
            )
        if self.support_x.shape[1] != self.support_y.shape[1]:
            raise ValueError(
                f"support_x has {self.support_x.shape[1]} examples per task but support_y has "
                f"{self.support_y.shape[1]}; they must match"
            )
        if self.query_x.shape[1] != self.query_y.shape[1]:
            raise ValueError(
                f"query_x has {self.query_x.shape[1]} examples per task but query_y has "
                f"{self.query_y.shape[1]}; they must match"
            )

    @property
    def n_tasks(self) -> int:
        return int(self.support_x.shape[0])

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> TaskBatch:
        """Move to ``device``; float tensors are cast to ``dtype`` when given, labels stay integer."""

        def move(t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        return TaskBatch(*(move(t) for t in self.tensors()))

    def tensors(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.support_x, self.support_y, self.query_x, self.query_y

    def slice(self, start: int, stop: int) -> TaskBatch:
        """Tasks ``start:stop`` (used to chunk a meta-batch)."""
        return TaskBatch(*(t[start:stop] for t in self.tensors()))


@runtime_checkable
class TaskSampler(Protocol):
    """Draws meta-batches of tasks. Every random choice comes from the generator passed in."""

    def sample(self, n_tasks: int, generator: torch.Generator) -> TaskBatch: ...


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class SinusoidTasks:
    """K-shot sinusoid regression (Finn et al., 2017): y = A sin(x - phase), x uniform in a range.

    The defaults are the MAML paper's protocol: amplitude in [0.1, 5], phase in [0, pi], x in [-5, 5].
    """

    def __init__(
        self,
        shots: int = 10,
        query: int | None = None,
        amplitude: tuple[float, float] = (0.1, 5.0),
        phase: tuple[float, float] = (0.0, math.pi),
        x_range: tuple[float, float] = (-5.0, 5.0),
    ) -> None:
        _check_positive("shots", shots)
        if query is not None:
            _check_positive("query", query)
        self.shots = shots
        self.query = shots if query is None else query
        self.amplitude = amplitude
        self.phase = phase
        self.x_range = x_range

    def sample(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        _check_positive("n_tasks", n_tasks)
        amp = _uniform((n_tasks, 1, 1), self.amplitude, generator)
        phase = _uniform((n_tasks, 1, 1), self.phase, generator)
        x = _uniform((n_tasks, self.shots + self.query, 1), self.x_range, generator)
        y = amp * torch.sin(x - phase)
        k = self.shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:])


def _uniform(shape: tuple[int, ...], bounds: tuple[float, float], gen: torch.Generator) -> Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(shape, generator=gen, dtype=torch.float32)


class GroupedTasks:
    """K-shot regression tasks from a table whose rows belong to groups (one group = one task).

    For example the rows of a surrogate's training table grouped by dataset: each task draws
    one group, then ``shots`` support and ``query`` query rows from it without replacement.
    ``y`` keeps its trailing shape (give ``[n, 1]`` targets for a one-output network).
    """

    def __init__(
        self,
        x: np.ndarray | Tensor,
        y: np.ndarray | Tensor,
        groups: np.ndarray,
        shots: int,
        query: int,
    ) -> None:
        _check_positive("shots", shots)
        _check_positive("query", query)
        self.x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        self.y = torch.as_tensor(np.asarray(y), dtype=torch.float32)
        groups = np.asarray(groups)
        if not len(self.x) == len(self.y) == len(groups):
            raise ValueError(
                f"x, y and groups must have one entry per row, got {len(self.x)}, "
                f"{len(self.y)} and {len(groups)}"
            )
        self.shots, self.query = shots, query
        names = np.unique(groups)
        rows = [np.flatnonzero(groups == g) for g in names]
        keep = [len(r) >= shots + query for r in rows]
        if not any(keep):
            raise ValueError(
                f"no group has shots + query = {shots + query} rows (largest: "
                f"{max(len(r) for r in rows)}); lower shots or query"
            )
        self.groups = names[keep]
        self._rows = [torch.as_tensor(r) for r, k in zip(rows, keep, strict=True) if k]

    def sample(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        _check_positive("n_tasks", n_tasks)
        picks = torch.randint(len(self._rows), (n_tasks,), generator=generator).tolist()
        idx = torch.stack(
            [
                self._rows[g][torch.randperm(len(self._rows[g]), generator=generator)][
                    : self.shots + self.query
                ]
                for g in picks
            ]
        )
        x, y, k = self.x[idx], self.y[idx], self.shots
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:])


class NWayKShotTasks:
    """N-way K-shot classification tasks drawn from a labelled array.

    Each task picks ``n_way`` classes at random, ``k_shot`` support and ``n_query`` query examples
    per class, and relabels the classes 0..n_way-1 in the order drawn (so labels carry no meaning
    across tasks). ``split`` divides the classes into disjoint meta-train and meta-validation pools.
    """

    def __init__(
        self, x: np.ndarray | Tensor, y: np.ndarray | Tensor, n_way: int, k_shot: int, n_query: int
    ) -> None:
        for name, value in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query)):
            _check_positive(name, value)
        self.x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        labels = np.asarray(y)
        if labels.ndim != 1 or len(labels) != len(self.x):
            raise ValueError(
                f"y must be a 1-d array with one label per row of x ({len(self.x)} rows), "
                f"got shape {labels.shape}"
            )
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.classes = np.unique(labels)
        self._rows = [np.flatnonzero(labels == c) for c in self.classes]
        too_small = [c for c, r in zip(self.classes, self._rows, strict=True) if len(r) < k_shot + n_query]
        if too_small:
            raise ValueError(
                f"classes {too_small[:5]} have fewer than k_shot + n_query = {k_shot + n_query} "
                "examples; lower k_shot/n_query or drop those classes"
            )
        if len(self.classes) < n_way:
            raise ValueError(f"n_way={n_way} but only {len(self.classes)} classes are available; lower n_way")

    def split(self, validation_fraction: float, seed: int) -> tuple[NWayKShotTasks, NWayKShotTasks]:
        """Two samplers on disjoint classes: (meta-train, meta-validation)."""
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction}")
        order = np.random.default_rng(seed).permutation(len(self.classes))
        n_val = max(self.n_way, round(validation_fraction * len(self.classes)))
        if len(self.classes) - n_val < self.n_way:
            raise ValueError(
                f"{len(self.classes)} classes cannot give two pools of at least n_way={self.n_way}; "
                "lower n_way or validation_fraction"
            )
        return self._subset(order[n_val:]), self._subset(order[:n_val])

    def _subset(self, class_idx: np.ndarray) -> NWayKShotTasks:
        rows = np.concatenate([self._rows[i] for i in class_idx])
        labels = np.repeat(self.classes[class_idx], [len(self._rows[i]) for i in class_idx])
        return NWayKShotTasks(self.x[rows], labels, self.n_way, self.k_shot, self.n_query)

    def sample(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        _check_positive("n_tasks", n_tasks)
        per_class = self.k_shot + self.n_query
        idx = torch.empty((n_tasks, self.n_way, per_class), dtype=torch.long)
        for t in range(n_tasks):
            chosen = torch.randperm(len(self.classes), generator=generator)[: self.n_way]
            for j, c in enumerate(chosen.tolist()):
                rows = self._rows[c]
                pick = torch.randperm(len(rows), generator=generator)[:per_class]
                idx[t, j] = torch.as_tensor(rows)[pick]
        labels = torch.arange(self.n_way).view(1, self.n_way, 1).expand(n_tasks, -1, per_class)
        x = self.x[idx]  # [tasks, way, per_class, *features]
        k = self.k_shot

        def flat(t: Tensor) -> Tensor:
            return t.reshape(n_tasks, -1, *t.shape[3:])

        return TaskBatch(flat(x[:, :, :k]), flat(labels[:, :, :k]), flat(x[:, :, k:]), flat(labels[:, :, k:]))


def gaussian_classes(
    n_classes: int,
    per_class: int,
    n_features: int,
    seed: int,
    spread: float = 1.0,
    noise_features: int = 0,
    noise_scale: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic pool of ``n_classes`` Gaussian clusters for N-way K-shot experiments.

    Class centres are drawn from N(0, I) in ``n_features`` dimensions and points are centre +
    ``spread`` * N(0, I). ``noise_features`` extra columns of N(0, ``noise_scale``^2) carry no class
    information: an embedding that learns to ignore them beats raw distances, which is what
    meta-training a ProtoNet on this pool should find. Returns float32 ``x`` and int64 ``y``.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, n_features))
    y = np.repeat(np.arange(n_classes), per_class)
    x = centres[y] + spread * rng.normal(size=(len(y), n_features))
    noise = noise_scale * rng.normal(size=(len(y), noise_features))
    return np.hstack([x, noise]).astype(np.float32), y.astype(np.int64)


class GroupedClassTasks:
    """N-way K-shot tasks drawn inside each prior task's own label set (one group = one task).

    A meta-training task picks a group with at least ``n_way`` classes of ``shots + query`` rows,
    then ``n_way`` of those classes, relabelled 0..n_way-1 in the order drawn: label sets may
    differ from task to task.
    """

    def __init__(
        self, x: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_way: int, shots: int, query: int
    ) -> None:
        self.x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        self.n_way, self.shots, self.query = n_way, shots, query
        self._pools: list[list[Tensor]] = []
        for g in np.unique(groups):
            in_group = groups == g
            rows = [np.flatnonzero(in_group & (labels == c)) for c in np.unique(labels[in_group])]
            rows = [torch.as_tensor(r) for r in rows if len(r) >= shots + query]
            if len(rows) >= n_way:
                self._pools.append(rows)
        if not self._pools:
            raise ValueError(
                f"no task has {n_way} classes with shots + query = {shots + query} rows each; "
                "lower n_way, shots or query, or add bigger tasks"
            )

    def sample(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        per = self.shots + self.query
        idx = torch.empty((n_tasks, self.n_way, per), dtype=torch.long)
        for t in range(n_tasks):
            pool = self._pools[int(torch.randint(len(self._pools), (1,), generator=generator))]
            chosen = torch.randperm(len(pool), generator=generator)[: self.n_way].tolist()
            for j, c in enumerate(chosen):
                idx[t, j] = pool[c][torch.randperm(len(pool[c]), generator=generator)[:per]]
        labels = torch.arange(self.n_way).view(1, self.n_way, 1).expand(n_tasks, -1, per)
        x = self.x[idx]

        def flat(v: Tensor) -> Tensor:
            return v.reshape(n_tasks, -1, *v.shape[3:])

        k = self.shots
        return TaskBatch(flat(x[:, :, :k]), flat(labels[:, :, :k]), flat(x[:, :, k:]), flat(labels[:, :, k:]))
