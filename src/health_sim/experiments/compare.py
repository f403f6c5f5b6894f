"""Scenarios against the baseline: what the report (and the comparison notebook) read from a suite's outputs.

The suite (:mod:`health_sim.experiments.suite`) leaves one folder per scenario with its tables
(``annual.parquet``: one row per replicate and calendar year; ``township.parquet``; ``manifest.json``).
Replicate *r* of every scenario runs with the same seed (and the same posterior draw when an ensemble is
used), so a scenario and the baseline are compared replicate by replicate: the **paired difference**
removes the chance both share (common random numbers). Its interval here is a Student-t interval of
the mean paired difference over the replicates, and says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from health_sim.sim.kpis import KPIS

BASELINE = "baseline_2023"
"""The scenario every other is compared with."""

MAIN_KPIS = (
    "grassroots_share",
    "stay_home_share",
    "visits_per_resident",
    "upward_referrals",
    "mean_travel_minutes",
    "mean_wait_days",
    "satisfaction",
    "oop_per_visit",
    "oop_per_admission",
    "fund_spending",
    "doctor_days_sunk",
)
"""The KPIs whose change against the baseline the report shows (names of :data:`health_sim.sim.kpis.KPIS`)."""

COST_KPIS = ("doctor_days_sunk", "fund_spending", "oop_per_visit", "oop_per_admission")
"""What a scenario costs: doctors sent down, the insurance fund, patients per visit and per admission."""

LEVEL = 0.90
"""Coverage of every interval the report shows."""


def unit(kpi: str) -> str:
    """The unit of a KPI (or a KPI part, ``name.part``) from the KPI registry."""
    return KPIS[kpi.split(".")[0]].unit


@dataclass
class Suite:
    """A suite's outputs, scenario by scenario (each table as the scenario's run wrote it)."""

    root: Path
    annual: dict[str, pd.DataFrame] = field(default_factory=dict)
    township: dict[str, pd.DataFrame] = field(default_factory=dict)
    manifest: dict[str, dict] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Scenario names, the baseline first."""
        return sorted(self.annual, key=lambda n: (n != BASELINE, n))

    @property
    def years(self) -> list[int]:
        """Calendar years the baseline's run covers."""
        a = self.annual.get(BASELINE, next(iter(self.annual.values()), pd.DataFrame({"year": []})))
        return sorted(int(y) for y in a["year"].unique())

    @property
    def replicates(self) -> int:
        """Replicates per scenario (the fewest, if they differ)."""
        return min((int(a["replicate"].nunique()) for a in self.annual.values()), default=0)


def read_suite(out_root: str | Path, names: list[str] | None = None) -> Suite:
    """The scenario folders of ``out_root/scenarios`` that a finished scenario run wrote (``names``: only those)."""
    root = Path(out_root)
    suite = Suite(root)
    for folder in sorted((root / "scenarios").glob("*")):
        if names is not None and folder.name not in names:
            continue
        m = folder / "manifest.json"
        if not (m.is_file() and (folder / "annual.parquet").is_file()):
            continue
        manifest = json.loads(m.read_text(encoding="utf-8"))
        if manifest.get("written_by") != "scenario":
            continue
        suite.manifest[folder.name] = manifest
        suite.annual[folder.name] = pd.read_parquet(folder / "annual.parquet")
        if (folder / "township.parquet").is_file():
            suite.township[folder.name] = pd.read_parquet(folder / "township.parquet")
    return suite


def t_interval(x: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t ``level`` interval of the mean of ``x`` (NaN bounds with fewer than 2 values)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def interval_label(n: int, level: float = LEVEL) -> str:
    """What the paired intervals are, in words."""
    return (
        f"{level:.0%} Student-t interval of the mean paired difference (scenario minus baseline, replicate by "
        f"replicate under common random numbers), {n} replicates"
    )


def paired_differences(
    suite: Suite,
    kpis: tuple[str, ...] = MAIN_KPIS,
    year: int | None = None,
    level: float = LEVEL,
    baseline: str = BASELINE,
) -> pd.DataFrame:
    """Each scenario against ``baseline`` in ``year`` [default: the last year], KPI by KPI.

    One row per scenario and KPI: the baseline's and the scenario's mean, the mean paired difference with its
    ``level`` t-interval, the relative change (difference / baseline mean), and the number of paired replicates.
    """
    if baseline not in suite.annual:
        raise ValueError(f"{suite.root}: no {baseline} among the scenarios: nothing to compare with")
    year = year if year is not None else max(suite.years)
    base = suite.annual[baseline]
    base = base[base["year"] == year].set_index("replicate")
    rows = []
    for name in suite.names:
        if name == baseline:
            continue
        a = suite.annual[name]
        a = a[a["year"] == year].set_index("replicate")
        common = a.index.intersection(base.index)
        for k in kpis:
            if k not in a.columns or k not in base.columns:
                continue
            d = a.loc[common, k].to_numpy(float) - base.loc[common, k].to_numpy(float)
            m, lo, hi = t_interval(d, level)
            b = float(base.loc[common, k].mean())
            rows.append(
                {
                    "scenario": name,
                    "kpi": k,
                    "unit": unit(k),
                    "year": year,
                    "baseline": b,
                    "scenario_mean": float(a.loc[common, k].mean()),
                    "difference": m,
                    "lo": lo,
                    "hi": hi,
                    "relative": m / b if b else math.nan,
                    "replicates": int(np.isfinite(d).sum()),
                }
            )
    return pd.DataFrame(rows)


def first_year(suite: Suite, kpi: str, op, threshold: float) -> pd.DataFrame:
    """For each scenario, the first year whose mean over replicates meets ``op(kpi, threshold)``.

    With the share of replicates meeting it in that year and in the last year (NaN year: never within the run).
    """
    rows = []
    for name in suite.names:
        a = suite.annual[name]
        by = a.groupby("year")[kpi]
        means = by.mean()
        hit = [int(y) for y, v in means.items() if op(v, threshold)]
        y = hit[0] if hit else None
        last = int(means.index.max())
        rows.append(
            {
                "scenario": name,
                "first_year": y,
                "share_then": float(op(a.loc[a["year"] == y, kpi], threshold).mean()) if y else math.nan,
                "share_last_year": float(op(a.loc[a["year"] == last, kpi], threshold).mean()),
            }
        )
    return pd.DataFrame(rows)


def attainment(card: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scorecard as two scenario x target matrices.

    The probability of meeting the target (share of replicates, NaN where not judged) and the verdict (met, not met,
    not reachable by design, no value).
    """
    ok = card[card["status"] == "ok"]
    prob = ok.pivot(index="scenario", columns="target", values="share_met")
    verdict = ok.pivot(index="scenario", columns="target", values="verdict")
    order = sorted(prob.index, key=lambda n: (n != BASELINE, n))
    cols = list(dict.fromkeys(card["target"]))
    return prob.loc[order, cols], verdict.loc[order, cols]


def township_shares(suite: Suite, name: str, kpi: str = "grassroots_share") -> pd.Series:
    """A scenario's ``kpi`` by township of residence over its whole run, mean of its replicates (by township name)."""
    t = suite.township[name]
    return t.groupby("township")[kpi].mean()
