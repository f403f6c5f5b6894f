"""Running a model to the end and writing its outputs."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from health_sim.config.params import params_hash, to_yaml, with_overrides
from health_sim.config.schema import Params
from health_sim.experiments.outdir import write_dir
from health_sim.sim.model import HealthSystemModel


@dataclass
class RunResult:
    """What a run produced: its KPIs and tables.

    KPIs (name -> value), a row a day, a row per township, a row per calendar year, and the
    township centres' capability day by day.
    """

    kpis: dict
    daily: pd.DataFrame
    township: pd.DataFrame
    annual: pd.DataFrame
    capability: pd.DataFrame
    params: Params
    seed: int
    wall_seconds: float
    manifest: dict = field(default_factory=dict)

    def write(self, out: str | Path, *, force: bool = False, staged: Path | None = None) -> Path:
        """Write the outputs into folder ``out`` whole.

        A temporary folder beside it, then an atomic swap; see
        :mod:`health_sim.experiments.outdir`. A folder holding anything but an earlier run's
        output is refused unless ``force``; ``staged``: the temporary folder that
        :func:`health_sim.experiments.outdir.stage` made before the run.
        """
        out = Path(out)
        kpis, undefined = json_kpis(self.kpis)
        manifest = {"written_by": "run", **self.manifest}
        if undefined:
            manifest["undefined_kpis"] = undefined
        files = {
            "kpis.json": lambda p: p.write_text(json.dumps(kpis, indent=2, allow_nan=False) + "\n"),
            "daily.parquet": lambda p: self.daily.to_parquet(p, index=False),
            "township.parquet": lambda p: self.township.to_parquet(p, index=False),
            "annual.parquet": lambda p: self.annual.to_parquet(p, index=False),
            "capability.parquet": lambda p: self.capability.to_parquet(p, index=False),
            "params.resolved.yaml": lambda p: p.write_text(to_yaml(self.params), encoding="utf-8"),
            "manifest.json": lambda p: p.write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n"),
        }
        return write_dir(out, files, "run", force=force, tmp=staged)

    def undefined(self) -> dict[str, str]:
        """KPIs without a value in this run (no denominator), with the reason."""
        return json_kpis(self.kpis)[1]


def json_kpis(kpis: dict) -> tuple[dict, dict[str, str]]:
    """KPIs as JSON values (NaN becomes null) and, for each null, why.

    The reason: its denominator (the part of its definition after '/') was zero in the run.
    """
    from health_sim.sim.kpis import KPIS

    out, undefined = {}, {}
    for name, v in kpis.items():
        if isinstance(v, dict):
            out[name] = {}
            for part, x in v.items():
                out[name][part] = _finite_or_none(x)
                if out[name][part] is None:
                    undefined[f"{name}.{part}"] = _why(KPIS.get(name))
        else:
            out[name] = _finite_or_none(v)
            if out[name] is None:
                undefined[name] = _why(KPIS.get(name))
    return out, undefined


def _finite_or_none(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return v if math.isfinite(f) else None


def _why(k) -> str:
    if k is None or " / " not in k.definition:
        return "no value in this run"
    return f"no {k.definition.split(' / ', 1)[1].split(' (')[0].strip()} in this run (denominator 0)"


def git_commit() -> str:
    """The commit of the source tree health_sim runs from, or 'unknown'."""
    here = Path(__file__).resolve().parent
    env = {
        **os.environ,
        "GIT_OPTIONAL_LOCKS": "0",
    }  # status must not take the index lock: a killed git would leave it behind
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, env=env
        )
        if out.returncode == 0:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=10,
                env=env,
            )
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def provenance() -> dict:
    """What made an output: package, version, commit, Python, Mesa and NumPy versions."""
    import mesa
    import numpy as np

    from health_sim import __version__

    return {
        "package": "health-sim",
        "version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "mesa": mesa.__version__,
        "numpy": np.__version__,
    }


def run(
    params: Params | None = None,
    seed: int | None = None,
    *,
    scale: float | None = None,
    days: int | None = None,
    progress: bool | None = False,
) -> RunResult:
    """Run a model to the end and return its :class:`RunResult`.

    ``seed``, ``scale`` and ``days`` override ``params.run``; the result's ``params``
    are the resolved ones (what ``params.resolved.yaml`` holds). ``progress``: True
    shows a bar, None shows one only on a terminal.
    """
    params = params if params is not None else Params()
    over = {k: v for k, v in (("run.seed", seed), ("run.scale", scale), ("run.days", days)) if v is not None}
    if over:
        params = with_overrides(params, over)
    t0 = time.perf_counter()
    model = HealthSystemModel(params, rng=params.run.seed)
    model.run_days(progress=progress)
    wall = time.perf_counter() - t0
    manifest = {
        **provenance(),
        "seed": model.seed,
        "scale": params.run.scale,
        "days": params.run.days,
        "residents": int(model.residents.n),
        "params_sha256": params_hash(params),
        "wall_seconds": round(wall, 3),
    }
    return RunResult(
        model.kpis(),
        model.daily_frame(),
        model.township_frame(),
        model.annual_frame(),
        model.capability_frame(),
        params,
        model.seed,
        wall,
        manifest,
    )
