"""The behavioural rules of one episode, as small compiled functions of scalars.

These are the model's decisions written once: what kind of episode a resident has, the
specialty it needs, the utility of a facility and the choice among them, the bill and
who pays it, the length of a stay, satisfaction and the trust it teaches. The engine
(:mod:`health_sim.sim.engine`) calls them in compiled loops over a day's episodes; the
per-agent Mesa reference (``benchmarks/reference_mesa.py``) calls them from Python, one
resident at a time. Both therefore run the same rules.

They are compiled with Numba (:mod:`health_sim.core.jit`: compiled once, then loaded from a
cache). Called from Python they accept and return plain numbers.

The vocabularies (episode kinds, specialties, levels, facility columns) appear here as
integer constants taken from the enums of :mod:`health_sim.core.names`.
"""

from __future__ import annotations

import numpy as np

from health_sim.core.jit import jit
from health_sim.core.names import COLUMN_LEVEL as _COLUMN_LEVEL
from health_sim.core.names import Column, Kind, Level, Specialty

# The vocabulary's codes as plain integers (compiled code reads them as constants).
MINOR, CHRONIC, SERIOUS, EMERGENCY, ADMISSION = (int(k) for k in Kind)
INTERNAL_GENERAL, SURGERY, PAEDIATRICS, EMERGENCY_CARDIOLOGY, OBSTETRICS, TCM = (int(s) for s in Specialty)
VILLAGE, TOWNSHIP, COUNTY, CITY = (int(lvl) for lvl in Level)
N_COLUMNS = len(Column)
MCH_COLUMN = int(Column.COUNTY_MCH)
TOWNSHIP_COLUMN = int(Column.TOWNSHIP)
COLUMN_LEVEL = np.array(_COLUMN_LEVEL, dtype=np.int8)
"""Level of each facility column of a choice."""
TRAVEL_COLUMN = np.array([Column.VILLAGE, Column.TOWNSHIP, Column.COUNTY_PEOPLE, Column.CITY], dtype=np.int64)
"""Travel-time column of each level."""
REFER_TO_COLUMN = np.array([Column.TOWNSHIP, Column.COUNTY_PEOPLE, Column.CITY, -1], dtype=np.int64)
"""Where a formal referral sends a patient, by level (-1: nowhere above the city)."""


@jit
def is_severe(kind):
    """Serious, emergency and admission episodes (which use the severe choice weights)."""
    return kind >= SERIOUS


@jit
def kind_group(kind):
    """0 minor, 1 chronic follow-up, 2 severe (for the first-trip counters)."""
    return kind if kind < SERIOUS else 2


@jit
def episode_kind(u, cumulative):
    """Kind of an episode: where ``u`` falls among the resident's cumulative daily probabilities by kind.

    ``u`` is the resident's daily uniform, below his total probability.
    """
    k = 0
    for j in range(cumulative.shape[0]):
        if u >= cumulative[j]:
            k += 1
    return min(k, cumulative.shape[0] - 1)


@jit
def specialty(u, cumulative_mix, child, female):
    """Specialty an episode needs: drawn from the kind's mix (``cumulative_mix``).

    Children's internal and obstetric episodes go to paediatrics, men's obstetric ones to
    internal medicine.
    """
    s = 0
    for j in range(cumulative_mix.shape[0]):
        if u >= cumulative_mix[j]:
            s += 1
    s = min(s, cumulative_mix.shape[0] - 1)
    if child and s in (INTERNAL_GENERAL, OBSTETRICS):
        return PAEDIATRICS
    if not child and not female and s == OBSTETRICS:
        return INTERNAL_GENERAL
    return s


@jit
def utility(
    asc,
    quality,
    capability,
    trust_weight,
    trust,
    cost_per_100_yuan,
    oop,
    travel_per_hour,
    minutes,
    wait_per_day,
    wait_days,
    contract,
    contracted,
    habit,
    habitual,
    employee_hospital,
    employee_at_hospital,
):
    """Utility of one facility (relative to staying home); see :mod:`health_sim.world.choice`.

    ``oop`` yuan expected, ``minutes`` one-way travel, ``wait_days`` expected wait;
    ``contracted``, ``habitual`` and ``employee_at_hospital`` are 0/1.
    """
    v = asc
    v += quality * capability
    v += trust_weight * trust
    v += cost_per_100_yuan * (oop / 100.0)
    v += travel_per_hour * (minutes / 60.0)
    v += wait_per_day * wait_days
    v += contract * contracted
    v += habit * habitual
    v += employee_hospital * employee_at_hospital
    return v


@jit
def admission_pull(township_admission, admit_probability, treatable):
    """Utility added to the patient's own township centre for an episode it can treat (``treatable``, 0/1).

    ``township_admission`` times the episode kind's ``admit_probability``: admissions the rules assign to primary
    care are routed to it; an episode the centre cannot treat, or one never admitted, gets nothing.
    """
    return township_admission * admit_probability if treatable else 0.0


@jit
def referral_rule_applies(kind):
    """Whether gatekeeping's referral rule applies to an episode of ``kind``: to all but emergencies.

    An emergency is reimbursed as referred and goes straight where it chooses.
    """
    return kind != EMERGENCY


@jit
def referral_value(cost_per_100_yuan, saving):
    """Utility (>= 0) of a referral to a hospital under gatekeeping: what it saves, ``saving`` yuan out of pocket."""
    return -cost_per_100_yuan * (saving / 100.0)


@jit
def detour(cost_per_100_yuan, township_fee, travel_per_hour, township_minutes, wait_per_day, township_wait):
    """Disutility (>= 0) of the township-centre visit that issues a referral (gatekeeping).

    Its fee (``township_fee`` yuan out of pocket), the one-way travel (``township_minutes``) and
    the expected wait (``township_wait`` days), each by the episode's own weights. Through the
    township centre a hospital is worth its direct utility + :func:`referral_value` - this.
    """
    return -(
        cost_per_100_yuan * (township_fee / 100.0)
        + travel_per_hour * (township_minutes / 60.0)
        + wait_per_day * township_wait
    )


@jit
def expected_bill(util, oop, available):
    """Out-of-pocket yuan a patient expects if he seeks care.

    Each available column's ``oop`` weighted by its logit choice probability among the available
    columns (``util`` their utilities, ``available`` 0/1).
    """
    top = -np.inf
    for j in range(util.shape[0]):
        if available[j] and util[j] > top:
            top = util[j]
    total, bill = 0.0, 0.0
    for j in range(util.shape[0]):
        if available[j]:
            w = np.exp(util[j] - top)
            total += w
            bill += w * oop[j]
    return bill / total if total > 0.0 else 0.0


@jit
def home_utility(stay_home, seek_cost_per_100_yuan, bill, price_sense):
    """Utility of staying home for one episode: the kind's ``stay_home`` plus what the expected ``bill`` (yuan) deters.

    ``seek_cost_per_100_yuan`` (<= 0) is the weight at the rural median income, ``price_sense`` the median over the
    resident's income; the term is added to staying home rather than taken from every facility (the same choice).
    """
    return stay_home - seek_cost_per_100_yuan * price_sense * bill / 100.0


@jit
def gumbel(u):
    """Gumbel noise from a uniform (clipped away from 0 and 1)."""
    return -np.log(-np.log(min(max(u, 1e-300), 1.0 - 1e-16)))


@jit
def split(price, rate, deductible, in_scope):
    """(out-of-pocket, fund) yuan of a bill: the fund pays ``rate`` of the in-scope part above the deductible.

    Numbers or arrays (broadcast).
    """
    fund = rate * np.maximum(0.0, price * in_scope - deductible)
    return price - fund, fund


def expected_oop(
    tariff, price_visit: np.ndarray, price_admission: np.ndarray, referred: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-pocket yuan a resident expects to pay for a visit and for an admission at its mean price.

    Two (facilities, schemes) arrays: without a referral (what a choice weighs), or with one
    (``referred``: what a referral through the township centre would cost under gatekeeping).
    """
    ref = 1 if referred else 0
    visit = split(price_visit[:, None], tariff.rate_visit[ref], tariff.ded_visit, tariff.scope_visit)[0]
    admission = split(
        price_admission[:, None], tariff.rate_admission[ref], tariff.ded_admission, tariff.scope_admission
    )[0]
    return visit, admission


@jit
def extra_visits(kind_mean, u):
    """Return visits of an outpatient episode: the kind's mean, rounded up with probability its fraction."""
    return np.floor(kind_mean + u)


@jit
def length_of_stay(mean_days, u, factor):
    """Days of an admission: uniform between half and one and a half times the facility's mean, times ``factor``.

    ``factor``: the DRG factor at county and city hospitals. At least one day.
    """
    return max(1, int(np.rint(mean_days * (0.5 + u) * factor)))


@jit
def admission_price(price, days, mean_days, drg, drg_price_factor):
    """Yuan billed for an admission: per diem for the fee-for-service share, a fixed group price for the DRG share."""
    return price * ((1.0 - drg) * days / mean_days + drg * drg_price_factor)


@jit
def satisfaction_probability(intercept, unresolved_weight, unresolved, wait_per_day, wait_days, cost_per_100_yuan, oop):
    """Probability that a trip satisfies (logistic in outcome, wait days and out-of-pocket yuan).

    ``unresolved`` is 0/1.
    """
    logit = intercept + unresolved_weight * unresolved + wait_per_day * wait_days + cost_per_100_yuan * oop / 100.0
    return 1.0 / (1.0 + np.exp(-logit))


@jit
def learn_trust(trust, learning_rate, satisfied):
    """Trust in a level after a trip: moves ``learning_rate`` of the way to 1 (satisfied) or 0 (float32)."""
    t = np.float32(trust)
    return t + np.float32(learning_rate) * (np.float32(satisfied) - t)


@jit
def relax_trust(trust, reputation, pull):
    """Trust after a week: moves ``pull`` of the way to the level's ``reputation`` (float32)."""
    t = np.float32(trust)
    return t + np.float32(pull) * (np.float32(reputation) - t)
