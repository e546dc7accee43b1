"""The transfer phase's acquisition: the knowledge base as a mixture and the dataset's own GP."""

from __future__ import annotations

import numpy as np
import pytest

from learners.recommenders.synthetic import synthetic_kb
from learners.surrogate import scale_scores
from learners.surrogate.blend import MixtureAndOwnGP, own_gp
from learners.surrogate.transfer import ObservedSimilarity

#: Two families of four columns each, the same 1-d encodings in both.
FAMILIES = ["a"] * 4 + ["b"] * 4
GRID = np.array([[0.0], [0.33], [0.66], [1.0]])
KEYS = [f"{f}{j % 4}" for j, f in enumerate(FAMILIES)]


def _blend() -> MixtureAndOwnGP:
    """Six stored datasets that all put family a far above family b."""
    rng = np.random.default_rng(0)
    norm = np.hstack([0.8 + 0.2 * rng.random((6, 4)), 0.2 * rng.random((6, 4))])
    return MixtureAndOwnGP(ObservedSimilarity(KEYS, norm), FAMILIES, {"a": GRID, "b": GRID})


def _observed(raw: dict[str, float]) -> dict[str, float]:
    return dict(zip(raw, scale_scores(list(raw.values())), strict=True))


#: A new dataset where b, which no stored dataset rates, is far above a (Hill_Valley's linear).
SEEN = _observed({"a0": 0.20, "a1": 0.25, "b0": 0.90})


def test_its_own_gp_leaves_one_out_exactly() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.random((6, 3)), rng.random(6)
    _, _, loo = own_gp(x, y, x, 0.4, 0.09, 0.5)
    for t in range(6):  # the closed form against refitting without observation t
        rest = np.arange(6) != t
        mu, sd, _ = own_gp(x[rest], y[rest], x[t:t + 1], 0.4, 0.09, 0.5)
        assert np.isclose(loo[t], mu[0], atol=1e-6)
        assert sd[0] > 0


def test_the_own_gp_follows_a_family_that_the_stored_datasets_never_rated() -> None:
    blend = _blend()
    mixture = blend.similarity.improvement(SEEN)
    assert KEYS[int(np.argmax(mixture))].startswith("a")  # the knowledge base alone stays on a
    gain, weight = blend.improvement(SEEN)
    assert weight > 0.5  # the GP predicts these results better than any stored dataset
    assert KEYS[int(np.argmax(gain))] == "b1"  # next to the dataset's own best
    assert all(gain[KEYS.index(k)] == -np.inf for k in SEEN)


def test_pending_configurations_are_believed_so_parallel_picks_spread() -> None:
    blend = _blend()
    gain, _ = blend.improvement(SEEN)
    b1 = KEYS.index("b1")
    pending, _ = blend.improvement(SEEN, ["b1"])
    assert pending[b1] == -np.inf and np.isfinite(pending[KEYS.index("b2")])
    # the same configuration pending off the pool: the GP believes it at its mean, so b1 (the
    # same point) has nothing left to gain from the GP
    believed, _ = blend.improvement(SEEN, outside_pending=[("b", GRID[1] + 1e-4)])
    assert believed[b1] < 0.2 * gain[b1]


def test_observations_off_the_pool_teach_the_gp() -> None:
    blend = _blend()
    gain, _ = blend.improvement(SEEN)
    assert KEYS[int(np.argmax(gain))] == "b1"
    b2 = KEYS.index("b2")
    taught, _ = blend.improvement(SEEN, outside=[("b", np.array([0.9]), 1.3)])
    assert taught[b2] > 1.5 * gain[b2]  # a better result between b2 and b3, outside the pool
    assert KEYS[int(np.argmax(taught))] == "b2"


def test_fewer_than_two_observations_leave_the_mixture_alone() -> None:
    blend = _blend()
    gain, weight = blend.improvement({"b0": 1.0})
    assert weight == 0.0
    assert np.array_equal(gain, blend.similarity.improvement({"b0": 1.0}))


def test_of_a_knowledge_base_encodes_every_column() -> None:
    kb = synthetic_kb(n_datasets=6, seed=0)
    blend = MixtureAndOwnGP.of(kb)
    assert sum(len(c) for c in blend.columns.values()) == kb.n_configs
    assert {f: len(x) for f, x in blend.encoded.items()} == {f: len(c) for f, c in blend.columns.items()}
    observed = _observed({blend.similarity.keys[j]: float(kb.scores[0, j]) for j in range(5)})
    gain, weight = blend.improvement(observed)
    assert gain.shape == (kb.n_configs,) and 0.0 < weight < 1.0
    assert np.isfinite(gain).sum() == kb.n_configs - 5


def test_bad_shapes_are_refused() -> None:
    sim = _blend().similarity
    with pytest.raises(ValueError, match="families for"):
        MixtureAndOwnGP(sim, FAMILIES[:-1], {"a": GRID, "b": GRID})
    with pytest.raises(ValueError, match="encodings of its columns"):
        MixtureAndOwnGP(sim, FAMILIES, {"a": GRID, "b": GRID[:3]})
    with pytest.raises(ValueError, match="positive"):
        MixtureAndOwnGP(sim, FAMILIES, {"a": GRID, "b": GRID}, tau=0.0)


def test_evaluate_predicts_on_the_observations_scale_as_the_weight_mixes_the_experts() -> None:
    blend = _blend()
    out = blend.evaluate(SEEN)
    gain, weight = blend.improvement(SEEN)
    assert np.array_equal(out.gain, gain) and out.weight == weight
    mixture, _ = blend.similarity.predict(SEEN)
    b1 = KEYS.index("b1")
    # the stored datasets put b1 at the bottom; the GP, next to the best observed, near the top
    assert mixture[b1] < 0.5 < out.mean[b1] <= 1.2
    assert (out.std >= 0).all() and np.isfinite(out.mean).all()
    lone = blend.evaluate({"b0": 1.0})  # one observation: the mixture's own prediction
    assert np.allclose(lone.mean, blend.similarity.predict({"b0": 1.0})[0])
    assert blend.evaluate(SEEN, predict=False).mean is None
