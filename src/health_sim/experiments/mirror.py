"""Evidence as simulated experiments: each calibration item of the evidence file mirrored in the model.

A published finding is reproduced by running the study's design on the simulated county, not
by reading a model input back. One call of :func:`simulate` runs the **arms** an item needs
on one county under common random numbers (the same seed, so the arms hold the same
residents with the same illnesses and the same random draws, and differ only by what the
study varied), and computes each item's model value from them:

* ``base``: the parameters as given (the county's own 2023 figures, first-contact shares by
  severity, the mean level of first contact);
* ``price``: every facility's outpatient price 10% higher (the studied size; all levels, as in a
  national survey of prices) -> the elasticity of seeking care at all; ``village_price``: the
  village clinic's alone (its own-price elasticity);
* ``gatekeeping``: the gatekeeping lever from the first day, as the pilot's reimbursement rule
  (unreferred county and city care reimbursed ``policies.gatekeeping.unreferred_reduction``
  less, the lever's 20 points unless the parameters say otherwise: the pilot's own rule is not
  in its abstract) -> the relative change of village + township visits in its first year, arm
  against base (the pilot's difference-in-differences, with the base arm as the comparison
  county);
* ``contracting``: a contracting roll-out from the first day (the signed share from 28% to 60%,
  the contract's usual bonus only: no extra first-contact advice or scheduled follow-up) ->
  the change in the mean level of the first facility per newly contracted first trip (the
  cohort study's difference-in-differences).

The money value of travel (two stated-preference studies) is implied by the choice weights
and needs no run. The lever arms start on the run's first day, so they continue the base
arm's burn-in (:mod:`health_sim.experiments.warmstart`): one burn-in serves the three arms
that differ only by a policy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from health_sim.config.params import with_overrides
from health_sim.config.schema import Params
from health_sim.core.names import FACILITY_TYPES
from health_sim.experiments.scenario_runs import flatten

PRICE_RISE = 0.10
"""The studied price change: every outpatient price 10% higher."""
ROLLOUT_RATE = 0.60
"""Signed share in the contracting arm (from ``population.contract_rate``, 0.28)."""


def arm_overrides(params: Params) -> dict[str, dict]:
    """Dotted-key overrides of each arm, relative to ``params``."""
    start = params.run.start_date.isoformat()
    return {
        "base": {},
        "price": {
            f"facilities.{ft}.price_visit": getattr(params.facilities, ft).price_visit * (1.0 + PRICE_RISE)
            for ft in FACILITY_TYPES
        },
        "village_price": {
            "facilities.village_clinic.price_visit": params.facilities.village_clinic.price_visit * (1.0 + PRICE_RISE)
        },
        "gatekeeping": {
            "policies.gatekeeping.enabled": True,
            "policies.gatekeeping.start": start,
            "policies.gatekeeping.ramp_years": 0.0,
        },
        "contracting": {
            "policies.family_doctor.enabled": True,
            "policies.family_doctor.start": start,
            "policies.family_doctor.ramp_years": 0.0,
            "policies.family_doctor.contract_rate": ROLLOUT_RATE,
            "policies.family_doctor.first_contact": 0.0,
            "policies.family_doctor.scheduled_followup": 0.0,
        },
    }


def run_arm(params: Params, seed: int) -> dict[str, float]:
    """One arm's KPIs (flattened) and counter totals (``n:<counter>``), its burn-in shared when it can be."""
    from health_sim.experiments.warmstart import warm_model

    model = warm_model(params, seed)
    model.run_days(progress=False)
    return flatten(model.kpis()) | {f"n:{k}": float(v) for k, v in model.counter_totals().items()}


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _elasticity(arms: dict, p: Params) -> float:
    seek0, seek1 = 1.0 - arms["base"]["stay_home_share"], 1.0 - arms["price"]["stay_home_share"]
    return math.log(seek1 / seek0) / math.log(1.0 + PRICE_RISE) if seek0 > 0 and seek1 > 0 else math.nan


def _grassroots_visits(k: dict) -> float:
    return k["visits_by_level.village"] + k["visits_by_level.township"]


def _gatekeeping(arms: dict, p: Params) -> float:
    return _ratio(_grassroots_visits(arms["gatekeeping"]), _grassroots_visits(arms["base"])) - 1.0


def _hospital_visits(k: dict) -> float:
    return k["visits_by_level.county"] + k["visits_by_level.city"]


def _gatekeeping_hospitals(arms: dict, p: Params) -> float:
    return _ratio(_hospital_visits(arms["gatekeeping"]), _hospital_visits(arms["base"])) - 1.0


def _log_change(arm: str, kpi: str) -> Callable[[dict, Params], float]:
    def value(arms: dict, p: Params) -> float:
        a, b = arms["base"][kpi], arms[arm][kpi]
        return math.log(b / a) / math.log(1.0 + PRICE_RISE) if a > 0 and b > 0 else math.nan

    return value


def _contract_raw(arms: dict, p: Params) -> float:
    k = arms["base"]
    return k["grassroots_first.contracted"] - k["grassroots_first.not_contracted"]


def _contracted_share(k: dict) -> float:
    every = sum(v for n, v in k.items() if n.startswith("n:first_trips_") and n.count("_") == 2)
    return _ratio(k["n:first_trips_contracted"], every)


def _contract_did(arms: dict, p: Params) -> float:
    a, b = arms["base"], arms["contracting"]
    newly = _contracted_share(b) - _contracted_share(a)
    return _ratio(b["first_contact_level.all"] - a["first_contact_level.all"], newly)


SHANDONG_CONTRACTED = 0.752
"""Share of the Shandong willingness survey's respondents who had signed a family-doctor contract."""


def _contract_mix(arms: dict, p: Params) -> float:
    k = arms["base"]
    c = SHANDONG_CONTRACTED
    return c * k["grassroots_first.contracted"] + (1.0 - c) * k["grassroots_first.not_contracted"]


def _wtp(group: str) -> Callable[[dict, Params], float]:
    def value(arms: dict, p: Params) -> float:
        w = getattr(p.choice, group)
        return 0.5 * w.travel_per_hour / w.cost_per_100_yuan * 100.0 if w.cost_per_100_yuan else math.inf

    return value


def _kpi(name: str) -> Callable[[dict, Params], float]:
    def value(arms: dict, p: Params) -> float:
        return arms["base"][name]

    return value


@dataclass(frozen=True)
class Experiment:
    """How the model gives one evidence item: the arms it needs, its value from them, and what it mirrors."""

    arms: tuple[str, ...]
    value: Callable[[dict, Params], float]
    how: str


EXPERIMENTS: dict[str, Experiment] = {
    "yangshan_grassroots_visits_2023": Experiment(
        ("base",), _kpi("grassroots_visits"), "base arm: village + township visits a year (full-county equivalent)"
    ),
    "yangshan_grassroots_share_2023": Experiment(("base",), _kpi("grassroots_share"), "base arm: grassroots share"),
    "yangshan_upward_referrals_2023": Experiment(
        ("base",), _kpi("upward_referrals"), "base arm: formal referrals up from the grassroots a year"
    ),
    "yangshan_downward_referrals_2023": Experiment(
        ("base",), _kpi("downward_referrals"), "base arm: downward referrals from county and city hospitals a year"
    ),
    "yangshan_inpatients_sent_down_2023": Experiment(
        ("base",), _kpi("downward_inpatient_share"), "base arm: share of county-hospital inpatients sent down"
    ),
    "yangshan_tcm_share_2023": Experiment(("base",), _kpi("tcm_share"), "base arm: TCM share of visits"),
    "price_elasticity_first_outpatient_visit_rural": Experiment(
        ("base", "price"),
        _elasticity,
        "every outpatient price +10% against base: elasticity of the share of episodes for which care is sought",
    ),
    "contract_first_contact_level_rural_elderly_did": Experiment(
        ("base", "contracting"),
        _contract_did,
        "contracting roll-out (signed 28% -> 60%) against base: change of the mean level of first contact (village "
        "1 .. city 4) per newly contracted first trip",
    ),
    "distance_wtp_travel_minor_chronic": Experiment(
        (), _wtp("minor"), "implied by the minor weights: 0.5 h x travel weight / cost weight, in yuan"
    ),
    "severity_primary_first_serious_rural": Experiment(
        ("base",),
        _kpi("grassroots_first_serious"),
        "base arm: share of serious episodes' first trips to the grassroots (the serious kind alone)",
    ),
    "distance_inpatient_bypass_rural_hubei": Experiment(
        ("base",),
        _kpi("inpatient_bypass_share"),
        "base arm: share of admissions the patient's township centre could have treated that were at a county or "
        "city hospital (all residents, town residents included)",
    ),
    "guangdong_in_county_admission_share_2019": Experiment(
        ("base",),
        _kpi("in_county_admission_share"),
        "base arm: share of the residents' admissions at village, township and county facilities (the rest at the "
        "city hospital)",
    ),
    "public_hospital_bed_occupancy_2023": Experiment(
        ("base",),
        _kpi("county_hospital_occupancy"),
        "base arm: occupied / available bed-days at the three county hospitals",
    ),
    # held out: judged, not fitted
    "gatekeeping_pilot_primary_care_visits": Experiment(
        ("base", "gatekeeping"),
        _gatekeeping,
        "gatekeeping (unreferred county and city care reimbursed policies.gatekeeping.unreferred_reduction less: the "
        "lever's 20 points unless set) from the first day against base: relative change of village + township "
        "visits in its first year",
    ),
    "distance_wtp_travel_severe_chronic": Experiment(
        (), _wtp("severe"), "implied by the severe weights: 0.5 h x travel weight / cost weight, in yuan"
    ),
    "severity_primary_first_minor_rural": Experiment(
        ("base",), _kpi("grassroots_first.minor"), "base arm: share of minor episodes' first trips to the grassroots"
    ),
    "township_admissions_per_rural_resident_2023": Experiment(
        ("base",), _kpi("township_admission_rate"), "base arm: township-centre admissions per resident a year"
    ),
    "price_elasticity_outpatient_visits_among_users_rural": Experiment(
        ("base", "price"),
        _log_change("price", "visits_total"),
        "every outpatient price +10% against base: elasticity of all visits (the model's visits per episode do not "
        "respond to price)",
    ),
    "price_elasticity_village_clinic_visits_rmhc": Experiment(
        ("base", "village_price"),
        _log_change("village_price", "visits_by_level.village"),
        "the village clinic's price alone +10% against base: elasticity of village-clinic visits",
    ),
    "gatekeeping_pilot_hospital_visits": Experiment(
        ("base", "gatekeeping"),
        _gatekeeping_hospitals,
        "gatekeeping from the first day against base: relative change of county + city visits in its first year",
    ),
    "contract_first_choice_chc_shenzhen": Experiment(
        ("base",),
        _contract_raw,
        "base arm: share of first trips to the grassroots, contracted minus other residents (raw, like the study's "
        "unadjusted figure)",
    ),
    "severity_primary_first_chronic_rural": Experiment(
        ("base",),
        _kpi("grassroots_first.chronic"),
        "base arm: share of chronic follow-ups' first trips to the grassroots",
    ),
    "severity_hypertension_primary_preference_rural": Experiment(
        ("base",), _kpi("grassroots_first.chronic"), "base arm: the same, chronic follow-ups (all conditions)"
    ),
    "willingness_first_visit_phc_meta": Experiment(
        ("base",), _kpi("grassroots_first.all"), "base arm: share of all episodes' first trips to the grassroots"
    ),
    "rural_first_contact_primary_fujian_henan_qinghai": Experiment(
        ("base",), _kpi("grassroots_first.all"), "base arm: the same (all residents; the model's county is rural)"
    ),
    "shandong_willing_primary_first": Experiment(
        ("base",),
        _contract_mix,
        "base arm: share of all episodes' first trips to the grassroots, contracted and other residents weighted as "
        "the survey's sample (75.2% contracted)",
    ),
    "distance_bypass_primary_care_45plus": Experiment(
        ("base",),
        _kpi("hospital_first_45plus"),
        "base arm: share of first trips of minor, chronic and serious episodes of residents 45+ to a county or city "
        "hospital",
    ),
    "hubei_rural_outpatient_upward_rate": Experiment(
        ("base",), lambda arms, p: 1.0 - arms["base"]["grassroots_share"], "base arm: 1 - grassroots share of visits"
    ),
}
"""Every evidence item the model mirrors with these arms, by its id in the evidence file (the remoteness
gradient across townships and the matched contract comparison are in :mod:`health_sim.experiments.validation`)."""


def simulate(params: Params, seed: int, items: list[str]) -> dict[str, float]:
    """The model's value of each item in ``items`` on one county (``seed``), its arms under common random numbers."""
    unknown = [i for i in items if i not in EXPERIMENTS]
    if unknown:
        raise KeyError(f"no simulated experiment for evidence item {unknown[0]}")
    needed = {a for i in items for a in EXPERIMENTS[i].arms}
    over = arm_overrides(params)
    arms = {a: run_arm(with_overrides(params, over[a]) if over[a] else params, seed) for a in over if a in needed}
    return {i: float(EXPERIMENTS[i].value(arms, params)) for i in items}
