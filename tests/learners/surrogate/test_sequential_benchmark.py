"""benchmarks/sequential.py --json on a tiny synthetic knowledge base: the keys H2 and the docs rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_json_prints_every_method_and_metric(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "sequential.py"), "--json", "--synthetic", "4",
           "--max-groups", "2", "--seeds", "1", "--trials", "8", "--gp-effort", "32",
           "--surrogate-params", '{"iterations": 5, "n_members": 2}',
           "--learned-params", '{"epochs": 10, "n_members": 1}', "--cache", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(done.stdout)
    assert set(result) == {"methods"}
    assert set(result["methods"]) == {"random", "tpe", "gp", "zero_shot", "warmstart", "warmstart_networks",
                                        "kb_ei"}
    for row in result["methods"].values():
        assert set(row) == {"regret@5", "regret@10", "regret@25", "regret@50", "rank@25"}
        assert 0.0 <= row["regret@50"] <= row["regret@10"] <= row["regret@5"] <= 1.0
        assert 1.0 <= row["rank@25"] <= 7.0
    # the same initial design: every baseline has the same regret after its 5 random picks
    assert len({result["methods"][m]["regret@5"] for m in ("random", "tpe", "gp")}) == 1


def test_a_rerun_resumes_from_the_cache_and_gives_the_same_table(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "sequential.py"), "--json", "--synthetic", "4",
           "--max-groups", "2", "--seeds", "2", "--trials", "8", "--methods", "random", "tpe",
           "zero_shot", "--learned-params", '{"epochs": 10, "n_members": 1}',
           "--cache", str(tmp_path)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    lines = (tmp_path / "classification.jsonl").read_text().splitlines()
    # 2 held-out groups' datasets x (random and tpe on 2 seeds, zero_shot once: deterministic)
    assert len(lines) % 5 == 0 and lines
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert "0 run(s) computed" in second.stderr
    assert (tmp_path / "classification.jsonl").read_text().splitlines() == lines
    # a third seed: only its random and TPE runs are computed, the rest come from the cache
    more = subprocess.run([*cmd, "--seeds", "3"], capture_output=True, text=True, timeout=600,
                          check=True)
    assert len((tmp_path / "classification.jsonl").read_text().splitlines()) > len(lines)
    assert set(json.loads(more.stdout)["methods"]) == {"random", "tpe", "zero_shot"}


def test_exact_random_regret_matches_sampling_and_its_limits() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import numpy as np
    from sequential import exact_random_regret

    from learners.recommenders.synthetic import synthetic_kb

    kb = synthetic_kb(6, seed=1, pool_size=4)
    norm = kb.normalised(fill=0.0)
    rows = list(range(kb.n_datasets))
    assert np.allclose(exact_random_regret(kb, rows, kb.n_configs), 0.0)  # the whole pool: its best
    assert np.allclose(exact_random_regret(kb, rows, 1), 1.0 - norm.mean(axis=1))
    rng = np.random.default_rng(0)
    k = 5
    draws = [1.0 - norm[0, rng.choice(kb.n_configs, k, replace=False)].max() for _ in range(20000)]
    assert abs(exact_random_regret(kb, [0], k)[0] - float(np.mean(draws))) < 0.01


def test_warmstart_is_kb_gp_until_the_networks_take_over(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "sequential.py"), "--json", "--synthetic", "4",
           "--max-groups", "2", "--seeds", "1", "--trials", "8", "--methods", "kb_ei", "kb_gp", "warmstart",
           "--learned-params", '{"epochs": 10, "n_members": 1}', "--cache", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    rows = json.loads(done.stdout)["methods"]
    assert set(rows) == {"kb_ei", "kb_gp", "warmstart"}
    # the same cold start (the zero-shot top 5), then each its own picks; a study's transfer
    # phase (45 trials) is kb_gp's
    assert rows["kb_ei"]["regret@5"] == rows["kb_gp"]["regret@5"]
    assert {k: v for k, v in rows["warmstart"].items() if k.startswith("regret")} == {
        k: v for k, v in rows["kb_gp"].items() if k.startswith("regret")}
    assert 0.0 <= rows["kb_gp"]["regret@50"] <= rows["kb_gp"]["regret@5"] <= 1.0
