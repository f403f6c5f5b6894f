"""Illness risk and chronic-disease management.

Each resident's daily probability of an episode of each kind depends on his age band,
his diagnosed chronic conditions (follow-up episodes) and whether a chronic condition
of his is uncontrolled or undiagnosed (more serious, emergency and admission episodes).
A diagnosed condition is *managed* when the resident had at least
``chronic.followups_for_control`` follow-up visits in the past 365 days; managed
conditions are controlled more often. Diagnoses come late (at a serious episode) or
early (screening).
"""

from __future__ import annotations

import numpy as np

from health_sim.config.schema import Params
from health_sim.core import rng as crn
from health_sim.core.jit import jit
from health_sim.core.names import AGE_BANDS, CONDITIONS, KINDS
from health_sim.world.population import Residents

_K = {k: i for i, k in enumerate(KINDS)}
_SEVERE = [_K["serious"], _K["emergency"], _K["admission"]]
_ALL_BITS = (1 << len(CONDITIONS)) - 1
LONG_AGO = -(10**6)


def n_bits(x: np.ndarray) -> np.ndarray:
    """Number of conditions set in each bitmask."""
    return sum(((x >> b) & 1).astype(np.int8) for b in range(len(CONDITIONS)))


class ChronicCare:
    """Follow-up history, control and episode risks of every resident."""

    def __init__(self, params: Params, res: Residents, seed: int):
        self.params = params
        self.res = res
        cp = params.chronic
        self.history = np.full(
            (res.n, cp.followups_for_control), LONG_AGO, dtype=np.int32
        )  # days of the last follow-ups, oldest first
        self.u_control = crn.generator(seed, crn.CONTROL).random(res.n).astype(np.float32)
        self.uncontrolled = np.zeros(res.n, dtype=bool)
        ep = params.episodes
        self._band = res.age_band  # int8
        self._base = np.zeros(
            (len(AGE_BANDS), len(KINDS))
        )  # daily probabilities by age band and kind (chronic follow-ups apart)
        for k in ("minor", "serious", "emergency", "admission"):
            self._base[:, _K[k]] = np.array([ep.rates[k][b] for b in AGE_BANDS]) / 365.0
        self.cum_ok = np.zeros((res.n, len(KINDS)), dtype=np.float32)
        self.cum_bad = np.zeros((res.n, len(KINDS)), dtype=np.float32)
        for start in range(0, res.n, 500_000):  # in blocks: the temporaries of a city of millions stay small
            self.refresh_rows(np.arange(start, min(start + 500_000, res.n)))
        self.refresh_control(0)

    # --- risks ------------------------------------------------------------------

    def refresh_rows(self, idx: np.ndarray) -> None:
        """Recompute the episode probabilities of residents ``idx`` (after a diagnosis)."""
        p = self._base[self._band[idx]]
        p[:, _K["chronic"]] = (
            self.params.episodes.chronic_followups_per_condition * n_bits(self.res.diagnosed[idx]) / 365.0
        )
        self.cum_ok[idx] = np.cumsum(p, axis=1)
        p[:, _SEVERE] *= self.params.chronic.uncontrolled_risk_factor
        cum = np.cumsum(p, axis=1)
        if (cum[:, -1] >= 1).any():
            raise ValueError("episode rates add up to one or more episodes a day for some residents")
        self.cum_bad[idx] = cum
        if hasattr(self, "_total"):
            self._total[idx] = np.where(self.uncontrolled[idx], self.cum_bad[idx, -1], self.cum_ok[idx, -1])

    def total(self) -> np.ndarray:
        """Daily probability of any episode, per resident."""
        return self._total

    # --- management and control ---------------------------------------------------

    def refresh_control(self, day: int) -> None:
        """Control follows management; uncontrolled or undiagnosed conditions raise severe risks.

        Also counts, per township, the residents with a diagnosed condition, those managed
        and those controlled (``by_township``, for the KPIs).
        """
        cp = self.params.chronic
        res = self.res
        T = len(self.params.county.townships)
        self.uncontrolled = np.empty(res.n, dtype=bool)
        self._total = np.empty(res.n, dtype=np.float32)
        self.by_township = np.zeros((3, T))
        _control(
            day,
            self.history,
            self.u_control,
            cp.control_if_managed,
            cp.control_if_not_managed,
            res.conditions,
            res.diagnosed,
            res.township,
            self.cum_ok,
            self.cum_bad,
            self.uncontrolled,
            self._total,
            self.by_township,
        )

    def turnover(self, seed: int, day: int, days: float) -> None:
        """Diagnosed conditions give way to undiagnosed ones at ``chronic.turnover_per_year``.

        Over ``days`` days ending on ``day``; one keyed uniform per diagnosed resident and
        condition.
        """
        p = 1.0 - np.exp(-self.params.chronic.turnover_per_year * days / 365.0)
        changed = _lose_diagnoses(seed, day, p, self.res.diagnosed, len(CONDITIONS))
        if changed.size:
            self.refresh_rows(changed)


@jit
def _control(
    day,
    history,
    u_control,
    p_managed,
    p_not_managed,
    conditions,
    diagnosed,
    township,
    cum_ok,
    cum_bad,
    uncontrolled,
    total,
    by_township,
):
    """Weekly control review of every resident (:meth:`ChronicCare.refresh_control`); fills the last three arrays."""
    last = cum_ok.shape[1] - 1
    for i in range(conditions.size):
        managed = day - history[i, 0] < 365
        controlled = u_control[i] < (p_managed if managed else p_not_managed)
        undiagnosed = (conditions[i] & ~diagnosed[i] & _ALL_BITS) > 0
        uncontrolled[i] = conditions[i] > 0 and (undiagnosed or (diagnosed[i] > 0 and not controlled))
        total[i] = cum_bad[i, last] if uncontrolled[i] else cum_ok[i, last]
        if diagnosed[i] > 0:
            t = township[i]
            by_township[0, t] += 1.0
            by_township[1, t] += 1.0 if managed else 0.0
            by_township[2, t] += 1.0 if controlled else 0.0


@jit
def _lose_diagnoses(seed, day, p, diagnosed, n_conditions):
    """Residents losing a diagnosed condition (its uniform of the day below ``p``).

    Clears those bits of ``diagnosed`` and returns the residents changed.
    """
    key = crn.key(seed, crn.TURNOVER, day, 0)
    changed = []
    for i in range(diagnosed.size):
        if diagnosed[i]:
            lose = 0
            for c in range(n_conditions):
                if (diagnosed[i] >> c) & 1 and crn.uniform(key, i * n_conditions + c) < p:
                    lose |= 1 << c
            if lose:
                diagnosed[i] &= ~lose
                changed.append(i)
    return np.array(changed, dtype=np.int64)
