"""Training of grassroots staff.

Village-doctor sessions, rotation training of township staff at the county hospital, and new
techniques carried to township centres.

The lever's mechanism is :class:`Skills`, the lasting skills it builds (one per run); they
close a share of the grassroots' capability gap (:meth:`Training.close_gaps`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np

from health_sim.core import rng as crn
from health_sim.core.fields import P, Rate
from health_sim.core.names import KINDS
from health_sim.policies.lever import Gaps, Lever

if TYPE_CHECKING:
    from health_sim.policies.run import PolicyRun


class Training(Lever):
    """Training: village-doctor sessions, rotation training of grassroots staff, new techniques.

    The trained share of village doctors grows by i x sessions x doctors per session / village
    doctors a year (towards 1) and fades at skill_decay; clinics close village_lift x share of
    the gap for minor, chronic, serious. Township staff not trained in the last 5 years are
    rotation-trained at i x rotation_share a year: each day that many township doctors (chosen at
    random among those at home and not trained in the last 5 years) leave for rotation_days at the
    county people's hospital, so their centre loses their capacity while they are away; a doctor
    counts as trained for 5 years from his return (at 0.32 a year about 1 - exp(-0.32 x 5) = 0.80
    of the staff after 5 years). Each centre closes rotation_lift x its own trained share for all
    kinds. Techniques accrue evenly over the 13 centres and
    close 1 - (1 - technique_lift)^n for serious and admission, for good.
    """

    village_sessions_per_year: float = P(
        0.0,
        "Training sessions for village doctors a year.",
        unit="sessions per year",
        source="DOMAIN: 70+ sessions for 800+ village doctors",
        ge=0.0,
    )
    village_doctors_per_session: float = P(
        11.4, "Village doctors trained per session.", unit="doctors", source="DOMAIN: 800 / 70", ge=0.0
    )
    village_lift: Rate = P(
        0.3,
        "Share of the gap to the township centre's capability closed when every village doctor is trained.",
        unit="share of the gap",
        source="assumption",
    )
    rotation_share_per_year: Rate = P(
        0.0,
        "Share of grassroots staff sent to rotation training (>= 3 months at the county hospital) a year.",
        unit="share per year",
        source=(
            "DOMAIN: at least once in 5 years, rate >= 80% (0.32 a year reaches it: 1 - exp(-0.32 x 5) = 0.80; a "
            "training counts for 5 years)"
        ),
    )
    rotation_days: int = P(
        90,
        "Days a township doctor spends at the county people's hospital for one rotation training.",
        unit="days",
        source="DOMAIN: rotation training of at least 3 months at the county hospital",
        ge=1,
        le=365,
    )
    rotation_lift: Rate = P(
        0.25,
        "Share of the gap to the county hospital's capability closed when all township staff are rotation-trained.",
        unit="share of the gap",
        source="assumption",
    )
    skill_decay_per_year: float = P(
        0.2,
        "Rate at which training fades (staff turnover, forgetting); rotation training counts for 5 years.",
        unit="per year",
        source="assumption",
        ge=0.0,
    )
    techniques_per_year: float = P(
        0.0,
        "New techniques or projects carried to the county's township centres a year.",
        unit="techniques per year",
        source="DOMAIN: 23 new techniques at township centres in a year",
        ge=0.0,
    )
    technique_lift: Rate = P(
        0.03,
        (
            "Share of the gap to the county hospital closed, for serious and admission episodes, by each technique a "
            "centre receives (lasting)."
        ),
        unit="share of the gap",
        source="assumption",
    )

    def close_gaps(self, gaps: Gaps, date: dt.date, run: PolicyRun) -> None:
        """Close the grassroots' gaps by the skills built so far: village training, rotation, new techniques."""
        if self.enabled:
            skills = run.skills
            gaps.close(gaps.village, ("minor", "chronic", "serious"), self.village_lift * skills.village_trained)
            gaps.close(gaps.town, KINDS, self.rotation_lift * skills.rotation_trained_by_town)
            gaps.close(gaps.town, ("serious", "admission"), 1.0 - (1.0 - self.technique_lift) ** skills.techniques)


class Skills:
    """Lasting skills of the grassroots built by training and new techniques (state of one run).

    Village training and techniques are shares and counts; rotation training is kept doctor by
    doctor (the township centres' Mesa ``Doctor`` agents): who is away at the county people's
    hospital until when, and who is trained until when.

    Parameters
    ----------
    training:
        The training lever's parameters.
    model:
        The model whose township doctors rotate: it gives ``seed``, ``county.n_townships``,
        ``doctors()``, ``n_village_doctors()``, ``facility_agents`` and ``col_facility``.
    """

    def __init__(self, training: Training, model):
        self.tr = training
        self.model = model
        T = model.county.n_townships
        self.village_trained = 0.0  # share of village doctors trained (fades)
        self.techniques = np.zeros(T)  # techniques each township centre has received
        self._n_village_doctors = max(1.0, float(model.n_village_doctors()))
        docs = sorted((d for d in model.doctors() if d.home.ftype == "township_centre"), key=lambda d: d.unique_id)
        self._town_doctors = docs
        self._ids = np.array([d.unique_id for d in docs], dtype=np.int64)
        self._town_of = np.array([d.home.township for d in docs], dtype=np.int64)
        self._staff = np.bincount(self._town_of, minlength=T).astype(float)
        self._trained_until = np.full(len(docs), -1, dtype=np.int64)  # clock day his training stops counting
        self._back_on = np.full(len(docs), -1, dtype=np.int64)  # clock day he returns; -1: at his centre
        self._due = 0.0  # doctors owed to rotation training (the fraction carried to the next day)
        self.rotation_trained_by_town = np.zeros(T)  # share of each centre's doctors trained in the last 5 years
        self.rotation_trained = 0.0  # the same, county-wide
        self.rotation_away = 0  # township doctors at the county hospital today

    def update(self, date: dt.date, day: int) -> None:
        """Train and forget for the day ``day`` (clock) of ``date``."""
        i = self.tr.intensity(date)
        fade = self.tr.skill_decay_per_year / 365.0
        per_day = (
            i
            * self.tr.village_sessions_per_year
            * self.tr.village_doctors_per_session
            / self._n_village_doctors
            / 365.0
        )
        self.village_trained += per_day * (1.0 - self.village_trained) - fade * self.village_trained
        self._rotate(i, day)
        self.techniques += i * self.tr.techniques_per_year / 365.0 / len(self.techniques)

    def _rotate(self, i: float, day: int) -> None:
        """One day of rotation training: doctors come back, today's share of the untrained leave.

        A doctor back from the county people's hospital counts as trained for 5 years; those who
        leave are the untrained at home with the lowest keyed uniforms of the day.
        """
        docs = self._town_doctors
        for k in np.flatnonzero((self._back_on >= 0) & (self._back_on <= day)):
            docs[k].post_to(docs[k].home)
            self._back_on[k] = -1
            self._trained_until[k] = day + 5 * 365
        if i > 0 and self.tr.rotation_share_per_year > 0 and len(docs):
            free = np.flatnonzero((self._trained_until <= day) & (self._back_on < 0))
            free = free[[docs[k].location is docs[k].home for k in free]]
            self._due += i * self.tr.rotation_share_per_year / 365.0 * free.size
            n = min(int(self._due), free.size)
            if n:
                self._due -= n
                u = crn.uniforms(self.model.seed, crn.ROTATION, day, self._ids[free])
                county = self.model.facility_agents[self.model.col_facility["county_people"]]
                for k in free[np.argsort(u, kind="stable")[:n]]:
                    docs[k].posting = "rotation"
                    docs[k].post_to(county)
                    self._back_on[k] = day + self.tr.rotation_days
        trained = (self._trained_until > day).astype(float)
        self.rotation_trained_by_town = np.bincount(self._town_of, trained, minlength=len(self._staff)) / np.maximum(
            self._staff, 1.0
        )
        self.rotation_trained = float(trained.mean()) if len(docs) else 0.0
        self.rotation_away = int((self._back_on >= 0).sum())
