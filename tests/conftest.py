"""Shared fixtures: small runs computed once per session."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import health_sim
from health_sim.config.params import with_overrides

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


def health_sim_exe() -> str:
    """The ``health-sim`` console script of the interpreter running the tests."""
    exe = Path(sys.executable).parent / "health-sim"
    if exe.exists():
        return str(exe)
    found = shutil.which("health-sim")
    if found is None:  # pragma: no cover - a broken install
        pytest.fail("the health-sim console script is not installed next to the test interpreter")
    return found


SHORT_RUN_RATES = {"referral_closed_loop_rate", "early_detection_share"}
"""Rates whose events a run of a few weeks at a small scale may not see at all."""


def without_undefined_kpi_warning(stderr: str) -> str:
    """``stderr`` without the one warning a short run may give: a rate with no event yet.

    In a run of a few weeks at a small scale no patient referred up may have had a later episode
    (the closed-loop rate) and no chronic condition may have been newly found (early detection):
    their denominators are 0, null in kpis.json and one warning line naming them. Any other line,
    or that warning naming any other KPI, is kept (and fails a quiet-output test).
    """
    from health_sim.sim.kpis import KPIS

    start = "warning: "
    marker = " without a value in this run (null in kpis.json, reasons in manifest.json): "
    keep = []
    for line in stderr.splitlines(keepends=True):
        if line.startswith(start) and marker in line:
            named = {k for k in KPIS if k in line.split(marker, 1)[1]}
            if named and named <= SHORT_RUN_RATES:
                continue
        keep.append(line)
    return "".join(keep)
