"""Family-doctor contracting: more residents signed, first-contact advice and scheduled follow-ups.

These draw signed residents to the grassroots.
"""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class FamilyDoctor(Lever):
    """Family-doctor contracting: sign-up, first-contact advice, scheduled follow-ups.

    The sign-up rate moves from 0.28 (`population.contract_rate`) towards contract_rate by i;
    residents are re-signed by their persistent uniform (priority odds 2.5) in half-point steps;
    the priority group (aged 65+ or diagnosed at the start) is fixed, so a rising rate only adds
    residents. Signed residents get + i x first_contact at village and township for minor
    episodes and + i x scheduled_followup for chronic follow-ups (on top of
    `choice.*.contract`).
    """

    contract_rate: Rate = P(
        0.6,
        "Target share of residents signed (the elderly and chronic first).",
        unit="share",
        source="assumption; DOMAIN: ~28% in a three-province survey",
    )
    scheduled_followup: float = P(
        1.5,
        (
            "Utility added to grassroots follow-up visits of signed residents with a chronic condition (scheduled, "
            "reminded)."
        ),
        unit="utility",
        source="assumption; protocol >= 4 follow-ups a year",
    )
    first_contact: float = P(
        0.4,
        "Utility added to the grassroots for signed residents' minor episodes (first-contact advice).",
        unit="utility",
        source="assumption",
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Raise the signed share towards ``contract_rate``; add first-contact and follow-up utility."""
        if (i := self.intensity(date)) > 0:
            state.contract_rate += i * max(0.0, self.contract_rate - state.contract_rate)
            state.first_contact = i * self.first_contact
            state.scheduled_followup = i * self.scheduled_followup
