"""Levers.

Every lever moves its KPIs the way its mechanism says (same seed: common random numbers), switching a lever off
restores the baseline exactly, and nonsensical combinations are rejected.
"""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import health_sim
from health_sim.config.params import load_params, with_overrides
from health_sim.core.errors import ParamsError

BASE = {"run.scale": 0.03, "run.days": 240, "run.burn_in_days": 60}


@cache
def _run(items: tuple) -> health_sim.RunResult:
    params = with_overrides(load_params("params/baseline.yaml"), {**BASE, **dict(items)})
    return health_sim.run(params, seed=5)


def run(**over) -> health_sim.RunResult:
    return _run(tuple(sorted(over.items())))


def lever(name: str, **over) -> dict:
    """Overrides that switch lever ``name`` on from day 1 with the given settings."""
    return {f"policies.{name}.enabled": True, **{f"policies.{name}.{k}": v for k, v in over.items()}}


def kpis(**over) -> dict:
    return run(**over).kpis


def base() -> dict:
    return kpis()


# --- doctor sinking -------------------------------------------------------------------


def test_more_stationed_doctors_raise_grassroots_share_and_capability():
    few = run(**lever("stationed", doctors_per_year_county=10))
    many = run(**lever("stationed", doctors_per_year_county=60))
    b = run()
    assert many.kpis["grassroots_share"] > few.kpis["grassroots_share"] > b.kpis["grassroots_share"]
    assert many.kpis["doctor_days_sunk"] > few.kpis["doctor_days_sunk"] > 0 == b.kpis["doctor_days_sunk"]
    cap = lambda r: r.capability["index"].iloc[-13:].mean()  # noqa: E731 - last day, all townships
    assert cap(many) > cap(few) > cap(b)


def test_stationed_doctors_leave_a_gap_at_home():
    b, s = kpis(), kpis(**lever("stationed", doctors_per_year_county=150, period_days=120))
    assert s["doctor_days_sunk"] == pytest.approx(np.ceil(150 * 120 / 365) * 365, rel=0.01)
    assert s["visits_by_level"]["county"] < b["visits_by_level"]["county"]


def test_mentoring_keeps_part_of_the_lift_after_the_doctors_leave():
    """Postings end after 60 days; with mentoring the centres keep a lifted capability."""
    over = lever("stationed", doctors_per_year_county=60, period_days=60)
    over |= {"policies.stationed.start": "2023-01-01"}
    none = run(**over, **{"policies.stationed.mentoring_retention": 0.0})
    kept = run(**over, **{"policies.stationed.mentoring_retention": 0.6})
    cap = lambda r: r.capability.groupby("date")["index"].mean()  # noqa: E731
    assert (cap(kept).iloc[30:] >= cap(none).iloc[30:] - 1e-12).all()
    assert cap(kept).iloc[-1] > cap(none).iloc[-1]


def test_effort_depends_on_whether_evaluation_feeds_promotion():
    tied = kpis(**lever("stationed", doctors_per_year_county=60))
    untied = kpis(**lever("stationed", doctors_per_year_county=60, evaluation_tied_to_promotion=False))
    assert tied["township_resolution_share"] > untied["township_resolution_share"]


def test_ordered_dispatch_beats_untargeted_on_the_ordered_conditions():
    ordered = kpis(**lever("stationed", doctors_per_year_county=40, dispatch="ordered"))
    untargeted = kpis(**lever("stationed", doctors_per_year_county=40, dispatch="untargeted"))
    assert ordered["township_resolution_share"] > untargeted["township_resolution_share"]
    assert ordered["doctor_days_sunk"] == pytest.approx(untargeted["doctor_days_sunk"])


def test_circuit_teams_visit_the_centres():
    k = kpis(**lever("circuit", teams=3, team_size=3, days_per_centre=7))
    assert k["doctor_days_sunk"] == pytest.approx(9 * 365)
    assert k["grassroots_share"] > base()["grassroots_share"]


# --- training, equipment, telemedicine ---------------------------------------------------


def test_training_builds_lasting_capability():
    r = run(**lever("training", village_sessions_per_year=70, rotation_share_per_year=0.28, techniques_per_year=23))
    assert r.daily["staff_rotation_trained_share"].iloc[-1] > 0.05  # back from the county hospital by the end
    cap = r.capability.groupby("date")["index"].mean()
    assert cap.iloc[-1] > cap.iloc[0]
    assert r.kpis["grassroots_share"] > base()["grassroots_share"]


def test_screening_finds_conditions_early():
    k = kpis(**lever("screening", screened_share=0.8))
    b = base()
    assert b["screening_detections"] == 0 and k["screening_detections"] > 0
    assert k["early_detection_share"] > b["early_detection_share"]


def test_online_consultations_replace_trips():
    k = kpis(**lever("telemedicine", online_share=0.2, remote_lift=0.0))
    b = base()
    assert k["online_consultations"] > 0 == b["online_consultations"]
    assert k["visits_per_resident"] < b["visits_per_resident"]


def test_remote_consultation_lifts_township_centres():
    r, b = run(**lever("telemedicine", online_share=0.0, remote_lift=0.5)), run()
    last = lambda x, kind: x.capability[kind].iloc[-13:].mean()  # noqa: E731
    assert last(r, "serious") > last(b, "serious") and last(r, "emergency") > last(b, "emergency")
    assert last(r, "minor") == pytest.approx(last(b, "minor"))
    assert r.kpis["grassroots_share"] > b.kpis["grassroots_share"]


# --- insurance payment -----------------------------------------------------------------


def test_wider_reimbursement_gap_raises_grassroots_share():
    k = kpis(**lever("reimbursement", outpatient_grassroots_increase=0.2, outpatient_hospital_decrease=0.15))
    assert k["grassroots_share"] > base()["grassroots_share"] + 0.005


def test_gatekeeping_means_fewer_unreferred_hospital_visits():
    d0, d1 = run().daily, run(**lever("gatekeeping", unreferred_reduction=0.3)).daily
    unreferred = lambda d: (d["hospital_trips"] - d["hospital_trips_referred"]).sum()  # noqa: E731
    assert unreferred(d1) < unreferred(d0)


def test_gatekeeping_sends_patients_to_the_township_centre_for_a_referral():
    """A patient heading to a hospital goes to his township centre first where the referral is worth the visit.

    The centre resolves what it can and refers the rest to the hospital he chose.
    """
    d0, d1 = run().daily, run(**lever("gatekeeping", unreferred_reduction=1.0)).daily
    assert d0["referral_seekers"].sum() == 0
    seekers, resolved = d1["referral_seekers"].sum(), d1["referral_seekers_resolved"].sum()
    assert 0 < resolved < seekers
    assert d1["referrals_up_grassroots"].sum() >= seekers - resolved  # each unresolved seeker is referred up
    assert d1["hospital_trips_referred"].sum() >= seekers - resolved  # and goes on to a hospital, referred
    assert d1["visits_township"].sum() > d0["visits_township"].sum()
    assert d1["visits_county"].sum() < d0["visits_county"].sum()


def test_a_small_gatekeeping_cut_sends_fewer_for_a_referral_than_a_large_one():
    small = run(**lever("gatekeeping", unreferred_reduction=0.1)).daily["referral_seekers"].sum()
    large = run(**lever("gatekeeping", unreferred_reduction=1.0)).daily["referral_seekers"].sum()
    assert small < large


def test_drg_shortens_stays_and_sends_more_down():
    b, k = base(), kpis(**lever("drg"))
    assert k["county_hospital_length_of_stay"] < b["county_hospital_length_of_stay"] - 0.5
    assert k["downward_referrals"] > b["downward_referrals"]


def test_capitation_keeps_accounts_and_refers_down_sooner():
    b, k = base(), kpis(**lever("capitation"))
    assert b["capitation_surplus"] == 0 and k["capitation_surplus"] != 0
    assert k["downward_referrals"] > b["downward_referrals"]
    assert k["fund_balance"] == pytest.approx(b["fund_balance"], rel=0.5)  # the budget is not fund spending here


def test_salary_reform_raises_grassroots_capacity_and_effort():
    b, k = base(), kpis(**lever("salary_reform"))
    assert k["township_resolution_share"] > b["township_resolution_share"]
    assert k["grassroots_share"] > b["grassroots_share"]


# --- service organisation -------------------------------------------------------------


def test_family_doctor_contracting_brings_more_follow_ups():
    b, k = base(), kpis(**lever("family_doctor", contract_rate=0.9, scheduled_followup=3.0))
    assert k["chronic_followup_rate"] > b["chronic_followup_rate"]
    assert k["grassroots_share"] > b["grassroots_share"]


def test_two_way_referral_closes_the_loop():
    # enough formal referrals in a small, short run for the closed-loop rate to mean something
    more = {"referral.formal_upward.village": 0.2, "referral.formal_upward.township": 0.1, "run.scale": 0.06}
    b, k = kpis(**more), kpis(**more, **lever("referral_system"))
    assert k["referral_closed_loop_rate"] > b["referral_closed_loop_rate"]  # more referred patients come back
    assert k["upward_referrals"] > b["upward_referrals"]
    assert k["downward_referrals"] > b["downward_referrals"]


def test_medical_community_drug_list_keeps_chronic_patients_at_the_grassroots():
    d0, d1 = run().daily, run(**lever("medical_community")).daily
    assert (
        d1["visits_village"].sum() + d1["visits_township"].sum()
        > d0["visits_village"].sum() + d0["visits_township"].sum()
    )


def test_tcm_services_raise_the_tcm_share():
    b, k = base(), kpis(**lever("tcm"))
    assert k["tcm_share"] > b["tcm_share"] + 0.03


# --- time, off means off, nonsense ------------------------------------------------------


def test_a_lever_starting_mid_run_leaves_the_days_before_untouched():
    over = lever("reimbursement", outpatient_grassroots_increase=0.3) | {"policies.reimbursement.start": "2023-05-01"}
    d0, d1 = run().daily, run(**over).daily
    before = d0["date"] < "2023-05-01"
    pd.testing.assert_frame_equal(d0[before], d1[before], check_exact=True)
    assert not d0[~before]["visits_township"].equals(d1[~before]["visits_township"])


def test_ramp_up_grows_the_effect():
    over = lever("reimbursement", outpatient_grassroots_increase=0.3, ramp_years=0.6)
    r = run(**over)
    gap = (r.daily["grassroots_share"] - run().daily["grassroots_share"]).rolling(30).mean()
    assert gap.iloc[-1] > gap.iloc[40]


ALL_ON = {
    "stationed": {"doctors_per_year_county": 30},
    "circuit": {"teams": 3},
    "training": {"village_sessions_per_year": 70, "rotation_share_per_year": 0.28, "techniques_per_year": 23},
    "screening": {},
    "telemedicine": {},
    "reimbursement": {"outpatient_grassroots_increase": 0.1},
    "gatekeeping": {},
    "capitation": {},
    "drg": {},
    "salary_reform": {},
    "family_doctor": {},
    "referral_system": {},
    "medical_community": {},
    "tcm": {},
}


@pytest.mark.parametrize("name", list(ALL_ON))
def test_switching_a_lever_off_restores_the_baseline_exactly(name):
    off = {f"policies.{name}.{k}": v for k, v in ALL_ON[name].items()} | {f"policies.{name}.enabled": False}
    pd.testing.assert_frame_equal(run().daily, run(**off).daily, check_exact=True)
    on = lever(name, **ALL_ON[name])
    assert not run().daily.equals(run(**on).daily), f"{name} switched on changes nothing"


def test_every_lever_is_tested_here():
    assert set(ALL_ON) == set(type(load_params().policies).model_fields)


@pytest.mark.parametrize(
    "over, key",
    [
        ({"policies.stationed.enabled": True, "policies.stationed.start": "2031-01-01"}, "policies.stationed.start"),
        ({"policies.drg.enabled": True, "policies.drg.start": "2024-06-01", "run.days": 100}, "policies.drg.start"),
        (
            {"policies.stationed.enabled": True, "policies.stationed.doctors_per_year_county": 400},
            "policies.stationed.doctors_per_year_county",
        ),
        (
            {
                "policies.stationed.enabled": True,
                "policies.stationed.doctors_per_year_county": 200,
                "policies.stationed.period_days": 365,
                "policies.circuit.enabled": True,
                "policies.circuit.teams": 20,
            },
            "policies.stationed.doctors_per_year_county",
        ),
        (
            {"policies.circuit.enabled": True, "policies.circuit.teams": 100, "policies.circuit.team_size": 5},
            "policies.circuit.teams",
        ),
        (
            {"policies.stationed.enabled": True, "policies.stationed.doctors_per_year_city": 5000},
            "policies.stationed.doctors_per_year_city",
        ),
    ],
)
def test_nonsensical_combinations_are_rejected(over, key):
    with pytest.raises(ParamsError) as e:
        load_params("params/baseline.yaml", over)
    msg = str(e.value)
    assert key in msg and "\n" not in msg


def test_the_nonsense_check_names_the_scenario_file(tmp_path):
    f = tmp_path / "late.yaml"
    f.write_text(
        f"extends: {(__import__('pathlib').Path('params/baseline.yaml').resolve())}\n"
        "policies:\n  drg: {enabled: true, start: 2030-01-01}\n"
    )
    with pytest.raises(ParamsError, match=r"late.yaml: policies.drg.start: 2030-01-01 is after the run ends"):
        load_params(f)


def test_every_scenario_file_loads_and_names_what_it_represents():
    from pathlib import Path

    files = sorted(Path("params/scenarios").glob("*.yaml"))
    assert len(files) >= 17
    for f in files:
        assert f.read_text(encoding="utf-8").startswith("# "), f"{f} does not say what it represents"
        load_params(f)


def test_rotation_training_is_counted_from_doctors_who_went_and_came_back():
    """Rotation training moves township doctors, and counts them trained only once they are back.

    They spend rotation_days at the county people's hospital, their centre working without them;
    the KPIs are counted from the agents.
    """
    from health_sim.sim.model import HealthSystemModel

    over = {**BASE, "run.days": 60, **lever("training", rotation_share_per_year=0.6, rotation_days=30)}
    m = HealthSystemModel(with_overrides(load_params("params/baseline.yaml"), over), rng=5)
    m.burn_in()
    towns = m.county.n_villages + np.arange(m.county.n_townships)
    capacity_before = m.facilities.capacity[towns].sum()
    m.run_days(20, progress=False)
    skills = m.policies.skills
    away = [d for d in m.doctors() if d.posting == "rotation"]
    assert away and all(d.home.ftype == "township_centre" and d.location.ftype == "county_people" for d in away)
    assert skills.rotation_away == len(away)
    assert skills.rotation_trained == 0.0  # nobody is back yet
    assert m.facilities.capacity[towns].sum() < capacity_before  # their centres work without them
    m.run_days(40, progress=False)  # the first ones are back after 30 days
    staff = [d for d in m.doctors() if d.home.ftype == "township_centre"]
    trained = skills._trained_until > m._clock - 1
    assert 0 < skills.rotation_trained == pytest.approx(trained.sum() / len(staff))
    k = m.kpis()
    assert k["rotation_training_doctor_days"] > 0 and 0 < k["staff_rotation_trained_share"] < skills.rotation_trained


# --- a lever's level before its start (the county's present level, scaled up by a scenario) -------------


def _online(r: health_sim.RunResult) -> pd.Series:
    return r.daily.set_index("date")["online_consults"].rolling(30).mean()


def test_before_start_level_acts_until_the_start_then_ramps_from_it():
    """Telemedicine at 10% online from day 1, scaled to 40% from day 120 over a year: never below the early level."""
    early = {"since": "2023-01-01", "online_share": 0.1}
    over = lever("telemedicine", online_share=0.4, remote_lift=0.0, start="2023-05-01", ramp_years=1.0)
    params = with_overrides(
        load_params("params/baseline.yaml"), {**BASE, **over, "policies.telemedicine.before_start": early}
    )
    r = health_sim.run(params, seed=5)
    flat = run(**lever("telemedicine", online_share=0.1, remote_lift=0.0))
    a, b = _online(r), _online(flat)
    before = a.index < "2023-05-01"
    # before the start the lever acts at its before_start level, exactly as a lever at that level
    assert a[before].dropna().equals(b[before].dropna())
    # from the start it ramps up from that level, not from nothing
    after = a[a.index >= "2023-05-31"]
    assert (after >= 0.95 * b[b.index >= "2023-05-31"]).all()
    assert a.iloc[-1] > 1.2 * b.iloc[-1]


def test_before_start_acting_in_the_burn_in_needs_its_own_burn_in():
    from health_sim.sim.model import burn_in_key

    p = load_params("params/baseline.yaml")
    on = {"policies.telemedicine.enabled": True, "policies.telemedicine.start": "2023-06-01"}
    assert burn_in_key(with_overrides(p, on), 1) is not None
    early = on | {"policies.telemedicine.before_start": {"since": "2022-06-01", "online_share": 0.01}}
    assert burn_in_key(with_overrides(p, early), 1) is None


@pytest.mark.parametrize(
    "before, fragment",
    [
        ({"since": "2023-01-01", "bogus": 1}, "bogus is not a parameter of this lever"),
        ({"online_share": 0.1}, "give since"),
        ({"since": "2025-01-01", "online_share": 0.1}, "must be before start"),
        ({"since": "2023-01-01", "online_share": 2.0}, "online_share"),
    ],
)
def test_a_bad_before_start_is_one_line(before, fragment):
    over = {
        "policies.telemedicine.enabled": True,
        "policies.telemedicine.start": "2024-01-01",
        "policies.telemedicine.before_start": before,
    }
    with pytest.raises(ParamsError) as e:
        with_overrides(load_params("params/baseline.yaml"), over)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_before_its_start_every_scale_up_scenario_is_the_baseline():
    # A scale-up names only what it changes; a lever's before_start level takes its other values from the lever,
    # so the baseline must name every amount (zeros too) or a scale-up's values act from 2023 instead of its start.
    base = load_params("params/scenarios/baseline_2023.yaml")
    day = base.run.start_date
    for f in sorted(Path("params/scenarios").glob("*.yaml")):
        p = load_params(f)
        for name, lv in p.policies.levers():
            b = getattr(base.policies, name)
            if not (b.enabled and b.acts_from <= day < b.start and lv.enabled and lv.start > day):
                continue
            drop = {"start", "before_start", "ramp_years"}
            mine = lv.at(day).model_dump(exclude=drop)
            theirs = b.at(day).model_dump(exclude=drop)
            assert mine == theirs, (f.name, name, {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]})
