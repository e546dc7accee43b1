"""benchmarks/zero_shot.py: the summary and goal lines it reports, and a whole run on a synthetic KB."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import zero_shot  # noqa: E402

KS = (1, 5)


def _outcome() -> zero_shot.Outcome:
    out = zero_shot.Outcome(datasets=["a", "b", "c", "d"])
    # regret@1, regret@5 per dataset: learned wins on a and b, ties on c, loses on d
    out.regrets["learned"] = [[0.2, 0.0], [0.3, 0.1], [0.4, 0.2], [0.1, 0.3]]
    out.regrets["defaults"] = [[0.3, 0.1], [0.3, 0.2], [0.4, 0.2], [0.2, 0.1]]
    out.time_ratio["learned"] = [0.5, 1.9, 2.5, math.nan]
    out.time_ratio["defaults"] = [1.0, 1.0, 1.0, 1.0]
    return out


def test_the_summary_counts_wins_ties_and_the_time_goal_on_held_out_datasets() -> None:
    table = zero_shot.summarise(_outcome(), KS, ["learned", "defaults"])
    row = table["learned"]
    assert row["k=1"] == pytest.approx(0.25) and row["k=5"] == pytest.approx(0.15)
    assert row["win_vs_defaults@5"] == pytest.approx(0.5)
    assert row["tie_vs_defaults@5"] == pytest.approx(0.25)
    assert row["gain_vs_defaults@5"] == pytest.approx((0.1 + 0.1 + 0.0 - 0.2) / 4)
    # a dataset without a measured ratio is left out, not counted as within
    assert row["top5_time_within_2x"] == pytest.approx(2 / 3)
    assert row["top5_time_max"] == pytest.approx(2.5)
    assert row["top5_time_vs_defaults"] == pytest.approx(1.9)
    assert table["defaults"]["top5_time_within_2x"] == 1.0

    lines = zero_shot.goals(table, KS)
    assert "learned lowest regret at every k: NO" in lines  # worse than the defaults at k = 5
    assert any("within 2x" in line and "67%" in line and "2.50x" in line for line in lines)


def test_a_synthetic_run_writes_the_report_with_every_goal(tmp_path: Path) -> None:
    out = tmp_path / "zs.md"
    result = zero_shot.main(["--synthetic", "30", "--max-groups", "3", "--no-flaml",
                             "--methods", "defaults", "portfolio", "learned",
                             "--learned-params", '{"epochs": 10, "n_members": 1}',
                             "--out", str(out)])
    task = result["tasks"]["classification"]
    assert task["n_held_out"] == len(task["held_out"]) > 0
    table = task["table"]
    assert set(table) == {"defaults", "portfolio", "learned", "random"}
    for m in ("defaults", "portfolio", "learned"):
        regrets = [table[m][f"k={k}"] for k in zero_shot.KS]
        assert all(0.0 <= r <= 1.0 for r in regrets)
        assert regrets == sorted(regrets, reverse=True)  # best-of-k never gets worse with k
    assert 0.0 <= table["learned"]["top5_time_within_2x"] <= 1.0
    assert len(task["goals"]) == 4
    text = out.read_text()
    assert "| learned |" in text and "within 2x" in text


def test_flaml_regrets_come_from_the_committed_suggestions_without_training() -> None:
    """The 15-group table's FLAML suggestions are committed; reading them must not train (no
    dataset references are given, so a miss would fail) and scores them on the KB's scale."""
    kb = zero_shot.kbs_from_file(zero_shot.BUNDLED_KB, {}, 0.95)["classification"]
    curves, ratios = zero_shot.flaml_regrets(kb, ["appendicitis"], {}, 5, (1, 5),
                                             zero_shot.FLAML_CACHE, print, {})
    assert set(curves) == {"appendicitis"} and ratios == {}
    regret1, regret5 = curves["appendicitis"]
    assert 0.0 <= regret5 <= regret1 <= 1.0
