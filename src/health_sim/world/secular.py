"""Secular forces: what moves over the years whatever the policy.

Incomes rising faster than the prices of care make a yuan of out-of-pocket cost weigh less
each year: the price weights of the choice (among facilities, and of seeking care at all)
are fitted for the reference year's incomes and scaled by :func:`money_weight` in other
years. Parameters: :class:`health_sim.config.schema.SecularParams` (off by default).
"""

from __future__ import annotations

from health_sim.config.schema import Params


def money_weight(params: Params, year: int) -> float:
    """How much a yuan of out-of-pocket cost weighs in ``year`` against the reference year (1 there)."""
    s = params.secular
    return (1.0 + s.income_growth_per_year) ** -(year - s.reference_year)
