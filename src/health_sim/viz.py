"""Figures for notebooks (seaborn).

The model knows nothing of plotting; this module only reads the tables that runs write.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

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


def grassroots_over_time(daily: pd.DataFrame, ax=None, label: str | None = None, target: float = TARGET_SHARE):
    """Monthly grassroots share with a 90% band across replicates, and the target line."""
    ax = ax or plt.subplots(figsize=(8, 3.5))[1]
    m = monthly(daily)
    sns.lineplot(data=m, x="month", y="grassroots_share", errorbar=("pi", 90), ax=ax, label=label)
    ax.axhline(target, color="crimson", ls="--", lw=1, label=f"target {target:.0%}")
    ax.set(xlabel="", ylabel="grassroots share of visits", title="Grassroots share by month (band: 90% of replicates)")
    ax.legend(loc="best")
    return ax.figure


def visits_by_level(kpis: pd.DataFrame, ax=None):
    """Visits a year by level (mean and 90% interval across replicates)."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    cols = [f"visits_by_level.{lvl}" for lvl in LEVELS]
    long = kpis.melt(id_vars=["replicate"], value_vars=cols, var_name="level", value_name="visits")
    long["level"] = long["level"].str.replace("visits_by_level.", "", regex=False)
    sns.barplot(data=long, x="level", y="visits", errorbar=("pi", 90), ax=ax, order=list(LEVELS))
    ax.set(ylabel="visits per year (county)", xlabel="", title="Visits by level")
    return ax.figure


def township_shares(township: pd.DataFrame, ax=None, target: float = TARGET_SHARE):
    """Grassroots share by township of residence (mean and 90% interval across replicates)."""
    ax = ax or plt.subplots(figsize=(8, 3.5))[1]
    order = township.groupby("township")["grassroots_share"].mean().sort_values().index
    sns.barplot(
        data=township, x="township", y="grassroots_share", order=order, errorbar=("pi", 90), ax=ax, color="steelblue"
    )
    ax.axhline(target, color="crimson", ls="--", lw=1)
    ax.set(xlabel="", ylabel="grassroots share", title="Grassroots share by township")
    ax.tick_params(axis="x", rotation=45)
    return ax.figure


def costs(annual: pd.DataFrame):
    """Out-of-pocket cost per visit and fund spending by year."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    sns.lineplot(data=annual, x="year", y="oop_per_visit", errorbar=("pi", 90), marker="o", ax=axes[0])
    axes[0].set(ylabel="yuan per visit", title="Out-of-pocket per visit")
    a = annual.assign(fund_million=annual["fund_spending"] / 1e6)
    sns.lineplot(data=a, x="year", y="fund_million", errorbar=("pi", 90), marker="o", ax=axes[1])
    axes[1].set(ylabel="million yuan per year", title="Insurance fund spending")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig


def _short(factor: str) -> str:
    """Drop ``policies.``: policies.stationed.doctors_per_year_county -> stationed.doctors_per_year_county."""
    return factor.removeprefix("policies.")


def sobol_bars(indices: dict[str, pd.DataFrame]):
    """Tornado of Sobol indices: first-order (S1) and total (ST) with their intervals.

    One panel per KPI, factors sorted by total effect.
    """
    fig, axes = plt.subplots(
        1, len(indices), figsize=(5 * len(indices), 0.5 * len(next(iter(indices.values()))) + 1.5), squeeze=False
    )
    for ax, (kpi, si) in zip(axes[0], indices.items(), strict=True):
        si = si.sort_values("ST")
        y = range(len(si))
        ax.barh([i + 0.2 for i in y], si["ST"], height=0.4, xerr=si["ST_conf"], label="total (ST)", color="steelblue")
        ax.barh(
            [i - 0.2 for i in y], si["S1"], height=0.4, xerr=si["S1_conf"], label="first-order (S1)", color="orange"
        )
        ax.set_yticks(list(y), [_short(f) for f in si.index])
        ax.set(xlabel="share of variance", title=kpi)
        ax.axvline(0, color="grey", lw=0.8)
    axes[0][0].legend(loc="lower right")
    fig.tight_layout()
    return fig


def morris_bars(indices: dict[str, pd.DataFrame]):
    """Morris screening: mu* (mean absolute elementary effect) with its interval, and sigma.

    Sigma: interactions and non-linearity. One panel per KPI.
    """
    fig, axes = plt.subplots(
        1, len(indices), figsize=(5 * len(indices), 0.5 * len(next(iter(indices.values()))) + 1.5), squeeze=False
    )
    for ax, (kpi, m) in zip(axes[0], indices.items(), strict=True):
        m = m.sort_values("mu_star")
        y = range(len(m))
        ax.barh([i + 0.2 for i in y], m["mu_star"], height=0.4, xerr=m["mu_star_conf"], label="mu*", color="seagreen")
        ax.barh([i - 0.2 for i in y], m["sigma"], height=0.4, label="sigma", color="grey")
        ax.set_yticks(list(y), [_short(f) for f in m.index])
        ax.set(xlabel=f"effect on {kpi} over the factor's range", title=kpi)
    axes[0][0].legend(loc="lower right")
    fig.tight_layout()
    return fig


def prim_box(discovery):
    """The PRIM box: each factor's range in the box (dark) within its sweep range (light).

    Scaled to [0, 1], with the box's limits written at its ends.
    """
    b = discovery.box
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(b) + 1.5))
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
        xlabel="share of the sweep's range",
        title=(
            f"Where {' and '.join(discovery.targets)} hold\ndensity {discovery.density:.0%}, coverage "
            f"{discovery.coverage:.0%}, mass {discovery.mass:.0%}"
        ),
    )
    fig.tight_layout()
    return fig


def peeling(discovery, ax=None):
    """PRIM's peeling trajectory: coverage against density of each candidate box.

    Coloured by the number of factors it restricts; the chosen box circled.
    """
    ax = ax or plt.subplots(figsize=(6, 4))[1]
    t = discovery.trajectory
    sns.scatterplot(data=t, x="coverage", y="density", hue="res_dim", palette="viridis", ax=ax)
    c = t[t["chosen"]]
    ax.scatter(c["coverage"], c["density"], s=200, facecolors="none", edgecolors="crimson", label="chosen")
    ax.axhline(discovery.min_density, color="crimson", ls="--", lw=1)
    ax.set(
        title="Peeling trajectory",
        xlabel="coverage (share of successes in the box)",
        ylabel="density (probability in the box)",
    )
    ax.legend(loc="lower left", fontsize=8)
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
    ax.legend(loc="best", fontsize=8)
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
        label="simulated (90% interval)",
    )
    ax.scatter([1.0] * len(check), y, marker="x", color="crimson", zorder=3, label="observed")
    ax.set_yticks(list(y), check["figure"])
    ax.set(xlabel="relative to the observed value", title="Calibration: observed against simulated")
    ax.legend(loc="lower right", fontsize="small")
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
    ax.set(
        xlim=(-0.02, 1.02),
        xlabel="position in the prior range",
        title=f"Identification: draws (dots), {centre} (diamond); (narrowed)",
    )
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
        label="model",
    )
    ax.scatter(check["observed_change"], y, marker="x", color="crimson", zorder=3, label="observed")
    ax.set_yticks(list(y), check["kpi"])
    ax.axvline(0, color="grey", lw=0.8)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:+.0%}"))
    ax.set(xlabel="change 2022 -> 2023", title="Dynamic check")
    ax.legend(loc="lower right", fontsize="small")
    return ax.figure


def national_trend(
    trend: pd.DataFrame,
    model: pd.DataFrame | None = None,
    ax=None,
    yangshan: float = 0.671,
    label: str = "model baseline (no new lever)",
):
    """The national grassroots share by year, Yangshan's 2023 share and the model's run (mean, 90% band)."""
    ax = ax or plt.subplots(figsize=(8, 3.5))[1]
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
    ax.set(ylabel="grassroots share of visits", xlabel="", title="Grassroots share: China against the model's county")
    ax.legend(loc="best", fontsize="small")
    return ax.figure


def evidence(table: pd.DataFrame, cols: int = 4):
    """One small panel per compared item: published value (interval if given) and the model's (90% interval)."""
    import math

    import numpy as np

    t = table[table["model"].notna()].reset_index(drop=True)
    rows = math.ceil(len(t) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 1.5 * rows), squeeze=False)
    for ax, r in zip(axes.flat, t.itertuples(), strict=False):
        lo = r.low if r.low == r.low and r.low is not None else r.published
        hi = r.high if r.high == r.high and r.high is not None else r.published
        ax.errorbar(
            [r.published], [1], xerr=[[r.published - lo], [hi - r.published]], fmt="x", color="crimson", capsize=3
        )
        ax.errorbar(
            [r.model], [0], xerr=[[r.model - r.model_lo], [r.model_hi - r.model]], fmt="o", color="steelblue", capsize=3
        )
        ax.set_yticks([0, 1], ["model", "published"])
        ax.set_ylim(-0.7, 1.7)
        ax.set_title(f"{r.id[:34]}\n{r.verdict}", fontsize=8)
        ax.tick_params(labelsize=7)
        span = np.array(
            [lo, hi, r.model_lo, r.model_hi, 0.0] if r.lever != "aggregate" else [lo, hi, r.model_lo, r.model_hi]
        )
        pad = 0.1 * (span.max() - span.min() or 1.0)
        ax.set_xlim(span.min() - pad, span.max() + pad)
        ax.axvline(0, color="grey", lw=0.6)
    for ax in list(axes.flat)[len(t) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig
