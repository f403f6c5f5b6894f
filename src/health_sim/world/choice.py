"""Where residents seek care: a multinomial logit over staying home and six facilities.

Utility of facility column j for an episode (relative to staying home)::

    V_j = asc[level_j] + quality * capability_j + trust * trust_i[level_j]
          + cost * oop_j / 100 + travel * minutes_j / 60 + wait * expected_wait_j
          + contract * [signed and j is grassroots] + habit * [level_j was used last]
          + employee_hospital * [employee scheme and j is a county or city hospital]

with one set of weights for minor episodes (minor acute, chronic follow-up) and another
for severe ones (serious, emergency, admission: :data:`health_sim.core.names.SEVERE_KINDS`);
an episode the patient's own township centre can treat adds ``township_admission`` times the
kind's admission probability to that centre (:func:`health_sim.sim.rules.admission_pull`);
staying home has utility
``stay_home_utility[kind] - seek_cost * (median income / own income) * bill / 100``, where ``bill`` is
the out-of-pocket yuan the resident expects if he seeks care (each facility's, weighted by
its choice probability; :func:`health_sim.sim.rules.home_utility`): a dearer visit keeps
some residents home, the poorer more, without moving anyone between facilities. Defaults and
sources: :class:`health_sim.config.schema.ChoiceParams`.
The utility is :func:`health_sim.sim.rules.utility`, summed by :func:`health_sim.sim.engine.utilities`;
the choice (:func:`health_sim.sim.engine.choose`) is drawn by the Gumbel-max rule: each resident has his own uniform per
alternative and decision (common random numbers), and picks the alternative with the
highest utility plus Gumbel noise. A policy that improves one alternative therefore
only moves residents onto it, and one that changes nothing moves nobody.
"""

from __future__ import annotations

import numpy as np

from health_sim.config.schema import Params
from health_sim.core.names import KINDS, LEVELS


class Weights:
    """Choice weights as arrays indexed by group (0 minor, 1 severe)."""

    def __init__(self, params: Params):
        c = params.choice
        ws = (c.minor, c.severe)
        self.asc = np.array([[w.asc[lvl] for lvl in LEVELS] for w in ws])
        for name in (
            "quality",
            "trust",
            "cost_per_100_yuan",
            "travel_per_hour",
            "wait_per_day",
            "contract",
            "habit",
            "employee_hospital",
            "seek_cost_per_100_yuan",
        ):
            setattr(self, name, np.array([getattr(w, name) for w in ws]))
        self.stay_home = np.array([c.stay_home_utility[k] for k in KINDS])
        self.township_admission = float(c.township_admission)
