"""Validation: the model beside published evidence it was not fitted to.

``params/validation/evidence.yaml`` holds published figures (each with its source, what it
measured and the model quantity to compare). This module computes the model's side of
each comparison with paired experiments under common random numbers (the same seeds,
and the same calibrated ensemble members when an ensemble is given, in both arms), so
an effect is the difference the change makes to the same residents:

* price: every outpatient price 10% higher (elasticity of visits and of seeking care at
  all); the village clinic's price alone 10% higher (its own-price elasticity);
  gatekeeping against the baseline (change of grassroots and hospital visits);
* distance: the cross-section of townships (township-centre visits against travel time
  to the county hospitals) and the money value of travel time implied by the choice
  weights;
* contract: first trips to the grassroots of contracted against other residents (raw),
  and everyone contracted against no one (the model's causal effect);
* severity: the share of first trips to the grassroots for minor, chronic and severe
  episodes.

It also runs the dynamic check of the calibration (:func:`dynamic_check`): the model
started in 2022 with the 2023 changes switched on, its 2022 -> 2023 changes against
Yangshan's. Every function takes a :class:`Setting` (scale, replicates, seed, ensemble),
so a notebook can run them small under the tests and large for an answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from health_sim.config.params import load_params
from health_sim.config.schema import Params
from health_sim.core.names import FACILITY_TYPES
from health_sim.core.paths import resolve
from health_sim.experiments.evidence import load_evidence_file
from health_sim.experiments.scenario_runs import run_replicates
from health_sim.world.county import build_county

EVIDENCE = Path("params") / "validation" / "evidence.yaml"
DYNAMIC = Path("params") / "validation" / "dynamic_2022_2023.yaml"
BASE = Path("params") / "scenarios" / "baseline_2023.yaml"
OBSERVED_CHANGES = {
    "grassroots_visits": (0.023, "Yangshan 2023: grassroots visits 1.6334 million, +2.3% on 2022 (DOMAIN.md)"),
    "downward_referrals": (
        1.76,
        "Yangshan 2023: downward referrals from the lead hospital 1,152, +176% on 2022 (DOMAIN.md)",
    ),
}
"""Observed 2022 -> 2023 relative changes (2023 / 2022 - 1)."""


@dataclass(frozen=True)
class Setting:
    """How big the validation runs are.

    Share of residents, replicates, base seed, and an optional calibrated file whose ensemble
    the replicates draw parameters from.
    """

    scale: float = 0.05
    replicates: int = 4
    seed: int = 20230101
    ensemble: str | Path | None = None
    days: int = 365
    overrides: tuple[
        tuple[str, object], ...
    ] = ()  # dotted-key overrides of every run, e.g. (("run.burn_in_days", 90),)


def load_evidence(path: str | Path = EVIDENCE) -> dict:
    """The evidence file as data, validated first (:mod:`health_sim.experiments.evidence`: one-line errors)."""
    return load_evidence_file(path).model_dump(exclude_none=True)


def national_trend(evidence: dict) -> pd.DataFrame:
    """The national grassroots share by year (bulletin series and earlier values)."""
    nat = evidence["national_grassroots_share"]
    rows = [{"year": int(y), "share": float(v), "series": "NHC statistical bulletin"} for y, v in nat["values"].items()]
    early = nat.get("earlier_values") or {}
    rows += [
        {"year": int(y), "share": float(v), "series": "Wu & Lam 2016"} for y, v in (early.get("values") or {}).items()
    ]
    return pd.DataFrame(rows).sort_values("year").reset_index(drop=True)


def _runs(setting: Setting, overrides: dict | None = None, scenario: str | Path = BASE, days: int | None = None):
    """Replicates of ``scenario`` with ``overrides``, made once (the baseline serves several comparisons)."""
    return _cached_runs(setting, tuple(sorted((overrides or {}).items())), str(scenario), days or setting.days)


@lru_cache(maxsize=8)
def _cached_runs(setting: Setting, overrides: tuple, scenario: str, days: int):
    over = dict(setting.overrides) | dict(overrides)
    return run_replicates(
        resolve(scenario),
        replicates=setting.replicates,
        seed=setting.seed,
        scale=setting.scale,
        days=days,
        overrides=over,
        ensemble=resolve(setting.ensemble) if setting.ensemble else None,
    )


def baseline_trajectory(setting: Setting, years: int = 5) -> pd.DataFrame:
    """The baseline (no new lever) run for ``years`` calendar years from 2023: its annual table."""
    days = (pd.Timestamp(2023 + years, 1, 1) - pd.Timestamp(2023, 1, 1)).days
    return _runs(setting, days=days).annual


def _summary(values: np.ndarray) -> dict:
    v = np.asarray(values, dtype=float)
    return {
        "model": float(np.mean(v)),
        "model_lo": float(np.quantile(v, 0.05)),
        "model_hi": float(np.quantile(v, 0.95)),
    }


def price_experiments(setting: Setting) -> dict[str, dict]:
    """Elasticities from 10% higher outpatient prices (all facilities; the village clinic alone)."""
    base = _runs(setting).kpis
    p = load_params(resolve(BASE))
    every = {f"facilities.{ft}.price_visit": getattr(p.facilities, ft).price_visit * 1.1 for ft in FACILITY_TYPES}
    dearer = _runs(setting, every).kpis
    village = _runs(
        setting, {"facilities.village_clinic.price_visit": p.facilities.village_clinic.price_visit * 1.1}
    ).kpis
    lnp = math.log(1.1)
    seek0, seek1 = 1.0 - base["stay_home_share"], 1.0 - dearer["stay_home_share"]
    return {
        "price_elasticity_first_outpatient_visit_rural": _summary(np.log(seek1 / seek0) / lnp)
        | {"how": "elasticity of the share of episodes for which care is sought, every outpatient price +10%"},
        "price_elasticity_outpatient_visits_among_users_rural": _summary(
            np.log(dearer["visits_total"] / base["visits_total"]) / lnp
        )
        | {
            "how": (
                "elasticity of all visits, every outpatient price +10% (the model's visits per episode do not respond "
                "to price)"
            )
        },
        "price_elasticity_village_clinic_visits_rmhc": _summary(
            np.log(village["visits_by_level.village"] / base["visits_by_level.village"]) / lnp
        )
        | {"how": "elasticity of village-clinic visits, the village clinic's price alone +10%"},
    }


def gatekeeping_experiment(setting: Setting) -> dict[str, dict]:
    """Relative change of grassroots and hospital visits in the first full year of gatekeeping (2024)."""
    base = _runs(setting, days=731).annual
    gate = _runs(setting, scenario=Path("params") / "scenarios" / "gatekeeping.yaml", days=731).annual
    b, g = (x[x["year"] == 2024].set_index("replicate") for x in (base, gate))
    grass = lambda a: a["visits_by_level.village"] + a["visits_by_level.township"]  # noqa: E731
    hosp = lambda a: a["visits_by_level.county"] + a["visits_by_level.city"]  # noqa: E731
    how = "scenario gatekeeping against baseline_2023, 2024 (its first year), same seeds"
    return {
        "gatekeeping_pilot_primary_care_visits": _summary(grass(g) / grass(b) - 1.0)
        | {"how": f"relative change of village + township visits, {how}"},
        "gatekeeping_pilot_hospital_visits": _summary(hosp(g) / hosp(b) - 1.0)
        | {"how": f"relative change of county + city visits, {how}"},
    }


def township_minutes(params: Params, seed: int) -> pd.DataFrame:
    """Mean one-way minutes from each township's residents to its township centre and to the county hospitals."""
    c = build_county(params, seed)
    w = c.village_weight
    t = c.village_township
    out = {"township": c.township_names}
    for name, col in (("minutes_township_centre", 1), ("minutes_county", 2)):
        out[name] = np.bincount(t, w * c.travel_minutes[:, col], minlength=c.n_townships) / np.bincount(
            t, w, minlength=c.n_townships
        )
    return pd.DataFrame(out)


def distance_experiments(setting: Setting) -> tuple[dict[str, dict], pd.DataFrame]:
    """The distance experiments: a cross-section of townships, and the money value of travel time.

    The cross-section of townships (township-centre visits per resident against hours to the
    county hospitals: relative change per hour) and the money value of 30 minutes of travel
    implied by the choice weights. Returns the comparisons and the township table.
    """
    reps = _runs(setting)
    p = reps.params
    # Each replicate's seed lays out its own villages: its travel times go with its runs.
    minutes = pd.concat(
        [township_minutes(p, s).assign(replicate=r) for r, s in enumerate(reps.seeds)], ignore_index=True
    )
    town = reps.township.merge(minutes, on=["replicate", "township"])
    town["township_visits_per_resident"] = (
        town["visits_by_level.township"] * p.run.scale / town["residents"]
    )  # full-county visits a year / full-county residents
    slopes = []
    for _, g in town.groupby("replicate"):  # log visits ~ hours to the county + hours to the own centre
        y = np.log(g["township_visits_per_resident"].clip(lower=1e-9))
        x = np.column_stack([np.ones(len(g)), g["minutes_county"] / 60.0, g["minutes_township_centre"] / 60.0])
        slopes.append(np.linalg.lstsq(x, y, rcond=None)[0][1])
    c = p.choice
    wtp = lambda w: 0.5 * -w.travel_per_hour / -w.cost_per_100_yuan * 100.0  # noqa: E731 - yuan for 30 minutes
    fixed = lambda v, how: {"model": v, "model_lo": v, "model_hi": v, "how": how}  # noqa: E731
    return {
        "distance_thc_remoteness_outpatient_visits": _summary(np.expm1(slopes))
        | {
            "how": (
                "across the townships: relative change of township-centre visits per resident per hour of travel to "
                "the county hospitals, holding travel to the own centre (log-linear fit)"
            )
        },
        "distance_wtp_travel_minor_chronic": fixed(
            wtp(c.minor),
            "30 minutes of travel in yuan from the minor-episode weights: 0.5 h x travel weight / cost weight",
        ),
        "distance_wtp_travel_severe_chronic": fixed(
            wtp(c.severe), "30 minutes of travel in yuan from the severe-episode weights"
        ),
    }, town


def contract_experiments(setting: Setting) -> dict[str, dict]:
    """First trips to the grassroots: contracted residents against the others.

    Contracted minus other residents in the baseline (raw), and everyone contracted minus no one
    contracted (the model's causal effect).
    """
    base = _runs(setting).kpis
    everyone = _runs(setting, {"population.contract_rate": 1.0}).kpis
    no_one = _runs(setting, {"population.contract_rate": 0.0}).kpis
    raw = base["grassroots_first.contracted"] - base["grassroots_first.not_contracted"]
    causal = everyone["grassroots_first.contracted"].to_numpy() - no_one["grassroots_first.not_contracted"].to_numpy()
    return {
        "contract_first_choice_chc_shenzhen": _summary(raw)
        | {
            "how": (
                "baseline: share of first trips to the grassroots, contracted minus other residents (raw, like the "
                "study's unadjusted figure)"
            )
        },
        "contract_grassroots_visit_share_tianjin": _summary(causal)
        | {
            "how": (
                "everyone contracted minus no one contracted: share of first trips to the grassroots (the model's "
                "causal effect, like a matched comparison)"
            )
        },
    }


def severity_experiments(setting: Setting) -> dict[str, dict]:
    """Share of first trips to the grassroots by episode kind, and for all kinds."""
    k = _runs(setting).kpis
    every = _summary(k["grassroots_first.all"])
    out = {
        "willingness_first_visit_phc_meta": every
        | {"how": "share of all episodes' first trips that go to a village clinic or township centre"},
        "rural_first_contact_primary_fujian_henan_qinghai": every
        | {"how": "same (all residents; the model's county is rural)"},
        "hubei_rural_outpatient_upward_rate": _summary(1.0 - k["grassroots_share"])
        | {"how": "1 - grassroots share of visits"},
        "severity_primary_first_minor_rural": _summary(k["grassroots_first.minor"])
        | {"how": "share of minor episodes' first trips that go to a village clinic or township centre"},
        "severity_primary_first_chronic_rural": _summary(k["grassroots_first.chronic"])
        | {"how": "same, chronic follow-up episodes"},
        "severity_hypertension_primary_preference_rural": _summary(k["grassroots_first.chronic"])
        | {"how": "same, chronic follow-up episodes (all conditions)"},
        "severity_primary_first_serious_rural": _summary(k["grassroots_first.severe"])
        | {"how": "same, severe episodes (serious, emergency, admission)"},
    }
    return out


def verdict(
    value: float,
    low: float | None,
    high: float | None,
    model: float,
    model_lo: float,
    model_hi: float,
    share: bool = False,
    level: bool = False,
) -> str:
    """How the model's figure stands against the published one, in words.

    The model's interval is the 5-95% spread of single replicates (chance and parameter
    uncertainty of one run), so it is wider than an interval for the mean. The published
    range is the study's interval if it gives one; otherwise the value within a factor 1.5,
    and for a share also no more than 0.1 away (the tighter of the two). "agrees": the two
    ranges overlap. For an effect (``level`` False): "inconclusive" when the model's
    interval includes 0 (it does not fix the sign); "opposite direction" when the whole
    interval has the other sign; otherwise "same direction, model larger/smaller". For a
    level (a share or count, ``level`` True): "model higher/lower".
    """
    if not all(np.isfinite([value, model, model_lo, model_hi])):
        return "not computed"
    if low is not None and high is not None and np.isfinite([low, high]).all():
        lo, hi = low, high
    else:
        lo, hi = sorted((value / 1.5, value * 1.5))
        if share:
            lo, hi = max(lo, value - 0.1), min(hi, value + 0.1)
    if not level and model_lo <= 0.0 <= model_hi and value != 0:
        return "inconclusive (the model's interval includes 0)"
    if model_hi >= lo and model_lo <= hi:
        return "agrees"
    if level:
        return "model higher" if model_lo > hi else "model lower"
    if (model_hi < 0 < value) or (model_lo > 0 > value):
        return "opposite direction"
    return "same direction, model " + ("larger" if abs(model) > abs(value) else "smaller")


def compare(evidence: dict, results: dict[str, dict]) -> pd.DataFrame:
    """One row per evidence item: what was published, what the model gives, and the verdict.

    Items with no model result are listed with the reason in ``how``.
    """
    rows = []
    for e in evidence.get("effects", []) + evidence.get("other_checks", []):
        r = results.get(e["id"])
        row = {
            "id": e["id"],
            "lever": e.get("lever", "aggregate"),
            "role": e.get("role", ""),
            "published": e["value"],
            "low": e.get("low"),
            "high": e.get("high"),
            "unit": e.get("unit", ""),
            "comparability": e.get("comparability", ""),
            "source": e["source"],
        }
        if r is None:
            row |= {
                "model": np.nan,
                "model_lo": np.nan,
                "model_hi": np.nan,
                "verdict": "not computed",
                "how": "the model does not record this measure (see the evidence file's model_equivalent)",
            }
        else:
            row |= {k: r[k] for k in ("model", "model_lo", "model_hi", "how")}
            unit = str(e.get("unit", ""))
            share = unit.startswith("share")
            level = share or unit.startswith("CNY") or e.get("lever") is None  # a level, not an effect with a sign
            row["verdict"] = verdict(
                e["value"],
                e.get("low"),
                e.get("high"),
                r["model"],
                r["model_lo"],
                r["model_hi"],
                share=share,
                level=level,
            )
        rows.append(row)
    cols = [
        "id",
        "lever",
        "role",
        "published",
        "low",
        "high",
        "model",
        "model_lo",
        "model_hi",
        "verdict",
        "comparability",
        "unit",
        "how",
        "source",
    ]
    return pd.DataFrame(rows)[cols]


def dynamic_check(setting: Setting, scenario: str | Path = DYNAMIC) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the 2022 -> 2023 scenario; return (the comparison of relative changes, the annual table)."""
    reps = run_replicates(
        resolve(scenario),
        replicates=setting.replicates,
        seed=setting.seed,
        scale=setting.scale,
        overrides=dict(setting.overrides),
        ensemble=resolve(setting.ensemble) if setting.ensemble else None,
    )
    a = reps.annual.set_index(["replicate", "year"])
    rows = []
    for kpi, (observed, source) in OBSERVED_CHANGES.items():
        change = (a[kpi].xs(2023, level="year") / a[kpi].xs(2022, level="year") - 1.0).to_numpy()
        s = _summary(change)
        rows.append(
            {
                "kpi": kpi,
                "observed_change": observed,
                **s,
                "direction_agrees": bool(np.sign(s["model"]) == np.sign(observed)),
                "source": source,
            }
        )
    return pd.DataFrame(rows), reps.annual
