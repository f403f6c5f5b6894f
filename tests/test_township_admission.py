"""The township centre's pull on the admissions it can treat (``choice.township_admission``).

An episode the patient's own township centre can treat (severity within its capability for the
episode's kind and specialty) gets ``township_admission`` times the kind's admission probability
added to the centre's utility (:func:`health_sim.sim.rules.admission_pull`), in the engine's own
episode preparation (:func:`health_sim.sim.engine._prepare`); nothing else moves. On a small
county run, a stronger pull keeps more of the treatable admissions at the township centres.
"""

from __future__ import annotations

import numpy as np
import pytest

import health_sim
from health_sim.core.names import Column, Kind
from health_sim.sim import engine, rules
from tests.conftest import quick
from tests.test_gatekeeping_route import County, _county

PULL = 3.0


def test_the_rule_is_the_weight_times_the_admission_probability_only_when_treatable():
    assert rules.admission_pull(3.0, 0.45, True) == pytest.approx(1.35)
    assert rules.admission_pull(3.0, 1.0, False) == 0.0
    assert rules.admission_pull(3.0, 0.0, True) == 0.0
    assert rules.admission_pull(0.0, 1.0, True) == 0.0


@pytest.fixture(scope="module", params=[False, True], ids=["ungated", "gatekept"])
def county(request) -> County:
    """The small county without gatekeeping, and with it (where a hospital's utility also weighs the referral route)."""
    return _county(request.param)


def _prepare(county: County, rid: np.ndarray, kind: Kind, pull: float):
    i = county.inputs
    choice = i["choice"]._replace(township_admission=pull)
    kinds = np.full(rid.size, int(kind), dtype=np.int64)
    return engine._prepare(i["d"] + 1, i["seed"], rid, kinds, county.people, county.sites, choice, i["care"],
                           i["policy"])  # fmt: skip


@pytest.mark.parametrize("kind", [Kind.ADMISSION, Kind.EMERGENCY, Kind.SERIOUS, Kind.MINOR, Kind.CHRONIC])
def test_the_pull_adds_to_the_own_township_centre_for_the_episodes_it_can_treat(county, kind):
    county.restore()
    rid = np.arange(county.people.township.size, dtype=np.int64)
    eps0, util0 = _prepare(county, rid, kind, 0.0)
    eps1, util1 = _prepare(county, rid, kind, PULL)
    assert np.array_equal(eps0.sev, eps1.sev) and np.array_equal(eps0.spec, eps1.spec)  # same draws
    cap = county.sites.capability[county.township_centre(rid), int(kind), eps0.spec]
    treatable = eps0.sev < cap
    p_admit = county.inputs["care"].admit_p[int(kind)]
    diff = util1 - util0
    town = int(Column.TOWNSHIP)
    expected = np.where(treatable, PULL * p_admit, 0.0)
    np.testing.assert_allclose(diff[:, town], expected, atol=1e-12)
    others = np.delete(diff, town, axis=1)
    assert np.all(others == 0.0), "the pull moved another facility's utility"
    np.testing.assert_array_equal(eps1.slip, eps0.slip)  # the referral route's value at the hospitals is untouched
    np.testing.assert_array_equal(eps1.detour, eps0.detour)
    if p_admit > 0:
        assert 0 < treatable.sum() < rid.size, "the county has no mix of treatable and untreatable episodes"
        np.testing.assert_array_equal(eps1.home[~treatable], eps0.home[~treatable])  # their choice is untouched


def _kpis(baseline_params, pull: float) -> dict:
    p = quick(baseline_params, **{"run.days": 120, "choice.township_admission": pull})
    return health_sim.run(p, seed=11).kpis


def test_a_stronger_pull_keeps_more_treatable_admissions_at_the_township_centres(baseline_params):
    none, some = _kpis(baseline_params, 0.0), _kpis(baseline_params, 5.0)
    assert some["inpatient_bypass_share"] < none["inpatient_bypass_share"] - 0.2
    assert some["township_admission_share"] > none["township_admission_share"] + 0.1
    assert some["township_admission_rate"] > 2 * none["township_admission_rate"]
    assert 0 < none["township_centre_occupancy"] < some["township_centre_occupancy"] <= 1.0  # the beds they fill
    # The same illness: the pull moves admissions between facilities, it does not make them
    assert some["admissions"] == pytest.approx(none["admissions"], rel=0.05)
