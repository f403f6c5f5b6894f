"""The multinomial logit, insurance arithmetic and the common-random-number streams."""

import numpy as np
import pytest

from health_sim.world import choice
from health_sim.core import rng as crn
from health_sim.world.insurance import split


def _setup(n=20000, seed=0):
    g = np.random.default_rng(seed)
    home = np.full(n, 0.5)
    util = np.tile(np.array([1.0, 0.2, -0.5, -1.0, -3.0, 0.0]), (n, 1))
    avail = np.ones((n, 6), dtype=bool)
    return g, home, util, avail


def test_probabilities_are_the_logit_formula():
    _, home, util, avail = _setup(3)
    p = choice.probabilities(home, util, avail)
    v = np.concatenate([[0.5], util[0]])
    assert p[0] == pytest.approx(np.exp(v) / np.exp(v).sum())
    assert p.sum(axis=1) == pytest.approx(np.ones(3))


def test_unavailable_alternatives_are_never_chosen():
    g, home, util, avail = _setup()
    avail[:, [0, 5]] = False
    pick = choice.sample(home, util, avail, g.random((len(home), 7)))
    assert not np.isin(pick, [0, 5]).any()
    assert choice.probabilities(home, util, avail)[:, [1, 6]].max() == 0


def test_sampled_frequencies_match_probabilities():
    g, home, util, avail = _setup()
    pick = choice.sample(home, util, avail, g.random((len(home), 7)))
    freq = np.bincount(pick + 1, minlength=7) / len(pick)
    p = choice.probabilities(home[:1], util[:1], avail[:1])[0]
    se = np.sqrt(p * (1 - p) / len(pick))
    assert np.all(np.abs(freq - p) < 5 * se + 1e-12)


def test_improving_one_option_only_moves_choosers_onto_it():
    """Gumbel-max with the same uniforms: improving alternative 2 moves people onto it and nowhere else."""
    g, home, util, avail = _setup()
    u = g.random((len(home), 7))
    before = choice.sample(home, util, avail, u)
    better = util.copy()
    better[:, 2] += 0.7
    after = choice.sample(home, better, avail, u)
    moved = before != after
    assert moved.any()
    assert (after[moved] == 2).all()


def test_weights_have_separate_minor_and_severe_sets(baseline_params):
    w = choice.Weights(baseline_params)
    assert w.cost_per_100_yuan[1] > w.cost_per_100_yuan[0]  # price matters less when severe (closer to 0)
    assert w.quality[1] > w.quality[0]
    assert list(choice.GROUP) == [0, 0, 1, 1, 1]


def test_insurance_split_adds_up_and_respects_the_deductible():
    price = np.array([100.0, 1000.0, 300.0])
    oop, fund = split(price, np.array([0.7, 0.7, 0.5]), np.array([0.0, 500.0, 400.0]))
    assert oop + fund == pytest.approx(price)
    assert fund == pytest.approx([70.0, 350.0, 0.0])


def test_tariff_pays_more_at_lower_levels(small_run):
    from health_sim.sim.model import HealthSystemModel

    m = HealthSystemModel(small_run.params)
    t = m.tariff
    v, tw, cp, city = 0, m.county.n_villages, m.col_facility["county_people"], m.col_facility["city"]
    share = lambda f: t.fund_visit[f, 0] / (t.fund_visit[f, 0] + t.oop_visit[f, 0])  # noqa: E731
    assert share(v) > share(tw) > share(cp) > share(city)
    assert (t.oop_visit[:, 1] <= t.oop_visit[:, 0] + 1e-9).all()  # employee scheme pays at least as much


def test_crn_streams_are_keyed_by_resident_not_by_position():
    ids = np.array([5, 17, 300000, 9])
    u = crn.uniforms(42, crn.CHOICE, 10, ids)
    assert (0 <= u).all() and (u < 1).all()
    assert crn.uniforms(42, crn.CHOICE, 10, ids[::-1])[::-1] == pytest.approx(u)
    assert crn.uniforms(42, crn.CHOICE, 10, ids[:2]) == pytest.approx(u[:2])
    assert not np.allclose(crn.uniforms(42, crn.CHOICE, 11, ids), u)
    assert not np.allclose(crn.uniforms(42, crn.SEVERITY, 10, ids), u)
    assert not np.allclose(crn.uniforms(43, crn.CHOICE, 10, ids), u)


def test_crn_uniforms_are_uniform_and_independent():
    ids = np.arange(200000)
    u = crn.uniforms(1, crn.SEVERITY, 3, ids)
    v = crn.uniforms(1, crn.CHOICE, 3, ids)
    hist = np.histogram(u, bins=20, range=(0, 1))[0]
    expected = len(u) / 20
    chi2 = ((hist - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 19 degrees of freedom: p < 1e-4 beyond 50
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
    key = crn._key(1, crn.SEVERITY, 3, 0)
    assert [crn.uniform(key, i) for i in ids[:1000]] == u[:1000].tolist()  # the compiled hash is the same function
