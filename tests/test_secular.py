"""Secular forces (health_sim.world.secular): incomes against the prices of care, year by year.

A yuan weighs (1 + growth)^-(year - reference year) of what it weighed in the reference year, in the choice among
facilities and in the decision to seek care; it changes on 1 January; off (growth 0) nothing changes.
"""

from __future__ import annotations

import numpy as np
import pytest

from health_sim.config.params import load_params, with_overrides
from health_sim.sim.model import HealthSystemModel
from health_sim.world.secular import money_weight


def test_money_weight_is_one_in_the_reference_year_and_compounds():
    p = with_overrides(load_params(), {"secular.income_growth_per_year": 0.1, "secular.reference_year": 2023})
    assert money_weight(p, 2023) == 1.0
    assert money_weight(p, 2024) == pytest.approx(1 / 1.1)
    assert money_weight(p, 2021) == pytest.approx(1.1**2)
    assert money_weight(load_params(), 2015) == 1.0  # off by default


def test_the_choice_price_weights_change_on_new_year():
    over = {
        "run.scale": 0.005,
        "run.days": 10,
        "run.burn_in_days": 0,
        "run.start_date": "2023-12-27",
        "secular.income_growth_per_year": 0.1,
    }
    m = HealthSystemModel(with_overrides(load_params(), over), rng=1)
    w = m.weights
    m.run_days(3, progress=False)  # 27-29 December: the reference year
    assert np.array_equal(m._choice.cost, w.cost_per_100_yuan)
    m.run_days(7, progress=False)  # into 2024
    assert np.allclose(m._choice.cost, w.cost_per_100_yuan / 1.1)
    assert np.allclose(m._choice.seek_cost, w.seek_cost_per_100_yuan / 1.1)


def test_cheaper_money_means_more_care_sought():
    """Residents richer against the prices of care stay home less (the seek-care price weight shrinks)."""
    base = {"run.scale": 0.01, "run.days": 120, "run.burn_in_days": 30, "run.start_date": "2030-01-01"}
    a = HealthSystemModel(with_overrides(load_params(), base), rng=3)
    b = HealthSystemModel(with_overrides(load_params(), base | {"secular.income_growth_per_year": 0.2}), rng=3)
    a.run_days(progress=False)
    b.run_days(progress=False)
    assert b.kpis()["stay_home_share"] < a.kpis()["stay_home_share"]
