"""The compiled rules of a choice and a bill, called as the engine calls them, and the common-random-number streams.

Each test exercises the function that runs (:func:`health_sim.sim.rules.utility`,
:func:`health_sim.sim.engine.choose`, :func:`health_sim.sim.rules.split`), so a test fails
when the running code is wrong.
"""

import numpy as np
import pytest

from health_sim.core import rng as crn
from health_sim.core.names import SEVERE_KINDS, Column, Kind, Level
from health_sim.sim import engine, rules
from health_sim.world import choice

UTIL = np.array([1.0, 0.2, -0.5, -1.0, -3.0, 0.0])  # the six facility columns
HOME = 0.5


def logit(home: float, util: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Multinomial-logit probabilities of (home, column 0..5): the formula the choice must follow."""
    v = np.concatenate([[home], np.where(available, util, -np.inf)])
    e = np.exp(v - v.max())
    return e / e.sum()


def picks(util: np.ndarray, n: int = 20000, mch_ok: bool = True, cur_level: int = -1, seed: int = 3) -> np.ndarray:
    """Columns chosen (-1: home) by ``n`` residents deciding once each, as the engine decides."""
    key = np.uint64(crn.key(seed, crn.CHOICE, 10, 0))  # a compiled key returns to Python as a plain int
    return np.array([engine.choose(util, HOME, mch_ok, cur_level, key, r) for r in range(n)])


def test_utility_is_the_documented_sum():
    args = dict(asc=0.3, quality=4.5, capability=0.8, trust_weight=2.0, trust=0.6, cost_per_100_yuan=-0.5, oop=120.0,
                travel_per_hour=-1.0, minutes=45.0, wait_per_day=-2.0, wait_days=0.1, contract=0.6, contracted=1.0,
                habit=0.8, habitual=0.0, employee_hospital=1.69, employee_at_hospital=1.0)  # fmt: skip
    expected = 0.3 + 4.5 * 0.8 + 2.0 * 0.6 - 0.5 * 1.2 - 1.0 * 0.75 - 2.0 * 0.1 + 0.6 + 1.69
    assert rules.utility(*args.values()) == pytest.approx(expected)


def test_a_referral_is_worth_its_saving_and_the_township_visit_costs_its_fee_travel_and_wait():
    assert rules.referral_value(-0.5, 80.0) == pytest.approx(0.4)
    assert rules.referral_value(-0.5, 0.0) == 0.0
    cost = rules.detour(-0.5, 20.0, -1.0, 30.0, -2.0, 0.05)
    assert cost == pytest.approx(0.5 * 0.2 + 1.0 * 0.5 + 2.0 * 0.05)


def test_choice_frequencies_follow_the_logit():
    pick = picks(UTIL)
    freq = np.bincount(pick + 1, minlength=7) / len(pick)
    p = logit(HOME, UTIL, np.ones(6, dtype=bool))
    se = np.sqrt(p * (1 - p) / len(pick))
    assert np.all(np.abs(freq - p) < 5 * se + 1e-12)


def test_unavailable_columns_are_never_chosen():
    """The MCH hospital only for children and women 15-49; after a visit, only levels above it."""
    no_mch = picks(UTIL, mch_ok=False)
    assert not (no_mch == Column.COUNTY_MCH).any()
    above_township = picks(UTIL, cur_level=Level.TOWNSHIP)
    chosen = above_township[above_township >= 0]
    assert chosen.size and (rules.COLUMN_LEVEL[chosen] > Level.TOWNSHIP).all()
    available = rules.COLUMN_LEVEL > Level.TOWNSHIP
    freq = np.bincount(above_township + 1, minlength=7) / len(above_township)
    p = logit(HOME, UTIL, available)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / len(above_township)) + 1e-12)


def test_improving_one_column_only_moves_choosers_onto_it():
    """Gumbel-max with the same uniforms: improving column 2 moves people onto it and nowhere else."""
    before = picks(UTIL)
    better = UTIL.copy()
    better[2] += 0.7
    after = picks(better)
    moved = before != after
    assert moved.any()
    assert (after[moved] == 2).all()


def test_gumbel_noise_has_the_gumbel_distribution():
    u = np.linspace(0.0005, 0.9995, 1000)
    g = np.array([rules.gumbel(x) for x in u])
    assert g == pytest.approx(-np.log(-np.log(u)))
    assert np.isfinite([rules.gumbel(0.0), rules.gumbel(1.0)]).all()  # clipped away from 0 and 1


def test_severe_kinds_use_the_severe_weights(baseline_params):
    w = choice.Weights(baseline_params)
    assert w.cost_per_100_yuan[1] > w.cost_per_100_yuan[0]  # price matters less when severe (closer to 0)
    assert w.quality[1] > w.quality[0]
    assert [bool(rules.is_severe(k)) for k in Kind] == [k in SEVERE_KINDS for k in Kind]


@pytest.mark.parametrize(
    ("price", "rate", "deductible", "in_scope", "fund"),
    [
        (100.0, 0.7, 0.0, 1.0, 70.0),
        (1000.0, 0.7, 500.0, 1.0, 350.0),
        (300.0, 0.5, 400.0, 1.0, 0.0),
        (1000.0, 0.8, 200.0, 0.85, 520.0),
    ],
)
def test_bill_split_adds_up_and_respects_deductible_and_scope(price, rate, deductible, in_scope, fund):
    oop, paid = rules.split(price, rate, deductible, in_scope)
    assert oop + paid == pytest.approx(price)
    assert paid == pytest.approx(fund)


def test_tariff_pays_more_at_lower_levels(small_run):
    from health_sim.sim.model import HealthSystemModel

    m = HealthSystemModel(small_run.params)
    oop, _ = rules.expected_oop(m.tariff, m.facilities.price_visit, m.facilities.price_admission)
    v, tw, cp, city = 0, m.county.n_villages, m.col_facility["county_people"], m.col_facility["city"]
    share = lambda f: 1.0 - oop[f, 0] / m.facilities.price_visit[f]  # noqa: E731 - the fund's share of a visit's price
    assert share(v) > share(tw) > share(cp) > share(city)
    assert (oop[:, 1] <= oop[:, 0] + 1e-9).all()  # the employee scheme pays at least as much


def test_crn_streams_are_keyed_by_resident_not_by_position():
    ids = np.array([5, 17, 300000, 9])
    u = crn.uniforms(42, crn.CHOICE, 10, ids)
    assert (u >= 0).all() and (u < 1).all()
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
    back = np.uint64(crn.key(1, crn.SEVERITY, 3, 0))  # the compiled key equals the Python one
    assert back == key
    assert [crn.uniform(back, i) for i in ids[:1000]] == u[:1000].tolist()
