"""The county in a browser: a Mesa SolaraViz page that runs the model day by day.

Serve it with ``make app`` (http://127.0.0.1:8765, this machine only), or by hand::

    python scripts/solara_assets.py    # once: solara's front-end files, for serving offline
    SOLARA_TELEMETRY_MIXPANEL_ENABLE=False solara run src/health_sim/app.py --host 127.0.0.1 --production

The page:

* sidebar (Mesa's :func:`~mesa.visualization.SolaraViz`): Reset, play/pause and Step (one step is
  one simulated day; the first also runs the unrecorded burn-in year), and the model parameters
  of :data:`MODEL_PARAMS`: the share of the county simulated (at most :data:`SCALE_MAX`), the seed
  and a few levers. A changed parameter takes effect at Reset (Mesa rebuilds the model with the
  controls' values through :class:`AppModel`, i.e. :func:`app_params`);
* main area: the KPIs of the days run so far, the grassroots share and mean wait day by day, and
  a map of the county (villages, township health centres, the county hospitals at the seat, the
  expressway to the city) with townships coloured by a per-township KPI or by residents' trust.

The model is the 2023 baseline (:data:`SCENARIO`). A lever switched on here acts at full strength
from the run's first recorded day (``start`` = the run's start date, ``ramp_years`` 0, no
``before_start`` level); the burn-in year before it runs without it.

Why the main area is not SolaraViz's ``components``: SolaraViz lays its components out in
``solara.GridDraggable``, whose front end loads ``@widgetti/vue-grid-layout@2.3.13-alpha.2`` from
the CDN at run time. That package is a Vue 2 build; with this environment's Vue 3 front end
(ipyvue 3, ``solara-vuetify3-app``) it stops with "GlobalVue.use is not a function" and the grid,
with every plot in it (``make_plot_component`` plots included), stays empty. So the page renders
SolaraViz with no components (its sidebar: controls, parameters, time) and lays its own
components out below it with plain solara columns. They take the model as argument and read
Mesa's ``update_counter``, as SolaraViz's own components do, so they re-render after each step.

This is a top-layer module: it may import anything in the package; nothing in the package imports it.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from health_sim import viz
from health_sim.config.params import load_params, with_overrides
from health_sim.config.schema import Params
from health_sim.core.names import LEVELS
from health_sim.core.paths import repo_root, resolve
from health_sim.policies.gatekeeping import Gatekeeping
from health_sim.policies.stationed import Stationed
from health_sim.policies.telemedicine import Telemedicine
from health_sim.sim.model import HealthSystemModel
from health_sim.world.county import CountyMap, county_map

SCENARIO = "params/scenarios/baseline_2023.yaml"
"""The parameters the app starts from: Yangshan county in 2023, with its 2023 reforms at their 2023 level."""

SCALE_MAX = 0.05
"""Largest share of the county's residents the app simulates (about 18,000 residents): a cap, so that no
control can make the server allocate the whole county."""

SCALE_MIN = 0.002
"""Smallest share of the county the scale slider offers (about 700 residents)."""

NAME = "health_sim: where residents seek care"

_GATE = Gatekeeping.model_fields["unreferred_reduction"].default
_TELE = {k: Telemedicine.model_fields[k].default for k in ("remote_lift", "online_share", "online_resolve")}
_POSTING_DAYS = Stationed.model_fields["period_days"].default
_SIGNED_2023 = Params().population.contract_rate  # the defaults are the county in 2023 (params/baseline.yaml)

MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "scale": {
        "type": "SliderFloat",
        "value": 0.01,
        "label": "Scale (share of county)",
        "min": SCALE_MIN,
        "max": SCALE_MAX,
        "step": 0.002,
    },
    "seed": {"type": "InputText", "value": "20230101", "label": "Random seed"},
    "stationed": {"type": "Checkbox", "value": False, "label": "Stationed doctors on"},
    "stationed_doctors": {
        "type": "SliderInt",
        "value": 30,
        "label": "Stationed doctors/year",
        "min": 0,
        "max": 60,
        "step": 5,
    },
    "reimbursement_gap": {
        "type": "SliderFloat",
        "value": 0.0,
        "label": "Reimbursement gap",
        "min": 0.0,
        "max": 0.3,
        "step": 0.05,
    },
    "gatekeeping": {"type": "Checkbox", "value": False, "label": "Gatekeeping on"},
    "family_doctor": {"type": "Checkbox", "value": False, "label": "Family doctors scaled up"},
    "contract_rate": {
        "type": "SliderFloat",
        "value": 0.6,
        "label": "Family-doctor target",
        "min": 0.3,
        "max": 0.9,
        "step": 0.05,
    },
    "telemedicine": {"type": "Checkbox", "value": False, "label": "Telemedicine scaled up"},
}
"""SolaraViz's model parameters (Mesa's format): the controls of the sidebar, by :class:`AppModel` keyword.

Labels are short (the sidebar is narrow); :data:`HELP` says what each means, with its unit.
"""

HELP: dict[str, str] = {
    "scale": f"share of the county's residents simulated (fraction, {SCALE_MIN}-{SCALE_MAX})",
    "seed": "random seed (a whole number; same seed and settings give the same run)",
    "stationed": f"stationed support: county hospital doctors posted to township centres, {_POSTING_DAYS} days each",
    "stationed_doctors": "doctors a year the county people's hospital posts (doctors per year)",
    "reimbursement_gap": (
        "outpatient reimbursement rate points added at village clinics and township centres and taken at county "
        "and city hospitals (0 = lever off)"
    ),
    "gatekeeping": f"reimbursement at county and city hospitals {_GATE:.0%} points lower without a formal referral",
    "family_doctor": "family-doctor contracting scaled up: first-contact advice and scheduled follow-ups",
    "contract_rate": f"its target share of residents signed (share; {_SIGNED_2023:.2f} signed in 2023)",
    "telemedicine": (
        f"remote ECG, imaging and consultation (lift {_TELE['remote_lift']:.2f} of the township centres' gap for "
        f"serious and emergency episodes) and {_TELE['online_share']:.0%} of minor episodes online; off: the "
        "county's 2023 level"
    ),
}
"""What each control of :data:`MODEL_PARAMS` means, with its unit (shown under the page's KPIs)."""

DEFAULTS: dict[str, Any] = {k: v["value"] for k, v in MODEL_PARAMS.items()}
"""The controls' initial values (the first model of a session is built with them)."""


@functools.cache
def base_params() -> Params:
    """The parameters of :data:`SCENARIO` (read once per process), before the app's settings."""
    path = resolve(SCENARIO)
    if not path.exists():  # served from outside the repository: find it from this file
        path = repo_root(Path(__file__).resolve().parent) / SCENARIO
    return load_params(path)


def _seed(seed: int | str) -> int:
    try:
        value = int(str(seed).strip())
    except ValueError:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}") from None
    if value < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {value}")
    return value


def app_params(
    *,
    scale: float = DEFAULTS["scale"],
    seed: int | str = DEFAULTS["seed"],
    stationed: bool = DEFAULTS["stationed"],
    stationed_doctors: int = DEFAULTS["stationed_doctors"],
    reimbursement_gap: float = DEFAULTS["reimbursement_gap"],
    gatekeeping: bool = DEFAULTS["gatekeeping"],
    family_doctor: bool = DEFAULTS["family_doctor"],
    contract_rate: float = DEFAULTS["contract_rate"],
    telemedicine: bool = DEFAULTS["telemedicine"],
    base: Params | None = None,
) -> Params:
    """The model's parameters for the app's settings: :data:`SCENARIO` with them as overrides, validated.

    Parameters
    ----------
    scale:
        Share of the county's residents simulated (fraction); capped at :data:`SCALE_MAX`.
    seed:
        Random seed (a whole number >= 0, or its text as the seed box gives it).
    stationed, stationed_doctors:
        Stationed support on; doctors a year the county people's hospital posts to township
        centres (doctors per year; postings of the lever's default length, whoever is free).
    reimbursement_gap:
        Outpatient reimbursement rate points added at village clinics and township centres and
        taken at county and city hospitals (rate points, 0-1); 0 leaves the lever off.
    gatekeeping:
        Gatekeeping on: the reimbursement rate at county and city hospitals without a formal
        referral is cut by the lever's default reduction (rate points).
    family_doctor, contract_rate:
        Family-doctor contracting scaled up; its target share of residents signed (share, 0-1),
        with the lever's default first-contact and follow-up effects.
    telemedicine:
        Telemedicine at the lever's default (scaled-up) levels instead of the county's 2023 level.
    base:
        Parameters to start from (default :func:`base_params`).

    Every lever switched on acts at full strength from the run's start date (``start`` there,
    ``ramp_years`` 0, ``before_start`` dropped). Raises ``ParamsError`` (or ``ValueError`` for
    the seed) on a value the parameters refuse.
    """
    base = base if base is not None else base_params()
    start = base.run.start_date.isoformat()
    over: dict[str, Any] = {"run.scale": min(float(scale), SCALE_MAX), "run.seed": _seed(seed)}

    def switch_on(lever: str, **values: Any) -> None:
        over.update(
            {
                f"policies.{lever}.enabled": True,
                f"policies.{lever}.start": start,
                f"policies.{lever}.ramp_years": 0.0,
                f"policies.{lever}.before_start": None,
            }
        )
        over.update({f"policies.{lever}.{k}": v for k, v in values.items()})

    if stationed:
        switch_on("stationed", doctors_per_year_county=int(stationed_doctors))
    if reimbursement_gap > 0:
        gap = float(reimbursement_gap)
        switch_on("reimbursement", outpatient_grassroots_increase=gap, outpatient_hospital_decrease=gap)
    if gatekeeping:
        switch_on("gatekeeping", unreferred_reduction=_GATE)
    if family_doctor:
        switch_on("family_doctor", contract_rate=float(contract_rate))
    if telemedicine:
        switch_on("telemedicine", **_TELE)
    return with_overrides(base, over)


class AppModel(HealthSystemModel):
    """:class:`~health_sim.sim.model.HealthSystemModel` built from the app's settings (keywords of :func:`app_params`).

    SolaraViz's Reset builds ``AppModel(**controls)``; :func:`make_model` builds the first one. One
    step is one day; the model stops running (Mesa's ``running``) after the run's last day.
    """

    def __init__(
        self,
        *,
        scale: float = DEFAULTS["scale"],
        seed: int | str = DEFAULTS["seed"],
        stationed: bool = DEFAULTS["stationed"],
        stationed_doctors: int = DEFAULTS["stationed_doctors"],
        reimbursement_gap: float = DEFAULTS["reimbursement_gap"],
        gatekeeping: bool = DEFAULTS["gatekeeping"],
        family_doctor: bool = DEFAULTS["family_doctor"],
        contract_rate: float = DEFAULTS["contract_rate"],
        telemedicine: bool = DEFAULTS["telemedicine"],
    ):
        settings = {
            "scale": scale,
            "seed": seed,
            "stationed": stationed,
            "stationed_doctors": stationed_doctors,
            "reimbursement_gap": reimbursement_gap,
            "gatekeeping": gatekeeping,
            "family_doctor": family_doctor,
            "contract_rate": contract_rate,
            "telemedicine": telemedicine,
        }
        params = app_params(**settings)
        super().__init__(params, rng=params.run.seed)
        self.settings = settings
        self._map: CountyMap | None = None

    def step(self) -> None:
        """Simulate one day (the first call also runs the burn-in); stop running after the last day."""
        super().step()
        self.running = self.days_run < self.n_days

    def map_layout(self) -> CountyMap:
        """The county's map geometry for this model's parameters and seed (computed once)."""
        if self._map is None:
            self._map = county_map(self.params, self.seed)
        return self._map

    def levers_on(self) -> list[str]:
        """The app's levers switched on, in words with their values and units."""
        s, pol, out = self.settings, self.params.policies, []
        if s["stationed"]:
            out.append(f"stationed doctors ({pol.stationed.doctors_per_year_county} a year)")
        if s["reimbursement_gap"] > 0:
            out.append(f"reimbursement gap (±{pol.reimbursement.outpatient_grassroots_increase:.2f} outpatient)")
        if s["gatekeeping"]:
            out.append(f"gatekeeping (-{pol.gatekeeping.unreferred_reduction:.2f} without referral)")
        if s["family_doctor"]:
            out.append(f"family doctor (target {pol.family_doctor.contract_rate:.0%} signed)")
        if s["telemedicine"]:
            out.append(f"telemedicine scaled up ({pol.telemedicine.online_share:.0%} online)")
        return out


def make_model(**settings: Any) -> AppModel:
    """The app's model for ``settings`` (keywords of :func:`app_params`; the others at :data:`DEFAULTS`)."""
    return AppModel(**settings)


# --- what the page shows (plain functions of the model; the components below call them) ----------------------

MAP_COLOURINGS: dict[str, tuple[str, str]] = {
    "grassroots share": ("share of visits at village clinics and township centres", "{:.0%}"),
    "mean wait": ("mean wait per trip, days", "{:.2f}"),
    "trust in township centres": ("residents' mean trust in their township centre (0-1)", "{:.3f}"),
    "trust in village clinics": ("residents' mean trust in village clinics (0-1)", "{:.3f}"),
}
"""What the map can colour townships by: name -> (colour-bar label with unit, number format)."""


def township_values(model: HealthSystemModel, colouring: str) -> pd.Series:
    """One value per township (indexed by township name) for a colouring of :data:`MAP_COLOURINGS`.

    KPIs are of the days run so far, by township of residence (NaN before the first day);
    trust is the residents' mean today.
    """
    names = list(model.county.township_names)
    if colouring.startswith("trust in "):
        level = "township" if "township" in colouring else "village"
        res, n = model.residents, model.county.n_townships
        k = LEVELS.index(level)
        people = np.bincount(res.township, minlength=n)
        total = np.bincount(res.township, weights=res.trust[:, k], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return pd.Series(total / people, index=names)
    column = {"grassroots share": "grassroots_share", "mean wait": "mean_wait_days"}[colouring]
    if model.days_run == 0:
        return pd.Series(np.nan, index=names)
    frame = model.township_frame()
    return pd.Series(frame[column].to_numpy(dtype=float), index=frame["township"].tolist())


def map_figure(model: AppModel, colouring: str) -> Figure:
    """The county map (:func:`health_sim.viz.county_map`), townships coloured by ``colouring``."""
    label, fmt = MAP_COLOURINGS[colouring]
    fig = Figure(figsize=(6.2, 5.8), layout="constrained")
    ax = fig.subplots()
    when = f"days 1-{model.days_run}" if model.days_run else "no day run yet"
    if colouring.startswith("trust"):
        when = f"after day {model.days_run}" if model.days_run else "at the start"
    viz.county_map(model.map_layout(), township_values(model, colouring), ax=ax, title=f"{colouring} ({when})",
                   label=label, fmt=fmt)  # fmt: skip
    return fig


def series_figure(model: HealthSystemModel) -> Figure:
    """Grassroots share (share of visits) and mean wait (days per trip) day by day, with their 7-day values."""
    fig = Figure(figsize=(6.2, 5.8), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.set(ylabel="grassroots share of visits", title="Day by day (thin) and over the last 7 days (thick)")
    bottom.set(ylabel="mean wait per trip (days)", xlabel=f"day of the run (day 1 = {model.start_date})")
    top.axhline(viz.TARGET_SHARE, color="grey", ls="--", lw=0.8, label=f"target {viz.TARGET_SHARE:.0%}")
    if model.days_run:
        d = model.daily_frame()
        week = d[["visits_village", "visits_township", "visits", "wait_days", "trips"]].rolling(7, min_periods=1).sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            share7 = (week["visits_village"] + week["visits_township"]) / week["visits"]
            wait7 = week["wait_days"] / week["trips"]
        top.plot(d["day"], d["grassroots_share"], color="tab:green", lw=0.7, alpha=0.5)
        top.plot(d["day"], share7, color="tab:green", lw=2, label="7 days")
        bottom.plot(d["day"], d["mean_wait_days"], color="tab:red", lw=0.7, alpha=0.5)
        bottom.plot(d["day"], wait7, color="tab:red", lw=2)
    else:
        top.text(0.5, 0.5, "Press Step to run a day", transform=top.transAxes, ha="center", va="center")
    top.legend(loc="lower left", fontsize=8)
    top.yaxis.set_major_formatter("{x:.0%}")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig


def kpi_lines(model: AppModel) -> list[str]:
    """The KPI panel's lines: where the run is, the main KPIs of the days run so far (with units), the levers."""
    start = model.start_date
    p = model.params
    lines = [
        f"Day {model.days_run} of {model.n_days} ("
        + (f"up to {start + dt.timedelta(days=model.days_run - 1)}" if model.days_run else f"starts {start}")
        + f"); {model.residents.n:,} residents simulated (scale {p.run.scale:g}, seed {model.seed})"
    ]
    if model.days_run:
        k = model.kpis()
        lines.append(
            f"Grassroots share {k['grassroots_share']:.1%} of visits; mean wait {k['mean_wait_days']:.2f} days per "
            f"trip; {k['visits_per_resident']:.2f} visits per resident-year; stay home {k['stay_home_share']:.1%} of "
            "episodes"
        )
    else:
        lines.append("No day run yet: Step runs one day (the first also runs the 365-day burn-in).")
    on = model.levers_on()
    lines.append(
        ("Levers switched on from " + str(start) + ": " + "; ".join(on))
        if on
        else "No lever switched on beyond the county's 2023 reforms"
    )
    return lines


# --- the page ---------------------------------------------------------------------------------------------------


@solara.component
def KpiPanel(model: AppModel):
    """The KPIs of the days run so far, as text (re-rendered after each step)."""
    update_counter.get()
    lines = kpi_lines(model)
    with solara.Card("Days run so far", margin=0), solara.Div(classes=["hs-app-kpis"]):
        for i, line in enumerate(lines):
            solara.Div(children=[line], classes=[f"hs-app-kpi-{i}"])


@solara.component
def ControlsHelp():
    """What the sidebar's model parameters mean, with units; a changed parameter takes effect at Reset."""
    with solara.Details("About the model parameters (they take effect at Reset)"):
        for key, text in HELP.items():
            solara.Div(children=[f"{MODEL_PARAMS[key]['label']}: {text}"], style={"font-size": "0.85em"})


@solara.component
def SeriesPlot(model: AppModel):
    """Grassroots share and mean wait day by day (re-rendered after each step)."""
    update_counter.get()
    days = model.days_run
    fig = solara.use_memo(lambda: series_figure(model), dependencies=[model, days])
    with solara.Card("Grassroots share and waiting", margin=0, classes=["hs-app-series"]):
        solara.FigureMatplotlib(fig, dependencies=[model, days], format="png", dpi=90)


@solara.component
def CountyMapView(model: AppModel):
    """The county map coloured by a chosen per-township value (re-rendered after each step)."""
    update_counter.get()
    colouring, set_colouring = solara.use_state(next(iter(MAP_COLOURINGS)))
    days = model.days_run
    fig = solara.use_memo(lambda: map_figure(model, colouring), dependencies=[model, days, colouring])
    with solara.Card("The county", margin=0, classes=["hs-app-map"]):
        solara.Select(label="Colour townships by", value=colouring, values=list(MAP_COLOURINGS), on_value=set_colouring)
        solara.FigureMatplotlib(fig, dependencies=[model, days, colouring], format="png", dpi=90)
        solara.Text(
            "Schematic: township areas are their villages' Voronoi cells; dots are villages, squares township "
            "health centres, the star the county hospitals at the seat, the arrow the expressway to the city.",
            style={"font-size": "0.8em"},
        )


@solara.component
def Dashboard(model: AppModel):
    """The main area: KPI panel, then the day-by-day plots beside the map."""
    with solara.Column(gap="12px", style={"padding": "12px"}):
        KpiPanel(model)
        ControlsHelp()
        with solara.Columns([1, 1]):
            SeriesPlot(model)
            CountyMapView(model)


@solara.component
def Page():
    """The app: Mesa's SolaraViz (sidebar: controls and model parameters) and the :func:`Dashboard`."""
    first = solara.use_memo(lambda: make_model(**DEFAULTS), dependencies=[])
    model = solara.use_reactive(first)  # Reset replaces model.value with AppModel(**controls)
    SolaraViz(model, components=[], model_params=MODEL_PARAMS, name=NAME, play_interval=300)
    Dashboard(model.value)
