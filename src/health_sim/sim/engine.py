"""The day's episodes, compiled: choice, visits, referrals, beds, bills and what residents learn.

:meth:`health_sim.sim.model.HealthSystemModel._episodes` hands the day's episodes (the
residents who fell ill and their illness uniforms) to :func:`day_of_episodes`, which
runs the rules of :mod:`health_sim.sim.rules` in loops over those episodes only; nothing
here touches residents who are not ill that day. One call does, in order:

1. kinds of episode, online consultations, severity and specialty;
2. the utility of each facility column for each episode (fixed for the day);
3. up to four passes: each patient still seeking care chooses (or goes where a formal
   referral sends him); free beds go to the pass's patients in a random order; then
   every visit is resolved or not, billed, tallied, and teaches trust; an unresolved
   patient is referred up, or chooses again in the next pass, or gives up.

The arrays come in as named tuples (:data:`People`, :data:`Sites`, :data:`Choice`,
:data:`Care`, :data:`Books`); state is updated in place. Counters are tallied into
``books.tally`` (one row per KPI counter, :data:`health_sim.sim.kpis.COUNTERS`), summed pass by pass so that float sums are the
same as tallying each pass with ``numpy.bincount``. Random numbers are the counter-based
ones of :mod:`health_sim.core.rng` keyed by (seed, stream, day, pass, resident): a decision
draws the same uniform whatever else happens (common random numbers).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from health_sim.core import rng as crn
from health_sim.core.names import KIND_GROUPS, KINDS, LEVELS
from health_sim.policies.state import ENGINE_FIELDS
from health_sim.sim.kpis import COUNTERS
from health_sim.sim import rules
from health_sim.core.jit import jit
from health_sim.sim.rules import CHRONIC, CITY, COUNTY, MINOR, N_COLUMNS, TCM, TOWNSHIP

People = namedtuple("People", "village township age female employee mch_ok contracted trust last_level conditions diagnosed screened_day history uncontrolled cum_ok cum_bad")
"""Residents' arrays (see :class:`health_sim.world.population.Residents` and :class:`health_sim.world.chronic.ChronicCare`)."""
Sites = namedtuple("Sites", "capability wait_now wait_expected base_wait beds occupied length_of_stay price_visit price_admission rate_visit ded_visit scope_visit rate_admission ded_admission scope_admission expected_oop_visit expected_oop_admission hospitals town_fac0")
"""Facilities' arrays (:class:`health_sim.world.facilities.FacilityTable`), the tariff (:class:`health_sim.world.insurance.Tariff`),
the facility index of the four hospital columns and of the first township centre."""
Choice = namedtuple("Choice", "asc quality trust cost travel wait contract habit employee_hospital stay_home travel_minutes")
"""Choice weights by group (0 minor, 1 severe; :class:`health_sim.world.choice.Weights`) and villages' travel minutes (V, 6)."""
Care = namedtuple("Care", "admit_p extra spec_cum formal down late_p satisfaction acute_share screening_min_age screening_sensitivity tcm_facility")
"""Episode and referral parameters as arrays by kind or level; satisfaction = (intercept, unresolved, wait, cost, learning rate)."""
Books = namedtuple("Books", "tally arrivals bed_in bed_out down_due unresolved")
"""Where the day is recorded: counters (COUNTERS, townships), visits by facility, the bed and
referral rings (days ahead, ...), and township centres' unresolved episodes by specialty."""

# The policy vector: the float fields of the day's policy state, by name.
_P = {name: i for i, name in enumerate(ENGINE_FIELDS)}
ONLINE_SHARE, ONLINE_RESOLVE, FIRST_CONTACT = _P["online_share"], _P["online_resolve"], _P["first_contact"]
SCHEDULED_FOLLOWUP, COMMUNITY_FOLLOWUP = _P["scheduled_followup"], _P["community_followup"]
GREEN_CHANNEL, RESERVED_SLOTS, LOS_FACTOR = _P["green_channel"], _P["reserved_slots"], _P["length_of_stay_factor"]
DRG, DRG_PRICE_FACTOR, CLOSED_LOOP = _P["drg"], _P["drg_price_factor"], _P["closed_loop"]
FORMAL_FACTOR, DOWNWARD_FACTOR, TCM_UPTAKE = _P["formal_referral_factor"], _P["downward_factor"], _P["tcm_uptake"]
SCREENED_SHARE, CAPITATION = _P["screened_share"], _P["capitation"]

# Rows of ``books.tally``: the KPI counters (:data:`health_sim.sim.kpis.COUNTERS`), by name. The
# per-kind, per-level and per-group counters are tallied by offset from the first of their run.
_T = {name: i for i, name in enumerate(COUNTERS)}
EPISODES, EPISODES_BY_KIND, ONLINE = _T["episodes"], _T["episodes_minor"], _T["online_consults"]
STAY_HOME, GAVE_UP, TRIPS, VISITS = _T["stay_home"], _T["gave_up"], _T["trips"], _T["visits"]
VISITS_BY_LEVEL, TRIPS_BY_LEVEL, SATISFIED_BY_LEVEL = _T["visits_village"], _T["trips_village"], _T["satisfied_village"]
HOSPITAL_TRIPS, HOSPITAL_TRIPS_REFERRED = _T["hospital_trips"], _T["hospital_trips_referred"]
TRAVEL, WAIT, OOP_OUT, OOP_IN = _T["travel_minutes"], _T["wait_days"], _T["oop_outpatient"], _T["oop_inpatient"]
FUND, FUND_COMMUNITY, FUND_CAPITATED = _T["fund"], _T["fund_community"], _T["fund_community_capitated"]
TCM_VISITS, LATE, SCREENINGS, SCREENING_FOUND, SATISFIED = _T["tcm_visits"], _T["late_diagnoses"], _T["screenings"], _T["screening_found"], _T["satisfied"]
ADMITTED, ADMITTED_COUNTY, COUNTY_INPATIENT_DAYS = _T["admitted"], _T["admitted_county"], _T["county_inpatient_days"]
FORMAL, TRACKED, UNRESOLVED_TOWNSHIP = _T["referrals_formal"], _T["referrals_tracked"], _T["unresolved_township"]
UP_BY_LEVEL = np.array([_T["referrals_up_village_township"], _T["referrals_up_grassroots"], _T["referrals_up_county_city"]])
FIRST_BY_GROUP, FIRST_GRASS_BY_GROUP = _T["first_trips_minor"], _T["first_trips_minor_grassroots"]
FIRST_CONTRACTED, FIRST_CONTRACTED_GRASS = _T["first_trips_contracted"], _T["first_trips_contracted_grassroots"]
_RUNS = ([f"episodes_{k}" for k in KINDS], *([f"{c}_{lvl}" for lvl in LEVELS] for c in ("visits", "trips", "satisfied")),
         [f"first_trips_{g}" for g in KIND_GROUPS], [f"first_trips_{g}_grassroots" for g in KIND_GROUPS])
for _run in _RUNS:  # tallying by offset holds only if each run is contiguous, in the vocabulary's order
    assert [_T[n] for n in _run] == list(range(_T[_run[0]], _T[_run[0]] + len(_run))), _run


@jit
def _bit_count(x):
    return (x & 1) + ((x >> 1) & 1) + ((x >> 2) & 1)


@jit
def _diagnose(people, r, bits, changed, n_changed):
    """Diagnose conditions ``bits`` of resident ``r``; returns how many were new (and records him in ``changed``)."""
    new = np.uint8(bits & people.conditions[r] & ~people.diagnosed[r])
    if new:
        people.diagnosed[r] |= new
        changed[n_changed[0]] = r
        n_changed[0] += 1
    return _bit_count(new)


@jit
def day_of_episodes(d, seed, ids, u_arrival, people, sites, choice, care, policy, books):
    """Simulate the day ``d`` (clock) of the residents ``ids`` who fell ill (``u_arrival``: their illness
    uniforms). Returns the residents whose diagnoses changed (their risks need recomputing)."""
    tally = books.tally
    n_all = ids.size
    changed = np.empty(3 * n_all + 1, dtype=np.int64)  # each new diagnosis adds a condition: at most three a resident
    n_changed = np.zeros(1, dtype=np.int64)

    # 1. Kind of episode; online consultations end some minor ones without a trip
    key_online = crn.key(seed, crn.ONLINE, d, 0)
    keep = np.ones(n_all, dtype=np.bool_)
    kind_all = np.empty(n_all, dtype=np.int64)
    for e in range(n_all):
        r = ids[e]
        cum = care_row(people, r)
        k = rules.episode_kind(u_arrival[e], cum)
        kind_all[e] = k
        t = people.township[r]
        tally[EPISODES, t] += 1.0
        tally[EPISODES_BY_KIND + k, t] += 1.0
        if policy[ONLINE_SHARE] > 0 and k == MINOR and crn.uniform(key_online, r * 2) < policy[ONLINE_SHARE]:
            tally[ONLINE, t] += 1.0
            if crn.uniform(key_online, r * 2 + 1) < policy[ONLINE_RESOLVE]:
                keep[e] = False
    rid = ids[keep]
    kind = kind_all[keep]
    n = rid.size

    # Severity and specialty; utilities of the six facility columns (fixed for the day)
    key_sev, key_spec = crn.key(seed, crn.SEVERITY, d, 0), crn.key(seed, crn.SPECIALTY, d, 0)
    sev = np.empty(n)
    spec = np.empty(n, dtype=np.int64)
    fac_cols = np.empty((n, N_COLUMNS), dtype=np.int64)
    util = np.empty((n, N_COLUMNS))
    for e in range(n):
        r = rid[e]
        k = kind[e]
        sev[e] = crn.uniform(key_sev, r)
        spec[e] = rules.specialty(crn.uniform(key_spec, r), care.spec_cum[k], people.age[r] < 15, people.female[r])
        fac_cols[e, 0] = people.village[r]
        fac_cols[e, 1] = sites.town_fac0 + people.township[r]
        for j in range(4):
            fac_cols[e, 2 + j] = sites.hospitals[j]
        _utilities(util[e], choice, sites, care, people, r, k, spec[e], fac_cols[e])
        if policy[FIRST_CONTACT] != 0 or policy[SCHEDULED_FOLLOWUP] != 0 or policy[COMMUNITY_FOLLOWUP] != 0:
            c = 1.0 if people.contracted[r] else 0.0
            bonus = 0.0
            if k == MINOR:
                bonus = policy[FIRST_CONTACT] * c
            if k == CHRONIC:
                bonus = 0.0 + (policy[SCHEDULED_FOLLOWUP] * c + policy[COMMUNITY_FOLLOWUP])
            util[e, 0] += bonus
            util[e, 1] += bonus

    # 3. Passes: choose, beds, visit
    buf = np.zeros_like(tally)
    cur_level = np.full(n, -1, dtype=np.int64)
    forced = np.full(n, -1, dtype=np.int64)  # column a formal referral sends the patient to
    came_from = np.full(n, -1, dtype=np.int64)  # level a tracked referral came from
    active = np.arange(n)
    go = np.empty(n, dtype=np.int64)
    col_of = np.empty(n, dtype=np.int64)
    for p in range(4):
        if active.size == 0:
            break
        key_choice = crn.key(seed, crn.CHOICE, d, p)
        n_go = 0
        for e in active:
            r = rid[e]
            col = forced[e]
            if col < 0:
                col = _choose(util[e], choice.stay_home[kind[e]], people.mch_ok[r], cur_level[e], key_choice, r)
            if col < 0:
                tally[STAY_HOME if p == 0 else GAVE_UP, people.township[r]] += 1.0
            else:
                go[n_go] = e
                col_of[e] = col
                n_go += 1
        if n_go == 0:
            break
        trip = go[:n_go].copy()
        buf[:] = 0.0
        unresolved = _visits(d, seed, p, trip, col_of, rid, kind, spec, sev, fac_cols, forced, came_from, people, sites, choice, care, policy, books, buf, changed, n_changed)
        tally += buf
        for e in trip:
            cur_level[e] = rules.COLUMN_LEVEL[col_of[e]]
        active = trip[unresolved]
    return changed[: n_changed[0]]


@jit
def care_row(people, r):
    """Cumulative daily episode probabilities by kind of resident ``r`` (raised while a condition is uncontrolled)."""
    return people.cum_bad[r] if people.uncontrolled[r] else people.cum_ok[r]


@jit
def _utilities(out, choice, sites, care, people, r, k, s, cols):
    g = 1 if rules.is_severe(k) else 0
    sch = 1 if people.employee[r] else 0
    for j in range(N_COLUMNS):
        f = cols[j]
        lvl = rules.COLUMN_LEVEL[j]
        oop = sites.expected_oop_visit[f, sch] + care.admit_p[k] * sites.expected_oop_admission[f, sch]
        out[j] = rules.utility(
            choice.asc[g, lvl], choice.quality[g], sites.capability[f, k, s], choice.trust[g], np.float64(people.trust[r, lvl]),
            choice.cost[g], oop, choice.travel[g], choice.travel_minutes[people.village[r], j], choice.wait[g], sites.wait_expected[f],
            choice.contract[g], 1.0 if (people.contracted[r] and lvl <= TOWNSHIP) else 0.0,
            choice.habit[g], 1.0 if people.last_level[r] == lvl else 0.0,
            choice.employee_hospital[g], 1.0 if (people.employee[r] and lvl >= COUNTY) else 0.0,
        )


@jit
def _choose(util, home_u, mch_ok, cur_level, key, r):
    """Column chosen by Gumbel-max among staying home and the facilities above ``cur_level`` (-1: home)."""
    best, pick = home_u + rules.gumbel(crn.uniform(key, r * 7)), -1
    for j in range(N_COLUMNS):
        if rules.COLUMN_LEVEL[j] <= cur_level or (j == rules.MCH_COLUMN and not mch_ok):
            continue
        v = util[j] + rules.gumbel(crn.uniform(key, r * 7 + 1 + j))
        if v > best:
            best, pick = v, j
    return pick


@jit
def _visits(d, seed, p, trip, col_of, rid, kind, spec, sev, fac_cols, forced, came_from, people, sites, choice, care, policy, books, buf, changed, n_changed):
    """One pass of visits (episodes ``trip``); returns the mask of those still unresolved."""
    m = trip.size
    key_admit, key_bed = crn.key(seed, crn.ADMIT, d, 0), crn.key(seed, crn.BEDS, d, 0)
    f = np.empty(m, dtype=np.int64)
    resolved = np.empty(m, dtype=np.bool_)
    want_bed = np.zeros(m, dtype=np.bool_)
    admitted = np.zeros(m, dtype=np.bool_)
    for i in range(m):
        e = trip[i]
        f[i] = fac_cols[e, col_of[e]]
        resolved[i] = sev[e] < sites.capability[f[i], kind[e], spec[e]]
        want_bed[i] = resolved[i] and crn.uniform(key_admit, rid[e]) < care.admit_p[kind[e]]

    # Free beds go to the patients wanting one in a random order, facility by facility
    w = np.flatnonzero(want_bed)
    if w.size:
        u_bed = np.array([crn.uniform(key_bed, rid[trip[i]]) for i in w])
        by_u = np.argsort(u_bed, kind="mergesort")
        order = w[by_u][np.argsort(f[w[by_u]], kind="mergesort")]
        given = np.zeros(sites.beds.size)
        for i in order:
            fi = f[i]
            if given[fi] < sites.beds[fi] - sites.occupied[fi]:
                admitted[i] = True
            else:
                resolved[i] = False  # no bed: sent up like an episode beyond capability
            given[fi] += 1.0

    keys = (crn.key(seed, crn.EXTRA_VISITS, d, 0), crn.key(seed, crn.LENGTH_OF_STAY, d, 0), crn.key(seed, crn.TCM, d, p),
            crn.key(seed, crn.LATE_DIAGNOSIS, d, 0), crn.key(seed, crn.SCREENING, d, p), crn.key(seed, crn.SATISFACTION, d, p),
            crn.key(seed, crn.DOWNWARD, d, 0), crn.key(seed, crn.TRACKING, d, 0), crn.key(seed, crn.FORMAL_REFERRAL, d, 0))
    key_extra, key_los, key_tcm, key_late, key_screen, key_sat, key_down, key_track, key_formal = keys
    a, b_unres, b_wait, b_cost, lr = care.satisfaction[0], care.satisfaction[1], care.satisfaction[2], care.satisfaction[3], care.satisfaction[4]
    skip = max(policy[GREEN_CHANNEL], 1.0 if policy[RESERVED_SLOTS] > 0 else 0.0)
    H = books.bed_in.shape[0]
    unresolved = np.zeros(m, dtype=np.bool_)
    for i in range(m):
        e = trip[i]
        r, k, s, fi, col = rid[e], kind[e], spec[e], f[i], col_of[e]
        lvl = rules.COLUMN_LEVEL[col]
        t = people.township[r]
        referred = forced[e] >= 0
        sch = 1 if people.employee[r] else 0
        if p == 0:  # the episode's first trip
            grp = rules.kind_group(k)
            buf[FIRST_BY_GROUP + grp, t] += 1.0
            if lvl <= TOWNSHIP:
                buf[FIRST_GRASS_BY_GROUP + grp, t] += 1.0
            if people.contracted[r]:
                buf[FIRST_CONTRACTED, t] += 1.0
                if lvl <= TOWNSHIP:
                    buf[FIRST_CONTRACTED_GRASS, t] += 1.0

        # Visits, length of stay and the bill
        n_visits = 1.0 + (rules.extra_visits(care.extra[k], crn.uniform(key_extra, r)) if resolved[i] and not admitted[i] else 0.0)
        los = rules.length_of_stay(sites.length_of_stay[fi], crn.uniform(key_los, r), policy[LOS_FACTOR] if lvl >= COUNTY else 1.0)
        ref = 1 if referred else 0
        if admitted[i]:
            price = rules.admission_price(sites.price_admission[fi], los, sites.length_of_stay[fi], policy[DRG], policy[DRG_PRICE_FACTOR])
            oop, fund = rules.split(price, sites.rate_admission[ref, fi, sch], sites.ded_admission[fi, sch], sites.scope_admission[fi, 0])
        else:
            oop, fund = rules.split(n_visits * sites.price_visit[fi], sites.rate_visit[ref, fi, sch], sites.ded_visit[fi, sch], sites.scope_visit[fi, 0])
        wait = sites.wait_now[fi]
        if skip > 0 and referred and lvl >= COUNTY:  # referred patients skip the hospitals' queue
            wait = sites.base_wait[fi] + (1.0 - skip) * (wait - sites.base_wait[fi])
        travel = choice.travel_minutes[people.village[r], rules.TRAVEL_COLUMN[lvl]]

        buf[TRIPS, t] += 1.0
        buf[VISITS, t] += n_visits
        buf[VISITS_BY_LEVEL + lvl, t] += n_visits
        buf[TRIPS_BY_LEVEL + lvl, t] += 1.0
        if lvl >= COUNTY:
            buf[HOSPITAL_TRIPS, t] += 1.0
            if referred:
                buf[HOSPITAL_TRIPS_REFERRED, t] += 1.0
        buf[TRAVEL, t] += travel
        buf[WAIT, t] += wait
        buf[OOP_IN if admitted[i] else OOP_OUT, t] += oop
        buf[FUND, t] += fund
        if lvl <= COUNTY:
            buf[FUND_COMMUNITY, t] += fund
            if policy[CAPITATION] > 0:
                buf[FUND_CAPITATED, t] += fund
        books.arrivals[fi] += n_visits

        # TCM services: TCM episodes, the county TCM hospital, and TCM at grassroots visits
        tcm = s == TCM or fi == care.tcm_facility
        if not tcm and lvl <= TOWNSHIP and (k == MINOR or k == CHRONIC):
            tcm = crn.uniform(key_tcm, r) < policy[TCM_UPTAKE]
        if tcm:
            buf[TCM_VISITS, t] += n_visits

        # A severe episode seen at a facility may reveal undiagnosed chronic conditions (late
        # diagnosis); every trip of the episode uses the same draws, so a second trip adds nothing
        if rules.is_severe(k):
            bits = 0
            for c in range(care.late_p.size):
                if crn.uniform(key_late, r * care.late_p.size + c) < care.late_p[c]:
                    bits |= 1 << c
            buf[LATE, t] += _diagnose(people, r, bits, changed, n_changed)

        # Chronic follow-up visits count towards management (the last few follow-up days)
        if resolved[i] and k == CHRONIC:
            h = people.history[r]
            h[:-1] = h[1:].copy()
            h[-1] = d

        # Screening at township centres (equipment): early diagnosis of chronic conditions
        if policy[SCREENED_SHARE] > 0 and lvl == TOWNSHIP and people.age[r] >= care.screening_min_age and d - people.screened_day[r] >= 365:
            nc = care.late_p.size
            if crn.uniform(key_screen, r * (1 + nc)) < policy[SCREENED_SHARE]:
                people.screened_day[r] = d
                buf[SCREENINGS, t] += 1.0
                bits = 0
                for c in range(nc):
                    if crn.uniform(key_screen, r * (1 + nc) + 1 + c) < care.screening_sensitivity:
                        bits |= 1 << c
                buf[SCREENING_FOUND, t] += _diagnose(people, r, bits, changed, n_changed)

        # Experience -> satisfaction -> trust in that level; the level used becomes his habit
        p_sat = rules.satisfaction_probability(a, b_unres, 0.0 if resolved[i] else 1.0, b_wait, wait, b_cost, oop)
        sat = crn.uniform(key_sat, r) < p_sat
        if sat:
            buf[SATISFIED, t] += 1.0
            buf[SATISFIED_BY_LEVEL + lvl, t] += 1.0
        people.trust[r, lvl] = rules.learn_trust(people.trust[r, lvl], lr, 1.0 if sat else 0.0)
        if resolved[i]:
            people.last_level[r] = came_from[e] if came_from[e] >= 0 else lvl  # a tracked referral returns to the grassroots

        # Admission: a bed now; discharge (or transfer down to the township centre) later
        if admitted[i]:
            sites.occupied[fi] += 1.0
            buf[ADMITTED, t] += 1.0
            if lvl == COUNTY:
                buf[ADMITTED_COUNTY, t] += 1.0
            down = lvl >= COUNTY and crn.uniform(key_down, r) < min(1.0, care.down[lvl] * policy[DOWNWARD_FACTOR])
            acute = min(max(1, int(np.rint(los * care.acute_share))), los)
            if lvl == COUNTY:
                buf[COUNTY_INPATIENT_DAYS, t] += acute if down else los
            if not down:
                books.bed_out[(d + los) % H, fi] += 1.0
            else:
                tf = sites.town_fac0 + t
                due = (d + acute) % H
                books.bed_out[due, fi] += 1.0
                books.bed_in[due, tf] += 1.0
                books.bed_out[(d + los) % H, tf] += 1.0
                books.down_due[due, 0, t] += 1.0
                if lvl == COUNTY:
                    books.down_due[due, 1, t] += 1.0
                tracked = crn.uniform(key_track, r) < policy[CLOSED_LOOP]
                buf[FORMAL, t] += 1.0
                if tracked:
                    buf[TRACKED, t] += 1.0
                    people.last_level[r] = TOWNSHIP

        # Beyond capability (or no bed): formal referral up, else the patient decides himself
        if not resolved[i]:
            unresolved[i] = True
            forced[e] = -1
            pf = care.formal[lvl] * (policy[FORMAL_FACTOR] if lvl <= TOWNSHIP else 1.0)
            if lvl < CITY and (crn.uniform(key_formal, r) < pf or want_bed[i]):  # no bed: transferred
                forced[e] = rules.REFER_TO_COLUMN[lvl]
                tracked = crn.uniform(key_track, r) < policy[CLOSED_LOOP]
                if tracked and lvl <= TOWNSHIP:
                    came_from[e] = lvl
                buf[FORMAL, t] += 1.0
                if tracked:
                    buf[TRACKED, t] += 1.0
                buf[UP_BY_LEVEL[lvl], t] += 1.0
            if lvl == TOWNSHIP:
                buf[UNRESOLVED_TOWNSHIP, t] += 1.0
                books.unresolved[t, s] += 1.0
            if lvl == CITY:  # the city hospital is the last resort: nowhere further to go
                buf[GAVE_UP, t] += 1.0
                unresolved[i] = False
    return unresolved


@jit
def relax_all_trust(trust, reputation, pull):
    """Every resident's trust (n, levels) relaxes towards the levels' reputation (a week's pull)."""
    for i in range(trust.shape[0]):
        for lvl in range(trust.shape[1]):
            trust[i, lvl] = rules.relax_trust(trust[i, lvl], reputation[lvl], pull)
