"""Reimbursement gap between levels: higher rates at the grassroots, lower at county and city hospitals.

Outpatient and inpatient rates; the changes are added to the insurance section's rates.
"""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P, Rate
from health_sim.core.names import Level
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState

_GRASSROOTS = [Level.VILLAGE, Level.TOWNSHIP]
_HOSPITALS = [Level.COUNTY, Level.CITY]


class Reimbursement(Lever):
    """The gap in reimbursement between levels (changes added to the insurance section's rates).

    Adds i x increase to outpatient rates at village and township and inpatient rates at
    township; subtracts i x decrease at county and city (clipped to [0, 1]). Changes bills and
    the choice's expected cost.
    """

    outpatient_grassroots_increase: Rate = P(
        0.0,
        "Added to the outpatient reimbursement rate at village and township (capped at 1).",
        unit="rate points",
        source="scenario",
    )
    outpatient_hospital_decrease: Rate = P(
        0.0,
        "Taken from the outpatient reimbursement rate at county and city hospitals (floored at 0).",
        unit="rate points",
        source="scenario",
    )
    inpatient_grassroots_increase: Rate = P(
        0.0, "Added to the inpatient reimbursement rate at township centres.", unit="rate points", source="scenario"
    )
    inpatient_hospital_decrease: Rate = P(
        0.0,
        "Taken from the inpatient reimbursement rate at county and city hospitals.",
        unit="rate points",
        source="scenario",
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Add this lever's changes (rate points) to the outpatient and inpatient reimbursement rates by level."""
        if (i := self.intensity(date)) > 0:
            state.reimbursement_delta_outpatient[_GRASSROOTS] += i * self.outpatient_grassroots_increase
            state.reimbursement_delta_outpatient[_HOSPITALS] -= i * self.outpatient_hospital_decrease
            state.reimbursement_delta_inpatient[Level.TOWNSHIP] += i * self.inpatient_grassroots_increase
            state.reimbursement_delta_inpatient[_HOSPITALS] -= i * self.inpatient_hospital_decrease
