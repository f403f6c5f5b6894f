"""Secular forces (health_sim.world.secular): incomes against the prices of care, and hospital growth, year by year.

A yuan weighs (1 + growth)^-(year - reference year) of what it weighed in the reference year, in the choice among
facilities and in the decision to seek care; county and city hospitals' outpatient capacity and beds are
(1 + growth)^(year - reference year) of the county's; both change on 1 January; off (growth 0) nothing changes.
"""

from __future__ import annotations

import numpy as np
import pytest

from health_sim.config.params import load_params, with_overrides
from health_sim.core.names import Level
from health_sim.sim.model import HealthSystemModel
from health_sim.world.secular import hospital_size, money_weight


def _over_new_year(start_date: str, **secular) -> dict:
    """Overrides of a 10-day run from ``start_date`` (no burn-in) with the ``secular`` section's values."""
    over = {"run.scale": 0.005, "run.days": 10, "run.burn_in_days": 0, "run.start_date": start_date}
    return over | {f"secular.{k}": v for k, v in secular.items()}


def test_money_weight_is_one_in_the_reference_year_and_compounds():
    p = with_overrides(load_params(), {"secular.income_growth_per_year": 0.1, "secular.reference_year": 2023})
    assert money_weight(p, 2023) == 1.0
    assert money_weight(p, 2024) == pytest.approx(1 / 1.1)
    assert money_weight(p, 2021) == pytest.approx(1.1**2)
    assert money_weight(load_params(), 2015) == 1.0  # off by default


def test_the_choice_price_weights_change_on_new_year():
    m = HealthSystemModel(
        with_overrides(load_params(), _over_new_year("2023-12-27", income_growth_per_year=0.1)), rng=1
    )
    w = m.weights
    m.run_days(3, progress=False)  # 27-29 December: the reference year
    assert np.array_equal(m._choice.cost, w.cost_per_100_yuan)
    m.run_days(7, progress=False)  # into 2024
    assert np.allclose(m._choice.cost, w.cost_per_100_yuan / 1.1)
    assert np.allclose(m._choice.seek_cost, w.seek_cost_per_100_yuan / 1.1)


def _kpis_without_and_with(start_date: str, days: int, **secular) -> tuple[dict, dict]:
    """KPIs of a run from ``start_date`` (scale 0.01, 30 burn-in days), without the secular forces and with them."""
    base = {"run.scale": 0.01, "run.days": days, "run.burn_in_days": 30, "run.start_date": start_date}
    out = []
    for over in (base, base | {f"secular.{k}": v for k, v in secular.items()}):
        m = HealthSystemModel(with_overrides(load_params(), over), rng=3)
        m.run_days(progress=False)
        out.append(m.kpis())
    return out[0], out[1]


def test_cheaper_money_means_more_care_sought():
    """Residents richer against the prices of care stay home less (the seek-care price weight shrinks)."""
    a, b = _kpis_without_and_with("2030-01-01", 120, income_growth_per_year=0.2)
    assert b["stay_home_share"] < a["stay_home_share"]


def test_hospital_size_is_one_in_the_reference_year_and_compounds():
    p = with_overrides(load_params(), {"secular.hospital_growth_per_year": 0.1, "secular.reference_year": 2023})
    assert hospital_size(p, 2023) == 1.0
    assert hospital_size(p, 2025) == pytest.approx(1.1**2)
    assert hospital_size(p, 2022) == pytest.approx(1 / 1.1)
    assert hospital_size(load_params(), 2015) == 1.0  # off by default


def test_hospital_capacity_and_beds_change_on_new_year_and_only_at_hospitals():
    m = HealthSystemModel(
        with_overrides(load_params(), _over_new_year("2022-12-27", hospital_growth_per_year=0.25)), rng=1
    )
    plain = HealthSystemModel(with_overrides(load_params(), _over_new_year("2022-12-27")), rng=1)
    hosp = m.facilities.level >= Level.COUNTY
    m.run_days(3, progress=False)  # 27-29 December 2022: a year before the reference year
    plain.run_days(3, progress=False)
    assert np.allclose(m.facilities.beds[hosp], plain.facilities.beds[hosp] / 1.25)
    assert np.allclose(m.facilities.capacity[hosp], plain.facilities.capacity[hosp] / 1.25)
    assert np.array_equal(m.facilities.beds[~hosp], plain.facilities.beds[~hosp])  # the grassroots as they are
    assert np.array_equal(m.facilities.capacity[~hosp], plain.facilities.capacity[~hosp])
    m.run_days(7, progress=False)  # into 2023, the reference year: the county's own hospitals
    plain.run_days(7, progress=False)
    assert np.allclose(m.facilities.beds, plain.facilities.beds)
    assert np.allclose(m.facilities.capacity[hosp], plain.facilities.capacity[hosp])
    assert np.array_equal(m.facilities.capacity[~hosp], plain.facilities.capacity[~hosp])


def test_smaller_hospitals_are_more_crowded_and_send_patients_to_the_grassroots():
    """Years before the reference year, growing hospitals were smaller: fuller beds, a larger grassroots share."""
    ka, kb = _kpis_without_and_with("2015-01-01", 180, hospital_growth_per_year=0.08)
    assert kb["county_hospital_occupancy"] > ka["county_hospital_occupancy"]
    assert kb["grassroots_share"] > ka["grassroots_share"]
