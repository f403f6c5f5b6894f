"""One burn-in shared by many lever settings gives exactly the runs from scratch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import health_sim
from health_sim.config.params import with_overrides
from health_sim.experiments import warmstart
from health_sim.sim.model import HealthSystemModel

from .conftest import quick

SCENARIOS = sorted(Path("params/scenarios").glob("*.yaml"))
# The county's 2023 reforms act from 2023-01-01 (the baseline scenario) and the scenarios' levers from
# 2024-01-01: a run from 2023-01-01 shares its burn-in and reaches a month into the scenarios' levers.
WINDOW = {"run.start_date": "2023-01-01", "run.days": 396}


def _finish(model: HealthSystemModel):
    model.run_days(progress=False)
    return model.kpis(), model._daily.copy(), model._daily_facility.copy()


@pytest.fixture(scope="module")
def snapshot_from_baseline(baseline_params):
    warmstart.clear()
    warmstart.warm_model(quick(baseline_params, **WINDOW), seed=7)  # fills the cache
    yield
    warmstart.clear()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_continues_from_the_baselines_burn_in_exactly(path, snapshot_from_baseline):
    params = quick(health_sim.load_params(path), **WINDOW)
    hits = warmstart.stats["hits"]
    warm = _finish(warmstart.warm_model(params, seed=7))
    assert warmstart.stats["hits"] == hits + 1, "the baseline's burn-in was not reused"
    cold = _finish(HealthSystemModel(params, rng=7))
    assert warm[0] == cold[0]
    np.testing.assert_array_equal(warm[1], cold[1])
    np.testing.assert_array_equal(warm[2], cold[2])


def test_the_key_separates_what_the_burn_in_depends_on(baseline_params):
    p = quick(baseline_params)
    key = warmstart.burn_in_key(p, 1)
    assert key == warmstart.burn_in_key(
        with_overrides(p, {"policies.stationed.enabled": True, "policies.stationed.doctors_per_year_county": 60}), 1
    )
    assert key != warmstart.burn_in_key(p, 2)
    assert key != warmstart.burn_in_key(with_overrides(p, {"choice.minor.trust": 2.5}), 1)
    assert key != warmstart.burn_in_key(with_overrides(p, {"run.days": 61}), 1)
    # a lever acting before the start date shapes the burn-in: no sharing
    early = with_overrides(p, {"policies.training.enabled": True, "policies.training.start": "2022-06-01"})
    assert warmstart.burn_in_key(early, 1) is None
    assert warmstart.burn_in_key(with_overrides(p, {"run.burn_in_days": 0}), 1) is None


def test_rebind_refuses_other_parameters(baseline_params):
    p = quick(baseline_params)
    m = HealthSystemModel(p, rng=3)
    m.burn_in()
    with pytest.raises(ValueError, match="same parameters"):
        m.rebind(with_overrides(p, {"choice.minor.trust": 2.5}))
    m.step()
    with pytest.raises(RuntimeError, match="end of the burn-in"):
        m.rebind(p)


def test_a_lever_starting_on_the_first_day_is_shared_too(baseline_params):
    warmstart.clear()
    p = quick(baseline_params)
    warmstart.warm_model(p, seed=5)
    lever = with_overrides(
        p, {"policies.reimbursement.enabled": True, "policies.reimbursement.outpatient_grassroots_increase": 0.3}
    )
    warm = _finish(warmstart.warm_model(lever, seed=5))
    assert warmstart.stats["hits"] == 1
    cold = _finish(HealthSystemModel(lever, rng=5))
    assert warm[0] == cold[0]
    np.testing.assert_array_equal(warm[1], cold[1])
    warmstart.clear()


def test_a_burn_in_cached_by_a_run_with_every_lever_serves_the_others_exactly(baseline_params):
    """A cached burn-in must serve the baseline and other settings exactly.

    In a sweep the cached burn-in usually comes from a run with levers enabled (their daily updates ran, at zero
    strength).
    """
    warmstart.clear()
    warmstart.warm_model(quick(health_sim.load_params("params/scenarios/all_levers.yaml"), **WINDOW), seed=11)
    for path in (
        "params/scenarios/baseline_2023.yaml",
        "params/scenarios/thousand_doctors.yaml",
        "params/scenarios/family_doctor.yaml",
    ):
        params = quick(health_sim.load_params(path), **WINDOW)
        warm = _finish(warmstart.warm_model(params, seed=11))
        cold = _finish(HealthSystemModel(params, rng=11))
        assert warm[0] == cold[0], path
        np.testing.assert_array_equal(warm[1], cold[1])
    assert warmstart.stats["hits"] == 3
    warmstart.clear()
