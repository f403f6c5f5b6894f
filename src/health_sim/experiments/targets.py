"""Policy targets (params/targets.yaml) and scoring runs against them.

A target names a KPI, a comparison, a threshold, the calendar year by which it should
hold (none: the last year of the run) and its source. Scoring uses the KPIs of each
calendar year (``annual.parquet``), one row per replicate.
"""

from __future__ import annotations

import datetime as dt
import operator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, field_validator

from health_sim.config.messages import validate_file
from health_sim.core.fields import P, Section
from health_sim.policies.registry import LEVER_NAMES, PolicyParams
from health_sim.sim.kpis import KPIS

LEVER_FIELDS = {name: set(f.annotation.model_fields) for name, f in PolicyParams.model_fields.items()}
"""The fields of each lever, by lever name."""
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


class Target(Section):
    """One policy target: a KPI, a comparison with a threshold, the year by which it must hold, its source."""

    name: str = P(..., "Short name of the target.")
    kpi: str = P(..., "KPI it is judged on (see `health-sim kpis`; parts as name.part).")
    op: Literal[">=", "<=", ">", "<"] = P(">=", "Comparison of the KPI with the threshold.")
    threshold: float = P(..., "Value the KPI must reach.", unit="the KPI's unit")
    year: int | None = P(
        None,
        "Calendar year by which it must hold (judged on that year's KPI); none: the last year of the run.",
        unit="year",
        ge=2000,
        le=2100,
    )
    source: str = P(..., "Where the target comes from.")
    window_years: int | None = P(
        None,
        "Years the KPI looks back by its definition (e.g. 5 for 'at least once in 5 years'): the target can only be "
        "met when the run and its lever cover that many years up to the target year.",
        unit="years",
        ge=1,
        le=50,
    )
    lever: str | None = P(
        None,
        "What opens the window: a lever (a name under `policies`), or one of its fields as lever.field (the window "
        "opens on the first day the lever acts with that field above zero). Before it the KPI cannot count.",
    )

    @field_validator("lever")
    @classmethod
    def _lever(cls, v: str | None) -> str | None:
        if v is None:
            return v
        name, _, fld = v.partition(".")
        if name not in LEVER_NAMES:
            raise ValueError(f"unknown lever '{name}' (one of {', '.join(LEVER_NAMES)})")
        if fld and fld not in LEVER_FIELDS[name]:
            raise ValueError(f"lever '{name}' has no field '{fld}'")
        return v

    @field_validator("kpi")
    @classmethod
    def _known(cls, v: str) -> str:
        import difflib

        base = v.split(".")[0]
        if base not in KPIS:
            close = difflib.get_close_matches(base, list(KPIS), n=1)
            raise ValueError(f"unknown KPI '{v}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        k = KPIS[base]
        if k.parts and (v.count(".") != 1 or v.split(".")[1] not in k.parts):
            raise ValueError(f"KPI '{base}' has parts {', '.join(k.parts)}: write {base}.PART")
        return v


class Targets(BaseModel):
    """A targets file (params/targets.yaml): at least one target, names unique."""

    model_config = Section.model_config
    targets: list[Target] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique(cls, v: list[Target]) -> list[Target]:
        names = [t.name for t in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"target names must be unique ('{dup[0]}' repeats)")
        return v


def load_targets(path: str | Path = "params/targets.yaml") -> list[Target]:
    """Read and validate a targets file; bad input raises ParamsError with one line."""
    return validate_file(Targets, Path(path)).targets


VERDICTS = ("met", "not met", "not reachable by design", "no value")
"""What the scorecard says of a scenario and a target, in this order of reading."""


def opens(params, lever: str) -> dt.date | None:
    """The first day ``lever`` (a lever, or lever.field) acts in ``params`` (with the field above zero); None: never."""
    name, _, fld = lever.partition(".")
    lv = getattr(params.policies, name)
    if not lv.enabled:
        return None
    if not fld:
        return lv.acts_from
    before = lv.at(lv.acts_from) if lv.acts_from < lv.start else None
    if before is not None and float(getattr(before, fld)) > 0:
        return lv.acts_from
    return lv.start if float(getattr(lv, fld)) > 0 else None


def unreachable(t: Target, years: list[int], params=None) -> str:
    """Why ``t`` cannot be met in a run covering ``years`` (calendar years) by its design, or "" if it can.

    ``params``: the scenario's parameters (a Params), to find when the target's lever opens its window
    (:func:`opens`). A target judged in a year the run does not reach, or whose look-back window (``window_years``)
    starts before the run or before its lever acts, is not a failure of the policy but of the question asked of
    this run.
    """
    if not years:
        return ""
    year = t.year if t.year is not None else max(years)
    if year not in years:
        return f"judged in {year}, the run covers {min(years)}-{max(years)}"
    if t.window_years:
        first = year - t.window_years + 1
        if first < min(years):
            return f"needs {t.window_years} years ({first}-{year}); the run starts in {min(years)}"
        since = opens(params, t.lever) if t.lever and params is not None else None
        if since is not None and since.year > first:
            return f"needs {t.window_years} years of {t.lever} ({first}-{year}); it acts from {since.isoformat()}"
    return ""


def score(
    annual: pd.DataFrame,
    targets: list[Target],
    level: float = 0.90,
    params=None,
) -> pd.DataFrame:
    """Judge each target on an ``annual`` table (one row per replicate, or replicate x ensemble draw, and year).

    Returns one row per target: the KPI mean across replicates, its ``level`` interval (central quantiles of the
    replicates' values), whether the mean meets the target, the share of replicates that meet it (the probability
    the report shows), and a ``verdict`` (one of :data:`VERDICTS`) with its ``reason``. A target whose year the run
    does not cover, or whose window the run or its lever cannot fill (:func:`unreachable`), is "not reachable by
    design" with NaN values.
    """
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    years = sorted(int(y) for y in annual["year"].unique()) if "year" in annual.columns else []
    rows = []
    for t in targets:
        year = t.year if t.year is not None else (max(years) if years else None)
        row = {
            "target": t.name,
            "kpi": t.kpi,
            "op": t.op,
            "threshold": t.threshold,
            "year": year,
        }
        why = unreachable(t, years, params)
        values = annual.loc[annual["year"] == year, t.kpi] if t.kpi in annual.columns and not why else None
        values = values.astype(float).dropna() if values is not None else pd.Series(dtype=float)
        row["replicates"] = len(values)
        if len(values):
            ok = OPS[t.op](values, t.threshold)
            mean = float(values.mean())
            met = bool(OPS[t.op](mean, t.threshold))
            row |= {
                "mean": mean,
                "lo": float(values.quantile(lo_q)),
                "hi": float(values.quantile(hi_q)),
                "met": met,
                "share_met": float(ok.mean()),
                "verdict": "met" if met else "not met",
                "reason": "",
            }
        else:
            row |= {"mean": np.nan, "lo": np.nan, "hi": np.nan, "met": None, "share_met": np.nan}
            row |= (
                {"verdict": "not reachable by design", "reason": why}
                if why
                else {"verdict": "no value", "reason": f"{t.kpi} has no value in {year}"}
            )
        row["source"] = t.source
        rows.append(row)
    return pd.DataFrame(rows)
