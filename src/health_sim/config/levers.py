"""Parameters of the policy levers (part of the schema: names, units, ranges, defaults, sources).

Every lever is off by default (``enabled: false``), so the baseline is the county as
it was in 2023. A lever starts on ``start`` and reaches full strength after
``ramp_years`` (0: at once). The mechanisms live in :mod:`health_sim.policies`;
``docs/model.md`` tabulates every lever.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from health_sim.core.fields import P, Rate, Section

_START = dt.date(2023, 1, 1)


class Lever(Section):
    """Common to every lever: on or off, when it starts, how fast it ramps up."""

    enabled: bool = P(False, "Whether the lever acts at all.", unit="bool", source="off in the 2023 baseline")
    start: dt.date = P(_START, "Date the lever starts.", unit="date", source="scenario")
    ramp_years: float = P(0.0, "Years from the start to full strength (linear; 0 = at once).", unit="years", source="scenario", ge=0.0, le=20.0)

    def intensity(self, date: dt.date) -> float:
        """Strength in [0, 1] on ``date``."""
        if not self.enabled or date < self.start:
            return 0.0
        if self.ramp_years <= 0:
            return 1.0
        return min(1.0, (date - self.start).days / (365.0 * self.ramp_years))


# --- doctor sinking ---------------------------------------------------------------


class Stationed(Lever):
    """Stationed support (驻点帮扶): county/city doctors posted to township centres for months."""

    doctors_per_year_county: int = P(0, "Doctors a year the county people's hospital posts to township centres.", unit="doctors per year", source="DOMAIN: a district sends 30 doctors a year (some stationed, some circuit)", ge=0)
    doctors_per_year_city: int = P(0, "Doctors a year the city tertiary hospital posts to township centres.", unit="doctors per year", source="scenario", ge=0)
    period_days: int = P(180, "Length of one posting.", unit="days", source="DOMAIN: a fixed period of months", ge=7, le=365)
    dispatch: Literal["ordered", "untargeted"] = P("untargeted", "ordered (点单式派医): each centre gets the specialty its own unresolved-episode record says it lacks; untargeted: whoever is free.", source="DOMAIN")
    lift: Rate = P(0.5, "Share of the gap to the county hospital's capability a posted doctor closes, for episodes of his specialty, while there.", unit="share of the gap", source="assumption")
    mentoring_retention: Rate = P(0.3, "Share of the lift that stays after he leaves (mentoring, 传帮带), reached over a posting.", unit="share of the lift", source="assumption")
    mentoring_days: float = P(90.0, "Time constant with which the retained lift builds up while a doctor (or circuit team) is present.", unit="days", source="assumption", gt=0.0)
    retained_decay_per_year: float = P(0.2, "Rate at which the retained lift fades (stationed and circuit).", unit="per year", source="assumption", ge=0.0)
    evaluation_tied_to_promotion: bool = P(True, "Whether the posted doctor's evaluation feeds his promotion (考核评价).", unit="bool", source="DOMAIN")
    effort_if_untied: Rate = P(0.5, "His effort (multiplier of the lift) when the evaluation is not tied to promotion.", unit="factor", source="assumption")


class Circuit(Lever):
    """Circuit guidance (巡回指导): county medical teams rotating across the township centres."""

    teams: int = P(0, "County medical teams on circuit.", unit="teams", source="DOMAIN: a county formed 3 medical teams for its 13 township centres", ge=0)
    team_size: int = P(3, "Doctors per team (internal/general, emergency/cardiology, surgery, in turn).", unit="doctors", source="assumption", ge=1, le=20)
    days_per_centre: int = P(7, "Days a team stays at a centre before moving on.", unit="days", source="assumption", ge=1, le=90)
    lift: Rate = P(0.4, "Share of the gap to the county hospital's capability closed for the team's specialties while there.", unit="share of the gap", source="assumption")
    mentoring_retention: Rate = P(0.15, "Share of the lift that stays after the team leaves.", unit="share of the lift", source="assumption")


class Training(Lever):
    """Training: village-doctor sessions, rotation training of grassroots staff, new techniques."""

    village_sessions_per_year: float = P(0.0, "Training sessions for village doctors a year.", unit="sessions per year", source="DOMAIN: 70+ sessions for 800+ village doctors", ge=0.0)
    village_doctors_per_session: float = P(11.4, "Village doctors trained per session.", unit="doctors", source="DOMAIN: 800 / 70", ge=0.0)
    village_lift: Rate = P(0.3, "Share of the gap to the township centre's capability closed when every village doctor is trained.", unit="share of the gap", source="assumption")
    rotation_share_per_year: Rate = P(0.0, "Share of grassroots staff sent to rotation training (>= 3 months at the county hospital) a year.", unit="share per year", source="DOMAIN: at least once in 5 years, rate >= 80% (0.32 a year reaches it: 1 - exp(-0.32 x 5) = 0.80; a training counts for 5 years)")
    rotation_lift: Rate = P(0.25, "Share of the gap to the county hospital's capability closed when all township staff are rotation-trained.", unit="share of the gap", source="assumption")
    skill_decay_per_year: float = P(0.2, "Rate at which training fades (staff turnover, forgetting); rotation training counts for 5 years.", unit="per year", source="assumption", ge=0.0)
    techniques_per_year: float = P(0.0, "New techniques or projects carried to the county's township centres a year.", unit="techniques per year", source="DOMAIN: 23 new techniques at township centres in a year", ge=0.0)
    technique_lift: Rate = P(0.03, "Share of the gap to the county hospital closed, for serious and admission episodes, by each technique a centre receives (lasting).", unit="share of the gap", source="assumption")


# --- equipment and telemedicine ---------------------------------------------------


class Screening(Lever):
    """Screening equipment at township centres: portable lung function, AI fundus, ECG."""

    screened_share: Rate = P(0.5, "Share of township-centre visitors aged 35+ screened (at most once a year).", unit="share of visitors", source="assumption")
    sensitivity: Rate = P(0.7, "Share of undiagnosed chronic conditions a screening detects.", unit="share", source="assumption; DOMAIN: 194 lung-function tests, 105 abnormal, early diagnosis up more than 60%")
    min_age: int = P(35, "Youngest age screened.", unit="years", source="assumption", ge=0, le=90)


class Telemedicine(Lever):
    """Remote consultation, ECG and imaging with the county hospital; AI-doctor online consultations."""

    remote_lift: Rate = P(0.2, "Share of the gap to the county hospital closed at township centres for serious and emergency episodes.", unit="share of the gap", source="assumption (分布式检查、集中式诊断)")
    online_share: Rate = P(0.05, "Share of minor acute episodes that start with an online (AI-doctor) consultation.", unit="share of episodes", source="assumption; DOMAIN: Yangshan 9,369 AI-doctor consultations in 2023 (~0.6%)")
    online_resolve: Rate = P(0.5, "Share of online consultations that need no trip.", unit="share", source="assumption")


# --- insurance payment ------------------------------------------------------------


class Reimbursement(Lever):
    """The gap in reimbursement between levels (changes added to the insurance section's rates)."""

    outpatient_grassroots_increase: Rate = P(0.0, "Added to the outpatient reimbursement rate at village and township (capped at 1).", unit="rate points", source="scenario")
    outpatient_hospital_decrease: Rate = P(0.0, "Taken from the outpatient reimbursement rate at county and city hospitals (floored at 0).", unit="rate points", source="scenario")
    inpatient_grassroots_increase: Rate = P(0.0, "Added to the inpatient reimbursement rate at township centres.", unit="rate points", source="scenario")
    inpatient_hospital_decrease: Rate = P(0.0, "Taken from the inpatient reimbursement rate at county and city hospitals.", unit="rate points", source="scenario")


class Gatekeeping(Lever):
    """A lower reimbursement rate for county and city care without a formal referral."""

    unreferred_reduction: Rate = P(0.2, "Taken from the reimbursement rate (outpatient and inpatient) at county and city hospitals without a referral.", unit="rate points", source="assumption")


class Capitation(Lever):
    """Capitation to the county medical community with surplus retention (按人头打包付费, 结余留用)."""

    budget_per_resident_year: float = P(580.0, "Capitation budget of the medical community (village, township, county) per resident-year.", unit="yuan per resident-year", source="assumption: the baseline fund spending at village, township and county facilities (about 577 yuan per resident-year), so a surplus comes only from savings", ge=0.0)
    surplus_retention: Rate = P(0.6, "Share of the surplus the community keeps (its incentive).", unit="share", source="assumption")
    downward_response: float = P(1.5, "Relative rise in downward referral at full incentive (refers down sooner).", unit="factor - 1", source="assumption", ge=0.0)
    followup_response: float = P(1.0, "Utility added to chronic follow-up visits at full incentive (the community follows up more).", unit="utility", source="assumption", ge=0.0)


class DRG(Lever):
    """DRG/DIP for inpatients: a fixed payment per case."""

    length_of_stay_factor: float = P(0.85, "Multiplier of the length of stay at county and city hospitals.", unit="factor", source="assumption (DRG shortens stays)", gt=0.0, le=1.0)
    downward_factor: float = P(1.8, "Multiplier of downward referral of recovering inpatients.", unit="factor", source="assumption (DRG pushes recovery down, 下转)", ge=1.0)
    price_factor: float = P(1.0, "Fixed payment per case relative to the mean fee-for-service price of an admission.", unit="factor", source="assumption", gt=0.0)


class SalaryReform(Lever):
    """Salary reform "two allowances" (两个允许): performance pay for grassroots staff."""

    performance_pay_share: Rate = P(0.3, "Share of grassroots pay that is performance pay.", unit="share", source="assumption")
    effort_lift: Rate = P(0.33, "Share of the gap to the next level closed at village and township through effort, per unit of performance-pay share (0.1 at 30% performance pay).", unit="share of the gap per unit share", source="assumption")
    retention_response: float = P(0.3, "Relative rise in grassroots capacity (fewer vacancies, longer hours) per unit of performance-pay share.", unit="factor", source="assumption", ge=0.0)


# --- service organisation ---------------------------------------------------------


class FamilyDoctor(Lever):
    """Family-doctor contracting: sign-up, first-contact advice, scheduled follow-ups."""

    contract_rate: Rate = P(0.6, "Target share of residents signed (the elderly and chronic first).", unit="share", source="assumption; DOMAIN: ~28% in a three-province survey")
    scheduled_followup: float = P(1.5, "Utility added to grassroots follow-up visits of signed residents with a chronic condition (scheduled, reminded).", unit="utility", source="assumption; protocol >= 4 follow-ups a year")
    first_contact: float = P(0.4, "Utility added to the grassroots for signed residents' minor episodes (first-contact advice).", unit="utility", source="assumption")


class ReferralSystem(Lever):
    """Two-way referral: green channel, reserved slots, closed loop, downward referral."""

    green_channel: bool = P(True, "Referred patients skip the county hospitals' queue.", unit="bool", source="DOMAIN")
    formal_referral_factor: float = P(2.0, "Multiplier of the probability that an episode beyond a grassroots facility is formally referred.", unit="factor", source="assumption", ge=1.0)
    reserved_slots_share: Rate = P(0.05, "Share of county-hospital outpatient capacity held for referred patients.", unit="share", source="assumption")
    closed_loop_tracking: Rate = P(0.95, "Share of referred patients whose return is tracked (they are sent back to their grassroots facility).", unit="share", source="DOMAIN: target 95%")
    downward_factor: float = P(1.5, "Multiplier of downward referral of recovering inpatients.", unit="factor", source="assumption", ge=1.0)


class MedicalCommunity(Lever):
    """Close-knit county medical community (紧密型县域医共体)."""

    unified_drug_list: bool = P(True, "The grassroots stocks what the county hospital prescribes.", unit="bool", source="DOMAIN")
    drug_list_lift: Rate = P(0.8, "Share of the gap closed for chronic follow-up at village and township with one drug list.", unit="share of the gap", source="assumption")
    shared_lab_imaging: bool = P(True, "Shared lab and imaging for the township centres.", unit="bool", source="DOMAIN")
    lab_lift: Rate = P(0.15, "Share of the gap closed for serious episodes at township centres with shared lab and imaging.", unit="share of the gap", source="assumption")


class TCMServices(Lever):
    """TCM services at township TCM halls (国医堂) and village clinics."""

    uptake_increase: Rate = P(0.15, "Added to the share of grassroots minor and chronic visits that receive TCM services.", unit="share", source="assumption")
    village_tcm: bool = P(True, "Village clinics offer TCM (the TCM specialty is present there).", unit="bool", source="DOMAIN")


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
    salary_reform: SalaryReform = P(SalaryReform, "Performance pay for grassroots staff.")
    family_doctor: FamilyDoctor = P(FamilyDoctor, "Family-doctor contracting.")
    referral_system: ReferralSystem = P(ReferralSystem, "Two-way referral system.")
    medical_community: MedicalCommunity = P(MedicalCommunity, "Close-knit county medical community.")
    tcm: TCMServices = P(TCMServices, "TCM services at the grassroots.")

