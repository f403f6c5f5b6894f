"""Benchmark: county-year runs per minute of a sweep through `--via api` with a local pool.

A grid of the reimbursement gap (N points) x 2 replicates, each run a tenth of the county
for 365 days (plus the usual year of burn-in). Prints runs, wall seconds and runs per minute.
Usage: ``uv run python benchmarks/sweep_throughput.py [--points 12] [--workers 2] [--scale 0.1]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from health_sim.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--via", choices=["api", "notebook", "both"], default="api", help="both: also the per-run overhead of the notebook route")
    args = ap.parse_args()
    vias = ["api", "notebook"] if args.via == "both" else [args.via]
    per_run = {}
    for via in vias:
        per_run[via] = bench(args, via)
    if len(per_run) == 2:
        print(f"notebook overhead per run (kernel start-up, papermill, figures): {(per_run['notebook'] - per_run['api']) * args.workers:.2f} s")


def bench(args, via: str) -> float:
    with tempfile.TemporaryDirectory() as d:
        values = ", ".join(f"{v:.4f}" for v in np.linspace(0, 0.3, args.points))
        spec = Path(d) / "bench.yaml"
        spec.write_text(f"""name: bench
base: {ROOT / 'params' / 'baseline.yaml'}
factors:
  policies.reimbursement.outpatient_grassroots_increase: {{values: [{values}]}}
replicates: 2
run: {{run.scale: {args.scale}, run.days: 365, policies.reimbursement.enabled: true}}
""")
        t0 = time.perf_counter()
        table, _ = run_sweep(spec, out=Path(d) / "out", workers=args.workers, progress=False, via=via)
        wall = time.perf_counter() - t0
    n = len(table)
    print(f"via {via}: runs {n} (scale {args.scale}, 365 days + 365 burn-in), workers {args.workers}, failed {int((table['status'] != 'ok').sum())}")
    print(f"  wall seconds: {wall:.1f}")
    print(f"  county-year runs per minute: {n / wall * 60:.1f}")
    return wall / n


if __name__ == "__main__":
    main()
