"""One device, chosen once: meta-training and adaptation never move a tensor to or from the CPU.

No GPU here, so PyTorch's ``meta`` device stands in for one: its tensors have shapes and no data,
and an op mixing one with a non-scalar CPU tensor raises. ``CpuWatch`` goes further: it records
every copy between the CPU and the device and every op on a CPU array, which also catches a tensor
made on the CPU and moved over each step (legal on meta, a copy and a wait per step on a GPU).
What meta tensors cannot do is hand a value to Python: the watch answers those reads
(``float(loss)``) with NaN and counts them, so the loss a step reports is the one value that leaves
the device, and it is counted.

What cannot run on meta is tested piece by piece: a training step is ``_meta_loss_backward``
(``meta_step`` adds ``zero_grad`` and the optimiser step, and PyTorch's fused Adam has no meta
kernel), ``evaluate`` and ``accuracy`` end by copying numbers out, ProtoNet's ``adapt`` needs
``torch.unique`` (no meta kernel), and ``save`` copies out, so resuming starts from a checkpoint
written on the CPU. ``benchmarks/meta_device_check.py`` runs all of it on a real GPU.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from learners.meta import (
    ANIL,
    MAML,
    GradientMetaLearner,
    MetaLearner,
    MetaSGD,
    NWayKShotTasks,
    ProtoNet,
    PrototypeClassifier,
    Reptile,
    SinusoidTasks,
    TaskSampler,
    gaussian_classes,
    mlp,
)
from learners.meta.base import resolve_device
from learners.meta.protonet import prototypes

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))

import meta_device_check  # noqa: E402

META = torch.device("meta")
COPIES = {torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default, torch.ops.aten.copy.default}
N_TASKS, CHUNK = 5, 3


class CpuWatch(TorchDispatchMode):
    """Records every op that copies a tensor between the CPU and a device or touches a CPU array.

    A 0-d CPU tensor as an operand is allowed: a device kernel takes it as an argument, with no
    copy (it is what vmap makes of a Python number). Value reads from meta tensors get NaN.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cpu_ops: list[str] = []
        self.scalar_reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default and args[0].is_meta:
            self.scalar_reads += 1
            return math.nan
        out = func(*args, **kwargs)
        inputs, outputs = (
            [t for t in tree_flatten(v)[0] if isinstance(t, torch.Tensor)] for v in ((args, kwargs), out)
        )
        devices = {t.device.type for t in inputs + outputs}
        cpu_array = any(t.device.type == "cpu" and t.dim() > 0 for t in inputs + outputs)
        if cpu_array or ("cpu" in devices and len(devices) > 1 and func in COPIES):
            self.cpu_ops.append(str(func))
        return out


def sine() -> SinusoidTasks:
    return SinusoidTasks(shots=5, query=3)


def classes() -> NWayKShotTasks:
    x, y = gaussian_classes(10, 10, 4, seed=0)
    return NWayKShotTasks(x, y, n_way=3, k_shot=2, n_query=3)


# name -> (learner on a device, the tasks it trains on)
CASES: dict[str, tuple[Callable[[str], MetaLearner], Callable[[], TaskSampler]]] = {
    "maml": (lambda d: MAML(mlp((1, 8, 8, 1), seed=0), device=d), sine),
    "fomaml": (lambda d: MAML(mlp((1, 8, 8, 1), seed=0), first_order=True, device=d), sine),
    "maml-chunked-multi-step": (
        lambda d: MAML(
            mlp((1, 8, 8, 1), seed=0), inner_steps=2, multi_step_loss=True, chunk_size=CHUNK, device=d
        ),
        sine,
    ),
    "metasgd": (lambda d: MetaSGD(mlp((1, 8, 8, 1), seed=0), inner_steps=2, device=d), sine),
    "anil": (lambda d: ANIL(mlp((1, 8, 8, 1), seed=0), device=d), sine),
    "reptile": (
        lambda d: Reptile(mlp((1, 8, 8, 1), seed=0), inner_steps=2, chunk_size=CHUNK, device=d),
        sine,
    ),
    "protonet": (lambda d: ProtoNet(mlp((4, 8, 8), seed=0), n_way=3, device=d), classes),
}
GRADIENT = [name for name in CASES if name != "protonet"]


def on_meta(name: str) -> tuple[MetaLearner, TaskSampler]:
    build, tasks = CASES[name]
    learner = build("meta")
    learner._setup()  # what meta_fit does first: the device is chosen and the model moved, once
    return learner, tasks()


@pytest.mark.parametrize("name", list(CASES))
def test_a_training_step_computes_the_meta_gradient_on_the_device_alone(name: str) -> None:
    learner, tasks = on_meta(name)
    batch = tasks.sample(N_TASKS, torch.Generator().manual_seed(0)).to(learner.device_, learner.dtype)
    with CpuWatch() as watch:
        learner._meta_loss_backward(batch)
    assert watch.cpu_ops == []
    # the loss the step reports is read back once per chunk of the meta-batch, nothing else is
    chunks = math.ceil(N_TASKS / (getattr(learner, "chunk_size", None) or N_TASKS))
    assert 1 <= watch.scalar_reads <= chunks
    optimised = [p for group in learner.optimizer_.param_groups for p in group["params"]]
    assert {p.device for p in optimised} == {META}
    for p in learner.meta_parameters():
        assert p.device == META and p.grad is not None
        assert p.grad.device == META and p.grad.shape == p.shape


@pytest.mark.parametrize("name", GRADIENT)
def test_adaptation_copies_the_support_set_in_once_and_stays_on_the_device(name: str) -> None:
    learner, tasks = on_meta(name)
    assert isinstance(learner, GradientMetaLearner)
    test = tasks.sample(4, torch.Generator().manual_seed(1))  # on the CPU, as a caller has it
    with CpuWatch() as watch:
        many = learner.adapt_batch(test.support_x, test.support_y)
    assert watch.cpu_ops == ["aten._to_copy.default"] * 2  # support_x and support_y, at the entry
    on_device = test.to(learner.device_, learner.dtype)
    params, buffers = learner._detached_state()
    start = {k: v.expand(test.n_tasks, *v.shape) for k, v in params.items()}
    with CpuWatch() as watch:
        predictions = many.predict(on_device.query_x)
        one = learner.adapt(on_device.support_x[0], on_device.support_y[0])
        single = one(on_device.query_x[0])
        more = learner._continue(start, buffers, on_device, 2)  # evaluate's steps, as in validation
    assert watch.cpu_ops == [] and watch.scalar_reads == 0
    assert predictions.device == META and predictions.shape == on_device.query_y.shape
    assert single.device == META and single.shape == on_device.query_y[0].shape
    assert {p.device for p in one.parameters()} == {META}
    assert all(v.device == META and v.shape == start[k].shape for k, v in more.items())


def test_protonet_scores_and_classifies_on_the_device() -> None:
    learner, tasks = on_meta("protonet")
    batch = tasks.sample(N_TASKS, torch.Generator().manual_seed(0)).to(learner.device_, learner.dtype)
    with CpuWatch() as watch:
        logits = learner._logits(batch)  # what meta-validation and accuracy() score
        z = learner.model(batch.support_x[0]).unsqueeze(0)
        protos = prototypes(z, batch.support_y[:1], 3).squeeze(0)
        labels = torch.arange(3, device=learner.device_)
        predicted = PrototypeClassifier(learner.model, protos, labels).predict(batch.query_x[0])
    assert watch.cpu_ops == [] and watch.scalar_reads == 0
    assert logits.device == META and logits.shape == (N_TASKS, batch.query_x.shape[1], 3)
    assert predicted.device == META and predicted.shape == batch.query_y[0].shape


@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")
@pytest.mark.parametrize("name", ["maml", "metasgd", "protonet"])
def test_a_checkpoint_written_on_the_cpu_resumes_on_the_device(name: str, tmp_path: Path) -> None:
    build, tasks = CASES[name]
    path = tmp_path / f"{name}.safetensors"
    sampler = tasks()
    fit = {"iterations": 2, "meta_batch_size": 3, "checkpoint": path}
    build("cpu").meta_fit(sampler, validation=sampler, n_validation_tasks=3, validate_every=1, **fit)
    resumed = build("meta").meta_fit(sampler, **fit)  # loads, then sets the sampler's RNG state
    assert resumed.iteration_ == 2
    # a CPU generator takes only a CPU state; a non-fused Adam reads its step count every step
    assert resumed._generator_state.device.type == "cpu"
    fused = resumed.optimizer_.param_groups[0]["fused"]
    for state in resumed.optimizer_.state.values():
        assert state["exp_avg"].device == state["exp_avg_sq"].device == META
        assert state["step"].device == (META if fused else torch.device("cpu"))
    assert {v.device for v in resumed._best.values()} == {META}
    assert {p.device for p in resumed.meta_parameters()} == {META}


@pytest.mark.parametrize(("gpu", "expected"), [(False, "cpu"), (True, "cuda")])
def test_with_no_device_named_the_gpu_is_taken_when_present(
    monkeypatch: pytest.MonkeyPatch, gpu: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert resolve_device(None) == torch.device(expected)


def test_a_named_device_is_honoured_and_chosen_once() -> None:
    for name in ("cpu", "meta", "cuda", "cuda:1"):
        assert resolve_device(name) == torch.device(name)
    assert resolve_device(torch.device("cuda:1")) == torch.device("cuda:1")
    learner, _ = on_meta("maml")
    learner.device = "cpu"  # a changed setting does not move a learner already set up
    learner._setup()
    assert learner.device_ == META and {p.device for p in learner.model.parameters()} == {META}


def test_the_gpu_check_script_runs_every_algorithm_on_the_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--device", "cpu", "--iterations", "2", "--meta-batch", "4", "--shots", "3"]
    rows = meta_device_check.main(argv)
    out = capsys.readouterr().out
    assert [r["algorithm"] for r in rows] == list(meta_device_check.ALGORITHMS)
    for r in rows:
        assert r["ok"], r["problems"]
        assert r["iterations_per_s"] > 0
        assert r["syncs_per_iteration"] is None and r["peak_mib"] is None  # CUDA only
        assert f"| {r['algorithm']} | yes |" in out
    assert "command: python benchmarks/meta_device_check.py --device cpu --iterations 2" in out
