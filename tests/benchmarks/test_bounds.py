"""benchmarks/bounds.py: the in-sample and oracle lists, and a real re-measure of a stored dataset."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bounds  # noqa: E402
import sequential  # noqa: E402


def _brute_force(norm: np.ndarray, k: int) -> float:
    return min(1.0 - norm[:, list(c)].max(axis=1).mean()
               for c in itertools.combinations(range(norm.shape[1]), k))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_the_static_list_is_the_exact_optimum_up_to_three(k: int) -> None:
    norm = np.random.default_rng(k).random((12, 9))
    assert bounds.static_regret(norm, k) == pytest.approx(_brute_force(norm, k))


def test_beyond_three_the_greedy_list_is_an_upper_end_of_the_optimum() -> None:
    norm = np.random.default_rng(4).random((15, 10)) ** 3
    greedy = bounds.static_regret(norm, 5)
    assert greedy >= _brute_force(norm, 5) - 1e-12
    assert greedy <= bounds.static_regret(norm, 4)


def test_nearest_takes_the_top_of_the_best_correlated_dataset_outside_the_group() -> None:
    norm = np.array([
        [1.0, 0.8, 0.2, 0.0],   # a: its twin b is in its own group, c agrees, d is reversed
        [1.0, 0.8, 0.2, 0.0],
        [0.9, 1.0, 0.1, 0.0],
        [0.0, 0.2, 0.8, 1.0],
    ])
    out = bounds.nearest_regrets(norm, ["g1", "g1", "g2", "g3"], [1, 2])
    # a's neighbour is c (b shares its group): c's best is column 1, worth 0.8 on a
    assert out[0].tolist() == pytest.approx([0.2, 0.0])
    # d's best-correlated dataset outside its group is still anti-correlated: whatever it is,
    # its top pick is column 0 or 1, worth at most 0.2 on d
    assert out[3][0] >= 0.8


def test_foresight_with_the_answers_has_no_regret_and_reversed_the_most() -> None:
    truth = np.array([[0.0, 0.3, 1.0, 0.6]])
    assert bounds.foresight(truth, truth, [1, 2]).tolist() == [[0.0, 0.0]]
    assert bounds.foresight(truth, -truth, [1, 2]).tolist() == [[1.0, 0.7]]
    # a failed re-measure (NaN) is never picked first
    assert bounds.foresight(truth, np.array([[0.1, 0.2, np.nan, 0.3]]), [1]).tolist() == [[0.4]]


def test_remeasuring_on_the_files_split_reproduces_the_stored_scores(tmp_path: Path) -> None:
    """A real re-measure (the knn family on the smallest stored PMLB dataset, split seed 0, the
    file's own) gives back the stored scores exactly: the retest differs from the file by its
    split seed alone, so its bounds measure the split's noise and nothing else."""
    kb = sequential.only_family(sequential.load(bounds.BUNDLED_KB, 0.95)["classification"], "knn")
    names = [d for d in kb.dataset_keys if (bounds.PMLB / f"{d}.tsv.gz").exists()]
    smallest = min(names, key=lambda d: kb.n_rows[kb.dataset_keys.index(d)])
    cache = bounds.RetestCache(tmp_path / "classification.jsonl")
    bounds.retest(kb, [smallest], cache, 0, 1, bounds.PMLB, lambda _: None)
    idx, again = bounds.retest_matrix(kb, cache.rows, 0)
    assert [kb.dataset_keys[i] for i in idx] == [smallest]
    np.testing.assert_array_equal(again, kb.scores[idx])
    result = bounds.retest_bounds(kb, cache.rows, 0)
    assert result["spearman"] == pytest.approx(1.0)
    assert result["foresight"][1] == 0.0
    # resuming measures nothing more
    before = len(cache.rows)
    bounds.retest(kb, [smallest], bounds.RetestCache(cache.path), 0, 1, bounds.PMLB, lambda _: None)
    assert len(bounds.RetestCache(cache.path).rows) == before


def test_the_size_curve_stores_only_part_of_the_groups() -> None:
    """Each dataset has an identical twin in another group (its perfect neighbour) and no other
    close one: with every group stored the neighbour never misses; with a quarter stored the twin
    is often left out, so the mean regret rises; a dataset with nothing stored outside its own
    group gets no neighbour (NaN), never itself."""
    rng = np.random.default_rng(0)
    twins = rng.random((12, 9))
    norm = (np.repeat(twins, 2, axis=0) - twins.min(axis=1).repeat(2)[:, None])
    norm /= norm.max(axis=1, keepdims=True)
    groups = [f"g{i}" for i in range(24)]
    assert bounds.nearest_regrets(norm, groups, [1]).max() == 0.0
    curve = bounds.nearest_by_size(norm, groups, [1], [0.25], repeats=4)
    assert curve[0.25][0] > 0.05
    only_first = np.isin(np.asarray(groups), ["g0"])
    out = bounds.nearest_regrets(norm, groups, [1], only_first)
    assert np.isnan(out[0]).all() and out[1, 0] == 0.0 and np.isfinite(out[2:]).all()


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_the_linear_relaxation_never_exceeds_the_best_list_and_is_exact_for_one(k: int) -> None:
    norm = np.random.default_rng(10 + k).random((10, 7)) ** 2
    lower, best = bounds.static_lower_bound(norm, k), _brute_force(norm, k)
    assert lower <= best + 1e-9
    if k == 1:
        assert lower == pytest.approx(best)
