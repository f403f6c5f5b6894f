"""Analyses of a sweep's results table: global sensitivity (SALib) and scenario discovery (PRIM).

All read the table ``health-sim sweep`` writes (one row per run). The sensitivity indices
also need the sweep file that made it; they average the replicates of each point (common
random numbers make the average the policy's effect on the same residents) and hand the
per-point KPI to SALib. Discovery works on the runs themselves, so a box's density is the
probability that a run in it meets the targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from health_sim.experiments.sweep import SweepSpec, design_points, salib_problem


def _point_means(table: pd.DataFrame, spec: SweepSpec, kpi: str) -> np.ndarray:
    ok = table[table["status"] == "ok"]
    means = ok.groupby("point")[kpi].mean()
    n = len(design_points(spec))
    missing = sorted(set(range(n)) - set(means.index))
    if missing:
        raise ValueError(
            f"{len(missing)} of {n} points have no successful run (first: point {missing[0]}); rerun the sweep to "
            "retry them"
        )
    return means.sort_index().to_numpy(dtype=float)


def sobol_indices(table: pd.DataFrame, spec: SweepSpec, kpi: str, conf_level: float = 0.95) -> pd.DataFrame:
    """First-order and total Sobol indices of ``kpi`` with confidence intervals (a sobol design)."""
    from SALib.analyze import sobol

    if spec.design.method != "sobol":
        raise ValueError(f"Sobol indices need a sobol design, not {spec.design.method}")
    y = _point_means(table, spec, kpi)
    si = sobol.analyze(salib_problem(spec), y, calc_second_order=False, conf_level=conf_level, seed=spec.seed)
    return pd.DataFrame(
        {"S1": si["S1"], "S1_conf": si["S1_conf"], "ST": si["ST"], "ST_conf": si["ST_conf"]},
        index=pd.Index(list(spec.factors), name="factor"),
    )


def morris_indices(table: pd.DataFrame, spec: SweepSpec, kpi: str, conf_level: float = 0.95) -> pd.DataFrame:
    """Morris screening of ``kpi``: mu* (mean absolute elementary effect) with its interval, and sigma."""
    from SALib.analyze import morris

    if spec.design.method != "morris":
        raise ValueError(f"Morris screening needs a morris design, not {spec.design.method}")
    pts = design_points(spec)
    x = pts[list(spec.factors)].to_numpy(dtype=float)
    y = _point_means(table, spec, kpi)
    si = morris.analyze(
        salib_problem(spec), x, y, conf_level=conf_level, num_levels=spec.design.morris_levels, seed=spec.seed
    )
    return pd.DataFrame(
        {"mu_star": si["mu_star"], "mu_star_conf": si["mu_star_conf"], "mu": si["mu"], "sigma": si["sigma"]},
        index=pd.Index(list(spec.factors), name="factor"),
    )


@dataclass
class Discovery:
    """A PRIM box: the factor ranges in which the runs meet the targets with high probability.

    ``box``: one row per factor, its range in the box (``low``, ``high``), its range in the
    sweep (``sweep_low``, ``sweep_high``), for a text factor the values the box keeps
    (``values``), whether the box restricts it and PRIM's quasi-p value of the restriction.
    Dates are in days since 1970-01-01. ``density`` is the share of runs in the box that meet the
    targets (the probability, over replicates and the box's ranges), ``coverage`` the share
    of all runs that meet them that fall in the box, ``mass`` the share of runs in the box.
    ``trajectory``: the peeling trajectory (coverage, density, mass, restricted dimensions
    of each candidate box), the chosen one flagged.
    """

    targets: list[str]
    min_density: float
    box: pd.DataFrame
    density: float
    coverage: float
    mass: float
    runs: int
    share_meeting: float
    trajectory: pd.DataFrame


def _prim_inputs(x: pd.DataFrame) -> pd.DataFrame:
    """Factors as PRIM takes them: numbers as floats, dates as days since 1970-01-01, text as categories.

    A text factor is, for example, a dispatch mode.
    """
    out = {}
    for c in x.columns:
        col = x[c]
        try:
            out[c] = col.astype(float)
            continue
        except (TypeError, ValueError):
            pass
        dates = pd.to_datetime(col, errors="coerce")
        if dates.notna().all():
            out[c] = (dates - pd.Timestamp("1970-01-01")).dt.days.astype(float)
        else:
            out[c] = col.astype(str).astype("category")
    return pd.DataFrame(out)


def discover(
    table: pd.DataFrame, targets: list[str], min_density: float = 0.9, mass_min: float = 0.05, peel_alpha: float = 0.05
) -> Discovery:
    """PRIM scenario discovery (the EMA Workbench's implementation) on a sweep's runs.

    ``targets``: target names (the sweep's ``met:<name>`` columns); a run is of interest
    when it meets all of them. Every successful run is a case, its factors the inputs.
    The box chosen is the one of largest coverage whose density (the share of its runs
    meeting the targets) is at least ``min_density``; if no box on the peeling trajectory
    is that dense, the densest one, and ``density`` says so.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the workbench warns about optional parallel back-ends
        from ema_workbench.analysis import prim

    ok = table[table["status"] == "ok"]
    cols = [f"met:{t}" for t in targets]
    missing = [c for c in cols if c not in ok.columns]
    if missing:
        raise ValueError(f"the sweep did not record {missing[0]}: add the target to its targets list")
    ok = ok.dropna(subset=cols)
    if ok.empty:
        raise ValueError("no successful run covers the targets' years")
    factors = [c for c in ok.columns if c.startswith("factor:")]
    x = _prim_inputs(ok[factors].rename(columns=lambda c: c.removeprefix("factor:")).reset_index(drop=True))
    y = (ok[cols] == 1.0).all(axis=1).to_numpy()
    if y.all() or not y.any():
        raise ValueError(
            f"{int(y.sum())} of {len(y)} runs meet the targets: nothing to discover (widen the ranges or move the "
            "targets)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecations inside the workbench, not ours to fix
        box = prim.Prim(x, y, mass_min=mass_min, peel_alpha=peel_alpha).find_box()
    traj = box.peeling_trajectory[["coverage", "density", "mass", "res_dim"]].copy()
    dense = traj.index[traj["density"] >= min_density]
    # most coverage among the dense enough boxes (on a tie, the denser); else the densest
    pick = (
        int(traj.loc[dense].sort_values(["coverage", "density"]).index[-1])
        if len(dense)
        else int(traj["density"].idxmax())
    )
    traj["chosen"] = traj.index == pick
    box.select(pick)
    stats = traj.loc[pick]
    lim, init = box.box_lims[pick], box.box_lims[0]
    try:  # PRIM's quasi-p values of the restrictions (the workbench cannot compute them with text factors)
        qps = box.inspect(pick, style="data")[0][1]
    except (TypeError, ValueError):
        qps = pd.DataFrame()
    rows = []
    for f in x.columns:
        qp = qps.loc[f].iloc[2:].dropna() if f in qps.index else pd.Series(dtype=float)
        restricted = any(lim.loc[i, f] != init.loc[i, f] for i in (0, 1))
        row = {"factor": f, "restricted": restricted, "qp": float(qp.astype(float).max()) if len(qp) else np.nan}
        if isinstance(x[f].dtype, pd.CategoricalDtype):  # a text factor: the values the box keeps
            row |= {
                "low": np.nan,
                "high": np.nan,
                "sweep_low": np.nan,
                "sweep_high": np.nan,
                "values": ", ".join(sorted(map(str, lim.loc[0, f]))),
            }
        else:
            row |= {
                "low": float(lim.loc[0, f]),
                "high": float(lim.loc[1, f]),
                "sweep_low": float(x[f].min()),
                "sweep_high": float(x[f].max()),
                "values": "",
            }
        rows.append(row)
    out = pd.DataFrame(rows).set_index("factor")[
        ["low", "high", "sweep_low", "sweep_high", "values", "restricted", "qp"]
    ]
    return Discovery(
        list(targets),
        min_density,
        out,
        float(stats["density"]),
        float(stats["coverage"]),
        float(stats["mass"]),
        len(y),
        float(y.mean()),
        traj,
    )
