"""Insurance: who pays what for a visit or an admission, by facility and scheme."""

from __future__ import annotations

import numpy as np

from .facilities import FacilityTable
from .schema import LEVELS, InsuranceParams


def split(price: np.ndarray, rate: np.ndarray, deductible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(out-of-pocket, fund) yuan: the fund pays ``rate`` of the price above the deductible."""
    fund = rate * np.maximum(0.0, price - deductible)
    return price - fund, fund


class Tariff:
    """Out-of-pocket and fund payment per facility (rows) and scheme (columns: resident, employee)."""

    def __init__(self, ins: InsuranceParams, fac: FacilityTable):
        def table(setting, price):
            rate = np.empty((len(fac), 2))
            ded = np.empty((len(fac), 2))
            for li, lvl in enumerate(LEVELS):
                b = getattr(getattr(ins, setting), lvl)
                m = fac.level == li
                rate[m] = (b.reimbursement, b.employee_reimbursement)
                ded[m] = (b.deductible, b.employee_deductible)
            return split(price[:, None], rate, ded)

        self.oop_visit, self.fund_visit = table("outpatient", fac.price_visit)
        self.oop_admission, self.fund_admission = table("inpatient", fac.price_admission)
