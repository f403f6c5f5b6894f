"""Policy levers acting on the agents, day by day.

:class:`Policies` reads ``params.policies`` (see :mod:`health_sim.config.levers`) and, at the
start of each day, sets what the model's day of care reads: doctors' postings
(:mod:`.sinking`), the grassroots' lifted capability (:mod:`.capability`), the tariff and
payment rules (:mod:`.payment`), and the service rules (family doctors, referral,
screening, online consultation, TCM) in :class:`PolicyState`. With every lever off the
state is the baseline's and the model takes exactly the baseline's path.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from health_sim.core.names import LEVELS, SPECIALTIES
from health_sim.config.schema import Params
from health_sim.sim.policies.capability import Skills, kind_uplift, village_tcm
from health_sim.sim.policies.payment import payment_state
from health_sim.sim.policies.sinking import Sinking

if TYPE_CHECKING:
    from health_sim.sim.model import HealthSystemModel


@dataclass
class PolicyState:
    """What the levers set for one day (baseline values by default)."""

    reimbursement_delta_outpatient: np.ndarray = field(default_factory=lambda: np.zeros(len(LEVELS)))
    reimbursement_delta_inpatient: np.ndarray = field(default_factory=lambda: np.zeros(len(LEVELS)))
    unreferred_cut: float = 0.0  # gatekeeping: rate points off at county and city without referral
    drg: float = 0.0  # share of inpatient payment on DRG terms (0 = fee for service)
    drg_price_factor: float = 1.0
    length_of_stay_factor: float = 1.0  # at county and city hospitals
    downward_factor: float = 1.0
    formal_referral_factor: float = 1.0  # at the grassroots
    green_channel: float = 0.0  # share of the queue referred patients skip
    reserved_slots: float = 0.0  # share of county outpatient capacity held for referrals
    closed_loop: float = 0.0  # share of referred patients tracked back
    contract_rate: float = 0.0
    first_contact: float = 0.0  # utility for signed residents' minor episodes at the grassroots
    scheduled_followup: float = 0.0  # utility for signed chronic residents' follow-ups at the grassroots
    community_followup: float = 0.0  # utility for all chronic follow-ups at the grassroots (capitation)
    screened_share: float = 0.0
    online_share: float = 0.0
    online_resolve: float = 0.0
    tcm_uptake: float = 0.0
    village_tcm: bool = False
    grassroots_capacity_factor: float = 1.0
    capitation: float = 0.0  # intensity of capitation (budget paid when > 0)

    def tariff_key(self) -> tuple:
        return (tuple(self.reimbursement_delta_outpatient), tuple(self.reimbursement_delta_inpatient), self.unreferred_cut)


class Policies:
    """All levers of a run."""

    def __init__(self, model: "HealthSystemModel"):
        self.model = model
        self.params: Params = model.params
        self.sinking = Sinking(model)
        self.skills = Skills(self.params, model.county.n_townships)
        self.state = self._state(dt.date.min)  # the baseline: every lever off; the first update applies what is on
        self._contract_applied = self.state.contract_rate
        self.any = any(getattr(self.params.policies, n).enabled for n in type(self.params.policies).model_fields)

    def _state(self, date: dt.date) -> PolicyState:
        p = self.params
        pol = p.policies
        s = PolicyState(closed_loop=p.referral.closed_loop_tracking, contract_rate=p.population.contract_rate, tcm_uptake=p.tcm.uptake_grassroots)
        payment_state(p, date, s)
        fd = pol.family_doctor
        if (i := fd.intensity(date)) > 0:
            s.contract_rate += i * max(0.0, fd.contract_rate - s.contract_rate)
            s.first_contact = i * fd.first_contact
            s.scheduled_followup = i * fd.scheduled_followup
        rs = pol.referral_system
        if (i := rs.intensity(date)) > 0:
            s.green_channel = i * float(rs.green_channel)
            s.formal_referral_factor = 1.0 + i * (rs.formal_referral_factor - 1.0)
            s.reserved_slots = i * rs.reserved_slots_share
            s.closed_loop += i * max(0.0, rs.closed_loop_tracking - s.closed_loop)
            s.downward_factor *= 1.0 + i * (rs.downward_factor - 1.0)
        sc = pol.screening
        s.screened_share = sc.intensity(date) * sc.screened_share
        tm = pol.telemedicine
        if (i := tm.intensity(date)) > 0:
            s.online_share, s.online_resolve = i * tm.online_share, tm.online_resolve
        tc = pol.tcm
        if (i := tc.intensity(date)) > 0:
            s.tcm_uptake = min(1.0, s.tcm_uptake + i * tc.uptake_increase)
        s.village_tcm = village_tcm(p, date)
        sr = pol.salary_reform
        s.grassroots_capacity_factor = 1.0 + sr.intensity(date) * sr.retention_response * sr.performance_pay_share
        return s

    def update(self, date: dt.date, day: int) -> dict:
        """Set today's state; say what the model must recompute."""
        if not self.any:
            return {}
        old = self.state
        self.state = new = self._state(date)
        restaff = self.sinking.update(date, day) if self.sinking.active else False
        self.skills.update(date)
        return {
            "restaff": restaff or new.village_tcm != old.village_tcm or new.grassroots_capacity_factor != old.grassroots_capacity_factor,
            "tariff": new.tariff_key() != old.tariff_key(),
            "contracts": self._contracts_due(new.contract_rate),
            "uplift": True,
        }

    def _contracts_due(self, rate: float) -> bool:
        """Re-sign residents when the contract rate has moved by half a point (or reached its end)."""
        target = self.params.policies.family_doctor.contract_rate
        if abs(rate - self._contract_applied) >= 0.005 or (rate != self._contract_applied and rate in (target, self.params.population.contract_rate)):
            self._contract_applied = rate
            return True
        return False

    def staff_extra(self, staff: np.ndarray) -> np.ndarray:
        """Doctors present, with the TCM specialty present at village clinics if they offer TCM."""
        if self.state.village_tcm:
            staff = staff.copy()
            village = self.model.facilities.level == 0
            tcm = SPECIALTIES.index("tcm")
            staff[village, tcm] = np.maximum(staff[village, tcm], 0.01)
        return staff

    def uplift(self, date: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """(F, S) and (F, K) shares of the gap to the next level closed today."""
        fac = self.model.facilities
        spec = np.zeros((len(fac), len(SPECIALTIES)))
        town_rows = np.flatnonzero(fac.level == 1)
        spec[town_rows] = self.sinking.uplift()[fac.township[town_rows]]
        kind = kind_uplift(self.params, date, self.skills, fac.level, fac.township, self.model.county.n_townships)
        return spec, kind
