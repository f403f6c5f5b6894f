"""Insurance payment levers (医保支付方式改革): the reimbursement gap between levels,
gatekeeping, capitation to the medical community with surplus retention, DRG for
inpatients, and the salary reform's capacity effect is in :mod:`health_sim.policies`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from health_sim.core.names import LEVELS
from health_sim.config.schema import Params

if TYPE_CHECKING:
    from health_sim.sim.policies import PolicyState

_GRASSROOTS = [LEVELS.index("village"), LEVELS.index("township")]
_HOSPITALS = [LEVELS.index("county"), LEVELS.index("city")]


def payment_state(params: Params, date: dt.date, s: "PolicyState") -> None:
    """Write the payment levers' effect on ``date`` into the policy state ``s``."""
    pol = params.policies
    r = pol.reimbursement
    if (i := r.intensity(date)) > 0:
        s.reimbursement_delta_outpatient[_GRASSROOTS] += i * r.outpatient_grassroots_increase
        s.reimbursement_delta_outpatient[_HOSPITALS] -= i * r.outpatient_hospital_decrease
        s.reimbursement_delta_inpatient[LEVELS.index("township")] += i * r.inpatient_grassroots_increase
        s.reimbursement_delta_inpatient[_HOSPITALS] -= i * r.inpatient_hospital_decrease
    g = pol.gatekeeping
    s.unreferred_cut = g.intensity(date) * g.unreferred_reduction
    d = pol.drg
    if (i := d.intensity(date)) > 0:
        s.drg = i
        s.drg_price_factor = d.price_factor
        s.length_of_stay_factor = 1.0 - i * (1.0 - d.length_of_stay_factor)
        s.downward_factor *= 1.0 + i * (d.downward_factor - 1.0)
    c = pol.capitation
    if (i := c.intensity(date)) > 0:
        s.capitation = i
        incentive = i * c.surplus_retention
        s.downward_factor *= 1.0 + incentive * c.downward_response
        s.community_followup = incentive * c.followup_response
