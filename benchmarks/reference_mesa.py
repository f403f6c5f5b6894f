"""A plain per-agent Mesa implementation of the baseline, to check and time the compiled engine.

:class:`ReferenceModel` is the baseline model (no policy levers) written the way a typical
Mesa model is written: one :class:`Resident` agent per resident, every resident drawing his
own illness lottery every day, and the day's patients choosing, visiting and learning one
agent at a time in Python. Facilities are :class:`Site` agents whose numeric state (capacity,
queue, beds) is a row of a :class:`health_sim.world.facilities.FacilityTable`.

It shares with the engine only what defines the model, never its random numbers:

* the behavioural rules, called one episode at a time from :mod:`health_sim.sim.rules`;
* the builders of the county, residents, facilities, tariff and choice weights;
* the KPI definitions (:func:`health_sim.sim.kpis.evaluate` on counters named as
  :data:`health_sim.sim.kpis.COUNTERS`).

All its random numbers come from the Mesa model's own generators (``self.random``, and
``self.rng`` for the doctors' headcounts), seeded from the seed; the county and residents
are built from the seed by the shared builders, so both implementations simulate the same
people. Agreement of the KPIs therefore comes from the rules, not from shared draws
(``tests/test_reference_mesa.py`` compares them over replicates).

One day (:meth:`ReferenceModel.step`), in the engine's order (:mod:`health_sim.sim.engine`,
:meth:`health_sim.sim.model.HealthSystemModel._day_of_care`):

1. beds: discharges and downward transfers due today;
2. every resident draws his illness lottery (:meth:`Resident.step`);
3. the day's patients make up to four trips in passes: each chooses (or goes where a formal
   referral sends him), free beds go to those wanting one in a random order, every visit is
   resolved or not, billed, tallied and teaches trust; the unresolved are referred up,
   choose again among higher levels, or give up;
4. facilities' queues (:meth:`FacilityTable.end_day` with the day's visits);
5. weekly (every 7th day): trust relaxes toward each level's reputation, diagnoses turn over,
   chronic control follows management (:meth:`Resident.weekly_review`).

Run as a benchmark: ``uv run python benchmarks/reference_mesa.py [--residents 20000]
[--days 365] [--burn-in 365] [--seed N]`` times the engine and this reference on the same
parameters and prints their KPIs side by side.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict

import mesa
import numpy as np

import health_sim
from health_sim.config.params import with_overrides
from health_sim.config.schema import Params
from health_sim.core.names import AGE_BAND_EDGES, AGE_BANDS, CONDITIONS, KINDS, LEVELS, SPECIALTIES
from health_sim.sim import rules
from health_sim.sim.kpis import COUNTERS, FACILITY_COUNTERS, evaluate
from health_sim.sim.rules import CHRONIC, CITY, COUNTY, MINOR, N_COLUMNS, SERIOUS, TCM, TOWNSHIP
from health_sim.world.choice import Weights
from health_sim.world.county import build_county
from health_sim.world.facilities import FacilityTable, build_table, doctor_counts, facility_rows
from health_sim.world.insurance import Tariff
from health_sim.world.population import EMPLOYEE, build_residents

FULL_COUNTY = 367175  # residents of the full county (params.county.population of the baseline)
KPI_TABLE = (
    "grassroots_share",
    "visits_per_resident",
    "stay_home_share",
    "admissions",
    "upward_referrals",
    "downward_referrals",
    "mean_wait_days",
    "oop_per_visit",
    "satisfaction",
    "chronic_control_rate",
    "township_admission_share",
    "township_centre_occupancy",
)
"""KPIs the benchmark prints and the test compares."""

# Plain-Python copies of the rules' constant tables (indexing numpy arrays one element at a time is slow).
COLUMN_LEVEL = [int(x) for x in rules.COLUMN_LEVEL]
TRAVEL_COLUMN = [int(x) for x in rules.TRAVEL_COLUMN]
REFER_TO_COLUMN = [int(x) for x in rules.REFER_TO_COLUMN]
MCH_COLUMN = 4  # the county maternal and child health hospital: children and women of 15-49 only
N_CONDITIONS = len(CONDITIONS)
LONG_AGO = -(10**6)  # day of a follow-up that never happened

_VISITS = [f"visits_{lvl}" for lvl in LEVELS]
_TRIPS = [f"trips_{lvl}" for lvl in LEVELS]
_SATISFIED = [f"satisfied_{lvl}" for lvl in LEVELS]
_EPISODES = [f"episodes_{k}" for k in KINDS]
_FIRST = ["first_trips_minor", "first_trips_chronic", "first_trips_severe"]
_FIRST_GRASS = [f"{name}_grassroots" for name in _FIRST]
_UP = ["referrals_up_village_township", "referrals_up_grassroots", "referrals_up_county_city"]  # by referring level


class Episode:
    """One resident's illness episode of the day: what was drawn once for it, and where it stands.

    Uniforms drawn once serve every trip of the episode (as in the engine, where they are
    keyed by day and resident, not by trip): severity, specialty, admission, return visits,
    length of stay, late diagnosis, downward referral, tracking and formal referral.
    """

    __slots__ = (
        "admitted",
        "came_from",
        "col",
        "cur_level",
        "fac",
        "forced",
        "home",
        "kind",
        "late_bits",
        "resolved",
        "severity",
        "spec",
        "u_admit",
        "u_down",
        "u_extra",
        "u_formal",
        "u_los",
        "u_track",
        "util",
        "want_bed",
    )

    def __init__(self, kind: int):
        self.kind = kind
        self.col = -1  # facility column of the current trip
        self.forced = -1  # column a formal referral sends the patient to (-1: he chooses)
        self.came_from = -1  # grassroots level a tracked referral came from (he returns there)
        self.cur_level = -1  # level of the last trip (-1: none yet)


class Site(mesa.Agent):
    """A facility (village clinic, township centre, county hospital, city hospital).

    Its numbers live in row ``index`` of the model's :class:`FacilityTable`: capacity
    (visits a day at scale), queue and wait (days), beds and beds occupied (at scale).
    """

    def __init__(self, model: ReferenceModel, index: int, ftype: str, level: int, township: int):
        super().__init__(model)
        self.index = index
        self.ftype = ftype
        self.level = level
        self.township = township

    def free_beds(self) -> float:
        """Beds not occupied at the start of the pass (may be fractional at small scales)."""
        fac = self.model.facilities
        return float(fac.beds[self.index] - fac.occupied[self.index])


class Resident(mesa.Agent):
    """One resident.

    Traits from :func:`health_sim.world.population.build_residents`, his own trust in each level, habit, chronic
    conditions, follow-up history, control and episode risks.
    """

    def __init__(self, model: ReferenceModel, i: int):
        super().__init__(model)
        res = model.population
        self.age = int(res.age[i])
        self.age_band = int(np.searchsorted(AGE_BAND_EDGES, self.age, side="right") - 1)
        self.female = bool(res.female[i])
        self.child = self.age < 15
        self.mch_ok = self.child or (self.female and 15 <= self.age < 50)
        self.village = int(res.village[i])
        self.township = int(res.township[i])
        self.employee = 1 if res.scheme[i] == EMPLOYEE else 0  # insurance scheme column of the tariff
        self.contracted = bool(res.contracted[i])
        # how much more he minds a bill than a resident at the rural median income
        self.price_sense = float(model.params.population.income_rural_median_yuan / res.income[i])
        self.conditions = int(res.conditions[i])  # bitmask over CONDITIONS
        self.diagnosed = int(res.diagnosed[i])  # bitmask: conditions he knows of (and follows up)
        self.trust = [float(x) for x in res.trust[i]]  # by level, in [0, 1]
        self.last_level = -1  # habit: level of the last facility that resolved an episode
        self.referred_up = False  # formally referred up from the grassroots, not yet back for another episode
        # facility index of each choice column: own village clinic, own township centre, the four hospitals
        self.columns = (self.village, model.town_fac0 + self.township, *model.hospitals)
        self.travel = [float(x) for x in model.county.travel_minutes[self.village]]  # one-way minutes by column
        self.history = [
            LONG_AGO
        ] * model.params.chronic.followups_for_control  # days of the last follow-ups, oldest first
        self.u_control = self.random.random()  # persistent: controlled when below the control probability
        self.uncontrolled = False
        self.controlled = False
        self.episode: Episode | None = None
        self.refresh_risk()

    # --- risks and chronic care ------------------------------------------------------

    def refresh_risk(self) -> None:
        """Cumulative daily episode probabilities by kind (as :class:`health_sim.world.chronic.ChronicCare`).

        Age-band rates, follow-ups of diagnosed conditions, severe kinds raised while uncontrolled.
        """
        m = self.model
        p = m.base_rates[self.age_band].copy()
        p[CHRONIC] = m.followups_per_condition * bin(self.diagnosed).count("1") / 365.0
        self.cum_ok = np.cumsum(p).astype(np.float32)
        p[m.severe_kinds] *= m.uncontrolled_factor
        self.cum_bad = np.cumsum(p).astype(np.float32)
        self.total_ok = float(self.cum_ok[-1])
        self.total_bad = float(self.cum_bad[-1])

    def diagnose(self, bits: int) -> int:
        """Diagnose conditions ``bits`` he has; returns how many were new."""
        new = bits & self.conditions & ~self.diagnosed
        if new:
            self.diagnosed |= new
            self.refresh_risk()
        return bin(new).count("1")

    def review_control(self, day: int) -> None:
        """Chronic control follows management (enough follow-ups in the past 365 days)."""
        cp = self.model.params.chronic
        managed = day - self.history[0] < 365
        self.managed = managed
        self.controlled = self.diagnosed > 0 and self.u_control < (
            cp.control_if_managed if managed else cp.control_if_not_managed
        )
        undiagnosed = (self.conditions & ~self.diagnosed) > 0
        self.uncontrolled = self.conditions > 0 and (undiagnosed or (self.diagnosed > 0 and not self.controlled))

    def weekly_review(self, day: int) -> None:
        """Weekly: trust relaxes toward reputation, diagnoses turn over, control is reviewed."""
        m = self.model
        t, rep, pull = self.trust, m.reputation, m.pull_weekly
        for lvl in range(4):
            t[lvl] = float(rules.relax_trust(t[lvl], rep[lvl], pull))
        if self.diagnosed:
            lose = 0
            for c in range(N_CONDITIONS):
                if self.diagnosed >> c & 1 and self.random.random() < m.p_turnover_week:
                    lose |= 1 << c
            if lose:
                self.diagnosed &= ~lose
                self.refresh_risk()
        self.review_control(day)
        if self.diagnosed:
            m.chronic_stats[0] += 1.0
            m.chronic_stats[1] += self.managed
            m.chronic_stats[2] += self.controlled

    # --- the day ------------------------------------------------------------------

    def step(self) -> None:
        """The daily illness lottery: below his total daily probability he falls ill."""
        u = self.random.random()
        if u < (self.total_bad if self.uncontrolled else self.total_ok):
            self.fall_ill(u)

    def fall_ill(self, u: float) -> None:
        """Start an episode.

        Kind (where ``u`` falls), severity, specialty, the per-episode draws, and the utilities of the six facility
        columns (fixed for the day).
        """
        m = self.model
        rnd = self.random.random
        cum = self.cum_bad if self.uncontrolled else self.cum_ok
        k = int(rules.episode_kind(u, cum))
        ep = Episode(k)
        m.tally["episodes"] += 1.0
        m.tally[_EPISODES[k]] += 1.0
        ep.severity = rnd()
        ep.spec = int(rules.specialty(rnd(), m.spec_cum[k], self.child, self.female))
        ep.u_admit, ep.u_extra, ep.u_los = rnd(), rnd(), rnd()
        ep.u_down, ep.u_track, ep.u_formal = rnd(), rnd(), rnd()
        ep.late_bits = 0
        if rules.is_severe(k):
            for c in range(N_CONDITIONS):
                if rnd() < m.late_p[c]:
                    ep.late_bits |= 1 << c
        ep.util, oop = self.utilities(k, ep.spec)
        town = rules.TOWNSHIP_COLUMN
        ep.util[town] += rules.admission_pull(
            float(m.weights.township_admission),
            float(m.admit_p[k]),
            ep.severity < m.facilities.capability[self.columns[town], k, ep.spec],
        )
        available = np.array([j != MCH_COLUMN or self.mch_ok for j in range(N_COLUMNS)])
        g = 1 if rules.is_severe(k) else 0
        bill = rules.expected_bill(np.array(ep.util), np.array(oop), available)
        ep.home = rules.home_utility(
            m.stay_home_u[k], float(m.weights.seek_cost_per_100_yuan[g]), bill, self.price_sense
        )
        self.episode = ep
        m.patients.append(self)

    def utilities(self, k: int, s: int) -> tuple[list[float], list[float]]:
        """Utility (relative to staying home) of each facility column for an episode of kind ``k``, specialty ``s``.

        With the out-of-pocket yuan expected at each column.
        """
        m = self.model
        w, fac = m.weights, m.facilities
        g = 1 if rules.is_severe(k) else 0
        sch = self.employee
        out, bills = [], []
        for j in range(N_COLUMNS):
            f = self.columns[j]
            lvl = COLUMN_LEVEL[j]
            oop = float(m.expected_oop[0][f, sch] + m.admit_p[k] * m.expected_oop[1][f, sch])
            bills.append(oop)
            out.append(
                rules.utility(
                    float(w.asc[g, lvl]),
                    float(w.quality[g]),
                    float(fac.capability[f, k, s]),
                    float(w.trust[g]),
                    self.trust[lvl],
                    float(w.cost_per_100_yuan[g]),
                    oop,
                    float(w.travel_per_hour[g]),
                    self.travel[j],
                    float(w.wait_per_day[g]),
                    float(fac.wait_expected[f]),
                    float(w.contract[g]),
                    1.0 if (self.contracted and lvl <= TOWNSHIP) else 0.0,
                    float(w.habit[g]),
                    1.0 if self.last_level == lvl else 0.0,
                    float(w.employee_hospital[g]),
                    1.0 if (self.employee and lvl >= COUNTY) else 0.0,
                )
            )
        return out, bills

    def choose(self, p: int) -> bool:
        """Pass ``p``: pick a facility column, or go where a formal referral sends him.

        The column by Gumbel-max over staying home and the columns above his last level. False: he stays home / gives
        up.
        """
        ep = self.episode
        if ep.forced >= 0:
            ep.col = ep.forced
            return True
        rnd = self.random.random
        best, pick = ep.home + rules.gumbel(rnd()), -1
        for j in range(N_COLUMNS):
            if COLUMN_LEVEL[j] <= ep.cur_level or (j == MCH_COLUMN and not self.mch_ok):
                continue
            v = ep.util[j] + rules.gumbel(rnd())
            if v > best:
                best, pick = v, j
        if pick < 0:
            self.model.tally["stay_home" if p == 0 else "gave_up"] += 1.0
            self.episode = None
            return False
        ep.col = pick
        return True

    def request_bed(self, given: dict) -> None:
        """At the chosen facility: resolved if the severity is within its capability.

        A resolved episode needing admission gets a bed if one is free (first come, first served; ``given`` counts this
        pass's requests by facility), else it is unresolved and transferred.
        """
        m = self.model
        ep = self.episode
        f = ep.fac = self.columns[ep.col]
        ep.resolved = ep.severity < m.facilities.capability[f, ep.kind, ep.spec]
        ep.want_bed = ep.resolved and ep.u_admit < m.admit_p[ep.kind]
        ep.admitted = False
        if ep.want_bed:
            if given[f] < m.sites[f].free_beds():
                ep.admitted = True
            else:
                ep.resolved = False
            given[f] += 1.0

    def visit(self, day: int, p: int) -> bool:
        """The trip of pass ``p``.

        Visits, bill, tallies, diagnoses, satisfaction and trust, habit, admission (and downward referral), and what an
        unresolved patient does next. Returns True if he still seeks care (next pass).
        """
        m = self.model
        ep = self.episode
        c = m.tally
        rnd = self.random.random
        k, s, f, col = ep.kind, ep.spec, ep.fac, ep.col
        fac, tariff = m.facilities, m.tariff
        lvl = COLUMN_LEVEL[col]
        referred = ep.forced >= 0
        ref = 1 if referred else 0
        sch = self.employee
        resolved, admitted = ep.resolved, ep.admitted
        if p == 0:  # the episode's first trip
            grp = int(rules.kind_group(k))
            c[_FIRST[grp]] += 1.0
            c["first_trips_level"] += lvl + 1.0
            if lvl <= TOWNSHIP:
                c[_FIRST_GRASS[grp]] += 1.0
            if k == SERIOUS:
                c["first_trips_serious"] += 1.0
                if lvl <= TOWNSHIP:
                    c["first_trips_serious_grassroots"] += 1.0
            if self.contracted:
                c["first_trips_contracted"] += 1.0
                c["first_trips_contracted_level"] += lvl + 1.0
                if lvl <= TOWNSHIP:
                    c["first_trips_contracted_grassroots"] += 1.0
            if self.referred_up:  # his first trip since a formal referral up from the grassroots
                self.referred_up = False
                c["referral_returns_due"] += 1.0
                if lvl <= TOWNSHIP:
                    c["referral_returns"] += 1.0

        # Visits, length of stay and the bill
        n_visits = 1.0 + (float(rules.extra_visits(m.extra[k], ep.u_extra)) if resolved and not admitted else 0.0)
        mean_los = float(fac.length_of_stay[f])
        los = int(rules.length_of_stay(mean_los, ep.u_los, 1.0))
        if admitted:
            price = rules.admission_price(float(fac.price_admission[f]), los, mean_los, 0.0, 1.0)
            oop, fund = rules.split(
                price,
                float(tariff.rate_admission[ref, f, sch]),
                float(tariff.ded_admission[f, sch]),
                float(tariff.scope_admission[f, 0]),
            )
        else:
            oop, fund = rules.split(
                n_visits * float(fac.price_visit[f]),
                float(tariff.rate_visit[ref, f, sch]),
                float(tariff.ded_visit[f, sch]),
                float(tariff.scope_visit[f, 0]),
            )
        wait = float(fac.wait_now[f])
        c["trips"] += 1.0
        c["visits"] += n_visits
        c[_VISITS[lvl]] += n_visits
        c[_TRIPS[lvl]] += 1.0
        if lvl >= COUNTY:
            c["hospital_trips"] += 1.0
            if referred:
                c["hospital_trips_referred"] += 1.0
        c["travel_minutes"] += self.travel[TRAVEL_COLUMN[lvl]]
        c["wait_days"] += wait
        c["oop_inpatient" if admitted else "oop_outpatient"] += oop
        c["fund"] += fund
        if lvl <= COUNTY:
            c["fund_community"] += fund
        m.arrivals[f] += n_visits

        # TCM services: TCM episodes, the county TCM hospital, TCM at grassroots minor and chronic visits
        tcm = s == TCM or f == m.tcm_facility
        if not tcm and lvl <= TOWNSHIP and k in (MINOR, CHRONIC):
            tcm = rnd() < m.tcm_uptake
        if tcm:
            c["tcm_visits"] += n_visits

        # A severe episode seen at a facility may reveal undiagnosed conditions (late diagnosis)
        if ep.late_bits:
            c["late_diagnoses"] += self.diagnose(ep.late_bits)
        # A resolved chronic follow-up counts toward management
        if resolved and k == CHRONIC:
            self.history = [*self.history[1:], day]

        # Experience -> satisfaction -> trust in that level; the level that resolved becomes the habit
        sp = m.satisfaction
        p_sat = rules.satisfaction_probability(sp[0], sp[1], 0.0 if resolved else 1.0, sp[2], wait, sp[3], oop)
        sat = rnd() < p_sat
        if sat:
            c["satisfied"] += 1.0
            c[_SATISFIED[lvl]] += 1.0
        self.trust[lvl] = float(rules.learn_trust(self.trust[lvl], sp[4], 1.0 if sat else 0.0))
        if resolved:
            self.last_level = ep.came_from if ep.came_from >= 0 else lvl

        # Admission: a bed now; discharge (or transfer down to his township centre) later
        if admitted:
            fac.occupied[f] += 1.0
            c["admitted"] += 1.0
            if lvl == COUNTY:
                c["admitted_county"] += 1.0
            if lvl == TOWNSHIP:
                c["admitted_township"] += 1.0
            down = lvl >= COUNTY and ep.u_down < min(1.0, m.down_p[lvl])
            acute = min(max(1, round(los * m.acute_share)), los)
            if lvl == COUNTY:
                c["county_inpatient_days"] += acute if down else los
            if not down:
                m.schedule[day + los].append(("out", f))
            else:
                tf = m.town_fac0 + self.township
                m.schedule[day + acute] += [("out", f), ("in", tf), ("down", lvl == COUNTY)]
                m.schedule[day + los].append(("out", tf))
                c["referrals_formal"] += 1.0
                if ep.u_track < m.closed_loop:
                    c["referrals_tracked"] += 1.0
                    self.last_level = TOWNSHIP

        # Beyond capability (or no bed): formal referral up, else he decides himself next pass
        still = False
        if not resolved:
            still = True
            ep.forced = -1
            if lvl < CITY and (ep.u_formal < m.formal_p[lvl] or ep.want_bed):  # no bed: transferred
                ep.forced = REFER_TO_COLUMN[lvl]
                tracked = ep.u_track < m.closed_loop
                if tracked and lvl <= TOWNSHIP:
                    ep.came_from = lvl
                c["referrals_formal"] += 1.0
                if tracked:
                    c["referrals_tracked"] += 1.0
                c[_UP[lvl]] += 1.0
                if lvl <= TOWNSHIP:
                    self.referred_up = True
            if lvl == TOWNSHIP:
                c["unresolved_township"] += 1.0
            if lvl == CITY:  # the last resort: nowhere further to go
                c["gave_up"] += 1.0
                still = False
        ep.cur_level = lvl
        if not still:
            self.episode = None
        return still


class ReferenceModel(mesa.Model):
    """The baseline county, one Mesa agent per resident. ``ReferenceModel(params, rng=seed).run()``.

    ``params.run.burn_in_days`` unrecorded days, then ``params.run.days`` recorded ones;
    :meth:`kpis` evaluates the recorded counters with :func:`health_sim.sim.kpis.evaluate`.
    Policy levers are not implemented (the baseline's :class:`PolicyState`: closed-loop
    tracking ``referral.closed_loop_tracking``, TCM uptake ``tcm.uptake_grassroots``,
    every other lever off).
    """

    def __init__(self, params: Params, rng: int | None = None):
        seed = int(params.run.seed if rng is None else rng)
        super().__init__(rng=seed)
        if any(getattr(params.policies, n).enabled for n in type(params.policies).model_fields):
            raise ValueError("the reference implements the baseline only: every policy lever must be off")
        self.params = params
        self.seed = seed
        self.scale = params.run.scale
        self.clock = 0  # days simulated, burn-in included
        self.days_run = 0  # recorded days simulated

        # The county, residents and facilities, from the shared builders
        self.county = build_county(params, seed)
        self.population = build_residents(params, self.county, self.scale, seed)
        rows = facility_rows(params, self.county.township_names, self.county.village_township)
        self.facilities: FacilityTable = build_table(params, rows, self.scale)
        self.sites = [Site(self, i, ftype, int(self.facilities.level[i]), t) for i, (ftype, _, t) in enumerate(rows)]
        staff = np.zeros((len(rows), len(SPECIALTIES)))  # doctors by facility and specialty (real headcounts)
        for i, counts in enumerate(doctor_counts(params, rows, self.rng)):
            for spec, n in counts.items():
                staff[i, SPECIALTIES.index(spec)] += n
        self.facilities.restaff(staff)
        self.tariff = Tariff(params.insurance, self.facilities)
        self.expected_oop = rules.expected_oop(
            self.tariff, self.facilities.price_visit, self.facilities.price_admission
        )
        self.weights = Weights(params)
        types = [r[0] for r in rows]
        self.town_fac0 = self.county.n_villages
        self.hospitals = tuple(types.index(t) for t in ("county_people", "county_tcm", "county_mch", "city_tertiary"))
        self.tcm_facility = types.index("county_tcm")
        self.county_rows = [i for i, s in enumerate(self.sites) if s.level == COUNTY]

        # Parameters as the agents read them (plain numbers, indexed by kind or level)
        ep, rp, sp, cp = params.episodes, params.referral, params.satisfaction, params.chronic
        self.base_rates = np.zeros(
            (len(AGE_BANDS), len(KINDS))
        )  # episodes a day by age band and kind (chronic: by diagnoses)
        for k in ("minor", "serious", "emergency", "admission"):
            self.base_rates[:, KINDS.index(k)] = np.array([ep.rates[k][b] for b in AGE_BANDS]) / 365.0
        self.severe_kinds = [k for k in range(len(KINDS)) if rules.is_severe(k)]
        self.followups_per_condition = ep.chronic_followups_per_condition
        self.uncontrolled_factor = cp.uncontrolled_risk_factor
        self.p_turnover_week = 1.0 - math.exp(-cp.turnover_per_year * 7.0 / 365.0)
        mix = np.array([[ep.specialty_mix[k].get(s, 0.0) for s in SPECIALTIES] for k in KINDS])
        self.spec_cum = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
        self.admit_p = [float(ep.admit_probability[k]) for k in KINDS]
        self.extra = [float(ep.extra_visits[k]) for k in KINDS]
        self.stay_home_u = [float(x) for x in self.weights.stay_home]
        self.formal_p = [float(rp.formal_upward[lvl]) for lvl in LEVELS]
        self.down_p = [float(rp.downward[lvl]) for lvl in LEVELS]
        self.acute_share = float(rp.acute_share_of_stay)
        self.closed_loop = float(rp.closed_loop_tracking)
        self.tcm_uptake = float(params.tcm.uptake_grassroots)
        self.late_p = [float(params.population.conditions[c].late_diagnosis) for c in CONDITIONS]
        self.satisfaction = [
            float(sp.intercept),
            float(sp.unresolved),
            float(sp.wait_per_day),
            float(sp.cost_per_100_yuan),
            float(sp.learning_rate),
        ]
        self.reputation = [float(params.population.reputation[lvl]) for lvl in LEVELS]
        self.pull_weekly = 1.0 - math.exp(-sp.reputation_pull * 7.0 / 365.0)
        ins = params.insurance
        employee = self.population.scheme == EMPLOYEE
        self.income_per_day = float(
            np.where(employee, ins.contribution_per_employee_year, ins.contribution_per_resident_year).sum() / 365.0
        )

        # The residents; chronic control as reviewed at the start (day 0)
        for i in range(self.population.n):
            Resident(self, i)
        self.residents = self.agents_by_type[Resident]
        self.n_residents = len(self.residents)
        self.chronic_stats = [0.0, 0.0, 0.0]  # residents with a diagnosed condition, managed, controlled
        self.residents.do("review_control", 0)
        for r in self.residents:
            if r.diagnosed:
                self.chronic_stats[0] += 1.0
                self.chronic_stats[1] += r.managed
                self.chronic_stats[2] += r.controlled

        self.schedule: defaultdict[int, list] = defaultdict(
            list
        )  # day -> bed events ("in"/"out", facility) and ("down", from county)
        self.arrivals = np.zeros(len(rows))  # visits by facility today
        self.patients: list[Resident] = []
        self.tally = self._zero_counters()

    @staticmethod
    def _zero_counters() -> dict[str, float]:
        return dict.fromkeys([*COUNTERS, *FACILITY_COUNTERS], 0.0)

    def step(self) -> None:
        """Simulate one day (recorded once the burn-in is over)."""
        d = self.clock
        c, fac = self.tally, self.facilities
        if d == self.params.run.burn_in_days:
            self.tally = c = self._zero_counters()  # the burn-in is not recorded

        # Beds: discharges, transfers down and their arrival at the township centres due today
        for event, x in self.schedule.pop(d, ()):
            if event == "out":
                fac.occupied[x] -= 1.0
            elif event == "in":
                fac.occupied[x] += 1.0
            else:
                c["referrals_down"] += 1.0
                c["referrals_down_county"] += x
        c["resident_days"] += self.n_residents
        c["fund_income"] += self.income_per_day

        # 1. Illness lottery (the order does not matter: the day's patients are handled in passes below)
        self.patients = []
        self.arrivals[:] = 0.0
        self.residents.do("step")

        # 2-4. Passes: choose, beds in a random order, visit
        seeking = self.patients
        for p in range(4):
            going = [r for r in seeking if r.choose(p)]
            if not going:
                break
            given = defaultdict(float)
            mesa.agent.AgentSet(going, random=self.random).shuffle_do("request_bed", given)
            seeking = [r for r in going if r.visit(d, p)]

        # 5. Facilities' queues; weekly reviews; chronic management as of the last review
        fac.end_day(self.arrivals, self.params.facilities.wait_memory_days)
        if d % 7 == 6:
            self.chronic_stats = [0.0, 0.0, 0.0]
            self.residents.do("weekly_review", d)
        c["chronic_residents"] += self.chronic_stats[0]
        c["chronic_managed"] += self.chronic_stats[1]
        c["chronic_controlled"] += self.chronic_stats[2]
        if d >= self.params.run.burn_in_days:
            c["county_bed_days"] += float(fac.occupied[self.county_rows].sum())
            c["county_bed_capacity_days"] += float(fac.beds[self.county_rows].sum())
            towns = slice(self.town_fac0, self.town_fac0 + self.county.n_townships)
            c["township_bed_days"] += float(fac.occupied[towns].sum())
            c["township_bed_capacity_days"] += float(fac.beds[towns].sum())
            self.days_run += 1
        self.clock += 1

    def run(self) -> None:
        """The burn-in, then the recorded days."""
        while self.clock < self.params.run.burn_in_days + self.params.run.days:
            self.step()

    def kpis(self) -> dict:
        """KPIs of the recorded days (same definitions and shape as ``HealthSystemModel.kpis()``)."""
        return evaluate(self.tally, max(self.days_run, 1), self.scale)


# --- benchmark -------------------------------------------------------------------------


def benchmark_params(residents: int, days: int, burn_in: int, seed: int, path: str = "params/baseline.yaml") -> Params:
    """The baseline scaled to about ``residents`` residents."""
    return health_sim.load_params(
        path, {"run.scale": residents / FULL_COUNTY, "run.days": days, "run.burn_in_days": burn_in, "run.seed": seed}
    )


def run_engine(params: Params, seed: int):
    """Run the compiled engine; returns the model."""
    from health_sim.sim.model import HealthSystemModel

    model = HealthSystemModel(params, rng=seed)
    model.run_days(progress=False)
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="Time the compiled engine against the per-agent Mesa reference (baseline)."
    )
    ap.add_argument("--residents", type=int, default=20000)
    ap.add_argument("--days", type=int, default=365, help="recorded days")
    ap.add_argument("--burn-in", type=int, default=365, help="unrecorded days first")
    ap.add_argument("--seed", type=int, default=20230101)
    ap.add_argument("--params", default="params/baseline.yaml")
    args = ap.parse_args(argv)
    params = benchmark_params(args.residents, args.days, args.burn_in, args.seed, args.params)

    t0 = time.perf_counter()  # warm-up: Numba compilation or cache load, not counted
    tiny = with_overrides(params, {"run.scale": 0.002, "run.days": 2, "run.burn_in_days": 1})
    run_engine(tiny, args.seed)
    ReferenceModel(tiny, rng=args.seed).run()
    warm = time.perf_counter() - t0

    t0 = time.perf_counter()
    eng = run_engine(params, args.seed)
    t_eng = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = ReferenceModel(params, rng=args.seed)
    ref.run()
    t_ref = time.perf_counter() - t0

    print(
        f"residents {ref.n_residents} (engine {eng.residents.n}), days {args.days} (+{args.burn_in} burn-in), "
        f"seed {args.seed}"
    )
    print(f"warm-up (Numba compile/cache load, tiny runs of both): {warm:.2f} s")
    print(f"engine    wall {t_eng:8.2f} s")
    print(f"reference wall {t_ref:8.2f} s  (Mesa, one agent per resident)")
    print(f"speed ratio engine vs reference: {t_ref / t_eng:.0f}x")
    ke, kr = eng.kpis(), ref.kpis()
    print(f"\n{'KPI':<22}{'engine':>14}{'reference':>14}{'rel. diff':>11}")
    for name in KPI_TABLE:
        e, r = ke[name], kr[name]
        rel = (r - e) / abs(e) if e else float("nan")
        print(f"{name:<22}{e:>14.4g}{r:>14.4g}{rel:>+11.1%}")


if __name__ == "__main__":
    main()
