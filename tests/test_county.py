"""The synthetic county: townships, villages, travel, facilities, doctors, residents."""

import numpy as np
import pytest

from health_sim.config.params import with_overrides
from health_sim.core.names import AGE_BAND_EDGES, AGE_BANDS, CONDITIONS
from health_sim.sim.model import HealthSystemModel
from health_sim.world.agents import Doctor, Facility
from health_sim.world.county import build_county
from health_sim.world.population import build_residents

YANGSHAN = [
    "Yangcheng",
    "Qigong",
    "Taiping",
    "Dubu",
    "Jiangying",
    "Yangmei",
    "Qinglian",
    "Libu",
    "Xiaojiang",
    "Dalang",
    "Lingbei",
    "Huangben",
    "Chengjia",
]


@pytest.fixture(scope="module")
def full(baseline_params):
    """The county at scale 1 (built, not run)."""
    return HealthSystemModel(baseline_params)


def test_yangshan_townships_villages_and_residents(full):
    assert full.county.township_names == YANGSHAN
    assert full.county.n_villages == 159
    assert full.residents.n == 367175
    assert np.bincount(full.residents.township, minlength=13).min() > 5000


def test_scale_shrinks_residents_not_facilities(baseline_params, full):
    m = HealthSystemModel(with_overrides(baseline_params, {"run.scale": 0.1}))
    assert m.residents.n == round(367175 * 0.1)
    assert len(m.facility_agents) == len(full.facility_agents)
    assert len(m.agents_by_type[Doctor]) == len(full.agents_by_type[Doctor])
    # capacity scales with the residents so that crowding is scale-free
    assert m.facilities.capacity.sum() == pytest.approx(0.1 * full.facilities.capacity.sum())


def test_facilities_are_mesa_agents_of_each_type(full):
    types = [f.ftype for f in full.agents_by_type[Facility]]
    assert types.count("village_clinic") == 159
    assert types.count("township_centre") == 13
    assert {"county_people", "county_tcm", "county_mch"} <= set(types)
    assert types.count("city_tertiary") == 1
    for f in full.agents_by_type[Facility]:
        assert f.capacity > 0
        assert len(f.doctors) >= 1
    clinic = full.facility_agents[0]
    assert clinic.level == "village" and clinic.capability("minor", "internal_general") > clinic.capability(
        "serious", "internal_general"
    )
    county = full.facility_agents[full.col_facility["county_people"]]
    assert county.beds > 100 and county.capability("serious", "surgery") > 0.8


def test_doctors_have_home_and_specialty_and_moving_one_moves_capacity(baseline_params):
    m = HealthSystemModel(with_overrides(baseline_params, {"run.scale": 0.05}))
    docs = list(m.agents_by_type[Doctor])
    assert {d.specialty for d in docs} >= {"internal_general", "surgery", "paediatrics", "emergency_cardiology", "tcm"}
    county = m.facility_agents[m.col_facility["county_people"]]
    town = m.facility_agents[m.county.n_villages + 5]
    cardio = next(d for d in county.doctors if d.specialty == "emergency_cardiology")
    before_c, before_t = county.capacity, town.capacity
    had = town.capability("emergency", "emergency_cardiology")
    cardio.post_to(town)
    m.restaff()
    assert cardio.home is county and cardio.location is town
    assert county.capacity < before_c and town.capacity > before_t
    assert town.capability("emergency", "emergency_cardiology") > had  # the specialty is now present


def test_travel_times_follow_the_mountain_geography(full):
    t = full.county.travel_minutes  # village, township, county x3, city
    assert t[:, 0].min() >= 3 and t[:, 0].max() <= 15  # village clinic: minutes
    assert 10 <= np.median(t[:, 1]) <= 45  # township: tens of minutes
    assert 90 <= t[:, 2].max() <= 150  # county seat: up to two hours
    assert (t[:, 5] > t[:, 2]).all()  # the city is further than the county seat for everyone
    chengjia = full.county.village_township == YANGSHAN.index("Chengjia")
    yangcheng = full.county.village_township == YANGSHAN.index("Yangcheng")
    assert t[chengjia, 2].mean() > 3 * t[yangcheng, 2].mean()


def test_county_and_residents_are_deterministic_in_the_seed(baseline_params):
    p = with_overrides(baseline_params, {"run.scale": 0.02})
    a, b, c = build_county(p, 1), build_county(p, 1), build_county(p, 2)
    assert np.array_equal(a.village_xy, b.village_xy) and not np.array_equal(a.village_xy, c.village_xy)
    ra, rb = build_residents(p, a, 0.02, 1), build_residents(p, b, 0.02, 1)
    for name in ("age", "female", "village", "scheme", "conditions", "diagnosed", "contracted", "trust"):
        assert np.array_equal(getattr(ra, name), getattr(rb, name)), name
    rc = build_residents(p, c, 0.02, 2)
    assert not np.array_equal(ra.age, rc.age)


def test_residents_follow_age_prevalence_and_insurance_parameters(full, baseline_params):
    pp = baseline_params.population
    r = full.residents
    band = np.searchsorted(AGE_BAND_EDGES, r.age, side="right") - 1
    for i, b in enumerate(AGE_BANDS):
        assert (band == i).mean() == pytest.approx(pp.age_shares[b], abs=0.005)
    for bit, cond in enumerate(CONDITIONS):
        has = (r.conditions >> bit) & 1
        for i, b in enumerate(AGE_BANDS):
            p = pp.conditions[cond].prevalence[b]
            n = (band == i).sum()
            assert has[band == i].mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n) + 1e-9), (cond, b)
        knows = (r.diagnosed >> bit) & 1
        assert (knows <= has).all()
        assert knows.sum() / has.sum() == pytest.approx(pp.conditions[cond].diagnosed, abs=0.02)
    emp = r.scheme == 1
    assert emp.any() and (r.age[emp] >= 18).all() and (r.age[emp] <= 64).all()
    assert emp[r.urban].mean() > emp[~r.urban].mean()
    assert r.contracted.mean() == pytest.approx(pp.contract_rate, abs=0.01)
    priority = (r.age >= 65) | (r.diagnosed > 0)
    assert r.contracted[priority].mean() > 1.5 * r.contracted[~priority].mean()
    assert (r.trust >= 0).all() and (r.trust <= 1).all()
    assert r.trust[:, 3].mean() > r.trust[:, 0].mean()  # the city is trusted more than the village
