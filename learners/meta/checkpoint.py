"""Safetensors checkpoints of a meta-learner: tensors (weights, optimiser moments, RNG) plus JSON metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

FORMAT_VERSION = 1


class CheckpointMismatch(ValueError):
    """A checkpoint was written by a different algorithm or with different hyper-parameters."""

    def __init__(self, path: Path, field: str, stored: Any, current: Any) -> None:
        super().__init__(
            f"checkpoint {path} has {field}={stored!r} but this learner has {current!r}; "
            "construct the learner with the checkpoint's settings or pass a different path"
        )
        self.path, self.field, self.stored, self.current = path, field, stored, current


def write(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename) so a killed job never leaves a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    # safetensors refuses shared or strided storage: give each tensor its own contiguous copy.
    owned = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    save_file(owned, str(tmp), metadata={"warmstart": json.dumps({"format": FORMAT_VERSION, **metadata})})
    os.replace(tmp, path)


def read(path: str | Path, device: torch.device | str = "cpu") -> tuple[dict[str, Tensor], dict]:
    """Tensors (on ``device``) and the metadata dict written by :func:`write`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; train with meta_fit(checkpoint=...) first")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("warmstart")
    if raw is None:
        raise ValueError(f"{path} is a safetensors file but not a warmstart meta-learner checkpoint")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(
            f"{path} has checkpoint format {meta.get('format')}, this code reads {FORMAT_VERSION}"
        )
    return load_file(str(path), device=str(device)), meta


def prefixed(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries under ``prefix.`` with the prefix removed."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list[dict]]:
    """Flatten an optimiser's state into named tensors plus its JSON-able param groups."""
    state = optimizer.state_dict()
    tensors = {}
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            tensors[f"optim.{idx}.{key}"] = torch.as_tensor(value)
    return tensors, state["param_groups"]


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: list[dict]) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, Tensor]] = {}
    for name, value in prefixed(tensors, "optim").items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})
