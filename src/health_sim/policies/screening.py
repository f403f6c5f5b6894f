"""Screening equipment at township centres (portable lung function, AI fundus, ECG).

Visitors of screening age are screened at most once a year and undiagnosed chronic conditions
found early.
"""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class Screening(Lever):
    """Screening equipment at township centres: portable lung function, AI fundus, ECG.

    A township-centre visitor aged >= min_age, unscreened for 365 days, is screened with
    probability i x screened_share; each undiagnosed condition he has is diagnosed with
    probability sensitivity (follow-ups begin).
    """

    screened_share: Rate = P(
        0.5,
        "Share of township-centre visitors aged 35+ screened (at most once a year).",
        unit="share of visitors",
        source="assumption",
    )
    sensitivity: Rate = P(
        0.7,
        "Share of undiagnosed chronic conditions a screening detects.",
        unit="share",
        source="assumption; DOMAIN: 194 lung-function tests, 105 abnormal, early diagnosis up more than 60%",
    )
    min_age: int = P(35, "Youngest age screened.", unit="years", source="assumption", ge=0, le=90)

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Set the share of township-centre visitors of screening age who are screened."""
        state.screened_share = self.intensity(date) * self.screened_share
