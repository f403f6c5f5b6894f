"""The day's policy state: what the levers set and the model and engine read.

Every field is written by the levers' :meth:`~health_sim.policies.lever.Lever.set_state`
(its default is the baseline's, every lever off). The compiled engine reads the float
fields as one vector (:data:`ENGINE_FIELDS`, in the order of their definition here), so a
new field is seen by the engine by name, with no list to keep in step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from health_sim.core.names import LEVELS


@dataclass
class PolicyState:
    """What the levers set for one day (baseline values by default)."""

    reimbursement_delta_outpatient: np.ndarray = field(default_factory=lambda: np.zeros(len(LEVELS)))
    """Rate points added to the outpatient reimbursement rate, by level."""
    reimbursement_delta_inpatient: np.ndarray = field(default_factory=lambda: np.zeros(len(LEVELS)))
    """Rate points added to the inpatient reimbursement rate, by level."""
    unreferred_cut: float = 0.0
    """Rate points off at county and city hospitals without a referral (gatekeeping)."""
    drg: float = 0.0
    """Share of inpatient payment on DRG terms (0: fee for service)."""
    drg_price_factor: float = 1.0
    """Fixed payment per case relative to the mean fee-for-service price of an admission."""
    length_of_stay_factor: float = 1.0
    """Multiplier of the length of stay at county and city hospitals."""
    downward_factor: float = 1.0
    """Multiplier of the downward referral of recovering inpatients."""
    formal_referral_factor: float = 1.0
    """Multiplier of formal upward referral at the grassroots."""
    green_channel: float = 0.0
    """Share of the county hospitals' queue that referred patients skip."""
    reserved_slots: float = 0.0
    """Share of county-hospital outpatient capacity held for referred patients."""
    closed_loop: float = 0.0
    """Share of referred patients tracked back to their grassroots facility."""
    contract_rate: float = 0.0
    """Share of residents signed with a family doctor."""
    first_contact: float = 0.0
    """Utility added at the grassroots for signed residents' minor episodes."""
    scheduled_followup: float = 0.0
    """Utility added at the grassroots for signed chronic residents' follow-ups."""
    community_followup: float = 0.0
    """Utility added at the grassroots for every chronic follow-up (capitation's incentive)."""
    screened_share: float = 0.0
    """Share of township-centre visitors of screening age screened (at most once a year)."""
    online_share: float = 0.0
    """Share of minor episodes that start with an online consultation."""
    online_resolve: float = 0.0
    """Share of online consultations that need no trip."""
    tcm_uptake: float = 0.0
    """Share of grassroots minor and chronic visits that receive TCM services."""
    village_tcm: bool = False
    """Whether village clinics offer TCM (the specialty counts as present there)."""
    grassroots_capacity_factor: float = 1.0
    """Multiplier of village and township capacity (pay reform's retention)."""
    capitation: float = 0.0
    """Intensity of capitation (the budget is paid when above 0)."""

    def tariff_key(self) -> tuple:
        """What the tariff depends on (the tariff is rebuilt when it changes)."""
        return (
            tuple(self.reimbursement_delta_outpatient),
            tuple(self.reimbursement_delta_inpatient),
            self.unreferred_cut,
        )

    def engine_vector(self) -> np.ndarray:
        """The float fields as the engine reads them (:data:`ENGINE_FIELDS` order)."""
        return np.array([getattr(self, name) for name in ENGINE_FIELDS], dtype=float)


ENGINE_FIELDS = tuple(f.name for f in dataclasses.fields(PolicyState) if f.type == "float")
"""Fields of :class:`PolicyState` in the engine's policy vector, in definition order."""
