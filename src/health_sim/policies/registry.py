"""The one list of levers: every lever registers here, once, under its key in ``policies``.

:class:`PolicyParams` is the ``policies`` section of the schema. Its field order is the
order in which the levers act each day (:class:`~health_sim.policies.run.PolicyRun` calls
each lever's hooks in turn; shares that several levers close combine in this order) and
the order of ``params/baseline.yaml`` and of the lever table in ``docs/model.md``.
"""

from __future__ import annotations

from collections.abc import Iterator

from health_sim.core.fields import P, Section
from health_sim.policies.capitation import Capitation
from health_sim.policies.circuit import Circuit
from health_sim.policies.drg import DRG
from health_sim.policies.family_doctor import FamilyDoctor
from health_sim.policies.gatekeeping import Gatekeeping
from health_sim.policies.lever import Lever
from health_sim.policies.medical_community import MedicalCommunity
from health_sim.policies.referral_system import ReferralSystem
from health_sim.policies.reimbursement import Reimbursement
from health_sim.policies.salary_reform import SalaryReform
from health_sim.policies.screening import Screening
from health_sim.policies.stationed import Stationed
from health_sim.policies.tcm import TCMServices
from health_sim.policies.telemedicine import Telemedicine
from health_sim.policies.training import Training


class PolicyParams(Section):
    """All levers. Each is off in the baseline."""

    stationed: Stationed = P(Stationed, "Stationed support of township centres by county and city doctors.")
    circuit: Circuit = P(Circuit, "Circuit guidance by county medical teams.")
    training: Training = P(Training, "Village-doctor training, rotation training, new techniques.")
    screening: Screening = P(Screening, "Screening equipment at township centres.")
    telemedicine: Telemedicine = P(Telemedicine, "Remote consultation and AI-doctor online consultations.")
    reimbursement: Reimbursement = P(Reimbursement, "Reimbursement gap between levels.")
    gatekeeping: Gatekeeping = P(Gatekeeping, "Lower reimbursement without a referral.")
    capitation: Capitation = P(Capitation, "Capitation to the medical community with surplus retention.")
    drg: DRG = P(DRG, "DRG payment for inpatients.")
    family_doctor: FamilyDoctor = P(FamilyDoctor, "Family-doctor contracting.")
    referral_system: ReferralSystem = P(ReferralSystem, "Two-way referral system.")
    medical_community: MedicalCommunity = P(MedicalCommunity, "Close-knit county medical community.")
    salary_reform: SalaryReform = P(SalaryReform, "Performance pay for grassroots staff.")
    tcm: TCMServices = P(TCMServices, "TCM services at the grassroots.")

    def levers(self) -> Iterator[tuple[str, Lever]]:
        """(key, lever) of every lever, in the order they act."""
        for name in type(self).model_fields:
            yield name, getattr(self, name)


LEVER_NAMES = tuple(PolicyParams.model_fields)
"""Keys of the levers under ``policies``, in the order they act."""
