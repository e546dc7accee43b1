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

``clusters`` is a classification family for ``protonet`` (label sets vary by task): each task
holds 3 Gaussian classes of its own in 8 columns (4 informative, 4 noise); unseen tasks have
unseen classes. K labelled rows per class are the support set, the other rows the query;
the table gives query accuracy of the prototypes against the MLP trained from scratch.

    python benchmarks/families.py --family clusters --iterations 2000
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

from learners.meta import gaussian_classes  # noqa: E402
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


FEATURES = [f"f{i}" for i in range(8)]


def clusters(n_tasks: int, rows_per_class: int, seed: int) -> pd.DataFrame:
    """Tasks of 3 Gaussian classes each; class ids are unique to the seed (unseen in other seeds)."""
    x, y = gaussian_classes(3 * n_tasks, rows_per_class, 4, seed=seed, spread=0.5, noise_features=4)
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["label"] = y + 100_000 * seed
    frame["unit"] = y // 3
    return frame


def run_clusters(prior: pd.DataFrame, test: pd.DataFrame, shots: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlMetaStore.from_url(f"sqlite+pysqlite:///{tmp}/bench.sqlite")
        schema.upgrade(store.engine)
        settings = Settings(data_dir=Path(tmp), load_bundled_kb=False, embedded_worker=False)
        fstore = uc.families_for(store)
        meta = {**uc.DEFAULT_SETTINGS, "hidden": [32], "embedding": 8, "n_way": 3, "shots": shots}
        meta |= {"query": args.query, "outer_lr": 0.003, "seed": args.seed}
        family = fstore.create_family(
            NewFamily(f"clusters-k{shots}", "classification", tuple(FEATURES), "label", "protonet", meta)
        )
        uc.add_tasks(fstore, family.id, prior, "prior", "unit")
        started = time.perf_counter()
        uc.meta_train(fstore, settings, _train_args(family.id, args))
        train_s = time.perf_counter() - started
        print(f"K={shots}: meta-trained in {train_s:.0f} s", flush=True)
        scores: dict[str, list[float]] = {"adapted": [], "scratch": []}
        for _, task in test.groupby("unit", sort=True):
            task = task.drop(columns=["unit"])
            support = pd.concat([g.iloc[:shots] for _, g in task.groupby("label")])
            query = pd.concat([g.iloc[shots:] for _, g in task.groupby("label")])
            out = uc.adapt(
                fstore,
                settings,
                uc.AdaptArguments(
                    family_id=family.id,
                    support=support.to_dict("records"),
                    query=query.to_dict("records"),
                    steps=0,
                    scratch_steps=args.scratch_steps,
                    seed=args.seed,
                ),
            )
            scores["adapted"].append(out["metrics"]["query_accuracy"])
            scores["scratch"].append(out["baselines"]["scratch"]["query_accuracy"])
    mean_se = {k: (float(np.mean(v)), float(np.std(v) / np.sqrt(len(v)))) for k, v in scores.items()}
    return {"K": shots, "tasks": len(scores["adapted"]), "train_s": train_s, **mean_se}


def _train_args(family_id: int, args: argparse.Namespace) -> uc.MetaTrainArguments:
    return uc.MetaTrainArguments(
        family_id=family_id,
        iterations=args.iterations,
        meta_batch_size=25,
        validate_every=500,
        patience=args.patience,
        n_validation_tasks=200,
        pooled_steps=args.pooled_steps,
        seed=args.seed,
    )


def clusters_main(args: argparse.Namespace) -> None:
    prior, test = clusters(300, 15, args.seed), clusters(args.test_tasks, 15, args.seed + 1)
    rows = [run_clusters(prior, test, shots, args) for shots in (1, 5)]
    lines = [
        f"| K (rows per class) | adapted (protonet) | scratch ({args.scratch_steps} Adam steps) |",
        "|---|---|---|",
    ]
    for r in rows:
        cells = [f"{m:.3f} ± {se:.3f}" for m, se in (r["adapted"], r["scratch"])]
        lines.append(f"| {r['K']} | " + " | ".join(cells) + " |")
    text = (
        f"Query accuracy on {rows[0]['tasks']} unseen 3-way tasks with unseen classes (mean ± standard "
        f"error), {prior['unit'].nunique()} prior tasks; meta-training took "
        + ", ".join(f"{r['train_s']:.0f} s (K={r['K']})" for r in rows)
        + f" on {platform.processor() or platform.machine()}, one thread. Chance is 0.333.\n\n"
        f"Command: `python benchmarks/families.py {shlex.join(sys.argv[1:])}`\n\n" + "\n".join(lines) + "\n"
    )
    print(text)
    out = ROOT / "docs" / "benchmarks" / "families-clusters-protonet.md"
    out.write_text("# Task families: clusters (protonet)\n\n" + text)


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
        trained = uc.meta_train(fstore, settings, _train_args(family.id, args))
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
    p.add_argument("--family", choices=("sinusoid", "fertility", "clusters"), default="sinusoid")
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
    if args.family == "clusters":  # classification with varying label sets: protonet only
        clusters_main(args)
        return
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
