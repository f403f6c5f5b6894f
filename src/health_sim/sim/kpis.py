"""KPIs, defined once, by name.

The model tallies *counters* (raw counts and sums of the simulated residents) per
township of residence and per day. Every KPI is a function of counters, so the same
definition gives the run's value (counters summed over days and townships), each
day's value (``daily.parquet``) and each township's value (``township.parquet``).

Counts are reported as full-county equivalents per year: the simulated count
x 365 / days / scale, so runs of any length and scale are comparable with the
county's published yearly figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from health_sim.core.names import KIND_GROUPS, LEVELS

# Counters tallied by township of residence (resident side). All are simulated counts
# or sums over the simulated residents.
COUNTERS: dict[str, str] = {
    "resident_days": "residents alive x days",
    "episodes": "illness episodes that began",
    "episodes_minor": "minor acute episodes",
    "episodes_chronic": "chronic follow-up episodes",
    "episodes_serious": "serious episodes",
    "episodes_emergency": "emergency episodes",
    "episodes_admission": "episodes needing admission",
    "stay_home": "episodes for which the resident sought no care",
    "gave_up": "episodes left unresolved: the resident went home after a facility could not help",
    "visits": "outpatient and emergency visits (first and return visits)",
    **{f"visits_{lvl}": f"visits at {lvl} level" for lvl in LEVELS},
    "trips": "first visits of an episode to a facility (one journey each)",
    "hospital_trips": "first visits to county and city hospitals",
    "hospital_trips_referred": "first visits to county and city hospitals on a formal referral",
    "referrals_up_grassroots": "formal referrals from village or township to county or city",
    "referrals_up_village_township": "formal referrals from village clinic to township centre",
    "referrals_up_county_city": "formal referrals from county to city hospital",
    "referrals_down": "inpatients referred down to a township centre for recovery",
    "referrals_down_county": "of which from county hospitals",
    "admitted": "inpatient admissions",
    "admitted_county": "admissions at county hospitals",
    "admitted_township": "admissions at township centres",
    "admitted_city": "admissions at the city hospital (outside the county)",
    "travel_minutes": "one-way travel minutes over trips",
    "wait_days": "days waited over trips",
    "oop_outpatient": "out-of-pocket yuan for visits",
    "oop_inpatient": "out-of-pocket yuan for admissions",
    "fund": "insurance fund spending, yuan",
    "satisfied": "trips after which the resident was satisfied",
    **{f"trips_{lvl}": f"first visits to {lvl}-level facilities" for lvl in LEVELS},
    **{f"satisfied_{lvl}": f"satisfied trips to {lvl}-level facilities" for lvl in LEVELS},
    "fund_community": "fund spending at village, township and county facilities (the medical community), yuan",
    "fund_income": "fund income from members' contributions, yuan",
    "capitation_budget": "capitation budget paid to the medical community, yuan",
    "fund_community_capitated": "the medical community's fund spending on days paid by capitation, yuan",
    "county_inpatient_days": "inpatient days at county hospitals (of admissions there)",
    "tcm_visits": "visits with TCM services",
    "online_consults": "online (AI-doctor) consultations",
    "chronic_residents": "residents with a diagnosed chronic condition x days",
    "chronic_managed": "of which with enough follow-ups in the past year x days",
    "chronic_controlled": "of which controlled x days",
    "screenings": "screenings at township centres",
    "screening_found": "chronic conditions found by screening (early)",
    "late_diagnoses": "chronic conditions found only at a serious episode (late)",
    "referrals_formal": "formal referrals, upward and downward",
    "referrals_tracked": "of which tracked back (closed loop)",
    "unresolved_township": "trips to township centres that could not resolve the episode",
    **{f"first_trips_{g}": f"first trips of {g} episodes (severe: serious, emergency, admission)" for g in KIND_GROUPS},
    **{f"first_trips_{g}_grassroots": "of which to a village clinic or township centre" for g in KIND_GROUPS},
    "first_trips_contracted": "first trips of residents signed with a family doctor",
    "first_trips_contracted_grassroots": "of which to a village clinic or township centre",
    "first_trips_level": "sum of the levels of first trips (village 1, township 2, county 3, city 4)",
    "first_trips_contracted_level": "the same, residents signed with a family doctor",
    "admitted_township_treatable": "admissions whose episode the patient's township centre could have treated",
    "admitted_township_treatable_hospital": "of which at a county or city hospital",
    "first_trips_serious": "first trips of serious episodes (the serious kind alone: no emergency, no admission)",
    "first_trips_serious_grassroots": "of which to a village clinic or township centre",
    "first_trips_outpatient_45plus": "first trips of minor, chronic and serious episodes of residents aged 45+",
    "first_trips_outpatient_45plus_hospital": "of which to a county or city hospital",
    "referral_returns_due": "first trips of later episodes of residents formally referred up from the grassroots",
    "referral_returns": "of which back to a village clinic or township centre",
    "referral_seekers": "trips to a township centre for the referral a hospital visit needs (gatekeeping)",
    "referral_seekers_resolved": "of which resolved there by the township centre (no hospital visit)",
}

for _first in ("visits_", "trips_", "satisfied_"):  # per-level counters are tallied by offset from the village one
    _names = list(COUNTERS)
    assert [_names.index(f"{_first}{lvl}") for lvl in LEVELS] == list(
        range(_names.index(f"{_first}village"), _names.index(f"{_first}village") + len(LEVELS))
    )

# Counters of the facilities, county-wide (not by township).
FACILITY_COUNTERS: dict[str, str] = {
    "county_bed_days": "occupied bed-days at county hospitals (simulated)",
    "county_bed_capacity_days": "bed-days available at county hospitals (at scale)",
    "township_bed_days": "occupied bed-days at township centres (simulated)",
    "township_bed_capacity_days": "bed-days available at township centres (at scale)",
    "posted_doctor_days": "days doctors of county and city hospitals spent at township centres (real headcount)",
    "rotation_trained_days": (
        "share of township doctors back from rotation training in the last 5 years, summed over days"
    ),
    "rotation_away_doctor_days": "township doctors away at the county people's hospital for rotation training x days",
}


def ratio(a, b):
    """A / b, NaN where b is 0 (works on scalars, arrays and Series)."""
    a = np.asarray(a, dtype=float) if not hasattr(a, "where") else a
    with np.errstate(invalid="ignore", divide="ignore"):
        out = a / b
    return out


@dataclass(frozen=True)
class KPI:
    """A KPI: name, unit, definition and the function that computes it from counters."""

    name: str
    unit: str
    definition: str
    fn: Callable
    parts: tuple[str, ...] = ()  # a KPI with parts gives one value per part
    needs_facility: bool = False  # uses facility counters: county-wide only

    def __call__(self, c: Mapping, days, scale: float):
        """The KPI from counters ``c`` over ``days`` simulated days at ``scale``."""
        return self.fn(c, days, scale)


KPIS: dict[str, KPI] = {}


def kpi(name: str, unit: str, definition: str, parts: tuple[str, ...] = (), needs_facility: bool = False):
    """Decorator that registers a function as the KPI ``name`` in :data:`KPIS`."""

    def register(fn: Callable) -> Callable:
        KPIS[name] = KPI(name, unit, definition, fn, parts, needs_facility)
        return fn

    return register


def per_year(x, days, scale):
    """A simulated count -> full-county equivalent per year."""
    return x * 365.0 / days / scale


@kpi("grassroots_share", "share of visits", "visits at village clinics and township centres / all visits")
def _grassroots(c, days, scale):
    return ratio(c["visits_village"] + c["visits_township"], c["visits"])


@kpi("grassroots_visits", "visits per year", "visits at village clinics and township centres (full-county equivalent)")
def _grassroots_visits(c, days, scale):
    return per_year(c["visits_village"] + c["visits_township"], days, scale)


@kpi("visits_total", "visits per year", "all outpatient and emergency visits (full-county equivalent)")
def _visits_total(c, days, scale):
    return per_year(c["visits"], days, scale)


@kpi("visits_per_resident", "visits per resident-year", "visits / resident-years")
def _visits_per_resident(c, days, scale):
    return ratio(c["visits"] * 365.0, c["resident_days"])


@kpi("visits_by_level", "visits per year", "visits at each level (full-county equivalent)", parts=LEVELS)
def _visits_by_level(c, days, scale):
    return {lvl: per_year(c[f"visits_{lvl}"], days, scale) for lvl in LEVELS}


@kpi("stay_home_share", "share of episodes", "episodes for which no care was sought / episodes")
def _stay_home(c, days, scale):
    return ratio(c["stay_home"], c["episodes"])


@kpi(
    "self_referral_share",
    "share of hospital trips",
    "first visits to county or city hospitals without a formal referral / all such first visits",
)
def _self_referral(c, days, scale):
    return 1.0 - ratio(c["hospital_trips_referred"], c["hospital_trips"])


@kpi(
    "referral_only_visits",
    "visits per year",
    "township-centre visits of patients who came for the referral gatekeeping asks for and went on to a hospital "
    "with it (counted in the grassroots visits; 0 without gatekeeping)",
)
def _referral_only(c, days, scale):
    return per_year(c["referral_seekers"] - c["referral_seekers_resolved"], days, scale)


@kpi(
    "upward_referrals",
    "referrals per year",
    "formal referrals from the grassroots (village, township) to county or city hospitals",
)
def _up(c, days, scale):
    return per_year(c["referrals_up_grassroots"], days, scale)


@kpi(
    "downward_referrals",
    "referrals per year",
    "inpatients referred down from county and city hospitals to township centres",
)
def _down(c, days, scale):
    return per_year(c["referrals_down"], days, scale)


@kpi(
    "downward_inpatient_share",
    "share of admissions",
    "county-hospital inpatients referred down / county-hospital admissions",
)
def _down_share(c, days, scale):
    return ratio(c["referrals_down_county"], c["admitted_county"])


@kpi("admissions", "admissions per year", "inpatient admissions at all levels (full-county equivalent)")
def _admissions(c, days, scale):
    return per_year(c["admitted"], days, scale)


@kpi("mean_travel_minutes", "minutes", "mean one-way travel time per trip to a facility")
def _travel(c, days, scale):
    return ratio(c["travel_minutes"], c["trips"])


@kpi("mean_wait_days", "days", "mean wait per trip to a facility")
def _wait(c, days, scale):
    return ratio(c["wait_days"], c["trips"])


@kpi(
    "oop_per_visit",
    "yuan per visit",
    "out-of-pocket payment for outpatient visits / outpatient visits (visits not ending in an admission)",
)
def _oop(c, days, scale):
    return ratio(c["oop_outpatient"], c["visits"] - c["admitted"])


@kpi("oop_per_admission", "yuan per admission", "out-of-pocket payment for admissions / admissions")
def _oop_adm(c, days, scale):
    return ratio(c["oop_inpatient"], c["admitted"])


@kpi("fund_spending", "yuan per year", "insurance fund payments for visits and admissions (full-county equivalent)")
def _fund(c, days, scale):
    return per_year(c["fund"], days, scale)


@kpi("satisfaction", "share of trips", "trips after which the patient was satisfied (outcome, wait, cost) / trips")
def _satisfaction(c, days, scale):
    return ratio(c["satisfied"], c["trips"])


@kpi(
    "unresolved_share",
    "share of episodes",
    "episodes the resident gave up on after a facility could not help / episodes",
)
def _unresolved(c, days, scale):
    return ratio(c["gave_up"], c["episodes"])


@kpi(
    "county_hospital_occupancy",
    "share of beds",
    "occupied bed-days / available bed-days at the county hospitals",
    needs_facility=True,
)
def _occupancy(c, days, scale):
    return ratio(c["county_bed_days"], c["county_bed_capacity_days"])


@kpi(
    "township_centre_occupancy",
    "share of beds",
    "occupied bed-days / available bed-days at the township centres (downward transfers included)",
    needs_facility=True,
)
def _township_occupancy(c, days, scale):
    return ratio(c["township_bed_days"], c["township_bed_capacity_days"])


@kpi("satisfaction_by_level", "share of trips", "satisfied trips / trips at each level", parts=LEVELS)
def _sat_by_level(c, days, scale):
    return {lvl: ratio(c[f"satisfied_{lvl}"], c[f"trips_{lvl}"]) for lvl in LEVELS}


@kpi(
    "doctor_days_sunk",
    "doctor-days per year",
    "days county and city doctors spent at township centres (stationed and circuit; real headcount, not scaled)",
    needs_facility=True,
)
def _sunk(c, days, scale):
    return c["posted_doctor_days"] * 365.0 / days


@kpi(
    "staff_rotation_trained_share",
    "share of staff",
    "township doctors back from rotation training at the county hospital in the last 5 years / township doctors "
    "(mean over the days; counted doctor by doctor from simulated rotations, not from the rotation rate)",
    needs_facility=True,
)
def _rotation(c, days, scale):
    return c["rotation_trained_days"] / days


@kpi(
    "rotation_training_doctor_days",
    "doctor-days per year",
    "days township doctors spent away at the county people's hospital for rotation training (their centres' lost "
    "capacity; real headcount, not scaled)",
    needs_facility=True,
)
def _rotation_away(c, days, scale):
    return c["rotation_away_doctor_days"] * 365.0 / days


@kpi(
    "chronic_followup_rate",
    "share of residents",
    (
        "residents with a diagnosed chronic condition and >= 4 follow-ups in the past year / residents with one (mean "
        "over days)"
    ),
)
def _followup(c, days, scale):
    return ratio(c["chronic_managed"], c["chronic_residents"])


@kpi(
    "chronic_control_rate",
    "share of residents",
    "residents with a diagnosed chronic condition under control / residents with one (mean over days)",
)
def _control(c, days, scale):
    return ratio(c["chronic_controlled"], c["chronic_residents"])


@kpi(
    "screening_detections",
    "conditions per year",
    "chronic conditions found by screening at township centres (full-county equivalent)",
)
def _screen(c, days, scale):
    return per_year(c["screening_found"], days, scale)


@kpi(
    "early_detection_share",
    "share of diagnoses",
    "chronic conditions found by screening / all new diagnoses (screening + at a serious episode)",
)
def _early(c, days, scale):
    return ratio(c["screening_found"], c["screening_found"] + c["late_diagnoses"])


@kpi(
    "grassroots_first",
    "share of first trips",
    (
        "first trips of an episode to a village clinic or township centre / first trips, by episode kind (severe: "
        "serious, emergency, admission) and for residents with and without a family-doctor contract"
    ),
    parts=("all", *KIND_GROUPS, "contracted", "not_contracted"),
)
def _grassroots_first(c, days, scale):
    every = sum(c[f"first_trips_{g}"] for g in KIND_GROUPS)
    every_g = sum(c[f"first_trips_{g}_grassroots"] for g in KIND_GROUPS)
    out = {"all": ratio(every_g, every)}
    out |= {g: ratio(c[f"first_trips_{g}_grassroots"], c[f"first_trips_{g}"]) for g in KIND_GROUPS}
    out["contracted"] = ratio(c["first_trips_contracted_grassroots"], c["first_trips_contracted"])
    out["not_contracted"] = ratio(every_g - c["first_trips_contracted_grassroots"], every - c["first_trips_contracted"])
    return out


@kpi(
    "first_contact_level",
    "level (village 1 .. city 4)",
    (
        "mean level of the first facility of an episode (village 1, township 2, county 3, city 4), for all residents "
        "and for residents with and without a family-doctor contract"
    ),
    parts=("all", "contracted", "not_contracted"),
)
def _first_contact_level(c, days, scale):
    every = sum(c[f"first_trips_{g}"] for g in KIND_GROUPS)
    return {
        "all": ratio(c["first_trips_level"], every),
        "contracted": ratio(c["first_trips_contracted_level"], c["first_trips_contracted"]),
        "not_contracted": ratio(
            c["first_trips_level"] - c["first_trips_contracted_level"], every - c["first_trips_contracted"]
        ),
    }


@kpi(
    "hospital_first_45plus",
    "share of first trips",
    (
        "first trips of minor, chronic and serious episodes of residents aged 45 or more that go to a county or city "
        "hospital (bypassing the grassroots) / all such first trips"
    ),
)
def _hospital_first_45plus(c, days, scale):
    return ratio(c["first_trips_outpatient_45plus_hospital"], c["first_trips_outpatient_45plus"])


@kpi(
    "grassroots_first_serious",
    "share of first trips",
    (
        "first trips of serious episodes (the serious kind alone, not emergencies or episodes needing admission) to "
        "a village clinic or township centre / those first trips"
    ),
)
def _grassroots_first_serious(c, days, scale):
    return ratio(c["first_trips_serious_grassroots"], c["first_trips_serious"])


@kpi(
    "inpatient_bypass_share",
    "share of admissions",
    (
        "admissions at a county or city hospital whose episode the patient's own township centre could have treated "
        "(severity within its capability for the episode's kind and specialty) / all admissions it could have treated"
    ),
)
def _inpatient_bypass(c, days, scale):
    return ratio(c["admitted_township_treatable_hospital"], c["admitted_township_treatable"])


@kpi(
    "in_county_admission_share",
    "share of admissions",
    "admissions of the county's residents within the county (village, township and county facilities) / all "
    "their admissions (县域内住院率)",
)
def _in_county(c, days, scale):
    return 1.0 - ratio(c["admitted_city"], c["admitted"])


@kpi("township_admission_share", "share of admissions", "admissions at township centres / all admissions")
def _township_admissions(c, days, scale):
    return ratio(c["admitted_township"], c["admitted"])


@kpi(
    "township_admission_rate",
    "admissions per resident-year",
    "admissions at township centres x 365 / resident-days",
)
def _township_admission_rate(c, days, scale):
    return ratio(c["admitted_township"] * 365.0, c["resident_days"])


@kpi("tcm_share", "share of visits", "visits with TCM services / all visits")
def _tcm(c, days, scale):
    return ratio(c["tcm_visits"], c["visits"])


@kpi("online_consultations", "consultations per year", "online (AI-doctor) consultations (full-county equivalent)")
def _online(c, days, scale):
    return per_year(c["online_consults"], days, scale)


@kpi(
    "referral_closed_loop_rate",
    "share of referred patients",
    "patients formally referred up from a village clinic or township centre whose next episode's first trip is "
    "back to one / such patients with a later episode (simulated returns, not the tracking parameter)",
)
def _closed_loop(c, days, scale):
    return ratio(c["referral_returns"], c["referral_returns_due"])


@kpi(
    "township_resolution_share",
    "share of trips",
    "trips to township centres that resolved the episode / trips to township centres",
)
def _town_resolved(c, days, scale):
    return 1.0 - ratio(c["unresolved_township"], c["trips_township"])


@kpi("fund_balance", "yuan per year", "fund income minus fund spending (full-county equivalent)")
def _balance(c, days, scale):
    return per_year(c["fund_income"] - c["fund"], days, scale)


@kpi(
    "capitation_surplus",
    "yuan per year",
    "capitation budget minus the medical community's fund spending while capitation is paid (0 without capitation)",
)
def _surplus(c, days, scale):
    return per_year(c["capitation_budget"] - c["fund_community_capitated"], days, scale)


@kpi("county_hospital_length_of_stay", "days", "inpatient days at county hospitals / county-hospital admissions")
def _los(c, days, scale):
    return ratio(c["county_inpatient_days"], c["admitted_county"])


def evaluate(c: Mapping, days, scale: float, names: list[str] | None = None, facility: bool = True) -> dict:
    """All (or the named) KPIs from counters ``c``.

    Parts are returned as ``name.part`` keys when ``c`` holds arrays or Series, as nested dicts when
    it holds scalars.
    """
    out: dict = {}
    for name, k in KPIS.items():
        if names is not None and name not in names:
            continue
        if k.needs_facility and not facility:
            continue
        v = k(c, days, scale)
        if k.parts:
            if np.ndim(v[k.parts[0]]) == 0:
                out[name] = {p: _clean(v[p]) for p in k.parts}
            else:
                out.update({f"{name}.{p}": v[p] for p in k.parts})
        else:
            out[name] = _clean(v) if np.ndim(v) == 0 else v
    return out


def _clean(v) -> float:
    v = float(v)
    return v if np.isfinite(v) else float("nan")


def describe() -> list[dict]:
    """The KPI catalogue: name, unit, definition."""
    return [{"name": k.name, "unit": k.unit, "definition": k.definition} for k in KPIS.values()]
