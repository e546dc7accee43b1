"""The transfer surrogate: stored datasets weighted by agreement with a new dataset's results."""

from __future__ import annotations

import numpy as np
import pytest

from learners.recommenders.synthetic import synthetic_kb
from learners.surrogate import config_key, meta_train_many, scale_scores, suggest
from learners.surrogate.transfer import ObservedSimilarity

KEYS = [f"c{j}" for j in range(6)]
#: Two kinds of stored dataset: the first two rank the pool upwards, the last two downwards.
NORM = np.array([
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
    [0.0, 0.1, 0.5, 0.5, 0.9, 1.0],
    [1.0, 0.8, 0.6, 0.4, 0.2, 0.0],
    [1.0, 0.9, 0.5, 0.5, 0.1, np.nan],  # one cell never measured
])


def test_datasets_that_agree_with_the_observations_carry_the_weight() -> None:
    sim = ObservedSimilarity(KEYS, NORM, bandwidth=0.02)  # narrow: the agreeing rows alone
    seen = {"c0": 0.0, "c2": 0.5, "c4": 1.0}  # evenly upwards, as row 0 exactly
    w = sim.weights(seen)
    assert w.sum() == pytest.approx(1.0)
    assert w[:2].sum() > 0.99 and w[0] > w[1]
    mean, std = sim.predict(seen)
    # row 0 scaled over the observed (0 -> 0, 0.8 -> 1): c5 = 1.0 / 0.8; row 1's: 1.0 / 0.9
    assert 1.0 / 0.9 < mean[5] < 1.0 / 0.8 and np.argmax(mean) == 5
    assert (std >= 0.02).all()


def test_the_opposite_observations_pick_the_opposite_datasets() -> None:
    sim = ObservedSimilarity(KEYS, NORM, bandwidth=0.02)
    seen = {"c0": 1.0, "c2": 0.5, "c4": 0.0}
    assert sim.weights(seen)[2:].sum() > 0.99
    mean, _ = sim.predict(seen)
    assert np.argmax(mean) in (0, 1) and mean[5] < mean[4]


def test_the_default_kernel_leans_on_the_agreeing_datasets_without_dropping_the_rest() -> None:
    sim = ObservedSimilarity(KEYS, NORM)  # BANDWIDTH: a few observations are weak evidence
    w = sim.weights({"c0": 0.0, "c2": 0.5, "c4": 1.0})
    assert w[0] > w[1] > w[2] and w[0] > w[3]
    assert 0.5 < w[:2].sum() < 0.99
    narrow = ObservedSimilarity(KEYS, NORM, bandwidth=0.02).weights({"c0": 0.0, "c2": 0.5, "c4": 1.0})
    assert narrow[:2].sum() > w[:2].sum()


def test_disagreement_is_what_the_weights_put_the_kernel_on() -> None:
    sim = ObservedSimilarity(KEYS, NORM)
    seen = {"c0": 0.0, "c2": 0.5, "c4": 1.0}
    d = sim.disagreement(seen)
    # scaled over c0, c2, c4: row 0 is exactly (0, 0.5, 1), row 1 (0, 5/9, 1); rows 2 and 3 run
    # the other way: (1, 0.5, 0) and (1, 4/9, 0)
    assert d == pytest.approx([0.0, (0.5 - 5 / 9) ** 2 / 3, 2 / 3, (2 + (0.5 - 4 / 9) ** 2) / 3])
    w = np.exp(-d / sim.bandwidth)
    assert sim.weights(seen) == pytest.approx(w / w.sum())
    none = ObservedSimilarity(KEYS, np.vstack([NORM, np.full(6, np.nan)]))
    assert none.disagreement(seen)[-1] == np.inf  # nothing measured: no agreement at all


def test_too_few_or_unknown_observations_leave_the_prior() -> None:
    sim = ObservedSimilarity(KEYS, NORM)
    assert sim.weights({}) == pytest.approx(np.full(4, 0.25))
    assert sim.weights({"c3": 1.0}) == pytest.approx(np.full(4, 0.25))
    assert sim.weights({"elsewhere": 1.0, "other": 0.0}) == pytest.approx(np.full(4, 0.25))
    mean, _ = sim.predict({})
    assert mean[5] == pytest.approx(2.0 / 3.0)  # the mean of the three measured rows


def test_improvement_is_the_expected_gain_over_each_datasets_best_seen() -> None:
    sim = ObservedSimilarity(KEYS, NORM)
    seen = {"c0": 0.0, "c2": 0.5, "c4": 1.0}  # agrees with the upward rows
    w = sim.weights(seen)
    gain = sim.improvement(seen)
    assert np.isneginf(gain[[0, 2, 4]]).all()
    # c5: row 0 gains 1.0 - 0.8, row 1 1.0 - 0.9, rows 2 and 3 nothing (their best seen is c0)
    assert gain[5] == pytest.approx(w[0] * 0.2 + w[1] * 0.1 + 1e-9 * (w @ np.nan_to_num(NORM[:, 5])))
    assert int(np.argmax(gain)) == 5
    # once c5 is pending, its outcome is known in every scenario: nothing left to gain on rows
    # 0 and 1, so the next pick is the best on average (tie-break) among the rest
    after = sim.improvement(seen, pending=["c5"])
    assert np.isneginf(after[5]) and after[[1, 3]].max() < 1e-6
    # too few observations: every dataset weighs the same, the portfolio's next step
    flat = sim.improvement({"c0": 1.0})
    assert int(np.argmax(flat)) == 5 and np.isneginf(flat[0])


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="expected"):
        ObservedSimilarity(KEYS[:3], NORM)
    with pytest.raises(ValueError, match="bandwidth"):
        ObservedSimilarity(KEYS, NORM, bandwidth=0.0)


def test_suggest_follows_the_stored_dataset_that_agrees() -> None:
    """On a knowledge base, the transfer surrogate moves ``suggest`` towards the best pool
    configuration of the stored dataset whose results the observations reproduce."""
    kb = synthetic_kb(12, seed=3, families=("linear", "knn"), pool_size=12)
    surrogates = meta_train_many(kb, seed=0, iterations=5, n_members=2, hidden=8)
    sim = ObservedSimilarity.of(kb)
    assert sim.n_datasets == kb.n_datasets and len(sim.keys) == kb.n_configs
    norm = kb.normalised(fill=0.0)
    twin = 4  # the new dataset behaves exactly like stored dataset 4
    order = np.argsort(norm[twin])
    shown = [int(order[0]), int(order[len(order) // 2]), int(order[-3])]  # not its best ones
    observations = [(kb.families[j], kb.config_values[j], float(norm[twin, j])) for j in shown]
    [pick] = suggest(surrogates, observations, 1, n_random=0, n_neighbours=0,
                     transfer=ObservedSimilarity(sim.keys, sim.norm, bandwidth=1e-4))
    by_key = {k: j for j, k in enumerate(sim.keys)}
    picked = by_key[config_key(pick.family, pick.config)]
    assert norm[twin, picked] >= np.sort(norm[twin])[-2]  # its best or second best


def test_scores_scale_min_max_with_failures_as_the_worst() -> None:
    """The one scaling the surrogates, the transfer phase and the benchmark share."""
    assert scale_scores([0.5, None, 0.9, 0.7, float("nan")]) == pytest.approx([0.0, 0.0, 1.0, 0.5, 0.0])
    # no scale yet: a lone result is the top, a failure beside it still the worst
    assert scale_scores([0.8, None]) == [1.0, 0.0]
    assert scale_scores([]) == []
