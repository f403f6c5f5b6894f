"""Secular forces: what moves over the years whatever the policy.

Incomes rising faster than the prices of care make a yuan of out-of-pocket cost weigh less
each year: the price weights of the choice (among facilities, and of seeking care at all)
are fitted for the reference year's incomes and scaled by :func:`money_weight` in other
years. County and city hospitals growing make them less crowded: their outpatient capacity
and beds are the reference year's times :func:`hospital_size`.
Parameters: :class:`health_sim.config.schema.SecularParams` (off by default).
"""

from __future__ import annotations

from health_sim.config.schema import Params


def money_weight(params: Params, year: int) -> float:
    """How much a yuan of out-of-pocket cost weighs in ``year`` against the reference year (1 there)."""
    s = params.secular
    return (1.0 + s.income_growth_per_year) ** -(year - s.reference_year)


def hospital_size(params: Params, year: int) -> float:
    """County and city hospitals' outpatient capacity and beds in ``year`` against the reference year (1 there)."""
    s = params.secular
    return (1.0 + s.hospital_growth_per_year) ** (year - s.reference_year)
