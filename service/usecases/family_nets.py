"""The networks of a task family: building meta-learners, normalising rows, baselines, and weights.

Weights are safetensors bytes only (never pickle), stored in the metastore. An initialisation
is the meta-learner's own checkpoint (``learners.meta.checkpoint``); adapted and pooled models
are a plain network state under ``net.``, extra tensors (prototypes) and JSON metadata.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import Tensor, nn

from learners.meta import ANIL, MAML, MetaLearner, MetaSGD, ProtoNet, Reptile, mlp
from learners.meta.protonet import PrototypeClassifier

ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd", "anil", "protonet")
#: The algorithms whose meta-objective is a query loss after inner steps (``multi_step_loss``).
MULTI_STEP_ALGORITHMS = ("maml", "fomaml", "metasgd", "anil")
FILE_FORMAT = 1


@dataclass(frozen=True)
class Normalisation:
    """Standardisation of features (and of a regression target) fitted on the prior tasks."""

    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, regression: bool) -> Normalisation:
        std = x.std(axis=0)
        y_mean, y_std = (float(y.mean()), float(y.std()) or 1.0) if regression else (0.0, 1.0)
        return cls(x.mean(axis=0), np.where(std > 0, std, 1.0), y_mean, y_std)

    def x(self, x: np.ndarray) -> Tensor:
        return torch.as_tensor((x - self.x_mean) / self.x_std, dtype=torch.float32)

    def y(self, y: np.ndarray) -> Tensor:
        return torch.as_tensor((y - self.y_mean) / self.y_std, dtype=torch.float32).reshape(-1, 1)

    def y_back(self, y: Tensor) -> np.ndarray:
        return y.detach().cpu().numpy().reshape(-1).astype(np.float64) * self.y_std + self.y_mean

    def to_json(self) -> dict[str, Any]:
        return {
            "x_mean": self.x_mean.tolist(),
            "x_std": self.x_std.tolist(),
            "y_mean": self.y_mean,
            "y_std": self.y_std,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Normalisation:
        return cls(np.asarray(d["x_mean"]), np.asarray(d["x_std"]), float(d["y_mean"]), float(d["y_std"]))


def sizes_for(n_features: int, settings: dict[str, Any], algorithm: str) -> tuple[int, ...]:
    """Layer widths: inputs, the hidden layers, then 1 output (or the embedding width for ProtoNet)."""
    out = int(settings["embedding"]) if algorithm == "protonet" else 1
    return (n_features, *map(int, settings["hidden"]), out)


def build_learner(algorithm: str, sizes: tuple[int, ...], settings: dict[str, Any]) -> MetaLearner:
    """A fresh meta-learner for a family; the same arguments rebuild it to load a checkpoint."""
    net = mlp(sizes, seed=int(settings["seed"]))
    common = {"inner_lr": settings["inner_lr"], "inner_steps": settings["inner_steps"], "device": "cpu"}
    outer = settings["outer_lr"]
    # families declared before the option have no such setting: the plain objective
    multi = {"multi_step_loss": bool(settings.get("multi_step_loss", False))}
    if algorithm in ("maml", "fomaml"):
        return MAML(net, first_order=algorithm == "fomaml", outer_lr=outer, **common, **multi)
    if algorithm == "metasgd":
        return MetaSGD(net, outer_lr=outer, **common, **multi)
    if algorithm == "anil":
        return ANIL(net, outer_lr=outer, **common, **multi)
    if algorithm == "reptile":
        return Reptile(net, outer_lr=outer, outer_optimizer="adam", **common)
    if algorithm == "protonet":
        return ProtoNet(net, n_way=int(settings["n_way"]), outer_lr=outer, device="cpu")
    raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")


def fit_plain(
    net: nn.Module, x: Tensor, y: Tensor, *, steps: int, lr: float, batch_size: int | None, seed: int
) -> nn.Module:
    """Train ``net`` with Adam on MSE (or cross-entropy for integer ``y``); returns it in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    classify = not y.is_floating_point()
    net.train()
    for _ in range(steps):
        if batch_size is not None and batch_size < len(x):
            idx = torch.randint(len(x), (batch_size,), generator=gen)
            bx, by = x[idx], y[idx]
        else:
            bx, by = x, y
        opt.zero_grad(set_to_none=True)
        out = net(bx)
        loss = nn.functional.cross_entropy(out, by) if classify else nn.functional.mse_loss(out, by)
        loss.backward()
        opt.step()
    return net.eval().requires_grad_(False)


# -- weights -------------------------------------------------------------------------------------
def new_file_name() -> str:
    """A server-chosen model name (the download's file name): nothing from the request reaches it."""
    return f"{uuid.uuid4().hex}.safetensors"


def network_bytes(net: nn.Module, meta: dict[str, Any], extra: dict[str, Tensor] | None = None) -> bytes:
    """A network (and extra tensors such as prototypes) as safetensors bytes with JSON metadata."""
    tensors = {f"net.{k}": v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    tensors.update({k: v.detach().cpu().contiguous().clone() for k, v in (extra or {}).items()})
    return save_tensors(tensors, metadata={"warmstart_family": json.dumps({"format": FILE_FORMAT, **meta})})


def load_network(data: bytes) -> tuple[nn.Sequential, dict[str, Tensor], dict[str, Any]]:
    """The network, the other tensors, and the metadata of :func:`network_bytes` output, or of a
    meta-learner checkpoint (its ``model.`` weights)."""
    header = safetensors_metadata(data)
    tensors = load_tensors(data)
    if "warmstart_family" in header:
        meta, prefix = json.loads(header["warmstart_family"]), "net."
    else:
        meta, prefix = {}, "model."
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    sizes = _sizes_from_state(state)
    net = mlp(sizes, seed=0)
    net.load_state_dict(state)
    rest = {k: v for k, v in tensors.items() if not k.startswith(("net.", "model."))}
    return net.eval().requires_grad_(False), rest, meta


def safetensors_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of safetensors bytes: an 8-byte little-endian header length, then JSON."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes cannot be a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8:
        raise ValueError("the safetensors header is longer than the data: the weights are truncated")
    return dict(json.loads(data[8 : 8 + length]).get("__metadata__") or {})


def learner_bytes(learner: MetaLearner) -> bytes:
    """A meta-learner's checkpoint (weights, best weights, optimiser and RNG state) as bytes."""
    with tempfile.TemporaryDirectory(prefix="warmstart-") as tmp:
        path = Path(tmp) / "learner.safetensors"
        learner.save(path)
        return path.read_bytes()


def load_learner(learner: MetaLearner, data: bytes) -> MetaLearner:
    """Restore :func:`learner_bytes` output into a learner built with the same settings."""
    with tempfile.TemporaryDirectory(prefix="warmstart-") as tmp:
        path = Path(tmp) / "learner.safetensors"
        path.write_bytes(data)
        return learner.load(path)


def _sizes_from_state(state: dict[str, Tensor]) -> tuple[int, ...]:
    weights = [state[k] for k in sorted((k for k in state if k.endswith(".weight")), key=_layer_index)]
    return (int(weights[0].shape[1]), *(int(w.shape[0]) for w in weights))


def _layer_index(key: str) -> int:
    return int(key.split(".")[0])


def prototype_tensors(model: PrototypeClassifier) -> dict[str, Tensor]:
    return {"prototypes": model.prototypes, "classes": model.classes}


def predict_with(net: nn.Module, extra: dict[str, Tensor], x: Tensor) -> Tensor:
    """Raw outputs (normalised regression values) or, with prototypes, the predicted class labels."""
    with torch.no_grad():
        if "prototypes" in extra:
            return PrototypeClassifier(net, extra["prototypes"], extra["classes"]).predict(x)
        return net(x)


# -- rows -----------------------------------------------------------------------------------------
def matrix_bytes(matrix: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(matrix, dtype=np.float64), allow_pickle=False)
    return buf.getvalue()


def matrix_from_bytes(payload: bytes) -> np.ndarray:
    return np.load(io.BytesIO(payload), allow_pickle=False)


def matrix_hash(matrix: np.ndarray) -> str:
    return hashlib.sha256(matrix_bytes(matrix)).hexdigest()
