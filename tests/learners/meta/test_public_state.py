"""The public view of a learner's validation state (stale_validations, restore_best) and GroupedClassTasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from learners.meta import MAML, GroupedClassTasks, SinusoidTasks, mlp

VALIDATION_SEED = 1_000_003  # the stream meta_fit draws its fixed validation batch from (seed 0)


def test_stale_validations_counts_checks_since_the_best():
    learner = MAML(mlp((1, 8, 1), seed=0), outer_lr=0.0)  # nothing moves, so nothing improves
    assert learner.stale_validations() == 0  # before any training
    learner.meta_fit(
        SinusoidTasks(5),
        iterations=1000,
        meta_batch_size=2,
        validation=SinusoidTasks(5),
        validate_every=10,
        patience=3,
    )
    assert len(learner.history_) == 4 and learner.stale_validations() == 3


def test_restore_best_after_load_puts_back_the_validated_weights(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    trained = MAML(mlp((1, 16, 1), seed=0), outer_lr=0.05)
    trained.meta_fit(
        SinusoidTasks(5), iterations=60, validation=SinusoidTasks(5), validate_every=10, checkpoint=path
    )
    val = SinusoidTasks(5).sample(200, torch.Generator().manual_seed(VALIDATION_SEED))
    best = trained.best_val_loss_
    last = trained.history_[-1].loss
    assert best < last  # the checkpoint's weights are the last ones, not the best

    resumed = MAML(mlp((1, 16, 1), seed=0), outer_lr=0.05).load(path)
    assert resumed._validation_loss(val) == pytest.approx(last, rel=1e-5)
    assert resumed.restore_best() is True
    assert resumed._validation_loss(val) == pytest.approx(best, rel=1e-5)


def test_restore_best_without_validation_changes_nothing():
    learner = MAML(mlp((1, 8, 1), seed=0)).meta_fit(SinusoidTasks(5), iterations=3, meta_batch_size=2)
    before = [p.detach().clone() for p in learner.model.parameters()]
    assert learner.restore_best() is False
    assert all(torch.equal(a, b) for a, b in zip(before, learner.model.parameters(), strict=True))


def test_grouped_class_tasks_draw_inside_each_groups_own_labels():
    rng = np.random.default_rng(0)
    # group 0 holds labels {0, 1, 2}, group 1 holds {7, 8}, group 2 has too few rows per class
    labels = np.array([0] * 6 + [1] * 6 + [2] * 6 + [7] * 6 + [8] * 6 + [3] * 2 + [4] * 2)
    groups = np.array([0] * 18 + [1] * 12 + [2] * 4)
    x = np.column_stack([groups, labels]).astype(float) + 0.01 * rng.normal(size=(len(labels), 2))
    sampler = GroupedClassTasks(x, labels, groups, n_way=2, shots=2, query=3)
    batch = sampler.sample(40, torch.Generator().manual_seed(0))
    assert batch.support_x.shape == (40, 4, 2) and batch.query_x.shape == (40, 6, 2)
    assert set(batch.support_y.unique().tolist()) == {0, 1}  # relabelled in the order drawn
    for t in range(40):
        rows = torch.cat([batch.support_x[t], batch.query_x[t]])
        assert len(set(rows[:, 0].round().tolist())) == 1  # one group per task
        assert rows[:, 0].round().max() < 2  # group 2 never qualifies
        # one original label per new label, within the task
        for new in (0, 1):
            original = batch.support_x[t][batch.support_y[t] == new][:, 1].round()
            assert len(set(original.tolist())) == 1


def test_grouped_class_tasks_say_when_no_group_is_big_enough():
    labels = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="lower n_way, shots or query"):
        GroupedClassTasks(np.zeros((4, 1)), labels, np.zeros(4), n_way=2, shots=2, query=1)
