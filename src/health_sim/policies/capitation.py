"""Capitation to the county medical community with surplus retention (按人头打包付费, 结余留用).

The community refers recovering inpatients down sooner and follows chronic patients up more.
"""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class Capitation(Lever):
    """Capitation to the county medical community with surplus retention (按人头打包付费, 结余留用).

    While i > 0 the medical community's budget accrues; `capitation_surplus` = the budget minus
    the community's fund spending on the days capitation is paid (counter
    `fund_community_capitated`; an account without feedback). Incentive = i x retention:
    downward referral x (1 + incentive x downward_response); every chronic follow-up at village
    and township gets + incentive x followup_response utility.
    """

    budget_per_resident_year: float = P(
        580.0,
        "Capitation budget of the medical community (village, township, county) per resident-year.",
        unit="yuan per resident-year",
        source=(
            "assumption: the baseline fund spending at village, township and county facilities (about 577 yuan per "
            "resident-year), so a surplus comes only from savings"
        ),
        ge=0.0,
    )
    surplus_retention: Rate = P(
        0.6, "Share of the surplus the community keeps (its incentive).", unit="share", source="assumption"
    )
    downward_response: float = P(
        1.5,
        "Relative rise in downward referral at full incentive (refers down sooner).",
        unit="factor - 1",
        source="assumption",
        ge=0.0,
    )
    followup_response: float = P(
        1.0,
        "Utility added to chronic follow-up visits at full incentive (the community follows up more).",
        unit="utility",
        source="assumption",
        ge=0.0,
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Switch capitation on; the retained surplus raises downward referral and chronic follow-up utility."""
        if (i := self.intensity(date)) > 0:
            state.capitation = i
            incentive = i * self.surplus_retention
            state.downward_factor *= 1.0 + incentive * self.downward_response
            state.community_followup = incentive * self.followup_response
