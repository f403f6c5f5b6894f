"""Generated county sets of any size, for the benchmarks: ``multiple`` x Yangshan's population.

For ``multiple`` >= 1 the county is ``ceil(multiple)`` copies of Yangshan's 13 townships:
copy 1 keeps Yangshan's names and positions, copy k is renamed ``<name>-k`` ("Yangcheng-2")
and shifted as a whole to the k-th point of a 60 km grid around the county seat (nearest
points first), so that every copy is a county-sized cluster of its own and the farthest
villages stay within a few hours of the county seat (as in a mountain prefecture). Every
township's population is multiplied by ``multiple / copies`` (1 for whole multiples), so
the total is ``multiple`` x Yangshan's; the village counts and the layout of each copy
stay Yangshan's. For ``multiple`` < 1 the county is Yangshan with every township's
population scaled (all 13 townships and 159 villages kept).

The model has one county hospital group (county_people, county_tcm, county_mch) and one
city tertiary hospital, whose doctors and beds are fixed counts; here they are multiplied
by ``multiple`` so that their queues and occupancy stay near Yangshan's. Township centres
(per 10,000 residents) and village clinics (per village) scale by themselves.

With ``multiple`` ~ 11 (4 million residents) this is a Qingyuan-sized city of several
counties (Qingyuan: about 4 million residents in 8 county-level divisions), served here by
a single, proportionally larger county hospital group and city hospital.

``generated_county(1.0, folder)`` writes Yangshan itself (the same townships and
facilities as ``params/counties/yangshan``). Deterministic: the same multiple writes the
same files. Check one from the command line (writes, loads, builds a model at a small
scale): ``uv run python benchmarks/counties.py 11 [--out DIR]``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import health_sim
from health_sim.config.county_files import write_county_set
from health_sim.config.schema import CountyParams, FacilityParams

ROOT = Path(__file__).resolve().parents[1]
YANGSHAN = ROOT / "params" / "counties" / "yangshan"
BASELINE = ROOT / "params" / "baseline.yaml"
SPACING_KM = 60.0
"""Distance between neighbouring copies of Yangshan on the grid."""
HOSPITALS = ("county_people", "county_tcm", "county_mch", "city_tertiary")
"""Facility types with fixed doctors and beds per facility: scaled by the multiple."""


def grid_offsets(n: int, spacing: float = SPACING_KM) -> list[tuple[float, float]]:
    """The ``n`` points of a square grid nearest the origin (origin first; ties broken by angle)."""
    r = math.ceil(math.sqrt(n)) + 1
    pts = [(i, j) for i in range(-r, r + 1) for j in range(-r, r + 1)]
    pts.sort(key=lambda p: (p[0] ** 2 + p[1] ** 2, math.atan2(p[1], p[0]) % (2 * math.pi)))
    return [(i * spacing, j * spacing) for i, j in pts[:n]]


def generated_params(multiple: float) -> tuple[CountyParams, FacilityParams]:
    """The county and facilities of ``multiple`` x Yangshan (see the module docstring)."""
    if not multiple > 0:
        raise ValueError(f"multiple must be > 0, got {multiple}")
    base = health_sim.load_params(county=YANGSHAN)
    county, facilities = base.county, base.facilities
    copies = max(1, math.ceil(multiple - 1e-9))
    factor = multiple / copies
    towns = []
    for k, (dx, dy) in enumerate(grid_offsets(copies), start=1):
        for t in county.townships:
            row = t.model_dump()
            if k > 1:
                row["name"] = f"{t.name}-{k}"
                row["name_zh"] = f"{t.name_zh}-{k}" if t.name_zh else ""
            row["x_km"] = round(t.x_km + dx, 3)
            row["y_km"] = round(t.y_km + dy, 3)
            row["population"] = max(1, round(t.population * factor))
            towns.append(row)
    data = county.model_dump()
    data["townships"] = towns
    data["villages"] = []
    data["population"] = sum(t["population"] for t in towns)  # the townships' sum
    if multiple != 1.0:
        data["name"] = f"{county.name} x{multiple:g} (generated)"
    new_county = CountyParams.model_validate(data)

    fdata = facilities.model_dump()
    for ftype in HOSPITALS:
        row = fdata[ftype]
        row["doctors"] = {s: round(v * multiple, 3) for s, v in row["doctors"].items()}
        row["beds"] = round(row["beds"] * multiple, 3)
    return new_county, FacilityParams.model_validate(fdata)


def generated_county(multiple: float, folder: str | Path) -> Path:
    """Write the county set of ``multiple`` x Yangshan's population to ``folder``; returns the folder.

    Load it with ``health_sim.load_params("params/baseline.yaml", county=folder)``.
    """
    county, facilities = generated_params(multiple)
    folder = Path(folder)
    write_county_set(county, facilities, folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("multiple", type=float, nargs="?", default=11.0)
    ap.add_argument("--out", help="folder to write (default: a temporary folder)")
    ap.add_argument("--scale", type=float, default=0.01, help="run.scale of the model built to check the set")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = generated_county(args.multiple, args.out or Path(tmp) / "county")
        params = health_sim.load_params(
            BASELINE, {"run.scale": args.scale, "run.days": 5, "run.burn_in_days": 0}, county=folder
        )
        from health_sim.sim.model import HealthSystemModel

        t0 = time.perf_counter()
        model = HealthSystemModel(params)
        model.run_days(progress=False)
        cp = params.county
        print(f"{folder}: {cp.name}, population {cp.population:,}, townships {len(cp.townships)}")
        print(
            f"model at scale {args.scale}: residents {model.residents.n:,}, villages {model.county.n_villages}, "
            f"facilities {len(model.facilities)}, 5 days in {time.perf_counter() - t0:.1f} s"
        )
        tm = model.county.travel_minutes
        print(
            f"one-way minutes to the county hospitals: median {float(sorted(tm[:, 2])[len(tm) // 2]):.0f}, "
            f"max {tm[:, 2].max():.0f}; to the city: max {tm[:, 5].max():.0f}"
        )


if __name__ == "__main__":
    main()
