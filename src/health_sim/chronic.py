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

from . import rng as crn
from .population import Residents
from .schema import AGE_BANDS, CONDITIONS, KINDS, Params

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
        self.history = np.full((res.n, cp.followups_for_control), LONG_AGO, dtype=np.int32)  # days of the last follow-ups, oldest first
        self.u_control = crn.generator(seed, crn.CONTROL).random(res.n).astype(np.float32)
        self.uncontrolled = np.zeros(res.n, dtype=bool)
        ep = params.episodes
        band = res.age_band
        base = np.zeros((res.n, len(KINDS)))
        for k in ("minor", "serious", "emergency", "admission"):
            base[:, _K[k]] = np.array([ep.rates[k][b] for b in AGE_BANDS])[band] / 365.0
        self._base = base
        self._cum_ok = np.zeros((res.n, len(KINDS)), dtype=np.float32)
        self._cum_bad = np.zeros((res.n, len(KINDS)), dtype=np.float32)
        self.refresh_rows(np.arange(res.n))
        self.refresh_control(0)

    # --- risks ------------------------------------------------------------------

    def refresh_rows(self, idx: np.ndarray) -> None:
        """Recompute the episode probabilities of residents ``idx`` (after a diagnosis)."""
        p = self._base[idx].copy()
        p[:, _K["chronic"]] = self.params.episodes.chronic_followups_per_condition * n_bits(self.res.diagnosed[idx]) / 365.0
        self._cum_ok[idx] = np.cumsum(p, axis=1)
        p[:, _SEVERE] *= self.params.chronic.uncontrolled_risk_factor
        cum = np.cumsum(p, axis=1)
        if (cum[:, -1] >= 1).any():
            raise ValueError("episode rates add up to one or more episodes a day for some residents")
        self._cum_bad[idx] = cum
        if hasattr(self, "_total"):
            self._total[idx] = np.where(self.uncontrolled[idx], self._cum_bad[idx, -1], self._cum_ok[idx, -1])

    def cumulative(self, idx: np.ndarray) -> np.ndarray:
        """(len(idx), K) cumulative daily probabilities by kind."""
        cum = self._cum_ok[idx]
        bad = self.uncontrolled[idx]
        cum[bad] = self._cum_bad[idx[bad]]
        return cum

    def total(self) -> np.ndarray:
        """Daily probability of any episode, per resident."""
        return self._total

    # --- management and control ---------------------------------------------------

    def record_followups(self, rid: np.ndarray, day: int) -> None:
        """Residents ``rid`` had a chronic follow-up visit on ``day``."""
        h = self.history
        h[rid, :-1] = h[rid, 1:]
        h[rid, -1] = day

    def managed(self, day: int) -> np.ndarray:
        """Residents with enough follow-ups in the past year."""
        return day - self.history[:, 0] < 365

    def refresh_control(self, day: int) -> None:
        """Control follows management; uncontrolled or undiagnosed conditions raise severe risks."""
        cp = self.params.chronic
        p = np.where(self.managed(day), cp.control_if_managed, cp.control_if_not_managed)
        controlled = self.u_control < p
        res = self.res
        undiagnosed = (res.conditions & ~res.diagnosed & _ALL_BITS) > 0
        self.uncontrolled = (res.conditions > 0) & (undiagnosed | ((res.diagnosed > 0) & ~controlled))
        self.controlled = (res.diagnosed > 0) & controlled
        self._total = np.where(self.uncontrolled, self._cum_bad[:, -1], self._cum_ok[:, -1])
        # who has a diagnosed condition, is managed, is controlled (for the KPIs, per township)
        diag = res.diagnosed > 0
        town, T = res.township[diag], len(self.params.county.townships)
        self.by_township = np.stack([
            np.bincount(town, minlength=T),
            np.bincount(town, self.managed(day)[diag], minlength=T),
            np.bincount(town, controlled[diag], minlength=T),
        ]).astype(float)

    def late_diagnosis(self, rid: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A severe episode of residents ``rid`` may reveal undiagnosed conditions (``u``: (n, conditions) uniforms)."""
        p = np.array([self.params.population.conditions[c].late_diagnosis for c in CONDITIONS])
        bits = ((u < p) << np.arange(len(CONDITIONS))).sum(axis=1).astype(np.uint8)
        return self.diagnose(rid, bits)

    def turnover(self, u: np.ndarray, days: float) -> None:
        """Diagnosed conditions give way to undiagnosed ones at ``chronic.turnover_per_year``
        (``u``: (n, conditions) uniforms for every resident)."""
        p = 1.0 - np.exp(-self.params.chronic.turnover_per_year * days / 365.0)
        lose = ((u < p) << np.arange(len(CONDITIONS))).sum(axis=1).astype(np.uint8) & self.res.diagnosed
        changed = np.flatnonzero(lose)
        if changed.size:
            self.res.diagnosed[changed] &= ~lose[changed]
            self.refresh_rows(changed)

    def diagnose(self, rid: np.ndarray, bits: np.ndarray | int = _ALL_BITS) -> np.ndarray:
        """Diagnose conditions ``bits`` (masks) of residents ``rid``; return the new diagnoses per resident."""
        res = self.res
        new = (np.asarray(bits, dtype=np.uint8) & res.conditions[rid] & ~res.diagnosed[rid]).astype(np.uint8)
        has = new > 0
        if has.any():
            r = rid[has]
            res.diagnosed[r] |= new[has]
            self.refresh_rows(r)
        return n_bits(new)
