"""Policy targets (params/targets.yaml) and scoring runs against them.

A target names a KPI, a comparison, a threshold, the calendar year by which it should
hold (none: the last year of the run) and its source. Scoring uses the KPIs of each
calendar year (``annual.parquet``), one row per replicate.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, field_validator

from health_sim.config.messages import validate_file
from health_sim.core.fields import P, Section
from health_sim.sim.kpis import KPIS

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


def score(annual: pd.DataFrame, targets: list[Target], level: float = 0.90) -> pd.DataFrame:
    """Judge each target on an ``annual`` table (one row per replicate and year).

    Returns one row per target: the KPI mean across replicates, its ``level`` interval
    (central, across replicates), whether the mean meets the target, and the share of
    replicates that meet it. A target whose year the run does not cover gets NaN.
    """
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    rows = []
    for t in targets:
        year = t.year if t.year is not None else int(annual["year"].max())
        values = annual.loc[annual["year"] == year, t.kpi] if t.kpi in annual.columns else pd.Series(dtype=float)
        values = values.astype(float).dropna()
        row = {
            "target": t.name,
            "kpi": t.kpi,
            "op": t.op,
            "threshold": t.threshold,
            "year": year,
            "replicates": len(values),
        }
        if len(values):
            ok = OPS[t.op](values, t.threshold)
            mean = float(values.mean())
            row |= {
                "mean": mean,
                "lo": float(values.quantile(lo_q)),
                "hi": float(values.quantile(hi_q)),
                "met": bool(OPS[t.op](mean, t.threshold)),
                "share_met": float(ok.mean()),
            }
        else:
            row |= {"mean": np.nan, "lo": np.nan, "hi": np.nan, "met": None, "share_met": np.nan}
        row["source"] = t.source
        rows.append(row)
    return pd.DataFrame(rows)
