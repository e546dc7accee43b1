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
import copy
import importlib.util
import json
import math
import platform
import shlex
import sys
import time
import types
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

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
from learners.meta.models import INITS  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "meta"
DOC = ROOT / "docs" / "benchmarks" / "meta-learning.md"
EVAL_SEED = 20_170_703  # held-out test tasks: a stream the training seeds never touch
ALGORITHMS = ("maml", "fomaml", "metasgd", "anil", "reptile")


def build(algorithm: str, args: argparse.Namespace) -> GradientMetaLearner:
    """The learner for one algorithm on the paper's 1-40-40-1 ReLU MLP."""
    model = mlp((1, 40, 40, 1), seed=args.seed, init=args.init)
    common = {"inner_lr": args.inner_lr, "inner_steps": args.inner_steps, "device": "cpu"}
    if algorithm == "reptile":
        return Reptile(model, outer_lr=args.reptile_outer_lr, **common)
    common["multi_step_loss"] = args.multi_step_loss
    if algorithm == "maml":
        return MAML(model, outer_lr=args.outer_lr, compile=args.compile, **common)
    if algorithm == "fomaml":
        return MAML(model, first_order=True, outer_lr=args.outer_lr, compile=args.compile, **common)
    if algorithm == "metasgd":
        return MetaSGD(model, outer_lr=args.outer_lr, compile=args.compile, **common)
    if algorithm == "anil":
        return ANIL(model, outer_lr=args.outer_lr, compile=args.compile, **common)
    raise ValueError(f"unknown algorithm {algorithm!r}; choose from {ALGORITHMS}")


def run_name(args: argparse.Namespace) -> str:
    query = "" if args.train_query is None else f"_q{args.train_query}"
    sched = "" if args.lr_schedule == "constant" else f"_{args.lr_schedule}"
    init = "" if args.init == "torch" else f"_init{args.init}"
    val = "" if not args.validation_steps else "_val" + "-".join(map(str, args.validation_steps))
    val = "_last" if args.last_iterate else val
    val += "_msl" if args.multi_step_loss else ""
    return (f"{args.algorithm}_k{args.shots}{query}{sched}{init}{val}"
            f"_steps{args.inner_steps}_seed{args.seed}")


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
        SinusoidTasks(shots=args.shots, query=args.train_query),
        iterations=args.iterations,
        meta_batch_size=args.meta_batch,
        validation=None if args.last_iterate else SinusoidTasks(shots=args.shots, query=100),
        n_validation_tasks=200,
        validate_every=1000,
        seed=args.seed,
        checkpoint=ckpt,
        checkpoint_every=1000,
        lr_schedule=args.lr_schedule,
        validation_steps=tuple(args.validation_steps) if args.validation_steps else None,
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
        "train_query_points": args.train_query or args.shots,
        "lr_schedule": args.lr_schedule,
        "init": args.init,
        "validation_steps": list(args.validation_steps or [args.inner_steps]),
        "last_iterate": args.last_iterate,
        "multi_step_loss": args.multi_step_loss,
        "seed": args.seed,
        "iterations": learner.iteration_,
        "iterations_this_run": ran,
        "meta_iterations_per_s": ran / s if ran else None,
        "compile": args.compile and args.algorithm != "reptile",  # Reptile has no meta-graph
        "eval_tasks": test.n_tasks,
        "eval_query_points": int(test.query_x.shape[1]),
        "best_validation_mse": (learner.best_val_loss_ if math.isfinite(learner.best_val_loss_)
                                else None),  # None: no meta-validation (--last-iterate)
        "validation_history": [[p.iteration, p.loss] for p in learner.history_],
    }
    for steps, name in ((0, "0_steps"), (1, "1_step"), (10, "10_steps")):
        out[f"mse_after_{name}"], out[f"ci95_after_{name}"] = mean_ci95(losses[steps])
    if isinstance(learner, MetaSGD | ANIL):
        learner.cap_steps = False
        raw = learner.evaluate(test, steps=(10,))[10]
        learner.cap_steps = True
        out["mse_after_10_steps_uncapped"], out["ci95_after_10_steps_uncapped"] = mean_ci95(raw)
        out["note"] = "mse_after_10_steps is capped at the trained number of inner steps"
    out["command"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    out["torch"] = torch.__version__
    out["machine"] = platform.processor() or platform.machine()
    return out


# ---------------------------------------------------------------- speed
def fixed_batches(shots: int, n: int = 8) -> list[TaskBatch]:
    """The same pre-drawn meta-batches for every contender, so sampling is not timed."""
    gen = torch.Generator().manual_seed(0)
    return [SinusoidTasks(shots=shots).sample(25, gen) for _ in range(n)]


def ours_step(steps: int, compile_: bool) -> tuple[Callable[[TaskBatch], None], nn.Module]:
    learner = MAML(mlp(seed=0), inner_lr=0.01, inner_steps=steps, compile=compile_, device="cpu")
    return learner.meta_step, learner.model


def loop_step(steps: int) -> tuple[Callable[[TaskBatch], None], nn.Module]:
    """The plain per-task loop: autograd.grad(create_graph=True), one task after another."""
    model = mlp(seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(batch: TaskBatch) -> None:
        opt.zero_grad()
        for t in range(batch.n_tasks):
            fast = dict(model.named_parameters())
            for _ in range(steps):
                out = functional_call(model, fast, (batch.support_x[t],))
                loss = F.mse_loss(out, batch.support_y[t])
                grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
                fast = {n: p - 0.01 * g for (n, p), g in zip(fast.items(), grads, strict=True)}
            out = functional_call(model, fast, (batch.query_x[t],))
            (F.mse_loss(out, batch.query_y[t]) / batch.n_tasks).backward()
        opt.step()

    return step, model


def import_learn2learn_maml() -> type | None:
    """learn2learn's MAML without its package __init__ (which imports torchvision, gym...)."""
    if "learn2learn.algorithms.maml" in sys.modules:
        return sys.modules["learn2learn.algorithms.maml"].MAML
    spec = importlib.util.find_spec("learn2learn")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = spec.submodule_search_locations[0]
    for name, path in (("learn2learn", root), ("learn2learn.algorithms", f"{root}/algorithms")):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__path__ = [path]
            sys.modules[name] = stub
    from learn2learn.algorithms.maml import MAML as L2LMAML

    return L2LMAML


def l2l_step(steps: int) -> tuple[Callable[[TaskBatch], None], nn.Module]:
    """learn2learn's MAML as its examples use it: clone, adapt, backward per task."""
    l2l_maml = import_learn2learn_maml()
    if l2l_maml is None:
        raise ImportError("learn2learn is not installed")
    maml = l2l_maml(mlp(seed=0), lr=0.01, first_order=False)
    opt = torch.optim.Adam(maml.parameters(), lr=1e-3)

    def step(batch: TaskBatch) -> None:
        opt.zero_grad()
        for t in range(batch.n_tasks):
            learner = maml.clone()
            for _ in range(steps):
                learner.adapt(F.mse_loss(learner(batch.support_x[t]), batch.support_y[t]))
            (F.mse_loss(learner(batch.query_x[t]), batch.query_y[t]) / batch.n_tasks).backward()
        opt.step()

    return step, maml.module


def contenders(steps: int, with_l2l: bool) -> dict[str, tuple[Callable, nn.Module]]:
    out = {
        "ours (torch.func, eager)": ours_step(steps, False),
        "ours (torch.func + torch.compile)": ours_step(steps, True),
        "per-task loop (autograd.grad)": loop_step(steps),
    }
    if with_l2l:
        out["learn2learn 0.2.0 MAML"] = l2l_step(steps)
    return out


def check_same_update(runners: dict[str, tuple[Callable, nn.Module]], batch: TaskBatch) -> float:
    """Largest weight difference after one identical meta-step: the protocols must agree."""
    after = {}
    for name, (step, model) in runners.items():
        snapshot = copy.deepcopy(model.state_dict())
        step(batch)
        after[name] = [p.detach().clone() for p in model.parameters()]
        model.load_state_dict(snapshot)
    ref = next(iter(after.values()))
    return max(float((a - b).abs().max()) for v in after.values() for a, b in zip(v, ref, strict=True))


def time_once(step: Callable[[TaskBatch], None], batches: list[TaskBatch], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(batches[n % len(batches)])
        n += 1
    return n / (time.perf_counter() - start)


def run_speed(args: argparse.Namespace) -> dict:
    """Interleaved repeats of every contender; medians and ratios per number of inner steps."""
    torch.set_num_threads(args.threads)
    with_l2l = import_learn2learn_maml() is not None
    batches = fixed_batches(10)
    out: dict = {"learn2learn": with_l2l, "repeats": args.repeats, "seconds_per_repeat": args.seconds}
    for steps in (1, 5):
        runners = contenders(steps, with_l2l)
        out[f"max_weight_diff_after_one_step_{steps}"] = check_same_update(runners, batches[0])
        for step, _ in runners.values():
            time_once(step, batches, 1.0)  # warm-up (and compilation)
        rates: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(args.repeats):
            for name, (step, _) in runners.items():
                rates[name].append(time_once(step, batches, args.seconds))
        out[f"inner_steps_{steps}"] = {k: float(np.median(v)) for k, v in rates.items()}
        out[f"inner_steps_{steps}_all"] = rates
    out["meta_iterations_per_s"] = out["inner_steps_1"]["ours (torch.func + torch.compile)"]
    out["command"] = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    return out


# ---------------------------------------------------------------- serving
def run_serving(args: argparse.Namespace) -> dict:
    """Adapting concurrent requests: one batched adapt_batch call vs a loop of adapt() calls."""
    torch.set_num_threads(args.threads)
    learner = MAML(mlp(seed=0), device="cpu")
    learner.meta_step(fixed_batches(10, 1)[0])
    out: dict = {"command": "python " + " ".join(shlex.quote(a) for a in sys.argv), "rows": []}
    for n_tasks in (1, 10, 100):
        tasks = SinusoidTasks(10, query=100).sample(n_tasks, torch.Generator().manual_seed(1))
        sx, sy = tasks.support_x, tasks.support_y

        def batched(tasks: TaskBatch = tasks) -> None:
            learner.adapt_batch(tasks.support_x, tasks.support_y, steps=10).predict(tasks.query_x)

        def looped(sx: Tensor = sx, sy: Tensor = sy, qx: Tensor = tasks.query_x) -> None:
            for t in range(len(sx)):
                with torch.no_grad():
                    learner.adapt(sx[t], sy[t], steps=10)(qx[t])

        rates = {"batched": [], "loop": []}
        for _ in range(args.repeats):
            for name, f in (("batched", batched), ("loop", looped)):
                rates[name].append(n_tasks * time_calls(f, args.seconds))
        out["rows"].append(
            {"tasks": n_tasks, **{f"{k}_tasks_per_s": float(np.median(v)) for k, v in rates.items()}}
        )
    return out


def time_calls(f: Callable[[], None], seconds: float) -> float:
    f()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        f()
        n += 1
    return n / (time.perf_counter() - start)


# ---------------------------------------------------------------- memory
def peak_bytes(fn_: Callable[[], None]) -> int:
    """Peak live CPU tensor memory while ``fn_`` runs: the running sum of every profiler event's
    own allocations minus frees, in time order (PyTorch keeps no CPU allocator statistics)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        fn_()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


def run_memory(args: argparse.Namespace) -> dict:
    """Peak memory of one second-order MAML meta-step, meta-batch 25, K=10, by inner steps."""
    torch.set_num_threads(args.threads)
    batch = fixed_batches(10, 1)[0]
    rows = []
    for steps in (1, 5, 10):
        for chunk in (None, 5, 1):
            learner = MAML(mlp(seed=0), inner_steps=steps, chunk_size=chunk, device="cpu")
            learner.meta_step(batch)  # allocate optimiser state outside the measurement
            peak = peak_bytes(lambda learner=learner: learner.meta_step(batch))
            rows.append({"inner_steps": steps, "chunk_size": chunk or 25, "peak_kib": peak / 1024})
    return {"rows": rows, "command": "python " + " ".join(shlex.quote(a) for a in sys.argv)}


# ---------------------------------------------------------------- report
# Goals from issue #6 (MSE after 1 / 10 steps) and the Meta-SGD paper's Table 1 as the issue quotes
# it (MSE after one step, 600 test tasks); see the notes in the document on how they were checked.
GOALS = {("maml", 10): (0.34, 0.10), ("maml", 5): (0.54, None), ("metasgd", 10): (0.23, None)}
PAPER = {
    ("maml", 5): 1.13,
    ("maml", 10): 0.85,
    ("maml", 20): 0.71,
    ("metasgd", 5): 0.90,
    ("metasgd", 10): 0.53,
    ("metasgd", 20): 0.31,
}
NAMES = {"maml": "MAML", "fomaml": "FO-MAML", "metasgd": "Meta-SGD", "anil": "ANIL", "reptile": "Reptile"}


def fmt(mean: float | None, ci: float | None) -> str:
    return "diverged" if mean is None else f"{mean:.3f} ± {ci:.3f}"


def goal_cell(value: float | None, goal: float | None) -> str:
    if goal is None:
        return ""
    met = value is not None and value <= goal
    return f" (goal ≤ {goal}: {'met' if met else 'NOT met'})"


def deviation(run: dict) -> str:
    """What a run changes in the paper's protocol (none for the headline rows)."""
    changes = []
    if run.get("train_query_points", run["shots"]) != run["shots"]:
        changes.append(f"{run['train_query_points']} query points in meta-training")
    if run.get("lr_schedule", "constant") != "constant":
        changes.append(f"{run['lr_schedule']} outer-lr decay to 0")
    if run.get("init", "torch") != "torch":
        changes.append("init of the MAML code: N(0, 0.01) weights, zero biases")
    if run.get("validation_steps", [run.get("inner_steps_trained", 1)]) != [
        run.get("inner_steps_trained", 1)
    ]:
        steps = " and ".join(map(str, run["validation_steps"]))
        changes.append(f"weights kept by validation MSE after {steps} steps (mean)")
    if run.get("last_iterate"):
        changes.append("last iterate kept, no meta-validation (as the MAML code)")
    if run.get("algorithm") != "reptile" and run.get("inner_steps_trained", 1) != 1:
        changes.append(f"{run['inner_steps_trained']} inner steps in meta-training (the paper: 1)")
    if run.get("multi_step_loss"):
        changes.append("multi-step loss: mean query loss after each inner step (MAML++)")
    if run.get("seed", 0) != 0:
        changes.append(f"training seed {run['seed']} (the other rows: 0)")
    return "; ".join(changes) or "none"


def accuracy_rows(results: Path) -> list[str]:
    rows = []
    runs = [json.loads(p.read_text()) for p in sorted(results.glob("*_k*_seed*.json"))]
    runs.sort(key=lambda r: (list(NAMES).index(r["algorithm"]), r["shots"], deviation(r) != "none"))
    for r in runs:
        key = (r["algorithm"], r["shots"])
        g1, g10 = GOALS.get(key, (None, None))
        ten = fmt(r["mse_after_10_steps"], r["ci95_after_10_steps"]) + goal_cell(r["mse_after_10_steps"], g10)
        if "mse_after_10_steps_uncapped" in r:
            ten += " (capped at 1); uncapped: " + fmt(
                r["mse_after_10_steps_uncapped"], r["ci95_after_10_steps_uncapped"]
            )
        paper = PAPER.get(key)
        rows.append(
            f"| {NAMES[r['algorithm']]} | {r['shots']} | {deviation(r)} "
            f"| {r['inner_steps_trained']} | {r['iterations']:,} "
            f"| {fmt(r['mse_after_0_steps'], r['ci95_after_0_steps'])} "
            f"| {fmt(r['mse_after_1_step'], r['ci95_after_1_step'])}"
            f"{goal_cell(r['mse_after_1_step'], g1)} | {ten} "
            f"| {'' if paper is None else paper} "
            f"| {r['meta_iterations_per_s']:.0f} |"
        )
    return rows


def speed_section(results: Path) -> list[str]:
    path = results / "speed.json"
    if not path.exists():
        return ["(not run yet: `python benchmarks/meta_sinusoid.py --speed`)"]
    d = json.loads(path.read_text())
    ref = "learn2learn 0.2.0 MAML" if d["learn2learn"] else "per-task loop (autograd.grad)"
    lines = [
        f"Command: `{d['command']}` ({d['repeats']} interleaved repeats of "
        f"{d['seconds_per_repeat']} s each). Throughput is the median over repeats; the ratio is "
        f"the median over repeats of (this / **{ref}**) measured back to back.",
        "",
        "| implementation | 1 inner step (it/s) | ratio | 5 inner steps (it/s) | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in d["inner_steps_1"]:
        cells = []
        for steps in (1, 5):
            runs, base = d[f"inner_steps_{steps}_all"][name], d[f"inner_steps_{steps}_all"][ref]
            ratio = float(np.median([a / b for a, b in zip(runs, base, strict=True)]))
            cells.append(f"{d[f'inner_steps_{steps}'][name]:.1f} | {ratio:.1f}x")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += [
        "",
        "Largest weight difference between implementations after one identical meta-step: "
        f"{d['max_weight_diff_after_one_step_1']:.1e} (1 step), "
        f"{d['max_weight_diff_after_one_step_5']:.1e} (5 steps): they compute the same update.",
    ]
    return lines


def memory_section(results: Path) -> list[str]:
    path = results / "memory.json"
    if not path.exists():
        return ["(not run yet: `python benchmarks/meta_sinusoid.py --memory`)"]
    d = json.loads(path.read_text())
    lines = [
        f"Command: `{d['command']}`. Peak live tensor memory (KiB) of one second-order "
        "MAML meta-step, meta-batch 25, K = 10, eager mode.",
        "",
        "| inner steps | whole batch (chunk 25) | chunk_size=5 | chunk_size=1 |",
        "|---:|---:|---:|---:|",
    ]
    by = {(r["inner_steps"], r["chunk_size"]): r["peak_kib"] for r in d["rows"]}
    for steps in sorted({r["inner_steps"] for r in d["rows"]}):
        cells = " | ".join(f"{by[(steps, c)]:,.0f}" for c in (25, 5, 1))
        lines.append(f"| {steps} | {cells} |")
    return lines


def serving_section(results: Path) -> list[str]:
    path = results / "serving.json"
    if not path.exists():
        return ["(not run yet: `python benchmarks/meta_sinusoid.py --serving`)"]
    d = json.loads(path.read_text())
    lines = [
        f"Command: `{d['command']}`. Adapting concurrent requests (10 plain steps on K = 10 "
        "points, then predicting 100 points each), tasks per second, medians:",
        "",
        "| concurrent tasks | one `adapt_batch` call | loop of `adapt` calls | ratio |",
        "|---:|---:|---:|---:|",
    ]
    for r in d["rows"]:
        b, lp = r["batched_tasks_per_s"], r["loop_tasks_per_s"]
        lines.append(f"| {r['tasks']} | {b:.0f} | {lp:.0f} | {b / lp:.1f}x |")
    return lines


def write_report(results: Path, doc: Path) -> None:
    """Rewrite the benchmark document from the result files (narrative lives in the template)."""
    table = [
        "| algorithm | K | change to the paper's protocol | inner steps (train) | iterations | MSE 0 steps "
        "| MSE 1 step | MSE 10 steps | Meta-SGD paper, 1 step | it/s (training) |",
        "|---|---:|---:|---:|---:|---|---|---|---:|---:|",
        *accuracy_rows(results),
    ]
    text = REPORT_TEMPLATE.format(
        torch_version=torch.__version__,
        notes=NOTES,
        speed_notes=SPEED_NOTES,
        memory_notes=MEMORY_NOTES,
        accuracy="\n".join(table),
        speed="\n".join(speed_section(results)),
        memory="\n".join(memory_section(results)),
        serving="\n".join(serving_section(results)),
    )
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
    print(f"wrote {doc}")


NOTES = """\
Notes on the accuracy table:

- Where the goals stand (three training seeds each, means): with the paper's one-step
  objective MAML K = 10 reaches 0.310 after one step (goal 0.34, met) and 0.105 after ten
  (goal 0.10, missed), K = 5 0.560 after one step (goal 0.54, missed). Meta-trained with two
  inner steps on MAML++'s multi-step loss, the rest of the protocol unchanged, MAML K = 10
  reaches 0.320 and 0.075 (both goals met by every seed) and K = 5 0.538 (met by the mean and
  two of three seeds). Meta-SGD K = 10: 0.211 (goal 0.23, met). Details below.
- The "Meta-SGD paper" column is Table 1 of Li et al. (2017), "Meta-SGD: Learning to Learn
  Quickly for Few-Shot Learning" (MSE after one step, 600 test tasks), with the figures as issue #6
  quotes them: MAML 1.13 / 0.85 / 0.71 and Meta-SGD 0.90 / 0.53 / 0.31 for 5 / 10 / 20 shots.
  These agree with the table as we remember it, but this machine has no internet access and we
  could not re-open the paper to check them; treat the column as quoted, not verified.
- Meta-SGD's step sizes are meta-trained for one step. Taking ten steps with them diverges (the
  "uncapped" figure), so `MetaSGD.adapt`/`evaluate` cap the steps at the number trained for and
  warn; `MetaSGD(..., cap_steps=False)` runs them anyway. Its "10 steps" cell is therefore the
  1-step model.
- "MSE 10 steps" for the other algorithms continues with the same plain step size 0.01. With
  K = 5, ten steps overfit the five support points on a few tasks, hence the wide intervals.
- Goals (issue #6), the paper's protocol unchanged, three training seeds (each its own
  initial weights, training and validation tasks; the same 600 test tasks): MAML K = 10 after
  one step 0.346 / 0.316 / 0.326 for seeds 0 / 1 / 2 (goal 0.34: met by seeds 1 and 2 and by
  the mean, 0.329), after ten 0.129 / 0.096 / 0.101 (goal 0.10: met by seed 1 only; mean
  0.109); K = 5 after one step 0.569 / 0.540 / 0.559 (goal 0.54: met by seed 1 only, by a hair;
  mean 0.556). So the one-step K = 10 goal holds, the ten-step K = 10 and one-step K = 5 goals
  are missed by 0.009 and 0.016 on average, while the three seeds span about 0.03 (max - min)
  on each: larger than the miss; no difference of protocol explains it (next note). 100 query points per
  training task reaches K = 5 (0.519, seed 0) and comes within 0.001 / 0.005 of the K = 10
  goals; a cosine outer-lr decay did not help the one-step figure. First-order MAML, same
  protocol, lands at 0.339 / 0.107. Meta-SGD meets its goal (0.211 vs 0.23). Every one-step
  figure is below the Meta-SGD paper's.
- Three levers tried on full 70,000-iteration runs (session 5), K = 10; none closes the
  ten-step gap, which moves more between seeds than between these settings. The MAML code's
  init (`--init maml`), seeds 0 / 1 / 2: one step 0.341 / 0.392 / 0.338 (mean 0.357), ten
  0.135 / 0.136 / 0.109 (mean 0.127): worse than PyTorch's init. 100 query points per
  training task, seeds 0 / 1 / 2: one step 0.341 / 0.315 / 0.318 (mean 0.325, goal met), ten
  0.105 / 0.154 / 0.187 (mean 0.149). Keeping the weights with the best mean validation MSE
  after 1 and 10 steps (`--validation-steps 1 10`, seed 0 only): 0.319 / 0.180.
- A fourth lever (session 6): the cosine outer-lr decay on a second seed. Seeds 0 / 1: one
  step 0.362 / 0.352, ten 0.111 / 0.121 (mean 0.116), against 0.346 / 0.316 and 0.129 / 0.096
  (mean 0.113) with the constant rate: no better at ten steps and worse at one, so seed 2 was
  not run.
- The last of the four protocol differences below, (3), tested (session 6): keeping the last
  meta-parameters as the MAML code does (`--last-iterate`, no meta-validation), seeds 0 / 1 /
  2: one step 0.294 / 0.312 / 0.323 (mean 0.310, every seed within the goal), ten 0.104 /
  0.100 / 0.112 (mean 0.105; goal 0.10 met by seed 1 only, at 0.0999). Against
  the validated weights (0.346 / 0.316 / 0.326 and 0.129 / 0.096 / 0.101) it is better on
  average at both step counts: the best of 70 validations on 200 tasks picks noise. The
  ten-step goal is still missed by 0.005 on the three-seed mean. K = 5 with the last iterate,
  seeds 0 / 1 / 2: one step 0.550 / 0.559 / 0.570 (mean 0.560, goal 0.54 not met; validated
  weights: mean 0.556), ten 0.316 / 0.309 / 0.361.
- The lever that closes the K = 10 gap (session 7): meta-train with two inner steps on the
  multi-step loss of MAML++ (Antoniou et al., "How to train your MAML", 2019): the
  meta-objective is the mean of the query losses after step 1 and after step 2, with uniform
  weights and no annealing (`MAML(..., inner_steps=2, multi_step_loss=True)`,
  `--inner-steps 2 --multi-step-loss --last-iterate`). Everything the issue fixes is
  unchanged: inner step 0.01, meta-batch 25, Adam 1e-3, K support points, 70,000
  iterations, test MSE after 1 and 10 plain steps; what differs from the paper's training is
  the second inner step and the loss after each step. Seeds 0 / 1 / 2, K = 10: one step
  0.335 / 0.308 / 0.318 (mean 0.320, goal 0.34 met by every seed), ten 0.077 / 0.070 / 0.077
  (mean 0.075, goal 0.10 met by every seed): one initialisation meets both goals.
  K = 5, the same settings, seeds 0 / 1 / 2: one step 0.545 / 0.533 / 0.536 (mean 0.538, goal
  0.54 met by the mean and by seeds 1 and 2; seed 0 misses by 0.005), ten 0.254 / 0.244 /
  0.256 (the one-step objective with the last iterate: 0.550 / 0.559 / 0.570 and 0.316 / 0.309
  / 0.361).
  Trained on the last step only, more steps trade the one-step figure for the ten-step one:
  five inner steps (seed 0, `--inner-steps 5 --last-iterate`) give 0.510 / 0.038, five with
  the multi-step loss 0.350 / 0.050.
- Protocol, compared with the MAML code (github.com/cbfinn/maml: main.py, maml.py,
  data_generator.py): the task distribution (amplitude U[0.1, 5], phase U[0, pi], x U[-5, 5]),
  K support and K query points per training task, the 1-40-40-1 ReLU network without
  normalisation (`--norm=None`), the MSE averaged over points and tasks, meta-batch 25, Adam
  1e-3 without schedule, one second-order inner step and 70,000 iterations are the same. Four
  differences: (1) the inner step size is the paper's alpha = 0.01; the code's default
  `update_lr` is 1e-3 and its sinusoid command does not set it; (2) the code initialises
  weights from N(0, 0.01) truncated at 2 sd with zero biases, we use PyTorch's default
  (uniform in +-1/sqrt(fan_in), biases too); (3) we keep the best of 70 meta-validations on
  200 tasks, the code its last iterate; (4) the code scores each test task on K query points,
  we on 100 (same expectation, less noise). (2) was the one candidate cause; on short runs the
  code's init (`--init maml`) is behind, not ahead: MAML K = 10 after 4,000 iterations, training
  seeds 1 / 2, MSE after one step 0.693 / 0.685 vs 0.605 / 0.629 with PyTorch's init, after ten
  0.327 / 0.271 vs 0.229 / 0.239 (600 test tasks; `train_and_evaluate` of this script with
  `--shots 10 --iterations 4000 --compile --seed 1|2 [--init maml]` and a scratch
  `--checkpoint-dir`, results not kept: a 4,000-iteration file would take a 70,000 one's name).
- A row with fewer than 70,000 iterations ran out of session time; rerunning its command (in its
  JSON file) resumes it from the checkpoint.
- Rows whose "change" column is not "none" deviate from the paper's protocol, as stated there:
  more query points per task in meta-training (the paper's code uses K), or the outer Adam
  learning rate annealed from 1e-3 to 0 on a cosine (`meta_fit(lr_schedule="cosine")`). The
  support sets, the step size and everything at test time are unchanged. They are there to show
  what it takes to reach the issue's goals; the headline rows are the "none" ones.
- ANIL's meta-learned head sits on features with large activations: one step at 0.01 is tuned,
  but ten plain steps diverge on a few tasks (the huge "uncapped" mean and interval). So ANIL,
  like Meta-SGD, caps `adapt`/`evaluate` at the steps it was trained for and warns
  (`ANIL(..., cap_steps=False)` runs them); its "10 steps" cell is the 1-step model.
- Reptile: 5 inner SGD steps (lr 0.01) on the support set, outer SGD with step 1.0 on
  theta - mean(phi). ANIL adapts only the output layer in the inner loop.
- Device: every figure here was measured on the CPU; no GPU has been lent to this project yet.
  A learner picks its device once (`device=None`: the GPU when one is present) and moves each
  task batch there once. `tests/learners/meta/test_device.py` runs every algorithm's training
  step and adaptation on PyTorch's meta device and checks that nothing else is created on, or
  copied to or from, the CPU. `benchmarks/meta_device_check.py --device cuda` checks the same on
  a real GPU (placement, synchronisations per iteration, peak memory); it has not run on one.
"""
SPEED_NOTES = """\
What is timed: one full meta-iteration (inner step(s) on the support sets, second-order
meta-gradient through them, Adam step) on pre-drawn task batches, from the same initial weights.
All four implementations produce the same weights after one meta-step (difference above), so they
run the identical protocol. "ours (torch.func + torch.compile)" is `MAML(..., compile=True)`: the
whole meta-gradient is one functional computation (`grad_and_value` of a `vmap` over the tasks of
the inner `grad` steps) compiled by `torch.compile`, followed by a fused Adam step; the eager
`torch.func` path runs the same code without compilation. Compilation takes 40-60 s per
shape and is done before timing.

learn2learn 0.2.0 was built for this benchmark only (not a dependency of the package):
`pip download learn2learn==0.2.0 --no-deps --no-binary :all:`, regenerate the stale C files with
Cython 3.3.1 (`python -m cython -3 learn2learn/data/*.pyx`), `pip wheel --no-deps
--no-build-isolation .`, install the wheel with `--no-deps`. Its package `__init__` imports
torchvision and gym and `learn2learn/algorithms/__init__` imports the Lightning wrappers, so the
benchmark imports `learn2learn.algorithms.maml` under stub parent packages (see
`import_learn2learn_maml`). It is used exactly as its examples use it: `clone()`, `adapt()` per
task, `backward()` per task.

The machine has 2 cores shared by four engineers and our own niced training job (load average
about 7 during this run), so absolute throughputs are low and noisy; the ratios are taken
repeat by repeat, back to back, which cancels most of the drift.
"""
MEMORY_NOTES = """\
Measured with the PyTorch profiler's memory events (PyTorch keeps no CPU allocator statistics):
the running sum of every operator's own allocations minus frees. Second-order MAML keeps every
inner step's graph, so memory grows linearly with the inner steps; `chunk_size` processes the
meta-batch that many tasks at a time and accumulates the meta-gradient (identical result, tested
to 1e-12), bounding the peak to about chunk/25 of the whole-batch figure at some cost in speed.
"""


REPORT_TEMPLATE = """\
# Meta-learning on the sinusoid benchmark (learners/meta)

Written by `python benchmarks/meta_sinusoid.py --table` from `benchmarks/results/meta/*.json`;
each result file holds the exact command that produced it.

## Protocol

The MAML paper's sinusoid regression: amplitude uniform in [0.1, 5], phase in [0, pi], x in
[-5, 5]; a 1-40-40-1 ReLU MLP; K support points per task; meta-batch 25 tasks; outer optimiser
Adam, learning rate 1e-3; **inner learning rate 0.01** (the paper's alpha; the official code's
default `update_lr` is 1e-3, which we do not use); one inner step in meta-training unless stated.
Meta-training query sets hold K points (as in the official code) unless the "change" column
says otherwise. Meta-validation: 200 fixed tasks with 100 query points, scored every 1,000
iterations; the best validated weights are kept. Test: 600 held-out tasks (their own seed,
20170703), 100 query points each; mean squared error after 0, 1 and 10 plain gradient steps on
the K support points, mean ± half-width of the normal 95% interval over tasks. torch
{torch_version}, CPU, one thread, `torch.compile` on the meta-gradient, machine shared with
other jobs (training throughput in the last column is therefore a lower bound).

Resumable command (rerun it to continue from `var/meta/*.safetensors`):

    nohup nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/meta_sinusoid.py \\
        --algorithm maml --shots 10 --iterations 70000 --compile --json &

## Accuracy

{accuracy}

{notes}

## Speed: second-order MAML, meta-batch 25, K = 10

{speed}

{speed_notes}

## Serving: adaptation needs no second-order graph, and batches

{serving}

## Memory

{memory}

{memory_notes}
"""


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--algorithm", choices=ALGORITHMS, default="maml")
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--iterations", type=int, default=70_000)
    p.add_argument(
        "--train-query",
        type=int,
        default=None,
        help="query points per task in meta-training (default: shots, as the paper's code)",
    )
    p.add_argument("--inner-steps", type=int, default=1)
    p.add_argument("--inner-lr", type=float, default=0.01, help="the paper's alpha (code: 1e-3)")
    p.add_argument("--outer-lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant")
    p.add_argument(
        "--init",
        choices=INITS,
        default="torch",
        help="torch: PyTorch's default; maml: the MAML code's (truncated N(0, 0.01), zero biases)",
    )
    p.add_argument(
        "--validation-steps",
        type=int,
        nargs="+",
        default=None,
        help="select the kept weights by the mean validation MSE over these step counts "
        "(default: the trained number of inner steps)",
    )
    p.add_argument(
        "--last-iterate",
        action="store_true",
        help="keep the last meta-parameters, as the MAML code does (default: the best of the "
        "meta-validations on 200 tasks)",
    )
    p.add_argument(
        "--multi-step-loss",
        action="store_true",
        help="meta-train on the mean query loss after each inner step (MAML++), not the last only",
    )
    p.add_argument("--reptile-outer-lr", type=float, default=1.0)
    p.add_argument("--meta-batch", type=int, default=25)
    p.add_argument("--eval-tasks", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compile", action="store_true", help="torch.compile the meta-loss")
    p.add_argument("--checkpoint-dir", default=str(ROOT / "var" / "meta"))
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--speed", action="store_true", help="throughput vs learn2learn and a loop")
    p.add_argument("--memory", action="store_true", help="peak memory per meta-batch")
    p.add_argument("--serving", action="store_true", help="batched vs looped adaptation")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seconds", type=float, default=3.0, help="per timed repeat (--speed)")
    p.add_argument("--table", action="store_true", help="rewrite the docs table from results")
    args = p.parse_args(argv)
    if args.last_iterate and args.validation_steps:
        p.error("--last-iterate keeps no validated weights; drop --validation-steps")
    if args.multi_step_loss and (args.algorithm == "reptile" or args.inner_steps < 2):
        p.error("--multi-step-loss needs a gradient meta-learner (not reptile) and --inner-steps >= 2")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    modes = {"speed": run_speed, "memory": run_memory, "serving": run_serving}
    chosen = [m for m in modes if getattr(args, m)]
    if chosen:
        result = modes[chosen[0]](args)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{chosen[0]}.json").write_text(json.dumps(result, indent=2) + "\n")
    elif args.table:
        write_report(RESULTS, DOC)
        return
    else:
        result = train_and_evaluate(args)
        path = RESULTS / f"{run_name(args)}.json"
        if result["iterations_this_run"] == 0 and path.exists():
            # Re-scoring a finished run: keep the throughput measured while it trained.
            result["meta_iterations_per_s"] = json.loads(path.read_text())["meta_iterations_per_s"]
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print({k: v for k, v in result.items() if not isinstance(v, list)})


if __name__ == "__main__":
    main()
