"""Analyses of a sweep's results table: global sensitivity (SALib).

Both read the table ``health-sim sweep`` writes (one row per run) and the sweep file that
made it, average the replicates of each point (common random numbers make the average
the policy's effect on the same residents), and hand the per-point KPI to SALib.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .sweep import SweepSpec, design_points, salib_problem


def _point_means(table: pd.DataFrame, spec: SweepSpec, kpi: str) -> np.ndarray:
    ok = table[table["status"] == "ok"]
    means = ok.groupby("point")[kpi].mean()
    n = len(design_points(spec))
    missing = sorted(set(range(n)) - set(means.index))
    if missing:
        raise ValueError(f"{len(missing)} of {n} points have no successful run (first: point {missing[0]}); rerun the sweep to retry them")
    return means.sort_index().to_numpy(dtype=float)


def sobol_indices(table: pd.DataFrame, spec: SweepSpec, kpi: str, conf_level: float = 0.95) -> pd.DataFrame:
    """First-order and total Sobol indices of ``kpi`` with confidence intervals (a sobol design)."""
    from SALib.analyze import sobol

    if spec.design.method != "sobol":
        raise ValueError(f"Sobol indices need a sobol design, not {spec.design.method}")
    y = _point_means(table, spec, kpi)
    si = sobol.analyze(salib_problem(spec), y, calc_second_order=False, conf_level=conf_level, seed=spec.seed)
    return pd.DataFrame({"S1": si["S1"], "S1_conf": si["S1_conf"], "ST": si["ST"], "ST_conf": si["ST_conf"]}, index=pd.Index(list(spec.factors), name="factor"))


def morris_indices(table: pd.DataFrame, spec: SweepSpec, kpi: str, conf_level: float = 0.95) -> pd.DataFrame:
    """Morris screening of ``kpi``: mu* (mean absolute elementary effect) with its interval, and sigma."""
    from SALib.analyze import morris

    if spec.design.method != "morris":
        raise ValueError(f"Morris screening needs a morris design, not {spec.design.method}")
    pts = design_points(spec)
    x = pts[list(spec.factors)].to_numpy(dtype=float)
    y = _point_means(table, spec, kpi)
    si = morris.analyze(salib_problem(spec), x, y, conf_level=conf_level, num_levels=spec.design.morris_levels, seed=spec.seed)
    return pd.DataFrame({"mu_star": si["mu_star"], "mu_star_conf": si["mu_star_conf"], "mu": si["mu"], "sigma": si["sigma"]}, index=pd.Index(list(spec.factors), name="factor"))
