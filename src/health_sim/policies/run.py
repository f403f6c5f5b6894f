"""The levers of one run, day by day.

:class:`PolicyRun` keeps the levers' mechanisms that carry state across days (doctors'
postings, :class:`~health_sim.policies.sinking.Sinking`; trained staff,
:class:`~health_sim.policies.training.Skills`) and, at the start of each day, asks every
lever (in the registry's order) for its effect: the day's :class:`~health_sim.policies.state.PolicyState`
and the grassroots' lifted capability. With every lever off the state is the baseline's
and the model takes exactly the baseline's path.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from health_sim.core.names import Level, Specialty
from health_sim.policies.lever import Gaps
from health_sim.policies.sinking import Sinking
from health_sim.policies.state import PolicyState
from health_sim.policies.training import Skills


class PolicyRun:
    """All levers of a run.

    Parameters
    ----------
    model:
        The model the levers act on: it gives ``params``, ``county.n_townships``,
        ``facilities`` (levels and townships), and what :class:`~health_sim.policies.sinking.Sinking`
        and :class:`~health_sim.policies.training.Skills` need.
    """

    def __init__(self, model):
        self.model = model
        self.params = model.params
        pol = self.params.policies
        self.sinking = Sinking(pol.stationed, pol.circuit, model)
        self.skills = Skills(pol.training, model)
        self.state = self._state(dt.date.min)  # the baseline: every lever off; the first update applies what is on
        self._contract_applied = self.state.contract_rate
        self.any = any(lever.enabled for _, lever in pol.levers())

    def _state(self, date: dt.date) -> PolicyState:
        p = self.params
        s = PolicyState(
            closed_loop=p.referral.closed_loop_tracking,
            contract_rate=p.population.contract_rate,
            tcm_uptake=p.tcm.uptake_grassroots,
        )
        for _, lever in p.policies.levers():
            lever.at(date).set_state(s, date)
        return s

    def update(self, date: dt.date, day: int) -> dict:
        """Set today's state; say what the model must recompute."""
        if not self.any:
            return {}
        old = self.state
        self.state = new = self._state(date)
        pol = self.params.policies  # a lever with a before_start level acts at that level before its start
        self.sinking.st, self.sinking.ci, self.skills.tr = (
            pol.stationed.at(date),
            pol.circuit.at(date),
            pol.training.at(date),
        )
        restaff = self.sinking.update(date, day) if self.sinking.active else False
        self.skills.update(date, day)
        return {
            "restaff": restaff
            or new.village_tcm != old.village_tcm
            or new.grassroots_capacity_factor != old.grassroots_capacity_factor,
            "tariff": new.tariff_key() != old.tariff_key(),
            "contracts": self._contracts_due(new.contract_rate),
            "uplift": True,
        }

    def _contracts_due(self, rate: float) -> bool:
        """Re-sign residents when the contract rate has moved by half a point (or reached its end)."""
        target = self.params.policies.family_doctor.contract_rate
        if abs(rate - self._contract_applied) >= 0.005 or (
            rate != self._contract_applied and rate in (target, self.params.population.contract_rate)
        ):
            self._contract_applied = rate
            return True
        return False

    def staff_extra(self, staff: np.ndarray) -> np.ndarray:
        """Doctors present (facilities x specialties); TCM counts as present at village clinics that offer it."""
        if self.state.village_tcm:
            staff = staff.copy()
            village = self.model.facilities.level == Level.VILLAGE
            staff[village, Specialty.TCM] = np.maximum(staff[village, Specialty.TCM], 0.01)
        return staff

    def uplift(self, date: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """(F, S) and (F, K) shares of the gap to the next level closed today."""
        fac = self.model.facilities
        spec = np.zeros((len(fac), len(Specialty)))
        town_rows = np.flatnonzero(fac.level == Level.TOWNSHIP)
        spec[town_rows] = self.sinking.uplift()[fac.township[town_rows]]
        gaps = Gaps(fac.level, fac.township)
        for _, lever in self.params.policies.levers():
            lever.at(date).close_gaps(gaps, date, self)
        return spec, gaps.closed()
