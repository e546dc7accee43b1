"""Shared fixtures for the meta-learning tests: tiny float64 networks and fixed task batches."""

from __future__ import annotations

import pytest
import torch

from learners.meta import SinusoidTasks, TaskBatch, mlp


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def tiny_net() -> torch.nn.Sequential:
    return mlp((1, 8, 8, 1), seed=0, dtype=torch.float64)


@pytest.fixture
def batch() -> TaskBatch:
    tasks = SinusoidTasks(shots=5, query=7).sample(4, torch.Generator().manual_seed(1))
    return tasks.to("cpu", torch.float64)
