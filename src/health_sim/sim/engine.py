"""The day's episodes, compiled: choice, visits, referrals, beds, bills and what residents learn.

:meth:`health_sim.sim.model.HealthSystemModel._episodes` hands the day's episodes (the
residents who fell ill and their illness uniforms) to :func:`day_of_episodes`, which
runs the rules of :mod:`health_sim.sim.rules` in loops over those episodes only; nothing
here touches residents who are not ill that day. One call runs these stages, in order:

1. begin (:func:`_begin`): kinds of episode; online consultations end some minor ones;
2. prepare (:func:`_prepare`): severity, specialty and the utility of each facility column
   (fixed for the day);
3. up to four passes (:func:`_passes`). In each, patients still seeking care *choose*
   (:func:`_choose_all`: a column, or where a formal referral sends them), then the pass's
   visits (:func:`_visits`) are *treated* (resolved or not), *admitted* (free beds in a
   random order), *paid*, *counted*, *treated further* (TCM, diagnoses, follow-up,
   screening), *learnt from* (satisfaction and trust), *stayed* (beds, discharge, transfer
   down) and *referred* (up, or the patient chooses again or gives up). Each visit stage is
   one loop over the pass's visits; a resident has at most one visit a pass.

The arrays come in as named tuples (:data:`People`, :data:`Sites`, :data:`Choice`,
:data:`Care`, :data:`Books`); state is updated in place. Counters are tallied into
``books.tally`` (one row per KPI counter, :data:`health_sim.sim.kpis.COUNTERS`), summed
pass by pass so that float sums are the same as tallying each pass with ``numpy.bincount``.
Random numbers are the counter-based ones of :mod:`health_sim.core.rng` keyed by (seed, stream,
day, pass, resident): a decision draws the same uniform whatever else happens (common random
numbers).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from health_sim.core import rng as crn
from health_sim.core.jit import jit
from health_sim.core.names import KIND_GROUPS, KINDS, LEVELS
from health_sim.policies.state import ENGINE_FIELDS
from health_sim.sim import rules
from health_sim.sim.kpis import COUNTERS
from health_sim.sim.rules import CHRONIC, CITY, COUNTY, MINOR, N_COLUMNS, SERIOUS, TCM, TOWNSHIP

People = namedtuple(
    "People",
    (
        "village township age female employee mch_ok contracted trust last_level conditions diagnosed screened_day "
        "referred_up history uncontrolled cum_ok cum_bad price_sense"
    ),
)
"""Residents' arrays (:class:`health_sim.world.population.Residents`, :class:`health_sim.world.chronic.ChronicCare`)."""
Sites = namedtuple(
    "Sites",
    (
        "capability wait_now wait_expected base_wait beds occupied length_of_stay price_visit price_admission "
        "rate_visit ded_visit scope_visit rate_admission ded_admission scope_admission expected_oop_visit "
        "expected_oop_admission referred_oop_visit referred_oop_admission "
        "hospitals town_fac0"
    ),
)
"""Facilities' arrays (:class:`health_sim.world.facilities.FacilityTable`).

Also the tariff (:class:`health_sim.world.insurance.Tariff`), the out-of-pocket cost residents
expect without a referral and with one, the facility index of the four hospital columns and of
the first township centre."""
Choice = namedtuple(
    "Choice",
    "asc quality trust cost travel wait contract habit employee_hospital stay_home travel_minutes seek_cost "
    "township_admission",
)
"""Choice weights by group (0 minor, 1 severe; :class:`health_sim.world.choice.Weights`); travel minutes (V, 6)."""
Care = namedtuple(
    "Care",
    (
        "admit_p extra spec_cum formal down late_p satisfaction acute_share screening_min_age screening_sensitivity "
        "tcm_facility"
    ),
)
"""Episode and referral parameters as arrays by kind or level.

``satisfaction`` = (intercept, unresolved, wait, cost, learning rate)."""
Books = namedtuple("Books", "tally arrivals bed_in bed_out down_due unresolved")
"""Where the day is recorded: counters (COUNTERS, townships), visits by facility, the bed and
referral rings (days ahead, ...), and township centres' unresolved episodes by specialty."""

Episodes = namedtuple("Episodes", "rid kind sev spec cols forced came_from col home slip detour aim")
"""The day's episodes that go on (after online consultations): resident, kind, severity
uniform, specialty, facility of each column (n, 6), the column a formal referral sends the
patient to (-1: none), the grassroots level a tracked referral came from (-1: none), and the
column of the current pass's trip, the utility of staying home (the bill expected deters); under
gatekeeping, the utility a referral adds to each column (n, 6; 0 where it saves nothing), the
disutility of the township-centre visit that issues one (-1: no gatekeeping for the episode),
and the hospital column a patient at the township centre for a referral is heading to (-1:
none)."""
Keys = namedtuple("Keys", "extra los tcm late screen sat down track formal")
"""Random-stream keys of a pass's visits (:mod:`health_sim.core.rng`)."""
Visits = namedtuple("Visits", "f lvl referred resolved want_bed admitted")
"""A pass's visits: facility, level, on a formal referral, resolved, wanting a bed, admitted."""
Bills = namedtuple("Bills", "visits los oop fund wait")
"""A pass's visits paid: visits (first and return), days of an admission, out-of-pocket and
fund yuan, days waited."""
Found = namedtuple("Found", "changed n")
"""Residents whose diagnoses changed today, and how many (a one-element array)."""

# The policy vector: the float fields of the day's policy state, by name.
_P = {name: i for i, name in enumerate(ENGINE_FIELDS)}
ONLINE_SHARE, ONLINE_RESOLVE, FIRST_CONTACT = _P["online_share"], _P["online_resolve"], _P["first_contact"]
SCHEDULED_FOLLOWUP, COMMUNITY_FOLLOWUP = _P["scheduled_followup"], _P["community_followup"]
GREEN_CHANNEL, RESERVED_SLOTS, LOS_FACTOR = _P["green_channel"], _P["reserved_slots"], _P["length_of_stay_factor"]
DRG, DRG_PRICE_FACTOR, CLOSED_LOOP = _P["drg"], _P["drg_price_factor"], _P["closed_loop"]
FORMAL_FACTOR, DOWNWARD_FACTOR, TCM_UPTAKE = _P["formal_referral_factor"], _P["downward_factor"], _P["tcm_uptake"]
SCREENED_SHARE, CAPITATION, UNREFERRED_CUT = _P["screened_share"], _P["capitation"], _P["unreferred_cut"]

# Rows of ``books.tally``: the KPI counters (:data:`health_sim.sim.kpis.COUNTERS`), by name. The
# per-kind, per-level and per-group counters are tallied by offset from the first of their run.
_T = {name: i for i, name in enumerate(COUNTERS)}
EPISODES, EPISODES_BY_KIND, ONLINE = _T["episodes"], _T["episodes_minor"], _T["online_consults"]
STAY_HOME, GAVE_UP, TRIPS, VISITS = _T["stay_home"], _T["gave_up"], _T["trips"], _T["visits"]
VISITS_BY_LEVEL, TRIPS_BY_LEVEL, SATISFIED_BY_LEVEL = _T["visits_village"], _T["trips_village"], _T["satisfied_village"]
HOSPITAL_TRIPS, HOSPITAL_TRIPS_REFERRED = _T["hospital_trips"], _T["hospital_trips_referred"]
TRAVEL, WAIT, OOP_OUT, OOP_IN = _T["travel_minutes"], _T["wait_days"], _T["oop_outpatient"], _T["oop_inpatient"]
FUND, FUND_COMMUNITY, FUND_CAPITATED = _T["fund"], _T["fund_community"], _T["fund_community_capitated"]
TCM_VISITS, LATE, SCREENINGS, SCREENING_FOUND, SATISFIED = (
    _T["tcm_visits"],
    _T["late_diagnoses"],
    _T["screenings"],
    _T["screening_found"],
    _T["satisfied"],
)
ADMITTED, ADMITTED_COUNTY, COUNTY_INPATIENT_DAYS = _T["admitted"], _T["admitted_county"], _T["county_inpatient_days"]
ADMITTED_TOWNSHIP, ADMITTED_CITY = _T["admitted_township"], _T["admitted_city"]
FORMAL, TRACKED, UNRESOLVED_TOWNSHIP = _T["referrals_formal"], _T["referrals_tracked"], _T["unresolved_township"]
UP_BY_LEVEL = np.array(
    [_T["referrals_up_village_township"], _T["referrals_up_grassroots"], _T["referrals_up_county_city"]]
)
FIRST_BY_GROUP, FIRST_GRASS_BY_GROUP = _T["first_trips_minor"], _T["first_trips_minor_grassroots"]
FIRST_CONTRACTED, FIRST_CONTRACTED_GRASS = _T["first_trips_contracted"], _T["first_trips_contracted_grassroots"]
FIRST_LEVEL, FIRST_CONTRACTED_LEVEL = _T["first_trips_level"], _T["first_trips_contracted_level"]
RETURNS_DUE, RETURNS = _T["referral_returns_due"], _T["referral_returns"]
SEEKERS, SEEKERS_RESOLVED = _T["referral_seekers"], _T["referral_seekers_resolved"]
TREATABLE, TREATABLE_HOSPITAL = _T["admitted_township_treatable"], _T["admitted_township_treatable_hospital"]
FIRST_OUT_45, FIRST_OUT_45_HOSPITAL = _T["first_trips_outpatient_45plus"], _T["first_trips_outpatient_45plus_hospital"]
FIRST_SERIOUS, FIRST_SERIOUS_GRASS = _T["first_trips_serious"], _T["first_trips_serious_grassroots"]
BYPASS_AGE = 45  # years: the age from which first trips are kept apart (the CHARLS bypass study's population)
_RUNS = (
    [f"episodes_{k}" for k in KINDS],
    *([f"{c}_{lvl}" for lvl in LEVELS] for c in ("visits", "trips", "satisfied")),
    [f"first_trips_{g}" for g in KIND_GROUPS],
    [f"first_trips_{g}_grassroots" for g in KIND_GROUPS],
)
for _run in _RUNS:  # tallying by offset holds only if each run is contiguous, in the vocabulary's order
    assert [_T[n] for n in _run] == list(range(_T[_run[0]], _T[_run[0]] + len(_run))), _run


@jit
def _bit_count(x):
    return (x & 1) + ((x >> 1) & 1) + ((x >> 2) & 1)


@jit
def _diagnose(people, r, bits, found):
    """Diagnose conditions ``bits`` of resident ``r``; returns how many were new (and records him in ``found``)."""
    new = np.uint8(bits & people.conditions[r] & ~people.diagnosed[r])
    if new:
        people.diagnosed[r] |= new
        found.changed[found.n[0]] = r
        found.n[0] += 1
    return _bit_count(new)


@jit
def day_of_episodes(d, seed, ids, u_arrival, people, sites, choice, care, policy, books):
    """Simulate the day ``d`` (clock) of the residents ``ids`` who fell ill (``u_arrival``: their illness uniforms).

    Returns the residents whose diagnoses changed (their risks need recomputing).
    """
    n_all = ids.size
    found = Found(
        np.empty(3 * n_all + 1, dtype=np.int64), np.zeros(1, dtype=np.int64)
    )  # at most three new diagnoses a resident
    rid, kind = _begin(d, seed, ids, u_arrival, people, policy, books.tally)
    eps, util = _prepare(d, seed, rid, kind, people, sites, choice, care, policy)
    _passes(d, seed, eps, util, people, sites, choice, care, policy, books, found)
    return found.changed[: found.n[0]]


@jit
def _begin(d, seed, ids, u_arrival, people, policy, tally):
    """Stage 1, the episodes begin: their kinds; online consultations end some minor ones without a trip.

    Returns the residents and kinds of the episodes that go on.
    """
    n_all = ids.size
    key_online = crn.key(seed, crn.ONLINE, d, 0)
    keep = np.ones(n_all, dtype=np.bool_)
    kind_all = np.empty(n_all, dtype=np.int64)
    for e in range(n_all):
        r = ids[e]
        k = rules.episode_kind(u_arrival[e], care_row(people, r))
        kind_all[e] = k
        t = people.township[r]
        tally[EPISODES, t] += 1.0
        tally[EPISODES_BY_KIND + k, t] += 1.0
        if policy[ONLINE_SHARE] > 0 and k == MINOR and crn.uniform(key_online, r * 2) < policy[ONLINE_SHARE]:
            tally[ONLINE, t] += 1.0
            if crn.uniform(key_online, r * 2 + 1) < policy[ONLINE_RESOLVE]:
                keep[e] = False
    return ids[keep], kind_all[keep]


@jit
def _prepare(d, seed, rid, kind, people, sites, choice, care, policy):
    """Stage 2: each episode's severity, specialty and facility columns, and the utility of each column.

    The utilities are fixed for the day. Returns the day's :data:`Episodes` and the utilities
    (n, columns).
    """
    n = rid.size
    key_sev, key_spec = crn.key(seed, crn.SEVERITY, d, 0), crn.key(seed, crn.SPECIALTY, d, 0)
    eps = Episodes(
        rid, kind, np.empty(n), np.empty(n, dtype=np.int64), np.empty((n, N_COLUMNS), dtype=np.int64),
        np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64), np.empty(n, dtype=np.int64),
        np.empty(n), np.zeros((n, N_COLUMNS)), np.full(n, -1.0), np.full(n, -1, dtype=np.int64),
    )  # fmt: skip
    util = np.empty((n, N_COLUMNS))
    seen, bill_oop = np.empty(N_COLUMNS), np.empty(N_COLUMNS)
    oop = np.empty(N_COLUMNS)
    available = np.ones(N_COLUMNS, dtype=np.bool_)
    bonus_on = policy[FIRST_CONTACT] != 0 or policy[SCHEDULED_FOLLOWUP] != 0 or policy[COMMUNITY_FOLLOWUP] != 0
    gatekept = policy[UNREFERRED_CUT] > 0
    for e in range(n):
        r = rid[e]
        k = kind[e]
        eps.sev[e] = crn.uniform(key_sev, r)
        eps.spec[e] = rules.specialty(crn.uniform(key_spec, r), care.spec_cum[k], people.age[r] < 15, people.female[r])
        eps.cols[e, 0] = people.village[r]
        eps.cols[e, 1] = sites.town_fac0 + people.township[r]
        for j in range(4):
            eps.cols[e, 2 + j] = sites.hospitals[j]
        utilities(util[e], oop, choice, sites, care, people, r, k, eps.spec[e], eps.cols[e])
        util[e, rules.TOWNSHIP_COLUMN] += rules.admission_pull(
            choice.township_admission,
            care.admit_p[k],
            eps.sev[e] < sites.capability[eps.cols[e, rules.TOWNSHIP_COLUMN], k, eps.spec[e]],
        )
        if bonus_on:
            c = 1.0 if people.contracted[r] else 0.0
            bonus = 0.0
            if k == MINOR:
                bonus = policy[FIRST_CONTACT] * c
            if k == CHRONIC:
                bonus = 0.0 + (policy[SCHEDULED_FOLLOWUP] * c + policy[COMMUNITY_FOLLOWUP])
            util[e, 0] += bonus
            util[e, 1] += bonus
        available[rules.MCH_COLUMN] = people.mch_ok[r]
        if gatekept and rules.referral_rule_applies(k):  # the bill as seen with the route through the centre
            bill_oop[:] = oop
            eps.detour[e] = referral_routes(eps.slip[e], bill_oop, oop, choice, sites, care, people, r, k, eps.cols[e])
            gated_utilities(seen, util[e], eps.slip[e], eps.detour[e], -1)
            bill = rules.expected_bill(seen, bill_oop, available)
        else:
            bill = rules.expected_bill(util[e], oop, available)
        g = 1 if rules.is_severe(k) else 0
        eps.home[e] = rules.home_utility(choice.stay_home[k], choice.seek_cost[g], bill, people.price_sense[r])
    return eps, util


@jit
def _passes(d, seed, eps, util, people, sites, choice, care, policy, books, found):
    """Stage 3: up to four passes of choosing and visiting.

    In each, every patient still seeking care chooses (or goes where a formal referral sends
    him), then the pass's visits are made (:func:`_visits`).
    """
    tally = books.tally
    n = eps.rid.size
    buf = np.zeros_like(tally)
    cur_level = np.full(n, -1, dtype=np.int64)
    active = np.arange(n)
    go = np.empty(n, dtype=np.int64)
    for p in range(4):
        if active.size == 0:
            break
        n_go = _choose_all(d, seed, p, active, eps, util, people, choice, policy, cur_level, go, tally)
        if n_go == 0:
            break
        trip = go[:n_go].copy()
        buf[:] = 0.0
        unresolved = _visits(d, seed, p, trip, eps, people, sites, choice, care, policy, books, buf, found)
        tally += buf
        for e in trip:
            cur_level[e] = rules.COLUMN_LEVEL[eps.col[e]]
        active = trip[unresolved]


@jit
def _choose_all(d, seed, p, active, eps, util, people, choice, policy, cur_level, go, tally):
    """Choose: each active patient picks a column (or stays home, or gives up after a first trip).

    Under gatekeeping a hospital is weighed by the routes open to him (:func:`gated_utilities`):
    one who picks a hospital through the township centre goes there first (``eps.aim``); one
    already at the township centre, which could not resolve his episode, leaves with a formal
    referral to the hospital he picks. Those who go are written to ``go``. Returns how many go.
    """
    key_choice = crn.key(seed, crn.CHOICE, d, p)
    key_track = crn.key(seed, crn.TRACKING, d, 0)
    row = np.empty(N_COLUMNS)
    n_go = 0
    for e in active:
        r = eps.rid[e]
        col = eps.forced[e]
        if col < 0:
            gated = eps.detour[e] >= 0.0
            if gated:
                gated_utilities(row, util[e], eps.slip[e], eps.detour[e], cur_level[e])
            col = choose(row if gated else util[e], eps.home[e], people.mch_ok[r], cur_level[e], key_choice, r)
            if col >= 0 and gated and eps.slip[e, col] > 0.0:
                t = people.township[r]
                if cur_level[e] < TOWNSHIP and eps.slip[e, col] > eps.detour[e]:  # to the township centre first
                    eps.aim[e] = col
                    col = rules.TOWNSHIP_COLUMN
                    tally[SEEKERS, t] += 1.0
                elif cur_level[e] == TOWNSHIP:  # referred on request by the centre that could not resolve it
                    _refer_up(tally, eps, e, r, t, TOWNSHIP, col, crn.uniform(key_track, r), policy, people)
        if col < 0:
            tally[STAY_HOME if p == 0 else GAVE_UP, people.township[r]] += 1.0
        else:
            go[n_go] = e
            eps.col[e] = col
            n_go += 1
    return n_go


@jit
def _visits(d, seed, p, trip, eps, people, sites, choice, care, policy, books, buf, found):
    """One pass of visits (episodes ``trip``), stage by stage, each a loop over the pass's visits in order.

    Treat (resolved or not), admit (free beds), pay, count, treat further (TCM, diagnoses,
    follow-up, screening), learn, stay in a bed, refer. A resident has at most one visit a pass,
    so each resident meets the stages in this order. Returns the mask of those still unresolved.
    """
    v = _resolve(d, seed, trip, eps, sites, care)
    _give_beds(d, seed, trip, eps, v, sites)
    keys = Keys(
        crn.key(seed, crn.EXTRA_VISITS, d, 0),
        crn.key(seed, crn.LENGTH_OF_STAY, d, 0),
        crn.key(seed, crn.TCM, d, p),
        crn.key(seed, crn.LATE_DIAGNOSIS, d, 0),
        crn.key(seed, crn.SCREENING, d, p),
        crn.key(seed, crn.SATISFACTION, d, p),
        crn.key(seed, crn.DOWNWARD, d, 0),
        crn.key(seed, crn.TRACKING, d, 0),
        crn.key(seed, crn.FORMAL_REFERRAL, d, 0),
    )
    bill = _pay(trip, eps, v, people, sites, care, policy, keys)
    _count(buf, p, trip, eps, v, bill, people, choice, policy, books)
    _treat(buf, d, trip, eps, v, bill, people, care, policy, keys, found)
    _learn(buf, trip, eps, v, bill, people, care, keys)
    _stay(buf, d, trip, eps, v, bill, people, sites, care, policy, books, keys)
    return _refer(buf, trip, eps, v, people, care, policy, books, keys)


@jit
def _resolve(d, seed, trip, eps, sites, care):
    """Treat: the facility and level of each visit, and whether it is referred, resolved and needs a bed.

    Whether the patient comes on a formal referral, whether the facility resolves the episode
    (severity within its capability) and whether a resolved episode needs a bed. Returns the
    pass's :data:`Visits`.
    """
    m = trip.size
    key_admit = crn.key(seed, crn.ADMIT, d, 0)
    v = Visits(np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64), np.empty(m, dtype=np.bool_),
               np.empty(m, dtype=np.bool_), np.zeros(m, dtype=np.bool_), np.zeros(m, dtype=np.bool_))  # fmt: skip
    for i in range(m):
        e = trip[i]
        v.f[i] = eps.cols[e, eps.col[e]]
        v.lvl[i] = rules.COLUMN_LEVEL[eps.col[e]]
        v.referred[i] = eps.forced[e] >= 0
        v.resolved[i] = eps.sev[e] < sites.capability[v.f[i], eps.kind[e], eps.spec[e]]
        v.want_bed[i] = v.resolved[i] and crn.uniform(key_admit, eps.rid[e]) < care.admit_p[eps.kind[e]]
    return v


@jit
def _give_beds(d, seed, trip, eps, v, sites):
    """Admit: free beds go to the patients wanting one in a random order, facility by facility.

    A patient finding none is unresolved (sent up like an episode beyond capability).
    """
    w = np.flatnonzero(v.want_bed)
    if w.size:
        key_bed = crn.key(seed, crn.BEDS, d, 0)
        u_bed = np.array([crn.uniform(key_bed, eps.rid[trip[i]]) for i in w])
        by_u = np.argsort(u_bed, kind="mergesort")
        order = w[by_u][np.argsort(v.f[w[by_u]], kind="mergesort")]
        given = np.zeros(sites.beds.size)
        for i in order:
            fi = v.f[i]
            if given[fi] < sites.beds[fi] - sites.occupied[fi]:
                v.admitted[i] = True
            else:
                v.resolved[i] = False
            given[fi] += 1.0


@jit
def _pay(trip, eps, v, people, sites, care, policy, keys):
    """Pay: visits, length of stay, the bill split between the patient and the fund, and the wait.

    Visits include the return visits of a resolved outpatient episode; referred patients skip
    part of the hospitals' queue. Returns the pass's :data:`Bills`.
    """
    m = trip.size
    b = Bills(np.empty(m), np.empty(m, dtype=np.int64), np.empty(m), np.empty(m), np.empty(m))
    skip = max(policy[GREEN_CHANNEL], 1.0 if policy[RESERVED_SLOTS] > 0 else 0.0)
    for i in range(m):
        e = trip[i]
        r, k, fi, lvl = eps.rid[e], eps.kind[e], v.f[i], v.lvl[i]
        sch = 1 if people.employee[r] else 0
        extra = (
            rules.extra_visits(care.extra[k], crn.uniform(keys.extra, r))
            if v.resolved[i] and not v.admitted[i]
            else 0.0
        )
        b.visits[i] = 1.0 + extra
        los = rules.length_of_stay(
            sites.length_of_stay[fi], crn.uniform(keys.los, r), policy[LOS_FACTOR] if lvl >= COUNTY else 1.0
        )
        b.los[i] = los
        ref = 1 if v.referred[i] or not rules.referral_rule_applies(k) else 0
        if v.admitted[i]:
            price = rules.admission_price(
                sites.price_admission[fi], los, sites.length_of_stay[fi], policy[DRG], policy[DRG_PRICE_FACTOR]
            )
            b.oop[i], b.fund[i] = rules.split(
                price, sites.rate_admission[ref, fi, sch], sites.ded_admission[fi, sch], sites.scope_admission[fi, 0]
            )
        else:
            b.oop[i], b.fund[i] = rules.split(
                b.visits[i] * sites.price_visit[fi],
                sites.rate_visit[ref, fi, sch],
                sites.ded_visit[fi, sch],
                sites.scope_visit[fi, 0],
            )
        wait = sites.wait_now[fi]
        if skip > 0 and v.referred[i] and lvl >= COUNTY:
            wait = sites.base_wait[fi] + (1.0 - skip) * (wait - sites.base_wait[fi])
        b.wait[i] = wait
    return b


@jit
def _count(buf, p, trip, eps, v, b, people, choice, policy, books):
    """Count each trip in the day's counters and in the facility's arrivals.

    First trips by kind group and contract, trips and visits by level, travel, waiting,
    out-of-pocket and fund spending, and the facility's arrivals.
    """
    for i in range(trip.size):
        e = trip[i]
        r, lvl = eps.rid[e], v.lvl[i]
        t = people.township[r]
        if p == 0:  # the episode's first trip
            grp = rules.kind_group(eps.kind[e])
            buf[FIRST_BY_GROUP + grp, t] += 1.0
            buf[FIRST_LEVEL, t] += lvl + 1.0
            if lvl <= TOWNSHIP:
                buf[FIRST_GRASS_BY_GROUP + grp, t] += 1.0
            if eps.kind[e] == SERIOUS:
                buf[FIRST_SERIOUS, t] += 1.0
                if lvl <= TOWNSHIP:
                    buf[FIRST_SERIOUS_GRASS, t] += 1.0
            if eps.kind[e] <= SERIOUS and people.age[r] >= BYPASS_AGE:  # an outpatient episode, aged 45+
                buf[FIRST_OUT_45, t] += 1.0
                if lvl >= COUNTY:
                    buf[FIRST_OUT_45_HOSPITAL, t] += 1.0
            if people.contracted[r]:
                buf[FIRST_CONTRACTED, t] += 1.0
                buf[FIRST_CONTRACTED_LEVEL, t] += lvl + 1.0
                if lvl <= TOWNSHIP:
                    buf[FIRST_CONTRACTED_GRASS, t] += 1.0
            if people.referred_up[r]:  # his first trip since a formal referral up from the grassroots
                people.referred_up[r] = False
                buf[RETURNS_DUE, t] += 1.0
                if lvl <= TOWNSHIP:
                    buf[RETURNS, t] += 1.0
        buf[TRIPS, t] += 1.0
        buf[VISITS, t] += b.visits[i]
        buf[VISITS_BY_LEVEL + lvl, t] += b.visits[i]
        buf[TRIPS_BY_LEVEL + lvl, t] += 1.0
        if lvl >= COUNTY:
            buf[HOSPITAL_TRIPS, t] += 1.0
            if v.referred[i]:
                buf[HOSPITAL_TRIPS_REFERRED, t] += 1.0
        buf[TRAVEL, t] += choice.travel_minutes[people.village[r], rules.TRAVEL_COLUMN[lvl]]
        buf[WAIT, t] += b.wait[i]
        buf[OOP_IN if v.admitted[i] else OOP_OUT, t] += b.oop[i]
        buf[FUND, t] += b.fund[i]
        if lvl <= COUNTY:
            buf[FUND_COMMUNITY, t] += b.fund[i]
            if policy[CAPITATION] > 0:
                buf[FUND_CAPITATED, t] += b.fund[i]
        books.arrivals[v.f[i]] += b.visits[i]


@jit
def _treat(buf, d, trip, eps, v, b, people, care, policy, keys, found):
    """Treat further: TCM services, diagnoses of chronic conditions and chronic follow-up.

    TCM services; undiagnosed chronic conditions revealed by a severe episode (late) or by
    screening at a township centre (early); a resolved follow-up counts towards chronic
    management.
    """
    nc = care.late_p.size
    for i in range(trip.size):
        e = trip[i]
        r, k, lvl = eps.rid[e], eps.kind[e], v.lvl[i]
        t = people.township[r]
        # TCM episodes, the county TCM hospital, TCM at grassroots minor and chronic visits
        tcm = eps.spec[e] == TCM or v.f[i] == care.tcm_facility
        if not tcm and lvl <= TOWNSHIP and k in (MINOR, CHRONIC):
            tcm = crn.uniform(keys.tcm, r) < policy[TCM_UPTAKE]
        if tcm:
            buf[TCM_VISITS, t] += b.visits[i]
        if rules.is_severe(k):  # every trip of an episode uses the same draws: a second trip reveals nothing more
            bits = 0
            for c in range(nc):
                if crn.uniform(keys.late, r * nc + c) < care.late_p[c]:
                    bits |= 1 << c
            buf[LATE, t] += _diagnose(people, r, bits, found)
        if v.resolved[i] and k == CHRONIC:  # the last few follow-up days
            h = people.history[r]
            h[:-1] = h[1:].copy()
            h[-1] = d
        if (
            policy[SCREENED_SHARE] > 0
            and lvl == TOWNSHIP
            and people.age[r] >= care.screening_min_age
            and d - people.screened_day[r] >= 365
            and crn.uniform(keys.screen, r * (1 + nc)) < policy[SCREENED_SHARE]
        ):
            people.screened_day[r] = d
            buf[SCREENINGS, t] += 1.0
            bits = 0
            for c in range(nc):
                if crn.uniform(keys.screen, r * (1 + nc) + 1 + c) < care.screening_sensitivity:
                    bits |= 1 << c
            buf[SCREENING_FOUND, t] += _diagnose(people, r, bits, found)


@jit
def _learn(buf, trip, eps, v, b, people, care, keys):
    """Learn: each trip satisfies or not (outcome, wait, cost), which moves the resident's trust in that level.

    A patient who came to the township centre for a referral and got it counts as helped, not failed.

    The level that resolved the episode becomes his habit (a tracked referral returns him to the
    grassroots level it came from).
    """
    a, b_unres, b_wait, b_cost, lr = (
        care.satisfaction[0],
        care.satisfaction[1],
        care.satisfaction[2],
        care.satisfaction[3],
        care.satisfaction[4],
    )
    for i in range(trip.size):
        e = trip[i]
        r, lvl = eps.rid[e], v.lvl[i]
        t = people.township[r]
        failed = not v.resolved[i] and eps.aim[e] < 0  # one who came for a referral is not failed by getting it
        p_sat = rules.satisfaction_probability(a, b_unres, 1.0 if failed else 0.0, b_wait, b.wait[i], b_cost, b.oop[i])
        sat = crn.uniform(keys.sat, r) < p_sat
        if sat:
            buf[SATISFIED, t] += 1.0
            buf[SATISFIED_BY_LEVEL + lvl, t] += 1.0
        people.trust[r, lvl] = rules.learn_trust(people.trust[r, lvl], lr, 1.0 if sat else 0.0)
        if v.resolved[i]:
            people.last_level[r] = eps.came_from[e] if eps.came_from[e] >= 0 else lvl


@jit
def _stay(buf, d, trip, eps, v, b, people, sites, care, policy, books, keys):
    """Stay: an admitted patient takes a bed now.

    He is discharged later, or (from a county or city hospital) transferred down to his township
    centre for recovery, maybe tracked.
    """
    H = books.bed_in.shape[0]
    for i in range(trip.size):
        if not v.admitted[i]:
            continue
        e = trip[i]
        r, fi, lvl, los = eps.rid[e], v.f[i], v.lvl[i], b.los[i]
        t = people.township[r]
        sites.occupied[fi] += 1.0
        buf[ADMITTED, t] += 1.0
        if eps.sev[e] < sites.capability[sites.town_fac0 + t, eps.kind[e], eps.spec[e]]:  # his centre could treat it
            buf[TREATABLE, t] += 1.0
            if lvl >= COUNTY:
                buf[TREATABLE_HOSPITAL, t] += 1.0
        if lvl == COUNTY:
            buf[ADMITTED_COUNTY, t] += 1.0
        if lvl == TOWNSHIP:
            buf[ADMITTED_TOWNSHIP, t] += 1.0
        if lvl == CITY:
            buf[ADMITTED_CITY, t] += 1.0
        down = lvl >= COUNTY and crn.uniform(keys.down, r) < min(1.0, care.down[lvl] * policy[DOWNWARD_FACTOR])
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
            buf[FORMAL, t] += 1.0
            if crn.uniform(keys.track, r) < policy[CLOSED_LOOP]:
                buf[TRACKED, t] += 1.0
                people.last_level[r] = TOWNSHIP


@jit
def _refer_up(buf, eps, e, r, t, lvl, col, u_track, policy, people):
    """Episode ``e`` (resident ``r`` of township ``t``) formally referred up from level ``lvl`` to column ``col``.

    Tracked (closed loop) when ``u_track`` < the policy's tracking share; recorded in ``buf``.
    """
    eps.forced[e] = col
    tracked = u_track < policy[CLOSED_LOOP]
    if tracked and lvl <= TOWNSHIP:
        eps.came_from[e] = lvl
    buf[FORMAL, t] += 1.0
    if tracked:
        buf[TRACKED, t] += 1.0
    buf[UP_BY_LEVEL[lvl], t] += 1.0
    if lvl <= TOWNSHIP:  # does he come back to the grassroots? (his next episode's first trip says)
        people.referred_up[r] = True


@jit
def _refer(buf, trip, eps, v, people, care, policy, books, keys):
    """Refer: unresolved episodes go up, by formal referral or by the patient's own choice in the next pass.

    An episode beyond the facility (or finding no bed) is formally referred up (a patient
    without a bed is transferred), or the patient decides himself in the next pass; at the city
    hospital there is nowhere further and he gives up. A patient who came to the township centre
    for a referral (gatekeeping) gets it when the centre cannot resolve his episode, to the
    hospital he was heading to; when it can, the gatekeeper treats him there. Returns the mask
    of those still seeking care.
    """
    m = trip.size
    unresolved = np.zeros(m, dtype=np.bool_)
    for i in range(m):
        e = trip[i]
        aim = eps.aim[e]  # he came to the township centre for a referral to this hospital column
        eps.aim[e] = -1
        if v.resolved[i]:
            if aim >= 0:
                buf[SEEKERS_RESOLVED, people.township[eps.rid[e]]] += 1.0
            continue
        r, lvl = eps.rid[e], v.lvl[i]
        t = people.township[r]
        unresolved[i] = True
        eps.forced[e] = -1
        pf = care.formal[lvl] * (policy[FORMAL_FACTOR] if lvl <= TOWNSHIP else 1.0)
        if lvl < CITY and (aim >= 0 or crn.uniform(keys.formal, r) < pf or v.want_bed[i]):  # no bed: transferred
            to = aim if aim >= 0 else rules.REFER_TO_COLUMN[lvl]
            _refer_up(buf, eps, e, r, t, lvl, to, crn.uniform(keys.track, r), policy, people)
        if lvl == TOWNSHIP:
            buf[UNRESOLVED_TOWNSHIP, t] += 1.0
            books.unresolved[t, eps.spec[e]] += 1.0
        if lvl == CITY:
            buf[GAVE_UP, t] += 1.0
            unresolved[i] = False
    return unresolved


@jit
def care_row(people, r):
    """Cumulative daily episode probabilities by kind of resident ``r`` (raised while a condition is uncontrolled)."""
    return people.cum_bad[r] if people.uncontrolled[r] else people.cum_ok[r]


@jit
def utilities(out, oop_out, choice, sites, care, people, r, k, s, cols):
    """Utility (relative to staying home) of each facility column ``cols``, written to ``out``.

    For resident ``r``'s episode of kind ``k`` needing specialty ``s``; the out-of-pocket yuan he
    expects at each column is written to ``oop_out``.
    """
    g = 1 if rules.is_severe(k) else 0
    sch = 1 if people.employee[r] else 0
    for j in range(N_COLUMNS):
        f = cols[j]
        lvl = rules.COLUMN_LEVEL[j]
        oop = (
            sites.expected_oop_visit[f, sch] + care.admit_p[k] * sites.expected_oop_admission[f, sch]
            if rules.referral_rule_applies(k)
            else sites.referred_oop_visit[f, sch] + care.admit_p[k] * sites.referred_oop_admission[f, sch]
        )
        oop_out[j] = oop
        out[j] = rules.utility(
            choice.asc[g, lvl],
            choice.quality[g],
            sites.capability[f, k, s],
            choice.trust[g],
            np.float64(people.trust[r, lvl]),
            choice.cost[g],
            oop,
            choice.travel[g],
            choice.travel_minutes[people.village[r], j],
            choice.wait[g],
            sites.wait_expected[f],
            choice.contract[g],
            1.0 if (people.contracted[r] and lvl <= TOWNSHIP) else 0.0,
            choice.habit[g],
            1.0 if people.last_level[r] == lvl else 0.0,
            choice.employee_hospital[g],
            1.0 if (people.employee[r] and lvl >= COUNTY) else 0.0,
        )


@jit
def referral_routes(slip, bill_oop, oop, choice, sites, care, people, r, k, cols):
    """Gatekeeping: what a referral from the township centre is worth at each hospital column, and its cost.

    For resident ``r``'s episode of kind ``k``: ``slip`` gets the utility a referral adds to each
    hospital column (:func:`health_sim.sim.rules.referral_value` of what it saves against ``oop``,
    the out-of-pocket yuan expected without one; 0 where it saves nothing), and ``bill_oop`` the
    out-of-pocket yuan of the route through the township centre where that route is better (the
    referred bill plus the centre's fee). Returns the disutility of the township-centre visit
    (:func:`health_sim.sim.rules.detour`).
    """
    g = 1 if rules.is_severe(k) else 0
    sch = 1 if people.employee[r] else 0
    town = cols[rules.TOWNSHIP_COLUMN]
    fee = sites.expected_oop_visit[town, sch]
    cost = rules.detour(
        choice.cost[g],
        fee,
        choice.travel[g],
        choice.travel_minutes[people.village[r], rules.TOWNSHIP_COLUMN],
        choice.wait[g],
        sites.wait_expected[town],
    )
    for j in range(rules.TOWNSHIP_COLUMN + 1, N_COLUMNS):
        f = cols[j]
        referred = sites.referred_oop_visit[f, sch] + care.admit_p[k] * sites.referred_oop_admission[f, sch]
        saving = oop[j] - referred
        slip[j] = rules.referral_value(choice.cost[g], saving) if saving > 0.0 else 0.0
        if slip[j] > cost:
            bill_oop[j] = referred + fee
    return cost


@jit
def gated_utilities(out, util, slip, cost, cur_level):
    """Utilities under gatekeeping of a patient whose last trip was to level ``cur_level`` (-1: none yet), into ``out``.

    Before the township centre, a hospital is worth the better of its direct utility ``util`` and
    the route through the centre (+ ``slip`` - ``cost``); at the centre, which could not resolve
    his episode, the referral comes without another visit (+ ``slip``); beyond it, only the direct
    route is left.
    """
    for j in range(N_COLUMNS):
        if cur_level < TOWNSHIP:
            out[j] = util[j] + max(0.0, slip[j] - cost)
        elif cur_level == TOWNSHIP:
            out[j] = util[j] + slip[j]
        else:
            out[j] = util[j]


@jit
def choose(util, home_u, mch_ok, cur_level, key, r):
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
def relax_all_trust(trust, reputation, pull):
    """Every resident's trust (n, levels) relaxes towards the levels' reputation (a week's pull)."""
    for i in range(trust.shape[0]):
        for lvl in range(trust.shape[1]):
            trust[i, lvl] = rules.relax_trust(trust[i, lvl], reputation[lvl], pull)
