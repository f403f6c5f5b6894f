"""Calibrate the baseline's free constants to Yangshan 2023 and print them.

The choice model's alternative-specific constants, the utility of staying home for
minor and chronic episodes, the formal-referral probability from the township
centres and the satisfaction intercept are not published; they are fitted here so
that the default county reproduces its published aggregates:

* visits per resident-year 6.6 (Yangshan 2023: ~2.43 million visits, 367,175 residents)
* visit shares by level: village 0.347, township 0.324 (grassroots 0.671, Yangshan 2023,
  split as the national 2023 village : township-centre visits, 1.40 : 1.31 billion),
  county 0.239, city 0.090 (NHSS 2018: 87.1% of visits within the county, rural > 90%)
* upward referrals from the grassroots 1,031 a year (Yangshan 2023)
* satisfaction 0.90 (below the 0.93 target for end-2023; assumption)
* TCM share of visits 0.471 (Yangshan 2023), through the grassroots TCM uptake

Method: a fixed-point iteration of the constants on log share ratios (the usual
contraction for logit constants), with common random numbers so that successive
evaluations differ only through the constants. Usage::

    uv run python scripts/calibrate_baseline.py [--scale 1.0] [--iterations 12]

It prints the fitted values; they are the defaults in ``src/health_sim/config/schema.py``.
"""

from __future__ import annotations

import argparse
import math

import health_sim
from health_sim.config.params import with_overrides
from health_sim.core.names import LEVELS

TARGET_SHARES = {"village": 0.347, "township": 0.324, "county": 0.239, "city": 0.090}
TARGET_VISITS = 6.6
TARGET_UPWARD = 1031.0
TARGET_SATISFACTION = 0.90
TARGET_TCM = 0.471  # Yangshan 2023: TCM visits 1.147 million, 47.1% of visits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--seed", type=int, default=20230101)
    args = ap.parse_args()

    p = health_sim.load_params()
    c = p.choice
    asc = {g: dict(getattr(c, g).asc) for g in ("minor", "severe")}
    home = dict(c.stay_home_utility)
    formal_t = p.referral.formal_upward["township"]
    intercept = p.satisfaction.intercept
    tcm = p.tcm.uptake_grassroots
    for it in range(args.iterations):
        over = {f"choice.{g}.asc.{lvl}": asc[g][lvl] for g in asc for lvl in LEVELS}
        over |= {f"choice.stay_home_utility.{k}": v for k, v in home.items()}
        over |= {
            "referral.formal_upward.township": formal_t,
            "satisfaction.intercept": intercept,
            "tcm.uptake_grassroots": tcm,
        }
        q = with_overrides(p, over)
        k = health_sim.run(q, seed=args.seed, scale=args.scale).kpis
        shares = {lvl: k["visits_by_level"][lvl] / k["visits_total"] for lvl in LEVELS}
        print(
            f"iter {it:2d}: visits/resident {k['visits_per_resident']:.3f}  "
            + "  ".join(f"{lvl} {shares[lvl]:.3f}" for lvl in LEVELS)
            + f"  grassroots {k['grassroots_share']:.3f}  upward {k['upward_referrals']:.0f}  "
            f"satisfaction {k['satisfaction']:.3f}  tcm {k['tcm_share']:.3f}"
        )
        d = 0.8
        for lvl in LEVELS:
            step = d * math.log(TARGET_SHARES[lvl] / shares[lvl])
            for g in asc:
                asc[g][lvl] += step
        # Keep the township constant at 0 (only differences matter): shift the others and home.
        for g in asc:
            ref = asc[g]["township"]
            for lvl in LEVELS:
                asc[g][lvl] -= ref
            kinds = ("minor", "chronic") if g == "minor" else ("serious", "emergency", "admission")
            home = {kk: (v - ref if kk in kinds else v) for kk, v in home.items()}
        shift = 2.5 * math.log(k["visits_per_resident"] / TARGET_VISITS)  # visits respond weakly: a longer step
        home["minor"] += shift
        home["chronic"] += shift
        formal_t = min(1.0, formal_t * (TARGET_UPWARD / max(k["upward_referrals"], 1.0)) ** d)
        lo = lambda x: math.log(x / (1 - x))  # noqa: E731
        intercept += d * (lo(TARGET_SATISFACTION) - lo(k["satisfaction"]))
        tcm = min(1.0, max(0.0, tcm + 1.2 * (TARGET_TCM - k["tcm_share"])))
    r = lambda x: round(x, 2)  # noqa: E731
    print("\nfitted constants:")
    for g in asc:
        print(f"  choice.{g}.asc: {{{', '.join(f'{lvl}: {r(asc[g][lvl])}' for lvl in LEVELS)}}}")
    print(f"  choice.stay_home_utility: {{{', '.join(f'{k}: {r(v)}' for k, v in home.items())}}}")
    print(f"  referral.formal_upward.township: {round(formal_t, 4)}")
    print(f"  satisfaction.intercept: {r(intercept)}")
    print(f"  tcm.uptake_grassroots: {r(tcm)}")


if __name__ == "__main__":
    main()
