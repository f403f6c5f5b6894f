"""HealthSystemModel: a county whose residents choose where to seek care. One step is one day.

Each day (see :meth:`HealthSystemModel.step`):

1. Illness: every resident draws one uniform; below his daily episode probability he
   falls ill, and where it falls picks the episode kind (minor acute, chronic
   follow-up, serious, emergency, needing admission). The episode gets a severity
   and the specialty it needs.
2. Choice: a multinomial logit over staying home, the own village clinic, the own
   township centre, the three county hospitals and the city hospital
   (:mod:`health_sim.choice`).
3. Visit: the facility resolves the episode if its severity is within the facility's
   capability for that kind and specialty. If not, the patient is formally referred
   up (rare) or goes up on his own (self-referral) or gives up; this repeats up to the
   city hospital. Resolved episodes may be admitted (if a bed is free) and inpatients
   of county and city hospitals may be referred down to their township centre for
   recovery. Every visit is paid: out-of-pocket and fund shares by level and scheme.
4. Experience: satisfaction (outcome, wait, cost) updates the resident's trust in that
   level; the level used becomes his habit.
5. Facilities: visits beyond capacity queue for the next days (waiting), beds fill
   and empty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import mesa
import numpy as np
import pandas as pd

from . import choice
from . import rng as crn
from .agents import Doctor, Facility
from .chronic import ChronicCare
from .county import COLUMN_LEVEL, build_county
from .facilities import FacilityTable, build_table, doctor_counts, facility_rows
from .insurance import Tariff
from .kpis import COUNTERS, FACILITY_COUNTERS, evaluate
from .policies import Policies
from .population import EMPLOYEE, assign_contracts, build_residents
from .schema import CONDITIONS, KINDS, LEVELS, SPECIALTIES, Params

_CI = {name: i for i, name in enumerate(COUNTERS)}
_FI = {name: i for i, name in enumerate(FACILITY_COUNTERS)}
_K = {k: i for i, k in enumerate(KINDS)}
_S = {s: i for i, s in enumerate(SPECIALTIES)}
_VILLAGE, _TOWNSHIP, _COUNTY, _CITY = range(4)
# Column a formal referral sends the patient to, by the level he is at (city: none).
_REFER_TO_COLUMN = np.array([1, 2, 5, -1])
# Travel-time column of each level (the three county hospitals share the county seat).
_TRAVEL_COLUMN = np.array([0, 1, 2, 5])
_SEVERE_KINDS = [_K["serious"], _K["emergency"], _K["admission"]]
_KIND_GROUP = np.array([{"minor": 0, "chronic": 1}.get(k, 2) for k in KINDS])  # minor, chronic, severe
_FIRST = np.array([_CI[f"first_trips_{g}"] for g in ("minor", "chronic", "severe")])
_FIRST_GRASS = np.array([_CI[f"first_trips_{g}_grassroots"] for g in ("minor", "chronic", "severe")])
# Per-episode draws (one uniform each, keyed by resident and day).
_EPISODE_STREAMS = {
    "admit": crn.ADMIT,
    "formal": crn.FORMAL_REFERRAL,
    "extra": crn.EXTRA_VISITS,
    "los": crn.LENGTH_OF_STAY,
    "down": crn.DOWNWARD,
    "track": crn.TRACKING,
    "bed": crn.BEDS,
}


@dataclass
class _Trip:
    """Patients travelling to a facility in one pass of a day (arrays of equal length)."""

    d: int  # day (clock)
    p: int  # pass: 0 first choice, then after a referral or a failed visit
    epi: np.ndarray  # index into the day's episodes
    rid: np.ndarray  # resident
    town: np.ndarray
    f: np.ndarray  # facility
    lvl: np.ndarray
    kind: np.ndarray
    spec: np.ndarray
    sev: np.ndarray
    referred: np.ndarray  # came on a formal referral
    u: dict  # per-episode uniforms


def _seed_from(rng, default: int) -> int:
    if rng is None:
        return int(default)
    if isinstance(rng, (int, np.integer)):
        if rng < 0:
            raise ValueError(f"seed must be >= 0, got {rng}")
        return int(rng)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63 - 1))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    raise TypeError(f"rng must be an int seed, a numpy Generator or SeedSequence, or None; got {type(rng).__name__}")


class HealthSystemModel(mesa.Model):
    """The county health system. ``HealthSystemModel(params, rng=seed)``; ``model.step()`` runs a day.

    Parameters
    ----------
    params:
        Validated parameters (:func:`health_sim.load_params`); defaults if None.
    rng:
        An int seed, a numpy Generator or SeedSequence (an int is drawn from it), or
        None for ``params.run.seed``. Same seed and params give identical results.
    """

    def __init__(self, params: Params | None = None, *, rng=None):
        params = params if params is not None else Params()
        seed = _seed_from(rng, params.run.seed)
        super().__init__(rng=seed)
        self.params = params
        self.seed = seed
        self.scale = params.run.scale
        self.n_days = params.run.days
        self.burn_in_days = params.run.burn_in_days
        self.start_date = params.run.start_date

        self.county = build_county(params, seed)
        self.residents = build_residents(params, self.county, self.scale, seed)
        rows = facility_rows(params, self.county.township_names, self.county.village_township)
        self.facilities: FacilityTable = build_table(params, rows, self.scale)
        self.facility_agents = [Facility(self, i, ftype, name, None if t < 0 else t) for i, (ftype, name, t) in enumerate(rows)]
        g = crn.generator(seed, crn.POPULATION + 200)
        for fac, counts in zip(self.facility_agents, doctor_counts(params, rows, g)):
            for spec, n in counts.items():
                for _ in range(n):
                    Doctor(self, fac, spec)

        V, T = self.county.n_villages, self.county.n_townships
        types = [r[0] for r in rows]
        self.col_facility = {  # facility index of each choice column (village/township vary by resident)
            "county_people": types.index("county_people"),
            "county_tcm": types.index("county_tcm"),
            "county_mch": types.index("county_mch"),
            "city": types.index("city_tertiary"),
        }
        self._town_fac0 = V
        fac = self.facilities
        self._county_rows = np.flatnonzero(fac.level == _COUNTY)
        # the facility whose capability caps a policy's lift: a village clinic's township
        # centre, a township centre's county people's hospital, itself above
        self._reference = np.arange(len(fac))
        self._reference[fac.level == _VILLAGE] = V + fac.township[fac.level == _VILLAGE]
        self._reference[fac.level == _TOWNSHIP] = self.col_facility["county_people"]

        self._clock = 0  # all days simulated, burn-in included (keys the random streams)
        self.policies = Policies(self)
        self.policies.skills.set_village_doctors(sum(len(f.doctors) for f in self.facility_agents if f.level == "village"))
        self.restaff()
        self.tariff = Tariff(params.insurance, fac)
        self.weights = choice.Weights(params)
        self.chronic = ChronicCare(params, self.residents, seed)

        res = self.residents
        self._residents_by_town = np.bincount(res.township, minlength=T).astype(float)
        self._mch_ok = (res.age < 15) | (res.female & (res.age >= 15) & (res.age < 50))
        self._employee = res.scheme == EMPLOYEE
        ins = params.insurance
        income = np.where(self._employee, ins.contribution_per_employee_year, ins.contribution_per_resident_year) / 365.0
        self._income_by_town = np.bincount(res.township, income, minlength=T)
        self._screened_day = np.full(res.n, -(10**6), dtype=np.int32)
        ep = params.episodes
        self._admit_p = np.array([ep.admit_probability[k] for k in KINDS])
        self._extra = np.array([ep.extra_visits[k] for k in KINDS])
        mix = np.array([[ep.specialty_mix[k].get(s, 0.0) for s in SPECIALTIES] for k in KINDS])
        self._spec_mix = mix / mix.sum(axis=1, keepdims=True)
        self._spec_cum = np.cumsum(self._spec_mix, axis=1)
        rp = params.referral
        self._formal = np.array([rp.formal_upward[lvl] for lvl in LEVELS])
        self._down = np.array([rp.downward[lvl] for lvl in LEVELS])
        sp = params.satisfaction
        self._sat = (sp.intercept, sp.unresolved, sp.wait_per_day, sp.cost_per_100_yuan, sp.learning_rate)
        self._reputation = np.array([params.population.reputation[lvl] for lvl in LEVELS], dtype=np.float32)
        self._pull_weekly = np.float32(1.0 - np.exp(-sp.reputation_pull * 7.0 / 365.0))

        # Beds: admissions, transfers and discharges scheduled on a ring of days.
        self._horizon = int(np.ceil(fac.length_of_stay.max() * 1.5)) + 3
        self._bed_in = np.zeros((self._horizon, len(fac)))
        self._bed_out = np.zeros((self._horizon, len(fac)))
        self._down_due = np.zeros((self._horizon, 2, T))  # referrals down (all, from county) by township

        self._daily = np.zeros((self.n_days, len(COUNTERS), T))
        self._daily_facility = np.zeros((self.n_days, len(FACILITY_COUNTERS)))
        self._capability = np.zeros((self.n_days, T, len(KINDS)))  # township centres' capability by kind
        self._day = np.zeros((len(COUNTERS), T))
        self._arrivals = np.zeros(len(fac))
        self.days_run = 0  # recorded days simulated

    # --- state derived from agents and residents -------------------------------

    def restaff(self) -> None:
        """Recompute facility capacity and capability from where the doctors are (and the levers)."""
        staff = np.zeros((len(self.facilities), len(SPECIALTIES)))
        for d in self.agents_by_type[Doctor]:
            staff[d.location.index, _S[d.specialty]] += 1
        st = self.policies.state
        factor = np.where(self.facilities.level <= _TOWNSHIP, st.grassroots_capacity_factor, 1.0)
        self.facilities.restaff(self.policies.staff_extra(staff), factor)
        self._lift()

    def _lift(self) -> None:
        if self.policies.any:
            by_spec, by_kind = self.policies.uplift(self.date_of(self._clock))
            self.facilities.lift(self._reference, by_spec, by_kind)

    def date_of(self, clock: int) -> dt.date:
        """Calendar date of simulated day ``clock`` (burn-in days fall before the start date)."""
        return self.start_date + dt.timedelta(days=clock - self.burn_in_days)

    # --- one day ----------------------------------------------------------------

    def _tally(self, name: str, town: np.ndarray, weights=None) -> None:
        self._day[_CI[name]] += np.bincount(town, weights, minlength=self._day.shape[1])

    def _tally_by_level(self, first: str, lvl: np.ndarray, town: np.ndarray, weights=None) -> None:
        """Tally into the per-level counters that start at ``first`` (village, township, county, city)."""
        T = self._day.shape[1]
        flat = self._day.reshape(-1)
        flat += np.bincount((_CI[first] + lvl.astype(np.intp)) * T + town, weights, minlength=flat.size)

    def _tally_first(self, t: "_Trip", contracted: np.ndarray) -> None:
        """First trips of the day's episodes by kind group and whether to the grassroots, and those of contracted residents."""
        grass = t.lvl <= _TOWNSHIP
        group = _KIND_GROUP[t.kind]
        both = contracted & grass
        counter = np.concatenate([_FIRST[group], _FIRST_GRASS[group[grass]], np.full(contracted.sum(), _CI["first_trips_contracted"]), np.full(both.sum(), _CI["first_trips_contracted_grassroots"])])
        town = np.concatenate([t.town, t.town[grass], t.town[contracted], t.town[both]])
        flat = self._day.reshape(-1)
        flat += np.bincount(counter * self._day.shape[1] + town, minlength=flat.size)  # one bincount for the eight counters

    def step(self) -> None:
        """Simulate one day (the first call first runs the unrecorded burn-in days)."""
        if self.days_run >= self.n_days:
            raise RuntimeError(f"the run is {self.n_days} days long; it has ended")
        while self._clock < self.burn_in_days:
            self._day_of_care()
        self._day_of_care()
        i, fac = self.days_run, self.facilities
        self._daily[i] = self._day
        cr = self._county_rows
        self._daily_facility[i, _FI["county_bed_days"]] = fac.occupied[cr].sum()
        self._daily_facility[i, _FI["county_bed_capacity_days"]] = fac.beds[cr].sum()
        self._daily_facility[i, _FI["posted_doctor_days"]] = self.policies.sinking.doctor_days
        self._daily_facility[i, _FI["rotation_trained_days"]] = self.policies.skills.rotation_trained
        towns = self._town_fac0 + np.arange(self.county.n_townships)
        self._capability[i] = np.einsum("tks,ks->tk", fac.capability[towns], self._spec_mix)
        self.days_run += 1

    def _day_of_care(self) -> None:
        d = self._clock
        date = self.date_of(d)
        fac, res, seed = self.facilities, self.residents, self.seed
        pol = self.policies
        todo = pol.update(date, d)
        if todo.get("contracts"):
            assign_contracts(self.params, res, pol.state.contract_rate)
        if todo.get("tariff"):
            st = pol.state
            self.tariff = Tariff(self.params.insurance, fac, st.reimbursement_delta_outpatient, st.reimbursement_delta_inpatient, st.unreferred_cut)
        if fac.stale or todo.get("restaff"):
            self.restaff()
        elif todo.get("uplift"):
            self._lift()
        if pol.any:
            fac.open_share = np.where(fac.level == _COUNTY, 1.0 - pol.state.reserved_slots, 1.0)
        self._day[:] = 0.0
        self._arrivals[:] = 0.0
        slot = d % self._horizon
        fac.occupied += self._bed_in[slot] - self._bed_out[slot]
        self._bed_in[slot] = 0.0
        self._bed_out[slot] = 0.0
        self._day[_CI["referrals_down"]] += self._down_due[slot, 0]
        self._day[_CI["referrals_down_county"]] += self._down_due[slot, 1]
        self._down_due[slot] = 0.0
        self._day[_CI["resident_days"]] += self._residents_by_town
        self._day[_CI["fund_income"]] += self._income_by_town
        if pol.state.capitation > 0:
            budget = self.params.policies.capitation.budget_per_resident_year / 365.0
            self._day[_CI["capitation_budget"]] += budget * self._residents_by_town

        # 1. Illness
        u = crn.day_uniforms(seed, crn.ARRIVAL, d, res.n)
        ids = np.flatnonzero(u < self.chronic.total())
        if ids.size:
            self._episodes(d, ids, u[ids])

        # 5. Facilities
        fac.end_day(self._arrivals, self.params.facilities.wait_memory_days)
        # 4'. Weekly: trust relaxes towards each level's reputation; chronic control follows follow-up.
        if d % 7 == 6:
            res.trust += self._pull_weekly * (self._reputation - res.trust)
            self.chronic.turnover(crn.day_uniforms(seed, crn.TURNOVER, d, res.n * len(CONDITIONS)).reshape(res.n, -1), 7.0)
            self.chronic.refresh_control(d)
        # chronic management as of the last weekly review
        cb = self.chronic.by_township
        self._day[_CI["chronic_residents"]] += cb[0]
        self._day[_CI["chronic_managed"]] += cb[1]
        self._day[_CI["chronic_controlled"]] += cb[2]
        self._clock += 1

    def _episodes(self, d: int, ids: np.ndarray, u_arrival: np.ndarray) -> None:
        res, fac, seed, st = self.residents, self.facilities, self.seed, self.policies.state
        town = res.township[ids].astype(np.intp)
        kind = (u_arrival[:, None] >= self.chronic.cumulative(ids)).sum(axis=1)
        kind = np.minimum(kind, len(KINDS) - 1)
        self._tally("episodes", town)
        for k, name in enumerate(KINDS):
            m = kind == k
            if m.any():
                self._tally(f"episodes_{name}", town[m])

        # Online (AI-doctor) consultation: some minor episodes end without a trip.
        if st.online_share > 0:
            uo = crn.uniforms_matrix(seed, crn.ONLINE, d, ids, 2)
            online = (kind == _K["minor"]) & (uo[:, 0] < st.online_share)
            if online.any():
                self._tally("online_consults", town[online])
                done = online & (uo[:, 1] < st.online_resolve)
                keep = ~done
                ids, u_arrival, town, kind = ids[keep], u_arrival[keep], town[keep], kind[keep]
        n = ids.size
        if n == 0:
            return

        # Severity and specialty needed
        sev = crn.uniforms(seed, crn.SEVERITY, d, ids)
        us = crn.uniforms(seed, crn.SPECIALTY, d, ids)
        spec = np.minimum((us[:, None] >= self._spec_cum[kind]).sum(axis=1), len(SPECIALTIES) - 1)
        child = res.age[ids] < 15
        spec = np.where(child & ((spec == _S["internal_general"]) | (spec == _S["obstetrics_gynaecology"])), _S["paediatrics"], spec)
        spec = np.where(~child & ~res.female[ids] & (spec == _S["obstetrics_gynaecology"]), _S["internal_general"], spec)

        # 2. Choice: utilities of each facility column for each episode (fixed for the day)
        vill = res.village[ids].astype(np.intp)
        cf = self.col_facility
        fac_cols = np.column_stack([
            vill,
            self._town_fac0 + town,
            np.full(n, cf["county_people"]),
            np.full(n, cf["county_tcm"]),
            np.full(n, cf["county_mch"]),
            np.full(n, cf["city"]),
        ])
        employee = self._employee[ids]
        contracted = res.contracted[ids]
        util = choice.facility_utilities(
            self.weights, fac, self.tariff, fac_cols, kind, spec, employee,
            res.trust[ids], contracted, res.last_level[ids], self.county.travel_minutes[vill],
            self._admit_p,
        )
        if st.first_contact or st.scheduled_followup or st.community_followup:
            bonus = np.where(kind == _K["minor"], st.first_contact * contracted, 0.0)
            bonus += np.where(kind == _K["chronic"], st.scheduled_followup * contracted + st.community_followup, 0.0)
            util[:, :2] += bonus[:, None]
        eligible = np.ones((n, 6), dtype=bool)
        eligible[:, 4] = self._mch_ok[ids]
        home_u = self.weights.stay_home[kind]

        draws = {name: crn.uniforms(seed, stream, d, ids) for name, stream in _EPISODE_STREAMS.items()}

        active = np.arange(n)
        cur_level = np.full(n, -1, dtype=np.int8)
        forced = np.full(n, -1, dtype=np.int8)  # column a formal referral sends the patient to
        came_from = np.full(n, -1, dtype=np.int8)  # level a tracked referral came from
        for p in range(4):
            if active.size == 0:
                break
            col = forced[active].astype(np.intp)
            free = col < 0
            if free.any():
                fi = active[free]
                avail = eligible[fi] & (COLUMN_LEVEL[None, :] > cur_level[fi, None])
                uc = crn.uniforms_matrix(seed, crn.CHOICE, d, ids[fi], 7, slot=p)
                col[free] = choice.sample(home_u[fi], util[fi], avail, uc)
            home = col < 0
            if home.any():
                self._tally("stay_home" if p == 0 else "gave_up", town[active[home]])
            go = active[~home]
            col = col[~home]
            if go.size == 0:
                break
            trip = _Trip(d, p, go, ids[go], town[go], fac_cols[go, col], COLUMN_LEVEL[col], kind[go], spec[go], sev[go], forced[go] >= 0, {k: v[go] for k, v in draws.items()})
            if p == 0:
                self._tally_first(trip, contracted[go])
            unresolved = self._visit(trip, forced, came_from)
            cur_level[go] = COLUMN_LEVEL[col]
            active = go[unresolved]

    def _visit(self, t: "_Trip", forced: np.ndarray, came_from: np.ndarray) -> np.ndarray:
        """A trip of each patient of ``t`` to his facility; returns the mask of unresolved ones
        (and sets ``forced`` for those formally referred)."""
        fac, res, seed, st = self.facilities, self.residents, self.seed, self.policies.state
        d, p, rid, town, f, lvl, kind, spec = t.d, t.p, t.rid, t.town, t.f, t.lvl, t.kind, t.spec
        resolved = t.sev < fac.capability[f, kind, spec]
        want_bed = resolved & (t.u["admit"] < self._admit_p[kind])
        admitted = np.zeros_like(want_bed)
        if want_bed.any():
            w = np.flatnonzero(want_bed)
            fw = f[w]
            order = np.lexsort((t.u["bed"][w], fw))  # free beds go to patients in a random order
            fs = fw[order]
            first = np.searchsorted(fs, fs, side="left")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order)) - first
            has_bed = rank < (fac.beds[fw] - fac.occupied[fw])
            admitted[w[has_bed]] = True
            resolved[w[~has_bed]] = False  # no bed: sent up like an episode beyond capability
        outpatient = resolved & ~admitted
        n_extra = np.where(outpatient, np.floor(self._extra[kind] + t.u["extra"]), 0.0)
        n_visits = 1.0 + n_extra

        # Length of stay (shorter under DRG at county and city) and the bill
        los = np.maximum(1, np.rint(fac.length_of_stay[f] * (0.5 + t.u["los"]) * np.where(lvl >= _COUNTY, st.length_of_stay_factor, 1.0))).astype(np.intp)
        mean_los = fac.length_of_stay[f]
        price_adm = fac.price_admission[f] * ((1.0 - st.drg) * los / mean_los + st.drg * st.drg_price_factor)
        sch = res.scheme[rid]
        oop_v, fund_v = self.tariff.visit(n_visits * fac.price_visit[f], f, sch, t.referred)
        oop_a, fund_a = self.tariff.admission(price_adm, f, sch, t.referred)
        oop = np.where(admitted, oop_a, oop_v)
        fund = np.where(admitted, fund_a, fund_v)
        wait = fac.wait_now[f]
        skip = max(st.green_channel, float(st.reserved_slots > 0))
        if skip > 0:  # referred patients skip the hospitals' queue
            wait = np.where(t.referred & (lvl >= _COUNTY), fac.base_wait[f] + (1.0 - skip) * (wait - fac.base_wait[f]), wait)
        travel = self.county.travel_minutes[res.village[rid], _TRAVEL_COLUMN[lvl]]

        self._tally("trips", town)
        self._tally("visits", town, n_visits)
        self._tally_by_level("visits_village", lvl, town, n_visits)
        self._tally_by_level("trips_village", lvl, town)
        hosp = lvl >= _COUNTY
        if hosp.any():
            self._tally("hospital_trips", town[hosp])
            hr = hosp & t.referred
            if hr.any():
                self._tally("hospital_trips_referred", town[hr])
        self._tally("travel_minutes", town, travel)
        self._tally("wait_days", town, wait)
        self._tally("oop_outpatient", town, np.where(admitted, 0.0, oop))
        self._tally("oop_inpatient", town, np.where(admitted, oop, 0.0))
        self._tally("fund", town, fund)
        self._tally("fund_community", town, np.where(lvl <= _COUNTY, fund, 0.0))
        if st.capitation > 0:
            self._tally("fund_community_capitated", town, np.where(lvl <= _COUNTY, fund, 0.0))
        np.add.at(self._arrivals, f, n_visits)

        # TCM services: TCM episodes, the county TCM hospital, and TCM at grassroots visits
        grass_tcm = (lvl <= _TOWNSHIP) & ((kind == _K["minor"]) | (kind == _K["chronic"])) & (crn.uniforms(seed, crn.TCM, d, rid, slot=p) < st.tcm_uptake)
        tcm = (spec == _S["tcm"]) | (f == self.col_facility["county_tcm"]) | grass_tcm
        self._tally("tcm_visits", town, n_visits * tcm)

        # A serious episode seen at a facility may reveal undiagnosed chronic conditions (late
        # diagnosis); every trip of the episode uses the same draws, so a second trip adds nothing.
        severe = np.isin(kind, _SEVERE_KINDS)
        if severe.any():
            late = self.chronic.late_diagnosis(rid[severe], crn.uniforms_matrix(seed, crn.LATE_DIAGNOSIS, d, rid[severe], len(CONDITIONS)))
            if late.any():
                self._tally("late_diagnoses", town[severe], late.astype(float))

        # Chronic follow-up visits count towards management
        fu = resolved & (kind == _K["chronic"])
        if fu.any():
            self.chronic.record_followups(rid[fu], d)

        # Screening at township centres (equipment): early diagnosis of chronic conditions
        if st.screened_share > 0:
            sc = self.params.policies.screening
            us = crn.uniforms_matrix(seed, crn.SCREENING, d, rid, 1 + len(CONDITIONS), slot=p)
            screen = (lvl == _TOWNSHIP) & (res.age[rid] >= sc.min_age) & (d - self._screened_day[rid] >= 365) & (us[:, 0] < st.screened_share)
            if screen.any():
                r = rid[screen]
                self._screened_day[r] = d
                self._tally("screenings", town[screen])
                bits = np.zeros(len(r), dtype=np.uint8)
                for b in range(len(CONDITIONS)):
                    bits |= ((us[screen, 1 + b] < sc.sensitivity).astype(np.uint8) << b)
                found = self.chronic.diagnose(r, bits)
                self._tally("screening_found", town[screen], found.astype(float))

        # Experience -> satisfaction -> trust in that level
        a, b_unres, b_wait, b_cost, lr = self._sat
        logit = a + b_unres * (~resolved) + b_wait * wait + b_cost * oop / 100.0
        sat = crn.uniforms(seed, crn.SATISFACTION, d, rid, slot=p) < 1.0 / (1.0 + np.exp(-logit))
        self._tally("satisfied", town, sat.astype(float))
        if sat.any():
            self._tally_by_level("satisfied_village", lvl[sat], town[sat])
        tr = res.trust[rid, lvl]
        res.trust[rid, lvl] = tr + lr * (sat - tr)
        back = came_from[t.epi]
        home_level = np.where(resolved & (back >= 0), back, lvl)  # a tracked referral returns to the grassroots
        res.last_level[rid[resolved]] = home_level[resolved]

        # Admissions: bed now; discharge (or transfer down to the township centre) later
        if admitted.any():
            ai = np.flatnonzero(admitted)
            fa, la, ta, lo = f[ai], lvl[ai], town[ai], los[ai]
            np.add.at(fac.occupied, fa, 1.0)
            self._tally("admitted", ta)
            cm = la == _COUNTY
            if cm.any():
                self._tally("admitted_county", ta[cm])
            down = (t.u["down"][ai] < np.minimum(1.0, self._down[la] * st.downward_factor)) & (la >= _COUNTY)
            acute = np.maximum(1, np.rint(lo * self.params.referral.acute_share_of_stay)).astype(np.intp)
            acute = np.minimum(acute, lo)
            if cm.any():
                self._tally("county_inpatient_days", ta[cm], np.where(down, acute, lo)[cm].astype(float))
            H = self._horizon
            stay = ~down
            np.add.at(self._bed_out, ((d + lo[stay]) % H, fa[stay]), 1.0)
            if down.any():
                tf = self._town_fac0 + ta[down]
                due = (d + acute[down]) % H
                np.add.at(self._bed_out, (due, fa[down]), 1.0)
                np.add.at(self._bed_in, (due, tf), 1.0)
                np.add.at(self._bed_out, ((d + lo[down]) % H, tf), 1.0)
                np.add.at(self._down_due, (due, 0, ta[down]), 1.0)
                np.add.at(self._down_due, (due, 1, ta[down]), (la[down] == _COUNTY).astype(float))
                tracked = t.u["track"][ai][down] < st.closed_loop
                self._tally("referrals_formal", ta[down])
                self._tally("referrals_tracked", ta[down], tracked.astype(float))
                res.last_level[rid[ai][down]] = np.where(tracked, _TOWNSHIP, res.last_level[rid[ai][down]])

        # Beyond capability (or no bed): formal referral up, else the patient decides himself
        unresolved = ~resolved
        if unresolved.any():
            ui = np.flatnonzero(unresolved)
            lu = lvl[ui]
            pf = self._formal[lu] * np.where(lu <= _TOWNSHIP, st.formal_referral_factor, 1.0)
            formal = (t.u["formal"][ui] < pf) & (lu < _CITY)
            formal |= want_bed[ui] & (lu < _CITY)  # no bed: transferred
            fi = ui[formal]
            forced[t.epi[ui]] = -1
            forced[t.epi[fi]] = _REFER_TO_COLUMN[lvl[fi]]
            if fi.size:
                tracked = t.u["track"][fi] < st.closed_loop
                came_from[t.epi[fi]] = np.where(tracked & (lvl[fi] <= _TOWNSHIP), lvl[fi], came_from[t.epi[fi]])
                self._tally("referrals_formal", town[fi])
                self._tally("referrals_tracked", town[fi], tracked.astype(float))
            for li, name in ((_VILLAGE, "referrals_up_village_township"), (_TOWNSHIP, "referrals_up_grassroots"), (_COUNTY, "referrals_up_county_city")):
                m = lvl[fi] == li
                if m.any():
                    self._tally(name, town[fi[m]])
            at_town = lu == _TOWNSHIP
            if at_town.any():
                self._tally("unresolved_township", town[ui[at_town]])
                self.policies.sinking.record_unresolved(town[ui[at_town]], spec[ui[at_town]])
            if (lu == _CITY).any():  # the city hospital is the last resort: nowhere further to go
                gone = ui[lu == _CITY]
                self._tally("gave_up", town[gone])
                unresolved[gone] = False
        return unresolved

    # --- burn-in shared between lever settings ---------------------------------

    def burn_in(self) -> None:
        """Simulate the unrecorded burn-in days now (``step`` would do it on its first call)."""
        while self._clock < self.burn_in_days:
            self._day_of_care()

    def rebind(self, params: Params) -> None:
        """Continue from the end of the burn-in with other lever settings (``params.policies``).

        Valid when no lever of either setting acts during the burn-in (every enabled lever
        starts on or after the start date) and every other parameter is the same: the
        burn-in then does not depend on the levers, so the model continues exactly as a
        fresh model of ``params`` would (:mod:`health_sim.warmstart` checks both, and a
        test compares every scenario bit for bit).
        """
        from .warmstart import burn_in_key

        if self.days_run or self._clock != self.burn_in_days:
            raise RuntimeError("rebind only at the end of the burn-in")
        key = burn_in_key(params, self.seed)
        if key is None or key != burn_in_key(self.params, self.seed):
            raise ValueError("rebind needs the same parameters apart from levers that start on or after the start date")
        unresolved = self.policies.sinking.unresolved  # recorded whatever the levers
        self.params = params
        self.chronic.params = params
        self.policies = Policies(self)
        self.policies.skills.set_village_doctors(sum(len(f.doctors) for f in self.facility_agents if f.level == "village"))
        self.policies.sinking.unresolved = unresolved.copy()
        self.restaff()

    # --- running and results ----------------------------------------------------

    def run_days(self, days: int | None = None, progress: bool | None = None) -> None:
        """Step ``days`` days (default: the rest of the run), burn-in first if still due.

        ``progress``: True shows a tqdm bar, False none, None a bar only on a terminal.
        """
        from tqdm.auto import tqdm

        days = self.n_days - self.days_run if days is None else days
        warm = max(0, self.burn_in_days - self._clock)
        disable = None if progress is None else not progress
        with tqdm(total=warm + days, disable=disable, unit="day", leave=False, desc="burn-in" if warm else "days") as bar:
            while self._clock < self.burn_in_days:
                self._day_of_care()
                bar.update()
            bar.set_description("days")
            for _ in range(days):
                self.step()
                bar.update()

    def _counters_total(self) -> dict:
        d = self.days_run
        tot = self._daily[:d].sum(axis=(0, 2))
        c = {name: float(tot[i]) for i, name in enumerate(COUNTERS)}
        ftot = self._daily_facility[:d].sum(axis=0)
        c.update({name: float(ftot[i]) for i, name in enumerate(FACILITY_COUNTERS)})
        return c

    def kpis(self) -> dict:
        """The run's KPIs so far (name -> value; visits_by_level is a dict by level)."""
        return evaluate(self._counters_total(), max(self.days_run, 1), self.scale)

    def daily_frame(self) -> pd.DataFrame:
        """One row a day: the day's counters (simulated) and KPIs."""
        d = self.days_run
        c = pd.DataFrame(self._daily[:d].sum(axis=2), columns=list(COUNTERS))
        for i, name in enumerate(FACILITY_COUNTERS):
            c[name] = self._daily_facility[:d, i]
        k = pd.DataFrame(evaluate(c, 1, self.scale))
        days = pd.DataFrame({
            "day": np.arange(1, d + 1),
            "date": pd.to_datetime([self.start_date + dt.timedelta(days=i) for i in range(d)]),
        })
        return pd.concat([days, k, c], axis=1)

    def annual_frame(self) -> pd.DataFrame:
        """One row per calendar year of the run: KPIs and counters (so "by 2025" targets can be judged)."""
        d = self.days_run
        c = pd.DataFrame(self._daily[:d].sum(axis=2), columns=list(COUNTERS))
        for i, name in enumerate(FACILITY_COUNTERS):
            c[name] = self._daily_facility[:d, i]
        years = np.array([(self.start_date + dt.timedelta(days=i)).year for i in range(d)])
        c["year"] = years
        g = c.groupby("year", sort=True)
        sums, days = g.sum(), g.size()
        rows = []
        for year in sums.index:
            row = {"year": int(year), "days": int(days[year])}
            k = evaluate(sums.loc[year].to_dict(), int(days[year]), self.scale)
            for name, v in k.items():
                if isinstance(v, dict):
                    row.update({f"{name}.{part}": x for part, x in v.items()})
                else:
                    row[name] = v
            rows.append(row)
        return pd.DataFrame(rows)

    def capability_frame(self) -> pd.DataFrame:
        """Township centres' capability by episode kind, day by day (long format).

        Capability is the share of episodes of a kind the centre can resolve, averaged over
        the specialties episodes of that kind need; ``index`` averages the kinds."""
        d, T = self.days_run, self.county.n_townships
        cap = self._capability[:d]  # (days, T, K)
        dates = np.array([self.start_date + dt.timedelta(days=i) for i in range(d)])
        out = pd.DataFrame({
            "date": pd.to_datetime(np.repeat(dates, T)),
            "township": np.tile(self.county.township_names, d),
        })
        for k, name in enumerate(KINDS):
            out[name] = cap[:, :, k].ravel()
        out["index"] = cap.mean(axis=2).ravel()
        return out

    def township_frame(self) -> pd.DataFrame:
        """One row per township of residence: counters over the run and KPIs."""
        d = max(self.days_run, 1)
        c = pd.DataFrame(self._daily[: self.days_run].sum(axis=0).T, columns=list(COUNTERS))
        k = pd.DataFrame(evaluate(c, d, self.scale, facility=False))
        names = pd.DataFrame({
            "township": self.county.township_names,
            "township_zh": self.county.township_names_zh,
            "residents": self._residents_by_town.astype(int),
            "villages": np.bincount(self.county.village_township, minlength=self.county.n_townships),
        })
        return pd.concat([names, k, c], axis=1)

    def date(self) -> dt.date:
        """Calendar date of the next day to simulate."""
        return self.start_date + dt.timedelta(days=self.days_run)
