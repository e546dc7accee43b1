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

``--balanced`` asks what lies outside the pool. The classification metric is balanced accuracy,
and no configuration in the pool weights the classes; the library defaults of the six families
that take a ``class_weight`` (LightGBM, HistGradientBoosting, both forests, logistic
regression, SVC; not XGBoost, k-NN or the MLP) are trained with ``class_weight="balanced"`` on
every classification dataset of the knowledge base (our harness and protocol; results cached,
and committed, in ``benchmarks/results/balanced_defaults/``; about 6 minutes here when not
cached), added to the pool as six more columns, and the same lists are built again: how often
each beats its own unweighted default, and whether lists that may use them beat the five
defaults more often on held-out groups.

    .venv/bin/python benchmarks/beat_defaults.py --balanced
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from learners.recommenders.base import KnowledgeBase  # noqa: E402
from learners.recommenders.defaults import DefaultsRecommender  # noqa: E402
from learners.recommenders.learned import greedy_best_of_k  # noqa: E402
from learners.recommenders.portfolio import greedy_portfolio  # noqa: E402
from learners.recommenders.synthetic import synthetic_kb  # noqa: E402
from learners.spaces.estimators import PowerFeaturesForest, ScaledGammaSVM  # noqa: E402
from metastore.kb.bundle import BUNDLED_KB  # noqa: E402

DOC = ROOT / "docs" / "benchmarks" / "beat-defaults.md"
BALANCED_CACHE = ROOT / "benchmarks" / "results" / "balanced_defaults"
#: The families whose estimators take ``class_weight`` (classification).
BALANCED_FAMILIES = ("lightgbm", "hist_gb", "random_forest", "extra_trees", "linear", "svm")
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


class BalancedDefault:
    """A family's library default for classification with ``class_weight="balanced"``: a space
    stand-in with ``build`` and ``task_type``, as ``zero_shot.evaluate_built`` takes it."""

    task_type = "classification"

    def __init__(self, family: str) -> None:
        from learners.spaces import get_space

        if family not in BALANCED_FAMILIES:
            raise ValueError(f"{family} takes no class_weight; choose from {BALANCED_FAMILIES}")
        self.family = family
        self.space = get_space(family, "classification")

    def config(self) -> dict[str, Any]:
        return {**self.space.default(), "class_weight": "balanced"}

    def build(self, config: dict[str, Any], column_types: dict[str, str], seed: int = 0) -> Any:
        plain = {k: v for k, v in config.items() if k != "class_weight"}
        pipe = self.space.build(plain, column_types, seed)
        model = pipe.named_steps["model"]
        wrapped = {PowerFeaturesForest: _BalancedForest, ScaledGammaSVM: _BalancedSVM}
        if type(model) in wrapped:  # estimators resolved at fit time: weight the inner one
            return pipe.set_params(model=wrapped[type(model)](**model.get_params()))
        return pipe.set_params(model__class_weight="balanced")


class _BalancedForest(PowerFeaturesForest):
    """The forest wrapper with the inner estimator class-weighted."""

    def _make(self, X: np.ndarray, n_rows: int) -> Any:
        return super()._make(X, n_rows).set_params(class_weight="balanced")


class _BalancedSVM(ScaledGammaSVM):
    """The SVC wrapper with the inner estimator class-weighted."""

    def _make(self, X: np.ndarray, n_rows: int) -> Any:
        return super()._make(X, n_rows).set_params(class_weight="balanced")


def balanced_results(kb: KnowledgeBase, cache: Path, log: Any = None) -> dict[str, list[dict]]:
    """Per dataset, the six balanced defaults trained with our harness (cached per dataset)."""
    from zero_shot import PMLB, evaluate_built

    from learners.datasets import catalog
    from learners.evaluate import SWEEP_PROTOCOL

    log = log or partial(print, file=sys.stderr, flush=True)
    folder = cache / SWEEP_PROTOCOL.id
    refs = None
    out = {}
    for name in kb.dataset_keys:
        path = folder / f"{name}.json"
        if not path.exists():
            refs = refs or {r.name: r for r, *_ in catalog(PMLB)}
            spaces = [BalancedDefault(f) for f in BALANCED_FAMILIES]
            results = evaluate_built(refs[name].load(), spaces, [b.config() for b in spaces],
                                     SWEEP_PROTOCOL)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps([{**r, "family": f} for r, f in
                                        zip(results, BALANCED_FAMILIES, strict=True)], indent=1))
            log(f"  balanced defaults trained on {name}")
        out[name] = json.loads(path.read_text())
    return out


def with_extra_columns(kb: KnowledgeBase, families: Sequence[str], values: Sequence[dict],
                       scores: np.ndarray, times: np.ndarray) -> KnowledgeBase:
    """The knowledge base with more configurations (``scores``/``times``: [datasets, extra]),
    keyed ``{family}-extra-{i}``: never a library default's key, so the five defaults stay."""
    keys = [f"{f}-extra-{i}" for i, f in enumerate(families)]
    return KnowledgeBase(
        kb.task_type, kb.dataset_keys, kb.groups, kb.metafeature_names, kb.metafeatures,
        kb.n_rows, kb.n_features, [*kb.config_keys, *keys], [*kb.families, *families],
        [*kb.config_values, *values], np.column_stack([kb.scores, scores]),
        np.column_stack([kb.fit_times, times]), kb.metric, kb.higher_is_better)


def balanced_section(kb: KnowledgeBase, results: dict[str, list[dict]]) -> tuple[str, dict]:
    """Markdown and figures: each balanced default against its own default, and the lists
    built again on the pool plus the six balanced defaults."""
    from learners.recommenders.base import is_library_default

    scores = np.array([[r["metrics"].get(kb.metric, np.nan) if r["status"] == "ok" else np.nan
                        for r in results[name]] for name in kb.dataset_keys])
    times = np.array([[r["fit_time_s"] if r["status"] == "ok" else np.nan
                       for r in results[name]] for name in kb.dataset_keys])
    own = {f: j for j, f in enumerate(kb.families)
           if is_library_default(kb.task_type, f, kb.config_values[j], kb.config_keys[j])}
    lines = ["| family | balanced default beats the unweighted default | mean gain (raw "
             f"{kb.metric}) | failed |", "|---|---|---|---|"]
    per_family = {}
    for c, family in enumerate(BALANCED_FAMILIES):
        diff = scores[:, c] - kb.scores[:, own[family]]
        ok = np.isfinite(diff)
        per_family[family] = float((diff[ok] > 1e-12).mean())
        lines.append(f"| {family} | {per_family[family]:.0%} | {np.mean(diff[ok]):+.4f} | "
                     f"{int((~ok).sum())} |")
    values = [BalancedDefault(f).config() for f in BALANCED_FAMILIES]
    wider = with_extra_columns(kb, BALANCED_FAMILIES, values, scores, times)
    table = summarise(held_out_outcomes(wider))
    return "\n".join(lines), {"per_family": per_family, "table": table}


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
    p.add_argument("--balanced", action="store_true",
                   help="also train the six class-weighted defaults and build the lists again "
                        "with them in the pool (classification)")
    p.add_argument("--balanced-cache", type=Path, default=BALANCED_CACHE)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    args = parse(argv)
    if args.synthetic:
        kbs = {"classification": synthetic_kb(args.synthetic, seed=0)}
    else:
        from sequential import load  # the knowledge base as the lookup benchmarks read it

        kbs = dict(load(args.kb, args.min_coverage))
    tables = {t: summarise(held_out_outcomes(kb)) for t, kb in kbs.items()}
    table = markdown(tables)
    print(table)
    extra: list[str] = []
    if args.balanced and "classification" in kbs and not args.synthetic:
        kb = kbs["classification"]
        own, found = balanced_section(kb, balanced_results(kb, args.balanced_cache))
        tables["classification + balanced defaults"] = found["table"]
        wider = markdown({"classification, pool + 6 balanced defaults": found["table"]})
        print(f"\n{own}\n\n{wider}")
        extra = ["## Outside the pool: class-weighted defaults (`--balanced`)", "", own, "",
                 wider, "", BALANCED_NOTES,
                 balanced_summary(tables["classification"], found["table"]), ""]
    command = "python benchmarks/beat_defaults.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join([
        "# Beating the five best library defaults with five picks: dataset-agnostic lists", "",
        f"Written by `{command.strip()}` (leave-one-group-out over the knowledge base, every cell "
        "a lookup; see the script's docstring for the lists).", "", table, "", NOTES, *extra]))
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
first five picks only (`BEAT_DEFAULTS_WEIGHT` in `learners/recommenders/learned.py`), where it
breaks near-ties towards picks that beat the defaults rather than match them; that raised its
wins on held-out groups from 50% to 58% in classification and from 59% to 69% in regression
(docs/benchmarks/zero-shot.md), still short of 70% in classification.
"""

BALANCED_NOTES = """\
The first table compares each family's library default trained with `class_weight="balanced"`
with the same default unweighted (the pool's column), on every classification dataset; the
second builds the lists of the first section again, held out by group, from the pool plus
those six columns (the five defaults they must beat are unchanged: the balanced ones are not
library defaults; regret@5 is normalised over the wider pool, so it does not compare with the
first section's). Balanced accuracy rewards each class's recall equally, and no configuration
in the pool weights the classes, so this measures a lever outside the recommender: a wider
pool (a `class_weight` hyperparameter in the classification spaces, which changes their pools
and needs a new sweep of those six families).
"""


def balanced_summary(pool: dict[str, dict[str, float]], wider: dict[str, dict[str, float]]) -> str:
    """One sentence: the lists' held-out wins with the six columns against the pool alone."""
    return (f"With the six columns the portfolio's five beat the defaults on "
            f"{wider['portfolio']['win']:.0%} of the held-out classification datasets "
            f"({pool['portfolio']['win']:.0%} from the pool alone) and the list fitted to the win "
            f"count on {wider['beat_defaults']['win']:.0%} ({pool['beat_defaults']['win']:.0%}), "
            f"{wider['beat_defaults']['in_sample_win']:.0%} on its training groups.")


if __name__ == "__main__":
    main()
