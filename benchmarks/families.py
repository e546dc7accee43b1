"""Task families end to end through the service's use cases: meta-train, then adapt to unseen tasks.

For each family and K (support rows), the script declares a family in a throw-away SQLite
metastore, uploads the prior tasks, runs the meta-training use case (the same code the job
runs), then calls the adaptation use case (the same code as ``POST /v1/families/{id}/adapt``)
on unseen tasks after 1, 5 and 10 steps, and reports the query MSE of the adapted model next to
the two baselines the endpoint returns: the same network trained from scratch on the support
set (Adam, ``scratch_steps``) and one network fitted on all prior tasks pooled.

    python benchmarks/families.py --family sinusoid --iterations 6000
    python benchmarks/families.py --family fertility --iterations 3000

``fertility`` is the World Bank fertility panel shipped with statsmodels
(``statsmodels.api.datasets.fertility``): one task per country, x = year, y = births per woman.
Unseen tasks are held-out countries; support rows are K random years, the query the others.
The table is printed and written to ``docs/benchmarks/families-<family>.md`` for MAML and to
``docs/benchmarks/families-<family>-<algorithm>.md`` for the other algorithms.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metastore import schema  # noqa: E402
from metastore.families import NewFamily  # noqa: E402
from metastore.sql import SqlMetaStore  # noqa: E402
from service.config import Settings  # noqa: E402
from service.usecases import families as uc  # noqa: E402

STEPS = (1, 5, 10)


def sinusoid(n_tasks: int, rows: int, seed: int) -> pd.DataFrame:
    """The MAML paper's family: y = A sin(x - phase), A in [0.1, 5], phase in [0, pi], x in [-5, 5]."""
    rng = np.random.default_rng(seed)
    parts = []
    for t in range(n_tasks):
        amp, phase = rng.uniform(0.1, 5.0), rng.uniform(0.0, np.pi)
        x = rng.uniform(-5.0, 5.0, rows)
        parts.append(pd.DataFrame({"unit": f"s{seed}-{t}", "x": x, "y": amp * np.sin(x - phase)}))
    return pd.concat(parts, ignore_index=True)


def fertility() -> pd.DataFrame:
    """World Bank births per woman, one row per (country, year) with a value."""
    import statsmodels.api as sm

    wide = sm.datasets.fertility.load_pandas().data
    years = [c for c in wide.columns if c.isdigit()]
    long = wide.melt(id_vars=["Country Code"], value_vars=years, var_name="year", value_name="y")
    long = long.dropna().rename(columns={"Country Code": "unit"})
    long["x"] = long["year"].astype(float)
    return long[["unit", "x", "y"]].reset_index(drop=True)


def split_panel(
    frame: pd.DataFrame, n_test: int, min_rows: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    sizes = frame.groupby("unit").size()
    units = np.array(sorted(sizes[sizes >= min_rows].index))
    test = set(np.random.default_rng(seed).permutation(units)[:n_test])
    keep = frame["unit"].isin(units)
    return frame[keep & ~frame["unit"].isin(test)], frame[keep & frame["unit"].isin(test)]


def run(prior: pd.DataFrame, test: pd.DataFrame, shots: int, args: argparse.Namespace) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlMetaStore.from_url(f"sqlite+pysqlite:///{tmp}/bench.sqlite")
        schema.upgrade(store.engine)
        settings = Settings(data_dir=Path(tmp), load_bundled_kb=False, embedded_worker=False)
        fstore = uc.families_for(store)
        meta = {
            **uc.DEFAULT_SETTINGS,
            "hidden": [40, 40],
            "shots": shots,
            "query": args.query,
            "inner_lr": args.inner_lr,
            "inner_steps": args.inner_steps,
            "seed": args.seed,
        }
        family = fstore.create_family(
            NewFamily(f"{args.family}-k{shots}", "regression", ("x",), "y", args.algorithm, meta)
        )
        uc.add_tasks(fstore, family.id, prior, "prior", "unit")
        started = time.perf_counter()
        trained = uc.meta_train(
            fstore,
            settings,
            uc.MetaTrainArguments(
                family_id=family.id,
                iterations=args.iterations,
                meta_batch_size=25,
                validate_every=500,
                patience=args.patience,
                n_validation_tasks=200,
                pooled_steps=args.pooled_steps,
                seed=args.seed,
            ),
        )
        train_s = time.perf_counter() - started
        print(
            f"K={shots}: meta-trained {trained['metrics']['iterations']} iterations in {train_s:.0f} s",
            flush=True,
        )
        return [
            _adapt_all(fstore, settings, family.id, test, shots, steps, args) | {"train_s": train_s}
            for steps in STEPS
        ]


def _adapt_all(
    fstore: uc.FamilyStore,
    settings: Settings,
    family_id: int,
    test: pd.DataFrame,
    shots: int,
    steps: int,
    args: argparse.Namespace,
) -> dict:
    rng = np.random.default_rng(args.seed + 7)
    scores: dict[str, list[float]] = {"adapted": [], "scratch": [], "pooled": []}
    for _, task in test.groupby("unit", sort=True):
        order = rng.permutation(len(task))
        rows = task[["x", "y"]].to_dict("records")
        support = [rows[i] for i in order[:shots]]
        query = [rows[i] for i in order[shots:]]
        out = uc.adapt(
            fstore,
            settings,
            uc.AdaptArguments(
                family_id=family_id,
                support=support,
                query=query,
                steps=steps,
                scratch_steps=args.scratch_steps,
                seed=args.seed,
            ),
        )
        scores["adapted"].append(out["metrics"]["query_mse"])
        scores["scratch"].append(out["baselines"]["scratch"]["query_mse"])
        scores["pooled"].append(out["baselines"]["pooled"]["query_mse"])
    return {
        "K": shots,
        "steps": steps,
        "tasks": len(scores["adapted"]),
        **{k: (float(np.mean(v)), float(np.std(v) / np.sqrt(len(v)))) for k, v in scores.items()},
    }


def table(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"| K | steps | adapted ({args.algorithm}) | scratch ({args.scratch_steps} Adam steps) | pooled |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{m:.3f} ± {se:.3f}" for m, se in (r["adapted"], r["scratch"], r["pooled"])]
        lines.append(f"| {r['K']} | {r['steps']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--family", choices=("sinusoid", "fertility"), default="sinusoid")
    p.add_argument("--algorithm", choices=("maml", "fomaml", "reptile", "metasgd", "anil"), default="maml")
    p.add_argument("--iterations", type=int, default=6000)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--inner-steps", type=int, default=1)
    p.add_argument("--query", type=int, default=10)
    p.add_argument("--pooled-steps", type=int, default=3000)
    p.add_argument("--scratch-steps", type=int, default=100)
    p.add_argument("--test-tasks", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.family == "sinusoid":
        prior, test = sinusoid(1000, 30, args.seed), sinusoid(args.test_tasks, 30, args.seed + 1)
    else:
        prior, test = split_panel(fertility(), args.test_tasks, min_rows=30, seed=args.seed)
    rows = [r for shots in (5, 10) for r in run(prior, test, shots, args)]
    header = (
        f"Query MSE on {rows[0]['tasks']} unseen {args.family} tasks (mean ± standard error), "
        f"{prior['unit'].nunique()} prior tasks; meta-training took "
        + ", ".join(f"{r['train_s']:.0f} s (K={r['K']})" for r in rows if r["steps"] == STEPS[0])
        + f" on {platform.processor() or platform.machine()}, one thread.\n\n"
        f"Command: `python benchmarks/families.py {shlex.join(sys.argv[1:])}`\n\n"
    )
    text = header + table(rows, args) + "\n"
    print(text)
    suffix = "" if args.algorithm == "maml" else f"-{args.algorithm}"
    out = ROOT / "docs" / "benchmarks" / f"families-{args.family}{suffix}.md"
    out.write_text(f"# Task families: {args.family} ({args.algorithm})\n\n" + text)


if __name__ == "__main__":
    main()
