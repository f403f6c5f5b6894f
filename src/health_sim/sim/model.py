"""HealthSystemModel: a county whose residents choose where to seek care. One step is one day.

Each day (see :meth:`HealthSystemModel.step`):

1. Illness: a resident falls ill with his daily episode probability (at most once a
   day); the residents whose episode begins today come from a calendar of onsets
   (:mod:`health_sim.world.onset`), so a day's work is proportional to its episodes. The
   episode's kind (minor acute, chronic follow-up, serious, emergency, needing
   admission) follows the kinds' shares of his probability; it gets a severity and the
   specialty it needs. Steps 1-4 run compiled (:mod:`health_sim.sim.engine`).
2. Choice: a multinomial logit over staying home, the own village clinic, the own
   township centre, the three county hospitals and the city hospital
   (:mod:`health_sim.world.choice`).
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
import hashlib
import json

import mesa
import numpy as np
import pandas as pd

from health_sim.config.schema import Params
from health_sim.core import rng as crn
from health_sim.core.names import CONDITIONS, KINDS, LEVELS, SPECIALTIES, Level
from health_sim.policies.run import PolicyRun
from health_sim.sim import engine, rules
from health_sim.sim.kpis import COUNTERS, FACILITY_COUNTERS, evaluate
from health_sim.world import choice
from health_sim.world.agents import Doctor, Facility
from health_sim.world.chronic import ChronicCare
from health_sim.world.county import build_county
from health_sim.world.facilities import FacilityTable, build_table, doctor_counts, facility_rows
from health_sim.world.insurance import Tariff
from health_sim.world.onset import Onsets
from health_sim.world.population import EMPLOYEE, assign_contracts, build_residents
from health_sim.world.secular import hospital_size, money_weight

_CI = {name: i for i, name in enumerate(COUNTERS)}
_FI = {name: i for i, name in enumerate(FACILITY_COUNTERS)}
_S = {s: i for i, s in enumerate(SPECIALTIES)}


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

        self._clock = 0  # all days simulated, burn-in included (keys the random streams)
        self.days_run = 0  # recorded days simulated
        self._build_places()
        self.policies = PolicyRun(self)
        self.restaff()
        self._set_tariff(Tariff(params.insurance, self.facilities))
        self.weights = choice.Weights(params)
        self.chronic = ChronicCare(params, self.residents, seed)
        self.onsets = Onsets(seed, self.chronic.total())
        self._build_engine_inputs()
        self._build_books()

    def _build_places(self) -> None:
        """The county, its residents, facilities (table and Mesa agents) and doctors."""
        params, seed = self.params, self.seed
        self.county = build_county(params, seed)
        self.residents = build_residents(params, self.county, self.scale, seed)
        rows = facility_rows(params, self.county.township_names, self.county.village_township)
        self.facilities: FacilityTable = build_table(params, rows, self.scale)
        self._reference_beds = self.facilities.beds.copy()  # the county's beds, in the secular reference year
        self._hospital_size = 1.0  # county and city hospitals' capacity and beds against the reference year
        self.facility_agents = [
            Facility(self, i, ftype, name, None if t < 0 else t) for i, (ftype, name, t) in enumerate(rows)
        ]
        g = crn.generator(seed, crn.POPULATION + 200)
        for fac, counts in zip(self.facility_agents, doctor_counts(params, rows, g), strict=True):
            for spec, n in counts.items():
                for _ in range(n):
                    Doctor(self, fac, spec)

        V = self.county.n_villages
        types = [r[0] for r in rows]
        self.col_facility = {  # facility index of each choice column (village/township vary by resident)
            "county_people": types.index("county_people"),
            "county_tcm": types.index("county_tcm"),
            "county_mch": types.index("county_mch"),
            "city": types.index("city_tertiary"),
        }
        self._town_fac0 = V
        fac = self.facilities
        self._county_rows = np.flatnonzero(fac.level == Level.COUNTY)
        # the facility whose capability caps a policy's lift: a village clinic's township
        # centre, a township centre's county people's hospital, itself above
        self._reference = np.arange(len(fac))
        self._reference[fac.level == Level.VILLAGE] = V + fac.township[fac.level == Level.VILLAGE]
        self._reference[fac.level == Level.TOWNSHIP] = self.col_facility["county_people"]

    def _build_engine_inputs(self) -> None:
        """What the compiled engine reads that does not change during a run.

        Residents' fixed traits by township, the specialty mix, the choice weights, care rules,
        and trust's weekly pull towards reputation.
        """
        params, res, T = self.params, self.residents, self.county.n_townships
        self._residents_by_town = np.bincount(res.township, minlength=T).astype(float)
        self._mch_ok = (res.age < 15) | (res.female & (res.age >= 15) & (res.age < 50))
        self._employee = res.scheme == EMPLOYEE
        # How much more a resident minds a bill than one at the rural median income (1 there; more when poorer).
        self._price_sense = (params.population.income_rural_median_yuan / res.income).astype(np.float64)
        ins = params.insurance
        income = (
            np.where(self._employee, ins.contribution_per_employee_year, ins.contribution_per_resident_year) / 365.0
        )
        self._income_by_town = np.bincount(res.township, income, minlength=T)
        self._screened_day = np.full(res.n, -(10**6), dtype=np.int32)
        self._referred_up = np.zeros(res.n, dtype=np.bool_)  # formally referred up from the grassroots, not yet back
        ep = params.episodes
        mix = np.array([[ep.specialty_mix[k].get(s, 0.0) for s in SPECIALTIES] for k in KINDS])
        self._spec_mix = mix / mix.sum(axis=1, keepdims=True)
        self._spec_cum = np.cumsum(self._spec_mix, axis=1)
        sp = params.satisfaction
        w = self.weights
        self._choice = engine.Choice(
            w.asc,
            w.quality,
            w.trust,
            w.cost_per_100_yuan,
            w.travel_per_hour,
            w.wait_per_day,
            w.contract,
            w.habit,
            w.employee_hospital,
            w.stay_home,
            np.ascontiguousarray(self.county.travel_minutes, dtype=float),
            w.seek_cost_per_100_yuan,
            w.township_admission,
        )
        self._year = None  # the year whose secular forces apply (set on the first day)
        self._care = self._care_rules()
        cf = self.col_facility
        self._hospitals = np.array(
            [cf["county_people"], cf["county_tcm"], cf["county_mch"], cf["city"]], dtype=np.int64
        )
        self._reputation = np.array([params.population.reputation[lvl] for lvl in LEVELS], dtype=np.float32)
        self._pull_weekly = np.float32(1.0 - np.exp(-sp.reputation_pull * 7.0 / 365.0))

    def _build_books(self) -> None:
        """Where the run is recorded: the bed and referral rings, and the day-by-day records."""
        fac, T = self.facilities, self.county.n_townships
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

    # --- state derived from agents and residents -------------------------------

    def doctors(self):
        """Every doctor (Mesa agents), wherever he works today."""
        return self.agents_by_type[Doctor]

    def n_village_doctors(self) -> int:
        """Doctors whose home is a village clinic."""
        return sum(len(f.doctors) for f in self.facility_agents if f.level == "village")

    def restaff(self) -> None:
        """Recompute facility capacity and capability from where the doctors are (and the levers)."""
        staff = np.zeros((len(self.facilities), len(SPECIALTIES)))
        for d in self.agents_by_type[Doctor]:
            staff[d.location.index, _S[d.specialty]] += 1
        st = self.policies.state
        factor = np.where(self.facilities.level <= Level.TOWNSHIP, st.grassroots_capacity_factor, self._hospital_size)
        self.facilities.restaff(self.policies.staff_extra(staff), factor)
        self._lift()

    def _lift(self) -> None:
        if self.policies.any:
            by_spec, by_kind = self.policies.uplift(self.date_of(self._clock))
            self.facilities.lift(self._reference, by_spec, by_kind)

    def _set_tariff(self, tariff: Tariff) -> None:
        """Use ``tariff`` from now on, with the out-of-pocket cost residents expect under it."""
        self.tariff = tariff
        prices = (self.facilities.price_visit, self.facilities.price_admission)
        self._expected_oop = (*rules.expected_oop(tariff, *prices), *rules.expected_oop(tariff, *prices, referred=True))

    def date_of(self, clock: int) -> dt.date:
        """Calendar date of simulated day ``clock`` (burn-in days fall before the start date)."""
        return self.start_date + dt.timedelta(days=clock - self.burn_in_days)

    # --- one day ----------------------------------------------------------------

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
        towns = self._town_fac0 + np.arange(self.county.n_townships)
        self._daily_facility[i, _FI["township_bed_days"]] = fac.occupied[towns].sum()
        self._daily_facility[i, _FI["township_bed_capacity_days"]] = fac.beds[towns].sum()
        self._daily_facility[i, _FI["posted_doctor_days"]] = self.policies.sinking.doctor_days
        self._daily_facility[i, _FI["rotation_trained_days"]] = self.policies.skills.rotation_trained
        self._daily_facility[i, _FI["rotation_away_doctor_days"]] = self.policies.skills.rotation_away
        self._capability[i] = np.einsum("tks,ks->tk", fac.capability[towns], self._spec_mix)
        self.days_run += 1

    def _set_year(self, year: int) -> None:
        """Apply ``year``'s secular forces (:mod:`health_sim.world.secular`).

        The choice's price weights are scaled for the year's incomes; the county and city
        hospitals' outpatient capacity and beds for the year's hospital size (capacity at the
        next restaffing, which a change of size brings about).
        """
        f = money_weight(self.params, year)
        w = self.weights
        self._choice = self._choice._replace(cost=w.cost_per_100_yuan * f, seek_cost=w.seek_cost_per_100_yuan * f)
        size = hospital_size(self.params, year)
        if size != self._hospital_size:
            fac = self.facilities
            fac.beds[:] = np.where(fac.level >= Level.COUNTY, self._reference_beds * size, self._reference_beds)
            self._hospital_size = size
            fac.stale = True
        self._year = year

    def _day_of_care(self) -> None:
        d = self._clock
        date = self.date_of(d)
        if date.year != self._year:
            self._set_year(date.year)
        fac, res, seed = self.facilities, self.residents, self.seed
        pol = self.policies
        todo = pol.update(date, d)
        if todo.get("contracts"):
            assign_contracts(self.params, res, pol.state.contract_rate)
        if todo.get("tariff"):
            st = pol.state
            self._set_tariff(
                Tariff(
                    self.params.insurance,
                    fac,
                    st.reimbursement_delta_outpatient,
                    st.reimbursement_delta_inpatient,
                    st.unreferred_cut,
                )
            )
        if fac.stale or todo.get("restaff"):
            self.restaff()
        elif todo.get("uplift"):
            self._lift()
        if pol.any:
            fac.open_share = np.where(fac.level == Level.COUNTY, 1.0 - pol.state.reserved_slots, 1.0)
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
            budget = self.params.policies.capitation.at(date).budget_per_resident_year / 365.0
            self._day[_CI["capitation_budget"]] += budget * self._residents_by_town

        # 1. Illness: the residents whose episode begins today (then their next onset)
        ids, u_ill = self.onsets.today(d, self.chronic.total())
        if ids.size:
            self._episodes(d, ids, u_ill)
            self.onsets.renew(ids, self.chronic.total(), d)

        # 5. Facilities
        fac.end_day(self._arrivals, self.params.facilities.wait_memory_days)
        # 4'. Weekly: trust relaxes towards each level's reputation; chronic control follows follow-up.
        if d % 7 == 6:
            engine.relax_all_trust(res.trust, self._reputation, self._pull_weekly)
            before = self.chronic.total().copy()
            self.chronic.turnover(seed, d, 7.0)
            self.chronic.refresh_control(d)
            self.onsets.change(np.flatnonzero(self.chronic.total() != before), self.chronic.total(), d)  # risks changed
        # chronic management as of the last weekly review
        cb = self.chronic.by_township
        self._day[_CI["chronic_residents"]] += cb[0]
        self._day[_CI["chronic_managed"]] += cb[1]
        self._day[_CI["chronic_controlled"]] += cb[2]
        self._clock += 1

    def _episodes(self, d: int, ids: np.ndarray, u_arrival: np.ndarray) -> None:
        """Steps 2-4 for the residents ``ids`` who fell ill on day ``d`` (compiled: :mod:`health_sim.sim.engine`)."""
        res, fac, ch, tariff, st = self.residents, self.facilities, self.chronic, self.tariff, self.policies.state
        people = engine.People(
            res.village,
            res.township,
            res.age,
            res.female,
            self._employee,
            self._mch_ok,
            res.contracted,
            res.trust,
            res.last_level,
            res.conditions,
            res.diagnosed,
            self._screened_day,
            self._referred_up,
            ch.history,
            ch.uncontrolled,
            ch.cum_ok,
            ch.cum_bad,
            self._price_sense,
        )
        sites = engine.Sites(
            fac.capability,
            fac.wait_now,
            fac.wait_expected,
            fac.base_wait,
            fac.beds,
            fac.occupied,
            fac.length_of_stay,
            fac.price_visit,
            fac.price_admission,
            tariff.rate_visit,
            tariff.ded_visit,
            tariff.scope_visit,
            tariff.rate_admission,
            tariff.ded_admission,
            tariff.scope_admission,
            *self._expected_oop,
            self._hospitals,
            self._town_fac0,
        )
        policy = st.engine_vector()
        tally = np.zeros((len(COUNTERS), self.county.n_townships))
        books = engine.Books(
            tally, self._arrivals, self._bed_in, self._bed_out, self._down_due, self.policies.sinking.unresolved
        )
        changed = engine.day_of_episodes(
            d, self.seed, ids, u_arrival, people, sites, self._choice, self._care, policy, books
        )
        self._day += tally
        if changed.size:
            ch.refresh_rows(np.unique(changed))

    def _care_rules(self) -> engine.Care:
        """Episode, referral, satisfaction and screening parameters as the engine reads them."""
        p = self.params
        ep, rp, sp, sc = p.episodes, p.referral, p.satisfaction, p.policies.screening
        return engine.Care(
            admit_p=np.array([ep.admit_probability[k] for k in KINDS]),
            extra=np.array([ep.extra_visits[k] for k in KINDS]),
            spec_cum=self._spec_cum,
            formal=np.array([rp.formal_upward[lvl] for lvl in LEVELS]),
            down=np.array([rp.downward[lvl] for lvl in LEVELS]),
            late_p=np.array([p.population.conditions[c].late_diagnosis for c in CONDITIONS]),
            satisfaction=np.array(
                [sp.intercept, sp.unresolved, sp.wait_per_day, sp.cost_per_100_yuan, sp.learning_rate]
            ),
            acute_share=float(rp.acute_share_of_stay),
            screening_min_age=int(sc.min_age),
            screening_sensitivity=float(sc.sensitivity),
            tcm_facility=int(self.col_facility["county_tcm"]),
        )

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
        fresh model of ``params`` would (:mod:`health_sim.experiments.warmstart` checks both, and a
        test compares every scenario bit for bit).
        """
        if self.days_run or self._clock != self.burn_in_days:
            raise RuntimeError("rebind only at the end of the burn-in")
        key = burn_in_key(params, self.seed)
        if key is None or key != burn_in_key(self.params, self.seed):
            raise ValueError("rebind needs the same parameters apart from levers that start on or after the start date")
        unresolved = self.policies.sinking.unresolved  # recorded whatever the levers
        self.params = params
        self.chronic.params = params
        self.policies = PolicyRun(self)
        self.policies.sinking.unresolved = unresolved.copy()
        self._care = self._care_rules()
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
        with tqdm(
            total=warm + days, disable=disable, unit="day", leave=False, desc="burn-in" if warm else "days"
        ) as bar:
            while self._clock < self.burn_in_days:
                self._day_of_care()
                bar.update()
            bar.set_description("days")
            for _ in range(days):
                self.step()
                bar.update()

    def counter_totals(self) -> dict:
        """Each KPI counter (:data:`health_sim.sim.kpis.COUNTERS`) and facility counter summed over the run so far."""
        return self._counters_total()

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
        days = pd.DataFrame(
            {
                "day": np.arange(1, d + 1),
                "date": pd.to_datetime([self.start_date + dt.timedelta(days=i) for i in range(d)]),
            }
        )
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
        the specialties episodes of that kind need; ``index`` averages the kinds.
        """
        d, T = self.days_run, self.county.n_townships
        cap = self._capability[:d]  # (days, T, K)
        dates = np.array([self.start_date + dt.timedelta(days=i) for i in range(d)])
        out = pd.DataFrame(
            {
                "date": pd.to_datetime(np.repeat(dates, T)),
                "township": np.tile(self.county.township_names, d),
            }
        )
        for k, name in enumerate(KINDS):
            out[name] = cap[:, :, k].ravel()
        out["index"] = cap.mean(axis=2).ravel()
        return out

    def township_frame(self) -> pd.DataFrame:
        """One row per township of residence: counters over the run and KPIs."""
        d = max(self.days_run, 1)
        c = pd.DataFrame(self._daily[: self.days_run].sum(axis=0).T, columns=list(COUNTERS))
        k = pd.DataFrame(evaluate(c, d, self.scale, facility=False))
        names = pd.DataFrame(
            {
                "township": self.county.township_names,
                "township_zh": self.county.township_names_zh,
                "residents": self._residents_by_town.astype(int),
                "villages": np.bincount(self.county.village_township, minlength=self.county.n_townships),
            }
        )
        return pd.concat([names, k, c], axis=1)

    def date(self) -> dt.date:
        """Calendar date of the next day to simulate."""
        return self.start_date + dt.timedelta(days=self.days_run)


def warm_up() -> None:
    """Load the compiled engine into this process (from Numba's cache; compiled there if need be).

    It runs a model of a few residents for two days: about 1 s, otherwise paid by the first run.
    """
    HealthSystemModel(Params.model_validate({"run": {"scale": 0.002, "days": 2, "burn_in_days": 1}})).run_days(
        progress=False
    )


def burn_in_key(params: Params, seed: int) -> str | None:
    """Key of the end-of-burn-in state of ``params`` and ``seed``, or None.

    None when a lever acts during the burn-in (an enabled lever starting before the start date)
    or there is none.
    """
    if params.run.burn_in_days <= 0:
        return None
    for _, lever in params.policies.levers():
        if lever.enabled and lever.acts_from < params.run.start_date:
            return None
    d = params.model_dump(mode="json", exclude={"policies"})
    d["run"].pop("seed", None)
    blob = json.dumps({"seed": int(seed), "params": d}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
