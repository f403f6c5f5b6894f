"""Two-way referral: green channel, reserved slots, formal referral, closed loop, downward referral.

A green channel and reserved slots at the county hospitals, more formal referral from the
grassroots, tracked returns (closed loop) and more downward referral.
"""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class ReferralSystem(Lever):
    """Two-way referral: green channel, reserved slots, closed loop, downward referral.

    Formal referral from the grassroots x (1 + i(factor - 1)); referred patients skip the county
    and city queue; county hospitals close i x reserved share of capacity to the open queue;
    tracked share rises from 0.3 towards 0.95 by i; downward referral x (1 + i(factor - 1)).
    """

    green_channel: bool = P(True, "Referred patients skip the county hospitals' queue.", unit="bool", source="DOMAIN")
    formal_referral_factor: float = P(
        2.0,
        "Multiplier of the probability that an episode beyond a grassroots facility is formally referred.",
        unit="factor",
        source="assumption",
        ge=1.0,
    )
    reserved_slots_share: Rate = P(
        0.05,
        "Share of county-hospital outpatient capacity held for referred patients.",
        unit="share",
        source="assumption",
    )
    closed_loop_tracking: Rate = P(
        0.95,
        "Share of referred patients whose return is tracked (they are sent back to their grassroots facility).",
        unit="share",
        source="DOMAIN: target 95%",
    )
    downward_factor: float = P(
        1.5, "Multiplier of downward referral of recovering inpatients.", unit="factor", source="assumption", ge=1.0
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Set the green channel, formal referral, reserved slots, closed-loop tracking and downward referral."""
        if (i := self.intensity(date)) > 0:
            state.green_channel = i * float(self.green_channel)
            state.formal_referral_factor = 1.0 + i * (self.formal_referral_factor - 1.0)
            state.reserved_slots = i * self.reserved_slots_share
            state.closed_loop += i * max(0.0, self.closed_loop_tracking - state.closed_loop)
            state.downward_factor *= 1.0 + i * (self.downward_factor - 1.0)
