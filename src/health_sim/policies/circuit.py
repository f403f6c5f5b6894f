"""Circuit guidance (巡回指导): county medical teams rotating across the township centres.

Its mechanism, shared with stationed support, is :class:`~health_sim.policies.sinking.Sinking`.
"""

from __future__ import annotations

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.stationed import hospital_staff


class Circuit(Lever):
    """Circuit guidance (巡回指导): county medical teams rotating across the township centres.

    Teams of county people's doctors (internal/general, emergency/cardiology, surgery in turn)
    stay at a township centre, then move to the next; teams start 13 // teams centres apart.
    Lift and retained lift as for stationed (built up with `stationed.mentoring_days`, decay at
    `stationed.retained_decay_per_year`, no effort factor); teams at full size whenever i > 0.
    Circuit moves call home and re-post only the teams, not the stationed doctors.
    """

    teams: int = P(
        0,
        "County medical teams on circuit.",
        unit="teams",
        source="DOMAIN: a county formed 3 medical teams for its 13 township centres",
        ge=0,
    )
    team_size: int = P(
        3,
        "Doctors per team (internal/general, emergency/cardiology, surgery, in turn).",
        unit="doctors",
        source="assumption",
        ge=1,
        le=20,
    )
    days_per_centre: int = P(
        7, "Days a team stays at a centre before moving on.", unit="days", source="assumption", ge=1, le=90
    )
    lift: Rate = P(
        0.4,
        "Share of the gap to the county hospital's capability closed for the team's specialties while there.",
        unit="share of the gap",
        source="assumption",
    )
    mentoring_retention: Rate = P(
        0.15, "Share of the lift that stays after the team leaves.", unit="share of the lift", source="assumption"
    )

    def problems(self, name: str, params) -> list[tuple[tuple, str]]:
        """More doctors on circuit (teams x team size) than the county people's hospital has, when enabled."""
        staff = hospital_staff(params)["county_people"]
        if self.enabled and self.teams * self.team_size > staff:
            return [
                (
                    (name, "teams"),
                    f"{self.teams} teams of {self.team_size} is more than the county people's hospital's {staff} "
                    "doctors",
                )
            ]
        return []
