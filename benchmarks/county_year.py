"""Benchmark: a full-scale Yangshan year with every lever on (367,175 residents, 365 days).

Runs the "all levers" scenario (params/scenarios/all_levers.yaml, every lever from
2024-01-01) for 2024 at full scale, in this process, and prints the wall seconds of
building the county, of the unrecorded burn-in (365 days of 2023 by default), of the
recorded year, and of the whole run; the target is 5 s or less for the whole run.
The first use of the compiled engine in a process loads it from Numba's cache (or compiles
it, once after an edit); a tiny warm-up run pays that first and is reported apart.

Usage: ``uv run python benchmarks/county_year.py [--scale 1.0] [--repeat 3] [--params FILE]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import health_sim
from health_sim.sim.model import HealthSystemModel

TARGET_SECONDS = 5.0


def warm_up() -> float:
    """Seconds to load (or compile) the engine: a run of 1% of the county for a few days."""
    t0 = time.perf_counter()
    HealthSystemModel(health_sim.load_params(None, {"run.scale": 0.01, "run.days": 3, "run.burn_in_days": 3})).run_days(
        progress=False
    )
    return time.perf_counter() - t0


def timed_run(params) -> tuple[dict, HealthSystemModel]:
    """Wall seconds of building, burning in and running one model of ``params``."""
    t0 = time.perf_counter()
    model = HealthSystemModel(params)
    t1 = time.perf_counter()
    model.burn_in()
    t2 = time.perf_counter()
    model.run_days(progress=False)
    t3 = time.perf_counter()
    return {"build": t1 - t0, "burn-in": t2 - t1, "year": t3 - t2, "total": t3 - t0}, model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/scenarios/all_levers.yaml")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument(
        "--start", default="2024-01-01", help="first recorded day (the levers of all_levers start on 2024-01-01)"
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    params = health_sim.load_params(
        args.params, {"run.scale": args.scale, "run.days": args.days, "run.start_date": args.start}
    )
    print(f"engine load (first use in a process, not counted below): {warm_up():.2f} s")
    runs = []
    for _ in range(args.repeat):
        t, model = timed_run(params)
        runs.append(t)
    n = model.residents.n
    burn = params.run.burn_in_days
    print(
        f"{args.params}: {n:,} residents, {params.run.days} days from {params.run.start_date} "
        f"(+{burn} burn-in days), {args.repeat} repeats"
    )
    print(f"{'wall seconds':<14}" + "".join(f"{k:>10}" for k in runs[0]))
    for label, f in (("best", min), ("median", statistics.median)):
        print(f"{label:<14}" + "".join(f"{f(r[k] for r in runs):>10.2f}" for k in runs[0]))
    best = min(r["total"] for r in runs)
    print(
        f"whole run, best of {args.repeat}: {best:.2f} s "
        f"(target {TARGET_SECONDS:.0f} s or less: {'met' if best <= TARGET_SECONDS else 'NOT met'})"
    )
    print(f"resident-days per second (burn-in included): {n * (params.run.days + burn) / best:,.0f}")
    k = model.kpis()
    print(f"grassroots share {k['grassroots_share']:.4f}, visits {k['visits_total']:,.0f}")


if __name__ == "__main__":
    main()
