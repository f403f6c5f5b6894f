"""Doctor sinking (医师下基层): stationed support, circuit guidance, order-based dispatch, mentoring.

The mechanism of the stationed (:mod:`health_sim.policies.stationed`) and circuit
(:mod:`health_sim.policies.circuit`) levers. Posted doctors are the Mesa ``Doctor`` agents of
the county people's hospital (and the city hospital): ``Doctor.post_to`` moves them, so their home hospital loses their
capacity and the township centre gains it, and their specialty is present there.
While present a doctor closes a share of the gap between the centre's and the county
hospital's capability for episodes of his specialty (``lift`` x effort); through
mentoring a part of that lift is retained, approached over the posting and fading
after he leaves.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

import numpy as np

from health_sim.core import rng as crn
from health_sim.core.names import SPECIALTIES

if TYPE_CHECKING:
    from health_sim.policies.circuit import Circuit
    from health_sim.policies.stationed import Stationed

_S = {s: i for i, s in enumerate(SPECIALTIES)}
CIRCUIT_SPECIALTIES = ("internal_general", "emergency_cardiology", "surgery")


class Sinking:
    """Postings of doctors to township centres, rotation by rotation (state of one run).

    Parameters
    ----------
    stationed, circuit:
        The two levers' parameters.
    model:
        The model whose doctors are posted: it gives ``county.n_townships``, ``seed``,
        ``doctors()``, ``facility_agents`` and ``col_facility``.
    """

    def __init__(self, stationed: Stationed, circuit: Circuit, model):
        self.model = model
        self.st, self.ci = stationed, circuit
        T, S = model.county.n_townships, len(SPECIALTIES)
        self.retained = np.zeros((T, S))  # lasting lift from mentoring
        self.present_lift = np.zeros((T, S))
        self.unresolved = np.ones((T, S))  # record of episodes beyond each centre, by specialty (the "order")
        self._rotation = (None, None)
        self._posted: list = []  # doctors away now (stationed and circuit)
        self.doctor_days = 0.0  # doctor-days spent at the grassroots today

    @property
    def active(self) -> bool:
        """Whether either lever, stationed support or circuit guidance, is enabled."""
        return self.st.enabled or self.ci.enabled

    def _pool(self, ftype: str) -> dict[str, list]:
        """Doctors of a hospital still at home, by specialty, in a fixed order."""
        fac = self.model.facility_agents[self.model.col_facility[ftype]]
        pool: dict[str, list] = {}
        for d in sorted(self.model.doctors(), key=lambda d: d.unique_id):
            if d.home is fac and d.location is fac:
                pool.setdefault(d.specialty, []).append(d)
        return pool

    def _assign(self, n: int, pool: dict[str, list], rotation: int, ordered: bool, stream: int) -> list[tuple]:
        """Pick n doctors from ``pool`` and the township each goes to."""
        T = self.model.county.n_townships
        out = []
        if n <= 0:
            return out
        need = self.unresolved / self.unresolved.sum(axis=1, keepdims=True)
        if ordered:  # the centres that lack most order first
            towns = list(np.argsort(-self.unresolved.sum(axis=1), kind="stable"))
        else:
            towns = [(rotation * n + i) % T for i in range(T)]
        g = crn.generator(self.model.seed, stream * 1000 + rotation)
        for i in range(n):
            t = int(towns[i % T])
            free = [s for s, docs in pool.items() if docs]
            if not free:
                break
            if ordered:  # the specialty this centre's record says it lacks most, among those free
                spec = max(free, key=lambda s: (need[t, _S[s]], -_S[s]))
            else:  # whoever is free
                counts = np.array([len(pool[s]) for s in free], dtype=float)
                spec = free[int(g.choice(len(free), p=counts / counts.sum()))]
            out.append((pool[spec].pop(0), t))
        return out

    def update(self, date: dt.date, day: int) -> bool:
        """Post doctors for today's rotation; return True when postings changed."""
        m = self.model
        i_st = self.st.intensity(date)
        i_ci = self.ci.intensity(date)
        key_st = (date - self.st.start).days // self.st.period_days if i_st > 0 else None
        key_ci = (date - self.ci.start).days // self.ci.days_per_centre if i_ci > 0 else None
        changed = (key_st, key_ci) != self._rotation
        if changed:
            new_circuit = key_ci != self._rotation[1]
            new_order = key_st != self._rotation[0]
            for d in [
                d
                for d in self._posted
                if (d.posting == "circuit" and new_circuit) or (d.posting == "stationed" and new_order)
            ]:
                d.post_to(d.home)
                self._posted.remove(d)
            pool = self._pool("county_people")
            if key_ci is not None and new_circuit:
                T = m.county.n_townships
                for team in range(self.ci.teams):
                    town = (team * max(1, T // max(1, self.ci.teams)) + key_ci) % T
                    for k in range(self.ci.team_size):
                        spec = CIRCUIT_SPECIALTIES[k % len(CIRCUIT_SPECIALTIES)]
                        if not pool.get(spec):
                            spec = next((s for s, docs in pool.items() if docs), None)
                            if spec is None:
                                break
                        doc = pool[spec].pop(0)
                        self._post(doc, town, "circuit")
            if key_st is not None and new_order:
                ordered = self.st.dispatch == "ordered"
                per = self.st.period_days / 365.0
                n_county = math.ceil(self.st.doctors_per_year_county * per * i_st)
                n_city = math.ceil(self.st.doctors_per_year_city * per * i_st)
                for doc, t in self._assign(n_county, pool, key_st, ordered, crn.SINKING):
                    self._post(doc, t, "stationed")
                for doc, t in self._assign(n_city, self._pool("city"), key_st, ordered, crn.SINKING + 1):
                    self._post(doc, t, "stationed")
                self.unresolved[:] = 1.0  # the record starts afresh for the next order
            self._rotation = (key_st, key_ci)

        # lift while present, retained lift approached while present and fading after
        T, S = self.retained.shape
        effort = 1.0 if self.st.evaluation_tied_to_promotion else self.st.effort_if_untied
        keep = np.ones((T, S))
        target = np.zeros((T, S))
        for d in self._posted:
            t, s = d.location.township, _S[d.specialty]
            lift = effort * self.st.lift if d.posting == "stationed" else self.ci.lift
            keep[t, s] *= 1.0 - lift
            retention = self.st.mentoring_retention if d.posting == "stationed" else self.ci.mentoring_retention
            target[t, s] = max(target[t, s], retention * lift)
        self.present_lift = 1.0 - keep
        here = target > 0
        self.retained[here] += (target[here] - self.retained[here]).clip(min=0) / self.st.mentoring_days
        decay = self.st.retained_decay_per_year / 365.0
        self.retained[~here] *= 1.0 - decay
        self.doctor_days = float(len(self._posted))
        return changed

    def _post(self, doc, town: int, kind: str) -> None:
        centre = self.model.facility_agents[self.model.county.n_villages + town]
        doc.posting = kind
        doc.post_to(centre)
        self._posted.append(doc)

    def uplift(self) -> np.ndarray:
        """(T, S) share of the gap to the county hospital closed at each township centre."""
        return 1.0 - (1.0 - self.present_lift) * (1.0 - self.retained)
