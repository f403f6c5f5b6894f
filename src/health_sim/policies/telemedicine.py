"""Telemedicine: remote consultation, ECG and imaging with the county hospital; AI-doctor online consultations.

The remote services give a lift for serious and emergency episodes at township centres; with the
online consultations some minor episodes need no trip.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Gaps, Lever
from health_sim.policies.state import PolicyState

if TYPE_CHECKING:
    from health_sim.policies.run import PolicyRun


class Telemedicine(Lever):
    """Remote consultation, ECG and imaging with the county hospital; AI-doctor online consultations.

    Township centres close i x remote_lift of the gap for serious and emergency episodes. i x
    online_share of minor episodes start with an AI-doctor consultation, online_resolve of which
    end without a trip.
    """

    remote_lift: Rate = P(
        0.2,
        "Share of the gap to the county hospital closed at township centres for serious and emergency episodes.",
        unit="share of the gap",
        source="assumption (分布式检查、集中式诊断)",
    )
    online_share: Rate = P(
        0.05,
        "Share of minor acute episodes that start with an online (AI-doctor) consultation.",
        unit="share of episodes",
        source="assumption; DOMAIN: Yangshan 9,369 AI-doctor consultations in 2023 (~0.6%)",
    )
    online_resolve: Rate = P(0.5, "Share of online consultations that need no trip.", unit="share", source="assumption")

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Set the share of minor episodes that start online and the share of those that need no trip."""
        if (i := self.intensity(date)) > 0:
            state.online_share, state.online_resolve = i * self.online_share, self.online_resolve

    def close_gaps(self, gaps: Gaps, date: dt.date, run: PolicyRun) -> None:
        """Close the township centres' gap for serious and emergency episodes (remote consultation)."""
        if (i := self.intensity(date)) > 0:
            gaps.close(gaps.town, ("serious", "emergency"), i * self.remote_lift)
