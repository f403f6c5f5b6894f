"""Readability of the figures health_sim.viz draws, on small made-up tables.

Each figure says what and which period, puts its legend outside the data, labels calendar years
as integers, shows shares as percentages and writes no offset notation ("1e6") on an axis.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from health_sim import viz
from health_sim.core.names import LEVELS
from health_sim.experiments.compare import BASELINE

RNG = np.random.default_rng(0)
YEARS = [2023, 2024, 2025]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _daily(reps: int = 3, days: int = 730) -> pd.DataFrame:
    rows = []
    for r in range(reps):
        d = pd.DataFrame({"date": pd.date_range("2023-01-01", periods=days), "replicate": r})
        d["visits"] = 1000.0
        d["visits_village"] = RNG.uniform(300, 400, days)
        d["visits_township"] = 350.0
        d["resident_days"] = 5e4
        rows.append(d)
    return pd.concat(rows, ignore_index=True)


def _annual(shift: float = 0.0) -> pd.DataFrame:
    a = pd.DataFrame([{"replicate": r, "year": y} for r in range(3) for y in YEARS])
    a["grassroots_share"] = 0.68 + shift + RNG.normal(0, 0.005, len(a))
    a["oop_per_visit"] = 55 + RNG.normal(0, 1, len(a))
    a["fund_spending"] = 4.8e8 + RNG.normal(0, 1e6, len(a))
    return a


def _drawn(fig):
    fig.canvas.draw()
    return fig


def _below(legend, ax) -> bool:
    """The legend lies wholly under the axes' frame (so it covers no data)."""
    return legend.get_window_extent().y1 <= ax.get_window_extent().y0


def _tick_texts(axis) -> list[str]:
    return [t.get_text() for t in axis.get_ticklabels() if t.get_text()]


def _integer_years(ax) -> bool:
    texts = _tick_texts(ax.xaxis)
    return bool(texts) and all(t.lstrip("−-").isdigit() for t in texts)


def test_percent_formatter_gives_every_tick_the_same_fewest_decimals():
    f = viz._Percent()
    assert f.format_ticks([0.65, 0.7, 0.75]) == ["65%", "70%", "75%"]
    assert f.format_ticks([0.65, 0.675, 0.7]) == ["65.0%", "67.5%", "70.0%"]


def test_grassroots_over_time_percent_axis_period_and_legend_below():
    fig = _drawn(viz.grassroots_over_time(_daily(), label="baseline"))
    ax = fig.axes[0]
    assert "2023-01 to 2024-12" in ax.get_title() and "90% of 3 replicates" in ax.get_title()
    assert all(t.endswith("%") for t in _tick_texts(ax.yaxis))
    assert _below(ax.get_legend(), ax)
    assert any("90% of replicates" in t.get_text() for t in ax.get_legend().get_texts())


def test_grassroots_over_time_twice_on_one_axes_keeps_one_legend_below():
    ax = plt.subplots(figsize=(8, 3.5))[1]
    viz.grassroots_over_time(_daily(), ax=ax, label="base")
    _drawn(viz.grassroots_over_time(_daily(), ax=ax, label="mix", target=0.69))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 4 and _below(ax.get_legend(), ax)


def test_township_shares_percent_axis_and_legend_off_the_bars():
    t = pd.DataFrame(
        [{"replicate": r, "township": n, "grassroots_share": s} for r in range(3) for n, s in [("A", 0.5), ("B", 0.9)]]
    )
    fig = _drawn(viz.township_shares(t))
    ax = fig.axes[0]
    assert all(x.endswith("%") for x in _tick_texts(ax.yaxis))
    assert _below(ax.get_legend(), ax)


def test_visits_by_level_title_fits_its_figure():
    k = pd.DataFrame({"replicate": range(3), **{f"visits_by_level.{lvl}": RNG.uniform(1e5, 1e6, 3) for lvl in LEVELS}})
    fig = _drawn(viz.visits_by_level(k))
    title = fig.axes[0].title.get_window_extent()
    assert title.x0 >= 0 and title.x1 <= fig.bbox.x1


def test_costs_integer_years_and_period():
    fig = _drawn(viz.costs(_annual()))
    assert "2023-2025" in fig.get_suptitle()
    assert all(_integer_years(ax) for ax in fig.axes)


def _suite():
    annual = {BASELINE: _annual(), "reform": _annual(0.05)}
    return SimpleNamespace(names=[BASELINE, "reform"], annual=annual, replicates=3, years=YEARS)


def test_trajectories_share_as_percent_with_integer_years():
    fig = _drawn(viz.trajectories(_suite(), "grassroots_share", cols=2))
    ax = fig.axes[0]
    assert all(t.endswith("%") for t in _tick_texts(ax.yaxis))
    assert _integer_years(ax)


def test_sensitivity_bars_legend_outside_every_panel_and_no_offset_text():
    factors = pd.Index(["policies.a.rate", "policies.b.share"], name="factor")
    sobol = {"grassroots_share": pd.DataFrame({"S1": [0.3, 0.1], "S1_conf": 0.05, "ST": [0.5, 0.2], "ST_conf": 0.05},
                                              index=factors)}  # fmt: skip
    morris = {"fund_spending": pd.DataFrame({"mu_star": [1.5e8, 2e7], "mu_star_conf": 1e7, "mu": 0.0,
                                             "sigma": [1e7, 1e6]}, index=factors)}  # fmt: skip
    for fig in (_drawn(viz.sobol_bars(sobol)), _drawn(viz.morris_bars(morris))):
        assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)
        leg = fig.legends[0].get_window_extent()
        assert all(leg.y1 <= ax.get_tightbbox().y0 + 1 for ax in fig.axes)
        assert all(ax.xaxis.get_offset_text().get_text() == "" for ax in fig.axes)
        assert fig.get_suptitle()
    assert all(t.endswith("%") for t in _tick_texts(_drawn(viz.sobol_bars(sobol)).axes[0].xaxis))
    assert "million yuan per year" in viz.morris_bars(morris).axes[0].get_xlabel()


def _evidence_table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"id": "yangshan_grassroots_visits_2023", "lever": "aggregate", "published": 1.63e6, "low": np.nan,
             "high": np.nan, "model": 1.53e6, "model_lo": 1.52e6, "model_hi": 1.54e6, "verdict": "agrees",
             "unit": "visits per year"},
            {"id": "price_elasticity_first_outpatient_visit_rural", "lever": "price", "published": -0.52,
             "low": -0.7, "high": -0.33, "model": -0.57, "model_lo": -0.6, "model_hi": -0.55, "verdict": "agrees",
             "unit": "elasticity"},
            {"id": "yangshan_grassroots_share_2023", "lever": "aggregate", "published": 0.671, "low": np.nan,
             "high": np.nan, "model": 0.675, "model_lo": 0.672, "model_hi": 0.679, "verdict": "agrees",
             "unit": "share of visits"},
        ]
    )  # fmt: skip


def test_evidence_full_ids_units_and_no_offset_notation():
    fig = _drawn(viz.evidence(_evidence_table(), cols=2))
    axes = [ax for ax in fig.axes if ax.axison]
    titles = [ax.get_title().replace("\n", "") for ax in axes]
    assert "price_elasticity_first_outpatient_visit_rural" in titles[1]
    assert all(ax.xaxis.get_offset_text().get_text() == "" for ax in axes)
    assert axes[0].get_xlabel() == "million visits per year"
    assert all(t.endswith("%") for t in _tick_texts(axes[2].xaxis))
    assert "90% of replicates" in fig.get_suptitle()


def test_calibration_panels_say_what_their_marks_are():
    dyn = pd.DataFrame({"kpi": ["grassroots_visits", "downward_referrals"], "observed_change": [0.02, 1.76],
                        "model": [0.05, 0.83], "model_lo": [0.04, 0.6], "model_hi": [0.06, 1.06]})  # fmt: skip
    ax = _drawn(viz.dynamic_changes(dyn)).axes[0]
    assert "2022" in ax.get_title() and _below(ax.get_legend(), ax)
    assert any("90% of replicates" in t.get_text() for t in ax.get_legend().get_texts())
    ident = pd.DataFrame({"parameter": ["choice.a"], "prior_low": [0.0], "prior_high": [2.0], "log": [False],
                          "best": [1.0], "narrowed": [0.4]})  # fmt: skip
    ax = _drawn(viz.identification(ident, pd.DataFrame({"choice.a": RNG.uniform(0, 2, 20)}))).axes[0]
    assert "narrowed" in ax.get_title() and "prior low" in ax.get_xlabel()


def test_pareto_legend_below_the_points():
    t = pd.DataFrame({"doctor_days": [3000, 7000, 15000], "extra_fund_yuan": [2e6, -2e7, -1.2e8],
                      "feasible": [True, True, False], "pareto": [True, True, False],
                      "cost_yuan": [1.0, 2.0, 3.0]})  # fmt: skip
    ax = _drawn(viz.pareto(t)).axes[0]
    assert _below(ax.get_legend(), ax)
