"""benchmarks/meta_sinusoid.py's run options: names that keep results apart, refused mixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))

import meta_sinusoid  # noqa: E402


def test_the_last_iterate_run_has_its_own_name_and_deviation() -> None:
    plain = meta_sinusoid.parse(["--shots", "10"])
    last = meta_sinusoid.parse(["--shots", "10", "--last-iterate"])
    assert meta_sinusoid.run_name(plain) == "maml_k10_steps1_seed0"
    assert meta_sinusoid.run_name(last) == "maml_k10_last_steps1_seed0"
    run = {"shots": 10, "last_iterate": True, "seed": 0}
    assert meta_sinusoid.deviation(run).startswith("last iterate kept")
    assert meta_sinusoid.deviation({"shots": 10, "seed": 0}) == "none"


def test_the_last_iterate_refuses_a_validation_choice(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        meta_sinusoid.parse(["--last-iterate", "--validation-steps", "1", "10"])
    assert "drop --validation-steps" in capsys.readouterr().err
