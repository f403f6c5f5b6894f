"""Benchmark: one simulation of the evidence fit, and the fit's budget in minutes.

One simulation of the fit runs every arm of the calibration items on one county at the fit's
scale (params/calibrate/yangshan_evidence.yaml: the base, price and contracting arms; the lever
arms continue the base arm's burn-in). This prints the wall seconds of a simulation at the base
values (median of ``--repeat`` fresh seeds, after a warm-up) and what the fit file's budget
costs on this machine: the runs' simulations (design and waves) x seconds, the cores side by
side. The target is 60 minutes or less on 2 cores. The fit's own log (and the calibrated
file's ``minutes``) is the measured figure: the prior's corners cost more than the base values.

Usage: ``uv run python benchmarks/fit_simulation.py [--repeat 10] [--spec FILE]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from health_sim.config.params import load_params, with_overrides
from health_sim.core.paths import resolve
from health_sim.experiments import mirror
from health_sim.experiments.posterior import load_fit

TARGET_MINUTES = 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--spec", default="params/calibrate/yangshan_evidence.yaml")
    a = ap.parse_args()
    spec, base, items, _ = load_fit(resolve(a.spec))
    params = with_overrides(load_params(base), dict(spec.run))
    ids = [i.id for i in items]
    mirror.simulate(params, 1, ids)  # warm-up: the compiled engine loads (or compiles) once
    seconds = []
    for seed in range(2, 2 + a.repeat):
        t0 = time.perf_counter()
        mirror.simulate(params, seed, ids)
        seconds.append(time.perf_counter() - t0)
    s = statistics.median(seconds)
    cores = os.cpu_count() or 1
    minutes = spec.runs * spec.simulations * s / 60.0 / cores
    print(f"one simulation ({len(ids)} items, scale {spec.run.get('run.scale')}): {s:.2f} s (median of {a.repeat})")
    print(
        f"budget: {spec.runs} runs x {spec.simulations} simulations on {cores} cores: {minutes:.0f} min "
        f"(target {TARGET_MINUTES:.0f} min; the prior's corners cost more, and the emulators and chains add a few)"
    )


if __name__ == "__main__":
    main()
