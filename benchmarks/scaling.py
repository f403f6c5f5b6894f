"""Benchmark: how the wall time grows with the residents and with the days simulated.

Two series, each timed after a warm-up run (so Numba's cache load or compile is not counted):

* residents: 0.25, 0.5, 1, 2 and 4 x Yangshan's 367,175 residents, 365 days each. Every
  size, 1x included, is a county set from ``benchmarks/counties.py`` at run.scale 1.0
  (1x is Yangshan itself; 0.25x and 0.5x keep its 13 townships and 159 villages with
  populations scaled; 2x and 4x are 2 and 4 copies of it with the county and city hospitals'
  doctors and beds scaled). One route for all sizes, so that every point differs only in
  its size; run.scale on the default county would give 0.25x and 0.5x the same facilities
  and crowding (capacity scales with it) but through another code path.
* days: Yangshan (1x) for 0.25, 0.5, 1, 2 and 4 x 365 days (91 ... 1,460 days).

Both series run without burn-in (run.burn_in_days 0): the burn-in is the same daily loop as
the recorded days, so leaving it out makes the days series vary the days alone and keeps
the residents series' runs one year each. The time fitted is that of ``run_days`` (the
simulated days); the build (county, residents, facilities) is timed and printed apart, with
its own exponent in the residents series. The exponent is the slope of log(seconds)
against log(size) (numpy.polyfit): 1 is linear; below 1, fixed costs still weigh.
``--repeat N`` keeps each point's best of N runs. ``--quick``: a fast check (a quarter of
the residents and a fifth of the days: 0.0625x ... 1x for 73 days; 0.25x for 18 ... 292 days).
Usage: ``uv run python benchmarks/scaling.py [--quick] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import health_sim
from health_sim.sim.model import HealthSystemModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from counties import BASELINE, generated_county

FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def timed_run(folder: Path, days: int, repeat: int) -> tuple[int, float, float]:
    """(residents, best build seconds, best run_days seconds) of ``repeat`` runs."""
    params = health_sim.load_params(
        BASELINE, {"run.scale": 1.0, "run.days": days, "run.burn_in_days": 0}, county=folder
    )
    builds, runs = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        model = HealthSystemModel(params)
        t1 = time.perf_counter()
        model.run_days(progress=False)
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        runs.append(t2 - t1)
        n = model.residents.n
        del model
        gc.collect()
    return n, min(builds), min(runs)


def exponent(sizes: list[float], seconds: list[float]) -> float:
    """Slope of log(seconds) against log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller populations and fewer days, for a fast check")
    ap.add_argument("--repeat", type=int, default=1, help="runs per point; the best is kept")
    args = ap.parse_args()
    base_days = 73 if args.quick else 365
    res_multiples = [f / 4 for f in FACTORS] if args.quick else list(FACTORS)
    days_multiple = 0.25 if args.quick else 1.0
    day_counts = [round(base_days * f) for f in FACTORS]

    t0 = time.perf_counter()
    warm = HealthSystemModel(
        health_sim.load_params(BASELINE, {"run.scale": 0.01, "run.days": 3, "run.burn_in_days": 2})
    )
    warm.run_days(progress=False)
    del warm
    print(f"warm-up (Numba cache load/compile, tiny run; not counted): {time.perf_counter() - t0:.1f} s")
    print(
        f"repeat {args.repeat} (best kept); no burn-in; "
        f"run.scale 1.0 on generated county sets{' (quick)' if args.quick else ''}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        print(f"\nresidents series: {base_days} days each")
        print(f"{'x Yangshan':>10} {'residents':>11} {'build s':>8} {'days s':>8} {'res-days/s':>13}")
        ns, builds, runs = [], [], []
        for m in res_multiples:
            folder = generated_county(m, Path(tmp) / f"x{m:g}")
            n, b, r = timed_run(folder, base_days, args.repeat)
            ns.append(n), builds.append(b), runs.append(r)
            print(f"{m:>10g} {n:>11,} {b:>8.2f} {r:>8.2f} {n * base_days / r:>13,.0f}", flush=True)
        print(
            f"exponent of the days' seconds in residents: {exponent(ns, runs):.2f}; "
            f"of the build's: {exponent(ns, builds):.2f}"
        )

        folder = generated_county(days_multiple, Path(tmp) / f"days-x{days_multiple:g}")
        print(f"\ndays series: {days_multiple:g} x Yangshan")
        print(f"{'x days':>10} {'days':>11} {'build s':>8} {'days s':>8} {'res-days/s':>13}")
        dd, druns = [], []
        for f, d in zip(FACTORS, day_counts, strict=True):
            n, b, r = timed_run(folder, d, args.repeat)
            dd.append(d), druns.append(r)
            print(f"{f:>10g} {d:>11,} {b:>8.2f} {r:>8.2f} {n * d / r:>13,.0f}", flush=True)
        print(f"exponent of the days' seconds in days: {exponent(dd, druns):.2f} (residents {n:,})")


if __name__ == "__main__":
    main()
