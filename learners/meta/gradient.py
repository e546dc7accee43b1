"""Gradient-based meta-learners: MAML (second and first order), Meta-SGD and ANIL, batched with torch.func."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from learners.meta import functional as fn
from learners.meta.base import MetaLearner
from learners.meta.tasks import TaskBatch


@dataclass
class AdaptedBatch:
    """Many tasks' adapted parameters (leading task axis) sharing one model; predicts in one call."""

    model: nn.Module
    params: fn.Params
    buffers: fn.Params

    @property
    def n_tasks(self) -> int:
        return int(next(iter(self.params.values())).shape[0])

    def predict(self, x: Tensor) -> Tensor:
        """``x`` is ``[tasks, n, *features]``; task ``i``'s inputs go through task ``i``'s parameters."""
        if x.shape[0] != self.n_tasks:
            raise ValueError(f"x has {x.shape[0]} tasks on its first axis, expected {self.n_tasks}")
        with torch.no_grad():
            return fn.batched_predict(self.model, self.params, self.buffers, x)

    def module(self, task: int) -> nn.Module:
        """Task ``task``'s adapted model as a plain ``nn.Module`` (a copy, in eval mode)."""
        out = copy.deepcopy(self.model)
        state = {k: v[task] for k, v in self.params.items()}
        out.load_state_dict({**state, **self.buffers}, strict=True)
        return out.eval().requires_grad_(False)


class GradientMetaLearner(MetaLearner):
    """Shared machinery of MAML-family learners: a batched, pure inner loop and its meta-gradient.

    ``chunk_size`` bounds memory: the meta-batch is processed that many tasks at a time and the
    meta-gradients accumulated (same result, less peak memory, some speed lost). ``compile``
    wraps the batched meta-loss in ``torch.compile``. ``multi_step_loss`` meta-trains on the mean
    of the query losses after each of the ``inner_steps`` steps instead of after the last one
    (MAML++'s multi-step loss, uniform weights): one initialisation that adapts well in one step
    and keeps improving over more.
    """

    adapts_in_steps = True

    def __init__(
        self,
        model: nn.Module,
        *,
        inner_lr: float = 0.01,
        inner_steps: int = 1,
        first_order: bool = False,
        loss: str | fn.LossFn = "mse",
        outer_lr: float = 1e-3,
        chunk_size: int | None = None,
        compile: bool = False,
        device: str | torch.device | None = None,
        multi_step_loss: bool = False,
    ) -> None:
        self.model = model
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.first_order = first_order
        self.loss = loss
        self.outer_lr = outer_lr
        self.chunk_size = chunk_size
        self.compile = compile
        self.device = device
        self.multi_step_loss = multi_step_loss

    # ---- what the subclasses vary ----
    def _adapt_names(self) -> tuple[str, ...]:
        """Names of the tensors the inner loop moves (all parameters for MAML)."""
        return tuple(n for n, _ in self.model.named_parameters())

    def _step_size(self) -> fn.StepSize:
        return float(self.inner_lr)

    def _resolve_steps(self, steps: int | None) -> int:
        steps = self.inner_steps if steps is None else steps
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        return steps

    # ---- set-up ----
    def _setup(self) -> None:
        if getattr(self, "device_", None) is not None:
            return
        _check_gradient_args(self.inner_lr, self.inner_steps, self.chunk_size)
        self.loss_fn_ = fn.resolve_loss(self.loss)
        super()._setup()
        self._meta_gradient: Callable[..., tuple] = fn.meta_gradient
        if self.compile:
            self._meta_gradient = torch.compile(fn.meta_gradient, dynamic=False)

    def _make_optimizer(self, params: list[Tensor]) -> torch.optim.Optimizer:
        # The fused kernel is one call instead of a dozen per step: it matters at this scale.
        fused = all(p.dtype in (torch.float32, torch.float64) for p in params)
        return torch.optim.Adam(params, lr=self.outer_lr, fused=fused)

    def _state(self) -> tuple[fn.Params, fn.Params]:
        params = dict(self.model.named_parameters())
        buffers = dict(self.model.named_buffers())
        return params, buffers

    def _inner_kwargs(self, steps: int, first_order: bool) -> dict[str, object]:
        return {
            "loss_fn": self.loss_fn_,
            "lr": self._step_size(),
            "steps": steps,
            "adapt_names": self._adapt_names(),
            "first_order": first_order,
        }

    # ---- training ----
    def _meta_loss_backward(self, batch: TaskBatch) -> float:
        params, buffers = self._detached_state()
        steps = {k: v.detach() for k, v in self.extra_.items()}
        inner = self._inner_kwargs(self.inner_steps, self.first_order)
        inner["lr"] = float(self.inner_lr)  # Meta-SGD's step sizes travel as an argument
        if self.multi_step_loss:
            inner["multi_step"] = True
        size = self.chunk_size or batch.n_tasks
        total = 0.0
        grads: list[fn.Params] = [{}, {}]
        for start in range(0, batch.n_tasks, size):
            part = batch.slice(start, start + size)
            (g_params, g_steps), loss = self._meta_gradient(
                self.model, params, steps, buffers, *part.tensors(), **inner
            )
            for acc, new in zip(grads, (g_params, g_steps), strict=True):
                for k, g in new.items():
                    acc[k] = acc[k] + g if k in acc else g
            total += float(loss)
        scale = 1.0 / batch.n_tasks
        for name, p in self.model.named_parameters():
            p.grad = grads[0][name] * scale
        for name, p in self.extra_.items():
            p.grad = grads[1][name] * scale
        return total * scale

    def _validation_loss(self, batch: TaskBatch) -> float:
        steps = getattr(self, "_validation_steps", None) or (self.inner_steps,)
        losses = self.evaluate(batch, steps=steps)
        return float(np.mean([losses[s].mean() for s in steps]))

    # ---- adaptation (no second-order graph: serving never needs one) ----
    def adapt_batch(self, support_x: Tensor, support_y: Tensor, *, steps: int | None = None) -> AdaptedBatch:
        """Adapt to many tasks in one batched computation; inputs are ``[tasks, n, ...]``."""
        self._check_fitted()
        steps = self._resolve_steps(steps)
        sx, sy = self._as_inputs(support_x, support_y, batched=True)
        params, buffers = self._detached_state()
        with torch.no_grad():
            fast = fn.batched_adapt(self.model, params, buffers, sx, sy, **self._inner_kwargs(steps, True))
        return AdaptedBatch(self.model, {k: v.detach() for k, v in fast.items()}, buffers)

    def adapt(self, support_x: Tensor, support_y: Tensor, *, steps: int | None = None) -> nn.Module:
        """Adapt to one task's support set; returns a plain ``nn.Module`` ready to predict."""
        self._check_fitted()
        sx, sy = self._as_inputs(support_x, support_y, batched=False)
        return self.adapt_batch(sx.unsqueeze(0), sy.unsqueeze(0), steps=steps).module(0)

    def evaluate(
        self, tasks: TaskBatch, steps: tuple[int, ...] = (0, 1, 10), chunk_size: int = 1000
    ) -> dict[int, np.ndarray]:
        """Per-task query loss after each number of adaptation steps, ``{steps: [tasks]}``."""
        self._check_fitted()
        tasks = tasks.to(self.device_, self.dtype)
        out: dict[int, list[np.ndarray]] = {s: [] for s in steps}
        for start in range(0, tasks.n_tasks, chunk_size):
            part = tasks.slice(start, start + chunk_size)
            for s, losses in self._losses_along_steps(part, sorted(set(steps))).items():
                out[s].append(losses)
        return {s: np.concatenate(v) for s, v in out.items()}

    def _losses_along_steps(self, part: TaskBatch, steps: list[int]) -> dict[int, np.ndarray]:
        params, buffers = self._detached_state()
        n = part.n_tasks
        fast = {k: v.expand(n, *v.shape) for k, v in params.items()}
        done, out = 0, {}
        for s in steps:
            s_eff = self._resolve_steps(s)
            if s_eff > done:
                fast = self._continue(fast, buffers, part, s_eff - done)
                done = s_eff
            with torch.no_grad():
                losses = fn.per_task_loss(
                    self.model, fast, buffers, part.query_x, part.query_y, self.loss_fn_
                )
            out[s] = losses.cpu().numpy()
        return out

    def _continue(self, fast: fn.Params, buffers: fn.Params, part: TaskBatch, steps: int) -> fn.Params:
        """More inner steps from per-task parameters (leading task axis)."""
        inner = self._inner_kwargs(steps, True)

        def one(p: fn.Params, x: Tensor, y: Tensor) -> fn.Params:
            return fn.inner_loop(self.model, p, buffers, x, y, **inner)  # type: ignore[arg-type]

        with torch.no_grad():
            return torch.func.vmap(one)(fast, part.support_x, part.support_y)

    def _detached_state(self) -> tuple[fn.Params, fn.Params]:
        params, buffers = self._state()
        return {k: v.detach() for k, v in params.items()}, buffers

    def _as_inputs(self, x: Tensor, y: Tensor, *, batched: bool) -> tuple[Tensor, Tensor]:
        """Tensors on this learner's device: one explicit transfer at the entry point."""
        x_t = torch.as_tensor(x, device=self.device_, dtype=self.dtype)
        y_t = torch.as_tensor(y, device=self.device_)
        if y_t.is_floating_point():
            y_t = y_t.to(self.dtype)
        want = 3 if batched else 2
        if x_t.dim() < want - 1 or x_t.shape[: want - 1] != y_t.shape[: want - 1]:
            raise ValueError(
                f"support_x {tuple(x_t.shape)} and support_y {tuple(y_t.shape)} must share their "
                f"leading {'[tasks, n]' if batched else '[n]'} dimensions"
            )
        return x_t, y_t


class _CappedSteps(GradientMetaLearner):
    """A learner whose meta-learned quantity is tuned for exactly ``inner_steps`` adaptation steps.

    With ``cap_steps`` (default) asking ``adapt``/``evaluate`` for more steps uses ``inner_steps``
    and warns; ``cap_steps=False`` runs the extra steps anyway.
    """

    _tuned = "its meta-learned parameters were"  # what was meta-trained, for the warning

    def _resolve_steps(self, steps: int | None) -> int:
        steps = super()._resolve_steps(steps)
        if self.cap_steps and steps > self.inner_steps:
            warnings.warn(
                f"{self._tuned} meta-trained for {self.inner_steps} step(s); "
                f"running {self.inner_steps} instead of {steps} (cap_steps=False runs them all)",
                stacklevel=3,
            )
            return self.inner_steps
        return steps


class MAML(GradientMetaLearner):
    """Model-Agnostic Meta-Learning (Finn et al., 2017); ``first_order=True`` gives FO-MAML."""


class ANIL(_CappedSteps):
    """Almost No Inner Loop (Raghu et al., 2020): the inner loop adapts only the head.

    ``head`` names the sub-module adapted in the inner loop; by default the last module that
    owns parameters (the output layer of a ``Sequential``). The body is meta-trained so that
    ``inner_steps`` steps of the head land well; its features are free to grow large, and more
    steps at the same rate can overshoot and diverge (measured on the sinusoid benchmark: ten
    steps after one trained, MSE 47 against 0.72). So, as for Meta-SGD, ``cap_steps`` (default)
    caps adaptation at ``inner_steps`` and warns; ``cap_steps=False`` runs the extra steps.
    """

    _tuned = "ANIL's body and head were"

    def __init__(
        self, model: nn.Module, *, head: str | None = None, cap_steps: bool = True, **kwargs: object
    ) -> None:
        super().__init__(model, **kwargs)  # type: ignore[arg-type]
        self.head = head
        self.cap_steps = cap_steps

    def _adapt_names(self) -> tuple[str, ...]:
        head = self.head if self.head is not None else _last_parametrised_module(self.model)
        names = tuple(n for n, _ in self.model.named_parameters() if n.startswith(head + ".") or n == head)
        if not names:
            raise ValueError(f"head={head!r} names no parameters of the model; use a module name")
        return names


class MetaSGD(_CappedSteps):
    """Meta-SGD (Li et al., 2017): learns a step size per parameter entry along with the init.

    The step sizes start at ``inner_lr``. Their meta-training covers ``inner_steps`` steps only,
    so with ``cap_steps`` (default) asking ``adapt``/``evaluate`` for more steps uses
    ``inner_steps`` and warns; pass ``cap_steps=False`` to run the extra steps anyway.
    """

    _tuned = "Meta-SGD step sizes were"

    def __init__(self, model: nn.Module, *, cap_steps: bool = True, **kwargs: object) -> None:
        super().__init__(model, **kwargs)  # type: ignore[arg-type]
        self.cap_steps = cap_steps

    def _extra_parameters(self) -> dict[str, nn.Parameter]:
        return {
            name: nn.Parameter(torch.full_like(p.detach(), float(self.inner_lr)))
            for name, p in self.model.named_parameters()
        }

    def _step_size(self) -> fn.StepSize:
        return dict(self.extra_)

    @property
    def step_sizes_(self) -> dict[str, Tensor]:
        """The learned per-parameter step sizes."""
        self._check_fitted()
        return {k: v.detach() for k, v in self.extra_.items()}


def _last_parametrised_module(model: nn.Module) -> str:
    owners = [name for name, m in model.named_modules() if any(True for _ in m.parameters(False))]
    if not owners:
        raise ValueError("the model has no parameters to adapt")
    return owners[-1]


def _check_gradient_args(inner_lr: float, inner_steps: int, chunk_size: int | None) -> None:
    if not inner_lr > 0:
        raise ValueError(f"inner_lr must be positive, got {inner_lr!r}")
    if not isinstance(inner_steps, int) or inner_steps < 1:
        raise ValueError(f"inner_steps must be a positive integer, got {inner_steps!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
