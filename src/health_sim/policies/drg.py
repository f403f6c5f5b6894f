"""DRG/DIP payment for inpatients: a fixed payment per case, shorter stays, recovery sent down."""

from __future__ import annotations

import datetime as dt

from health_sim.core.fields import P
from health_sim.policies.lever import Lever
from health_sim.policies.state import PolicyState


class DRG(Lever):
    """DRG/DIP for inpatients: a fixed payment per case.

    Stays at county and city x (1 - i(1 - factor)); downward referral x (1 + i(factor - 1));
    admission bills move from fee-for-service (proportional to the stay) to price_factor x the
    mean price per case.
    """

    length_of_stay_factor: float = P(
        0.85,
        "Multiplier of the length of stay at county and city hospitals.",
        unit="factor",
        source="assumption (DRG shortens stays)",
        gt=0.0,
        le=1.0,
    )
    downward_factor: float = P(
        1.8,
        "Multiplier of downward referral of recovering inpatients.",
        unit="factor",
        source="assumption (DRG pushes recovery down, 下转)",
        ge=1.0,
    )
    price_factor: float = P(
        1.0,
        "Fixed payment per case relative to the mean fee-for-service price of an admission.",
        unit="factor",
        source="assumption",
        gt=0.0,
    )

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Put inpatients on DRG terms: a fixed payment per case, shorter stays, more downward referral."""
        if (i := self.intensity(date)) > 0:
            state.drg = i
            state.drg_price_factor = self.price_factor
            state.length_of_stay_factor = 1.0 - i * (1.0 - self.length_of_stay_factor)
            state.downward_factor *= 1.0 + i * (self.downward_factor - 1.0)
