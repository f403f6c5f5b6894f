"""Facility state as arrays (one row per facility) and how it is built and updated."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from health_sim.config.schema import Params
from health_sim.core.names import FACILITY_LEVEL, FACILITY_TYPES, KINDS, LEVELS, SPECIALTIES
from health_sim.world.county import township_population


@dataclass
class FacilityTable:
    """Per-facility arrays. Capacities and beds are at the run's scale."""

    ftype: np.ndarray  # int8 index into FACILITY_TYPES
    level: np.ndarray  # int8 index into LEVELS
    township: np.ndarray  # int16, -1 for county and city hospitals
    visits_per_doctor_day: np.ndarray
    price_visit: np.ndarray  # yuan
    price_admission: np.ndarray  # yuan
    length_of_stay: np.ndarray  # days
    base_wait: np.ndarray  # days
    base_capability: np.ndarray  # (F, K)
    missing_factor: np.ndarray  # (F,)
    beds: np.ndarray  # at scale
    scale: float
    staff: np.ndarray = field(init=False)  # (F, S) doctors present by specialty
    capacity: np.ndarray = field(init=False)  # visits a day at scale
    capability: np.ndarray = field(init=False)  # (F, K, S) share resolvable (lifted by policies)
    own_capability: np.ndarray = field(init=False)  # (F, K, S) from its own staff alone
    load: np.ndarray = field(init=False)  # recent visits a day (exponential average)
    backlog: np.ndarray = field(init=False)  # visits waiting
    wait_now: np.ndarray = field(init=False)  # days
    wait_expected: np.ndarray = field(init=False)  # days, residents' expectation
    occupied: np.ndarray = field(init=False)  # beds in use
    stale: bool = True  # staffing changed: recompute capacity and capability
    open_share: np.ndarray | float = 1.0  # share of capacity open to patients without a referral

    def __post_init__(self) -> None:
        f = len(self.ftype)
        self.staff = np.zeros((f, len(SPECIALTIES)))
        self.capacity = np.zeros(f)
        self.capability = np.zeros((f, len(KINDS), len(SPECIALTIES)))
        self.own_capability = self.capability
        self.backlog = np.zeros(f)
        self.load = np.zeros(f)
        self.wait_now = self.base_wait.copy()
        self.wait_expected = self.base_wait.copy()
        self.occupied = np.zeros(f)

    def __len__(self) -> int:
        return len(self.ftype)

    def restaff(self, staff: np.ndarray, capacity_factor: np.ndarray | float = 1.0) -> None:
        """Set doctors present (F, S); recompute capacity and own capability from them."""
        self.staff = staff
        self.capacity = np.maximum(staff.sum(axis=1) * self.visits_per_doctor_day * self.scale * capacity_factor, 1e-6)
        present = staff > 0  # (F, S)
        factor = np.where(present, 1.0, self.missing_factor[:, None])  # (F, S)
        self.own_capability = self.base_capability[:, :, None] * factor[:, None, :]
        self.capability = self.own_capability
        self.stale = False

    def lift(self, reference: np.ndarray, by_specialty: np.ndarray, by_kind: np.ndarray) -> None:
        """Capability = own + (reference - own) x share of the gap closed.

        ``reference`` (F,) is the facility whose capability is the ceiling (a village
        clinic's township centre, a township centre's county hospital; itself above);
        the shares closed by specialty (F, S) and by kind (F, K) combine as
        1 - (1 - a)(1 - b).
        """
        own = self.own_capability
        gap = np.maximum(own[reference] - own, 0.0)
        closed = 1.0 - (1.0 - by_specialty[:, None, :]) * (1.0 - by_kind[:, :, None])
        self.capability = own + gap * closed

    def end_day(self, arrivals: np.ndarray, memory_days: float) -> None:
        """Queue dynamics: sustained demand beyond capacity builds a backlog (waiting).

        Demand is the exponential average of daily visits over ``memory_days``, so that
        a queue reflects sustained crowding rather than one day's chance peak (which
        would grow with smaller scales, where a facility sees few simulated visits).
        """
        a = 1.0 / memory_days
        self.load += a * (arrivals - self.load)
        self.backlog = np.maximum(0.0, self.backlog + self.load - self.capacity * self.open_share)
        self.wait_now = self.base_wait + self.backlog / (self.capacity * self.open_share)
        self.wait_expected = self.wait_now


def facility_rows(
    params: Params, township_names: list[str], village_township: np.ndarray
) -> list[tuple[str, str, int]]:
    """(type, name, township index or -1) of every facility, in table order.

    Village clinics, township centres, the three county hospitals, the city hospital.
    """
    rows = [
        ("village_clinic", f"{township_names[t]} village clinic {i}", int(t)) for i, t in enumerate(village_township)
    ]
    rows += [("township_centre", f"{name} township health centre", i) for i, name in enumerate(township_names)]
    rows += [
        ("county_people", "County People's Hospital", -1),
        ("county_tcm", "County TCM Hospital", -1),
        ("county_mch", "County Maternal and Child Health Hospital", -1),
        ("city_tertiary", "City tertiary hospital", -1),
    ]
    return rows


def build_table(params: Params, rows: list[tuple[str, str, int]], scale: float) -> FacilityTable:
    """The facility table of ``rows`` at ``scale``: prices (yuan), waits and stays (days), capability, beds."""
    fp = params.facilities
    types = [getattr(fp, r[0]) for r in rows]
    town_pop = township_population(params.county)
    beds = []
    for (ftype, _, t), spec in zip(rows, types, strict=True):
        beds.append(spec.beds * town_pop[t] / 1e4 if ftype == "township_centre" else spec.beds)
    return FacilityTable(
        ftype=np.array([FACILITY_TYPES.index(r[0]) for r in rows], dtype=np.int8),
        level=np.array([LEVELS.index(FACILITY_LEVEL[r[0]]) for r in rows], dtype=np.int8),
        township=np.array([r[2] for r in rows], dtype=np.int16),
        visits_per_doctor_day=np.array([s.visits_per_doctor_day for s in types]),
        price_visit=np.array([s.price_visit for s in types]),
        price_admission=np.array([s.price_admission for s in types]),
        length_of_stay=np.array([s.length_of_stay for s in types]),
        base_wait=np.array([s.base_wait_days for s in types]),
        base_capability=np.array([[s.capability[k] for k in KINDS] for s in types]),
        missing_factor=np.array([s.missing_specialty_factor for s in types]),
        beds=np.array(beds) * scale,
        scale=scale,
    )


def doctor_counts(params: Params, rows: list[tuple[str, str, int]], g: np.random.Generator) -> list[dict[str, int]]:
    """Doctors by specialty at each facility (real headcounts, independent of scale).

    Fractional means (1.6 village doctors a clinic; township doctors per 10,000 residents)
    are rounded up or down at random so that the county total matches on average.
    """
    fp = params.facilities
    town_pop = township_population(params.county)
    out = []
    for ftype, _, t in rows:
        spec = getattr(fp, ftype)
        counts = {}
        for s, mean in spec.doctors.items():
            m = mean * town_pop[t] / 1e4 if ftype == "township_centre" else mean
            counts[s] = int(np.floor(m + g.random()))
        if sum(counts.values()) == 0:  # every facility has at least one doctor
            first = max(spec.doctors, key=spec.doctors.get) if spec.doctors else "internal_general"
            counts[first] = 1
        out.append(counts)
    return out
