"""Salary reform, the two allowances (两个允许): performance pay for grassroots staff.

Performance pay lifts grassroots staff's effort (capability) and retention (capacity).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from health_sim.core.fields import P, Rate
from health_sim.core.names import KINDS
from health_sim.policies.lever import Gaps, Lever
from health_sim.policies.state import PolicyState

if TYPE_CHECKING:
    from health_sim.policies.run import PolicyRun


class SalaryReform(Lever):
    """Salary reform "two allowances" (两个允许): performance pay for grassroots staff.

    Village clinics and township centres close min(1, i x effort_lift x share) of their gap for
    all kinds (effort_lift is per unit of performance-pay share: about 0.1 of the gap at share
    0.3); their capacity x (1 + i x retention_response x share).
    """

    performance_pay_share: Rate = P(
        0.3, "Share of grassroots pay that is performance pay.", unit="share", source="assumption"
    )
    effort_lift: Rate = P(
        0.33,
        (
            "Share of the gap to the next level closed at village and township through effort, per unit of "
            "performance-pay share (0.1 at 30% performance pay)."
        ),
        unit="share of the gap per unit share",
        source="assumption",
    )
    retention_response: float = P(
        0.3,
        "Relative rise in grassroots capacity (fewer vacancies, longer hours) per unit of performance-pay share.",
        unit="factor",
        source="assumption",
        ge=0.0,
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Raise grassroots capacity through retention: a factor of 1 + intensity x response x pay share."""
        state.grassroots_capacity_factor = (
            1.0 + self.intensity(date) * self.retention_response * self.performance_pay_share
        )

    def close_gaps(self, gaps: Gaps, date: dt.date, run: PolicyRun) -> None:
        """Close the grassroots' gap for every episode kind through effort (performance pay)."""
        if (i := self.intensity(date)) > 0:
            gaps.close(gaps.grassroots, KINDS, min(1.0, i * self.effort_lift * self.performance_pay_share))
