"""benchmarks/sequential_families.py on a tiny synthetic knowledge base: one table per family."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))

import sequential_families  # noqa: E402


def test_every_family_gets_its_own_table_and_the_mean_weighs_families_the_same(
        tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "sequential_families.py"), "--json",
           "--synthetic", "6", "--families", "lightgbm", "knn", "--max-groups", "2", "--seeds",
           "1", "--methods", "random", "zero_shot", "--cache", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    tables = json.loads(done.stdout)
    assert set(tables) == {"lightgbm", "knn"}
    for table in tables.values():
        assert set(table) == {"random", "zero_shot"}
        for row in table.values():
            assert 0.0 <= row["regret@25"] <= row["regret@5"] <= 1.0
    mean = sequential_families.mean_over_families(tables, ["random", "zero_shot"])
    want = (tables["lightgbm"]["random"]["regret@5"] + tables["knn"]["random"]["regret@5"]) / 2
    assert mean["random"]["regret@5"] == pytest.approx(want, abs=1e-4)
    text = sequential_families.markdown(tables, ["random", "zero_shot"])
    assert "| mean over families | zero_shot |" in text and "| knn | random |" in text
