"""Validation against published evidence.

The verdict rule, the evidence file, the comparison table, the townships' travel times, cheap paired experiments end
to end, and the KPIs they read (grassroots_first, grassroots_visits).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from health_sim.config.params import load_params, with_overrides
from health_sim.core.paths import resolve
from health_sim.experiments.scenario_runs import run_replicates
from health_sim.experiments.validation import (
    BASE,
    EVIDENCE,
    Setting,
    compare,
    contract_matched,
    distance_gradient,
    dynamic_items,
    gatekeeping_rules,
    load_evidence,
    mirrored,
    national_trend,
    remoteness_effect,
    rural_admissions,
    township_minutes,
    verdict,
)
from health_sim.world.county import build_county

TINY = Setting(scale=0.01, replicates=1, days=30, overrides=(("run.burn_in_days", 10),))
TWO = Setting(scale=0.01, replicates=2, days=30, overrides=(("run.burn_in_days", 10),))


# --- the verdict ---------------------------------------------------------------------------


def test_verdict_levels_intervals_through_zero_and_missing_values():
    # a small share: the tighter of +-0.1 and a factor 1.5 (0.017 against 0.047 is not agreement)
    assert verdict(0.047, None, None, 0.017, 0.015, 0.019, share=True, level=True) == "model lower"
    assert verdict(0.047, None, None, 0.04, 0.035, 0.045, share=True, level=True) == "agrees"
    # levels are higher or lower, not a direction
    assert verdict(0.51, None, None, 0.33, 0.32, 0.34, share=True, level=True) == "model lower"
    assert verdict(68.0, None, None, 1250.0, 1250.0, 1250.0, level=True) == "model higher"
    # an effect whose interval straddles 0 does not fix the sign
    assert verdict(0.06, None, None, 0.11, -0.09, 0.26) == "inconclusive (the model's interval includes 0)"
    # ... unless the interval misses the published range: an effect near none against a clear one
    smaller = "model smaller (its interval includes 0, not the published range)"
    assert verdict(0.553, None, None, 0.023, -0.014, 0.074) == smaller  # the gatekeeping pilot
    assert verdict(-0.5, -0.7, -0.3, 0.01, -0.05, 0.1) == smaller
    # an interval reaching far to the other side is not "smaller": it does not fix the sign
    assert verdict(0.5, None, None, -1.5, -3.0, 0.1) == "inconclusive (the model's interval includes 0)"
    # opposite direction needs the whole interval on the other side
    assert verdict(0.5, 0.4, 0.6, -0.2, -0.3, -0.1) == "opposite direction"
    assert verdict(0.5, None, None, float("nan"), float("nan"), float("nan")) == "not computed"


@pytest.mark.parametrize(
    "args, expected",
    [
        # a published interval: agreement is overlap of the two intervals
        ((0.5, 0.4, 0.6, 0.65, 0.58, 0.7), "agrees"),
        ((0.5, 0.4, 0.6, 0.35, 0.3, 0.4), "agrees"),  # touching counts
        ((0.5, 0.4, 0.6, 0.65, 0.61, 0.7), "same direction, model larger"),
        ((0.5, 0.4, 0.6, 0.35, 0.3, 0.39), "same direction, model smaller"),
        ((0.5, 0.4, 0.6, -0.2, -0.3, -0.1), "opposite direction"),
        # a share with no interval: within 0.1
        ((0.3, None, None, 0.39, 0.39, 0.39, True), "agrees"),
        ((0.3, None, None, 0.21, 0.21, 0.21, True), "agrees"),
        ((0.3, None, None, 0.41, 0.41, 0.41, True), "same direction, model larger"),
        ((0.3, None, None, 0.19, 0.19, 0.19, True), "same direction, model smaller"),
        ((0.3, None, None, 0.45, 0.38, 0.5, True), "agrees"),  # the model's interval reaches 0.4
        # anything else with no interval: within a factor 1.5
        ((2.0, None, None, 2.9, 2.9, 2.9), "agrees"),
        ((2.0, None, None, 1.4, 1.4, 1.4), "agrees"),
        ((2.0, None, None, 3.1, 3.1, 3.1), "same direction, model larger"),
        ((2.0, None, None, 1.3, 1.3, 1.3), "same direction, model smaller"),
        ((0.3, None, None, 0.41, 0.41, 0.41), "agrees"),  # not a share: the factor, not +-0.1
        ((-0.2, None, None, -0.29, -0.29, -0.29), "agrees"),  # negative effects: factor on the magnitude
        ((-0.2, None, None, -0.35, -0.35, -0.35), "same direction, model larger"),
        ((-0.2, None, None, -0.1, -0.1, -0.1), "same direction, model smaller"),
        ((-0.2, None, None, 0.1, 0.05, 0.15), "opposite direction"),
        ((0.2, None, None, -0.1, -0.15, -0.05), "opposite direction"),
    ],
)
def test_verdict(args, expected):
    value, low, high, model, lo, hi, *share = args
    assert verdict(value, low, high, model, lo, hi, share=bool(share and share[0])) == expected


# --- the evidence file and the comparison table --------------------------------------------------


def test_evidence_and_national_trend():
    ev = load_evidence()
    assert ev == load_evidence(resolve(EVIDENCE))
    t = national_trend(ev)
    assert list(t.columns) == ["year", "share", "series"]
    assert t["year"].is_monotonic_increasing and t["year"].is_unique
    assert t["share"].between(0, 1, inclusive="neither").all()
    assert set(t.loc[t["series"] == "NHC statistical bulletin", "year"]) == {
        int(y) for y in ev["national_grassroots_share"]["values"]
    }
    # the bulletin series falls from 2014 to 2021 (the trend the model is compared with)
    bulletin = t[t["series"] == "NHC statistical bulletin"].set_index("year")["share"]
    assert bulletin.loc[2014] > bulletin.loc[2021]


def test_compare_without_results_lists_every_item_as_not_computed():
    ev = load_evidence()
    table = compare(ev, {})
    ids = [e["id"] for e in ev["county_figures"] + ev["effects"] + ev["other_checks"]]
    assert list(table["id"]) == ids and table["id"].is_unique
    assert (table["verdict"] == "not computed").all() and table["model"].isna().all()
    assert set(table["role"]) <= {"calibration", "held_out", "not_used"}
    assert list(table.columns) == [
        "id",
        "lever",
        "role",
        "published",
        "low",
        "high",
        "model",
        "model_lo",
        "model_hi",
        "verdict",
        "comparability",
        "unit",
        "how",
        "source",
        "why",
    ]
    assert (table.loc[table["id"].isin([e["id"] for e in ev["other_checks"]]), "lever"] == "aggregate").all()
    # `why` is the evidence file's conflict, word for word, and empty where it has none
    conflicts = {e["id"]: e.get("conflict", "") for e in ev["county_figures"] + ev["effects"] + ev["other_checks"]}
    assert dict(zip(table["id"], table["why"], strict=True)) == conflicts
    assert "Model larger" in conflicts["distance_thc_remoteness_outpatient_visits"]


def test_compare_computes_verdicts_for_the_given_results():
    ev = load_evidence()
    items = {e["id"]: e for e in ev["county_figures"] + ev["effects"] + ev["other_checks"]}
    results = {
        "severity_primary_first_minor_rural": {
            "model": 0.5,
            "model_lo": 0.45,
            "model_hi": 0.55,
            "how": "test a",
        },  # a share, no interval
        "willingness_first_visit_phc_meta": {
            "model": 0.9,
            "model_lo": 0.85,
            "model_hi": 0.95,
            "how": "test b",
        },  # a share with a CI
        "price_elasticity_first_outpatient_visit_rural": {
            "model": -0.05,
            "model_lo": -0.06,
            "model_hi": -0.04,
            "how": "test c",
        },
    }
    table = compare(ev, results).set_index("id")
    for i, r in results.items():
        e = items[i]
        row = table.loc[i]
        assert (row["model"], row["model_lo"], row["model_hi"], row["how"]) == (
            r["model"],
            r["model_lo"],
            r["model_hi"],
            r["how"],
        )
        unit = str(e.get("unit", ""))
        share = unit.startswith("share")
        level = share or unit.startswith("CNY") or e.get("lever") is None
        assert row["verdict"] == verdict(
            e["value"], e.get("low"), e.get("high"), r["model"], r["model_lo"], r["model_hi"], share=share, level=level
        )
        assert row["verdict"] != "not computed"
    assert table.loc["willingness_first_visit_phc_meta", "verdict"] == "model higher"  # a level: 0.85 > the CI's 0.65
    assert table.loc["severity_primary_first_minor_rural", "verdict"] == "model lower"  # 0.55 < 0.97 - 0.1
    assert (table.drop(index=list(results))["verdict"] == "not computed").all()


# --- the townships -----------------------------------------------------------------------------


def test_township_minutes_one_row_per_township_minutes_positive():
    p = load_params(resolve(BASE))
    t = township_minutes(p, p.run.seed)
    c = build_county(p, p.run.seed)
    assert list(t.columns) == ["township", "minutes_township_centre", "minutes_county"]
    assert len(t) == c.n_townships and list(t["township"]) == list(c.township_names) and t["township"].is_unique
    assert (t["minutes_township_centre"] > 0).all() and (t["minutes_county"] > 0).all()
    assert np.isfinite(t[["minutes_township_centre", "minutes_county"]].to_numpy()).all()
    # the residents of the county seat's township are the nearest to the county hospitals
    assert t.loc[t["minutes_county"].idxmin(), "township"] == p.county.county_seat


def test_hospital_extra_minutes_moves_only_the_county_and_city_columns():
    p = load_params(resolve(BASE))
    near = build_county(p, p.run.seed)
    far = build_county(with_overrides(p, {"county.hospital_extra_minutes": 60.0}), p.run.seed)
    assert np.array_equal(far.travel_minutes[:, :2], near.travel_minutes[:, :2])  # village clinic, township centre
    assert np.allclose(far.travel_minutes[:, 2:] - near.travel_minutes[:, 2:], 60.0)  # county hospitals, city


# --- cheap experiments end to end -----------------------------------------------------------------


def test_an_hour_farther_from_the_hospitals_moves_visits_from_county_to_township():
    r = remoteness_effect(TWO)
    assert set(r) == {"township", "county"}
    assert r["township"]["model_lo"] > 0 and r["county"]["model_hi"] < 0


SEVERITY = [
    "severity_primary_first_minor_rural",
    "severity_primary_first_chronic_rural",
    "severity_primary_first_serious_rural",
]


def test_mirrored_severity_items_end_to_end():
    r = mirrored(TINY, SEVERITY)
    assert set(r) == set(SEVERITY)
    for k, v in r.items():
        assert {"model", "model_lo", "model_hi", "how"} <= set(v), k
        assert 0.0 <= v["model_lo"] <= v["model"] <= v["model_hi"] <= 1.0, (k, v)
    assert r["severity_primary_first_minor_rural"]["model"] > r["severity_primary_first_serious_rural"]["model"]
    assert r["severity_primary_first_chronic_rural"]["model"] > r["severity_primary_first_serious_rural"]["model"]
    # one replicate: the interval is the value
    v = r["severity_primary_first_minor_rural"]
    assert v["model_lo"] == v["model"] == v["model_hi"]


def test_every_experiment_result_is_an_evidence_item():
    """A result under an id the evidence file does not have would never reach the table."""
    ev = load_evidence()
    ids = {e["id"] for e in ev["county_figures"] + ev["effects"] + ev["other_checks"]}
    results = mirrored(TINY)
    distance, _ = distance_gradient(TINY)
    results |= distance
    assert set(results) <= ids, sorted(set(results) - ids)
    table = compare(ev, results)
    assert (table.loc[table["id"].isin(list(results)), "verdict"] != "not computed").all()
    for k, v in results.items():
        assert all(math.isfinite(v[x]) for x in ("model", "model_lo", "model_hi")), (k, v)
    # every calibration item has a model value
    calibration = set(table.loc[table["role"] == "calibration", "id"])
    assert calibration <= set(results), sorted(calibration - set(results))
    # price elasticities: dearer care means fewer visits
    assert results["price_elasticity_outpatient_visits_among_users_rural"]["model"] < 0
    assert results["price_elasticity_village_clinic_visits_rmhc"]["model"] < 0


def test_the_stricter_gatekeeping_rule_moves_more_visits_out_of_hospitals():
    """No reimbursement without a referral sends more to the township centre, and keeps more out of hospitals."""
    small = Setting(scale=0.02, replicates=1, days=120, overrides=(("run.burn_in_days", 30),))
    t = gatekeeping_rules(small, (0.2, 1.0)).set_index(["unreferred_reduction", "id"])["model"]
    assert list(t.index.get_level_values(0).unique()) == [0.2, 1.0]
    hospitals, grassroots = "gatekeeping_pilot_hospital_visits", "gatekeeping_pilot_primary_care_visits"
    assert t[(1.0, hospitals)] < t[(0.2, hospitals)] < 0.0
    assert t[(1.0, grassroots)] > t[(0.2, grassroots)]


def test_mirrored_draws_one_ensemble_member_per_replicate(tmp_path):
    """With an ensemble, replicate r runs with member r's values: a member that changes the answer shows in it."""
    import yaml

    f = tmp_path / "cal.yaml"
    f.write_text(
        yaml.safe_dump(
            {
                "ensemble": [
                    {"trial": 0, "values": {"tcm.uptake_grassroots": 0.3}},
                    {"trial": 1, "values": {"tcm.uptake_grassroots": 0.7}},
                ]
            }
        )
    )
    with_ensemble = Setting(scale=0.01, replicates=2, days=30, overrides=(("run.burn_in_days", 10),), ensemble=f)
    r = mirrored(with_ensemble, ["yangshan_tcm_share_2023"])["yangshan_tcm_share_2023"]
    plain = mirrored(TWO, ["yangshan_tcm_share_2023"])["yangshan_tcm_share_2023"]
    assert r["model_hi"] - r["model_lo"] > 5 * (plain["model_hi"] - plain["model_lo"])


def test_distance_experiment_township_visits_per_resident_are_per_resident():
    _, town = distance_gradient(TINY)
    expected = town["visits_by_level.township"] * TINY.scale / town["residents"]
    assert np.allclose(town["township_visits_per_resident"], expected)
    assert (town["township_visits_per_resident"] <= town["visits_per_resident"] + 1e-9).all()


# --- the KPIs the validation reads ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_kpis() -> pd.DataFrame:
    return run_replicates(
        resolve(BASE), replicates=2, seed=3, scale=0.01, days=30, overrides={"run.burn_in_days": 10}
    ).kpis


PARTS = ("all", "minor", "chronic", "severe", "contracted", "not_contracted")


def test_grassroots_first_parts_are_shares(tiny_kpis):
    for part in PARTS:
        x = tiny_kpis[f"grassroots_first.{part}"]
        assert x.between(0.0, 1.0).all() and x.notna().all(), part


def test_grassroots_first_severe_below_minor_and_all_in_between(tiny_kpis):
    k = tiny_kpis
    assert (k["grassroots_first.severe"] < k["grassroots_first.minor"]).all()
    kinds = k[["grassroots_first.minor", "grassroots_first.chronic", "grassroots_first.severe"]]
    assert (k["grassroots_first.all"] >= kinds.min(axis=1) - 1e-12).all() and (
        k["grassroots_first.all"] <= kinds.max(axis=1) + 1e-12
    ).all()
    # 'all' is also a mix of contracted and other residents
    both = k[["grassroots_first.contracted", "grassroots_first.not_contracted"]]
    assert (k["grassroots_first.all"] >= both.min(axis=1) - 1e-12).all() and (
        k["grassroots_first.all"] <= both.max(axis=1) + 1e-12
    ).all()


def test_grassroots_visits_are_the_grassroots_share_of_all_visits(tiny_kpis):
    k = tiny_kpis
    assert (k["grassroots_visits"] > 0).all()
    assert np.allclose(k["grassroots_visits"], k["grassroots_share"] * k["visits_total"], rtol=1e-9)
    assert np.allclose(k["grassroots_visits"], k["visits_by_level.village"] + k["visits_by_level.township"], rtol=1e-9)


def test_everyone_contracted_goes_to_the_grassroots_first_more_often():
    """The model's causal effect of contracting (the contract experiment) has the sign of the published associations.

    Everyone contracted against no one, same residents and seeds.
    """
    r = contract_matched(TWO)
    assert r["contract_grassroots_visit_share_tianjin"]["model"] > 0
    assert set(r) == {"contract_grassroots_visit_share_tianjin", "contract_outpatient_utilization_rural_shandong"}
    # the contract bonus raises the value of care at the grassroots, so fewer contracted residents stay home
    assert r["contract_outpatient_utilization_rural_shandong"]["model_lo"] > 0
    assert mirrored(TWO, ["contract_first_choice_chc_shenzhen"])["contract_first_choice_chc_shenzhen"]["model"] > 0


def test_contracting_s_effect_on_use_counts_the_outpatient_episodes_of_residents_45_and_over():
    """The instrumental-variable item's mirror: care sought for minor, chronic and serious episodes of residents 45+.

    Recomputed from the two arms' township tables: everyone contracted over no one contracted, less one.
    """
    r = contract_matched(TWO)["contract_outpatient_utilization_rural_shandong"]
    over = {"run.burn_in_days": 10}
    arms = [
        run_replicates(
            BASE, replicates=2, seed=TWO.seed, scale=0.01, days=30, overrides=over | {"population.contract_rate": c}
        )
        for c in (1.0, 0.0)
    ]
    n = [a.township.groupby("replicate")["first_trips_outpatient_45plus"].sum() for a in arms]
    assert r["model"] == pytest.approx(float((n[0] / n[1] - 1.0).mean()))
    visits = [a.kpis["visits_total"] for a in arms]
    assert r["model"] != pytest.approx(float((visits[0] / visits[1] - 1.0).mean()))  # not all visits of every age


def test_the_dynamic_check_gives_the_two_2022_2023_items_a_model_value():
    ev = load_evidence()
    res = dynamic_items(Setting(scale=0.02, replicates=1, days=30, overrides=(("run.burn_in_days", 10),)))
    assert set(res) == {"yangshan_grassroots_visits_change_2022_2023", "yangshan_downward_referrals_change_2022_2023"}
    assert all(np.isfinite([r["model"], r["model_lo"], r["model_hi"]]).all() for r in res.values())
    table = compare(ev, res).set_index("id")
    assert (table.loc[list(res), "verdict"] != "not computed").all()


def test_a_change_from_nothing_is_not_computed_rather_than_infinite():
    """At a tiny scale a year may have no downward referral at all: its change is undefined (NaN), never inf."""
    res = dynamic_items(TINY)
    for r in res.values():
        assert not np.isinf([r["model"], r["model_lo"], r["model_hi"]]).any()


def test_rural_tier3_share_counts_the_townships_outside_the_seat_and_follows_the_city_hospital():
    """The rural tier-3 item: city admissions over all admissions of residents outside the county seat.

    Checked against the township table by hand (the seat left out), and for direction: a more
    attractive city hospital for severe episodes takes a larger share of rural admissions.
    """
    item = "severity_rural_cardiovascular_admissions_tier3"
    setting = Setting(scale=0.02, replicates=2, days=60, overrides=(("run.burn_in_days", 10),))
    r = rural_admissions(setting)[item]
    over = {"run.burn_in_days": 10}
    reps = run_replicates(BASE, replicates=2, seed=setting.seed, scale=0.02, days=60, overrides=over)
    town = reps.township[reps.township["township"] != "Yangcheng"]
    assert len(town["township"].unique()) == 12
    g = town.groupby("replicate")[["admitted", "admitted_county", "admitted_township", "admitted_city"]].sum()
    # the city hospital is the only other place with beds while village clinics have none
    assert (g["admitted_city"] == g["admitted"] - g["admitted_county"] - g["admitted_township"]).all()
    by_hand = ((g["admitted"] - g["admitted_county"] - g["admitted_township"]) / g["admitted"]).mean()
    assert r["model"] == pytest.approx(by_hand)
    assert 0.0 < r["model_lo"] <= r["model"] <= r["model_hi"] < 1.0
    keen = rural_admissions(replace(setting, overrides=(*setting.overrides, ("choice.severe.asc.city", 3.0))))[item]
    assert keen["model"] > r["model"] + 0.05


def test_the_shandong_willingness_mirror_weighs_contracted_residents_as_the_survey_sample():
    from health_sim.experiments.mirror import SHANDONG_CONTRACTED

    item = "shandong_willing_primary_first"
    r = mirrored(TINY, [item])[item]["model"]
    k = run_replicates(BASE, replicates=1, seed=TINY.seed, scale=0.01, days=30, overrides={"run.burn_in_days": 10}).kpis
    c, o = float(k["grassroots_first.contracted"].iloc[0]), float(k["grassroots_first.not_contracted"].iloc[0])
    assert SHANDONG_CONTRACTED == 0.752  # 75.2% of the sample had signed (the evidence file's population)
    assert r == pytest.approx(0.752 * c + 0.248 * o)
    assert abs(c - o) > 0.01  # the two groups differ, so swapped weights would show
