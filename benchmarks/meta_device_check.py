"""Does meta-learning stay on one device? Each algorithm meta-trains there a few iterations and is checked.

    python benchmarks/meta_device_check.py --device cuda          # on a machine with a GPU
    python benchmarks/meta_device_check.py --device cpu --iterations 20

For each algorithm (MAML, FO-MAML, Meta-SGD, ANIL and Reptile on the MAML paper's sinusoid MLP,
ProtoNet on Gaussian classes) it runs ``meta_fit`` on the device, resumes from a checkpoint in a
fresh learner, adapts, predicts and evaluates, and checks that every meta-parameter, gradient,
optimiser moment, adapted parameter and prediction is on the device and every loss is finite.
One row per algorithm: ok (or what failed), meta-iterations per second, CUDA synchronisations per
meta-iteration and peak CUDA memory (the last two on CUDA only).

Synchronisations are counted with ``torch.cuda.set_sync_debug_mode("warn")`` over two iterations.
A clean step costs 5: its task batch's four tensors are copied in once (``TaskBatch.to``) and its
loss is read back once (``float(loss)``). More means something crosses between host and device
inside the step. The exit status is 1 when any check fails.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from learners.meta import (
    ANIL,
    MAML,
    GradientMetaLearner,
    MetaLearner,
    MetaSGD,
    NWayKShotTasks,
    ProtoNet,
    Reptile,
    SinusoidTasks,
    TaskBatch,
    TaskSampler,
    gaussian_classes,
    mlp,
)
from learners.meta.base import resolve_device

ALGORITHMS = ("maml", "fomaml", "metasgd", "anil", "reptile", "protonet")
N_WAY = 5
SYNC_WARNING = "synchronizing"  # what torch.cuda.set_sync_debug_mode("warn") says
SYNCED_ITERATIONS = 2


def build(algorithm: str, args: argparse.Namespace) -> tuple[MetaLearner, TaskSampler]:
    """The learner on ``args.device`` and the tasks it meta-trains on."""
    if algorithm == "protonet":
        x, y = gaussian_classes(64, 2 * args.shots, 16, seed=args.seed, noise_features=16)
        tasks = NWayKShotTasks(x, y, n_way=N_WAY, k_shot=args.shots, n_query=args.shots)
        return ProtoNet(mlp((32, 64, 64), seed=args.seed), n_way=N_WAY, device=args.device), tasks
    model = mlp((1, 40, 40, 1), seed=args.seed)
    learners: dict[str, Callable[[], MetaLearner]] = {
        "maml": lambda: MAML(model, device=args.device),
        "fomaml": lambda: MAML(model, first_order=True, device=args.device),
        "metasgd": lambda: MetaSGD(model, device=args.device),
        "anil": lambda: ANIL(model, device=args.device),
        "reptile": lambda: Reptile(model, device=args.device),
    }
    return learners[algorithm](), SinusoidTasks(shots=args.shots)


@contextmanager
def counted_syncs(device: torch.device) -> Iterator[list[int]]:
    """Counts CUDA host-device synchronisations inside the block into ``count[0]`` (CUDA only)."""
    count = [0]
    if device.type != "cuda":
        yield count
        return
    torch.cuda.synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield count
        finally:
            torch.cuda.set_sync_debug_mode("default")
    count[0] = sum(SYNC_WARNING in str(w.message) for w in caught)


def off(tensor: Tensor, device: torch.device) -> bool:
    """Whether ``tensor`` is not on ``device`` ("cuda" means the current GPU, as PyTorch reads it)."""
    index = device.index if device.index is not None or device.type != "cuda" else torch.cuda.current_device()
    return tensor.device.type != device.type or tensor.device.index != index


def misplaced(learner: MetaLearner) -> list[str]:
    """Names of the learner's tensors that are not on its device."""
    device = learner.device_
    params = learner.meta_parameters()
    out = [f"parameter {i}" for i, p in enumerate(params) if off(p, device)]
    out += [f"gradient {i}" for i, p in enumerate(params) if p.grad is not None and off(p.grad, device)]
    for i, state in enumerate(learner.optimizer_.state.values()):
        # 0-d step counts of a non-fused optimiser stay on the CPU by PyTorch's design
        out += [f"optimiser {i}.{k}" for k, v in state.items() if v.dim() > 0 and off(v, device)]
    return out


def adapted_outputs(learner: MetaLearner, test: TaskBatch) -> tuple[list[Tensor], bool]:
    """Adapt to held-out tasks given on the CPU: the adapted tensors and predictions, and whether
    the test losses (or accuracies) are finite."""
    device = learner.device_
    if isinstance(learner, GradientMetaLearner):
        many = learner.adapt_batch(test.support_x, test.support_y)
        one = learner.adapt(test.support_x[0], test.support_y[0])
        outputs = [*many.params.values(), many.predict(test.query_x.to(device)), *one.parameters()]
        scores = learner.evaluate(test, steps=(0, learner.inner_steps))
        return outputs, all(math.isfinite(float(v.mean())) for v in scores.values())
    if isinstance(learner, ProtoNet):
        classifier = learner.adapt(test.support_x[0], test.support_y[0])
        outputs = [*classifier.buffers(), classifier.predict(test.query_x[0].to(device))]
        return outputs, math.isfinite(float(learner.accuracy(test).mean()))
    raise TypeError(f"no adaptation check for {type(learner).__name__}; add one here")


def check_adaptation(learner: MetaLearner, tasks: TaskSampler, seed: int) -> list[str]:
    """What is off the device or not finite after adapting to held-out tasks."""
    test = tasks.sample(8, torch.Generator().manual_seed(seed + 1))
    outputs, finite = adapted_outputs(learner, test)
    problems = [f"adapted tensor {i}" for i, t in enumerate(outputs) if off(t, learner.device_)]
    return problems if finite else [*problems, "a non-finite test loss"]


def check(algorithm: str, args: argparse.Namespace, workdir: Path) -> dict:
    """Meta-train, resume, adapt on the device; the row of the table."""
    learner, tasks = build(algorithm, args)
    fit = {"meta_batch_size": args.meta_batch, "seed": args.seed}
    path = workdir / f"{algorithm}.safetensors"
    learner.meta_fit(tasks, iterations=1, checkpoint=path, **fit)  # warm-up, and a checkpoint
    with counted_syncs(learner.device_) as syncs:
        learner.meta_fit(tasks, iterations=1 + SYNCED_ITERATIONS, **fit)
    if learner.device_.type == "cuda":
        torch.cuda.synchronize(learner.device_)
        torch.cuda.reset_peak_memory_stats(learner.device_)
    start = time.perf_counter()
    learner.meta_fit(tasks, iterations=learner.iteration_ + args.iterations, **fit)
    if learner.device_.type == "cuda":
        torch.cuda.synchronize(learner.device_)
    seconds = time.perf_counter() - start
    resumed, _ = build(algorithm, args)
    resumed.meta_fit(tasks, iterations=2, checkpoint=path, **fit)  # reads the checkpoint back
    problems = misplaced(learner) + [f"resumed {p}" for p in misplaced(resumed)]
    problems += check_adaptation(learner, tasks, args.seed)
    cuda = learner.device_.type == "cuda"
    return {
        "algorithm": algorithm,
        "ok": not problems,
        "problems": problems,
        "iterations_per_s": args.iterations / seconds,
        "syncs_per_iteration": syncs[0] / SYNCED_ITERATIONS if cuda else None,
        "peak_mib": torch.cuda.max_memory_allocated(learner.device_) / 2**20 if cuda else None,
    }


def table(rows: list[dict]) -> list[str]:
    def cell(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    lines = [
        "| algorithm | ok | meta-iterations/s | syncs/iteration | peak MiB |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        ok = "yes" if r["ok"] else "no: " + ", ".join(r["problems"])
        lines.append(
            f"| {r['algorithm']} | {ok} | {r['iterations_per_s']:.1f} | "
            f"{cell(r['syncs_per_iteration'], '.1f')} | {cell(r['peak_mib'], '.1f')} |"
        )
    return lines


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default=None, help="cuda, cuda:1, cpu... (default: the GPU if present)")
    p.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS))
    p.add_argument("--iterations", type=int, default=200, help="timed meta-iterations per algorithm")
    p.add_argument("--meta-batch", type=int, default=25)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's)")
    args = p.parse_args(argv)
    args.device = resolve_device(args.device)
    if args.device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but PyTorch sees no CUDA device here; run with --device cpu")
    if args.iterations < 1:
        p.error(f"--iterations must be at least 1, got {args.iterations}")
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else "CPU"
    print(f"device {args.device} ({where}), torch {torch.__version__}")
    shown = sys.argv[1:] if argv is None else argv
    print("command: python benchmarks/meta_device_check.py " + shlex.join(shown))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [check(a, args, Path(tmp)) for a in args.algorithms]
    print("\n".join(table(rows)))
    return rows


if __name__ == "__main__":
    sys.exit(0 if all(r["ok"] for r in main()) else 1)
