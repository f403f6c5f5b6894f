"""The model: reproducibility, common random numbers, episode rates and mechanisms."""

import mesa
import numpy as np
import pandas as pd
import pytest

import health_sim
from health_sim.core.names import AGE_BANDS
from health_sim.sim.model import HealthSystemModel

from .conftest import quick

EPISODE_COLS = [
    "episodes",
    "episodes_minor",
    "episodes_chronic",
    "episodes_serious",
    "episodes_emergency",
    "episodes_admission",
]


def test_model_is_a_mesa_model_stepping_days(baseline_params):
    m = HealthSystemModel(quick(baseline_params, **{"run.days": 5}), rng=3)
    assert isinstance(m, mesa.Model)
    for _ in range(5):
        m.step()
    assert m.steps == 5 and m.days_run == 5
    assert m.date().isoformat() == "2023-01-06"
    with pytest.raises(RuntimeError):
        m.step()


def test_same_seed_same_params_identical_outputs_bit_for_bit(baseline_params):
    p = quick(baseline_params)
    a, b = health_sim.run(p, seed=11), health_sim.run(p, seed=11)
    assert a.kpis == b.kpis
    pd.testing.assert_frame_equal(a.daily, b.daily, check_exact=True)
    pd.testing.assert_frame_equal(a.township, b.township, check_exact=True)


def test_other_seed_other_outputs(baseline_params):
    p = quick(baseline_params)
    assert health_sim.run(p, seed=11).kpis != health_sim.run(p, seed=12).kpis


def test_rng_may_be_a_generator_or_seed_sequence(baseline_params):
    p = quick(baseline_params, **{"run.days": 3})
    m1 = HealthSystemModel(p, rng=np.random.default_rng(5))
    m2 = HealthSystemModel(p, rng=np.random.default_rng(5))
    assert m1.seed == m2.seed
    assert (
        HealthSystemModel(p, rng=np.random.SeedSequence(5)).seed
        == HealthSystemModel(p, rng=np.random.SeedSequence(5)).seed
    )
    assert HealthSystemModel(p).seed == p.run.seed
    with pytest.raises(TypeError):
        HealthSystemModel(p, rng="five")


def test_common_random_numbers_illness_does_not_depend_on_policy(baseline_params):
    """Two runs with one seed differ only through the policy.

    Residents fall ill on the same days whatever the reimbursement, except the few whose chronic control (hence risk)
    the policy changed through their follow-ups, whose onsets move by the least (tests/test_onset.py); choices do
    change.
    """
    base = quick(baseline_params)
    policy = quick(
        baseline_params,
        **{"insurance.outpatient.township.reimbursement": 0.95, "insurance.outpatient.county.reimbursement": 0.2},
    )
    a, b = health_sim.run(base, seed=4), health_sim.run(policy, seed=4)
    diff = (a.daily[EPISODE_COLS] - b.daily[EPISODE_COLS]).abs()
    assert diff["episodes"].sum() <= 0.005 * a.daily["episodes"].sum()  # about 120 episodes a day
    assert (diff["episodes"] > 0).mean() <= 0.25 and diff.to_numpy().max() <= 2
    assert not a.daily["visits_township"].equals(b.daily["visits_township"])
    assert b.kpis["grassroots_share"] > a.kpis["grassroots_share"]


def test_common_random_numbers_a_policy_that_touches_nobody_changes_nothing(baseline_params):
    """A lever that is switched off, however it is set, leaves every output as it was."""
    base = quick(baseline_params)
    inert = quick(
        baseline_params, **{"policies.stationed.doctors_per_year_county": 30, "policies.drg.length_of_stay_factor": 0.5}
    )
    a, b = health_sim.run(base, seed=4), health_sim.run(inert, seed=4)
    pd.testing.assert_frame_equal(a.daily, b.daily, check_exact=True)


def test_episode_rates_match_the_parameters(small_params):
    """Episodes per resident-year by kind equal the age-specific rates (a statistical test).

    The rates are raised for residents with an uncontrolled chronic condition.
    """
    m = HealthSystemModel(small_params)
    m.run_days()
    d = m.daily_frame()
    band = m.residents.age_band
    ep, factor = small_params.episodes, small_params.chronic.uncontrolled_risk_factor
    years = d["resident_days"].sum() / 365.0 / m.residents.n
    weight = np.where(m.chronic.uncontrolled, factor, 1.0)
    for kind in ("minor", "serious", "emergency", "admission"):
        per_resident = np.array([ep.rates[kind][b] for b in AGE_BANDS])[band]
        if kind != "minor":
            per_resident = per_resident * weight
        expected = per_resident.sum() * years
        got = d[f"episodes_{kind}"].sum()
        assert got == pytest.approx(expected, rel=4 / np.sqrt(expected) + 0.02), kind
    expected = ep.chronic_followups_per_condition * m.residents.n_diagnosed.sum() * years
    got = d["episodes_chronic"].sum()
    assert got == pytest.approx(expected, rel=4 / np.sqrt(expected) + 0.02)


def test_visits_count_stay_home_and_referral_bookkeeping(small_run):
    d = small_run.daily
    assert (d["visits"] == d[["visits_village", "visits_township", "visits_county", "visits_city"]].sum(axis=1)).all()
    assert (d["trips"] <= d["visits"]).all()
    assert (d["stay_home"] <= d["episodes"]).all()
    assert (d["hospital_trips_referred"] <= d["hospital_trips"]).all()
    assert (d["referrals_down_county"] <= d["referrals_down"]).all()
    assert (d["satisfied"] <= d["trips"]).all()
    # a bed is given while fewer than the free beds (fractional at small scales) have been given
    # that day, so each of the three county hospitals fills at most to its beds rounded up
    assert (d["county_bed_days"] < d["county_bed_capacity_days"] + 3).all()
    t = small_run.township
    assert t["visits"].sum() == pytest.approx(d["visits"].sum())
    assert len(t) == 13 and t["grassroots_share"].between(0.4, 0.95).all()
    assert t["visits_per_resident"].between(4, 9).all()


def test_remote_townships_travel_further_and_use_the_grassroots_more(small_run):
    t = small_run.township.set_index("township")
    assert t.loc["Chengjia", "mean_travel_minutes"] > t.loc["Yangcheng", "mean_travel_minutes"]
    assert t.loc["Chengjia", "grassroots_share"] > t.loc["Yangcheng", "grassroots_share"]


# --- mechanisms: each lever of the engine moves its KPIs the way it should (same seed) ---


def _pair(params, **over):
    return health_sim.run(quick(params), seed=7).kpis, health_sim.run(quick(params, **over), seed=7).kpis


def test_cheaper_grassroots_raises_grassroots_share(baseline_params):
    a, b = _pair(
        baseline_params,
        **{"insurance.outpatient.village.reimbursement": 0.95, "insurance.outpatient.township.reimbursement": 0.95},
    )
    assert b["grassroots_share"] > a["grassroots_share"] + 0.005
    assert b["oop_per_visit"] < a["oop_per_visit"]


def test_dearer_city_sends_fewer_to_the_city(baseline_params):
    """A city visit at 2,000 yuan instead of 354: a sixth fewer city visits.

    0.81-0.87 of them on single seeds of this small run, so three seeds are pooled.
    """
    over = {"facilities.city_tertiary.price_visit": 2000.0}
    a = sum(health_sim.run(quick(baseline_params), seed=s).kpis["visits_by_level"]["city"] for s in (7, 8, 9))
    b = sum(health_sim.run(quick(baseline_params, **over), seed=s).kpis["visits_by_level"]["city"] for s in (7, 8, 9))
    assert b < 0.88 * a


def test_more_capable_township_centres_draw_severe_episodes(baseline_params):
    cap = {
        f"facilities.township_centre.capability.{k}": v
        for k, v in {"serious": 0.8, "emergency": 0.7, "admission": 0.8}.items()
    }
    a, b = _pair(baseline_params, **cap)
    assert b["grassroots_share"] > a["grassroots_share"]
    assert b["visits_by_level"]["township"] > a["visits_by_level"]["township"]


def test_formal_referral_and_downward_referral_probabilities(baseline_params):
    beds = {"facilities.township_centre.beds": 200.0}  # no transfers for want of a bed
    a, b = _pair(
        baseline_params,
        **beds,
        **{
            "referral.formal_upward.township": 0.0,
            "referral.formal_upward.village": 0.0,
            "referral.downward.county": 0.3,
        },
    )
    assert b["upward_referrals"] == 0 and a["upward_referrals"] > 0
    assert b["downward_referrals"] > 3 * a["downward_referrals"]
    long = health_sim.run(
        quick(baseline_params, **beds, **{"referral.downward.county": 0.3, "run.days": 240, "run.scale": 0.03}), seed=7
    ).kpis
    assert long["downward_inpatient_share"] == pytest.approx(0.3, abs=0.05)


def test_less_capacity_means_longer_waits(baseline_params):
    a, b = _pair(baseline_params, **{"facilities.county_people.visits_per_doctor_day": 1.5})
    assert b["mean_wait_days"] > a["mean_wait_days"]
    assert b["visits_by_level"]["county"] < a["visits_by_level"]["county"]


def test_staying_home_is_an_option(baseline_params):
    a, b = _pair(baseline_params, **{"choice.stay_home_utility.minor": 8.0})
    assert b["stay_home_share"] > a["stay_home_share"] + 0.05
    assert b["visits_per_resident"] < a["visits_per_resident"]


def test_trust_is_learned_from_experience(baseline_params):
    p = quick(baseline_params, **{"run.days": 30, "run.burn_in_days": 0, "satisfaction.reputation_pull": 0.0})
    m = HealthSystemModel(p)
    before = m.residents.trust.copy()
    m.run_days()
    changed = (m.residents.trust != before).any(axis=1)
    assert 0.05 < changed.mean() < 1.0
    assert (m.residents.last_level >= 0).mean() > 0.2


def test_no_beds_no_admission_and_patients_go_up(baseline_params):
    a, b = _pair(baseline_params, **{"facilities.township_centre.beds": 0.0})
    assert b["admissions"] > 0.8 * a["admissions"]  # admitted elsewhere
    assert b["upward_referrals"] > a["upward_referrals"]  # transferred for want of a bed
