"""Insurance: who pays what for a visit or an admission, by facility, scheme and referral."""

from __future__ import annotations

import numpy as np

from health_sim.world.facilities import FacilityTable
from health_sim.core.names import LEVELS
from health_sim.config.schema import InsuranceParams


def split(price: np.ndarray, rate: np.ndarray, deductible: np.ndarray, in_scope: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(out-of-pocket, fund) yuan: the fund pays ``rate`` of the in-scope part of the price above the deductible."""
    fund = rate * np.maximum(0.0, price * in_scope - deductible)
    return price - fund, fund


class Tariff:
    """Reimbursement rates and deductibles per facility (rows) and scheme (columns: resident,
    employee), for patients without a referral (index 0) and with one (index 1).

    ``delta_outpatient`` / ``delta_inpatient`` (by level) are changes of the rates set by a
    policy; ``unreferred_cut`` lowers the rate at county and city hospitals for patients
    who come without a formal referral (gatekeeping).
    """

    def __init__(self, ins: InsuranceParams, fac: FacilityTable, delta_outpatient=None, delta_inpatient=None, unreferred_cut: float = 0.0):
        zero = np.zeros(len(LEVELS))
        dout = zero if delta_outpatient is None else np.asarray(delta_outpatient)
        din = zero if delta_inpatient is None else np.asarray(delta_inpatient)
        hospital = (fac.level >= LEVELS.index("county"))[:, None]

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
        # mean prices, for what residents expect when they choose (without a referral)
        self.oop_visit, self.fund_visit = split(fac.price_visit[:, None], self.rate_visit[1], self.ded_visit, self.scope_visit)
        self.oop_admission, self.fund_admission = split(fac.price_admission[:, None], self.rate_admission[1], self.ded_admission, self.scope_admission)
        self.expected_oop_visit = split(fac.price_visit[:, None], self.rate_visit[0], self.ded_visit, self.scope_visit)[0]
        self.expected_oop_admission = split(fac.price_admission[:, None], self.rate_admission[0], self.ded_admission, self.scope_admission)[0]

    def visit(self, price, f, scheme, referred):
        """(oop, fund) of outpatient bills ``price`` at facilities ``f``."""
        ref = referred.astype(np.intp)
        return split(price, self.rate_visit[ref, f, scheme], self.ded_visit[f, scheme], self.scope_visit[f, 0])

    def admission(self, price, f, scheme, referred):
        """(oop, fund) of admission bills ``price`` at facilities ``f``."""
        ref = referred.astype(np.intp)
        return split(price, self.rate_admission[ref, f, scheme], self.ded_admission[f, scheme], self.scope_admission[f, 0])
