"""Levers that lift what the grassroots can resolve: training, new techniques, telemedicine,
the medical community's drug list and shared lab, TCM services, and effort from pay reform.

Each closes a share of the gap between a facility's own capability and that of the
level above (village clinic -> its township centre; township centre -> the county
people's hospital), for some episode kinds. Shares from several levers combine as
independent chances: 1 - (1 - a)(1 - b).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from health_sim.core.names import KINDS
from health_sim.config.schema import Params

_K = {k: i for i, k in enumerate(KINDS)}


class Skills:
    """Lasting skills of the grassroots built by training and new techniques."""

    def __init__(self, params: Params, n_townships: int):
        self.tr = params.policies.training
        self.village_trained = 0.0  # share of village doctors trained (fades)
        self.rotation_trained = 0.0  # share of township staff rotation-trained in the last 5 years
        self._rotation_cohorts = np.zeros(5 * 365)  # share trained on each of the last 5 years' days (a ring)
        self._day = 0
        self.techniques = np.zeros(n_townships)  # techniques each township centre has received
        self._n_village_doctors = 1.0

    def set_village_doctors(self, n: int) -> None:
        self._n_village_doctors = max(1.0, float(n))

    def update(self, date: dt.date) -> None:
        i = self.tr.intensity(date)
        fade = self.tr.skill_decay_per_year / 365.0
        per_day = i * self.tr.village_sessions_per_year * self.tr.village_doctors_per_session / self._n_village_doctors / 365.0
        self.village_trained += per_day * (1.0 - self.village_trained) - fade * self.village_trained
        # rotation training reaches staff not trained in the last 5 years; it counts for 5 years
        slot = self._day % len(self._rotation_cohorts)
        self.rotation_trained -= self._rotation_cohorts[slot]  # the cohort of 5 years ago expires
        new = i * self.tr.rotation_share_per_year / 365.0 * (1.0 - self.rotation_trained)
        self._rotation_cohorts[slot] = new
        self.rotation_trained += new
        self._day += 1
        self.techniques += i * self.tr.techniques_per_year / 365.0 / len(self.techniques)


def kind_uplift(params: Params, date: dt.date, skills: Skills, level: np.ndarray, township: np.ndarray, n_townships: int) -> np.ndarray:
    """(F, K) share of the gap to the next level closed for each facility and episode kind."""
    pol = params.policies
    F = len(level)
    keep = np.ones((F, len(KINDS)))
    village, town = level == 0, level == 1

    def close(rows: np.ndarray, kinds: tuple[str, ...], share: float | np.ndarray) -> None:
        share = np.asarray(share, dtype=float)
        for k in kinds:
            keep[rows, _K[k]] *= 1.0 - (share if share.ndim == 0 else share[township[rows]])

    tr = pol.training
    if tr.enabled:
        close(village, ("minor", "chronic", "serious"), tr.village_lift * skills.village_trained)
        close(town, KINDS, tr.rotation_lift * skills.rotation_trained)
        close(town, ("serious", "admission"), 1.0 - (1.0 - tr.technique_lift) ** skills.techniques)
    tm = pol.telemedicine
    if (i := tm.intensity(date)) > 0:
        close(town, ("serious", "emergency"), i * tm.remote_lift)
    mc = pol.medical_community
    if (i := mc.intensity(date)) > 0:
        if mc.unified_drug_list:
            close(village | town, ("chronic",), i * mc.drug_list_lift)
        if mc.shared_lab_imaging:
            close(town, ("serious",), i * mc.lab_lift)
    sr = pol.salary_reform
    if (i := sr.intensity(date)) > 0:
        close(village | town, KINDS, min(1.0, i * sr.effort_lift * sr.performance_pay_share))
    return 1.0 - keep


def village_tcm(params: Params, date: dt.date) -> bool:
    """Whether village clinics offer TCM (the specialty counts as present there)."""
    t = params.policies.tcm
    return t.village_tcm and t.intensity(date) > 0
