"""Benchmark: a Qingyuan-sized city of 4 million residents for a year, time and peak memory.

Writes a generated county set of ``--residents`` (default 4,000,000: about 10.9 x Yangshan,
see benchmarks/counties.py) to a temporary folder, then in a fresh interpreter (so that
its peak memory is that of this run alone) loads params/baseline.yaml with that county
at run.scale 1.0, runs a tiny warm-up model (Numba cache load or compile, timed apart),
builds ``HealthSystemModel(params)``, simulates the burn-in (``--burn-in``, default the
params' 365 days) and the ``--days`` recorded days (default 365). Prints the residents, the
wall seconds of the build, the burn-in, the days and the total, resident-days simulated
per second, and the peak resident memory (``ru_maxrss``) of the interpreter: right after
``import health_sim`` (the interpreter's own share), after the warm-up, and at the end, in
MB and in MB per million residents; next to them the targets (365 days in 60 s or less,
300 MB or less per million residents).
Usage: ``uv run python benchmarks/city.py [--residents 4000000] [--days 365] [--burn-in 365]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "params" / "baseline.yaml"
YANGSHAN_RESIDENTS = 367_175
TARGET_SECONDS_PER_365 = 60.0
TARGET_MB_PER_MILLION = 300.0


def _peak_mb() -> float:
    """Peak resident memory of this process so far, MB (ru_maxrss is KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(county: str, days: int, burn_in: int | None) -> dict:
    """The measured run, in a fresh interpreter; returns the figures."""
    out: dict = {}
    t0 = time.perf_counter()
    import health_sim
    from health_sim.sim.model import HealthSystemModel

    out["import_s"] = time.perf_counter() - t0
    out["mb_import"] = _peak_mb()

    t0 = time.perf_counter()  # warm-up: a tiny Yangshan, so Numba's cache load (or compile) is not timed below
    warm = HealthSystemModel(
        health_sim.load_params(BASELINE, {"run.scale": 0.01, "run.days": 3, "run.burn_in_days": 2})
    )
    warm.run_days(progress=False)
    del warm
    out["warmup_s"] = time.perf_counter() - t0
    out["mb_warm"] = _peak_mb()

    t0 = time.perf_counter()
    over = {"run.scale": 1.0, "run.days": days}
    if burn_in is not None:
        over["run.burn_in_days"] = burn_in
    params = health_sim.load_params(BASELINE, over, county=county)
    out["load_s"] = time.perf_counter() - t0
    out["burn_in_days"] = params.run.burn_in_days
    out["days"] = params.run.days

    t0 = time.perf_counter()
    model = HealthSystemModel(params)
    out["build_s"] = time.perf_counter() - t0
    out["mb_build"] = _peak_mb()
    t0 = time.perf_counter()
    model.burn_in()
    out["burn_in_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.run_days(progress=False)
    out["days_s"] = time.perf_counter() - t0
    out["mb_peak"] = _peak_mb()
    out["residents"] = int(model.residents.n)
    out["townships"] = model.county.n_townships
    out["villages"] = model.county.n_villages
    out["facilities"] = len(model.facilities)
    k = model.kpis()
    out["kpis"] = {
        key: k[key]
        for key in (
            "grassroots_share",
            "visits_per_resident",
            "county_hospital_occupancy",
            "mean_wait_days",
            "mean_travel_minutes",
        )
        if key in k
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residents", type=int, default=4_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--burn-in", type=int, default=None, help="burn-in days (default: the params', 365)")
    ap.add_argument("--out", help="write the county set here (default: a temporary folder)")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # the county folder, in the measured interpreter
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.days, args.burn_in)))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from counties import generated_county

    multiple = args.residents / YANGSHAN_RESIDENTS
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = generated_county(multiple, args.out or Path(tmp) / "city")
        gen_s = time.perf_counter() - t0
        cmd = [sys.executable, __file__, "--child", str(folder), "--days", str(args.days)]
        if args.burn_in is not None:
            cmd += ["--burn-in", str(args.burn_in)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        child_wall = time.perf_counter() - t0
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"the measured run failed (exit {proc.returncode})")
    r = json.loads(proc.stdout.strip().splitlines()[-1])

    n, days, burn = r["residents"], r["days"], r["burn_in_days"]
    mill = n / 1e6
    total = r["build_s"] + r["burn_in_s"] + r["days_s"]
    per365 = r["days_s"] * 365 / days
    model_mb = r["mb_peak"] - r["mb_warm"]
    print(
        f"county set: {multiple:.3f} x Yangshan, written in {gen_s:.1f} s; "
        f"{r['townships']} townships, {r['villages']} villages, {r['facilities']} facilities"
    )
    print(
        f"residents {n:,}, days {days} (+{burn} burn-in), run.scale 1.0, "
        f"fresh interpreter ({child_wall:.1f} s wall in all)"
    )
    print(
        f"import health_sim: {r['import_s']:.1f} s; "
        f"warm-up (Numba cache load/compile, tiny run; not counted): {r['warmup_s']:.1f} s; "
        f"load params: {r['load_s']:.1f} s"
    )
    print("wall seconds:")
    print(f"  build           {r['build_s']:8.1f}")
    print(f"  burn-in ({burn:>4} d) {r['burn_in_s']:6.1f}")
    print(
        f"  days    ({days:>4} d) {r['days_s']:6.1f}   "
        f"(per 365 days: {per365:.1f}; target <= {TARGET_SECONDS_PER_365:.0f})"
    )
    print(f"  total           {total:8.1f}")
    print(
        f"resident-days per second: {n * days / r['days_s']:,.0f} (recorded days); "
        f"{n * (days + burn) / (r['burn_in_s'] + r['days_s']):,.0f} (burn-in and days)"
    )
    print("peak memory (ru_maxrss):")
    print(f"  interpreter after import health_sim   {r['mb_import']:8.0f} MB")
    print(f"  after the warm-up                     {r['mb_warm']:8.0f} MB")
    print(f"  after the build                       {r['mb_build']:8.0f} MB")
    print(
        f"  peak of the run                       {r['mb_peak']:8.0f} MB = "
        f"{r['mb_peak'] / mill:.0f} MB per million residents (target <= {TARGET_MB_PER_MILLION:.0f})"
    )
    print(
        f"  the model's own share (peak - warm-up) {model_mb:7.0f} MB = {model_mb / mill:.0f} MB per million residents"
    )
    if r["kpis"]:
        print("sanity: " + ", ".join(f"{k} {v:.3f}" for k, v in r["kpis"].items()))


if __name__ == "__main__":
    main()
