"""Residents as arrays of state (one entry per resident), in the manner of Starsim's People.

Each resident is an individual agent: own age, sex, village, chronic conditions,
insurance scheme, family-doctor contract, trust in each level learned from his own
visits, and the level he used last. Static traits are drawn once from the seed;
policy-dependent traits (such as being signed with a family doctor) are decided by
comparing a resident's own persistent uniform with a policy-dependent threshold, so
that a policy change moves the fewest residents (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from health_sim.config.schema import Params
from health_sim.core import rng as crn
from health_sim.core.names import AGE_BAND_EDGES, AGE_BANDS, CONDITIONS, LEVELS
from health_sim.world.county import County, township_population

RESIDENT = 0
EMPLOYEE = 1


@dataclass
class Residents:
    """State arrays, all of length ``n``."""

    age: np.ndarray  # int16, years
    female: np.ndarray  # bool
    village: np.ndarray  # int32, village index
    township: np.ndarray  # int16, township index
    urban: np.ndarray  # bool
    scheme: np.ndarray  # int8: 0 urban-rural resident scheme, 1 employee scheme
    conditions: np.ndarray  # uint8 bitmask over CONDITIONS: has the condition
    diagnosed: np.ndarray  # uint8 bitmask over CONDITIONS: knows it (gets follow-up)
    contract_u: np.ndarray  # float32 persistent uniform for family-doctor sign-up
    contract_priority: np.ndarray  # bool: signed first (aged 65+ or a diagnosed chronic condition at the start)
    contracted: np.ndarray  # bool: signed with a family doctor
    trust: np.ndarray  # float32 (n, 4): trust in village, township, county, city; in [0, 1]
    last_level: np.ndarray  # int8: level of the last facility used, -1 for none
    income: np.ndarray  # float32 disposable income, yuan per person-year

    @property
    def n(self) -> int:
        """Number of residents."""
        return len(self.age)

    @property
    def age_band(self) -> np.ndarray:
        """Age band of each resident (int8 index into ``AGE_BANDS``)."""
        return np.searchsorted(AGE_BAND_EDGES, self.age, side="right").astype(np.int8) - 1

    @property
    def n_diagnosed(self) -> np.ndarray:
        """Number of diagnosed chronic conditions of each resident."""
        d = self.diagnosed
        return ((d & 1) > 0).astype(np.int8) + ((d & 2) > 0) + ((d & 4) > 0)


def contract_probability(params: Params, priority: np.ndarray, rate: float | None = None) -> np.ndarray:
    """Per-resident sign-up probability for a family doctor, with mean ``rate``.

    Priority residents have ``contract_priority_odds`` times the odds; ``rate`` defaults to
    ``population.contract_rate``.
    """
    pp = params.population
    target, orr = (pp.contract_rate if rate is None else rate), pp.contract_priority_odds
    if target <= 0 or target >= 1:
        return np.full(len(priority), target)
    share = priority.mean()
    lo, hi = -30.0, 30.0  # bisection on the base log-odds
    for _ in range(80):
        mid = (lo + hi) / 2
        p0 = 1 / (1 + np.exp(-mid))
        p1 = 1 / (1 + np.exp(-(mid + np.log(orr))))
        if (1 - share) * p0 + share * p1 < target:
            lo = mid
        else:
            hi = mid
    p0 = 1 / (1 + np.exp(-lo))
    p1 = 1 / (1 + np.exp(-(lo + np.log(orr))))
    return np.where(priority, p1, p0)


def build_residents(params: Params, county: County, scale: float, seed: int) -> Residents:
    """Draw the residents of the county at ``scale``; deterministic in ``seed``."""
    pp = params.population
    g = crn.generator(seed, crn.POPULATION + 100)
    n = max(1, round(params.county.population * scale))
    town_pop = township_population(params.county)
    vweight = county.village_weight * (town_pop / town_pop.sum())[county.village_township]
    counts = g.multinomial(n, vweight / vweight.sum())
    village = np.repeat(np.arange(county.n_villages, dtype=np.int32), counts)

    shares = np.array([pp.age_shares[b] for b in AGE_BANDS])
    band = g.choice(len(AGE_BANDS), size=n, p=shares / shares.sum())
    lo = np.array(AGE_BAND_EDGES[:-1])[band]
    hi = np.array(AGE_BAND_EDGES[1:])[band]
    age = (lo + np.floor(g.random(n) * (hi - lo))).astype(np.int16)
    female = g.random(n) < pp.female_share
    urban = county.village_urban[village]
    working = (age >= 18) & (age <= 64)
    emp_share = np.where(urban, pp.employee_scheme_share_urban, pp.employee_scheme_share_rural)
    scheme = np.where(working & (g.random(n) < emp_share), EMPLOYEE, RESIDENT).astype(np.int8)

    conditions = np.zeros(n, dtype=np.uint8)
    diagnosed = np.zeros(n, dtype=np.uint8)
    for bit, name in enumerate(CONDITIONS):
        c = pp.conditions[name]
        prev = np.array([c.prevalence[b] for b in AGE_BANDS])[band]
        has = g.random(n) < prev
        knows = has & (g.random(n) < c.diagnosed)
        conditions |= has.astype(np.uint8) << bit
        diagnosed |= knows.astype(np.uint8) << bit

    contract_u = g.random(n).astype(np.float32)
    mean = np.array([pp.reputation[lvl] for lvl in LEVELS], dtype=np.float32)
    z = g.standard_normal((n, len(LEVELS)))  # in place: a city of millions needs no further copies
    z *= pp.trust_sd
    z += mean
    trust = np.clip(z, 0.0, 1.0, out=z).astype(np.float32)
    del z
    res = Residents(
        age=age,
        female=female,
        village=village,
        township=county.village_township[village].astype(np.int16),
        urban=urban,
        scheme=scheme,
        conditions=conditions,
        diagnosed=diagnosed,
        contract_u=contract_u,
        contract_priority=(age >= 65) | (diagnosed > 0),
        contracted=np.zeros(n, dtype=bool),
        trust=trust,
        last_level=np.full(n, -1, dtype=np.int8),
        income=draw_incomes(params, urban, seed),
    )
    assign_contracts(params, res)
    return res


def draw_incomes(params: Params, urban: np.ndarray, seed: int) -> np.ndarray:
    """Disposable income of each resident (float32 yuan per person-year): log-normal around his area's median.

    From its own random stream, so the population's other draws do not depend on it.
    """
    pp = params.population
    g = crn.generator(seed, crn.INCOME + 100)
    median = pp.income_rural_median_yuan * np.where(urban, pp.income_urban_ratio, 1.0)
    return (median * np.exp(pp.income_log_sd * g.standard_normal(len(urban)))).astype(np.float32)


def assign_contracts(params: Params, res: Residents, rate: float | None = None) -> None:
    """Sign residents with a family doctor, priority groups first (elderly, diagnosed chronic).

    A resident signs when his own persistent uniform is below his probability, so a
    higher rate only adds residents (common random numbers).
    """
    res.contracted = res.contract_u < contract_probability(params, res.contract_priority, rate)
