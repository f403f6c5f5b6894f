"""Facilities and doctors: the Mesa agents of the model.

Residents are many and live as arrays (:mod:`health_sim.world.population`); facilities and
doctors are few and are Mesa agents. A facility's numeric state (capacity, backlog,
beds in use, capability) is a row of the model's :class:`~health_sim.world.facilities.FacilityTable`
so that a day's visits are processed with array operations; the agent reads and
writes its own row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from health_sim.core.names import FACILITY_LEVEL

if TYPE_CHECKING:
    from health_sim.sim.model import HealthSystemModel


class Facility(mesa.Agent):
    """A village clinic, township health centre, county hospital or the city hospital."""

    model: HealthSystemModel

    def __init__(self, model: HealthSystemModel, index: int, ftype: str, name: str, township: int | None):
        super().__init__(model)
        self.index = index  # row in model.facilities
        self.ftype = ftype  # one of schema.FACILITY_TYPES
        self.name = name
        self.township = township  # township index, None for the county and city hospitals
        self.level = FACILITY_LEVEL[ftype]

    @property
    def doctors(self) -> list[Doctor]:
        """Doctors working here today (home staff still here, plus visitors)."""
        return [d for d in self.model.agents_by_type[Doctor] if d.location is self]

    @property
    def capacity(self) -> float:
        """Outpatient visits a day it can see without a queue growing (at the run's scale)."""
        return float(self.model.facilities.capacity[self.index])

    @property
    def beds(self) -> float:
        """Inpatient beds (at the run's scale)."""
        return float(self.model.facilities.beds[self.index])

    @property
    def wait_days(self) -> float:
        """Current wait for a visit, days."""
        return float(self.model.facilities.wait_now[self.index])

    def capability(self, kind: str, specialty: str) -> float:
        """Share of episodes of ``kind`` needing ``specialty`` that it can resolve."""
        from health_sim.core.names import KINDS, SPECIALTIES

        return float(self.model.facilities.capability[self.index, KINDS.index(kind), SPECIALTIES.index(specialty)])

    def __repr__(self) -> str:
        return f"Facility({self.index}, {self.ftype}, {self.name!r})"


class Doctor(mesa.Agent):
    """A doctor with a home facility and a specialty. Policies may post him elsewhere."""

    model: HealthSystemModel

    def __init__(self, model: HealthSystemModel, home: Facility, specialty: str):
        super().__init__(model)
        self.home = home
        self.location = home
        self.specialty = specialty
        self.posting: str | None = None  # "stationed", "circuit" or "rotation" while away by a policy

    def post_to(self, facility: Facility) -> None:
        """Move the doctor to ``facility`` (his home loses and the host gains his capacity)."""
        self.location = facility
        if facility is self.home:
            self.posting = None
        self.model.facilities.stale = True

    def __repr__(self) -> str:
        return f"Doctor({self.unique_id}, {self.specialty}, at {self.location.name!r})"
