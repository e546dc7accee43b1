"""Meta-gradients of the batched learners against a plain per-task loop with autograd.grad."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from learners.meta import ANIL, MAML, MetaSGD, Reptile, TaskBatch

LR = 0.05


def loop_meta_loss(
    model: nn.Module,
    batch: TaskBatch,
    steps: int,
    *,
    lrs: dict[str, Tensor] | None = None,
    names: list[str] | None = None,
    create_graph: bool = True,
) -> Tensor:
    """Mean query loss after ``steps`` inner SGD steps, one task at a time (the reference)."""
    params = dict(model.named_parameters())
    names = names or list(params)
    total = torch.zeros((), dtype=torch.float64)
    for t in range(batch.n_tasks):
        fast = dict(params)
        for _ in range(steps):
            out = functional_call(model, fast, (batch.support_x[t],))
            loss = F.mse_loss(out, batch.support_y[t])
            grads = torch.autograd.grad(loss, [fast[n] for n in names], create_graph=create_graph)
            for n, g in zip(names, grads, strict=True):
                fast[n] = fast[n] - (lrs[n] if lrs else LR) * g
        out = functional_call(model, fast, (batch.query_x[t],))
        total = total + F.mse_loss(out, batch.query_y[t])
    return total / batch.n_tasks


def batched_grads(learner: MAML, batch: TaskBatch) -> list[Tensor]:
    learner._setup()
    learner.optimizer_.zero_grad(set_to_none=True)
    learner._meta_loss_backward(batch)
    return [p.grad.clone() for p in learner.meta_parameters()]


def max_diff(a: list[Tensor], b: list[Tensor] | tuple[Tensor, ...]) -> float:
    return max(float((x - y).detach().abs().max()) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("steps", [1, 3])
def test_second_order_maml_matches_per_task_loop(tiny_net, batch, steps):
    ours = batched_grads(MAML(tiny_net, inner_lr=LR, inner_steps=steps), batch)
    ref = torch.autograd.grad(loop_meta_loss(tiny_net, batch, steps), list(tiny_net.parameters()))
    assert max_diff(ours, ref) < 1e-5
    assert max(float(g.abs().max()) for g in ref) > 1e-3  # the comparison is not of zeros


def test_multi_step_loss_is_the_mean_of_the_losses_after_each_step(tiny_net, batch):
    steps = 3
    ours = batched_grads(MAML(tiny_net, inner_lr=LR, inner_steps=steps, multi_step_loss=True), batch)
    mean = sum(loop_meta_loss(tiny_net, batch, s) for s in range(1, steps + 1)) / steps
    ref = torch.autograd.grad(mean, list(tiny_net.parameters()))
    assert max_diff(ours, ref) < 1e-5
    last_only = batched_grads(MAML(tiny_net, inner_lr=LR, inner_steps=steps), batch)
    assert max_diff(ours, last_only) > 1e-4  # a different objective, not the plain one again


def test_chunked_meta_gradient_equals_whole_batch(tiny_net, batch):
    whole = batched_grads(MAML(tiny_net, inner_lr=LR, inner_steps=2), batch)
    chunked = batched_grads(MAML(tiny_net, inner_lr=LR, inner_steps=2, chunk_size=3), batch)
    assert max_diff(whole, chunked) < 1e-12


def test_first_order_maml_is_query_gradient_at_adapted_weights(tiny_net, batch):
    """FO-MAML: mean over tasks of dL_query/dphi at phi = adapted weights, no second-order term."""
    ours = batched_grads(MAML(tiny_net, inner_lr=LR, inner_steps=2, first_order=True), batch)
    expected = [torch.zeros_like(p) for p in tiny_net.parameters()]
    for t in range(batch.n_tasks):
        phi = copy.deepcopy(tiny_net)
        for _ in range(2):
            loss = F.mse_loss(phi(batch.support_x[t]), batch.support_y[t])
            grads = torch.autograd.grad(loss, list(phi.parameters()))
            with torch.no_grad():
                for p, g in zip(phi.parameters(), grads, strict=True):
                    p -= LR * g
        q = F.mse_loss(phi(batch.query_x[t]), batch.query_y[t])
        for acc, g in zip(expected, torch.autograd.grad(q, list(phi.parameters())), strict=True):
            acc += g / batch.n_tasks
    second = torch.autograd.grad(loop_meta_loss(tiny_net, batch, 2), list(tiny_net.parameters()))
    assert max_diff(ours, expected) < 1e-10
    assert max_diff(ours, second) > 1e-6  # first order really drops a term


def test_reptile_update_is_its_definition(tiny_net, batch):
    """theta_new = theta + eps * mean_t(phi_t - theta), phi_t = k SGD steps on the support set."""
    eps, k = 0.3, 3
    before = copy.deepcopy(tiny_net)
    learner = Reptile(tiny_net, inner_lr=LR, inner_steps=k, outer_lr=eps)
    learner.meta_step(batch)
    phis = []
    for t in range(batch.n_tasks):
        phi = copy.deepcopy(before)
        opt = torch.optim.SGD(phi.parameters(), lr=LR)
        for _ in range(k):
            opt.zero_grad()
            F.mse_loss(phi(batch.support_x[t]), batch.support_y[t]).backward()
            opt.step()
        phis.append(list(phi.parameters()))
    for i, (old, new) in enumerate(zip(before.parameters(), tiny_net.parameters(), strict=True)):
        mean_phi = torch.stack([phi[i] for phi in phis]).mean(0)
        torch.testing.assert_close(new, old + eps * (mean_phi - old), atol=1e-12, rtol=0)
    assert max_diff(list(before.parameters()), list(tiny_net.parameters())) > 1e-4


@pytest.mark.parametrize("steps", [1, 2])
def test_meta_sgd_step_sizes_receive_the_loop_gradient(tiny_net, batch, steps):
    learner = MetaSGD(tiny_net, inner_lr=LR, inner_steps=steps)
    ours = batched_grads(learner, batch)
    names = [n for n, _ in tiny_net.named_parameters()]
    lrs = {n: learner.extra_[n] for n in names}
    ref_loss = loop_meta_loss(tiny_net, batch, steps, lrs=lrs)
    ref = torch.autograd.grad(ref_loss, [*tiny_net.parameters(), *(lrs[n] for n in sorted(lrs))])
    assert max_diff(ours, ref) < 1e-5
    step_grads = ours[len(names) :]
    assert all(float(g.abs().max()) > 1e-4 for g in step_grads)


def test_meta_sgd_step_sizes_move_after_a_meta_step(tiny_net, batch):
    learner = MetaSGD(tiny_net, inner_lr=LR, outer_lr=1e-2)
    learner.meta_step(batch)
    moved = [float((v - LR).abs().max()) for v in learner.step_sizes_.values()]
    assert min(moved) > 1e-3


def test_anil_adapts_only_the_head(tiny_net, batch):
    learner = ANIL(tiny_net, inner_lr=LR, inner_steps=2)
    ours = batched_grads(learner, batch)
    head = ["4.weight", "4.bias"]
    ref = torch.autograd.grad(loop_meta_loss(tiny_net, batch, 2, names=head), list(tiny_net.parameters()))
    assert learner._adapt_names() == tuple(head)
    assert max_diff(ours, ref) < 1e-5


def test_anil_rejects_an_unknown_head(tiny_net, batch):
    with pytest.raises(ValueError, match="head='decoder'"):
        ANIL(tiny_net, head="decoder").meta_step(batch)
