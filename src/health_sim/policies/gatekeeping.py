"""Referral gatekeeping: a lower reimbursement rate at county and city hospitals without a formal referral."""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class Gatekeeping(Lever):
    """A lower reimbursement rate for county and city care without a formal referral.

    Outpatient and inpatient rates at county and city hospitals are cut by i x reduction for
    patients without a formal referral (emergencies are exempt); the choice's expected cost uses
    this rate. A patient heading to a hospital may instead go to his township centre first for
    the referral, where the referral saves more than that visit costs him (its fee, travel and
    wait, by his episode's weights): the centre resolves what it can (the gatekeeper treats
    him) and refers the rest to the hospital he chose, at the referred rate. A patient the
    centre could not resolve on a visit of his own is referred on request to the hospital he
    picks next.
    """

    unreferred_reduction: Rate = P(
        0.2,
        "Taken from the reimbursement rate (outpatient and inpatient) at county and city hospitals without a referral.",
        unit="rate points",
        source="assumption",
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Cut the reimbursement rate at county and city hospitals for patients without a referral."""
        state.unreferred_cut = self.intensity(date) * self.unreferred_reduction
