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


def test_the_multi_step_loss_run_has_its_own_name_and_deviation() -> None:
    args = meta_sinusoid.parse(["--inner-steps", "5", "--multi-step-loss", "--last-iterate"])
    assert meta_sinusoid.run_name(args) == "maml_k10_last_msl_steps5_seed0"
    assert meta_sinusoid.build("maml", args).multi_step_loss is True
    run = {"algorithm": "maml", "shots": 10, "seed": 0, "inner_steps_trained": 5,
           "multi_step_loss": True}
    assert meta_sinusoid.deviation(run) == (
        "5 inner steps in meta-training (the paper: 1); "
        "multi-step loss: mean query loss after each inner step (MAML++)")
    # Reptile takes 5 inner steps by design: not a deviation
    assert meta_sinusoid.deviation({"algorithm": "reptile", "shots": 10, "seed": 0,
                                    "inner_steps_trained": 5}) == "none"


@pytest.mark.parametrize("argv", [["--multi-step-loss"],
                                  ["--algorithm", "reptile", "--inner-steps", "5", "--multi-step-loss"]])
def test_the_multi_step_loss_needs_several_gradient_steps(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        meta_sinusoid.parse(argv)
    assert "--multi-step-loss needs" in capsys.readouterr().err
