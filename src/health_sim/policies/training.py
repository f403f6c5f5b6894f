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
    rotation-trained at i x rotation_share a year and count for 5 years (a 5-year ring of daily
    cohorts; at 0.32 a year the share reaches 1 - exp(-0.32 x 5) = 0.80 after 5 years); centres
    close rotation_lift x share for all kinds. Techniques accrue evenly over the 13 centres and
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
            gaps.close(gaps.town, KINDS, self.rotation_lift * skills.rotation_trained)
            gaps.close(gaps.town, ("serious", "admission"), 1.0 - (1.0 - self.technique_lift) ** skills.techniques)


class Skills:
    """Lasting skills of the grassroots built by training and new techniques (state of one run).

    Parameters
    ----------
    training:
        The training lever's parameters.
    n_townships:
        Township centres in the county.
    n_village_doctors:
        Village doctors in the county (at the run's scale).
    """

    def __init__(self, training: Training, n_townships: int, n_village_doctors: int):
        self.tr = training
        self.village_trained = 0.0  # share of village doctors trained (fades)
        self.rotation_trained = 0.0  # share of township staff rotation-trained in the last 5 years
        self._rotation_cohorts = np.zeros(5 * 365)  # share trained on each of the last 5 years' days (a ring)
        self._day = 0
        self.techniques = np.zeros(n_townships)  # techniques each township centre has received
        self._n_village_doctors = max(1.0, float(n_village_doctors))

    def update(self, date: dt.date) -> None:
        """Train and forget for one day."""
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
        # rotation training reaches staff not trained in the last 5 years; it counts for 5 years
        slot = self._day % len(self._rotation_cohorts)
        self.rotation_trained -= self._rotation_cohorts[slot]  # the cohort of 5 years ago expires
        new = i * self.tr.rotation_share_per_year / 365.0 * (1.0 - self.rotation_trained)
        self._rotation_cohorts[slot] = new
        self.rotation_trained += new
        self._day += 1
        self.techniques += i * self.tr.techniques_per_year / 365.0 / len(self.techniques)
