"""The MAML paper's sinusoid benchmark: accuracy, speed against learn2learn and a per-task loop, memory.

Modes (see docs/benchmarks/meta-learning.md for the tables and the commands that made them):

    python benchmarks/meta_sinusoid.py --algorithm maml --shots 10 --iterations 70000 --json
    python benchmarks/meta_sinusoid.py --speed [--repeats 7]
    python benchmarks/meta_sinusoid.py --memory
    python benchmarks/meta_sinusoid.py --table

Training is resumable: state goes to ``--checkpoint-dir`` (default ``var/meta``, outside git) every
1,000 iterations, and rerunning the same command continues from it.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.meta import (  # noqa: E402
    ANIL,
    MAML,
    GradientMetaLearner,
    MetaSGD,
    Reptile,
    SinusoidTasks,
    TaskBatch,
    mlp,
)

RESULTS = ROOT / "benchmarks" / "results" / "meta"
DOC = ROOT / "docs" / "benchmarks" / "meta-learning.md"
EVAL_SEED = 20_170_703  # held-out test tasks: a stream the training seeds never touch
ALGORITHMS = ("maml", "fomaml", "metasgd", "anil", "reptile")


def build(algorithm: str, args: argparse.Namespace) -> GradientMetaLearner:
    """The learner for one algorithm on the paper's 1-40-40-1 ReLU MLP."""
    model = mlp((1, 40, 40, 1), seed=args.seed)
    common = {"inner_lr": args.inner_lr, "inner_steps": args.inner_steps, "device": "cpu"}
    if algorithm == "maml":
        return MAML(model, outer_lr=args.outer_lr, compile=args.compile, **common)
    if algorithm == "fomaml":
        return MAML(model, first_order=True, outer_lr=args.outer_lr, compile=args.compile, **common)
    if algorithm == "metasgd":
        return MetaSGD(model, outer_lr=args.outer_lr, compile=args.compile, **common)
    if algorithm == "anil":
        return ANIL(model, outer_lr=args.outer_lr, compile=args.compile, **common)
    if algorithm == "reptile":
        return Reptile(model, outer_lr=args.reptile_outer_lr, **common)
    raise ValueError(f"unknown algorithm {algorithm!r}; choose from {ALGORITHMS}")


def run_name(args: argparse.Namespace) -> str:
    return f"{args.algorithm}_k{args.shots}_steps{args.inner_steps}_seed{args.seed}"


def mean_ci95(values: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and the half-width of its normal-approximation 95% interval; None when not finite."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        return None, None  # diverged: JSON has no NaN, and a mean of inf says nothing
    return float(values.mean()), float(1.96 * values.std(ddof=1) / math.sqrt(len(values)))


def train_and_evaluate(args: argparse.Namespace) -> dict:
    """Meta-train (resuming from the checkpoint when there is one), then score 600 test tasks."""
    torch.set_num_threads(args.threads)
    learner = build(args.algorithm, args)
    ckpt = Path(args.checkpoint_dir) / f"{run_name(args)}.safetensors"
    done_before = 0
    if ckpt.exists():
        done_before = learner.load(ckpt).iteration_
    start = time.perf_counter()
    learner.meta_fit(
        SinusoidTasks(shots=args.shots),
        iterations=args.iterations,
        meta_batch_size=args.meta_batch,
        validation=SinusoidTasks(shots=args.shots, query=100),
        n_validation_tasks=200,
        validate_every=1000,
        seed=args.seed,
        checkpoint=ckpt,
        checkpoint_every=1000,
    )
    seconds = time.perf_counter() - start
    ran = learner.iteration_ - done_before
    test = SinusoidTasks(shots=args.shots, query=100).sample(
        args.eval_tasks, torch.Generator().manual_seed(EVAL_SEED)
    )
    return summarise(learner, test, args, ran, seconds)


def summarise(
    learner: GradientMetaLearner, test: TaskBatch, args: argparse.Namespace, ran: int, s: float
) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Meta-SGD's step cap is reported explicitly below
        losses = learner.evaluate(test, steps=(0, 1, 10))
    out = {
        "algorithm": args.algorithm,
        "shots": args.shots,
        "inner_lr": args.inner_lr,
        "inner_steps_trained": args.inner_steps,
        "meta_batch": args.meta_batch,
        "seed": args.seed,
        "iterations": learner.iteration_,
        "iterations_this_run": ran,
        "meta_iterations_per_s": ran / s if ran else None,
        "compile": args.compile,
        "eval_tasks": test.n_tasks,
        "eval_query_points": int(test.query_x.shape[1]),
        "best_validation_mse": learner.best_val_loss_,
        "validation_history": [[p.iteration, p.loss] for p in learner.history_],
    }
    for steps, name in ((0, "0_steps"), (1, "1_step"), (10, "10_steps")):
        out[f"mse_after_{name}"], out[f"ci95_after_{name}"] = mean_ci95(losses[steps])
    if isinstance(learner, MetaSGD):
        learner.cap_steps = False
        raw = learner.evaluate(test, steps=(10,))[10]
        learner.cap_steps = True
        out["mse_after_10_steps_uncapped"], out["ci95_after_10_steps_uncapped"] = mean_ci95(raw)
        out["note"] = "mse_after_10_steps is capped at the trained number of inner steps"
    out["command"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    out["torch"] = torch.__version__
    out["machine"] = platform.processor() or platform.machine()
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--algorithm", choices=ALGORITHMS, default="maml")
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--iterations", type=int, default=70_000)
    p.add_argument("--inner-steps", type=int, default=1)
    p.add_argument("--inner-lr", type=float, default=0.01, help="the paper's alpha (code: 1e-3)")
    p.add_argument("--outer-lr", type=float, default=1e-3)
    p.add_argument("--reptile-outer-lr", type=float, default=0.1)
    p.add_argument("--meta-batch", type=int, default=25)
    p.add_argument("--eval-tasks", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compile", action="store_true", help="torch.compile the meta-loss")
    p.add_argument("--checkpoint-dir", default=str(ROOT / "var" / "meta"))
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--speed", action="store_true", help="throughput vs learn2learn and a loop")
    p.add_argument("--memory", action="store_true", help="peak memory per meta-batch")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seconds", type=float, default=3.0, help="per timed repeat (--speed)")
    p.add_argument("--table", action="store_true", help="rewrite the docs table from results")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.speed:
        from benchmarks.meta_speed import run_speed

        result = run_speed(args)
    elif args.memory:
        from benchmarks.meta_speed import run_memory

        result = run_memory(args)
    elif args.table:
        from benchmarks.meta_report import write_report

        write_report(RESULTS, DOC)
        return
    else:
        result = train_and_evaluate(args)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{run_name(args)}.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print({k: v for k, v in result.items() if not isinstance(v, list)})


if __name__ == "__main__":
    main()
