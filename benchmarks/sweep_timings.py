"""Benchmark: what the knowledge-base sweep costs, measured from its own shards, and an estimate.

    .venv/bin/python benchmarks/sweep_timings.py [--shards var/sweep/kb-holdout-v1]

Reads the Parquet shards written by scripts/sweep_shards.py (each carries its shard's wall and
CPU seconds), prints per-family costs and outcomes, groups datasets by size as the protocol sees
them (rows after the cap, features) and extrapolates the CPU time of the whole sweep from the
mean cost of the datasets already done in each group. CPU time, not wall time, because other
work shares the machine; one core per fit, so wall time on k idle cores is CPU time / k.
The tables go to docs/benchmarks/sweep_timings.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from learners.datasets import catalog  # noqa: E402  (after the path is set)
from learners.evaluate import SWEEP_PROTOCOL  # noqa: E402
from learners.spaces import FAMILIES  # noqa: E402
from learners.sweep import read_shards  # noqa: E402

COMMAND = "python benchmarks/sweep_timings.py"


def markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A pipe table without the optional ``tabulate`` dependency."""

    def cell(v: object) -> str:
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join(lines)


def size_bucket(rows: int, features: int) -> str:
    """A coarse size class: how the protocol splits the dataset, and its width."""
    p = SWEEP_PROTOCOL
    if rows <= p.kfold_max_rows:
        split = f"{p.n_splits}-fold, rows<=200" if rows <= 200 else f"{p.n_splits}-fold, rows>200"
    else:
        split = "holdout, capped" if rows * (1 - p.test_size) > p.max_train_rows else "holdout"
    width = "d<=20" if features <= 20 else "d<=100" if features <= 100 else "d>100"
    return f"{split}, {width}"


def family_table(frame: pd.DataFrame) -> pd.DataFrame:
    shards = frame.drop_duplicates(["dataset", "family"])
    rows = []
    for family in FAMILIES:
        part, sh = frame[frame.family == family], shards[shards.family == family]
        if part.empty:
            continue
        rows.append(
            {
                "family": family,
                "shards": len(sh),
                "cells": len(part),
                "ok %": 100 * (part.status == "ok").mean(),
                "timeout %": 100 * (part.status == "timeout").mean(),
                "failed %": 100 * (part.status == "failed").mean(),
                "median fit CPU s": part.fit_cpu_s.median(),
                "p95 fit CPU s": part.fit_cpu_s.quantile(0.95),
                "mean shard CPU s": sh.shard_cpu_s.mean(),
            }
        )
    return pd.DataFrame(rows)


def bucket_table(frame: pd.DataFrame, pmlb: Path) -> tuple[pd.DataFrame, float, float]:
    """Per size bucket: datasets in all, done, mean CPU per dataset; and two estimated totals,
    charging buckets with no finished dataset the mean and the maximum of the finished ones."""
    entries = pd.DataFrame(
        [{"dataset": ref.name, "bucket": size_bucket(rows, cols)} for ref, _, rows, cols in catalog(pmlb)]
    )
    shards = frame.drop_duplicates(["dataset", "family"])
    complete = shards.groupby("dataset").filter(lambda g: len(g) == len(FAMILIES))
    per_ds = complete.groupby("dataset").shard_cpu_s.sum().rename("cpu").reset_index()
    per_ds = per_ds.merge(entries, on="dataset")
    out = []
    for bucket, group in entries.groupby("bucket"):
        done = per_ds[per_ds.bucket == bucket]
        out.append(
            {
                "size bucket": bucket,
                "datasets": len(group),
                "done": len(done),
                "mean CPU s / dataset": done.cpu.mean() if len(done) else np.nan,
            }
        )
    table = pd.DataFrame(out)
    measured = table["mean CPU s / dataset"]
    typical = per_ds.cpu.mean() if len(per_ds) else np.nan
    costliest = per_ds.cpu.max() if len(per_ds) else np.nan
    est = (table.datasets * measured.fillna(typical)).sum()
    worst = (table.datasets * measured.fillna(costliest)).sum()
    return table, float(est), float(worst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=Path, default=ROOT / "var/sweep" / SWEEP_PROTOCOL.id)
    parser.add_argument("--pmlb", type=Path, default=ROOT.parent / "shared/data/pmlb")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/sweep_timings.md")
    args = parser.parse_args()
    frame = read_shards(args.shards)
    frame = frame[frame.shard_cpu_s.notna()] if "shard_cpu_s" in frame else frame.iloc[:0]
    fams = family_table(frame)
    buckets, est, worst = bucket_table(frame, args.pmlb)
    text = "\n".join(
        [
            f"# Sweep timings ({SWEEP_PROTOCOL.id})",
            "",
            f"Command: `{COMMAND}` on {platform.node()} ({platform.processor() or 'cpu'}), "
            f"{frame.dataset.nunique()} datasets, {len(frame)} cells measured.",
            "",
            "## Per family",
            "",
            markdown(fams),
            "",
            "## Per dataset size (all nine families)",
            "",
            markdown(buckets, 4),
            "",
            f"Estimated whole sweep: {est / 3600:.2f} CPU-hours ({est / 7200:.2f} h on 2 idle "
            "cores), charging buckets with no finished dataset the mean finished dataset; "
            f"{worst / 3600:.2f} CPU-hours ({worst / 7200:.2f} h) charging them the costliest.",
            "",
        ]
    )
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
