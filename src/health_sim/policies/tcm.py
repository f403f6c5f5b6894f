"""TCM services at township TCM halls (国医堂) and village clinics.

More grassroots visits receive TCM services, and village clinics offer TCM.
"""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class TCMServices(Lever):
    """TCM services at township TCM halls (国医堂) and village clinics.

    The share of grassroots minor and chronic visits with TCM services rises from 0.48 by i x
    uptake_increase (cap 1); village clinics count the TCM specialty as present (factor 1
    instead of 0.6 for TCM episodes).
    """

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
        """Raise the grassroots' TCM uptake (at most 1) and let village clinics offer TCM while on."""
        if (i := self.intensity(date)) > 0:
            state.tcm_uptake = min(1.0, state.tcm_uptake + i * self.uptake_increase)
        state.village_tcm = self.village_tcm and self.intensity(date) > 0
