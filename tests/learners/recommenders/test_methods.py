"""Behaviour of each recommender: what it picks, budgets, filters, explanations, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from learners.recommenders import (
    METHODS,
    DefaultsRecommender,
    FlamlStyleRecommender,
    KnnRecommender,
    KnowledgeBase,
    LearnedRecommender,
    NotFittedError,
    PortfolioRecommender,
    load,
    make,
)
from learners.recommenders.evaluation import regret_curve
from learners.recommenders.learned import MetaFeatureScaler
from learners.recommenders.portfolio import greedy_portfolio
from tests.learners.recommenders.conftest import FAST_LEARNED

PARAMS = {"learned": FAST_LEARNED}


def fitted(name: str, kb: KnowledgeBase):
    return make(name, **PARAMS.get(name, {})).fit(kb)


def query(kb: KnowledgeBase, i: int) -> dict[str, float]:
    return dict(zip(kb.metafeature_names, kb.metafeatures[i], strict=True))


@pytest.fixture(scope="module")
def all_fitted(kb):
    return {name: fitted(name, kb) for name in METHODS}


@pytest.mark.parametrize("name", list(METHODS))
def test_picks_are_distinct_scored_and_explained(all_fitted, kb, name):
    recs = all_fitted[name].recommend(query(kb, 3), k=5)
    assert 1 <= len(recs) <= 5
    assert len({r.config_index for r in recs}) == len(recs)
    for r in recs:
        assert 0.0 <= r.expected_score <= 1.0 and r.uncertainty >= 0.0
        assert r.predicted_fit_time > 0
        assert r.family == kb.families[r.config_index]
        assert r.hyperparameters == kb.config_values[r.config_index]
        assert len(r.support) == 3
        key, sim, score = r.support[0]
        assert key == kb.dataset_keys[3] and sim == pytest.approx(1.0)  # itself is most similar
        assert score == pytest.approx(kb.normalised()[3, r.config_index], abs=1e-4)


@pytest.mark.parametrize("name", list(METHODS))
def test_time_budget_and_family_filter_are_respected(all_fitted, kb, name):
    rec = all_fitted[name]
    budget = 0.5 * sum(r.predicted_fit_time for r in rec.recommend(query(kb, 0), k=5))
    recs = rec.recommend(query(kb, 0), k=5, time_budget_s=budget)
    assert sum(r.predicted_fit_time for r in recs) <= budget + 1e-9
    recs = rec.recommend(query(kb, 0), k=4, families=["lightgbm", "knn"])
    assert recs and {r.family for r in recs} <= {"lightgbm", "knn"}


@pytest.mark.parametrize("name", list(METHODS))
def test_save_and_load_give_the_same_recommendations(all_fitted, kb, name, tmp_path):
    rec = all_fitted[name]
    folder = rec.save(tmp_path / name)
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.safetensors", "recommender.json"]
    back = load(folder)
    assert type(back) is type(rec)
    np.testing.assert_array_equal(back.time_spread_, rec.time_spread_)
    for i in (1, 7):
        a, b = rec.recommend(query(kb, i), k=5), back.recommend(query(kb, i), k=5)
        assert [r.config_index for r in a] == [r.config_index for r in b]
        assert [r.expected_score for r in a] == pytest.approx([r.expected_score for r in b])


def test_errors_name_what_to_do(all_fitted, kb):
    with pytest.raises(NotFittedError, match="fit"):
        KnnRecommender().recommend(query(kb, 0))
    with pytest.raises(ValueError, match="choose from"):
        all_fitted["knn"].recommend(query(kb, 0), families=["catboost"])
    with pytest.raises(ValueError, match="at least one"):
        all_fitted["knn"].recommend(query(kb, 0), k=0)
    with pytest.raises(ValueError, match="choose from"):
        make("autogluon")


def test_defaults_are_the_library_defaults_best_on_average_first(kb):
    rec = DefaultsRecommender().fit(kb)
    recs = rec.recommend(query(kb, 0), k=20)
    assert [r.config_key for r in recs] == [r.config_key for r in recs if
                                            r.config_key.endswith("-default")]
    assert len(recs) == len(set(kb.families))
    means = [kb.normalised()[:, r.config_index].mean() for r in recs]
    assert means == sorted(means, reverse=True)


def test_greedy_portfolio_maximises_mean_best_of_k():
    norm = np.array([[1.0, 0.0, 0.8], [0.0, 1.0, 0.8], [0.0, 0.9, 0.8]])
    # 0.8 on average first; then column 1 lifts the mean best to 0.9, column 0 only to 0.87
    assert greedy_portfolio(norm, 2) == [2, 1]
    assert greedy_portfolio(norm, 2, times=np.array([1.0, 1.0, 5.0]), budget=2.0) == [1, 0]


def test_portfolio_is_the_same_for_every_dataset(kb):
    rec = PortfolioRecommender().fit(kb)
    a = [r.config_index for r in rec.recommend(query(kb, 0), k=5)]
    assert a == [r.config_index for r in rec.recommend(query(kb, 9), k=5)]
    assert a == greedy_portfolio(kb.normalised(), 5)


def test_knn_takes_the_nearest_datasets_best_configurations(kb):
    rec = KnnRecommender().fit(kb)
    i = 5
    near = rec.neighbours(kb.metafeatures[i])
    assert near[0] == i
    best = [int(np.argmax(kb.normalised()[j])) for j in near]
    first_distinct = list(dict.fromkeys(best))[:3]
    assert [r.config_index for r in rec.recommend(query(kb, i), k=3)] == first_distinct


def test_flaml_style_ranks_the_nearest_tasks_portfolio(kb):
    rec = FlamlStyleRecommender(portfolio_size=6).fit(kb)
    i = 11
    assert rec.nearest(kb.metafeatures[i])[0] == i
    picks = [r.config_index for r in rec.recommend(query(kb, i), k=3)]
    portfolio = rec.portfolio_.tolist()
    want = sorted(portfolio, key=lambda j: -kb.normalised()[i, j])[:3]
    assert picks == want


def test_learned_beats_the_baselines_on_held_out_synthetic_datasets(big_kb):
    train, test = big_kb.subset(range(80)), range(80, 100)
    norm = big_kb.normalised()
    methods = {"learned": LearnedRecommender(**FAST_LEARNED), "defaults": DefaultsRecommender(),
               "portfolio": PortfolioRecommender()}
    regret = {}
    for name, rec in methods.items():
        rec.fit(train)
        curves = [regret_curve(norm[i, [r.config_index for r in
                                        rec.recommend(query(big_kb, i), k=3)]], [1, 3])
                  for i in test]
        regret[name] = np.mean(curves, axis=0)
    assert (regret["learned"] < regret["portfolio"]).all()
    assert (regret["learned"] < regret["defaults"]).all()


def test_learned_is_deterministic_and_versioned(kb):
    a = LearnedRecommender(**FAST_LEARNED).fit(kb)
    b = LearnedRecommender(**FAST_LEARNED).fit(kb)
    assert a.version_ == b.version_ and a.version_.startswith("learned-a1-")
    np.testing.assert_allclose(a.predict(query(kb, 2))[0], b.predict(query(kb, 2))[0])
    c = LearnedRecommender(**FAST_LEARNED).fit(kb.subset(range(30)))
    assert c.version_ != a.version_


def test_learned_keeps_its_top_five_within_twice_the_defaults_time(all_fitted, kb):
    learned, defaults = all_fitted["learned"], all_fitted["defaults"]
    for i in range(0, 40, 7):
        size = {"n_rows": int(kb.n_rows[i]), "n_features": int(kb.n_features[i])}
        ours = sum(r.predicted_fit_time for r in learned.recommend(query(kb, i), k=5, **size))
        base = sum(r.predicted_fit_time for r in defaults.recommend(query(kb, i), k=5, **size))
        assert ours <= 2.0 * base


def test_time_safety_checks_the_cap_on_an_upper_quantile_of_each_picks_time(all_fitted, kb):
    import copy

    learned, defaults = all_fitted["learned"], all_fitted["defaults"]
    assert learned.time_spread_.shape == (kb.n_configs,) and (learned.time_spread_ > 0).all()
    for i in range(0, 40, 7):
        size = {"n_rows": int(kb.n_rows[i]), "n_features": int(kb.n_features[i])}
        plain = [r.config_index for r in learned.recommend(query(kb, i), k=5, **size)]
        safe = copy.copy(learned)  # the same picks made erratic: their upper quantile is huge
        safe.time_safety, safe.time_relative_spread_ = 2.0, learned.time_relative_spread_.copy()
        safe.time_relative_spread_[plain] = 5.0
        picks = safe.recommend(query(kb, i), k=5, **size)
        assert not {r.config_index for r in picks} & set(plain)
        high = sum(r.predicted_fit_time * np.exp(2.0 * safe.time_relative_spread_[r.config_index])
                   for r in picks)
        base = sum(r.predicted_fit_time * np.exp(-2.0 * safe.time_relative_spread_[r.config_index])
                   for r in defaults.recommend(query(kb, i), k=5, **size))
        assert high <= safe.default_time_factor * safe.time_margin * base * (1 + 1e-9)


def test_an_erratic_default_does_not_loosen_the_time_cap(all_fitted, kb):
    """Without a budget the cap is relative to the five defaults' time: the picks count at the
    upper quantile of their spread within a dataset, the defaults at the mirrored lower one, so
    a default whose time is erratic (an MLP that stops early on a tiny dataset, predicted at 8x
    its fit) counts at its low end, not at its median. A budget in seconds is checked on the
    spread in seconds instead."""
    import copy

    learned, defaults = all_fitted["learned"], all_fitted["defaults"]
    assert learned.time_relative_spread_.shape == (kb.n_configs,)
    assert (learned.time_relative_spread_ > 0).all()
    tighter = 0
    for i in range(0, 40, 7):
        size = {"n_rows": int(kb.n_rows[i]), "n_features": int(kb.n_features[i])}
        five = defaults.recommend(query(kb, i), k=5, **size)
        erratic = copy.copy(learned)
        erratic.time_safety = 1.0
        erratic.time_relative_spread_ = learned.time_relative_spread_.copy()
        erratic.time_relative_spread_[[r.config_index for r in five]] = 1.0
        picks = erratic.recommend(query(kb, i), k=5, **size)
        high = sum(r.predicted_fit_time * np.exp(erratic.time_relative_spread_[r.config_index])
                   for r in picks)
        low = sum(r.predicted_fit_time * np.exp(-1.0) for r in five)
        assert high <= erratic.default_time_factor * erratic.time_margin * low * (1 + 1e-9)
        plain = copy.copy(erratic)  # the same, the defaults at their median as before
        plain.time_relative_spread_ = learned.time_relative_spread_.copy()
        before = plain.recommend(query(kb, i), k=5, **size)
        tighter += sum(r.predicted_fit_time for r in picks) < sum(r.predicted_fit_time for r in before)
        # a budget is in seconds: the spread in seconds decides, not the one within a dataset
        budget = sum(r.predicted_fit_time for r in five)
        within = erratic.recommend(query(kb, i), k=5, time_budget_s=budget, **size)
        assert sum(r.predicted_fit_time * np.exp(erratic.time_spread_[r.config_index])
                   for r in within) <= budget * (1 + 1e-9)
    assert tighter  # somewhere the erratic defaults' low end made the picks cheaper


def test_learned_picks_are_diverse_not_the_top_k_means(big_kb):
    # half the weight on the networks' scenarios (classification's default since session 14)
    rec = LearnedRecommender(**{**FAST_LEARNED, "portfolio_weight": 0.5}).fit(big_kb)
    q = query(big_kb, 4)
    mean, _ = rec.predict(q)
    picks = [r.config_index for r in rec.recommend(q, k=5, time_budget_s=1e9)]
    assert picks[0] in np.argsort(-mean)[:5]  # the first pick is among the best expected
    assert picks != list(np.argsort(-mean)[:5])  # the rest hedge rather than copy


def test_greedy_best_of_k_keeps_a_slot_for_an_anchor_in_the_first_five():
    from learners.recommenders.learned import greedy_best_of_k

    rng = np.random.default_rng(0)
    scen = rng.random((30, 12))
    scen[:, 11] = 0.0  # the anchor never wins a scenario
    allowed, times, caps = np.ones(12, bool), np.ones(12), np.full(12, np.inf)
    anchors = np.zeros(12, bool)
    anchors[11] = True
    w = np.full(30, 1 / 30)
    free = greedy_best_of_k(scen, w, 8, allowed, times, caps)
    held = greedy_best_of_k(scen, w, 8, allowed, times, caps, anchors, 1)
    assert 11 not in free[:5] and held[4] == 11 and held[:4] == free[:4]
    assert greedy_best_of_k(scen, w, 3, allowed, times, caps, anchors, 1) == free[:3]


def test_greedy_best_of_k_with_a_baseline_prefers_what_beats_it_more_often():
    from learners.recommenders.learned import greedy_best_of_k

    scen = np.array([[0.9, 0.55], [0.45, 0.55]])  # A: higher mean; B: beats 0.5 in both
    allowed, times, caps = np.ones(2, bool), np.ones(2), np.full(2, np.inf)
    w, baseline = np.full(2, 0.5), np.full(2, 0.5)
    assert greedy_best_of_k(scen, w, 1, allowed, times, caps)[0] == 0
    assert greedy_best_of_k(scen, w, 1, allowed, times, caps, baseline=baseline,
                            baseline_weight=0.5)[0] == 1
    assert greedy_best_of_k(scen, w, 1, allowed, times, caps, baseline=baseline,
                            baseline_weight=0.0)[0] == 0


def test_greedy_best_of_k_counts_the_baseline_for_the_first_five_picks_only():
    from learners.recommenders.learned import greedy_best_of_k

    rng = np.random.default_rng(1)
    scen = rng.random((40, 15))
    allowed, times, caps = np.ones(15, bool), np.ones(15), np.full(15, np.inf)
    w, baseline = np.full(40, 1 / 40), np.full(40, 0.97)  # beaten in few scenarios
    both = greedy_best_of_k(scen, w, 10, allowed, times, caps, baseline=baseline,
                            baseline_weight=5.0)
    plain = greedy_best_of_k(scen, w, 10, allowed, times, caps)
    assert both[:5] != plain[:5]  # the weight is large enough to change the first five
    # after the fifth pick the greedy maximises the best-of-k alone, from the first five
    best, rest = scen[:, both[:5]].max(axis=1), []
    for _ in range(5):
        gain = w @ np.maximum(scen, best[:, None]) + 1e-6 * (w @ scen)
        gain[both[:5] + rest] = -np.inf
        rest.append(int(np.argmax(gain)))
        best = np.maximum(best, scen[:, rest[-1]])
    assert both[5:] == rest


def test_family_noise_spreads_the_picks_over_more_families(kb):
    plain = LearnedRecommender(**FAST_LEARNED).fit(kb)
    hedged = LearnedRecommender(**{**FAST_LEARNED, "family_noise": 0.5}).fit(kb)
    spread = {name: np.mean([len({r.family for r in rec.recommend(query(kb, i), k=5,
                                                                 time_budget_s=1e9)})
                             for i in range(0, 40, 4)])
              for name, rec in (("plain", plain), ("hedged", hedged))}
    assert spread["hedged"] > spread["plain"]


def test_portfolio_weight_one_is_the_portfolio_and_a_sample_bounds_the_rows(kb):
    """All weight on the stored rows (no anchor, no beat-the-defaults term) is the portfolio's
    objective: the same greedy picks."""
    portfolio = make("portfolio").fit(kb)
    only_rows = LearnedRecommender(**{**FAST_LEARNED, "portfolio_weight": 1.0,
                                      "anchor_defaults": 0, "beat_defaults_weight": 0.0}).fit(kb)
    for i in (0, 7, 21):
        got = [r.config_index for r in only_rows.recommend(query(kb, i), k=6, time_budget_s=1e9)]
        want = [r.config_index for r in portfolio.recommend(query(kb, i), k=6, time_budget_s=1e9)]
        assert got == want
    sampled = LearnedRecommender(**{**FAST_LEARNED, "portfolio_weight": 0.5,
                                    "portfolio_rows": 10}).fit(kb)
    rows = sampled._portfolio_rows()
    assert rows.shape == (10, kb.n_configs) and rows is sampled._portfolio_rows()
    assert len(sampled.recommend(query(kb, 3), k=5)) == 5


def test_portfolio_weight_defaults_by_task_type_and_is_checked(kb):
    """Unset, the share for the stored rows is the task type's; set, it overrides; outside 0..1
    it is refused with what to give."""
    from learners.recommenders.learned import PORTFOLIO_WEIGHT
    from learners.recommenders.synthetic import synthetic_kb

    assert all(0 < PORTFOLIO_WEIGHT[t] < 1 for t in ("classification", "regression"))
    for task_type in ("classification", "regression"):
        tkb = synthetic_kb(20, seed=1, pool_size=4, task_type=task_type)
        unset = LearnedRecommender(**FAST_LEARNED).fit(tkb)
        assert unset.portfolio_weight_() == PORTFOLIO_WEIGHT[task_type]
        same = LearnedRecommender(**{**FAST_LEARNED,
                                     "portfolio_weight": PORTFOLIO_WEIGHT[task_type]}).fit(tkb)
        rows_only = LearnedRecommender(**{**FAST_LEARNED, "portfolio_weight": 1.0}).fit(tkb)
        picks = {name: [[r.config_index for r in rec.recommend(query(tkb, i), k=5)] for i in (0, 5, 11)]
                 for name, rec in (("unset", unset), ("same", same), ("rows_only", rows_only))}
        assert picks["unset"] == picks["same"]
        assert picks["unset"] != picks["rows_only"]  # the share the lookup gives is what counts
    assert LearnedRecommender(**{**FAST_LEARNED, "portfolio_weight": 0.0}).fit(kb).portfolio_weight_() == 0
    with pytest.raises(ValueError, match=r"portfolio_weight=1\.5; give a share from 0 to 1"):
        LearnedRecommender(**{**FAST_LEARNED, "portfolio_weight": 1.5}).fit(kb)


def test_time_safety_defaults_by_task_type_and_is_checked(kb):
    """Unset, the caps are checked on the task type's quantile of each pick's time (above the
    median, so the top five keep within the cap on that upper estimate); set, it overrides; out
    of range it is refused with what to give."""
    from learners.recommenders.defaults import DefaultsRecommender
    from learners.recommenders.learned import TIME_SAFETY
    from learners.recommenders.synthetic import synthetic_kb

    assert all(TIME_SAFETY[t] > 0 for t in ("classification", "regression"))
    for task_type in ("classification", "regression"):
        tkb = synthetic_kb(20, seed=1, pool_size=4, task_type=task_type)
        tight = {**FAST_LEARNED, "default_time_factor": 0.7}  # a cap that binds
        unset = LearnedRecommender(**tight).fit(tkb)
        assert unset.time_safety_() == TIME_SAFETY[task_type]
        same = LearnedRecommender(**{**tight, "time_safety": TIME_SAFETY[task_type]}).fit(tkb)
        defaults = DefaultsRecommender().fit(tkb)
        safety = TIME_SAFETY[task_type]
        for i in (0, 5, 11):
            size = {"n_rows": int(tkb.n_rows[i]), "n_features": int(tkb.n_features[i])}
            picks = unset.recommend(query(tkb, i), k=5, **size)
            assert [r.config_index for r in picks] == [
                r.config_index for r in same.recommend(query(tkb, i), k=5, **size)]
            spread = unset.time_relative_spread_
            high = sum(r.predicted_fit_time * np.exp(safety * spread[r.config_index]) for r in picks)
            base = sum(r.predicted_fit_time * np.exp(-safety * spread[r.config_index])
                       for r in defaults.recommend(query(tkb, i), k=5, **size))
            assert high <= unset.default_time_factor * unset.time_margin * base * (1 + 1e-9)
    assert LearnedRecommender(**{**FAST_LEARNED, "time_safety": 0.0}).fit(kb).time_safety_() == 0
    with pytest.raises(ValueError, match=r"time_safety=-1\.0; give 0 \(the median time\) to 5"):
        LearnedRecommender(**{**FAST_LEARNED, "time_safety": -1.0}).fit(kb)


def test_learned_request_path_equals_the_full_network(all_fitted, kb):
    """The served path caches the configuration tower; it must score exactly as the network does."""
    rec = all_fitted["learned"]
    x = kb.metafeatures[3]
    z = MetaFeatureScaler(rec.mf_mean_, rec.mf_std_).transform(x[None, :])
    full = np.stack([rec._predict(net, z)[0] for net in rec.members_])
    np.testing.assert_allclose(rec._member_scores(x), full, rtol=1e-5, atol=1e-6)


def test_similarity_equals_the_nan_aware_reference(all_fitted, kb):
    rec = all_fitted["knn"]
    rng = np.random.default_rng(0)
    x = kb.metafeatures[5].copy()
    x[rng.choice(len(x), 2, replace=False)] = np.nan  # the query lacks some meta-features
    a, b = rec.scaled(kb.metafeatures), rec.scaled(x[None, :])
    diff = np.abs(a - b)
    shared = ~np.isnan(diff)
    reference = 1.0 - np.where(shared, diff, 0.0).sum(axis=1) / shared.sum(axis=1)
    np.testing.assert_allclose(rec.similarity(x), np.clip(reference, 0.0, 1.0), atol=1e-12)
    nothing = np.full_like(x, np.nan)
    assert (rec.similarity(nothing) == 0.0).all()


@pytest.mark.parametrize("m", [1, 3, 10, 50])
def test_top_indices_is_the_stable_argsort_prefix(m):
    from learners.recommenders.base import top_indices

    values = np.random.default_rng(m).integers(0, 5, 40).astype(float)  # many ties
    np.testing.assert_array_equal(top_indices(values, m), np.argsort(-values, kind="stable")[:m])
