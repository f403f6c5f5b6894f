"""TCM services at township TCM halls (国医堂) and village clinics: more grassroots visits receive
TCM services, and village clinics offer TCM.
"""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class TCMServices(Lever):
    """TCM services at township TCM halls (国医堂) and village clinics."""

    uptake_increase: Rate = P(
        0.15,
        "Added to the share of grassroots minor and chronic visits that receive TCM services.",
        unit="share",
        source="assumption",
    )
    village_tcm: bool = P(
        True, "Village clinics offer TCM (the TCM specialty is present there).", unit="bool", source="DOMAIN"
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        if (i := self.intensity(date)) > 0:
            state.tcm_uptake = min(1.0, state.tcm_uptake + i * self.uptake_increase)
        state.village_tcm = self.village_tcm and self.intensity(date) > 0
