"""benchmarks/beat_defaults.py: dataset-agnostic lists against the five best library defaults."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import beat_defaults  # noqa: E402

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


def test_balanced_defaults_weight_the_classes_of_every_family() -> None:
    import numpy as np
    import pandas as pd
    import pytest

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = np.r_[np.zeros(50, int), np.ones(10, int)]  # imbalanced
    for family in beat_defaults.BALANCED_FAMILIES:
        space = beat_defaults.BalancedDefault(family)
        assert space.config()["class_weight"] == "balanced"
        model = space.build(space.config(), {"a": "numeric", "b": "numeric"}).fit(X, y)
        inner = model.named_steps["model"]
        inner = getattr(inner, "estimator_", inner)  # the wrappers resolve theirs at fit time
        assert inner.get_params()["class_weight"] == "balanced", family
    with pytest.raises(ValueError, match="class_weight"):
        beat_defaults.BalancedDefault("xgboost")


def test_extra_columns_join_the_pool_without_counting_as_defaults() -> None:
    import numpy as np

    kb = synthetic_kb(30, seed=2)
    extra = np.max(kb.scores, axis=1, keepdims=True) + 0.01  # better than every configuration
    wider = beat_defaults.with_extra_columns(kb, ["svm"], [{"C": 1.0, "class_weight": "balanced"}],
                                             extra, np.ones_like(extra))
    assert wider.n_configs == kb.n_configs + 1
    table = beat_defaults.summarise(beat_defaults.held_out_outcomes(wider))
    assert table["defaults"]["tie"] == 1.0  # the five defaults are still the same five
    assert table["portfolio"]["win"] == 1.0  # the new column beats them everywhere


def test_the_balanced_summary_reads_its_figures_from_the_tables() -> None:
    pool = {"portfolio": {"win": 0.5}, "beat_defaults": {"win": 0.47}}
    wider = {"portfolio": {"win": 0.59}, "beat_defaults": {"win": 0.62, "in_sample_win": 0.72}}
    text = beat_defaults.balanced_summary(pool, wider)
    assert "on 59% of" in text and "(50% from the pool alone)" in text
    assert "on 62% (47%), 72% on its training groups" in text
