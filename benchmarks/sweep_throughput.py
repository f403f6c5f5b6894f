"""Benchmark: county-year runs per minute of a sweep through `--via api`, and the per-run overhead of `--via notebook`.

The sweeps run with a local pool. A grid of the outpatient reimbursement gap (N points) x 2 replicates, each run a
tenth of the county for 365 days (plus the usual year of burn-in). Prints runs, wall seconds and
runs per minute, through the API with the burn-in shared between the points of a seed
(the default, :mod:`health_sim.experiments.warmstart`) and with every run simulating its own
burn-in, and (``--via both``) the notebook route's overhead per run: its wall time per
run minus that of the API runs that simulate their own burn-in (the same model work).
Usage: ``uv run python benchmarks/sweep_throughput.py [--points 12] [--workers 2] [--scale 0.1]
[--via api|notebook|both]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from health_sim.experiments.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument(
        "--via",
        choices=["api", "notebook", "both"],
        default="api",
        help="both: also the per-run overhead of the notebook route",
    )
    args = ap.parse_args()
    per_run = {"api": bench(args, "api", shared=True), "api-own": bench(args, "api", shared=False)}
    if args.via in ("notebook", "both"):
        per_run["notebook"] = bench(args, "notebook", shared=False)
        print(
            "notebook overhead per run (kernel start-up, imports, papermill, tables): "
            f"{(per_run['notebook'] - per_run['api-own']) * args.workers:.2f} s"
        )


def bench(args, via: str, shared: bool) -> float:
    """Wall seconds per run (wall / runs) of one sweep."""
    os.environ["HEALTH_SIM_WARMSTART_BYTES"] = str(10**9 if shared else 0)  # inherited by the workers
    with tempfile.TemporaryDirectory() as d:
        values = ", ".join(f"{v:.4f}" for v in np.linspace(0, 0.3, args.points))
        spec = Path(d) / "bench.yaml"
        spec.write_text(f"""name: bench
base: {ROOT / "params" / "baseline.yaml"}
factors:
  policies.reimbursement.outpatient_grassroots_increase: {{values: [{values}]}}
replicates: 2
run: {{run.scale: {args.scale}, run.days: 365, policies.reimbursement.enabled: true}}
""")
        t0 = time.perf_counter()
        table, _ = run_sweep(spec, out=Path(d) / "out", workers=args.workers, progress=False, via=via)
        wall = time.perf_counter() - t0
    n = len(table)
    how = "" if via == "notebook" else (", burn-in shared per seed" if shared else ", every run its own burn-in")
    print(
        f"via {via}{how}: runs {n} (scale {args.scale}, 365 days + 365 burn-in), workers {args.workers}, "
        f"failed {int((table['status'] != 'ok').sum())}"
    )
    print(f"  wall seconds: {wall:.1f}; mean run seconds in a worker: {table['seconds'].mean():.2f}")
    print(f"  county-year runs per minute: {n / wall * 60:.1f}")
    return wall / n


if __name__ == "__main__":
    main()
