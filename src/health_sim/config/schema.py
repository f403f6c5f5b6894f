"""The parameter schema: the single source of names, units, ranges, defaults and sources.

Every model parameter is declared here once, as a pydantic field with a description,
a unit and the source of its default (a publication, a Yangshan government figure, or
"assumption" / "calibrated"). ``params/baseline.yaml`` is a rendering of these
defaults (``health-sim params`` writes it; a test keeps the two in step), and
scenario files override a few keys of it.

Units used throughout: money in yuan (CNY), time in days unless the key says
minutes or hours, rates per resident-year unless said otherwise, shares and
probabilities in [0, 1].
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from health_sim.core.fields import NonNeg, P, Rate, Section, _check_keys, _per_kind
from health_sim.core.names import AGE_BANDS, CONDITIONS, KINDS, LEVELS, SPECIALTIES
from health_sim.policies.registry import PolicyParams

# --- run --------------------------------------------------------------------------


class RunParams(Section):
    """The ``run`` section: length, scale, seed, start date and burn-in of a run."""

    days: int = P(
        365, "Simulated days (one model step is one day).", unit="days", source="default: one year", ge=1, le=3650
    )
    scale: float = P(
        1.0,
        "Share of the county's residents simulated. Facilities stay the same; their capacity and beds scale with it "
        "so that crowding is scale-free. Counts are reported as full-county equivalents.",
        unit="fraction",
        source="default: whole county",
        gt=0.0,
        le=1.0,
    )
    seed: int = P(
        20230101,
        "Seed of every random draw (population, illness, choices).",
        unit="integer",
        source="arbitrary",
        ge=0,
        le=2**63 - 1,
    )
    start_date: dt.date = P(
        dt.date(2023, 1, 1),
        "Calendar date of day 1 (1950-2200).",
        unit="date",
        source="Yangshan 2023 figures",
        ge=dt.date(1950, 1, 1),
        le=dt.date(2200, 12, 31),
    )
    burn_in_days: int = P(
        365,
        (
            "Days simulated before day 1 and not recorded, so that habits, trust and queues start the run in their "
            "steady state."
        ),
        unit="days",
        source=(
            "assumption: a year removes the drift of trust and habits from their starting values "
            "(tests/test_baseline.py checks it)"
        ),
        ge=0,
        le=3650,
    )


# --- county -----------------------------------------------------------------------


class Township(Section):
    """One entry of ``county.townships``: a township's name, residents, villages and position (km)."""

    name: str = P(..., "Township name (pinyin).")
    name_zh: str = P("", "Township name (Chinese).")
    population: int | None = P(
        None,
        (
            "Resident weight: residents are spread over townships in proportion to it. May be left out when "
            "`county.villages` lists the villages: then the sum of its villages."
        ),
        unit="residents",
        ge=0,
    )
    villages: int | None = P(
        None,
        (
            "Administrative villages, each with one village clinic, laid out at random within radius_km. Leave out "
            "when `county.villages` lists them."
        ),
        unit="villages",
        ge=1,
        le=2000,
    )
    x_km: float = P(..., "Township seat position, east of the county seat.", unit="km")
    y_km: float = P(..., "Township seat position, north of the county seat.", unit="km")
    radius_km: float = P(8.0, "Villages lie within this distance of the township seat.", unit="km", gt=0.0)
    urban_share: Rate = P(0.1, "Share of residents living in the town itself (urban).", unit="share")


def _yangshan_townships() -> list[dict]:
    # Names: Yangshan county government (12 towns + 1 Yao ethnic township). Populations:
    # assumption, apportioned so that the county seat holds most of the 154,401 urban
    # residents (2020 census); village counts sum to the 159 village stations; positions are
    # approximate map positions relative to Yangcheng (assumption).
    rows = [
        ("Yangcheng", "阳城镇", 118000, 20, 0.0, 0.0, 9.0, 0.85),
        ("Qigong", "七拱镇", 24000, 12, 14.0, -12.0, 8.0, 0.12),
        ("Taiping", "太平镇", 17000, 10, -18.0, -20.0, 8.0, 0.10),
        ("Dubu", "杜步镇", 14000, 9, -28.0, -10.0, 8.0, 0.10),
        ("Jiangying", "江英镇", 15000, 11, -16.0, 16.0, 9.0, 0.10),
        ("Yangmei", "杨梅镇", 16000, 12, 8.0, 18.0, 9.0, 0.10),
        ("Qinglian", "青莲镇", 30000, 16, 30.0, -26.0, 10.0, 0.15),
        ("Libu", "黎埠镇", 36000, 17, -38.0, -6.0, 10.0, 0.15),
        ("Xiaojiang", "小江镇", 26000, 13, -10.0, 30.0, 10.0, 0.12),
        ("Dalang", "大崀镇", 15000, 9, 26.0, 6.0, 9.0, 0.10),
        ("Lingbei", "岭背镇", 22000, 11, 20.0, 32.0, 10.0, 0.10),
        ("Huangben", "黄坌镇", 20000, 10, 2.0, 44.0, 11.0, 0.10),
        ("Chengjia", "秤架瑶族乡", 14175, 9, -8.0, 60.0, 12.0, 0.08),
    ]
    keys = ("name", "name_zh", "population", "villages", "x_km", "y_km", "radius_km", "urban_share")
    return [dict(zip(keys, r, strict=True)) for r in rows]


TRAVEL_TARGETS = ("village_clinic", "township_centre", "county", "city")
"""Keys of a village's travel minutes: its own clinic, its township centre, the county hospitals, the city hospital."""


class Village(Section):
    """One entry of ``county.villages``: a village's township, residents, position (km) and travel minutes."""

    township: str = P(..., "Township the village belongs to (a name in `county.townships`).")
    name: str = P("", "Village name.")
    population: int = P(..., "Residents of the village (its share of its township).", unit="residents", ge=0)
    x_km: float | None = P(
        None, "Position east of the county seat; may be left out when travel_minutes gives all four times.", unit="km"
    )
    y_km: float | None = P(None, "Position north of the county seat.", unit="km")
    urban: bool = P(False, "The village is the town itself (urban residents: more employee-scheme members).")
    travel_minutes: dict[str, NonNeg] = P(
        dict,
        (
            "One-way travel minutes to village_clinic, township_centre, county, city; any left out are computed from "
            "the position and the road parameters."
        ),
        unit="minutes",
    )

    @field_validator("travel_minutes")
    @classmethod
    def _targets(cls, v: dict) -> dict:
        return _check_keys(v, TRAVEL_TARGETS, "travel target", need_all=False)

    @model_validator(mode="after")
    def _placed(self) -> Village:
        if (self.x_km is None) != (self.y_km is None):
            raise ValueError("give both x_km and y_km, or neither")
        if self.x_km is None and len(self.travel_minutes) < len(TRAVEL_TARGETS):
            raise ValueError(
                f"village '{self.name}': give x_km and y_km, or all four travel minutes ({', '.join(TRAVEL_TARGETS)})"
            )
        return self


def county_problems(townships: list, villages: list) -> list[tuple[str, int, str, str]]:
    """What is wrong between the townships and the villages.

    (``"township"`` or ``"village"``, index in its list, key, message) for each problem. Used by
    the schema and, with row numbers, by the county file-set reader.
    """
    names = [t.name for t in townships]
    out = []
    for i, name in enumerate(names):
        if name in names[:i]:
            out.append(("township", i, "name", f"'{name}' repeats (township names must be unique)"))
    for i, village in enumerate(villages):
        if village.township not in names:
            close = difflib.get_close_matches(village.township, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            out.append(("village", i, "township", f"'{village.township}' is not one of the townships{hint}"))
    listed = {village.township for village in villages}
    for i, t in enumerate(townships):
        if villages and t.name not in listed:
            out.append(("township", i, "name", f"'{t.name}' has no village (every township needs at least one)"))
        elif not villages and t.villages is None:
            out.append(
                ("township", i, "villages", f"missing for '{t.name}' (give the number of villages, or list them)")
            )
        elif not villages and t.population is None:
            out.append(("township", i, "population", f"missing for '{t.name}'"))
        elif villages and t.population is not None:
            total = sum(x.population for x in villages if x.township == t.name)
            if abs(total - t.population) > max(0.01 * t.population, 1):
                out.append(
                    ("township", i, "population", f"{t.population} for '{t.name}', but its villages sum to {total}")
                )
    return out


class CountyParams(Section):
    """The ``county`` section: townships, villages, the county seat, the city hospital and the roads."""

    name: str = P("Yangshan", "County name.", source="Yangshan county, Qingyuan, Guangdong")
    population: int = P(
        367175,
        "Resident population at scale 1 (at most 100 million).",
        unit="residents",
        source="2020 census",
        ge=1,
        le=100_000_000,
    )
    townships: list[Township] = P(
        _yangshan_townships,
        "Townships, each with a township health centre (1 to 500).",
        source="Yangshan county government",
        min_length=1,
        max_length=500,
    )
    villages: list[Village] = P(
        list,
        (
            "Villages one by one (population, position or travel times; at most 100,000). When empty, each township's "
            "`villages` are laid out at random around its seat."
        ),
        source="Yangshan: laid out at random (assumption)",
        max_length=100_000,
    )
    county_seat: str = P("Yangcheng", "Township holding the county hospitals.", source="Yangshan county government")
    city_x_km: float = P(
        55.0,
        "Position of the city tertiary hospital (Qingyuan), east of the county seat.",
        unit="km",
        source="assumption (map)",
    )
    city_y_km: float = P(
        -75.0, "Position of the city tertiary hospital, north of the county seat.", unit="km", source="assumption (map)"
    )
    road_km_per_hour: float = P(
        38.0,
        "Average road speed between villages and facilities.",
        unit="km/h",
        source="assumption (mountain roads)",
        gt=0.0,
    )
    road_winding: float = P(
        1.4, "Road distance / straight-line distance.", unit="ratio", source="assumption (mountain county)", ge=1.0
    )
    access_minutes: float = P(
        5.0,
        "Minutes added to every road trip (to and from the road, registration desk).",
        unit="minutes",
        source="assumption",
        ge=0.0,
    )
    hospital_extra_minutes: float = P(
        0.0,
        (
            "Minutes added to every trip to the county hospitals and the city hospital, on top of the computed or "
            "given times (the validation's remoteness arm adds 60: every resident an hour farther from them)."
        ),
        unit="minutes",
        source="0: the county as it is",
        ge=0.0,
        le=600.0,
    )
    expressway_winding: float = P(
        1.2,
        "Expressway distance / straight-line distance from the county seat to the city.",
        unit="ratio",
        source="assumption",
        ge=1.0,
    )
    expressway_km_per_hour: float = P(
        70.0, "Speed from the county seat to the city hospital (expressway).", unit="km/h", source="assumption", gt=0.0
    )
    village_clinic_minutes: tuple[float, float] = P(
        (3.0, 15.0),
        "Range of travel minutes to the own village clinic.",
        unit="minutes",
        source="NHSS 2018: 89.9% of households within 15 minutes of a facility",
    )

    @field_validator("townships")
    @classmethod
    def _unique(cls, v: list) -> list:
        names = [t.name for t in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"township names must be unique ('{dup[0]}' repeats)")
        return v

    @model_validator(mode="after")
    def _villages_and_townships(self) -> CountyParams:
        for what, i, key, msg in county_problems(self.townships, self.villages):
            raise ValueError(f"{what}s.{i}.{key}: {msg}")
        return self

    @field_validator("county_seat")
    @classmethod
    def _seat_exists(cls, v: str, info: ValidationInfo) -> str:
        names = [t.name for t in info.data.get("townships", [])]
        if names and v not in names:
            close = difflib.get_close_matches(v, names, n=1)
            raise ValueError(f"'{v}' is not one of the townships" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return v

    @field_validator("village_clinic_minutes")
    @classmethod
    def _minutes(cls, v: tuple) -> tuple:
        lo, hi = v
        if not 0 <= lo <= hi:
            raise ValueError("must be (low, high) with 0 <= low <= high")
        return v


# --- population -------------------------------------------------------------------


def _band(values: tuple[float, ...]) -> Any:
    return lambda: dict(zip(AGE_BANDS, values, strict=True))


class ChronicCondition(Section):
    """One entry of ``population.conditions``: prevalence by age band, diagnosed share, late diagnosis."""

    prevalence: dict[str, Rate] = P(..., "Prevalence by age band.", unit="share of residents")
    diagnosed: Rate = P(..., "Share of prevalent cases already diagnosed (aware) at the start.", unit="share")
    late_diagnosis: Rate = P(
        0.05,
        "Probability that a serious, emergency or admission episode reveals the condition when undiagnosed.",
        unit="probability per episode",
        source=(
            "assumption, set by hand so that awareness stays near its starting value against turnover in the baseline"
        ),
    )

    @field_validator("prevalence")
    @classmethod
    def _bands(cls, v: dict) -> dict:
        return _check_keys(v, AGE_BANDS, "age band")


def _conditions() -> dict:
    return {
        # Wang Z et al. 2018, Circulation (China Hypertension Survey): 23.2% of adults, awareness 46.9%.
        "hypertension": {"prevalence": dict(zip(AGE_BANDS, (0.0, 0.10, 0.35, 0.55), strict=True)), "diagnosed": 0.469},
        # Li Y et al. 2020, BMJ: 12.8% of adults, awareness 43.3%.
        "diabetes": {"prevalence": dict(zip(AGE_BANDS, (0.0, 0.05, 0.14, 0.20), strict=True)), "diagnosed": 0.433},
        # Wang C et al. 2018, Lancet (China Pulmonary Health): 13.7% of 40+; few ever tested (12%).
        "copd": {
            "prevalence": dict(zip(AGE_BANDS, (0.0, 0.02, 0.10, 0.22), strict=True)),
            "diagnosed": 0.25,
            "late_diagnosis": 0.02,
        },
    }


class PopulationParams(Section):
    """The ``population`` section: ages, sex, insurance scheme, chronic conditions, contracts and trust."""

    age_shares: dict[str, Rate] = P(
        _band((0.21, 0.36, 0.27, 0.16)),
        "Share of residents in each age band.",
        unit="share",
        source="assumption from the 2020 census of Qingyuan (rural Guangdong, many elderly left behind)",
    )
    female_share: Rate = P(0.48, "Share of residents who are female.", unit="share", source="2020 census (Qingyuan)")
    employee_scheme_share_urban: Rate = P(
        0.30,
        "Share of urban residents aged 18-64 in the employee scheme (the rest: urban-rural resident scheme).",
        unit="share",
        source="assumption",
    )
    employee_scheme_share_rural: Rate = P(
        0.05, "Share of rural residents aged 18-64 in the employee scheme.", unit="share", source="assumption"
    )
    conditions: dict[str, ChronicCondition] = P(
        _conditions, "Chronic conditions: prevalence by age band and the diagnosed share.", source="see each condition"
    )
    contract_rate: Rate = P(
        0.28,
        "Share of residents signed with a family doctor.",
        unit="share",
        source="DOMAIN: sign-up ~28% in a three-province survey",
    )
    income_rural_median_yuan: float = P(
        20000.0,
        "Median disposable income of rural residents (the price weights of seeking care are set for it).",
        unit="yuan per person-year",
        source=(
            "assumption for Yangshan 2023 (its bulletin was not seen), between Lianzhou, a mountain county of the same "
            "city, 17,399 yuan in 2021 (Lianzhou statistics bureau, lianzhou.gov.cn) and Guangdong's rural 25,142 yuan "
            "in 2023 (NBS Guangdong survey team); only incomes relative to it matter to the model"
        ),
        gt=0.0,
    )
    income_urban_ratio: float = P(
        2.0,
        "Urban residents' median disposable income over rural residents'.",
        unit="ratio",
        source="Lianzhou 2021: urban 34,221 against rural 17,399 yuan (ratio 1.97; lianzhou.gov.cn)",
        ge=1.0,
        le=5.0,
    )
    income_log_sd: float = P(
        0.54,
        "Standard deviation of log disposable income between residents of the same area (log-normal incomes).",
        unit="log yuan",
        source=(
            "NBS 2023, rural China: mean 21,691 and median 18,748 yuan a person; for a log-normal, mean / median = "
            "exp(sd^2 / 2), so sd = 0.54"
        ),
        ge=0.0,
        le=2.0,
    )
    contract_priority_odds: float = P(
        2.5,
        "Odds ratio of being signed for residents aged 65+ or with a diagnosed chronic condition.",
        unit="odds ratio",
        source="assumption (policy signs the elderly and chronic first)",
        ge=1.0,
    )
    reputation: dict[str, Rate] = P(
        lambda: {"village": 0.50, "township": 0.55, "county": 0.75, "city": 0.90},
        (
            "Reputation of each level: the trust residents start with and are pulled back to by what they hear (0 "
            "none, 1 full)."
        ),
        unit="score in [0, 1]",
        source="assumption; DOMAIN: 65.7% of those refusing a family doctor doubt the doctor's skill",
    )
    trust_sd: float = P(
        0.12,
        "Standard deviation of initial trust between residents.",
        unit="score",
        source="assumption",
        ge=0.0,
        le=0.5,
    )

    @field_validator("age_shares")
    @classmethod
    def _ages(cls, v: dict) -> dict:
        _check_keys(v, AGE_BANDS, "age band")
        if abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"age shares sum to {sum(v.values()):.4f}, not 1")
        return v

    @field_validator("conditions")
    @classmethod
    def _conds(cls, v: dict) -> dict:
        return _check_keys(v, CONDITIONS, "condition")

    @field_validator("reputation")
    @classmethod
    def _trust(cls, v: dict) -> dict:
        return _check_keys(v, LEVELS, "level")


class ChronicParams(Section):
    """Chronic-disease management: follow-up, control, and what poor control costs."""

    followups_for_control: int = P(
        4,
        "Follow-up visits in the past year that count as managed.",
        unit="visits per year",
        source="DOMAIN: >= 4 face-to-face follow-ups a year for hypertension and type-2 diabetes",
        ge=1,
    )
    control_if_managed: Rate = P(
        0.6,
        "Probability that a diagnosed condition is controlled when managed.",
        unit="probability",
        source="assumption",
    )
    control_if_not_managed: Rate = P(
        0.3,
        "Probability that a diagnosed condition is controlled without regular follow-up.",
        unit="probability",
        source="assumption",
    )
    turnover_per_year: float = P(
        0.05,
        (
            "Rate at which a diagnosed condition gives way to an undiagnosed one (deaths, migration and new cases in "
            "the same resident slot), keeping awareness steady."
        ),
        unit="per year",
        source="assumption",
    )
    uncontrolled_risk_factor: float = P(
        1.5,
        (
            "Multiplier of serious, emergency and admission episode rates for residents with an uncontrolled (or "
            "undiagnosed) chronic condition."
        ),
        unit="factor",
        source="assumption",
        ge=1.0,
    )


HAND_SET = (
    "set by hand (issue 15) with the county's 2023 reforms on, to Yangshan's 2023 figures and the rural price "
    "elasticity of seeking care -0.52, when the first Bayesian fit did not converge; the converged posterior "
    "(params/calibrated/yangshan_2023.yaml) replaces it in scenario runs that draw from it"
)
"""Where the defaults set by hand in issue 15 come from (said in each one's source)."""


# --- episodes ---------------------------------------------------------------------


def _rates() -> dict:
    return {
        "minor": dict(zip(AGE_BANDS, (7.5, 4.5, 4.88, 5.5), strict=True)),  # x 1.25 (issue 15): see the source
        "serious": dict(zip(AGE_BANDS, (0.12, 0.22, 0.34, 0.50), strict=True)),
        "emergency": dict(zip(AGE_BANDS, (0.03, 0.04, 0.05, 0.09), strict=True)),
        "admission": dict(zip(AGE_BANDS, (0.06, 0.08, 0.16, 0.34), strict=True)),
    }


def _spec_mix() -> dict:
    z = dict.fromkeys(SPECIALTIES, 0.0)
    return {
        "minor": {**z, "internal_general": 0.72, "surgery": 0.08, "obstetrics_gynaecology": 0.04, "tcm": 0.16},
        "chronic": {**z, "internal_general": 0.88, "tcm": 0.12},
        "serious": {
            **z,
            "internal_general": 0.40,
            "surgery": 0.25,
            "emergency_cardiology": 0.17,
            "obstetrics_gynaecology": 0.10,
            "tcm": 0.08,
        },
        "emergency": {**z, "internal_general": 0.15, "surgery": 0.35, "emergency_cardiology": 0.50},
        "admission": {
            **z,
            "internal_general": 0.40,
            "surgery": 0.27,
            "emergency_cardiology": 0.13,
            "obstetrics_gynaecology": 0.15,
            "tcm": 0.05,
        },
    }


class EpisodeParams(Section):
    """The ``episodes`` section: rates per resident-year, specialty mix, admissions and return visits."""

    rates: dict[str, dict[str, NonNeg]] = P(
        _rates,
        "Episodes per resident-year by kind (minor, serious, emergency, admission) and age band.",
        unit="episodes per resident-year",
        source=(
            "assumption, set by hand so that use is near 6.6 visits per resident-year (Yangshan 2023) before the "
            "stay-home utilities are calibrated; minor x 1.25 in issue 15, when the price of seeking care began to "
            "keep residents home: " + HAND_SET
        ),
    )
    chronic_followups_per_condition: NonNeg = P(
        7.0,
        "Follow-up episodes per diagnosed chronic condition a year (medication, checks).",
        unit="episodes per condition-year",
        source="DOMAIN: protocol >= 4 face-to-face follow-ups a year; refills add more (assumption)",
    )
    specialty_mix: dict[str, dict[str, Rate]] = P(
        _spec_mix,
        (
            "Specialty an episode needs, by kind (adults; children's internal_general is paediatrics; men's "
            "obstetrics_gynaecology is internal_general)."
        ),
        unit="share",
        source="assumption",
    )
    admit_probability: dict[str, Rate] = P(
        _per_kind({"minor": 0.0, "chronic": 0.0, "serious": 0.08, "emergency": 0.45, "admission": 1.0}),
        "Probability that a resolved episode is admitted as an inpatient.",
        unit="probability",
        source="assumption",
    )
    extra_visits: dict[str, NonNeg] = P(
        _per_kind({"minor": 0.55, "chronic": 0.0, "serious": 1.0, "emergency": 0.3, "admission": 0.0}),
        "Mean return visits to the same facility for an episode resolved there as an outpatient.",
        unit="visits per episode",
        source="assumption (infusions and re-checks are common)",
    )

    @field_validator("rates")
    @classmethod
    def _r(cls, v: dict) -> dict:
        _check_keys(v, ("minor", "serious", "emergency", "admission"), "episode kind")
        for row in v.values():
            _check_keys(row, AGE_BANDS, "age band")
        return v

    @field_validator("specialty_mix")
    @classmethod
    def _s(cls, v: dict) -> dict:
        _check_keys(v, KINDS, "episode kind")
        for k, row in v.items():
            _check_keys(row, SPECIALTIES, "specialty", need_all=False)
            if abs(sum(row.values()) - 1.0) > 1e-6:
                raise ValueError(f"specialty shares for '{k}' sum to {sum(row.values()):.4f}, not 1")
        return v

    @field_validator("admit_probability", "extra_visits")
    @classmethod
    def _k(cls, v: dict) -> dict:
        return _check_keys(v, KINDS, "episode kind")


# --- facilities -------------------------------------------------------------------


class FacilityType(Section):
    """One type of the ``facilities`` section: doctors, capacity, beds, prices (yuan), waits, capability."""

    doctors: dict[str, Annotated[float, Field(ge=0.0, le=5000.0)]] = P(
        ...,
        (
            "Doctors by specialty: per facility for hospitals and clinics; per 10,000 residents of the township for "
            "township centres (at most 5,000)."
        ),
        unit="doctors",
    )
    visits_per_doctor_day: float = P(
        ..., "Outpatient visits a doctor can see in a day.", unit="visits per doctor-day", gt=0.0
    )
    beds: float = P(
        ...,
        "Inpatient beds per facility (per 10,000 residents for township centres; at most 100,000).",
        unit="beds",
        ge=0.0,
        le=100_000.0,
    )
    price_visit: NonNeg = P(..., "Price of an outpatient visit.", unit="yuan per visit")
    price_admission: NonNeg = P(..., "Price of an admission.", unit="yuan per admission")
    length_of_stay: float = P(..., "Mean length of an inpatient stay.", unit="days", gt=0.0)
    base_wait_days: NonNeg = P(..., "Wait at an uncrowded facility (registration, queue).", unit="days")
    capability: dict[str, Rate] = P(
        ..., "Share of episodes of each kind it can resolve (severity threshold).", unit="share of episodes"
    )
    missing_specialty_factor: Rate = P(
        ..., "Capability multiplier for a specialty none of its doctors has.", unit="factor"
    )
    serves: Literal["all", "women_children"] = P(
        "all", "Who may use it: everyone, or only children (<15) and women 15-49."
    )

    @field_validator("doctors")
    @classmethod
    def _d(cls, v: dict) -> dict:
        return _check_keys(v, SPECIALTIES, "specialty", need_all=False)

    @field_validator("capability")
    @classmethod
    def _c(cls, v: dict) -> dict:
        return _check_keys(v, KINDS, "episode kind")


def _cap(*v: float) -> dict:
    return dict(zip(KINDS, v, strict=True))


def _facility_defaults() -> dict:
    return {
        # Village clinic: one or two village doctors, basic drugs (DOMAIN). Price: assumption.
        "village_clinic": dict(
            doctors={"internal_general": 1.6},
            visits_per_doctor_day=24.0,
            beds=0.0,
            price_visit=30.0,
            price_admission=0.0,
            length_of_stay=1.0,
            base_wait_days=0.02,
            capability=_cap(0.82, 0.80, 0.08, 0.05, 0.0),
            missing_specialty_factor=0.6,
        ),
        # Township centre: GPs, a few beds, TCM hall. Price per visit/admission: 49.2/1,141 yuan (2012), inflated
        # (assumption).
        # Beds per 10,000: 31.6, the national 1.505 million township-centre beds (2023) over 477.0 million rural
        # residents.
        "township_centre": dict(
            doctors={
                "internal_general": 3.4,
                "surgery": 0.4,
                "paediatrics": 0.2,
                "obstetrics_gynaecology": 0.3,
                "tcm": 0.9,
            },
            visits_per_doctor_day=16.0,
            beds=31.6,
            price_visit=60.0,
            price_admission=1600.0,
            length_of_stay=6.0,
            base_wait_days=0.04,
            capability=_cap(0.95, 0.93, 0.42, 0.30, 0.40),
            missing_specialty_factor=0.55,
        ),
        # County people's hospital (medical-community lead). Secondary-hospital prices 219 / 6,762 yuan (national 2023).
        "county_people": dict(
            doctors={
                "internal_general": 95,
                "surgery": 70,
                "paediatrics": 22,
                "emergency_cardiology": 30,
                "obstetrics_gynaecology": 25,
                "tcm": 8,
            },
            visits_per_doctor_day=6.0,
            beds=876.0,
            price_visit=219.0,
            price_admission=6762.0,
            length_of_stay=8.0,
            base_wait_days=0.12,
            capability=_cap(0.99, 0.98, 0.86, 0.85, 0.85),
            missing_specialty_factor=0.7,
        ),
        "county_tcm": dict(
            doctors={"internal_general": 25, "surgery": 12, "tcm": 45},
            visits_per_doctor_day=6.0,
            beds=220.0,
            price_visit=180.0,
            price_admission=5200.0,
            length_of_stay=9.0,
            base_wait_days=0.10,
            capability=_cap(0.98, 0.97, 0.75, 0.55, 0.75),
            missing_specialty_factor=0.6,
        ),
        "county_mch": dict(
            doctors={"paediatrics": 28, "obstetrics_gynaecology": 30, "internal_general": 6},
            visits_per_doctor_day=6.0,
            beds=110.0,
            price_visit=170.0,
            price_admission=4200.0,
            length_of_stay=5.0,
            base_wait_days=0.10,
            capability=_cap(0.98, 0.95, 0.80, 0.70, 0.80),
            missing_specialty_factor=0.5,
            serves="women_children",
        ),
        # City tertiary hospital (Qingyuan): public tertiary 354 / 13,931 yuan (national 2023); its capacity
        # is large against the county's demand.
        "city_tertiary": dict(
            doctors={
                "internal_general": 300,
                "surgery": 250,
                "paediatrics": 80,
                "emergency_cardiology": 120,
                "obstetrics_gynaecology": 90,
                "tcm": 30,
            },
            visits_per_doctor_day=8.0,
            beds=3000.0,
            price_visit=354.0,
            price_admission=13931.0,
            length_of_stay=10.0,
            base_wait_days=0.25,
            capability=_cap(1.0, 1.0, 1.0, 1.0, 1.0),
            missing_specialty_factor=0.9,
        ),
    }


class FacilityParams(Section):
    """The ``facilities`` section: the six facility types and the memory of crowding (days)."""

    village_clinic: FacilityType = P(
        ...,
        "Village clinics, one per administrative village.",
        source=(
            "DOMAIN: one or two village doctors, basic drugs, minor illness and chronic follow-up; price, capacity "
            "and capability: assumption"
        ),
    )
    township_centre: FacilityType = P(
        ...,
        "Township health centres, one per township (doctors and beds per 10,000 residents).",
        source=(
            "prices: 49.2 yuan a visit and 1,141 an admission in 2012 (DOMAIN), raised for 2023 (assumption); beds "
            "31.6 per 10,000 residents: 1.505 million township-centre beds at the end of 2023 (NHC statistical "
            "bulletin) over 477.0 million rural residents (National Bureau of Statistics), applied to every "
            "township's residents, the county seat's too (its centre stands in for the town's community health "
            "centres), so the county has more township beds than its rural residents alone would give; capability: "
            "assumption"
        ),
    )
    county_people: FacilityType = P(
        ...,
        "County people's hospital, lead of the county medical community.",
        source=(
            "prices: secondary hospitals 219 yuan a visit, 6,762 an admission (national 2023, DOMAIN); beds 876: the "
            "posterior median of the Bayesian fit (params/calibrate/yangshan_evidence.yaml; 90%: 715-1,034), pinned by "
            "public hospitals' bed occupancy (86%, 2023) with the in-county admission share of Guangdong's counties "
            "(params/validation/evidence.yaml); 620 assumed before; staff, capability: assumption"
        ),
    )
    county_tcm: FacilityType = P(..., "County TCM hospital.", source="assumption")
    county_mch: FacilityType = P(
        ..., "County maternal and child health hospital (children and women 15-49 only).", source="assumption"
    )
    city_tertiary: FacilityType = P(
        ...,
        "City tertiary hospital (Qingyuan), outside the county.",
        source=(
            "prices: public tertiary 354 yuan a visit, 13,931 an admission (national 2023, DOMAIN); capacity large "
            "against the county's demand"
        ),
    )
    wait_memory_days: float = P(
        7.0,
        (
            "Memory of crowding: a facility's demand is the exponential average of its daily visits over this many "
            "days; sustained demand above capacity builds a queue."
        ),
        unit="days",
        source="assumption",
        ge=1.0,
    )


def _facility_params() -> FacilityParams:
    return FacilityParams(**{k: FacilityType(**v) for k, v in _facility_defaults().items()})


# --- choice -----------------------------------------------------------------------


class ChoiceWeights(Section):
    """Preference weights of the multinomial logit; utilities relative to staying home."""

    asc: dict[str, float] = P(
        ...,
        "Alternative-specific constant of each level.",
        unit="utility",
        source="calibrated to Yangshan 2023 grassroots share 67.1%",
    )
    quality: float = P(
        ..., "Weight on the facility's capability to resolve the episode (0-1).", unit="utility per unit capability"
    )
    trust: float = P(..., "Weight on the resident's trust in the level (0-1).", unit="utility per unit trust")
    cost_per_100_yuan: float = P(
        ..., "Weight on expected out-of-pocket cost after reimbursement.", unit="utility per 100 yuan", le=0.0
    )
    travel_per_hour: float = P(..., "Weight on one-way travel time.", unit="utility per hour", le=0.0)
    wait_per_day: float = P(..., "Weight on expected waiting.", unit="utility per day", le=0.0)
    contract: float = P(
        ..., "Bonus for the grassroots (village, township) if signed with a family doctor.", unit="utility"
    )
    habit: float = P(..., "Bonus for the level used last time.", unit="utility")
    employee_hospital: float = P(
        ..., "Bonus for county and city hospitals for employee-scheme members.", unit="utility"
    )
    seek_cost_per_100_yuan: float = P(
        0.0,
        (
            "Weight of the expected out-of-pocket bill on the decision to seek care at all (staying home against any "
            "visit), for a resident at the rural median income; a resident's weight is this times the rural median "
            "over his own income. The bill is each facility's expected out-of-pocket cost weighted by the chance he "
            "would choose it. It moves no one between facilities."
        ),
        unit="utility per 100 yuan at the rural median income",
        le=0.0,
    )

    @field_validator("asc")
    @classmethod
    def _a(cls, v: dict) -> dict:
        return _check_keys(v, LEVELS, "level")


class ChoiceParams(Section):
    """The ``choice`` section: logit weights of minor and severe episodes, and the utility of staying home."""

    minor: ChoiceWeights = P(
        lambda: ChoiceWeights(
            asc={"village": 1.1, "township": 0.0, "county": -0.82, "city": -0.58},
            quality=4.5,  # Yu et al. 2021, BMJ Open: good treatment effect 4.50
            trust=2.0,  # assumption
            # Jia et al. 2020, IJERPH: WTP 102.8 yuan for travel under 30 min, with travel_per_hour
            cost_per_100_yuan=-0.50,
            travel_per_hour=-1.0,
            wait_per_day=-2.0,  # assumption
            contract=0.6,  # assumption, same order as good communication 0.77 (Yu et al. 2021)
            habit=0.8,  # assumption
            employee_hospital=1.69,  # ln(5.4): employee-insured OR 5.4 of going first to a general hospital (DOMAIN)
            seek_cost_per_100_yuan=-7.0,  # set by hand to the rural price elasticity of seeking care -0.52 (see source)
        ),
        "Weights for minor acute and chronic follow-up episodes.",
        source=(
            "quality 4.5: Yu et al. 2021 BMJ Open, good treatment effect 4.50 (hypertension DCE); cost -0.5 per 100 "
            "yuan with travel -1.0 per hour: Jia et al. 2020 IJERPH, willingness to pay 102.8 yuan for travel under "
            "30 minutes (0.5 h x 1.0 / 0.005 = 100 yuan); contract 0.6: assumption, the order of good communication "
            "0.77 (Yu et al. 2021); employee_hospital 1.69 = ln 5.4, odds ratio of employee-insured going first to a "
            "general hospital (DOMAIN); asc: calibrated by scripts/calibrate_baseline.py, village " + HAND_SET + "; "
            "seek_cost: " + HAND_SET + "; trust, wait, habit: assumption"
        ),
    )
    severe: ChoiceWeights = P(
        lambda: ChoiceWeights(
            asc={"village": 0.64, "township": 0.0, "county": 1.35, "city": -1.96},
            quality=6.0,  # assumption: for severe illness quality dominates (DOMAIN)
            trust=2.5,
            cost_per_100_yuan=-0.02,  # price barely matters for severe illness (DOMAIN)
            travel_per_hour=-0.5,
            wait_per_day=-0.8,
            contract=0.3,
            habit=0.4,
            employee_hospital=1.69,
            seek_cost_per_100_yuan=0.0,  # assumption: no severe price item is fitted yet (see the evidence file)
        ),
        "Weights for serious, emergency and admission episodes.",
        source=(
            "for severe illness quality dominates and price barely matters (DOMAIN): quality 6.0 > 4.5 and cost -0.02 "
            "per 100 yuan (a 25th of the minor weight), assumption within that prior; employee_hospital ln 5.4 "
            "(DOMAIN); asc village: calibrated by scripts/calibrate_baseline.py; asc county 1.35 and city -1.96: "
            "posterior medians of the Bayesian fit (params/calibrate/yangshan_evidence.yaml; 90%: 0.76 to 1.89 and "
            "-2.89 to -0.53), pinned by serious first contact and the in-county admission share of Guangdong's "
            "counties (params/validation/evidence.yaml); others: assumption"
        ),
    )
    township_admission: float = P(
        4.06,
        (
            "Pull of the patient's own township centre for an episode it can treat (severity within its capability "
            "for the episode's kind and specialty), in proportion to the episode's chance of admission: the utility "
            "added to the township-centre column is this times the kind's admit_probability (a full pull for an "
            "episode needing admission, 0.45 of it for an emergency, 0.08 for a serious episode, none for minor and "
            "chronic ones). It stands for what routes an admission the rules assign to primary care to it (doctors' "
            "admission decisions, the referral rules, lower deductibles) beyond the severe weights, which serious "
            "first contact pins towards hospitals. 0: admissions are chosen with the severe weights alone."
        ),
        unit="utility at an admission probability of 1",
        ge=0.0,
        le=10.0,
        source=(
            "fitted (params/calibrate/yangshan_evidence.yaml) to the Hubei rural inpatient bypass rate, 0.56 (Lu et "
            "al. 2022, params/validation/evidence.yaml): 4.06 is the posterior median (90%: 3.28-4.79)"
        ),
    )
    stay_home_utility: dict[str, float] = P(
        _per_kind({"minor": 3.5, "chronic": 2.8, "serious": -1.5, "emergency": -6.0, "admission": -4.0}),
        "Utility of staying home (self-treating) by episode kind.",
        unit="utility",
        source="minor and chronic: 1.6334 million grassroots visits in 2023, " + HAND_SET + "; others: assumption",
    )

    @field_validator("stay_home_utility")
    @classmethod
    def _h(cls, v: dict) -> dict:
        return _check_keys(v, KINDS, "episode kind")


# --- referral and satisfaction ----------------------------------------------------


class ReferralParams(Section):
    """The ``referral`` section: formal upward and downward referral, and closed-loop tracking."""

    formal_upward: dict[str, Rate] = P(
        lambda: {"village": 0.007, "township": 0.009, "county": 0.25, "city": 0.0},
        (
            "Probability that an episode beyond a facility's capability is formally referred up (else the patient "
            "goes up on his own or gives up)."
        ),
        unit="probability",
        source=("village and township: Yangshan 2023, 1,031 upward referrals from the grassroots, " + HAND_SET),
    )
    downward: dict[str, Rate] = P(
        lambda: {"village": 0.0, "township": 0.0, "county": 0.013, "city": 0.008},
        "Probability that an inpatient is referred down to the own township centre for recovery.",
        unit="probability",
        source=(
            "county: Yangshan 2023, 1,152 downward referrals with the two-way-referral push of the baseline (x 1.5), "
            + HAND_SET
            + "; city: national tertiary 0.6-0.9%"
        ),
    )
    closed_loop_tracking: Rate = P(
        0.3,
        "Share of formally referred patients whose return is tracked (sent back to their grassroots facility).",
        unit="share",
        source="assumption (target 95%, DOMAIN)",
    )
    acute_share_of_stay: Rate = P(
        0.6,
        "Share of a downward-referred inpatient's stay spent at the referring hospital.",
        unit="share",
        source="assumption",
    )

    @field_validator("formal_upward", "downward")
    @classmethod
    def _l(cls, v: dict) -> dict:
        return _check_keys(v, LEVELS, "level")


class SatisfactionParams(Section):
    """The ``satisfaction`` section: log-odds of satisfaction after a visit, and how trust learns from it."""

    intercept: float = P(
        3.16,
        "Log-odds of satisfaction for a resolved visit with no wait and no cost.",
        unit="log-odds",
        source=(
            "calibrated by scripts/calibrate_baseline.py to satisfaction 0.90 (assumption: below the 93% target for "
            "end-2023)"
        ),
    )
    unresolved: float = P(
        -2.0,
        "Change in log-odds when the facility could not resolve the episode.",
        unit="log-odds",
        source="assumption",
    )
    wait_per_day: float = P(
        -2.0, "Change in log-odds per day of waiting.", unit="log-odds per day", source="assumption", le=0.0
    )
    cost_per_100_yuan: float = P(
        -0.05,
        "Change in log-odds per 100 yuan paid out of pocket.",
        unit="log-odds per 100 yuan",
        source="assumption",
        le=0.0,
    )
    learning_rate: Rate = P(
        0.2,
        "Weight of a visit's experience (satisfied or not) in the resident's trust in that level.",
        unit="share per visit",
        source="assumption",
    )
    reputation_pull: float = P(
        2.0,
        "Rate at which trust relaxes back towards the level's reputation (word of mouth).",
        unit="per year",
        source="assumption",
        ge=0.0,
    )


# --- insurance --------------------------------------------------------------------


class Benefit(Section):
    """Insurance benefits at one level: in-scope share, reimbursement and deductibles (yuan) of both schemes."""

    in_scope: Rate = P(
        0.85,
        "Share of the bill within the policy scope (drugs and services the fund covers).",
        unit="share",
        source="assumption",
    )
    reimbursement: Rate = P(..., "Share of the price above the deductible paid by the resident scheme.", unit="share")
    deductible: NonNeg = P(..., "Deductible per visit or admission under the resident scheme.", unit="yuan")
    employee_reimbursement: Rate = P(..., "Same, employee scheme.", unit="share")
    employee_deductible: NonNeg = P(..., "Same, employee scheme.", unit="yuan")


def _benefits(rows: dict[str, tuple[float, float, float, float]]) -> Any:
    keys = ("reimbursement", "deductible", "employee_reimbursement", "employee_deductible")
    return lambda: {lvl: Benefit(**dict(zip(keys, r, strict=True))) for lvl, r in rows.items()}


class BenefitsByLevel(Section):
    """Insurance benefits at each facility level: village, township, county, city."""

    village: Benefit
    township: Benefit
    county: Benefit
    city: Benefit


class InsuranceParams(Section):
    """The ``insurance`` section: fund income per member-year (yuan) and benefits by level and scheme."""

    contribution_per_resident_year: float = P(
        1020.0,
        "Fund income per resident-scheme member a year (individual premium plus government subsidy).",
        unit="yuan per member-year",
        source="national 2023 resident scheme: 380 individual + 640 subsidy",
        ge=0.0,
    )
    contribution_per_employee_year: float = P(
        4000.0,
        "Fund income per employee-scheme member a year (pooled part).",
        unit="yuan per member-year",
        source="assumption",
        ge=0.0,
    )
    outpatient: BenefitsByLevel = P(
        lambda: BenefitsByLevel(
            **_benefits(
                {
                    "village": (0.70, 0.0, 0.80, 0.0),
                    "township": (0.60, 0.0, 0.75, 0.0),
                    "county": (0.45, 0.0, 0.65, 0.0),
                    "city": (0.25, 0.0, 0.50, 0.0),
                }
            )()
        ),
        "Outpatient benefits by level (general outpatient pooling).",
        source="assumption: rates higher at lower levels (DOMAIN)",
    )
    inpatient: BenefitsByLevel = P(
        lambda: BenefitsByLevel(
            **_benefits(
                {
                    "village": (0.0, 0.0, 0.0, 0.0),
                    "township": (0.90, 200.0, 0.92, 200.0),
                    "county": (0.75, 500.0, 0.85, 500.0),
                    "city": (0.55, 1000.0, 0.75, 1000.0),
                }
            )()
        ),
        "Inpatient benefits by level.",
        source=(
            "DOMAIN: resident scheme ~70% within policy scope, employee ~80%; higher rates, lower deductibles at "
            "lower levels"
        ),
    )


class SecularParams(Section):
    """The ``secular`` section: forces that move over the years whatever the policy (off unless a run sets them)."""

    income_growth_per_year: float = P(
        0.0,
        (
            "Yearly growth of residents' incomes relative to the prices of care. A yuan of out-of-pocket cost weighs "
            "(1 + growth) ^ -(year - reference_year) of what it weighed in the reference year, in the choice among "
            "facilities and in the decision to seek care; it changes on each 1 January."
        ),
        unit="share a year",
        source=(
            "off (0) in the baseline, whose weights are fitted to the reference year; the 2015-2021 dynamic check "
            "(params/validation/national_2015_2021.yaml) sets it from national statistics"
        ),
        ge=-0.2,
        le=0.3,
    )
    hospital_growth_per_year: float = P(
        0.0,
        (
            "Yearly growth of the county and city hospitals' outpatient capacity (visits a day) and beds: they are "
            "(1 + growth) ^ (year - reference_year) of the county's figures, which hold for the reference year, and "
            "change on each 1 January (the doctors' headcount stays; each sees more or fewer visits). Crowding "
            "(waits, full beds) is how it acts on choice; beds shrinking below those in use take no admission until "
            "enough patients leave."
        ),
        unit="share a year",
        source=(
            "off (0) in the baseline, whose hospitals are the county's in the reference year; the 2015-2021 dynamic "
            "check (params/validation/national_2015_2021.yaml) sets it from the growth of national hospital beds"
        ),
        ge=-0.2,
        le=0.3,
    )
    reference_year: int = P(
        2023,
        "Year for whose incomes the price weights hold and whose hospitals the county describes (the year of the "
        "fitted figures).",
        unit="year",
    )


class TCMParams(Section):
    """The ``tcm`` section: uptake of traditional Chinese medicine services at the grassroots."""

    uptake_grassroots: Rate = P(
        0.48,
        "Share of minor and chronic visits at village clinics and township centres that receive TCM services.",
        unit="share of visits",
        source="calibrated: Yangshan 2023 TCM visits 47.1% of all visits",
    )


# --- everything -------------------------------------------------------------------


class Params(Section):
    """All parameters of a run. Load with :func:`health_sim.load_params`."""

    run: RunParams = P(RunParams, "Length, scale and seed of the run.")
    county: CountyParams = P(CountyParams, "The county: townships, villages, roads.")
    population: PopulationParams = P(
        PopulationParams, "Residents: ages, chronic conditions, insurance, contracts, trust."
    )
    episodes: EpisodeParams = P(EpisodeParams, "Illness episodes: rates, specialty, admission, return visits.")
    facilities: FacilityParams = P(_facility_params, "Facility types: staff, capacity, beds, prices, capability.")
    choice: ChoiceParams = P(ChoiceParams, "Where residents seek care: multinomial-logit weights.")
    referral: ReferralParams = P(ReferralParams, "Formal upward and downward referral.")
    satisfaction: SatisfactionParams = P(SatisfactionParams, "Satisfaction after a visit and trust learning.")
    insurance: InsuranceParams = P(InsuranceParams, "Reimbursement and deductibles by level and scheme; fund income.")
    chronic: ChronicParams = P(ChronicParams, "Chronic-disease follow-up and control.")
    tcm: TCMParams = P(TCMParams, "Traditional Chinese medicine services.")
    secular: SecularParams = P(
        SecularParams, "Forces that move over the years: incomes against the prices of care, hospital capacity."
    )
    policies: PolicyParams = P(
        PolicyParams, "Policy levers (all off by default; the 2023 baseline scenario has the county's 2023 reforms on)."
    )
