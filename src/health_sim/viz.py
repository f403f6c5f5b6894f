"""Figures for notebooks (seaborn). The model knows nothing of plotting; this module only
reads the tables that runs write."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .schema import LEVELS

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
    sns.barplot(data=township, x="township", y="grassroots_share", order=order, errorbar=("pi", 90), ax=ax, color="steelblue")
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


def save(fig, path: str | Path) -> Path:
    """Save a figure as a small PNG and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
