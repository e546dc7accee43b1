"""The three verbs: wrap, meta_fit (seeding, validation, early stopping, checkpoints), adapt."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from learners.meta import (
    ANIL,
    MAML,
    CheckpointMismatch,
    MetaSGD,
    NotMetaFitted,
    ProtoNet,
    Reptile,
    SinusoidTasks,
    mlp,
)


def params_of(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def fit(seed: int = 0, iterations: int = 15, **kw) -> MAML:
    learner = MAML(mlp((1, 16, 16, 1), seed=0), **kw)
    return learner.meta_fit(SinusoidTasks(5), iterations=iterations, meta_batch_size=5, seed=seed)


def test_same_seed_gives_bitwise_identical_weights():
    a, b, c = fit(seed=3), fit(seed=3), fit(seed=4)
    assert all(torch.equal(x, y) for x, y in zip(params_of(a.model), params_of(b.model), strict=True))
    assert not torch.equal(params_of(a.model)[0], params_of(c.model)[0])


def test_meta_training_lowers_the_one_step_loss():
    test = SinusoidTasks(5, query=50).sample(100, torch.Generator().manual_seed(99))
    before = MAML(mlp((1, 40, 40, 1), seed=0))
    before._setup()
    after = MAML(mlp((1, 40, 40, 1), seed=0), outer_lr=3e-3)
    after.meta_fit(SinusoidTasks(5), iterations=300, meta_batch_size=10)
    loss_before = before.evaluate(test, steps=(1,))[1].mean()
    loss_after = after.evaluate(test, steps=(0, 1))
    assert loss_after[1].mean() < 0.7 * loss_before  # measured: 2.98 vs 4.90
    assert loss_after[1].mean() < loss_after[0].mean()


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    ckpt = tmp_path / "maml.safetensors"
    straight = fit(iterations=12)
    first = MAML(mlp((1, 16, 16, 1), seed=0))
    first.meta_fit(SinusoidTasks(5), iterations=5, meta_batch_size=5, checkpoint=ckpt)
    resumed = MAML(mlp((1, 16, 16, 1), seed=1))  # different init: the checkpoint overrides it
    resumed.meta_fit(SinusoidTasks(5), iterations=12, meta_batch_size=5, checkpoint=ckpt)
    assert resumed.iteration_ == 12
    for x, y in zip(params_of(straight.model), params_of(resumed.model), strict=True):
        torch.testing.assert_close(x, y, atol=0, rtol=0)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    learner = MetaSGD(mlp((1, 8, 1), seed=0)).meta_fit(SinusoidTasks(5), iterations=3)
    path = tmp_path / "m.safetensors"
    learner.save(path)
    loaded = MetaSGD(mlp((1, 8, 1), seed=9)).load(path)
    for k, v in learner.step_sizes_.items():
        assert torch.equal(v, loaded.step_sizes_[k])
    assert torch.equal(params_of(learner.model)[0], params_of(loaded.model)[0])
    with pytest.raises(CheckpointMismatch, match="algorithm='MetaSGD'"):
        MAML(mlp((1, 8, 1), seed=0)).load(path)
    with pytest.raises(CheckpointMismatch, match=r"inner_lr=0\.01"):
        MetaSGD(mlp((1, 8, 1), seed=0), inner_lr=0.1).load(path)


def test_early_stopping_halts_when_validation_stops_improving():
    learner = MAML(mlp((1, 8, 1), seed=0), outer_lr=0.0)  # nothing moves, so nothing improves
    learner.meta_fit(
        SinusoidTasks(5),
        iterations=1000,
        meta_batch_size=2,
        validation=SinusoidTasks(5),
        validate_every=10,
        patience=2,
    )
    assert learner.iteration_ == 30
    assert [p.iteration for p in learner.history_] == [10, 20, 30]


def test_best_validated_weights_are_restored():
    learner = MAML(mlp((1, 16, 1), seed=0), outer_lr=0.05)
    learner.meta_fit(SinusoidTasks(5), iterations=60, validation=SinusoidTasks(5), validate_every=10)
    best = min(p.loss for p in learner.history_)
    assert learner.best_val_loss_ == best
    val = SinusoidTasks(5).sample(200, torch.Generator().manual_seed(1_000_003))
    assert learner._validation_loss(val) == pytest.approx(best, rel=1e-5)


def test_validation_steps_score_the_mean_loss_after_each_step_count():
    learner = MAML(mlp((1, 16, 1), seed=0), outer_lr=0.05)
    learner.meta_fit(SinusoidTasks(5), iterations=20, validation=SinusoidTasks(5), validate_every=10,
                     validation_steps=(1, 10))
    val = SinusoidTasks(5).sample(200, torch.Generator().manual_seed(1_000_003))
    losses = learner.evaluate(val, steps=(1, 10))
    assert losses[10].mean() != pytest.approx(losses[1].mean())  # the two criteria differ
    assert learner.best_val_loss_ == pytest.approx((losses[1].mean() + losses[10].mean()) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="validation_steps"):
        MAML(mlp((1, 8, 1), seed=0)).meta_fit(SinusoidTasks(5), iterations=1, validation_steps=())
    with pytest.raises(ValueError, match="without gradient steps"):
        ProtoNet(mlp((1, 8), seed=0), n_way=5).meta_fit(SinusoidTasks(5), iterations=1,
                                                        validation_steps=(1,))


def test_adapt_returns_a_plain_module_without_a_graph():
    learner = fit()
    tasks = SinusoidTasks(5).sample(3, torch.Generator().manual_seed(5))
    before = params_of(learner.model)
    adapted = learner.adapt(tasks.support_x[0], tasks.support_y[0], steps=3)
    assert isinstance(adapted, nn.Sequential)
    out = adapted(tasks.query_x[0])
    assert out.shape == (5, 1) and not out.requires_grad
    assert all(torch.equal(x, y) for x, y in zip(before, params_of(learner.model), strict=True))
    batch = learner.adapt_batch(tasks.support_x, tasks.support_y, steps=3)
    torch.testing.assert_close(batch.predict(tasks.query_x)[0], out, atol=1e-6, rtol=0)
    for t in (1, 2):
        one = learner.adapt(tasks.support_x[t], tasks.support_y[t], steps=3)
        torch.testing.assert_close(one(tasks.query_x[t]), batch.predict(tasks.query_x)[t])


def test_adapt_with_zero_steps_is_the_initialisation():
    learner = fit()
    x = torch.linspace(-5, 5, 7).unsqueeze(-1)
    adapted = learner.adapt(x, torch.zeros_like(x), steps=0)
    torch.testing.assert_close(adapted(x), learner.model(x).detach())


@pytest.mark.parametrize("algorithm", [MetaSGD, ANIL])
def test_steps_beyond_training_are_capped_and_said_so(algorithm, tmp_path):
    learner = algorithm(mlp((1, 8, 1), seed=0)).meta_fit(SinusoidTasks(5), iterations=3)
    x, y = torch.randn(5, 1), torch.randn(5, 1)
    with pytest.warns(UserWarning, match="running 1 instead of 10"):
        capped = learner.adapt(x, y, steps=10)
    one_step = learner.adapt(x, y, steps=1)(x)
    torch.testing.assert_close(capped(x), one_step)
    tasks = SinusoidTasks(5).sample(4, torch.Generator().manual_seed(1))
    with pytest.warns(UserWarning, match="running 1 instead of 10"):
        losses = learner.evaluate(tasks, steps=(1, 10))
    np.testing.assert_array_equal(losses[10], losses[1])
    # the cap is how the learner runs, not what it learned: a checkpoint loads either way
    learner.save(tmp_path / "c.safetensors")
    free = algorithm(mlp((1, 8, 1), seed=0), cap_steps=False).load(tmp_path / "c.safetensors")
    assert not torch.allclose(free.adapt(x, y, steps=10)(x), one_step)


def test_maml_runs_every_step_asked_for():
    learner = fit(iterations=3)
    x, y = torch.randn(5, 1), torch.randn(5, 1)
    assert not torch.allclose(learner.adapt(x, y, steps=10)(x), learner.adapt(x, y, steps=1)(x))


def test_reptile_rejects_an_unknown_outer_optimizer():
    with pytest.raises(ValueError, match="outer_optimizer must be one of"):
        Reptile(mlp((1, 8, 1), seed=0), outer_optimizer="rmsprop").meta_fit(SinusoidTasks(5), iterations=1)


def test_errors_name_the_problem():
    learner = MAML(mlp((1, 8, 1), seed=0))
    with pytest.raises(NotMetaFitted, match="call meta_fit"):
        learner.adapt(np.zeros((5, 1)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="inner_steps must be a positive integer, got 0"):
        MAML(mlp((1, 8, 1), seed=0), inner_steps=0).meta_fit(SinusoidTasks(5), iterations=1)
    with pytest.raises(ValueError, match="iterations must be a positive integer, got 0"):
        learner.meta_fit(SinusoidTasks(5), iterations=0)
    with pytest.raises(TypeError, match="needs a sample"):
        learner.meta_fit(object(), iterations=1)  # type: ignore[arg-type]
    learner.meta_fit(SinusoidTasks(5), iterations=1)
    with pytest.raises(ValueError, match=r"must share their leading \[n\]"):
        learner.adapt(np.zeros((5, 1)), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="steps must be a non-negative integer, got -1"):
        learner.adapt(np.zeros((5, 1)), np.zeros((5, 1)), steps=-1)


def test_get_params_lists_constructor_arguments():
    params = MetaSGD(mlp((1, 8, 1), seed=0), inner_lr=0.02).get_params()
    assert params["inner_lr"] == 0.02 and params["cap_steps"] is True
    assert "model" not in params


def test_cosine_schedule_anneals_the_outer_learning_rate_to_zero():
    learner = MAML(mlp((1, 8, 1), seed=0), outer_lr=0.01)
    learner.meta_fit(SinusoidTasks(5), iterations=10, meta_batch_size=2, lr_schedule="cosine")
    last = learner.optimizer_.param_groups[0]["lr"]  # set before the 10th (last) step
    assert last == pytest.approx(0.01 * 0.5 * (1 + np.cos(np.pi * 9 / 10)))
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        learner.meta_fit(SinusoidTasks(5), iterations=20, lr_schedule="step")


def test_mlp_init_of_the_maml_code_is_a_small_truncated_normal_with_zero_biases():
    default, maml = mlp((1, 40, 40, 1), seed=3), mlp((1, 40, 40, 1), seed=3, init="maml")
    for (name, p), (_, q) in zip(default.named_parameters(), maml.named_parameters(), strict=True):
        if name.endswith("bias"):
            assert torch.count_nonzero(q) == 0 and torch.count_nonzero(p) > 0
        else:
            assert q.abs().max() <= 0.02 and 0.005 < q.std() < 0.015
            assert p.abs().max() > 0.1  # PyTorch's default: uniform in +-1/sqrt(fan_in)
    torch.testing.assert_close(list(mlp(seed=3, init="maml").parameters()), list(maml.parameters()))
    with pytest.raises(ValueError, match="init must be one of"):
        mlp(seed=0, init="xavier")
