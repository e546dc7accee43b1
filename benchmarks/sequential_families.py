"""Per search space: HPO-B's per-space setting, one table row per (family, method).

``benchmarks/sequential.py --space FAMILY`` runs the sequential protocol on one family's stored
pool (33 configurations; 66 in classification for the six families whose pools hold
class-weighted twins). The trials are capped at the smallest pool, 33, so "regret@50" is the
regret after 33 trials. This script runs it for every family with the same settings and the same
resumable cache, and writes one table: mean regret at 5 / 10 / 25 trials and rank@25 per method
within each family, plus the mean over families (every family weighted the same, as HPO-B
averages over search spaces).

Reproduce (resumable: rerun to continue; a family's runs are cached as in sequential.py):

    nice -n 5 .venv/bin/python benchmarks/sequential_families.py --max-groups 4 --seeds 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import sequential  # noqa: E402

from learners.spaces import FAMILIES  # noqa: E402

COLUMNS = ("regret@5", "regret@10", "regret@25", f"rank@{sequential.RANK_AT}")
DOC = ROOT / "docs" / "benchmarks" / "sequential-families.md"
METHODS = ("random", "tpe", "zero_shot", "warmstart")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--methods", nargs="+", default=list(METHODS),
                   choices=list(sequential.METHODS))
    p.add_argument("--max-groups", type=int, default=None, help="held-out groups per task type")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--task-type", choices=["classification", "regression", "both"],
                   default="both")
    p.add_argument("--synthetic", type=int, default=0,
                   help="N datasets of a synthetic knowledge base instead of the file: for tests")
    p.add_argument("--surrogate-params", default="{}", help="passed to sequential.py (JSON)")
    p.add_argument("--cache", type=Path, default=ROOT / "var" / "sequential")
    p.add_argument("--out", type=Path, default=DOC)
    p.add_argument("--json", action="store_true", help="print the tables as JSON only")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, dict[str, dict[str, float]]]:
    """{family: {method: {column: value}}} from ``sequential.main`` on each family's pool."""
    tables = {}
    for family in args.families:
        argv = ["--space", family, "--json", "--seeds", str(args.seeds), "--task-type",
                args.task_type, "--cache", str(args.cache), "--surrogate-params",
                args.surrogate_params, "--methods", *args.methods]
        if args.synthetic:
            argv += ["--synthetic", str(args.synthetic)]
        if args.max_groups is not None:
            argv += ["--max-groups", str(args.max_groups)]
        print(f"{family}: sequential.py {' '.join(argv)}", file=sys.stderr, flush=True)
        with contextlib.redirect_stdout(sys.stderr):  # its own JSON line is not ours
            tables[family] = sequential.main(argv)["methods"]
    return tables


def mean_over_families(tables: dict[str, dict[str, dict[str, float]]],
                       methods: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each column's mean over the families where the method ran (families weigh the same)."""
    out = {}
    for m in methods:
        rows = [t[m] for t in tables.values() if m in t]
        if rows:
            out[m] = {c: round(sum(r[c] for r in rows) / len(rows), 4) for c in COLUMNS}
    return out


def markdown(tables: dict[str, dict[str, dict[str, float]]], methods: Sequence[str]) -> str:
    lines = ["| family | method | " + " | ".join(COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    blocks = {**tables, "mean over families": mean_over_families(tables, methods)}
    for family, table in blocks.items():
        for m in methods:
            if m in table:
                cells = " | ".join(f"{table[m][c]:.4f}" if "regret" in c else f"{table[m][c]:.2f}"
                                   for c in COLUMNS)
                lines.append(f"| {family} | {m} | {cells} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    started = time.time()
    tables = run(args)
    if args.json:
        print(json.dumps(tables))
        return tables
    command = "nice -n 5 .venv/bin/python benchmarks/sequential_families.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    table = markdown(tables, args.methods)
    print(table)
    text = [
        "# Sequential benchmark per search space (one family's pool each)",
        "",
        f"Command: `{command}` ({time.time() - started:.0f} s on this machine, 2 shared cores).",
        "",
        "Protocol: `benchmarks/sequential.py --space FAMILY` for each family (see that script's "
        "docstring and docs/benchmarks/sequential.md): leave-one-group-out, each family's pool of "
        "stored configurations as the search space, regret min-max normalised over that pool, "
        "every trial a lookup. A pool holds 33 configurations (66 in classification for the six "
        "families with class-weighted twins); the runs stop at the smallest pool's 33 trials. "
        "The zero-shot recommender and the surrogates are fitted on that family alone.",
        "",
        table,
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    return tables


if __name__ == "__main__":
    main()
