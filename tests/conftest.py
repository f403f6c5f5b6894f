"""Shared fixtures: small runs computed once per session."""

from __future__ import annotations

import pytest

import health_sim
from health_sim.params import with_overrides

SMALL = {"run.scale": 0.05, "run.days": 365}


@pytest.fixture(scope="session")
def baseline_params():
    return health_sim.load_params("params/baseline.yaml")


@pytest.fixture(scope="session")
def small_params(baseline_params):
    """The baseline at a twentieth of the county, for a year."""
    return with_overrides(baseline_params, SMALL)


@pytest.fixture(scope="session")
def small_run(small_params):
    return health_sim.run(small_params)


def quick(params, **over):
    """Params for a fast run: 2% of the county, 60 days, 60 days of burn-in, plus overrides."""
    base = {"run.scale": 0.02, "run.days": 60, "run.burn_in_days": 60}
    return with_overrides(params, {**base, **over})
