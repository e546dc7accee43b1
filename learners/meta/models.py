"""Small seeded networks for meta-learning experiments (the MAML paper's sinusoid MLP and kin)."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def mlp(
    sizes: tuple[int, ...] = (1, 40, 40, 1),
    *,
    seed: int,
    dtype: torch.dtype = torch.float32,
) -> nn.Sequential:
    """A ReLU multi-layer perceptron with layer widths ``sizes``, initialised from ``seed``.

    ``mlp((1, 40, 40, 1), seed=0)`` is the MAML paper's sinusoid regressor.
    """
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be at least two positive integers, got {sizes!r}")
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layer = nn.Linear(a, b, dtype=dtype)
        bound = 1.0 / a**0.5  # PyTorch's default init, drawn from our own generator
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
