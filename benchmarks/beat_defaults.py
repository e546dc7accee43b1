"""How often can five picks beat the five best library defaults? Dataset-agnostic lists, leave-one-group-out.

Issue #5 asks the recommended top 5 to beat the 5 best library defaults (best of five against
best of five) on at least 70% of new datasets. On the knowledge base the learned recommender
does so on about half of the classification datasets (docs/benchmarks/zero-shot.md). This
script asks whether a list chosen for that very target does better, with no meta-features at
all: for every origin group held out in turn, three lists of five configurations are built
greedily on the other groups and scored on the held-out datasets (every cell a lookup):

* ``portfolio``: maximises the mean best-of-5 normalised score (auto-sklearn 2.0's objective,
  what ``portfolio`` recommends).
* ``beat_defaults``: maximises the share of training datasets on which the list's best beats
  the five defaults' best (ties to the mean score): the win count itself, fitted.
* ``defaults``: the five defaults themselves (a check: never a win, always a tie).

A win is a best score above the defaults' best by more than 1e-12 (normalised), a tie within it.
If the list fitted to win still wins on few held-out datasets, the ceiling is in the data (the
defaults are strong and the scores noisy), not in the recommender's model.

Reproduce (numpy only, seconds):

    .venv/bin/python benchmarks/beat_defaults.py

The classification pools of the six families that take ``class_weight`` hold a class-weighted
twin of every point (space version 2); the same lists are also built on the knowledge base without
those twins (the pool before them), side by side in the same run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from zero_shot import without_twins  # noqa: E402

from learners.pools import is_twin  # noqa: E402
from learners.recommenders.base import KnowledgeBase  # noqa: E402
from learners.recommenders.defaults import DefaultsRecommender  # noqa: E402
from learners.recommenders.learned import greedy_best_of_k  # noqa: E402
from learners.recommenders.portfolio import greedy_portfolio  # noqa: E402
from learners.recommenders.synthetic import synthetic_kb  # noqa: E402
from metastore.kb.bundle import BUNDLED_KB  # noqa: E402

DOC = ROOT / "docs" / "benchmarks" / "beat-defaults.md"
K = 5
TOL = 1e-9  # as greedy_best_of_k counts a win
#: Weight of the share of training datasets beaten against the mean best-of-K in the objective.
WIN_WEIGHT = 1e3
STRATEGIES = ("portfolio", "beat_defaults", "defaults")


def held_out_outcomes(kb: KnowledgeBase) -> dict[str, np.ndarray]:
    """Per strategy, rows (win, tie, gain, regret@5, in-sample win share of the list on its
    training groups) of every held-out dataset."""
    norm = kb.normalised(fill=0.0)  # as the recommenders see it: a failure is the worst
    groups = np.asarray(kb.groups)
    out: dict[str, list[tuple[float, ...]]] = {s: [] for s in STRATEGIES}
    for group in sorted(set(kb.groups)):
        fit_rows = np.flatnonzero(groups != group)
        if len(fit_rows) == 0:
            continue
        train, test = norm[fit_rows], norm[groups == group]
        five = [int(j) for j in DefaultsRecommender().fit(kb.subset(fit_rows.tolist())).order_[:K]]
        base_train = train[:, five].max(axis=1)
        m = train.shape[1]
        weights = np.full(len(train), 1.0 / len(train))
        lists = {
            "portfolio": greedy_portfolio(train, K),
            # the share of datasets beaten dominates; the mean best-of-k only breaks its ties
            "beat_defaults": greedy_best_of_k(
                train, weights, K, np.ones(m, dtype=bool), np.zeros(m), np.full(K, np.inf),
                baseline=base_train, baseline_weight=WIN_WEIGHT),
            "defaults": five,
        }
        base_test = test[:, five].max(axis=1)
        for name, picks in lists.items():
            ours = test[:, picks].max(axis=1)
            fitted = float((train[:, picks].max(axis=1) > base_train + TOL).mean())
            for o, b in zip(ours, base_test, strict=True):
                out[name].append((float(o > b + TOL), float(abs(o - b) <= TOL), o - b, 1.0 - o, fitted))
    return {s: np.array(rows, dtype=float).reshape(-1, 5) for s, rows in out.items()}


def summarise(outcomes: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {s: {"datasets": len(r), "win": float(r[:, 0].mean()), "tie": float(r[:, 1].mean()),
                "mean_gain": float(r[:, 2].mean()), "regret@5": float(r[:, 3].mean()),
                "in_sample_win": float(r[:, 4].mean())}
            for s, r in outcomes.items() if len(r)}


def markdown(tables: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = ["| task type | list | held-out datasets | beats the defaults | ties | mean gain | regret@5 "
             "| beats them on its training groups |", "|---|---|---|---|---|---|---|---|"]
    for task_type, table in tables.items():
        for s, row in table.items():
            lines.append(f"| {task_type} | {s} | {row['datasets']} | {row['win']:.0%} | "
                         f"{row['tie']:.0%} | {row['mean_gain']:+.4f} | {row['regret@5']:.4f} | "
                         f"{row['in_sample_win']:.0%} |")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kb", type=Path, default=BUNDLED_KB, help="knowledge-base file")
    p.add_argument("--min-coverage", type=float, default=0.95)
    p.add_argument("--synthetic", type=int, default=0, help="N datasets of a synthetic KB instead")
    p.add_argument("--out", type=Path, default=DOC)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    args = parse(argv)
    if args.synthetic:
        kbs = {"classification": synthetic_kb(args.synthetic, seed=0)}
    else:
        from sequential import load  # the knowledge base as the lookup benchmarks read it

        kbs = dict(load(args.kb, args.min_coverage))
    tables = {}
    for task_type, kb in kbs.items():
        tables[task_type] = summarise(held_out_outcomes(kb))
        if any(is_twin(v) for v in kb.config_values):  # side by side: the pool before the twins
            tables[f"{task_type}, without the class-weighted twins"] = summarise(
                held_out_outcomes(without_twins(kb)))
    table = markdown(tables)
    print(table)
    command = "python benchmarks/beat_defaults.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join([
        "# Beating the five best library defaults with five picks: dataset-agnostic lists", "",
        f"Written by `{command.strip()}` (leave-one-group-out over the knowledge base, every cell "
        "a lookup; see the script's docstring for the lists).", "", table, "", NOTES,
        twins_summary(tables), ""]))
    return tables


NOTES = """\
How to read it: "beats the defaults" is the share of held-out datasets where the list's best
normalised score is above the five best defaults' best (issue #5's unseen-data goal asks for 70%
with the learned top 5); the last column is the same share on the groups the list was fitted
on (averaged over the held-out rounds); ties are datasets where both bests are equal (usually the same
default in both lists). `beat_defaults` is fitted to that very count on the training groups;
where it does no better than `portfolio` on the held-out groups, a list of five fitted to the
win count alone does not generalise a win over five strong, diverse defaults. The learned
recommender uses the count differently: as a small term beside the expected best-of-k, for its
first five picks only (`BEAT_DEFAULTS_WEIGHT` in `learners/recommenders/learned.py`; its wins
are in docs/benchmarks/zero-shot.md).

The rows "without the class-weighted twins" build the same lists on the same file with the
`-balanced` configurations left out: the pool as it was before the classification spaces of
six families gained `class_weight` (space version 2). The metric is balanced accuracy, which
weighs every class's recall equally; regret@5 is normalised over each row's own pool.
"""


def twins_summary(tables: dict[str, dict[str, dict[str, float]]]) -> str:
    """One sentence: the lists' held-out wins with the twins against without them."""
    key = "classification, without the class-weighted twins"
    if key not in tables:
        return ""
    now, before = tables["classification"], tables[key]
    return (f"With the twins the portfolio's five beat the defaults on {now['portfolio']['win']:.0%} "
            f"of the held-out classification datasets ({before['portfolio']['win']:.0%} without "
            f"them) and the list fitted to the win count on {now['beat_defaults']['win']:.0%} "
            f"({before['beat_defaults']['win']:.0%}), {now['beat_defaults']['in_sample_win']:.0%} "
            f"on its training groups ({before['beat_defaults']['in_sample_win']:.0%}).")


if __name__ == "__main__":
    main()
