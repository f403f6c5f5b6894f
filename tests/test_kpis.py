"""KPIs are defined once, by name, and agree at every level of aggregation."""

import json

import numpy as np
import pytest

from health_sim.sim.kpis import COUNTERS, FACILITY_COUNTERS, KPIS, describe, evaluate

REQUIRED = [
    "grassroots_share",
    "visits_total",
    "visits_per_resident",
    "visits_by_level",
    "stay_home_share",
    "self_referral_share",
    "upward_referrals",
    "downward_referrals",
    "downward_inpatient_share",
    "mean_travel_minutes",
    "mean_wait_days",
    "oop_per_visit",
    "fund_spending",
    "satisfaction",
    "county_hospital_occupancy",
]


def test_required_kpis_exist_with_unit_and_definition():
    for name in REQUIRED:
        assert name in KPIS, name
        assert KPIS[name].unit and KPIS[name].definition
    assert [k["name"] for k in describe()] == list(KPIS)


def test_kpi_and_counter_names_do_not_clash():
    assert not set(KPIS) & set(COUNTERS)
    assert not set(KPIS) & set(FACILITY_COUNTERS)


def test_run_kpis_equal_kpis_of_summed_daily_counters(small_run):
    d = small_run.daily
    c = {name: d[name].sum() for name in list(COUNTERS) + list(FACILITY_COUNTERS)}
    again = evaluate(c, len(d), small_run.params.run.scale)
    for name, v in small_run.kpis.items():
        if isinstance(v, dict):
            for part in v:
                assert again[name][part] == pytest.approx(v[part])
        else:
            assert again[name] == pytest.approx(v, nan_ok=True)


def test_daily_and_township_tables_carry_the_same_kpis(small_run):
    for name in ["grassroots_share", "visits_per_resident", "satisfaction", "visits_by_level.village"]:
        assert name in small_run.daily.columns and name in small_run.township.columns
    assert "county_hospital_occupancy" in small_run.daily.columns
    assert "county_hospital_occupancy" not in small_run.township.columns  # a facility KPI: county-wide only
    # the county's share is the visit-weighted mean of the townships' shares
    t = small_run.township
    assert (t["grassroots_share"] * t["visits"]).sum() / t["visits"].sum() == pytest.approx(
        small_run.kpis["grassroots_share"]
    )


def test_counts_are_full_county_equivalents_per_year(small_run):
    d, k = small_run.daily, small_run.kpis
    scale = small_run.params.run.scale
    assert k["visits_total"] == pytest.approx(d["visits"].sum() / scale * 365 / len(d))
    assert k["visits_per_resident"] == pytest.approx(d["visits"].sum() / d["resident_days"].sum() * 365)


def test_kpis_json_serialisable(small_run):
    text = json.dumps(small_run.kpis)
    assert json.loads(text)["visits_by_level"]["village"] > 0


def test_ratio_kpis_are_nan_not_errors_on_empty_counters():
    c = {name: 0.0 for name in list(COUNTERS) + list(FACILITY_COUNTERS)}
    out = evaluate(c, 1, 1.0)
    assert np.isnan(out["grassroots_share"]) and out["visits_total"] == 0.0


def test_closed_loop_rate_counts_patients_who_come_back_not_the_tracking_parameter(small_params):
    """The closed-loop rate is measured from simulated returns, not set by the tracking parameter.

    It counts patients formally referred up from the grassroots whose next episode starts there
    again. Tracking every referral raises it (through the habit it restores) but does not set it;
    tracking none does not zero it.
    """
    from health_sim.config.params import with_overrides
    from health_sim.experiments.runner import run

    def rate(tracking: float) -> tuple[float, dict]:
        p = with_overrides(small_params, {"referral.closed_loop_tracking": tracking, "run.days": 365})
        r = run(p, seed=11)
        c = r.daily[["referral_returns", "referral_returns_due"]].sum()
        return r.kpis["referral_closed_loop_rate"], c

    none, c0 = rate(0.0)
    every, c1 = rate(1.0)
    assert c0["referral_returns_due"] > 20 and c1["referral_returns_due"] > 20  # enough returns to judge
    assert c0["referral_returns"] <= c0["referral_returns_due"]
    assert 0.3 < none < 0.98  # people come back on their own: not the 0 of the parameter
    assert every > none  # tracking brings more back ...
    assert every < 0.999  # ... but not all of them: the rate is behaviour, not the parameter's 1.0


def test_the_bypass_counters_are_parts_of_what_they_divide():
    """The bypass counters count parts of what they divide.

    45+ first trips (minor, chronic, serious) are some of all first trips, those to hospitals some of them;
    admissions the township centre could have treated are some of all admissions, those at hospitals some of them.
    """
    from health_sim.config.params import load_params, with_overrides
    from health_sim.sim.model import HealthSystemModel

    over = {"run.scale": 0.01, "run.days": 60, "run.burn_in_days": 10}
    m = HealthSystemModel(with_overrides(load_params(), over), rng=5)
    m.run_days(progress=False)
    c = m.counter_totals()
    first = sum(c[f"first_trips_{g}"] for g in ("minor", "chronic", "severe"))
    assert 0 < c["first_trips_outpatient_45plus_hospital"] < c["first_trips_outpatient_45plus"] < first
    assert 0 < c["admitted_township_treatable_hospital"] <= c["admitted_township_treatable"] <= c["admitted"]
    k = m.kpis()
    assert 0 < k["hospital_first_45plus"] < 1 and 0 < k["inpatient_bypass_share"] <= 1


def test_admissions_by_place_add_up_and_the_in_county_share_leaves_out_the_city_hospital_alone():
    """Admissions at the city hospital are all admissions less the township centres' and county hospitals'.

    The in-county share (县域内住院率) is one less the city's share; a keener city hospital lowers it.
    """
    from health_sim.config.params import load_params, with_overrides
    from health_sim.sim.model import HealthSystemModel

    over = {"run.scale": 0.01, "run.days": 60, "run.burn_in_days": 10}
    shares = []
    for city in (0.0, 3.0):
        m = HealthSystemModel(with_overrides(load_params(), over | {"choice.severe.asc.city": city}), rng=5)
        m.run_days(progress=False)
        c = m.counter_totals()
        assert 0 < c["admitted_city"] < c["admitted"]
        assert c["admitted_city"] == c["admitted"] - c["admitted_county"] - c["admitted_township"]  # no village beds
        shares.append(m.kpis()["in_county_admission_share"])
        assert shares[-1] == pytest.approx(1.0 - c["admitted_city"] / c["admitted"])
    assert shares[1] < shares[0] - 0.05
