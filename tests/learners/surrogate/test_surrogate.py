"""The meta-learned surrogate: training, persistence, adaptation, and what ``suggest`` may return."""

from __future__ import annotations

import math

import numpy as np
import pytest

from learners.recommenders import KnowledgeBase
from learners.recommenders.synthetic import synthetic_kb
from learners.spaces import InvalidConfigurationError, get_space
from learners.surrogate import (
    MetaSurrogate,
    SpaceEncoder,
    Suggestion,
    config_key,
    expected_improvement,
    meta_train,
    meta_train_many,
    suggest,
)
from learners.surrogate.model import ARCHITECTURE_VERSION

FAMILIES = ("lightgbm", "linear", "knn")
#: Small enough to meta-train three families in a couple of seconds on one thread.
FAST = {"iterations": 40, "n_members": 3, "hidden": 16}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return synthetic_kb(24, seed=1, families=FAMILIES, pool_size=16)


@pytest.fixture(scope="module")
def surrogates(kb: KnowledgeBase) -> dict[str, MetaSurrogate]:
    return meta_train_many(kb, FAMILIES, seed=0, **FAST)


def pool_of(kb: KnowledgeBase, family: str) -> list[dict]:
    return [dict(v) for v, f in zip(kb.config_values, kb.families, strict=True) if f == family]


def keys(items) -> set[str]:
    return {config_key(s.family, s.config) for s in items}


# --- encoding -----------------------------------------------------------------------------------


def test_encoder_maps_any_valid_configuration_into_the_unit_box() -> None:
    enc = SpaceEncoder("linear", "classification")
    configs = enc.sample(50, np.random.default_rng(0))
    x = enc.encode(configs)
    assert x.shape == (50, enc.width)
    assert x.min() >= 0.0 and x.max() <= 1.0
    active = enc.columns.index("l1_ratio:active")
    assert set(x[:, active]) == {0.0, 1.0}  # l1_ratio is conditional on the penalty
    assert len({tuple(r) for r in x}) == len({config_key("linear", c) for c in configs})


@pytest.mark.parametrize("family", ["lightgbm", "knn", "linear", "random_forest"])
def test_samples_and_local_moves_are_valid_and_distinct(family: str) -> None:
    enc = SpaceEncoder(family, "regression")
    rng = np.random.default_rng(0)
    base = enc.space.default()
    moves = enc.neighbours(base, 20, rng)
    for config in [*enc.sample(20, rng), *moves]:
        assert config_key(family, enc.canonical(config)) == config_key(family, config)
    # a move can land back on the start (a bound, an integer rounding back): duplicates are
    # dropped from the candidates, but most moves must go somewhere
    assert sum(config_key(family, m) != config_key(family, base) for m in moves) >= 10


def test_encoder_rejects_unknown_hyperparameters() -> None:
    with pytest.raises(InvalidConfigurationError, match="does not define"):
        SpaceEncoder("svm", "regression").encode([{"C": 1.0, "gamma_factor": 1.0, "depth": 3}])


def test_config_key_ignores_float_round_off_and_int_float_spelling() -> None:
    a = {"C": 0.1 + 0.2, "n": 100}
    b = {"n": 100.0, "C": 0.3}
    assert config_key("svm", a) == config_key("svm", b)
    assert config_key("svm", a) != config_key("linear", a)


# --- training and persistence -------------------------------------------------------------------


def test_meta_train_one_family_and_refuse_unknown_ones(kb: KnowledgeBase) -> None:
    s = meta_train(kb, "knn", seed=0, **FAST)
    assert (s.family, s.task_type) == ("knn", "classification")
    assert s.version.startswith(f"surrogate-a{ARCHITECTURE_VERSION}-knn-")
    assert len(s.pool) == len(pool_of(kb, "knn"))
    with pytest.raises(ValueError, match="no configuration"):
        meta_train(kb, "svm", **FAST)
    with pytest.raises(ValueError, match="unknown surrogate parameters"):
        meta_train(kb, "knn", epochs=3)


def test_meta_training_is_seeded(kb: KnowledgeBase) -> None:
    a = meta_train(kb, "linear", seed=3, **FAST).predict(pool_of(kb, "linear"))[0]
    b = meta_train(kb, "linear", seed=3, **FAST).predict(pool_of(kb, "linear"))[0]
    c = meta_train(kb, "linear", seed=4, **FAST).predict(pool_of(kb, "linear"))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("algorithm", ["fomaml", "metasgd"])
def test_bytes_round_trip_gives_identical_predictions(kb: KnowledgeBase, algorithm: str) -> None:
    s = meta_train(kb, "lightgbm", seed=0, algorithm=algorithm, **FAST)
    payload = s.to_bytes()
    assert b"pickle" not in payload and payload[8:9] == b"{"  # a safetensors JSON header
    back = MetaSurrogate.from_bytes(payload)
    assert (back.family, back.task_type, back.version) == (s.family, s.task_type, s.version)
    configs = [*s.pool[:4], *back.encoder.sample(4, np.random.default_rng(0))]
    np.testing.assert_array_equal(s.predict(configs)[0], back.predict(configs)[0])
    obs, y = s.pool[:3], [0.2, 0.9, 0.5]
    np.testing.assert_array_equal(s.adapt(obs, y).predict(configs)[0],
                                  back.adapt(obs, y).predict(configs)[0])


def test_from_bytes_refuses_other_payloads() -> None:
    with pytest.raises(ValueError, match="not a serialised surrogate"):
        MetaSurrogate.from_bytes(b"\x00" * 16)


def test_the_prior_follows_the_knowledge_base(surrogates: dict, kb: KnowledgeBase) -> None:
    """Before any observation the surrogate ranks the pool like the mean normalised score."""
    cols = [j for j, f in enumerate(kb.families) if f == "lightgbm"]
    truth = kb.normalised()[:, cols].mean(axis=0)
    mean, std = surrogates["lightgbm"].predict(pool_of(kb, "lightgbm"))
    assert np.corrcoef(mean, truth)[0, 1] > 0.5
    assert (std > 0).all()


def test_adaptation_moves_predictions_towards_the_observations(surrogates: dict) -> None:
    """Observations from a known function: after adapting, predictions fit them better."""
    s = surrogates["linear"]
    configs = s.encoder.sample(24, np.random.default_rng(1))
    x = s.encoder.encode(configs)
    truth = 1.0 - (x[:, s.encoder.columns.index("C")] - 0.8) ** 2 * 2  # peak at C's unit 0.8
    seen, unseen = slice(0, 16), slice(16, 24)
    before = s.predict(configs)[0]
    after = s.adapt(configs[seen], truth[seen], steps=20).predict(configs)[0]
    err = lambda m, part: float(np.mean((m[part] - truth[part]) ** 2))  # noqa: E731
    assert err(after, seen) < 0.7 * err(before, seen)
    gap = lambda m: abs(float(m[unseen].mean() - truth[seen].mean()))  # noqa: E731
    assert gap(after) < gap(before)


# --- suggest ------------------------------------------------------------------------------------


def observations(surrogates: dict, kb: KnowledgeBase, n: int) -> list:
    row = kb.scores[0]
    out = []
    for j in range(n):
        j = (j * 7) % kb.n_configs
        out.append((kb.families[j], dict(kb.config_values[j]), float(row[j])))
    return out


def test_suggest_never_repeats_observed_or_pending(surrogates: dict, kb: KnowledgeBase) -> None:
    obs = observations(surrogates, kb, 6)
    pending = [("lightgbm", c) for c in pool_of(kb, "lightgbm")[:3]]
    cold = [(f, c) for f, c, _ in obs[:2]] + pending[:1]  # all taken already
    out = suggest(surrogates, obs, 8, pending=pending, cold_start=cold, seed=0)
    assert len(out) == 8 and all(isinstance(s, Suggestion) for s in out)
    taken = {config_key(f, c) for f, c, _ in obs} | {config_key(f, c) for f, c in pending}
    assert not keys(out) & taken
    assert len(keys(out)) == 8  # no two parallel workers get the same configuration
    for s in out:
        get_space(s.family, "classification").validate(s.config)
        assert math.isfinite(s.acquisition) and s.std > 0


def test_pending_suggestions_are_not_proposed_again(surrogates: dict, kb: KnowledgeBase) -> None:
    obs = observations(surrogates, kb, 5)
    first = suggest(surrogates, obs, 1, seed=0)
    second = suggest(surrogates, obs, 1, pending=[(first[0].family, first[0].config)], seed=0)
    assert keys(first) != keys(second)


def test_cold_start_picks_come_first_in_order(surrogates: dict, kb: KnowledgeBase) -> None:
    cold = [("knn", pool_of(kb, "knn")[2]), ("linear", pool_of(kb, "linear")[1]),
            ("lightgbm", pool_of(kb, "lightgbm")[5])]
    out = suggest(surrogates, [], 4, cold_start=cold)
    assert [(s.family, s.config) for s in out[:3]] == [(f, dict(c)) for f, c in cold]
    assert config_key(out[3].family, out[3].config) not in {config_key(f, c) for f, c in cold}
    # once one is observed, the rest still come first
    obs = [(cold[0][0], cold[0][1], 0.8)]
    again = suggest(surrogates, obs, 2, cold_start=cold)
    assert [(s.family, s.config) for s in again] == [(f, dict(c)) for f, c in cold[1:]]


def test_suggest_proposes_valid_configurations_outside_the_pool(surrogates: dict,
                                                                kb: KnowledgeBase) -> None:
    obs = observations(surrogates, kb, 8)
    out = suggest(surrogates, obs, 12, seed=2, n_random=64)
    pool = {config_key(f, v) for f, v in zip(kb.families, kb.config_values, strict=True)}
    outside = [s for s in out if config_key(s.family, s.config) not in pool]
    assert outside
    for s in outside:  # valid, and equal to the space's own reading of it up to float round-off
        checked = get_space(s.family, kb.task_type).validate(s.config)
        assert config_key(s.family, checked) == config_key(s.family, s.config)


def test_failed_observations_count_as_the_worst(surrogates: dict, kb: KnowledgeBase) -> None:
    lin = pool_of(kb, "linear")
    obs = [("linear", lin[0], 0.9), ("linear", lin[1], 0.5), ("linear", lin[2], None)]
    out = suggest({"linear": surrogates["linear"]}, obs, 3, seed=0)
    assert len(out) == 3 and not keys(out) & {config_key("linear", c) for c in lin[:3]}
    # every run failed: no scale yet, still suggestions, none of them repeats
    failed = [("linear", c, None) for c in lin[:3]]
    again = suggest({"linear": surrogates["linear"]}, failed, 2, seed=0)
    assert len(again) == 2 and not keys(again) & {config_key("linear", c) for c in lin[:3]}


def test_suggest_checks_its_arguments(surrogates: dict) -> None:
    with pytest.raises(ValueError, match="at least one"):
        suggest(surrogates, [], 0)
    with pytest.raises(InvalidConfigurationError):
        suggest(surrogates, [("knn", {"n_neighbors": -3}, 0.5)], 1)


def test_expected_improvement_prefers_high_mean_and_high_spread() -> None:
    ei = expected_improvement(np.array([0.5, 0.9, 0.5]), np.array([0.1, 0.1, 0.4]), 0.8)
    assert ei[1] > ei[0] and ei[2] > ei[0] and (ei >= 0).all()
