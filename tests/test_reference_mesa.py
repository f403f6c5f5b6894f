"""The compiled engine is the same model as a plain per-agent Mesa implementation.

``benchmarks/reference_mesa.py`` implements the baseline one Mesa agent per resident,
calling the shared rules of :mod:`health_sim.sim.rules` but drawing its own random numbers
(Mesa's RNG). The two implementations therefore agree only in distribution: over
replicates with different seeds, the mean of each KPI must agree within the
statistical error of the difference of means.

Size: 4,000 residents, 120 days of burn-in and 120 recorded days. The reference takes
about 2.5 s a replicate on a 2-core machine (the engine 0.1 s); 12 reference and 16 engine
replicates keep the module at about 35 s (60 s when the machine is busy). Twelve, not eight, since
the county people's hospital's beds were fitted (December 2026): with beds that bind, the cost per
visit of a 4,000-resident county varies more between reference runs, and eight left the
out-of-pocket band wider than 5% of its mean.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_reference():
    path = ROOT / "benchmarks" / "reference_mesa.py"
    spec = importlib.util.spec_from_file_location("reference_mesa", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_mesa"] = module
    spec.loader.exec_module(module)
    return module


ref_mesa = _load_reference()

RESIDENTS, BURN_IN, DAYS = 4000, 120, 120
N_REF, N_ENG = 12, 16
Z = 4.0
"""Half-width of the band in standard errors. Seeds are fixed, so the test is deterministic;
with 12 and 16 replicates (Welch degrees of freedom >= 11) a true model has a chance of
well under 1% per KPI of falling outside 4 estimated standard errors, and the floors below add
margin for KPIs whose spread is poorly estimated from few replicates."""


def _floors(params) -> dict[str, float]:
    """Absolute floors added to the band, by KPI: differences below them do not matter.

    Shares: 0.002 (a fifth of a percentage point, below any reported precision). Visits
    per resident-year: 0.02 (0.3% of the ~6.3). Wait: 0.002 days (under 3 minutes).
    Out-of-pocket per visit: 0.5 yuan (under 1% of the ~64). Counts per year (admissions,
    referrals): half of one simulated event of one replicate as a full-county equivalent
    per year (365 / days / scale / 2), the resolution of these counts.
    """
    one_event = 365.0 / params.run.days / params.run.scale
    return {
        "grassroots_share": 0.002,
        "visits_per_resident": 0.02,
        "stay_home_share": 0.002,
        "admissions": one_event / 2,
        "upward_referrals": one_event / 2,
        "downward_referrals": one_event / 2,
        "mean_wait_days": 0.002,
        "oop_per_visit": 0.5,
        "satisfaction": 0.002,
        "chronic_control_rate": 0.002,
        "township_admission_share": 0.002,
        "township_centre_occupancy": 0.002,
    }


def _params(seed: int):
    return ref_mesa.benchmark_params(RESIDENTS, DAYS, BURN_IN, seed, str(ROOT / "params" / "baseline.yaml"))


@pytest.fixture(scope="module")
def replicates():
    """KPIs of N_REF reference runs and N_ENG engine runs (different seeds), as arrays by KPI."""
    ref, eng = [], []
    for i in range(N_REF):
        seed = 1000 + i
        model = ref_mesa.ReferenceModel(_params(seed), rng=seed)
        model.run()
        assert model.days_run == DAYS
        ref.append(model.kpis())
    for i in range(N_ENG):
        seed = 2000 + i
        eng.append(ref_mesa.run_engine(_params(seed), seed).kpis())
    return ref, eng


def _band(name, ref, eng, floors):
    r = np.array([k[name] for k in ref])
    e = np.array([k[name] for k in eng])
    se = math.sqrt(r.var(ddof=1) / r.size + e.var(ddof=1) / e.size)
    return r.mean(), e.mean(), Z * se + floors[name]


def test_same_kpi_shape(replicates):
    ref, eng = replicates
    assert ref[0].keys() == eng[0].keys()


@pytest.mark.parametrize("name", ref_mesa.KPI_TABLE)
def test_reference_agrees_with_engine(replicates, name):
    ref, eng = replicates
    mr, me, tol = _band(name, ref, eng, _floors(_params(0)))
    assert np.isfinite(mr) and np.isfinite(me)
    print(f"{name}: reference {mr:.6g}, engine {me:.6g}, diff {mr - me:+.3g}, tolerance {tol:.3g}")
    assert abs(mr - me) <= tol, (
        f"{name}: reference {mr:.6g}, engine {me:.6g}, |diff| {abs(mr - me):.3g} > tolerance {tol:.3g}"
    )


def test_tolerance_is_tight(replicates):
    """The bands are narrow enough that a wrong rule would show."""
    ref, eng = replicates
    floors = _floors(_params(0))
    _, me, tol = _band("grassroots_share", ref, eng, floors)
    assert tol < 0.03
    _, me, tol = _band("stay_home_share", ref, eng, floors)
    assert tol < 0.03
    _, me, tol = _band("satisfaction", ref, eng, floors)
    assert tol < 0.02
    # relative bands: 5% of the mean for the per-visit and per-resident KPIs; admissions are
    # ~250 simulated events a replicate, so their band is wider (but still under 15%)
    for name, share in (("visits_per_resident", 0.05), ("oop_per_visit", 0.05), ("admissions", 0.15)):
        _, me, tol = _band(name, ref, eng, floors)
        assert tol < share * me, f"{name}: tolerance {tol:.3g} is {share:.0%} or more of {me:.3g}"
