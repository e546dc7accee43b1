"""Pure functions for gradient-based adaptation: the inner update and its batched form over tasks."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, grad_and_value, vmap

Params = dict[str, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
# A step size: one float for every tensor (MAML) or one tensor per parameter (Meta-SGD).
StepSize = float | Mapping[str, Tensor]

LOSSES: dict[str, LossFn] = {
    "mse": F.mse_loss,
    "cross_entropy": lambda logits, labels: F.cross_entropy(logits, labels),
}


def resolve_loss(loss: str | LossFn) -> LossFn:
    """A loss by name ("mse", "cross_entropy") or a callable ``loss(prediction, target) -> scalar``."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; use one of {sorted(LOSSES)} or pass a callable")
    return LOSSES[loss]


def sgd_update(params: Params, grads: Params, lr: StepSize) -> Params:
    """One gradient step ``p - lr * g`` on the tensors named in ``grads``; the others pass through."""
    out = dict(params)
    for name, g in grads.items():
        step = lr if isinstance(lr, float | int) else lr[name]
        out[name] = params[name] - step * g
    return out


def task_loss(
    model: nn.Module, params: Params, buffers: Params, x: Tensor, y: Tensor, loss_fn: LossFn
) -> Tensor:
    """The loss of ``model`` run with ``params`` on one task's examples."""
    return loss_fn(functional_call(model, (params, buffers), (x,)), y)


def inner_loop(
    model: nn.Module,
    params: Params,
    buffers: Params,
    x: Tensor,
    y: Tensor,
    *,
    loss_fn: LossFn,
    lr: StepSize,
    steps: int,
    adapt_names: tuple[str, ...],
    first_order: bool,
) -> Params:
    """``steps`` gradient steps on one task's support set; pure, so it can be vmapped.

    Only the tensors in ``adapt_names`` move (all of them for MAML, the head for ANIL). With
    ``first_order`` the inner gradients are detached, so the result is differentiable with respect
    to ``params`` only through the identity path (FO-MAML); otherwise the whole update is.
    """
    for _ in range(steps):
        fast = {n: params[n] for n in adapt_names}
        frozen = {n: p for n, p in params.items() if n not in fast}

        def loss_of(fast_params: Params, frozen: Params = frozen) -> Tensor:
            return task_loss(model, {**frozen, **fast_params}, buffers, x, y, loss_fn)

        grads = grad(loss_of)(fast)
        if first_order:
            grads = {n: g.detach() for n, g in grads.items()}
        params = sgd_update(params, grads, lr)
    return params


def batched_adapt(
    model: nn.Module,
    params: Params,
    buffers: Params,
    support_x: Tensor,
    support_y: Tensor,
    **inner: object,
) -> Params:
    """Adapt ``params`` to every task in a batch at once; returns tensors with a leading task axis."""

    def one(x: Tensor, y: Tensor) -> Params:
        return inner_loop(model, params, buffers, x, y, **inner)  # type: ignore[arg-type]

    return vmap(one)(support_x, support_y)


def batched_query_loss(
    model: nn.Module,
    params: Params,
    buffers: Params,
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    query_y: Tensor,
    **inner: object,
) -> Tensor:
    """Per-task query loss after adaptation, ``[tasks]``; its gradient is the MAML meta-gradient.

    With ``multi_step=True`` in ``inner`` the loss is the mean of the query losses after each
    inner step (the multi-step loss of MAML++, Antoniou et al., 2019, with uniform weights), so
    the initialisation is trained to be good after one step and after all of them.
    """
    loss_fn: LossFn = inner["loss_fn"]  # type: ignore[assignment]
    multi_step = bool(inner.pop("multi_step", False))
    steps: int = inner["steps"]  # type: ignore[assignment]

    def one(sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor) -> Tensor:
        if not multi_step:
            fast = inner_loop(model, params, buffers, sx, sy, **inner)  # type: ignore[arg-type]
            return task_loss(model, fast, buffers, qx, qy, loss_fn)
        fast, total = params, qx.new_zeros(())
        for _ in range(steps):
            fast = inner_loop(model, fast, buffers, sx, sy, **{**inner, "steps": 1})  # type: ignore[arg-type]
            total = total + task_loss(model, fast, buffers, qx, qy, loss_fn)
        return total / steps

    return vmap(one)(support_x, support_y, query_x, query_y)


def meta_loss(
    model: nn.Module,
    params: Params,
    step_sizes: Params,
    buffers: Params,
    support_x: Tensor,
    support_y: Tensor,
    query_x: Tensor,
    query_y: Tensor,
    **inner: object,
) -> Tensor:
    """Summed query loss of a batch of tasks as a pure function of the meta-parameters.

    ``step_sizes`` are Meta-SGD's per-parameter step sizes; empty means ``inner["lr"]`` for all.
    """
    if step_sizes:
        inner = {**inner, "lr": step_sizes}
    return batched_query_loss(model, params, buffers, support_x, support_y, query_x, query_y, **inner).sum()


# d meta_loss / d (params, step_sizes), and the loss: one functional computation, no autograd tape
# outside it, so torch.compile sees (and fuses) the whole meta-gradient.
meta_gradient = grad_and_value(meta_loss, argnums=(1, 2))


def batched_predict(model: nn.Module, params: Params, buffers: Params, x: Tensor) -> Tensor:
    """Run each task's own parameters (leading task axis) on its own inputs ``x[task]``."""

    def one(p: Params, xi: Tensor) -> Tensor:
        return functional_call(model, (p, buffers), (xi,))

    return vmap(one)(params, x)


def per_task_loss(
    model: nn.Module, params: Params, buffers: Params, x: Tensor, y: Tensor, loss_fn: LossFn
) -> Tensor:
    """Loss of each task's parameters on its own examples, ``[tasks]``."""

    def one(p: Params, xi: Tensor, yi: Tensor) -> Tensor:
        return task_loss(model, p, buffers, xi, yi, loss_fn)

    return vmap(one)(params, x, y)
