"""Stationed support (驻点帮扶): county and city doctors posted to township centres for months.

Whoever is free (untargeted) or by each centre's order (点单式派医). Its mechanism, shared with
circuit guidance, is :class:`~health_sim.policies.sinking.Sinking`.
"""

from __future__ import annotations

import math
from typing import Literal

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever


class Stationed(Lever):
    """Stationed support (驻点帮扶): county/city doctors posted to township centres for months.

    Each period, ceil(doctors a year x period / 365 x i) doctors of the county people's (and
    city) hospital are posted to township centres: the hospital loses their capacity, the centre
    gains it and their specialty. Stationed postings turn over each period, independently of
    circuit moves. While present each closes lift x effort of the centre's gap for his
    specialty; a retained lift approaches mentoring_retention x lift (time constant
    mentoring_days) and decays at retained_decay_per_year after. *ordered*: centres with most
    unresolved episodes first, each gets the specialty its record lacks most; *untargeted*:
    centres in rotation, specialty in proportion to free doctors.
    """

    doctors_per_year_county: int = P(
        0,
        "Doctors a year the county people's hospital posts to township centres.",
        unit="doctors per year",
        source="DOMAIN: a district sends 30 doctors a year (some stationed, some circuit)",
        ge=0,
    )
    doctors_per_year_city: int = P(
        0,
        "Doctors a year the city tertiary hospital posts to township centres.",
        unit="doctors per year",
        source="scenario",
        ge=0,
    )
    period_days: int = P(
        180, "Length of one posting.", unit="days", source="DOMAIN: a fixed period of months", ge=7, le=365
    )
    dispatch: Literal["ordered", "untargeted"] = P(
        "untargeted",
        (
            "ordered (点单式派医): each centre gets the specialty its own unresolved-episode record says it lacks; "
            "untargeted: whoever is free."
        ),
        source="DOMAIN",
    )
    lift: Rate = P(
        0.5,
        (
            "Share of the gap to the county hospital's capability a posted doctor closes, for episodes of his "
            "specialty, while there."
        ),
        unit="share of the gap",
        source="assumption",
    )
    mentoring_retention: Rate = P(
        0.3,
        "Share of the lift that stays after he leaves (mentoring, 传帮带), reached over a posting.",
        unit="share of the lift",
        source="assumption",
    )
    mentoring_days: float = P(
        90.0,
        "Time constant with which the retained lift builds up while a doctor (or circuit team) is present.",
        unit="days",
        source="assumption",
        gt=0.0,
    )
    retained_decay_per_year: float = P(
        0.2,
        "Rate at which the retained lift fades (stationed and circuit).",
        unit="per year",
        source="assumption",
        ge=0.0,
    )
    evaluation_tied_to_promotion: bool = P(
        True, "Whether the posted doctor's evaluation feeds his promotion (考核评价).", unit="bool", source="DOMAIN"
    )
    effort_if_untied: Rate = P(
        0.5,
        "His effort (multiplier of the lift) when the evaluation is not tied to promotion.",
        unit="factor",
        source="assumption",
    )

    def away_at_once(self, per_year: int) -> int:
        """Doctors away at once when ``per_year`` are posted a year."""
        return math.ceil(per_year * self.period_days / 365)

    def problems(self, name: str, params) -> list[tuple[tuple, str]]:
        """Postings the hospitals cannot staff: more doctors a year, or away at once, than they have."""
        if not self.enabled:
            return []
        out = []
        staff = hospital_staff(params)
        ci = params.policies.circuit
        county_out = self.away_at_once(self.doctors_per_year_county) + (ci.teams * ci.team_size if ci.enabled else 0)
        if self.doctors_per_year_county > staff["county_people"] or county_out > staff["county_people"]:
            out.append(
                (
                    (name, "doctors_per_year_county"),
                    f"{self.doctors_per_year_county} a year ({county_out} away at once with the circuit teams) is "
                    f"more than the county people's hospital's {staff['county_people']} doctors",
                )
            )
        if self.doctors_per_year_city > staff["city_tertiary"]:
            out.append(
                (
                    (name, "doctors_per_year_city"),
                    f"{self.doctors_per_year_city} is more than the city hospital's {staff['city_tertiary']} doctors",
                )
            )
        return out


def hospital_staff(params) -> dict[str, int]:
    """Doctors of the county people's hospital and the city hospital."""
    return {
        ft: round(sum(getattr(params.facilities, ft).doctors.values())) for ft in ("county_people", "city_tertiary")
    }
