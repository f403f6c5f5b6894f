"""Benchmark: the full-scale 2023 baseline for a year (367,175 residents, 365 days).

Prints the wall seconds (building the county, the burn-in and the year) and resident-days
simulated per second. Usage: ``uv run python benchmarks/county_year.py [--scale 1.0] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import health_sim
from health_sim.model import HealthSystemModel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--params", default="params/baseline.yaml")
    args = ap.parse_args()
    params = health_sim.load_params(args.params, {"run.scale": args.scale, "run.days": args.days})
    walls = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        model = HealthSystemModel(params)
        model.run_days(progress=False)
        walls.append(time.perf_counter() - t0)
    n = model.residents.n
    simulated_days = params.run.days + params.run.burn_in_days
    best, med = min(walls), statistics.median(walls)
    print(f"residents {n}, days {params.run.days} (+{params.run.burn_in_days} burn-in), repeats {args.repeat}")
    print(f"wall seconds: best {best:.2f}, median {med:.2f}")
    print(f"resident-days per second (burn-in included): {n * simulated_days / best:,.0f}")
    print(f"resident-days per second (recorded days only): {n * params.run.days / best:,.0f}")


if __name__ == "__main__":
    main()
