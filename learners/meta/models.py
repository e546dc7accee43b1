"""Small seeded networks for meta-learning experiments (the MAML paper's sinusoid MLP and kin)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

INITS = ("torch", "maml")


def mlp(
    sizes: tuple[int, ...] = (1, 40, 40, 1),
    *,
    seed: int,
    dtype: torch.dtype = torch.float32,
    init: str = "torch",
) -> nn.Sequential:
    """A ReLU multi-layer perceptron with layer widths ``sizes``, initialised from ``seed``.

    ``mlp((1, 40, 40, 1), seed=0)`` is the MAML paper's sinusoid regressor. ``init="torch"``:
    PyTorch's default, weights and biases uniform in +-1/sqrt(fan_in); ``init="maml"``: the
    MAML paper's code (``construct_fc_weights``), weights from a normal with sd 0.01 truncated
    at two sd, biases zero.
    """
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be at least two positive integers, got {sizes!r}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layer = nn.Linear(a, b, dtype=dtype)
        with torch.no_grad():
            if init == "torch":
                bound = 1.0 / a**0.5  # PyTorch's default init, drawn from our own generator
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
            else:
                nn.init.trunc_normal_(layer.weight, std=0.01, a=-0.02, b=0.02, generator=gen)
                layer.bias.zero_()
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
