"""benchmarks/beat_defaults.py: dataset-agnostic lists against the five best library defaults."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import beat_defaults  # noqa: E402

from learners.recommenders.base import KnowledgeBase  # noqa: E402
from learners.recommenders.synthetic import synthetic_kb  # noqa: E402


def test_the_defaults_never_beat_themselves_and_a_fitted_list_does() -> None:
    kb = synthetic_kb(40, seed=1)
    table = beat_defaults.summarise(beat_defaults.held_out_outcomes(kb))
    assert table["defaults"]["win"] == 0.0 and table["defaults"]["tie"] == 1.0
    assert table["defaults"]["datasets"] == kb.n_datasets
    # on the synthetic KB tuned configurations dominate the defaults: both lists win often
    assert table["beat_defaults"]["win"] > 0.5 and table["portfolio"]["win"] > 0.5
    # the list fitted to the win count wins at least as often as the portfolio where it was fitted
    assert table["beat_defaults"]["in_sample_win"] >= table["portfolio"]["in_sample_win"]


def test_the_report_is_written(tmp_path: Path) -> None:
    out = tmp_path / "beat.md"
    tables = beat_defaults.main(["--synthetic", "30", "--out", str(out)])
    text = out.read_text()
    assert "| classification | beat_defaults |" in text and "--synthetic 30" in text
    assert set(tables["classification"]) == set(beat_defaults.STRATEGIES)


def test_the_twins_are_compared_with_the_pool_before_them(tmp_path: Path) -> None:
    import numpy as np

    kb = synthetic_kb(30, seed=2)
    better = np.max(kb.scores, axis=1, keepdims=True) + 0.01  # beats every configuration
    wider = KnowledgeBase(
        kb.task_type, kb.dataset_keys, kb.groups, kb.metafeature_names, kb.metafeatures,
        kb.n_rows, kb.n_features, [*kb.config_keys, "svm-sobol-00-balanced"], [*kb.families, "svm"],
        [*kb.config_values, {"C": 1.0, "class_weight": "balanced"}],
        np.column_stack([kb.scores, better]), np.column_stack([kb.fit_times, np.ones_like(better)]),
        kb.metric, kb.higher_is_better)
    assert beat_defaults.without_twins(wider).config_keys == kb.config_keys
    now = beat_defaults.summarise(beat_defaults.held_out_outcomes(wider))
    before = beat_defaults.summarise(beat_defaults.held_out_outcomes(kb))
    assert now["defaults"]["tie"] == 1.0  # the five defaults are the same five
    assert now["portfolio"]["win"] == 1.0 > before["portfolio"]["win"]
    text = beat_defaults.twins_summary({"classification": now,
                                        "classification, without the class-weighted twins": before})
    assert f"on 100% of the held-out classification datasets ({before['portfolio']['win']:.0%} " in text
