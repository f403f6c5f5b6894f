"""Where residents seek care: a multinomial logit over staying home and six facilities.

Utility of facility column j for an episode (relative to staying home)::

    V_j = asc[level_j] + quality * capability_j + trust * trust_i[level_j]
          + cost * oop_j / 100 + travel * minutes_j / 60 + wait * expected_wait_j
          + contract * [signed and j is grassroots] + habit * [level_j was used last]
          + employee_hospital * [employee scheme and j is a county or city hospital]

with one set of weights for minor episodes (minor acute, chronic follow-up) and another
for severe ones (serious, emergency, admission); staying home has utility
``stay_home_utility[kind]``. Defaults and sources: :class:`health_sim.config.schema.ChoiceParams`.
The choice is drawn by the Gumbel-max rule: each resident has his own uniform per
alternative and decision (common random numbers), and picks the alternative with the
highest utility plus Gumbel noise. A policy that improves one alternative therefore
only moves residents onto it, and one that changes nothing moves nobody.
"""

from __future__ import annotations

import numpy as np

from health_sim.core.names import COLUMN_LEVEL
from health_sim.core.names import KINDS, LEVELS
from health_sim.config.schema import Params

SEVERE_KINDS = ("serious", "emergency", "admission")
GROUP = np.array([int(k in SEVERE_KINDS) for k in KINDS])  # 0: minor weights, 1: severe weights


class Weights:
    """Choice weights as arrays indexed by group (0 minor, 1 severe)."""

    def __init__(self, params: Params):
        c = params.choice
        ws = (c.minor, c.severe)
        self.asc = np.array([[w.asc[lvl] for lvl in LEVELS] for w in ws])
        for name in ("quality", "trust", "cost_per_100_yuan", "travel_per_hour", "wait_per_day", "contract", "habit", "employee_hospital"):
            setattr(self, name, np.array([getattr(w, name) for w in ws]))
        self.stay_home = np.array([c.stay_home_utility[k] for k in KINDS])


def facility_utilities(w: Weights, fac, tariff, fac_cols, kind, spec, employee, trust, contracted, last_level, travel_minutes, admit_p) -> np.ndarray:
    """Utilities (n, 6) of the six facility columns for n episodes."""
    g = GROUP[kind]
    lvl = COLUMN_LEVEL
    k2, s2, sch = kind[:, None], spec[:, None], employee.astype(np.intp)[:, None]
    cap = fac.capability[fac_cols, k2, s2]
    oop = tariff.expected_oop_visit[fac_cols, sch] + admit_p[k2] * tariff.expected_oop_admission[fac_cols, sch]
    v = w.asc[g][:, lvl]
    v += w.quality[g][:, None] * cap
    v += w.trust[g][:, None] * trust[:, lvl]
    v += w.cost_per_100_yuan[g][:, None] * (oop / 100.0)
    v += w.travel_per_hour[g][:, None] * (travel_minutes / 60.0)
    v += w.wait_per_day[g][:, None] * fac.wait_expected[fac_cols]
    v += w.contract[g][:, None] * (contracted[:, None] & (lvl <= 1))
    v += w.habit[g][:, None] * (last_level[:, None] == lvl)
    v += w.employee_hospital[g][:, None] * (employee[:, None] & (lvl >= 2))
    return v


def probabilities(home_u: np.ndarray, util: np.ndarray, avail: np.ndarray) -> np.ndarray:
    """Choice probabilities (n, 7): column 0 is staying home, then the six facility columns."""
    full = np.column_stack([home_u, np.where(avail, util, -np.inf)])
    full -= full.max(axis=1, keepdims=True)
    e = np.exp(full)
    return e / e.sum(axis=1, keepdims=True)


def sample(home_u: np.ndarray, util: np.ndarray, avail: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Chosen facility column per episode (-1 = stay home) by Gumbel-max.

    ``u`` holds uniforms (n, 7), one per alternative (home first); the pick has the
    multinomial-logit probabilities of :func:`probabilities`.
    """
    gumbel = -np.log(-np.log(np.clip(u, 1e-300, 1.0 - 1e-16)))
    full = np.column_stack([home_u, np.where(avail, util, -np.inf)]) + gumbel
    return full.argmax(axis=1) - 1
