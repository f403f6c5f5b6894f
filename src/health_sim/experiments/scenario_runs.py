"""Replicated runs of a scenario under common random numbers, as tables.

Replicate ``r`` of every scenario uses the same seed (spawned from one SeedSequence), so
the difference between two scenarios' replicate r is the policy's effect on the same
residents with the same illnesses and draws; intervals come from the spread across
replicates.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from health_sim.config.params import load_params, with_overrides
from health_sim.config.schema import Params
from health_sim.experiments.ensemble import Ensemble, load_ensemble
from health_sim.experiments.outdir import write_dir
from health_sim.experiments.runner import run
from health_sim.sim.kpis import KPIS

SCALE_ENV = "HEALTH_SIM_SCALE"
"""Environment variable that, when set, overrides the scale of notebooks and suites (CI uses it)."""


SMOKE_ENV = "HEALTH_SIM_SMOKE"
"""Environment variable that, when set to 1, makes the notebooks run their smallest designs
(few points, replicates and trials: a check that they work, not an answer; the tests set it)."""


def smoke() -> bool:
    """Whether the notebooks should run their smallest designs (HEALTH_SIM_SMOKE=1)."""
    return os.environ.get(SMOKE_ENV, "") == "1"


def scratch(name: str) -> Path | None:
    """A fresh temporary folder for a notebook's sweep or study when the smallest designs run (HEALTH_SIM_SMOKE=1).

    So that a test never resumes the leftovers of an earlier model; None otherwise (the default
    folder under outputs/, which resumes).
    """
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"health_sim-{name}-")) if smoke() else None


_TYPES = {"str": (str,), "float": (int, float), "int": (int,), "bool": (bool,), "dict": (dict,), "list": (list, tuple)}


def check_parameters(notebook: str) -> None:
    """In a notebook that papermill runs: refuse a parameter the notebook does not take, or one of the wrong type.

    The refusal is one line naming it and the valid ones (papermill itself only warns, and the
    notebook would run its defaults). Does nothing outside papermill.

    ``notebook``: the notebook's path relative to the repository root, e.g.
    ``notebooks/scenario.ipynb``; its ``parameters`` cell is the list of what it takes.
    """
    import ast
    import difflib

    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - always there in a kernel
        return
    ip = get_ipython()
    injected = [
        src for src in (ip.user_ns.get("_ih", []) if ip is not None else []) if src.startswith("# Parameters\n")
    ]
    if not injected:
        return
    import papermill as pm

    from health_sim.core.errors import ParamsError, short
    from health_sim.core.paths import repo_root

    known = pm.inspect_notebook(str(repo_root() / notebook))
    for src in injected:
        for node in ast.parse(src).body:
            for target in getattr(node, "targets", []):
                name = getattr(target, "id", None)
                if name is None:
                    continue
                if name not in known:
                    close = difflib.get_close_matches(name, list(known), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise ParamsError(
                        f"{notebook}: parameter '{short(name, 40)}' is not known{hint}; it takes {', '.join(known)}"
                    )
                want = _TYPES.get(known[name]["inferred_type_name"])
                value = ip.user_ns.get(name)
                if want and (not isinstance(value, want) or (isinstance(value, bool) and bool not in want)):
                    raise ParamsError(
                        f"{notebook}: parameter {name}: {short(value, 40)} is not of type "
                        f"{known[name]['inferred_type_name']}"
                    )


def replicate_seeds(seed: int, n: int) -> list[int]:
    """Seeds of replicates 0..n-1, spawned from ``SeedSequence(seed)``; the same for every scenario."""
    children = np.random.SeedSequence(seed).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def scale_or_env(scale: float) -> float:
    """``scale``, unless the environment variable HEALTH_SIM_SCALE gives another one."""
    env = os.environ.get(SCALE_ENV)
    return float(env) if env else float(scale)


def flatten(kpis: dict) -> dict:
    """KPIs with parts as ``name.part`` keys."""
    out = {}
    for k, v in kpis.items():
        if isinstance(v, dict):
            out.update({f"{k}.{p}": x for p, x in v.items()})
        else:
            out[k] = v
    return out


def summarise(kpis: pd.DataFrame, level: float = 0.90) -> pd.DataFrame:
    """Mean and central ``level`` interval of each KPI across replicates (one row per KPI, with its unit)."""
    cols = [c for c in kpis.columns if c not in ("replicate", "seed", "member")]
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    k = kpis[cols].astype(float)
    units = [KPIS[c.split(".")[0]].unit if c.split(".")[0] in KPIS else "" for c in cols]
    return pd.DataFrame(
        {"unit": units, "mean": k.mean(), "lo": k.quantile(lo), "hi": k.quantile(hi)}, index=cols
    ).rename_axis("kpi")


@dataclass
class Replicates:
    """Tables of a replicated scenario, each with a ``replicate`` column."""

    name: str
    params: Params
    seeds: list[int]
    kpis: pd.DataFrame  # one row per replicate
    daily: pd.DataFrame
    township: pd.DataFrame
    annual: pd.DataFrame
    capability: pd.DataFrame
    ensemble: str = ""  # the calibrated file the replicates drew their parameters from ("" : the scenario's values)

    def write(self, out_dir: str | Path, extra: dict | None = None, *, force: bool = False) -> Path:
        """Write the tables (parquet), a manifest and any ``extra`` files (name -> writer(path)) into ``out_dir`` whole.

        A folder holding anything but an earlier scenario output is refused
        (:class:`health_sim.experiments.outdir.OutputRefused`) unless ``force``.
        """
        from health_sim.config.params import params_hash
        from health_sim.experiments.runner import provenance

        files = {
            f"{n}.parquet": partial(getattr(self, n).to_parquet, index=False)
            for n in ("kpis", "daily", "township", "annual", "capability")
        }
        manifest = {
            "written_by": "scenario",
            "scenario": self.name,
            **provenance(),
            "seeds": [int(s) for s in self.seeds],
            "scale": self.params.run.scale,
            "days": self.params.run.days,
            "params_sha256": params_hash(self.params),
        }
        if self.ensemble:
            manifest["ensemble"] = self.ensemble
        if "member" in self.kpis:
            manifest["ensemble_members"] = [int(m) for m in self.kpis["member"]]
        files["manifest.json"] = lambda p: p.write_text(
            json.dumps(manifest, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        files |= extra or {}
        return write_dir(Path(out_dir), files, "scenario", force=force)


def run_replicates(
    scenario: str | Path | Params,
    replicates: int = 3,
    seed: int = 20230101,
    scale: float | None = None,
    days: int | None = None,
    overrides: dict | None = None,
    progress: bool = False,
    seeds: list[int] | None = None,
    ensemble: str | Path | Ensemble | None = None,
) -> Replicates:
    """Run ``replicates`` replicates of a scenario (a params file or Params).

    ``overrides`` (dotted keys) win over ``scale`` and ``days``; ``seeds``, if given, are
    the replicates' seeds (instead of those spawned from ``seed``). ``ensemble``: a
    calibrated file (or Ensemble) whose members the replicates draw their calibrated
    parameters from (:mod:`health_sim.experiments.ensemble`), so that intervals carry parameter
    uncertainty; the kpis table then has a ``member`` column (the member's trial number),
    and ``overrides`` still win.
    """
    from health_sim.core.errors import ParamsError

    n = len(seeds) if seeds else replicates
    if not 1 <= n <= 1000:
        raise ParamsError(f"replicates: {n} is outside [1, 1000]")
    if seeds and any(not 0 <= int(s) < 2**63 for s in seeds):
        raise ParamsError("seeds: each must be in [0, 2**63)")
    if not 0 <= seed < 2**63:
        raise ParamsError(f"seed: {seed} is outside [0, 2**63)")
    if isinstance(scenario, Params):
        params, name = scenario, "scenario"
    else:
        params, name = load_params(scenario), Path(scenario).stem
    over = {}
    if scale is not None:
        over["run.scale"] = scale
    if days is not None:
        over["run.days"] = days
    over |= dict(overrides or {})
    if over:
        params = with_overrides(params, over)
        if overrides:
            from health_sim.config.params import warn_levers

            warn_levers(params, [("overrides", {tuple(k.split(".")) for k in overrides})])
    seeds = [int(s) for s in seeds] if seeds else replicate_seeds(seed, replicates)
    if ensemble is not None and not isinstance(ensemble, Ensemble):
        ensemble = load_ensemble(ensemble)
    members = ensemble.overrides(len(seeds), seed) if ensemble is not None else [(None, {})] * len(seeds)
    tables: dict[str, list] = {k: [] for k in ("kpis", "daily", "township", "annual", "capability")}
    for r, (s, (trial, values)) in enumerate(zip(seeds, members, strict=True)):
        p = with_overrides(params, {**values, **over}) if values else params
        res = run(p, seed=s, progress=progress)
        tables["kpis"].append(
            pd.DataFrame(
                [{"replicate": r, "seed": s, **({"member": trial} if trial is not None else {}), **flatten(res.kpis)}]
            )
        )
        for k in ("daily", "township", "annual", "capability"):
            df = getattr(res, k).copy()
            df.insert(0, "replicate", r)
            tables[k].append(df)
    tables = {k: pd.concat(v, ignore_index=True) for k, v in tables.items()}
    used = ensemble.path.as_posix() if ensemble is not None else ""
    return Replicates(name, params, seeds, **tables, ensemble=used)
