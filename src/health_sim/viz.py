"""Figures for notebooks (seaborn).

The model knows nothing of plotting; this module only reads the tables that runs write.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import Formatter, MaxNLocator
from matplotlib.transforms import ScaledTranslation

from health_sim.core.names import LEVELS

sns.set_theme(style="whitegrid", context="notebook")
TARGET_SHARE = 0.65


def monthly(daily: pd.DataFrame, value: str = "grassroots_share") -> pd.DataFrame:
    """Monthly value per replicate, recomputed from the counters (visit-weighted)."""
    d = daily.copy()
    d["month"] = pd.to_datetime(d["date"]).dt.to_period("M").dt.to_timestamp()
    keys = ["replicate", "month"] if "replicate" in d.columns else ["month"]
    g = d.groupby(keys, as_index=False)[["visits", "visits_village", "visits_township", "resident_days"]].sum()
    g["grassroots_share"] = (g["visits_village"] + g["visits_township"]) / g["visits"]
    g["visits_per_resident"] = g["visits"] / g["resident_days"] * 365
    return g


def _period(dates: pd.Series) -> str:
    d = pd.to_datetime(dates)
    return f"{d.min():%Y-%m} to {d.max():%Y-%m}"


def _years(years) -> str:
    """``2023-2027`` (or ``2023`` for one year) from a column of calendar years."""
    y = pd.Series(years).dropna().astype(int)
    return "" if y.empty else f"{y.min()}" if y.min() == y.max() else f"{y.min()}-{y.max()}"


def _legend_below(ax, ncol: int = 1, **kw):
    """The axes' legend under its x axis (tick labels and axis label measured, so it never covers them or the data)."""
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    fig = ax.figure
    drop = (ax.get_window_extent().y0 - ax.get_tightbbox().y0) / fig.dpi + 0.05  # inches under the axes' frame
    kw = {"fontsize": "small", "frameon": False, **kw}
    below = ax.transAxes + ScaledTranslation(0.0, -drop, fig.dpi_scale_trans)
    return ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.0), bbox_transform=below, ncol=ncol, **kw)


def _is_share(unit: str) -> bool:
    return unit.startswith("share")


class _Percent(Formatter):
    """Shares (0-1) as percentages, every tick of an axis with the same, fewest decimals: 65%, 70%; 65.0%, 67.5%."""

    def __init__(self, xmax: float = 1.0):
        self.xmax = xmax

    def format_ticks(self, values):
        """The labels of all ticks at once (same decimals)."""
        pct = [100.0 * v / self.xmax for v in values]
        d = next((d for d in range(4) if all(abs(round(p, d) - p) < 1e-6 for p in pct)), 4)
        return [f"{p:.{d}f}%" for p in pct]

    def __call__(self, x, pos=None):
        """One label (a cursor's readout)."""
        return f"{round(100.0 * x / self.xmax, 6):g}%"


def grassroots_over_time(daily: pd.DataFrame, ax=None, label: str | None = None, target: float = TARGET_SHARE):
    """Monthly grassroots share with a 90% band across replicates, and the target line."""
    ax = ax or plt.subplots(figsize=(8, 3.5))[1]
    m = monthly(daily)
    line = None if label is None else f"{label} (mean; band: central 90% of replicates)"
    sns.lineplot(data=m, x="month", y="grassroots_share", errorbar=("pi", 90), ax=ax, label=line)
    ax.axhline(target, color="crimson", ls="--", lw=1, label=f"target {target:.0%}")
    n = m["replicate"].nunique() if "replicate" in m.columns else 1
    ax.set(
        xlabel="month",
        ylabel="grassroots share of visits",
        title=f"Grassroots share of visits by month, {_period(m['month'])}\n"
        f"(line: mean; band: central 90% of {n} replicates)",
    )
    ax.yaxis.set_major_formatter(_Percent())
    _legend_below(ax, ncol=2)
    return ax.figure


def visits_by_level(kpis: pd.DataFrame, ax=None):
    """Visits a year by level (mean and 90% interval across replicates)."""
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    cols = [f"visits_by_level.{lvl}" for lvl in LEVELS]
    long = kpis.melt(id_vars=["replicate"], value_vars=cols, var_name="level", value_name="visits")
    long["level"] = long["level"].str.replace("visits_by_level.", "", regex=False)
    long["visits"] = long["visits"] / 1e3
    sns.barplot(data=long, x="level", y="visits", errorbar=("pi", 90), ax=ax, order=list(LEVELS))
    ax.set(
        ylabel="thousand visits per year\n(whole county)",
        xlabel="level of care",
        title=f"Visits by level of care, mean a year over the run\n(bar: mean; whiskers: central 90% of "
        f"{kpis['replicate'].nunique()} replicates)",
    )
    return ax.figure


def township_shares(township: pd.DataFrame, ax=None, target: float = TARGET_SHARE):
    """Grassroots share by township of residence (mean and 90% interval across replicates)."""
    ax = ax or plt.subplots(figsize=(8, 4))[1]
    order = township.groupby("township")["grassroots_share"].mean().sort_values().index
    sns.barplot(
        data=township, x="township", y="grassroots_share", order=order, errorbar=("pi", 90), ax=ax, color="steelblue"
    )
    ax.axhline(target, color="crimson", ls="--", lw=1, label=f"target {target:.0%}")
    n = township["replicate"].nunique() if "replicate" in township.columns else 1
    ax.set(
        xlabel="township of residence",
        ylabel="grassroots share of visits",
        title=f"Grassroots share of visits by township of residence, over the run\n(bar: mean; whiskers: central "
        f"90% of {n} replicates)",
    )
    ax.yaxis.set_major_formatter(_Percent())
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    _legend_below(ax)
    return ax.figure


def costs(annual: pd.DataFrame):
    """Out-of-pocket cost per visit and fund spending by year."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    sns.lineplot(data=annual, x="year", y="oop_per_visit", errorbar=("pi", 90), marker="o", ax=axes[0])
    axes[0].set(ylabel="yuan per visit", title="Out-of-pocket cost per visit")
    a = annual.assign(fund_million=annual["fund_spending"] / 1e6)
    sns.lineplot(data=a, x="year", y="fund_million", errorbar=("pi", 90), marker="o", ax=axes[1])
    axes[1].set(ylabel="million yuan per year", title="Insurance fund spending")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0.0, ax.get_ylim()[1] * 1.1)  # from zero, with room above the band
        ax.set_xlabel("calendar year")
    n = annual["replicate"].nunique() if "replicate" in annual.columns else 1
    fig.suptitle(f"Costs by year, {_years(annual['year'])} (line: mean; band: central 90% of {n} replicates)")
    return fig


def _short(factor: str) -> str:
    """Drop ``policies.``: policies.stationed.doctors_per_year_county -> stationed.doctors_per_year_county."""
    return factor.removeprefix("policies.")


def sobol_bars(indices: dict[str, pd.DataFrame]):
    """Tornado of Sobol indices: first-order (S1) and total (ST) with their intervals.

    One panel per KPI, factors sorted by total effect.
    """
    n = len(next(iter(indices.values())))
    fig, axes = plt.subplots(
        len(indices), 1, figsize=(9, len(indices) * (0.45 * n + 1.1) + 1.2), squeeze=False, layout="constrained"
    )
    for ax, (kpi, si) in zip(axes[:, 0], indices.items(), strict=True):
        si = si.sort_values("ST")
        y = range(len(si))
        ax.barh([i + 0.2 for i in y], si["ST"], height=0.4, xerr=si["ST_conf"], label="total (ST)", color="steelblue")
        ax.barh(
            [i - 0.2 for i in y], si["S1"], height=0.4, xerr=si["S1_conf"], label="first-order (S1)", color="orange"
        )
        ax.set_yticks(list(y), [_short(f) for f in si.index])
        ax.set(xlabel=f"share of the variance of {kpi.replace('_', ' ')}", title=kpi.replace("_", " "))
        ax.xaxis.set_major_formatter(_Percent())
        ax.axvline(0, color="grey", lw=0.8)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(
        "Sobol indices: share of each KPI's variance due to each factor, alone (S1) and with its interactions (ST)\n"
        "bars: estimate; whiskers: 95% bootstrap confidence interval (below 0: estimation noise)",
        fontsize=10,
    )
    return fig


def morris_bars(indices: dict[str, pd.DataFrame]):
    """Morris screening: mu* (mean absolute elementary effect) with its interval, and sigma.

    Sigma: interactions and non-linearity. One panel per KPI.
    """
    n = len(next(iter(indices.values())))
    fig, axes = plt.subplots(
        len(indices), 1, figsize=(9, len(indices) * (0.45 * n + 1.1) + 1.2), squeeze=False, layout="constrained"
    )
    for ax, (kpi, m) in zip(axes[:, 0], indices.items(), strict=True):
        try:
            div, unit = _in_units(kpi)
        except KeyError:  # not a registered KPI: its own units
            div, unit = 1.0, "the KPI's units"
        m = m.sort_values("mu_star")
        y = range(len(m))
        ax.barh(
            [i + 0.2 for i in y],
            m["mu_star"] / div,
            height=0.4,
            xerr=m["mu_star_conf"] / div,
            label="mu* (mean absolute elementary effect)",
            color="seagreen",
        )
        ax.barh([i - 0.2 for i in y], m["sigma"] / div, height=0.4, label="sigma (their spread)", color="grey")
        ax.set_yticks(list(y), [_short(f) for f in m.index])
        ax.set(xlabel=f"effect over the factor's sweep range, in {unit}", title=kpi.replace("_", " "))
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.set_xlim(left=0.0)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(
        "Morris screening: each factor's effect on each KPI over its sweep range (mu*) and how much it varies (sigma: "
        "interactions, non-linearity)\nbars: estimate; whiskers: 95% bootstrap confidence interval of mu*",
        fontsize=10,
    )
    return fig


def prim_box(discovery):
    """The PRIM box: each factor's range in the box (dark) within its sweep range (light).

    Scaled to [0, 1], with the box's limits written at its ends.
    """
    from matplotlib.patches import Patch

    b = discovery.box
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(b) + 2.0), layout="constrained")
    span = (b["sweep_high"] - b["sweep_low"]).where(lambda s: s > 0, 1.0)
    lo = ((b["low"] - b["sweep_low"]) / span).fillna(0.0)  # text factors: the whole bar, values written
    hi = ((b["high"] - b["sweep_low"]) / span).fillna(1.0)
    y = list(range(len(b)))
    ax.barh(y, [1.0] * len(b), color="lightgrey", height=0.6)
    ax.barh(y, hi - lo, left=lo, color=["darkgreen" if r else "silver" for r in b["restricted"]], height=0.6)
    for i, (_, row) in enumerate(b.iterrows()):
        if row["restricted"] and row["values"]:
            ax.text(0.5, i, row["values"], ha="center", va="center", fontsize=8, color="white")
        elif row["restricted"]:
            ax.text(lo.iloc[i], i + 0.35, f"{row['low']:.3g}", ha="center", fontsize=8)
            ax.text(hi.iloc[i], i + 0.35, f"{row['high']:.3g}", ha="center", fontsize=8)
    ax.set_yticks(y, [_short(f) for f in b.index])
    ax.set(
        xlim=(-0.05, 1.05),
        ylim=(-0.6, len(b) - 0.1),
        xlabel="position in the factor's sweep range (0% = its lowest value swept, 100% = its highest)",
        title=(
            f"PRIM box: where {' and '.join(discovery.targets)} hold\ndensity {discovery.density:.0%} (runs in the "
            f"box meeting them), coverage {discovery.coverage:.0%}, mass {discovery.mass:.0%}"
        ),
    )
    ax.xaxis.set_major_formatter(_Percent())
    ax.grid(axis="y", visible=False)
    legend = [
        Patch(color="darkgreen", label="range the box keeps (factor restricted)"),
        Patch(color="silver", label="factor not restricted"),
        Patch(color="lightgrey", label="rest of the sweep range"),
    ]
    _legend_below(ax, ncol=3, handles=legend)
    return fig


def peeling(discovery, ax=None):
    """PRIM's peeling trajectory: coverage against density of each candidate box.

    Coloured by the number of factors it restricts; the chosen box circled.
    """
    ax = ax or plt.subplots(figsize=(7, 4.5))[1]
    t = discovery.trajectory
    sns.scatterplot(data=t, x="coverage", y="density", hue="res_dim", palette="viridis", ax=ax, legend="full")
    c = t[t["chosen"]]
    ax.scatter(c["coverage"], c["density"], s=200, facecolors="none", edgecolors="crimson", label="chosen box")
    ax.axhline(
        discovery.min_density, color="crimson", ls="--", lw=1, label=f"density asked for ({discovery.min_density:.0%})"
    )
    ax.set(
        title="PRIM peeling trajectory: each candidate box's coverage and density",
        xlabel="coverage (share of the runs meeting the targets that are in the box)",
        ylabel="density (share of the box's runs\nmeeting the targets)",
    )
    ax.xaxis.set_major_formatter(_Percent())
    ax.yaxis.set_major_formatter(_Percent())
    ax.legend(title="factors the box restricts (colour)", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              fontsize="small", title_fontsize="small", frameon=False)  # fmt: skip
    return ax.figure


def pareto(table: pd.DataFrame, ax=None):
    """Candidates of an optimisation: doctor-days against extra fund spending, feasible or not.

    The Pareto front of the feasible ones joined, the cheapest starred.
    """
    ax = ax or plt.subplots(figsize=(7, 4.5))[1]
    t = table.assign(
        extra_fund_million=table["extra_fund_yuan"] / 1e6,
        status=table["feasible"].map({True: "meets the targets", False: "misses them"}),
    )
    sns.scatterplot(
        data=t,
        x="doctor_days",
        y="extra_fund_million",
        hue="status",
        hue_order=["meets the targets", "misses them"],
        palette=["seagreen", "lightgrey"],
        ax=ax,
    )
    front = t[t["pareto"]].sort_values("doctor_days")
    ax.plot(front["doctor_days"], front["extra_fund_million"], color="seagreen", lw=1.5, label="Pareto front")
    ok = t[t["feasible"]]
    if len(ok):
        best = ok.loc[ok["cost_yuan"].idxmin()]
        ax.scatter(
            [best["doctor_days"]],
            [best["extra_fund_million"]],
            marker="*",
            s=300,
            color="gold",
            edgecolor="black",
            label="cheapest",
            zorder=3,
        )
    ax.set(
        xlabel="doctor-days a year at the grassroots",
        ylabel="extra fund spending, million yuan a year",
        title="Lever mixes: cost and whether they meet the targets",
    )
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.axhline(0.0, color="grey", lw=0.8)
    _legend_below(ax, ncol=4)
    return ax.figure


def save(fig, path: str | Path) -> Path:
    """Save a figure as a small PNG and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def calibration_fit(check: pd.DataFrame, ax=None):
    """Observed (cross) against simulated mean and 90% interval, each figure relative to its observed value."""
    ax = ax or plt.subplots(figsize=(7, 0.5 + 0.45 * len(check)))[1]
    y = range(len(check))
    rel = lambda c: check[c] / check["observed"]  # noqa: E731
    ax.errorbar(
        rel("simulated"),
        y,
        xerr=[rel("simulated") - rel("lo"), rel("hi") - rel("simulated")],
        fmt="o",
        capsize=3,
        label="simulated (dot: mean; bar: 90% interval)",
    )
    ax.scatter([1.0] * len(check), y, marker="x", color="crimson", zorder=3, label="observed (= 100%)")
    ax.set_yticks(list(y), check["figure"])
    ax.set(
        xlabel="simulated as a share of the observed value (100% = observed)",
        title="Calibration: simulated against observed, each figure relative to its observed value",
    )
    ax.xaxis.set_major_formatter(_Percent())
    _legend_below(ax, ncol=2)
    return ax.figure


def identification(ident: pd.DataFrame, members: pd.DataFrame, ax=None, centre: str = "posterior median"):
    """Each parameter's ensemble members on its prior range (0 = low, 1 = high; log scale where the prior is).

    ``ident["best"]`` is drawn as a diamond (``centre`` says what it is).
    """
    import numpy as np

    ax = ax or plt.subplots(figsize=(7, 0.5 + 0.45 * len(ident)))[1]
    for i, r in enumerate(ident.itertuples()):
        f = (
            (lambda v, r=r: (np.log(v) - np.log(r.prior_low)) / (np.log(r.prior_high) - np.log(r.prior_low)))
            if r.log
            else (lambda v, r=r: (v - r.prior_low) / (r.prior_high - r.prior_low))
        )
        ax.scatter(f(members[r.parameter].to_numpy(float)), [i] * len(members), alpha=0.5, color="steelblue", s=18)
        ax.scatter([f(r.best)], [i], marker="D", color="crimson", s=30, zorder=3)
    ax.set_yticks(
        range(len(ident)),
        [
            f"{_short(p)} ({n:.2f})" if n == n else _short(p)
            for p, n in zip(ident["parameter"], ident["narrowed"], strict=True)
        ],
    )
    ax.set(xlim=(-0.02, 1.02), xlabel="position in the prior range (0% = prior low, 100% = prior high; log scale "
           "where the prior is)")  # fmt: skip
    ax.set_title(
        f"Identification: posterior draws (dots) and {centre} (diamond) on each prior range;\nin brackets: how much "
        "the data narrowed it (1 - posterior sd / prior sd; 0 = not at all, 1 = pinned down)",
        fontsize="medium",
    )
    ax.xaxis.set_major_formatter(_Percent())
    return ax.figure


def dynamic_changes(check: pd.DataFrame, ax=None):
    """Observed 2022 -> 2023 relative changes against the model's (90% interval)."""
    ax = ax or plt.subplots(figsize=(6, 2.2))[1]
    y = range(len(check))
    ax.errorbar(
        check["model"],
        y,
        xerr=[check["model"] - check["model_lo"], check["model_hi"] - check["model"]],
        fmt="o",
        capsize=3,
        label="model (dot: mean; bar: central 90% of replicates)",
    )
    ax.scatter(check["observed_change"], y, marker="x", color="crimson", zorder=3, label="observed")
    ax.set_yticks(list(y), check["kpi"])
    ax.set_ylim(-0.5, len(check) - 0.5)
    ax.axvline(0, color="grey", lw=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(6))
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:+.0%}"))
    ax.set(
        xlabel="relative change from 2022 to 2023", title="Dynamic check: change from 2022 to 2023, observed and model"
    )
    _legend_below(ax, ncol=2)
    return ax.figure


def national_trend(
    trend: pd.DataFrame,
    model: pd.DataFrame | None = None,
    ax=None,
    yangshan: float = 0.671,
    label: str = "model baseline (no new lever)",
):
    """The national grassroots share by year, Yangshan's 2023 share and the model's run (mean, 90% band)."""
    ax = ax or plt.subplots(figsize=(8, 5.5), layout="constrained")[1]
    period = _years([*trend["year"], 2023, *([] if model is None else model["year"])])
    sns.lineplot(data=trend, x="year", y="share", hue="series", marker="o", ax=ax)
    ax.scatter([2023], [yangshan], marker="x", color="crimson", s=60, zorder=3, label="Yangshan 2023 (calibrated to)")
    if model is not None:
        sns.lineplot(
            data=model,
            x="year",
            y="grassroots_share",
            errorbar=("pi", 90),
            ax=ax,
            color="black",
            label=f"{label} (mean, 90% of replicates)",
        )
    ax.axhline(TARGET_SHARE, color="crimson", ls="--", lw=1, label=f"target {TARGET_SHARE:.0%}")
    ax.set(
        ylabel="grassroots share of visits",
        xlabel="calendar year",
        title=f"Grassroots share of visits (village + township), {period}: China against the model's county",
    )
    ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.yaxis.set_major_formatter(_Percent())
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.15), ncol=1, fontsize="small", frameon=False)
    return ax.figure


def _wrap_id(name: str, width: int = 40) -> str:
    """An identifier broken at its underscores into lines of at most ``width`` characters (none cut off)."""
    lines = [""]
    for part in name.split("_"):
        piece = part if not lines[-1] else "_" + part
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines[-1] += "_"
            lines.append(part)
        else:
            lines[-1] += piece
    return "\n".join(lines)


def evidence(table: pd.DataFrame, cols: int = 4):
    """One small panel per compared item: published value (interval if given) and the model's (90% interval)."""
    t = table[table["model"].notna()].reset_index(drop=True)
    rows = math.ceil(len(t) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.2 * rows + 0.6), squeeze=False, layout="constrained")
    for ax, r in zip(axes.flat, t.itertuples(), strict=False):
        lo = r.low if r.low == r.low and r.low is not None else r.published
        hi = r.high if r.high == r.high and r.high is not None else r.published
        unit = str(getattr(r, "unit", "") or "")
        span = np.array(
            [lo, hi, r.model_lo, r.model_hi, 0.0] if r.lever != "aggregate" else [lo, hi, r.model_lo, r.model_hi]
        )
        big = float(np.abs(span).max())
        div, unit = (1e6, f"million {unit}") if big >= 1e6 else (1e3, f"thousand {unit}") if big >= 1e4 else (1, unit)
        ax.errorbar(
            [r.published / div],
            [1],
            xerr=[[(r.published - lo) / div], [(hi - r.published) / div]],
            fmt="x",
            color="crimson",
            capsize=3,
        )
        ax.errorbar(
            [r.model / div],
            [0],
            xerr=[[(r.model - r.model_lo) / div], [(r.model_hi - r.model) / div]],
            fmt="o",
            color="steelblue",
            capsize=3,
        )
        ax.set_yticks([0, 1], ["model", "published"])
        ax.set_ylim(-0.7, 1.7)
        ax.set_title(f"{_wrap_id(r.id)}\n{r.verdict}", fontsize=8)
        ax.tick_params(labelsize=7)
        pad = 0.1 * (span.max() - span.min() or 1.0)
        ax.set_xlim((span.min() - pad) / div, (span.max() + pad) / div)
        ax.axvline(0, color="grey", lw=0.6)
        ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
        if _is_share(unit):
            ax.xaxis.set_major_formatter(_Percent())
        else:
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        text = textwrap.wrap(unit, 48) or [""]
        ax.set_xlabel("\n".join(text[:2]) + (" ..." if len(text) > 2 else ""), fontsize=7)
    for ax in list(axes.flat)[len(t) :]:
        ax.axis("off")
    fig.suptitle(
        "Published evidence against the model, item by item\nred x: published value (bar: the study's interval, "
        "where it gives one); blue dot: model mean (bar: central 90% of replicates); grey line: zero",
        fontsize=10,
    )
    return fig


def _polygons(geom):
    """The polygons of a shapely geometry (one for a Polygon, each part of a MultiPolygon or collection)."""
    if geom.is_empty:
        return []
    if geom.geom_type == "Polygon":
        return [geom]
    return [g for part in getattr(geom, "geoms", []) for g in _polygons(part)]


def _norm(values: list[pd.Series], diverging: bool):
    """A colour scale shared by maps of ``values``: red (down) to blue (up) around zero for a change, else viridis."""
    import matplotlib as mpl

    finite = pd.concat(values).astype(float)
    finite = finite[np.isfinite(finite)]
    if diverging:
        span = float(np.abs(finite).max()) if len(finite) else 0.0
        span = span if span > 0 else 1e-9
        return mpl.colors.TwoSlopeNorm(0.0, -span, span), plt.get_cmap("RdBu")
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    return mpl.colors.Normalize(lo, hi if hi > lo else lo + 1e-9), plt.get_cmap("viridis")


def _draw_county(ax, m, v: pd.Series, norm, cmap, fmt: str, labels: bool, legend: bool) -> None:
    from matplotlib.patches import Polygon as Patch

    v = v.reindex(m.names).astype(float)
    for t, geom in enumerate(m.areas):
        colour = cmap(norm(v.iloc[t])) if np.isfinite(v.iloc[t]) else "lightgrey"
        for poly in _polygons(geom):
            ax.add_patch(Patch(np.asarray(poly.exterior.coords), facecolor=colour, edgecolor="white", lw=1.0))
    for poly in _polygons(m.outline):
        ax.add_patch(Patch(np.asarray(poly.exterior.coords), fill=False, edgecolor="black", lw=1.0))
    ax.scatter(*m.village_xy.T, s=4 if not labels else 6, color="black", alpha=0.5, label="village clinic", zorder=3)
    ax.scatter(*m.centre_xy.T, s=30 if labels else 12, marker="s", color="white", edgecolor="black",
               label="township health centre", zorder=4)  # fmt: skip
    ax.scatter(*m.centre_xy[m.seat], s=220 if labels else 90, marker="*", color="gold", edgecolor="black", zorder=5,
               label="county hospitals (county seat)")  # fmt: skip
    if labels:
        for t, name in enumerate(m.names):
            x, y = m.centre_xy[t]
            text = name + ("" if not np.isfinite(v.iloc[t]) else "\n" + fmt.format(v.iloc[t]))
            box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7}
            ax.annotate(text, (x, y), xytext=(0, 7), textcoords="offset points", ha="center", va="bottom", fontsize=7,
                        bbox=box, zorder=6)  # fmt: skip
    seat, city = m.centre_xy[m.seat], m.city_xy
    minx, miny, maxx, maxy = m.outline.bounds
    d = (city - seat) / np.linalg.norm(city - seat)
    reach = min(
        (maxx - seat[0]) / d[0] if d[0] > 0 else (minx - seat[0]) / d[0] if d[0] < 0 else np.inf,
        (maxy - seat[1]) / d[1] if d[1] > 0 else (miny - seat[1]) / d[1] if d[1] < 0 else np.inf,
    )
    edge = seat + d * 0.9 * reach
    ax.annotate("", xy=edge, xytext=seat, arrowprops={"arrowstyle": "->", "color": "firebrick", "lw": 2}, zorder=5)
    if labels:
        ax.annotate(f"expressway to the city's\ntertiary hospital ({m.city_minutes:.0f} min)", edge, xytext=(0, -4),
                    textcoords="offset points", ha="center", va="top", fontsize=8, color="firebrick")  # fmt: skip
    ax.set_xlim(minx - 2, maxx + 2)
    ax.set_ylim(miny - (6 if labels else 2), maxy + 2)
    ax.set_aspect("equal")
    ax.grid(False)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=3, fontsize=7, frameon=False)


def _colorbar(fig, axes, norm, cmap, label: str, fmt: str) -> None:
    import matplotlib as mpl

    cb = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.7, label=label)
    cb.ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda x, _: fmt.format(x)))


def county_map(
    m,
    values: pd.Series,
    ax=None,
    title: str = "",
    label: str = "",
    diverging: bool = False,
    fmt: str = "{:.0%}",
):
    """A map of the county (a :class:`health_sim.world.county.CountyMap`), townships shaded by ``values``.

    ``values``: one number per township, indexed by township name. ``diverging``: a change, coloured red (down) to blue
    (up) around zero. Villages are dots, township health centres squares, the county hospitals a star at the seat, and
    the expressway to the city's tertiary hospital an arrow with its minutes. The outline and township areas are
    schematic (the villages' hull and Voronoi cells): the caption must say so.
    """
    ax = ax or plt.subplots(figsize=(7, 6.5))[1]
    norm, cmap = _norm([values], diverging)
    _draw_county(ax, m, values, norm, cmap, fmt, labels=True, legend=True)
    ax.set(xlabel="km east of the county seat", ylabel="km north of the county seat", title=title)
    _colorbar(ax.figure, ax, norm, cmap, label, fmt)
    return ax.figure


def county_maps(m, values: dict[str, pd.Series], title: str, label: str, diverging: bool = True, fmt: str = "{:+.1f}",
                cols: int = 6):  # fmt: skip
    """Small maps of the county, one per entry of ``values`` (name -> value per township), on one colour scale."""
    rows = math.ceil(len(values) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.5 * rows + 0.6), squeeze=False, layout="constrained")
    norm, cmap = _norm(list(values.values()), diverging)
    for ax, (name, v) in zip(axes.flat, values.items(), strict=False):
        _draw_county(ax, m, v, norm, cmap, fmt, labels=False, legend=False)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(values) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    _colorbar(fig, axes, norm, cmap, label, fmt)
    if values:
        from matplotlib.lines import Line2D

        handles, labels = axes.flat[0].get_legend_handles_labels()
        handles.append(Line2D([], [], color="firebrick", lw=2, marker=">", markevery=[1]))
        labels.append(f"expressway to the city's tertiary hospital ({m.city_minutes:.0f} min)")
        fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return fig


def attainment_heatmap(prob: pd.DataFrame, verdict: pd.DataFrame, ax=None, replicates: int | None = None):
    """Scenario x target matrix: the probability of meeting each target (share of replicates), in each cell.

    Cells of a target the scenario cannot reach by design are grey and say "n/r"; see the scorecard's reasons.
    """
    import matplotlib as mpl

    h = max(3.0, 0.32 * len(prob) + 1.5)
    ax = ax or plt.subplots(figsize=(max(6.0, 1.1 * prob.shape[1] + 3.0), h))[1]
    cmap = mpl.colormaps["RdYlGn"].with_extremes(bad="lightgrey")
    data = prob.astype(float).to_numpy()
    im = ax.imshow(data, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            v = verdict.iat[i, j]
            text = f"{data[i, j]:.0%}" if np.isfinite(data[i, j]) else ""
            text = "n/r" if v == "not reachable by design" else text
            dark = np.isfinite(data[i, j]) and not 0.15 < data[i, j] < 0.85 and v != "not reachable by design"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(range(prob.shape[1]), [c.replace("_", " ") for c in prob.columns], rotation=30, ha="right")
    ax.set_yticks(range(prob.shape[0]), list(prob.index))
    ax.grid(False)
    ax.set(xlabel="target", ylabel="scenario")
    reps = f" of {replicates} replicates" if replicates else " of replicates"
    ax.set_title(f"Probability of meeting each target (share{reps}); n/r: not reachable by design")
    cb = ax.figure.colorbar(im, ax=ax, shrink=0.6, label="probability of meeting the target")
    cb.ax.yaxis.set_major_formatter(mpl.ticker.PercentFormatter(1.0))
    ax.figure.tight_layout()
    return ax.figure


def _in_units(kpi: str) -> tuple[float, str]:
    """A divisor and a label that keep a KPI's numbers readable (no offset notation)."""
    from health_sim.experiments.compare import unit

    u = unit(kpi)
    if kpi == "fund_spending":
        return 1e6, "million yuan per year"
    if u.startswith("share"):
        return 0.01, f"percentage points ({u})"
    return 1.0, u


def paired_forest(diffs: pd.DataFrame, kpis: tuple[str, ...], interval: str, cols: int = 3):
    """Each scenario's change against the baseline, one panel per KPI: the mean paired difference and its interval.

    ``interval``: what the bars are, in words (it goes in the title).
    """
    kpis = tuple(k for k in kpis if k in set(diffs["kpi"]))
    rows = math.ceil(len(kpis) / cols)
    names = list(dict.fromkeys(diffs["scenario"]))
    size = (4.2 * cols, 0.22 * len(names) * rows + 1.2 * rows)
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False, layout="constrained")
    for ax, k in zip(axes.flat, kpis, strict=False):
        d = diffs[diffs["kpi"] == k].set_index("scenario").reindex(names)
        div, label = _in_units(k)
        y = np.arange(len(names))
        m, lo, hi = d["difference"] / div, d["lo"] / div, d["hi"] / div
        ax.errorbar(m, y, xerr=[m - lo, hi - m], fmt="o", ms=3, color="steelblue", ecolor="steelblue", lw=1)
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(y, names if ax in axes[:, 0] else [""] * len(names), fontsize=7)
        ax.invert_yaxis()
        year = int(d["year"].dropna().iloc[0]) if d["year"].notna().any() else ""
        ax.set_title(f"{k.replace('_', ' ')}, {year}", fontsize=9)
        ax.set_xlabel(f"change against baseline ({label})", fontsize=8)
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    for ax in list(axes.flat)[len(kpis) :]:
        ax.axis("off")
    fig.suptitle(f"Change against the 2023 baseline; bars: {interval}", fontsize=9)
    return fig


def trajectories(suite, kpi: str = "grassroots_share", target: float | None = TARGET_SHARE, cols: int = 6):
    """The KPI by calendar year, one small panel per scenario, the baseline beside it (grey dashed).

    Lines: mean of the replicates; band: central 90% of the replicates; red dashed: the target.
    """
    from health_sim.experiments.compare import BASELINE, unit

    names = [n for n in suite.names if n != BASELINE] or suite.names
    rows = math.ceil(len(names) / cols)
    size = (2.6 * cols, 2.1 * rows + 0.6)
    fig, axes = plt.subplots(rows, cols, figsize=size, sharex=True, sharey=True, squeeze=False, layout="constrained")

    def band(a: pd.DataFrame):
        g = a.groupby("year")[kpi]
        return g.mean(), g.quantile(0.05), g.quantile(0.95)

    b = band(suite.annual[BASELINE]) if BASELINE in suite.annual else None
    for ax, name in zip(axes.flat, names, strict=False):
        m, lo, hi = band(suite.annual[name])
        if b is not None:
            ax.plot(b[0].index, b[0].values, color="grey", ls="--", lw=1.2, label="baseline")
        ax.fill_between(m.index, lo.values, hi.values, color="steelblue", alpha=0.25, lw=0)
        ax.plot(m.index, m.values, color="steelblue", lw=1.8, label="scenario")
        if target is not None:
            ax.axhline(target, color="crimson", ls=":", lw=1, label=f"target {target:.0%}")
        ax.set_title(name, fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    if _is_share(unit(kpi)):
        axes[0, 0].yaxis.set_major_formatter(_Percent())  # shared: every panel
    axes[0, 0].yaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]))
    for ax in axes[:, 0]:
        ax.set_ylabel(unit(kpi), fontsize=8)
    for ax in axes[-1, :]:
        ax.set_xlabel("year", fontsize=8)
    years = suite.years
    fig.suptitle(
        f"{kpi.replace('_', ' ')} by year, {min(years)}-{max(years)}: scenario (blue, band: central 90% of "
        f"{suite.replicates} replicates), baseline (grey dashed)"
        + (f", target {target:.0%} (red dotted)" if target else ""),
        fontsize=9,
    )
    return fig


def cost_bars(suite, kpis: tuple[str, ...], year: int | None = None):
    """What each scenario costs in ``year`` [default: the last], one panel per KPI.

    Bars from zero (mean of the replicates, whiskers: central 90% of them), the baseline's bar grey and its value a
    dashed line.
    """
    from health_sim.experiments.compare import BASELINE

    year = year if year is not None else max(suite.years)
    names = suite.names
    size = (3.6 * len(kpis), 0.25 * len(names) + 1.6)
    fig, axes = plt.subplots(1, len(kpis), figsize=size, sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    for ax, k in zip(axes, kpis, strict=True):
        div, label = _in_units(k)
        vals = [suite.annual[n].loc[suite.annual[n]["year"] == year, k].astype(float) / div for n in names]
        m = np.array([v.mean() for v in vals])
        lo = np.array([v.quantile(0.05) for v in vals])
        hi = np.array([v.quantile(0.95) for v in vals])
        y = np.arange(len(names))
        colours = ["grey" if n == BASELINE else "steelblue" for n in names]
        ax.barh(y, m, xerr=[m - lo, hi - m], color=colours, error_kw={"lw": 0.8})
        if BASELINE in names:
            ax.axvline(m[names.index(BASELINE)], color="black", ls="--", lw=0.8)
        ax.set_yticks(y, names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(left=0.0)
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
        ax.set_title(f"{k.replace('_', ' ')}, {year}", fontsize=9)
        ax.set_xlabel(label, fontsize=8)
    fig.suptitle(
        f"Costs in {year}: mean of {suite.replicates} replicates (whiskers: central 90% of them); grey: baseline",
        fontsize=9,
    )
    return fig
