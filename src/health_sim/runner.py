"""Running a model to the end and writing its outputs."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .model import HealthSystemModel
from .params import params_hash, to_yaml, with_overrides
from .schema import Params


@dataclass
class RunResult:
    """What a run produced: KPIs (name -> value), a row a day, a row per township, a row
    per calendar year, and the township centres' capability day by day."""

    kpis: dict
    daily: pd.DataFrame
    township: pd.DataFrame
    annual: pd.DataFrame
    capability: pd.DataFrame
    params: Params
    seed: int
    wall_seconds: float
    manifest: dict = field(default_factory=dict)

    def write(self, out: str | Path) -> Path:
        """Write the outputs into ``out`` atomically (a sibling temp dir, then a swap)."""
        out = Path(out)
        files = {
            "kpis.json": lambda p: p.write_text(json.dumps(self.kpis, indent=2, allow_nan=True) + "\n"),
            "daily.parquet": lambda p: self.daily.to_parquet(p, index=False),
            "township.parquet": lambda p: self.township.to_parquet(p, index=False),
            "annual.parquet": lambda p: self.annual.to_parquet(p, index=False),
            "capability.parquet": lambda p: self.capability.to_parquet(p, index=False),
            "params.resolved.yaml": lambda p: p.write_text(to_yaml(self.params), encoding="utf-8"),
            "manifest.json": lambda p: p.write_text(json.dumps(self.manifest, indent=2) + "\n"),
        }
        write_dir_atomically(out, files)
        return out


def write_dir_atomically(out: Path, files: dict) -> None:
    """Create directory ``out`` holding ``files`` (name -> writer(path)) all at once.

    The files are written into a temporary sibling directory which then replaces
    ``out``; a failure or an interruption leaves ``out`` as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        for name, writer in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            writer(tmp / name)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_in(tmp: Path, final: Path) -> None:
    """Replace directory ``final`` by the finished directory ``tmp`` beside it."""
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, old / final.name)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def git_commit() -> str:
    """The commit of the source tree health_sim runs from, or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def run(params: Params | None = None, seed: int | None = None, *, scale: float | None = None, days: int | None = None, progress: bool | None = False) -> RunResult:
    """Run a model to the end and return its :class:`RunResult`.

    ``seed``, ``scale`` and ``days`` override ``params.run``; the result's ``params``
    are the resolved ones (what ``params.resolved.yaml`` holds). ``progress``: True
    shows a bar, None shows one only on a terminal.
    """
    from . import __version__
    import mesa
    import numpy as np

    params = params if params is not None else Params()
    over = {k: v for k, v in (("run.seed", seed), ("run.scale", scale), ("run.days", days)) if v is not None}
    if over:
        params = with_overrides(params, over)
    t0 = time.perf_counter()
    model = HealthSystemModel(params, rng=params.run.seed)
    model.run_days(progress=progress)
    wall = time.perf_counter() - t0
    manifest = {
        "package": "health-sim",
        "version": __version__,
        "git_commit": git_commit(),
        "seed": model.seed,
        "scale": params.run.scale,
        "days": params.run.days,
        "residents": int(model.residents.n),
        "params_sha256": params_hash(params),
        "wall_seconds": round(wall, 3),
        "python": platform.python_version(),
        "mesa": mesa.__version__,
        "numpy": np.__version__,
    }
    return RunResult(model.kpis(), model.daily_frame(), model.township_frame(), model.annual_frame(), model.capability_frame(), params, model.seed, wall, manifest)
