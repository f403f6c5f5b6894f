"""Insurance: who pays what for a visit or an admission, by facility, scheme and referral."""

from __future__ import annotations

import numpy as np

from health_sim.config.schema import InsuranceParams
from health_sim.core.names import LEVELS, Level
from health_sim.world.facilities import FacilityTable


class Tariff:
    """Reimbursement rates and deductibles per facility (rows) and scheme (columns: resident, employee).

    For patients without a referral (index 0) and with one (index 1).

    ``delta_outpatient`` / ``delta_inpatient`` (by level) are changes of the rates set by a
    policy; ``unreferred_cut`` lowers the rate at county and city hospitals for patients
    who come without a formal referral (gatekeeping). A bill is split by
    :func:`health_sim.sim.rules.split`.
    """

    def __init__(
        self,
        ins: InsuranceParams,
        fac: FacilityTable,
        delta_outpatient=None,
        delta_inpatient=None,
        unreferred_cut: float = 0.0,
    ):
        zero = np.zeros(len(LEVELS))
        dout = zero if delta_outpatient is None else np.asarray(delta_outpatient)
        din = zero if delta_inpatient is None else np.asarray(delta_inpatient)
        hospital = (fac.level >= Level.COUNTY)[:, None]

        def table(setting, delta):
            rate = np.empty((len(fac), 2))
            ded = np.empty((len(fac), 2))
            scope = np.empty((len(fac), 1))
            for li, lvl in enumerate(LEVELS):
                b = getattr(getattr(ins, setting), lvl)
                m = fac.level == li
                rate[m] = np.clip(np.array([b.reimbursement, b.employee_reimbursement]) + delta[li], 0.0, 1.0)
                ded[m] = (b.deductible, b.employee_deductible)
                scope[m] = b.in_scope
            unref = np.where(hospital, np.clip(rate - unreferred_cut, 0.0, 1.0), rate)
            return np.stack([unref, rate]), ded, scope

        self.rate_visit, self.ded_visit, self.scope_visit = table("outpatient", dout)
        self.rate_admission, self.ded_admission, self.scope_admission = table("inpatient", din)
