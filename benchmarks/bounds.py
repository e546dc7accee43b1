"""How low can regret go on this knowledge base? Bounds for the goals of issues #5 and #8.

The zero-shot goals (#5) compare a method's best of its first k picks with random search's
expected best of 32 draws, and the sequential goal (#8) a study's best after 10 trials with
random search's after 50, all scored on the knowledge base's stored measurements (min-max
normalised over the dataset's pool). This script measures two things no method can beat:

1. **Lists chosen with the answers** (no training, seconds). For each task type:
   - ``static``: the one list of k configurations with the lowest mean regret over every
     dataset, chosen on those same datasets (in-sample): no dataset-agnostic list (the library
     defaults, a portfolio) can do better on them. Exact for k = 1 and 3 (every list tried),
     greedy beyond; with a lower bound from the linear relaxation of the choice, so the best
     list lies between the two.
   - ``nearest``: for each dataset, the top k of the stored dataset (outside its origin group)
     whose scores on the whole pool correlate best with its own: a neighbour chosen with the
     held-out dataset's own results, which no zero-shot method has; and the same with only a
     random share of the origin groups stored, to see what a larger knowledge base of the same
     kind would bring.
2. **The same datasets measured again** (training, cached, resumable). A seeded sample of
   datasets is re-measured on every pool configuration with the knowledge base's protocol on
   another split seed (``--retest-seed``). Then ``foresight``: the top k by the re-measured
   scores, scored on the stored ones as the benchmarks score every method. That is a
   recommender that knows each configuration's score on an independent split of the very same
   dataset, far more than meta-features can tell; what it misses is measurement noise, which
   random search's best of 32 or 50 draws partly harvests. Reported both ways round (stored
   picks scored on the re-measure too) with the test-retest rank correlation.

Reproduce (the CPU is shared; the retest runs only cells not in ``--cache``):

    nice -n 5 .venv/bin/python benchmarks/bounds.py --retest 12 --workers 2
    .venv/bin/python benchmarks/bounds.py --retest 0 --json      # the bounds from the file only
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sequential import load  # noqa: E402

from learners.datasets import DatasetRef  # noqa: E402
from learners.evaluate import SWEEP_PROTOCOL  # noqa: E402
from learners.recommenders import KnowledgeBase  # noqa: E402
from learners.recommenders.base import normalise_rows  # noqa: E402
from learners.recommenders.evaluation import expected_best_of_k  # noqa: E402
from learners.sweep import pool_cells, run_cells  # noqa: E402
from metastore.kb.bundle import BUNDLED_KB  # noqa: E402

KS = (1, 3, 5, 10)
#: Random search's budgets the goals compare with: best of 32 (#5, against best-of-3) and of 50
#: (#8, against a study's 10 trials).
RANDOM_KS = (3, 10, 32, 50)
#: Shares of the origin groups stored, for the oracle neighbour's curve against the file's size
#: (all of them: the ``nearest`` row).
FRACTIONS = (0.125, 0.25, 0.5)
#: k up to which ``static`` tries every list.
EXACT_UP_TO = 3
METRIC = {"classification": "balanced_accuracy", "regression": "r2"}
DOC = ROOT / "docs" / "benchmarks" / "bounds.md"
PMLB = ROOT.parent / "shared" / "data" / "pmlb"


# --- 1. lists chosen with the answers -------------------------------------------------------------


def static_regret(norm: np.ndarray, k: int) -> float:
    """The lowest mean regret of any one k-list over every row of ``norm`` (exact up to
    ``EXACT_UP_TO``, greedy beyond: then an upper end of the optimum)."""
    if k <= EXACT_UP_TO:
        return _exact_static(norm, k)
    cur, chosen = np.zeros(len(norm)), []
    for _ in range(k):
        j = int(np.argmax(np.maximum(norm, cur[:, None]).mean(axis=0)))
        chosen.append(j)
        cur = np.maximum(cur, norm[:, j])
    return float(1.0 - cur.mean())


def _exact_static(norm: np.ndarray, k: int) -> float:
    """Every (k-1)-list, each completed by its best last column in one vectorised step."""
    best = 0.0
    for head in itertools.combinations(range(norm.shape[1]), k - 1):
        cur = norm[:, list(head)].max(axis=1) if head else np.zeros(len(norm))
        best = max(best, float(np.maximum(norm, cur[:, None]).mean(axis=0).max()))
    return 1.0 - best


def static_lower_bound(norm: np.ndarray, k: int) -> float:
    """A lower bound on the mean regret of every k-list over the rows of ``norm``: the linear
    relaxation of choosing k columns (x) and crediting each row with one chosen column (y),
    max mean(sum_j norm_ij y_ij) with y_ij <= x_j, sum_j y_ij <= 1, sum_j x_j = k, 0 <= x, y <= 1
    (solved by HiGHS). Equal to the optimum where the relaxation is tight (k = 1 always)."""
    n, m = norm.shape
    cells = n * m
    y_le_x = sp.hstack([-sp.csr_matrix((np.ones(cells), (np.arange(cells), np.tile(np.arange(m), n))),
                                       shape=(cells, m)), sp.identity(cells, format="csr")])
    one_per_row = sp.hstack([sp.csr_matrix((n, m)), sp.kron(sp.identity(n), np.ones((1, m)), format="csr")])
    k_columns = sp.hstack([sp.csr_matrix(np.ones((1, m))), sp.csr_matrix((1, cells))])
    res = linprog(np.concatenate([np.zeros(m), -norm.ravel() / n]),
                  A_ub=sp.vstack([y_le_x, one_per_row], format="csr"),
                  b_ub=np.concatenate([np.zeros(cells), np.ones(n)]),
                  A_eq=k_columns, b_eq=[k], bounds=(0, 1), method="highs")
    if not res.success:
        raise RuntimeError(f"the relaxation for k={k} did not solve: {res.message}")
    return float(1.0 + res.fun)


def nearest_regrets(norm: np.ndarray, groups: Sequence[str], ks: Sequence[int],
                    stored: np.ndarray | None = None) -> np.ndarray:
    """[datasets, ks]: regret of the top k of the best-correlated dataset outside the group
    (among the ``stored`` ones only, a boolean mask over the datasets, when given)."""
    g = np.asarray(groups)
    stored = np.ones(len(norm), dtype=bool) if stored is None else np.asarray(stored)
    z = norm - norm.mean(axis=1, keepdims=True)
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    corr = z @ z.T
    out = np.zeros((len(norm), len(ks)))
    for i in range(len(norm)):
        c = np.where((g != g[i]) & stored, corr[i], -np.inf)
        if not np.isfinite(c).any():  # nothing stored outside its group
            out[i] = np.nan
            continue
        order = np.argsort(-norm[int(np.argmax(c))], kind="stable")
        out[i] = [1.0 - norm[i, order[:k]].max() for k in ks]
    return out


def nearest_by_size(norm: np.ndarray, groups: Sequence[str], ks: Sequence[int],
                    fractions: Sequence[float], repeats: int = 5, seed: int = 0) -> dict[float, list[float]]:
    """The oracle neighbour's mean regret at each k when only a random ``fraction`` of the origin
    groups is stored (the held-out dataset's own group never is), averaged over ``repeats``
    draws: does a knowledge base of the same kind, larger, bring the neighbours closer?"""
    names = sorted(set(groups))
    g = np.asarray(groups)
    rng = np.random.default_rng(seed)
    out = {}
    for fraction in fractions:
        runs = []
        for _ in range(repeats):
            keep = set(rng.choice(names, max(2, round(fraction * len(names))), replace=False).tolist())
            runs.append(np.nanmean(nearest_regrets(norm, groups, ks, np.isin(g, list(keep))), axis=0))
        out[fraction] = np.mean(runs, axis=0).tolist()
    return out


def random_regrets(norm: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """[datasets, ks]: random search's exact expected regret after k draws without replacement."""
    return np.array([[1.0 - expected_best_of_k(row, k) for k in ks] for row in norm])


def file_bounds(kb: KnowledgeBase) -> dict[str, Any]:
    norm = kb.normalised(fill=0.0)
    return {
        "datasets": kb.n_datasets, "configurations": kb.n_configs,
        "static": {k: static_regret(norm, k) for k in KS},
        "static_lower": {k: static_lower_bound(norm, k) for k in KS},
        "nearest": dict(zip(KS, nearest_regrets(norm, kb.groups, KS).mean(axis=0).tolist(), strict=True)),
        "random": dict(zip(RANDOM_KS, random_regrets(norm, RANDOM_KS).mean(axis=0).tolist(), strict=True)),
        "nearest_by_size": {f: dict(zip(KS, v, strict=True))
                            for f, v in nearest_by_size(norm, kb.groups, KS, FRACTIONS).items()},
    }


# --- 2. the same datasets measured again ----------------------------------------------------------


def sample(kb: KnowledgeBase, n: int, seed: int, available: Callable[[str], bool]) -> list[str]:
    """``n`` datasets of the knowledge base drawn with ``seed`` among those that can be loaded."""
    names = sorted(d for d in kb.dataset_keys if available(d))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(names, min(n, len(names)), replace=False).tolist())


def _measure(name: str, family: str, task_type: str, root: str, split_seed: int) -> list[dict]:
    protocol = replace(SWEEP_PROTOCOL, seeds=(split_seed,))
    records = run_cells(DatasetRef(name, "pmlb", root), pool_cells(family, task_type), protocol)
    metric = f"metric_{METRIC[task_type]}"
    return [{"dataset": name, "family": family, "task_type": task_type, "seed": split_seed,
             "config": r["config"], "status": r["status"],
             "score": r[metric] if r["status"] == "ok" else None} for r in records]


class RetestCache:
    """Re-measured cells, one JSON line each, so an interrupted retest resumes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict] = []
        if path.exists():
            self.rows = [json.loads(line) for line in path.read_text().splitlines() if line]

    def done(self) -> set[tuple[str, str, int]]:
        return {(r["dataset"], r["family"], r["seed"]) for r in self.rows}

    def add(self, rows: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            for r in rows:
                f.write(json.dumps(r, sort_keys=True) + "\n")
        self.rows += rows


def retest(kb: KnowledgeBase, names: Sequence[str], cache: RetestCache, split_seed: int,
           workers: int, root: Path, log: Callable[[str], None]) -> None:
    """Measure every (dataset, family) shard of ``names`` not in ``cache`` yet."""
    families = list(dict.fromkeys(kb.families))
    done = cache.done()
    todo = [(n, f) for n in names for f in families if (n, f, split_seed) not in done]
    log(f"{kb.task_type}: {len(todo)} shard(s) to measure on {len(names)} dataset(s)")
    if not todo:
        return
    started = time.time()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_measure, n, f, kb.task_type, str(root), split_seed): (n, f)
                   for n, f in todo}
        for count, future in enumerate(as_completed(futures), 1):
            cache.add(future.result())
            n, f = futures[future]
            log(f"  {count}/{len(todo)} {n} {f} ({time.time() - started:.0f} s)")


def retest_matrix(kb: KnowledgeBase, rows: Sequence[dict], split_seed: int) -> tuple[list[int], np.ndarray]:
    """The knowledge-base rows fully re-measured and their re-measured raw scores, aligned to its
    columns (NaN for a failed cell)."""
    column = {(f, json.dumps(v, sort_keys=True)): j
              for j, (f, v) in enumerate(zip(kb.families, kb.config_values, strict=True))}
    by_dataset: dict[str, dict[int, float]] = {}
    for r in rows:
        if r["seed"] != split_seed or r["task_type"] != kb.task_type:
            continue
        j = column.get((r["family"], json.dumps(r["config"], sort_keys=True)))
        if j is not None:
            by_dataset.setdefault(r["dataset"], {})[j] = np.nan if r["score"] is None else r["score"]
    index = {d: i for i, d in enumerate(kb.dataset_keys)}
    keep = [d for d, cells in sorted(by_dataset.items()) if d in index and len(cells) == kb.n_configs]
    scores = np.full((len(keep), kb.n_configs), np.nan)
    for a, d in enumerate(keep):
        for j, v in by_dataset[d].items():
            scores[a, j] = v
    return [index[d] for d in keep], scores


def foresight(truth: np.ndarray, known: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """[datasets, ks]: regret on ``truth`` (normalised rows) of the top k by ``known``."""
    out = np.zeros((len(truth), len(ks)))
    for a in range(len(truth)):
        order = np.argsort(-np.nan_to_num(known[a], nan=-np.inf), kind="stable")
        out[a] = [1.0 - truth[a, order[:k]].max() for k in ks]
    return out


def retest_bounds(kb: KnowledgeBase, rows: Sequence[dict], split_seed: int) -> dict[str, Any] | None:
    idx, again = retest_matrix(kb, rows, split_seed)
    if not idx:
        return None
    stored = kb.normalised(fill=0.0)[idx]
    remeasured = normalise_rows(again, kb.higher_is_better, 0.0)
    rho = [spearmanr(stored[a], remeasured[a]).statistic for a in range(len(idx))]
    per = {
        "foresight": foresight(stored, remeasured, KS),
        "foresight (reverse)": foresight(remeasured, stored, KS),
        "random": random_regrets(stored, RANDOM_KS),
        "random (reverse)": random_regrets(remeasured, RANDOM_KS),
    }
    return {"datasets": [kb.dataset_keys[i] for i in idx], "spearman": float(np.nanmedian(rho)),
            "per_dataset": {m: v.tolist() for m, v in per.items()},
            **{m: dict(zip(RANDOM_KS if m.startswith("random") else KS, v.mean(axis=0).tolist(),
                           strict=True)) for m, v in per.items()}}


# --- report ---------------------------------------------------------------------------------------


def table(rows: dict[str, dict[int, float]], ks: Sequence[int]) -> str:
    head = "| | " + " | ".join(f"k={k}" for k in ks) + " |\n|---" + "|---" * len(ks) + "|\n"
    return head + "".join(
        f"| {name} | " + " | ".join(f"{v[k]:.4f}" if k in v else "" for k in ks) + " |\n"
        for name, v in rows.items())


NOTES = """## How to read it

* `static` bounds every list that is the same for all datasets (the library defaults, the
  portfolio, any fixed list), chosen with the very scores it is scored on: its lower bound (the
  linear relaxation) is one that no fixed list goes below on these datasets, and the best list
  found is one that reaches its row, so the best fixed list lies between the two rows (they meet
  where the relaxation is tight). Methods that look at the dataset (meta-features, a study's
  results) are not bound by it.
* `nearest` is no strict bound: it picks one stored dataset by the correlation of whole score
  vectors, which matches the bulk of the pool more than its top (in regression it does worse
  than `static`). It shows how far the single most similar stored dataset, found with
  knowledge no recommender has, gets.
* `foresight` knows every configuration's score on an independent split of the same dataset.
  Where it is far below `random`, measurement noise is not what stands between a method and
  the goal; predicting the dataset's own scores is.
* The share-of-groups table asks whether more datasets of the same kind would help: where the
  oracle neighbour barely moves from an eighth of the groups to all of them, doubling the file
  will not close a gap of several times.
"""


def report(results: dict[str, Any], command: str, seconds: float) -> str:
    ks = sorted(set(KS) | set(RANDOM_KS))
    lines = ["# Bounds: what the goals' best possible lists reach on this knowledge base", "",
             f"Command: `{command}` ({seconds:.0f} s here, 2 shared cores; the retest reads the "
             "cells already measured from `benchmarks/results/retest/`).", "",
             "Regret@k as in `benchmarks/zero_shot.py` and `benchmarks/sequential.py`: 1 minus the "
             "best stored score among the first k picks, min-max normalised over the dataset's "
             "pool; `random` is random search's exact expected regret after k draws. "
             "See the script's docstring for what each row is.", ""]
    for task_type, r in results.items():
        f = r["file"]
        lines += [f"## {task_type}", "",
                  f"All {f['datasets']} datasets of the file, {f['configurations']} configurations:", "",
                  table({"static: best list found (exact to k=3, greedy beyond)": f["static"],
                         "static: lower bound (linear relaxation)": f["static_lower"],
                         "nearest (chosen on the dataset's own scores)": f["nearest"],
                         "random": f["random"]}, ks),
                  "The oracle neighbour with only part of the other origin groups stored (mean of 5 "
                  "random draws; all groups: the row above):", "",
                  table({**{f"{share:.1%} of the groups": v for share, v in f["nearest_by_size"].items()},
                         "all of them": f["nearest"]}, ks)]
        g = r.get("retest")
        if g:
            lines += [f"Re-measured on split seed {r['retest_seed']}: {len(g['datasets'])} datasets "
                      f"({', '.join(g['datasets'])}); median test-retest Spearman of the pool "
                      f"{g['spearman']:.2f}.", "",
                      table({m: g[m] for m in ("foresight", "random", "foresight (reverse)",
                                               "random (reverse)")}, ks)]
        lines += goals_text(r)
    if len(results) > 1:
        lines += ["## all", "", "The per-task-type rows above, weighted by their datasets (each task "
                  "type has its own pool and lists):", "", table(overall(results), ks)]
    return "\n".join(lines) + "\n" + NOTES


def overall(results: dict[str, Any]) -> dict[str, dict[int, float]]:
    """The file's rows over every task type, each weighted by its number of datasets."""
    files = [r["file"] for r in results.values()]
    n = sum(f["datasets"] for f in files)
    return {name: {k: sum(f[row][k] * f["datasets"] for f in files) / n for k in files[0][row]}
            for name, row in (("static: best list found (exact to k=3, greedy beyond)", "static"),
                              ("static: lower bound (linear relaxation)", "static_lower"),
                              ("nearest (chosen on the dataset's own scores)", "nearest"),
                              ("random", "random"))}


def goals_text(r: dict[str, Any]) -> list[str]:
    f, g = r["file"], r.get("retest")
    out = [f"- #5, best-of-3 against random's best-of-32 ({f['random'][32]:.4f}): no fixed 3-list "
           f"goes below {f['static_lower'][3]:.4f} (the best found {f['static'][3]:.4f}), the oracle "
           f"neighbour's top 3 reaches {f['nearest'][3]:.4f}.",
           f"- #8, 10 trials against random's 50 ({f['random'][50]:.4f}): no fixed 10-list goes "
           f"below {f['static_lower'][10]:.4f} (the best found {f['static'][10]:.4f}), the oracle "
           f"neighbour's top 10 reaches {f['nearest'][10]:.4f}."]
    if g:
        out.append(f"- On the re-measured sample, foresight's best-of-3 {g['foresight'][3]:.4f} "
                   f"against random's best-of-32 {g['random'][32]:.4f} (reverse "
                   f"{g['foresight (reverse)'][3]:.4f} against {g['random (reverse)'][32]:.4f}); "
                   f"foresight's top 10 {g['foresight'][10]:.4f} against random's 50 "
                   f"{g['random'][50]:.4f} (reverse {g['foresight (reverse)'][10]:.4f} against "
                   f"{g['random (reverse)'][50]:.4f}).")
    return [*out, ""]


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kb", type=Path, default=BUNDLED_KB)
    p.add_argument("--task-type", choices=["classification", "regression", "both"], default="both")
    p.add_argument("--retest", type=int, default=12, help="datasets re-measured per task type (0: none)")
    p.add_argument("--retest-seed", type=int, default=1, help="the re-measure's split seed (the file's: 0)")
    p.add_argument("--sample-seed", type=int, default=0, help="chooses the re-measured datasets")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--pmlb", type=Path, default=PMLB, help="PMLB's folder (../shared/data/pmlb)")
    p.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "results" / "retest")
    p.add_argument("--out", type=Path, default=DOC)
    p.add_argument("--json", action="store_true", help="print the results as JSON only")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    log = partial(print, file=sys.stderr, flush=True)
    command = "nice -n 5 .venv/bin/python benchmarks/bounds.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    started = time.time()
    kbs = dict(load(args.kb, 0.95))
    if args.task_type != "both":
        kbs = {t: kb for t, kb in kbs.items() if t == args.task_type}
    results: dict[str, Any] = {}
    for task_type, kb in kbs.items():
        r: dict[str, Any] = {"file": file_bounds(kb), "retest_seed": args.retest_seed}
        if args.retest:
            cache = RetestCache(args.cache / f"{task_type}.jsonl")
            names = sample(kb, args.retest, args.sample_seed,
                           lambda d: (args.pmlb / f"{d}.tsv.gz").exists())
            retest(kb, names, cache, args.retest_seed, args.workers, args.pmlb, log)
            r["retest"] = retest_bounds(kb, cache.rows, args.retest_seed)
        results[task_type] = r
    if args.json:
        print(json.dumps(results, default=str))
        return results
    text = report(results, command, time.time() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
