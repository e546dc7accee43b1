"""Reptile (Nichol et al., 2018): move the initialisation towards each task's adapted weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from learners.meta import functional as fn
from learners.meta.gradient import GradientMetaLearner
from learners.meta.tasks import TaskBatch

OUTER_OPTIMIZERS = ("sgd", "adam")


class Reptile(GradientMetaLearner):
    """Reptile: ``theta <- theta + outer_lr * mean_tasks(phi_task - theta)`` with the default SGD.

    ``phi_task`` is ``inner_steps`` plain gradient steps on the task's support set (the same
    adaptation :meth:`adapt` runs at test time). The meta-gradient handed to the outer optimiser is
    ``theta - mean(phi)``, so ``outer_optimizer="sgd"`` is exactly the paper's serial/batched
    update and ``"adam"`` its Adam variant.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        inner_lr: float = 0.01,
        inner_steps: int = 5,
        outer_lr: float = 0.1,
        outer_optimizer: str = "sgd",
        loss: str | fn.LossFn = "mse",
        chunk_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(
            model,
            inner_lr=inner_lr,
            inner_steps=inner_steps,
            first_order=True,
            loss=loss,
            outer_lr=outer_lr,
            chunk_size=chunk_size,
            device=device,
        )
        self.outer_optimizer = outer_optimizer

    def _make_optimizer(self, params: list[Tensor]) -> torch.optim.Optimizer:
        if self.outer_optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.outer_lr)
        if self.outer_optimizer == "adam":
            return torch.optim.Adam(params, lr=self.outer_lr)
        raise ValueError(f"outer_optimizer must be one of {OUTER_OPTIMIZERS}, got {self.outer_optimizer!r}")

    def _meta_loss_backward(self, batch: TaskBatch) -> float:
        params, buffers = self._detached_state()
        inner = self._inner_kwargs(self.inner_steps, True)
        size = self.chunk_size or batch.n_tasks
        delta = {k: torch.zeros_like(v) for k, v in params.items()}
        total = 0.0
        for start in range(0, batch.n_tasks, size):
            part = batch.slice(start, start + size)
            with torch.no_grad():
                fast = fn.batched_adapt(self.model, params, buffers, part.support_x, part.support_y, **inner)
                for k in delta:
                    delta[k] += (params[k] - fast[k]).sum(0) / batch.n_tasks
                losses = fn.per_task_loss(
                    self.model, fast, buffers, part.query_x, part.query_y, self.loss_fn_
                )
            total += float(losses.sum()) / batch.n_tasks
        for name, p in self.model.named_parameters():
            p.grad = delta[name]
        return total
