"""Gatekeeping's referral route through the township centre, driven through the compiled engine.

Under gatekeeping (docs/model.md, Sections 7.2 and 7.4) a patient heading to a hospital may go to
his township centre first for a referral. These tests take a small gatekept county (its arrays as
the model hands them to :func:`health_sim.sim.engine.day_of_episodes`), give a batch of residents
an episode whose outcome is fixed (a severity beyond every township centre and within the
hospitals, no admissions) and whose choice is fixed (utilities far apart), and run the engine's
real passes (:func:`health_sim.sim.engine._passes`: choose, resolve, pay, count, learn, refer) on
them. The tests of a route compare its patients with the same patients taking another route on
the same random numbers, so that they fail if the route's rules break:

- a seeker whom the centre refers up is not counted as failed by the centre in his satisfaction,
  so his trust in the township level ends higher than that of the same patient who came to the
  centre for treatment and was not resolved (``_learn``);
- a seeker referred up pays the referred rate at the hospital he aimed for, each hospital the
  city included; the same patient going straight there pays the unreferred rate (``_pay``); so
  does one whom the centre could not resolve and who asks for the referral;
- emergencies never take the route (``_prepare``) and pay the referred rate going straight to a
  hospital;
- without gatekeeping no one is offered the route and the referred and unreferred rates are equal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from health_sim.config.params import load_params, with_overrides
from health_sim.core.names import KINDS, Column, Kind, Level
from health_sim.sim import engine
from health_sim.sim.kpis import COUNTERS
from health_sim.sim.model import HealthSystemModel

SEED = 7
CUT = 1.0  # unreferred_reduction: no reimbursement at all at county and city hospitals without a referral
FAR = 50.0  # utilities this far apart leave the Gumbel noise no say
CITY = int(Column.CITY)
HOSPITAL_COLUMNS = (Column.COUNTY_PEOPLE, Column.COUNTY_TCM, Column.COUNTY_MCH, Column.CITY)
RESIDENT_SCHEME = 0
_T = {name: i for i, name in enumerate(COUNTERS)}


@dataclass
class County:
    """A small county after one day, with the engine inputs of that day and their state to restore."""

    model: HealthSystemModel
    inputs: dict
    saved: list

    @property
    def people(self):
        return self.inputs["people"]

    @property
    def sites(self):
        return self.inputs["sites"]

    def _state(self):
        for name in ("people", "sites", "books"):
            for x in self.inputs[name]:
                if isinstance(x, np.ndarray):
                    yield x

    def restore(self) -> None:
        """Every array the engine may change back to its state after the first day (in place)."""
        for x, before in zip(self._state(), self.saved, strict=True):
            x[...] = before

    def residents(self, mch: bool = False) -> np.ndarray:
        """Residents of the resident scheme (only those the MCH hospital takes if ``mch``)."""
        ok = ~self.people.employee & (self.people.mch_ok if mch else True)
        return np.flatnonzero(ok).astype(np.int64)

    def township_centre(self, rid: np.ndarray) -> np.ndarray:
        return self.sites.town_fac0 + self.people.township[rid].astype(np.int64)

    def run(self, rid, kind, sev, util, slip, detour) -> tuple[dict, np.ndarray]:
        """One day's passes of the episodes of residents ``rid`` (kind, severity, utilities and routes given).

        Specialty internal medicine, no admissions, no staying home. Returns the day's counters
        (summed over townships) and the residents' trust afterwards.
        """
        self.restore()
        self.inputs["books"].tally[...] = 0.0
        n = rid.size
        cols = np.empty((n, len(Column)), dtype=np.int64)
        cols[:, Column.VILLAGE] = self.people.village[rid]
        cols[:, Column.TOWNSHIP] = self.township_centre(rid)
        cols[:, Column.COUNTY_PEOPLE :] = self.sites.hospitals
        eps = engine.Episodes(
            rid, np.full(n, int(kind), dtype=np.int64), np.full(n, sev), np.zeros(n, dtype=np.int64), cols,
            np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64),
            np.full(n, -FAR), np.tile(slip, (n, 1)), np.full(n, float(detour)), np.full(n, -1, dtype=np.int64),
        )  # fmt: skip
        care = self.inputs["care"]._replace(admit_p=np.zeros(len(KINDS)))
        found = engine.Found(np.empty(3 * n + 1, dtype=np.int64), np.zeros(1, dtype=np.int64))
        i = self.inputs
        engine._passes(
            i["d"] + 1, i["seed"], eps, np.tile(util, (n, 1)), self.people, self.sites, i["choice"], care,
            i["policy"], i["books"], found,
        )  # fmt: skip
        tally = i["books"].tally.sum(axis=1)
        return {name: float(tally[j]) for name, j in _T.items()}, self.people.trust.copy()

    def prepare(self, rid, kind):
        """The engine's own episodes (routes included) of residents ``rid`` with episodes of ``kind``."""
        i = self.inputs
        kinds = np.full(rid.size, int(kind), dtype=np.int64)
        return engine._prepare(i["d"] + 1, i["seed"], rid, kinds, self.people, self.sites, i["choice"], i["care"],
                               i["policy"])[0]  # fmt: skip


def _county(gatekeeping: bool) -> County:
    params = with_overrides(
        load_params("params/baseline.yaml"),
        {
            "run.scale": 0.01,
            "run.days": 2,
            "run.burn_in_days": 0,
            "policies.gatekeeping.enabled": gatekeeping,
            "policies.gatekeeping.unreferred_reduction": CUT,
        },
    )
    model = HealthSystemModel(params, rng=SEED)
    inputs = {}
    day = engine.day_of_episodes

    def spy(d, seed, ids, u_arrival, people, sites, choice, care, policy, books):
        inputs.update(d=d, seed=seed, people=people, sites=sites, choice=choice, care=care, policy=policy, books=books)
        return day(d, seed, ids, u_arrival, people, sites, choice, care, policy, books)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "day_of_episodes", spy)
        model.step()
    assert inputs, "the model ran no episodes on its first day"
    county = County(model, inputs, [])
    county.saved = [x.copy() for x in county._state()]
    return county


@pytest.fixture(scope="module")
def gatekept() -> County:
    return _county(True)


@pytest.fixture(scope="module")
def ungated() -> County:
    return _county(False)


def _row(values: dict) -> np.ndarray:
    """Referral values by facility column: ``values`` where given, 0 elsewhere."""
    return np.array([values.get(Column(j), 0.0) for j in range(len(Column))])


def _utilities(**by_column: float) -> np.ndarray:
    """Utilities by facility column (named in lower case): the values given, -FAR elsewhere."""
    u = np.full(len(Column), -FAR)
    for name, value in by_column.items():
        u[Column[name.upper()]] = value
    return u


def _severity(county: County, rid: np.ndarray, col: int, kind: Kind = Kind.MINOR) -> float:
    """A severity beyond every township centre of ``rid`` and within the hospital of column ``col``."""
    cap = county.sites.capability[:, int(kind), 0]
    beyond, within = cap[county.township_centre(rid)].max(), cap[county.sites.hospitals[col - Column.COUNTY_PEOPLE]]
    assert beyond < within, "no severity separates the township centres from this hospital"
    return (beyond + within) / 2


def _fund(county: County, rid: np.ndarray, col: int, referred: int, hospital_visits: float) -> float:
    """Fund yuan of one unresolved visit to each own township centre and ``hospital_visits`` visits at column ``col``.

    At the referred (``referred`` = 1) or unreferred (0) rate of the resident scheme, which has no
    outpatient deductible.
    """
    s = county.sites
    tf, f = county.township_centre(rid), s.hospitals[col - Column.COUNTY_PEOPLE]
    assert (s.ded_visit[tf, RESIDENT_SCHEME] == 0).all() and s.ded_visit[f, RESIDENT_SCHEME] == 0
    town = (s.rate_visit[0, tf, RESIDENT_SCHEME] * s.price_visit[tf] * s.scope_visit[tf, 0]).sum()
    return town + s.rate_visit[referred, f, RESIDENT_SCHEME] * s.price_visit[f] * s.scope_visit[f, 0] * hospital_visits


def _billed(county: County, rid: np.ndarray, col: int, hospital_visits: float) -> float:
    s = county.sites
    return (
        s.price_visit[county.township_centre(rid)].sum()
        + s.price_visit[s.hospitals[col - Column.COUNTY_PEOPLE]] * hospital_visits
    )


def _hospital_visits(counts: dict, col: int) -> float:
    return counts["visits_city"] if col == CITY else counts["visits_county"]


# --- (a) trust: getting the referral he came for is not a failure -------------------------------


def test_a_seeker_referred_up_does_not_lose_trust_in_the_township_centre_for_it(gatekept):
    rid = gatekept.residents()
    sev = _severity(gatekept, rid, Column.COUNTY_PEOPLE)
    # seekers: the county hospital through the centre (the referral worth 2, the visit costing 1)
    seek, trust_seek = gatekept.run(
        rid, Kind.MINOR, sev, _utilities(county_people=FAR), _row({Column.COUNTY_PEOPLE: 2.0}), 1.0
    )
    # the same patients, the same unresolved visit to the centre, but come for treatment
    came, trust_came = gatekept.run(rid, Kind.MINOR, sev, _utilities(township=FAR, county_people=0.0), _row({}), 1.0)
    n = rid.size
    assert seek["referral_seekers"] == n and seek["referral_seekers_resolved"] == 0
    assert seek["referrals_up_grassroots"] == n and seek["hospital_trips_referred"] == n
    assert seek["trips_township"] == came["trips_township"] == n and came["referral_seekers"] == 0
    # the same uniforms decide satisfaction: only the seekers' higher probability differs
    after_seek, after_came = trust_seek[rid, Level.TOWNSHIP], trust_came[rid, Level.TOWNSHIP]
    assert (after_seek >= after_came).all()
    assert (after_seek > after_came).sum() > 0.05 * n
    assert seek["satisfied_township"] > came["satisfied_township"]
    assert seek["satisfied_township"] > 0.9 * n  # as satisfied as a resolved trip with its small bill


# --- (b) the bill: a seeker referred up pays the referred rate --------------------------------


@pytest.mark.parametrize("col", HOSPITAL_COLUMNS, ids=lambda c: c.name.lower())
def test_a_seeker_referred_up_pays_the_referred_rate_at_the_hospital_he_aimed_for(gatekept, col):
    rid = gatekept.residents(mch=col == Column.COUNTY_MCH)
    n, sev = rid.size, _severity(gatekept, rid, col)
    s = gatekept.sites
    f = s.hospitals[col - Column.COUNTY_PEOPLE]
    assert s.rate_visit[1, f, RESIDENT_SCHEME] > s.rate_visit[0, f, RESIDENT_SCHEME]  # the cut bites
    util = _utilities(**{col.name.lower(): FAR})
    seek, _ = gatekept.run(rid, Kind.MINOR, sev, util, _row({col: 2.0}), 1.0)
    assert seek["referral_seekers"] == n and seek["referrals_up_grassroots"] == n
    assert seek["hospital_trips"] == seek["hospital_trips_referred"] == n
    visits = _hospital_visits(seek, col)
    assert visits >= n
    assert seek["fund"] == pytest.approx(_fund(gatekept, rid, col, 1, visits))
    assert seek["fund"] != pytest.approx(_fund(gatekept, rid, col, 0, visits))
    assert seek["oop_outpatient"] == pytest.approx(_billed(gatekept, rid, col, visits) - seek["fund"])
    # the same patients going straight to that hospital: unreferred, at the unreferred rate
    direct, _ = gatekept.run(rid, Kind.MINOR, sev, util, _row({}), 1.0)
    assert direct["referral_seekers"] == 0 and direct["hospital_trips"] == n
    assert direct["hospital_trips_referred"] == 0
    unreferred = s.rate_visit[0, f, RESIDENT_SCHEME] * s.price_visit[f] * s.scope_visit[f, 0]
    assert direct["fund"] == pytest.approx(unreferred * _hospital_visits(direct, col))


def test_one_the_centre_could_not_resolve_is_referred_on_request_and_pays_the_referred_rate(gatekept):
    """He came to the centre for treatment (no seeker) and asks for the referral once unresolved there."""
    rid = gatekept.residents()
    n, col = rid.size, Column.COUNTY_PEOPLE
    sev = _severity(gatekept, rid, col)
    out, _ = gatekept.run(rid, Kind.MINOR, sev, _utilities(township=FAR, county_people=0.0), _row({col: 2.0}), 1.0)
    assert out["referral_seekers"] == 0 and out["trips_township"] == n
    assert out["referrals_up_grassroots"] == n and out["hospital_trips_referred"] == out["hospital_trips"] == n
    assert out["fund"] == pytest.approx(_fund(gatekept, rid, col, 1, out["visits_county"]))


# --- emergencies and gatekeeping off ---------------------------------------------------------------


def test_the_route_is_offered_for_every_kind_but_emergencies(gatekept):
    rid = gatekept.residents()
    hospitals = list(HOSPITAL_COLUMNS)
    for kind in Kind:
        eps = gatekept.prepare(rid, kind)
        if kind == Kind.EMERGENCY:
            assert (eps.detour == -1.0).all() and (eps.slip == 0.0).all()
        else:
            assert (eps.detour >= 0.0).all(), kind
            assert (eps.slip[:, hospitals] > 0.0).all(), kind
            assert (eps.slip[:, : Column.COUNTY_PEOPLE] == 0.0).all(), kind


def test_an_emergency_straight_to_a_hospital_pays_the_referred_rate(gatekept):
    rid = gatekept.residents()
    n, s = rid.size, gatekept.sites
    f = s.hospitals[CITY - Column.COUNTY_PEOPLE]
    rate = s.rate_visit[:, f, RESIDENT_SCHEME] * s.price_visit[f] * s.scope_visit[f, 0]
    assert rate[1] > rate[0]
    for kind, paid in ((Kind.EMERGENCY, rate[1]), (Kind.SERIOUS, rate[0])):  # the emergency as referred
        out, _ = gatekept.run(rid, kind, 0.5, _utilities(city=FAR), _row({}), -1.0)
        assert out["referral_seekers"] == 0 and out["hospital_trips"] == n
        assert out["hospital_trips_referred"] == 0  # no formal referral: reimbursed as if referred
        assert out["fund"] == pytest.approx(paid * out["visits_city"]), kind.name


def test_without_gatekeeping_no_one_is_offered_the_route_and_a_referral_changes_no_rate(gatekept, ungated):
    s = ungated.sites
    assert np.array_equal(s.rate_visit[0], s.rate_visit[1])
    assert np.array_equal(s.rate_admission[0], s.rate_admission[1])
    assert np.array_equal(s.expected_oop_visit, s.referred_oop_visit)
    rid = ungated.residents()
    for kind in Kind:
        eps = ungated.prepare(rid, kind)
        assert (eps.detour == -1.0).all() and (eps.slip == 0.0).all(), kind
    # under gatekeeping the cut applies at county and city hospitals only
    g = gatekept.sites
    hospital = gatekept.model.facilities.level >= Level.COUNTY
    for rate in (g.rate_visit, g.rate_admission):
        assert np.array_equal(rate[0, ~hospital], rate[1, ~hospital])
        assert (rate[0, hospital] < rate[1, hospital]).all()
    assert ungated.model.counter_totals()["referral_seekers"] == 0
    assert gatekept.model.counter_totals()["referral_seekers"] > 0
