"""Task samplers: shapes, the sinusoid protocol, N-way relabelling, class splits and seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from learners.meta import GroupedTasks, NWayKShotTasks, SinusoidTasks, TaskBatch, gaussian_classes


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sinusoid_follows_the_maml_protocol():
    tasks = SinusoidTasks(shots=5, query=100).sample(500, gen())
    assert tasks.support_x.shape == (500, 5, 1) and tasks.query_y.shape == (500, 100, 1)
    x = torch.cat([tasks.support_x, tasks.query_x], 1)
    y = torch.cat([tasks.support_y, tasks.query_y], 1)
    assert x.min() >= -5 and x.max() <= 5
    assert y.abs().max() <= 5.0
    # Every task is A sin(x - b) with b in [0, pi]: recover A and b from two points and refit.
    amp_phase = torch.linalg.lstsq(
        torch.cat([torch.sin(x), -torch.cos(x)], -1), y
    ).solution  # [A cos b, A sin b]
    amp = amp_phase.norm(dim=1).squeeze(-1)
    phase = torch.atan2(amp_phase[:, 1], amp_phase[:, 0]).squeeze(-1)
    assert amp.min() >= 0.1 - 1e-4 and amp.max() <= 5 + 1e-4
    assert phase.min() >= -1e-4 and phase.max() <= math.pi + 1e-4


def test_same_generator_seed_gives_the_same_tasks():
    a = SinusoidTasks(10).sample(3, gen(7))
    b = SinusoidTasks(10).sample(3, gen(7))
    c = SinusoidTasks(10).sample(3, gen(8))
    assert all(torch.equal(s, t) for s, t in zip(a.tensors(), b.tensors(), strict=True))
    assert not torch.equal(a.support_x, c.support_x)


def test_n_way_tasks_relabel_and_keep_support_and_query_apart():
    x, y = gaussian_classes(10, 12, 4, seed=0)
    tasks = NWayKShotTasks(x, y, n_way=3, k_shot=2, n_query=4).sample(5, gen())
    assert tasks.support_x.shape == (5, 6, 4) and tasks.query_y.shape == (5, 12)
    for t in range(5):
        assert sorted(tasks.support_y[t].tolist()) == [0, 0, 1, 1, 2, 2]
        rows_s = {tuple(r) for r in tasks.support_x[t].tolist()}
        rows_q = {tuple(r) for r in tasks.query_x[t].tolist()}
        assert not rows_s & rows_q


def test_split_gives_disjoint_class_pools():
    x, y = gaussian_classes(20, 5, 2, seed=0)
    train, val = NWayKShotTasks(x, y, n_way=3, k_shot=2, n_query=2).split(0.25, seed=1)
    assert len(train.classes) == 15 and len(val.classes) == 5
    assert not set(train.classes) & set(val.classes)


def test_samplers_reject_impossible_requests():
    x, y = gaussian_classes(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match="n_way=5 but only 4 classes"):
        NWayKShotTasks(x, y, n_way=5, k_shot=1, n_query=1)
    with pytest.raises(ValueError, match="fewer than k_shot"):
        NWayKShotTasks(x, y, n_way=2, k_shot=2, n_query=2)
    with pytest.raises(ValueError, match="shots must be a positive integer, got 0"):
        SinusoidTasks(shots=0)


def test_task_batch_checks_shapes():
    z = torch.zeros
    with pytest.raises(ValueError, match="number of tasks"):
        TaskBatch(z(2, 3, 1), z(2, 3, 1), z(3, 4, 1), z(3, 4, 1))
    with pytest.raises(ValueError, match="support_x has 3 examples"):
        TaskBatch(z(2, 3, 1), z(2, 4, 1), z(2, 4, 1), z(2, 4, 1))


def test_gaussian_classes_is_seeded():
    a = gaussian_classes(3, 4, 2, seed=1, noise_features=2)
    b = gaussian_classes(3, 4, 2, seed=1, noise_features=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (12, 4)


def test_grouped_tasks_draw_each_task_from_one_group():
    groups = np.repeat(np.array(["a", "b", "c", "tiny"]), [6, 6, 6, 2])
    x = np.arange(20, dtype=np.float32).reshape(20, 1)
    y = np.repeat(np.array([0.0, 1.0, 2.0, 3.0]), [6, 6, 6, 2]).reshape(20, 1)
    sampler = GroupedTasks(x, y, groups, shots=2, query=3)
    assert list(sampler.groups) == ["a", "b", "c"]  # "tiny" has too few rows
    tasks = sampler.sample(50, gen())
    assert tasks.support_x.shape == (50, 2, 1) and tasks.query_y.shape == (50, 3, 1)
    both = torch.cat([tasks.support_y, tasks.query_y], 1).squeeze(-1)
    assert (both == both[:, :1]).all()  # one group per task
    assert set(both[:, 0].tolist()) == {0.0, 1.0, 2.0}
    rows = torch.cat([tasks.support_x, tasks.query_x], 1).squeeze(-1)
    assert all(len(set(r.tolist())) == 5 for r in rows)  # no row twice in a task


def test_grouped_tasks_reject_groups_too_small():
    with pytest.raises(ValueError, match="no group has shots \\+ query = 5 rows"):
        GroupedTasks(np.zeros((4, 1)), np.zeros((4, 1)), np.array([0, 0, 1, 1]), 2, 3)
