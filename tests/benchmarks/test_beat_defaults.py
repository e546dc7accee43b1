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
