"""Prototypical Networks (Snell et al., 2017): classify by distance to class-mean embeddings."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from learners.meta.base import MetaLearner
from learners.meta.tasks import TaskBatch


def prototypes(embeddings: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Class means of ``embeddings [tasks, n, d]`` by ``labels [tasks, n]`` -> ``[tasks, classes, d]``."""
    one_hot = F.one_hot(labels, n_classes).to(embeddings.dtype)  # [tasks, n, classes]
    counts = one_hot.sum(1).clamp_min(1.0).unsqueeze(-1)
    return one_hot.transpose(1, 2) @ embeddings / counts


def prototype_logits(queries: Tensor, protos: Tensor) -> Tensor:
    """Negative squared Euclidean distances, ``[tasks, q, d] x [tasks, c, d] -> [tasks, q, c]``."""
    return -torch.cdist(queries, protos).pow(2)


class PrototypeClassifier(nn.Module):
    """An adapted ProtoNet for one task: the embedding network plus the task's prototypes."""

    def __init__(self, embedding: nn.Module, protos: Tensor, classes: Tensor) -> None:
        super().__init__()
        self.embedding = embedding
        self.register_buffer("prototypes", protos)
        self.register_buffer("classes", classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits over ``classes`` for inputs ``[n, *features]``."""
        z = self.embedding(x)
        return prototype_logits(z.unsqueeze(0), self.prototypes.unsqueeze(0)).squeeze(0)

    def predict(self, x: Tensor) -> Tensor:
        """The original class labels (as given in the support set) of the nearest prototypes."""
        with torch.no_grad():
            return self.classes[self.forward(x).argmax(-1)]


class ProtoNet(MetaLearner):
    """Prototypical Networks: ``model`` is the embedding; there is no inner loop to run.

    ``n_way`` is the number of classes per training task (labels 0..n_way-1, as
    :class:`~learners.meta.tasks.NWayKShotTasks` draws them).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        n_way: int,
        outer_lr: float = 1e-3,
        device: str | torch.device | None = None,
    ) -> None:
        self.model = model
        self.n_way = n_way
        self.outer_lr = outer_lr
        self.device = device

    def _setup(self) -> None:
        if not isinstance(self.n_way, int) or self.n_way < 2:
            raise ValueError(f"n_way must be an integer of at least 2, got {self.n_way!r}")
        super()._setup()

    def _logits(self, batch: TaskBatch) -> Tensor:
        t, n = batch.support_x.shape[:2]
        q = batch.query_x.shape[1]
        support = self.model(batch.support_x.reshape(t * n, *batch.support_x.shape[2:]))
        query = self.model(batch.query_x.reshape(t * q, *batch.query_x.shape[2:]))
        protos = prototypes(support.reshape(t, n, -1), batch.support_y, self.n_way)
        return prototype_logits(query.reshape(t, q, -1), protos)

    def _loss(self, batch: TaskBatch) -> Tensor:
        logits = self._logits(batch)
        return F.cross_entropy(logits.reshape(-1, self.n_way), batch.query_y.reshape(-1))

    def _meta_loss_backward(self, batch: TaskBatch) -> float:
        self.model.train()
        loss = self._loss(batch)
        loss.backward()
        return float(loss.detach())

    def _validation_loss(self, batch: TaskBatch) -> float:
        self.model.eval()
        with torch.no_grad():
            return float(self._loss(batch))

    def accuracy(self, tasks: TaskBatch) -> np.ndarray:
        """Per-task query accuracy, ``[tasks]``."""
        self._check_fitted()
        tasks = tasks.to(self.device_, self.dtype)
        self.model.eval()
        with torch.no_grad():
            hits = self._logits(tasks).argmax(-1) == tasks.query_y
        return hits.to(torch.float64).mean(1).cpu().numpy()

    def adapt(self, support_x: Tensor, support_y: Tensor, *, steps: int = 0) -> PrototypeClassifier:
        """A classifier for one task from its labelled support set; ``steps`` must be 0."""
        self._check_fitted()
        if steps != 0:
            raise ValueError(f"ProtoNet has no inner loop; steps must be 0, got {steps!r}")
        x = torch.as_tensor(support_x, device=self.device_, dtype=self.dtype)
        y = torch.as_tensor(support_y, device=self.device_)
        if y.dim() != 1 or len(y) != len(x):
            raise ValueError(f"support_y must be [n] labels for support_x {tuple(x.shape)}")
        classes, codes = torch.unique(y, return_inverse=True)
        self.model.eval()
        with torch.no_grad():
            z = self.model(x).unsqueeze(0)
            protos = prototypes(z, codes.unsqueeze(0), len(classes)).squeeze(0)
        embedding = copy.deepcopy(self.model).requires_grad_(False)
        return PrototypeClassifier(embedding, protos, classes).eval()
