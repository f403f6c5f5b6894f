"""The synthetic county: townships, villages with positions, and travel times.

Built deterministically from the parameters and the seed. Positions are in km east
(x) and north (y) of the county seat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from health_sim.config.schema import TRAVEL_TARGETS, CountyParams, Params
from health_sim.core import rng as crn


@dataclass
class County:
    """Geography of the county (scale-free: the same at every scale)."""

    township_names: list[str]
    township_names_zh: list[str]
    seat: int  # index of the county-seat township
    village_township: np.ndarray  # (V,) township index of each village
    village_xy: np.ndarray  # (V, 2) km
    village_weight: np.ndarray  # (V,) share of its township's residents
    village_urban: np.ndarray  # (V,) bool: the town community of its township
    travel_minutes: np.ndarray  # (V, 6) one-way minutes to each facility column

    @property
    def n_villages(self) -> int:
        """Number of villages."""
        return len(self.village_township)

    @property
    def n_townships(self) -> int:
        """Number of townships."""
        return len(self.township_names)


def township_population(cp: CountyParams) -> np.ndarray:
    """Residents of each township (weights: only their ratios matter).

    From the townships or, where a township leaves its population out, from its listed villages.
    """
    listed = {}
    for v in cp.villages:
        listed[v.township] = listed.get(v.township, 0) + v.population
    return np.array(
        [t.population if t.population is not None else listed.get(t.name, 0) for t in cp.townships], dtype=float
    )


def build_county(params: Params, seed: int) -> County:
    """Lay out villages and compute travel times. Depends only on ``params.county`` and ``seed``.

    Villages listed in ``county.villages`` are taken as they are (travel minutes they
    give are kept; the others come from positions and roads); otherwise each
    township's villages are placed at random around its seat.
    """
    cp = params.county
    g = crn.generator(seed, crn.POPULATION)
    towns = cp.townships
    seat = [t.name for t in towns].index(cp.county_seat)
    town_xy = np.array([[t.x_km, t.y_km] for t in towns])
    given = np.full((0, len(TRAVEL_TARGETS)), np.nan)
    if cp.villages:
        index = {t.name: i for i, t in enumerate(towns)}
        vt = np.array([index[v.township] for v in cp.villages])
        xy = np.array(
            [[v.x_km, v.y_km] if v.x_km is not None else town_xy[index[v.township]] for v in cp.villages], dtype=float
        )
        pop = np.array([v.population for v in cp.villages], dtype=float)
        town_total = np.bincount(vt, weights=pop, minlength=len(towns))
        weight = np.divide(pop, town_total[vt], out=np.zeros_like(pop), where=town_total[vt] > 0)
        urban = np.array([v.urban for v in cp.villages], dtype=bool)
        given = np.array([[v.travel_minutes.get(k, np.nan) for k in TRAVEL_TARGETS] for v in cp.villages], dtype=float)
    else:
        vt, xy, weight, urban = [], [], [], []
        for ti, t in enumerate(towns):
            n = t.villages
            # Village 0 of each township is the town community itself; the others lie within radius_km.
            r = t.radius_km * np.sqrt(g.uniform(0.15, 1.0, n))
            a = g.uniform(0, 2 * np.pi, n)
            r[0] = 0.5
            pos = np.column_stack([t.x_km + r * np.cos(a), t.y_km + r * np.sin(a)])
            rural = g.lognormal(0.0, 0.4, n - 1)
            w = (
                np.concatenate([[t.urban_share], (1 - t.urban_share) * rural / rural.sum()])
                if n > 1
                else np.array([1.0])
            )
            vt.append(np.full(n, ti))
            xy.append(pos)
            weight.append(w)
            urban.append(np.arange(n) == 0)
        vt = np.concatenate(vt)
        xy = np.concatenate(xy)
        weight = np.concatenate(weight)
        urban = np.concatenate(urban)

    seat_xy = town_xy[seat]
    city_xy = np.array([cp.city_x_km, cp.city_y_km])
    km_per_min = cp.road_km_per_hour / 60.0

    def road_minutes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a - b, axis=-1) * cp.road_winding / km_per_min

    lo, hi = cp.village_clinic_minutes
    to_village = g.uniform(lo, hi, len(vt))
    to_town = cp.access_minutes + road_minutes(xy, town_xy[vt])
    to_county = cp.access_minutes + road_minutes(xy, seat_xy)
    seat_to_city = np.linalg.norm(seat_xy - city_xy) * cp.expressway_winding / (cp.expressway_km_per_hour / 60.0)
    to_city = to_county + seat_to_city
    computed = np.column_stack([to_village, to_town, to_county, to_city])
    if len(given):
        computed = np.where(np.isnan(given), computed, given)
    computed[:, 2:] += cp.hospital_extra_minutes  # county and city hospitals
    v, t, c, city = computed.T
    travel = np.column_stack([v, t, c, c, c, city])  # the three county hospitals share the county time
    return County(
        township_names=[t.name for t in towns],
        township_names_zh=[t.name_zh for t in towns],
        seat=seat,
        village_township=vt.astype(np.int16),
        village_xy=xy,
        village_weight=weight,
        village_urban=urban,
        travel_minutes=travel,
    )


@dataclass
class CountyMap:
    """What a map of the county draws (km east and north of the county seat).

    ``outline`` and ``areas`` are schematic: the model has village positions, not administrative boundaries, so the
    outline is the villages' convex hull widened by a margin, and a township's area is the union of its villages'
    Voronoi cells inside it (each village the nearest-village region around it).
    """

    outline: object  # shapely Polygon
    areas: list  # shapely geometry of each township, in township order
    village_xy: np.ndarray  # (V, 2) km
    village_township: np.ndarray  # (V,) township index
    centre_xy: np.ndarray  # (T, 2) km: each township's health centre, at its seat
    seat: int  # index of the county-seat township (the county hospitals)
    city_xy: np.ndarray  # (2,) km: the city's tertiary hospital (outside the county)
    city_minutes: float  # minutes from the county seat to the city by the expressway
    names: list[str]


def county_map(params: Params, seed: int, margin_km: float = 3.0) -> CountyMap:
    """The county of ``params`` laid out with ``seed`` (as a run with that seed lays it out), ready to draw."""
    import shapely

    c = build_county(params, seed)
    cp = params.county
    pts = shapely.MultiPoint(c.village_xy)
    outline = pts.convex_hull.buffer(margin_km)
    voronoi = shapely.voronoi_polygons(pts, extend_to=outline, ordered=True)
    cells = [cell.intersection(outline) for cell in voronoi.geoms]
    areas = [
        shapely.union_all([cells[i] for i in np.flatnonzero(c.village_township == t)]) for t in range(c.n_townships)
    ]
    centre = np.array([[t.x_km, t.y_km] for t in cp.townships], dtype=float)
    city = np.array([cp.city_x_km, cp.city_y_km], dtype=float)
    minutes = float(np.linalg.norm(centre[c.seat] - city) * cp.expressway_winding / (cp.expressway_km_per_hour / 60.0))
    return CountyMap(outline, areas, c.village_xy, c.village_township, centre, c.seat, city, minutes, c.township_names)
