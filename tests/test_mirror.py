"""The simulated experiments that mirror the evidence (health_sim.experiments.mirror), each on a tiny county.

Each experiment's direction is the one its mechanism implies; the arms differ only by what the study varied
(common random numbers); the money value of travel is the weights' ratio; every calibration item of the
evidence file has an experiment.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from health_sim.config.params import load_params, with_overrides
from health_sim.core.paths import resolve
from health_sim.experiments import mirror
from health_sim.experiments.ensemble import load_ensemble
from health_sim.experiments.evidence import load_evidence_file
from health_sim.sim import rules
from health_sim.sim.model import HealthSystemModel

TINY = {"run.scale": 0.02, "run.days": 90, "run.burn_in_days": 30}


@pytest.fixture(scope="module")
def params():
    return with_overrides(load_params(resolve("params/scenarios/baseline_2023.yaml")), TINY)


@pytest.fixture(scope="module")
def everything(params):
    return mirror.simulate(params, 11, list(mirror.EXPERIMENTS))


def test_every_calibration_item_has_an_experiment():
    ids = {i.id for i in load_evidence_file().by_role("calibration")}
    assert ids <= set(mirror.EXPERIMENTS), sorted(ids - set(mirror.EXPERIMENTS))
    every = {i.id for i in load_evidence_file().items()}
    assert set(mirror.EXPERIMENTS) <= every, sorted(set(mirror.EXPERIMENTS) - every)


def test_every_experiment_gives_a_finite_value(everything):
    assert set(everything) == set(mirror.EXPERIMENTS)
    bad = {k: v for k, v in everything.items() if not math.isfinite(v)}
    assert not bad


def test_dearer_care_keeps_residents_home(params):
    """The price arm: seeking care falls (elasticity < 0); with no price weight on seeking care, far less."""
    with_price = mirror.simulate(params, 11, ["price_elasticity_first_outpatient_visit_rural"])
    without = mirror.simulate(
        with_overrides(params, {"choice.minor.seek_cost_per_100_yuan": 0.0}),
        11,
        ["price_elasticity_first_outpatient_visit_rural"],
    )
    e1, e0 = (
        with_price["price_elasticity_first_outpatient_visit_rural"],
        without["price_elasticity_first_outpatient_visit_rural"],
    )
    assert e1 < e0 <= 0.0


def test_the_poorer_weigh_a_bill_more_when_deciding_whether_to_seek_care(params):
    """A resident's price sense is the rural median income over his own; the bill's pull home scales with it."""
    m = HealthSystemModel(params, rng=11)
    income, sense = m.residents.income.astype(float), m._price_sense
    rural = ~m.residents.urban
    assert np.allclose(sense, params.population.income_rural_median_yuan / income)
    poor, rich = np.argmin(np.where(rural, income, np.inf)), np.argmax(np.where(rural, income, -np.inf))
    assert sense[poor] > 1.0 > sense[rich]
    seek = m.weights.seek_cost_per_100_yuan[0]  # minor episodes, per 100 yuan at the median income
    assert seek < 0
    pull = [rules.home_utility(0.0, seek, 100.0, sense[i]) for i in (poor, rich)]
    assert pull[0] > pull[1] > 0.0  # a 100-yuan bill makes staying home likelier, the more so for the poorer


def test_village_price_moves_village_visits_down(everything):
    assert everything["price_elasticity_village_clinic_visits_rmhc"] < 0


def test_gatekeeping_moves_visits_from_hospitals_to_the_grassroots(params):
    """The pilot's rule (unreferred hospital care reimbursed less): hospital visits fall, grassroots ones rise.

    With a price weight large enough for the direction to show on a tiny county.
    """
    p = with_overrides(params, {"choice.minor.cost_per_100_yuan": -4.0})
    r = mirror.simulate(p, 11, ["gatekeeping_pilot_primary_care_visits", "gatekeeping_pilot_hospital_visits"])
    assert r["gatekeeping_pilot_hospital_visits"] < -0.02
    assert r["gatekeeping_pilot_primary_care_visits"] > 0.0


def test_gatekeeping_direction_holds_at_the_posterior_weights(params):
    """The pilot's direction on the fitted weights, not on a forced price weight.

    Under the usual Chinese rule (no reimbursement without a referral) and the posterior member nearest the median
    price weight among facilities: hospital visits fall and grassroots visits rise.
    """
    ens = load_ensemble(resolve("params/calibrated/yangshan_2023.yaml"))
    key = "choice.minor.cost_per_100_yuan"
    weights = np.array([m[key] for m in ens.members])
    member = ens.members[int(np.argmin(np.abs(weights - np.median(weights))))]
    p = with_overrides(params, {**member, "policies.gatekeeping.unreferred_reduction": 1.0})
    r = mirror.simulate(p, 11, ["gatekeeping_pilot_primary_care_visits", "gatekeeping_pilot_hospital_visits"])
    assert r["gatekeeping_pilot_hospital_visits"] < -0.1
    assert r["gatekeeping_pilot_primary_care_visits"] > 0.0


def test_contracting_lowers_the_level_of_first_contact(params):
    r = mirror.simulate(params, 11, ["contract_first_contact_level_rural_elderly_did"])
    assert r["contract_first_contact_level_rural_elderly_did"] < 0
    none = mirror.simulate(
        with_overrides(params, {"choice.minor.contract": 0.0, "choice.severe.contract": 0.0}),
        11,
        ["contract_first_contact_level_rural_elderly_did"],
    )
    assert r["contract_first_contact_level_rural_elderly_did"] < none["contract_first_contact_level_rural_elderly_did"]


def test_money_value_of_travel_is_the_weights_ratio(params):
    p = with_overrides(params, {"choice.minor.travel_per_hour": -2.0, "choice.minor.cost_per_100_yuan": -1.0})
    r = mirror.simulate(p, 11, ["distance_wtp_travel_minor_chronic"])
    assert r["distance_wtp_travel_minor_chronic"] == pytest.approx(0.5 * 2.0 / 1.0 * 100.0)


def test_minor_episodes_go_first_to_the_grassroots_more_than_severe_ones(everything):
    assert everything["severity_primary_first_minor_rural"] > everything["severity_primary_first_serious_rural"]


def test_a_keener_city_hospital_takes_admissions_out_of_the_county_and_empties_county_beds(params):
    """The in-county admission share and the county hospitals' occupancy fall as the city pulls severe cases."""
    items = ["guangdong_in_county_admission_share_2019", "public_hospital_bed_occupancy_2023"]
    low = mirror.simulate(with_overrides(params, {"choice.severe.asc.city": -2.0}), 11, items)
    high = mirror.simulate(with_overrides(params, {"choice.severe.asc.city": 2.0}), 11, items)
    assert 0.0 < high[items[0]] < low[items[0]] - 0.05 < 1.0
    assert 0.0 < high[items[1]] < low[items[1]]


def test_more_county_beds_keep_admissions_in_the_county_at_a_lower_occupancy(params):
    """Beds of the county people's hospital: a full hospital sends patients on to the city."""
    items = ["guangdong_in_county_admission_share_2019", "public_hospital_bed_occupancy_2023"]
    stay = with_overrides(params, {"choice.severe.asc.city": -2.0})  # severe patients prefer the county
    few = mirror.simulate(with_overrides(stay, {"facilities.county_people.beds": 300.0}), 11, items)
    many = mirror.simulate(with_overrides(stay, {"facilities.county_people.beds": 1500.0}), 11, items)
    assert many[items[0]] > few[items[0]] + 0.02
    assert many[items[1]] < few[items[1]]


def test_arms_share_the_burn_in_and_differ_only_by_their_change(params):
    """Common random numbers: the base arm twice is the same; the lever arms continue the base arm's burn-in."""
    a = mirror.run_arm(params, 5)
    b = mirror.run_arm(params, 5)
    assert a == b
    over = mirror.arm_overrides(params)
    assert set(over) == {"base", "price", "village_price", "gatekeeping", "contracting"}
    from health_sim.sim.model import burn_in_key

    key = burn_in_key(params, 5)
    assert key is not None
    for arm in ("gatekeeping", "contracting"):
        assert burn_in_key(with_overrides(params, over[arm]), 5) == key, arm


def test_unknown_item_is_refused(params):
    with pytest.raises(KeyError, match="no simulated experiment"):
        mirror.simulate(params, 1, ["not_an_item"])
