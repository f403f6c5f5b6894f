"""Validation: the model beside published evidence it was not fitted to.

``params/validation/evidence.yaml`` holds published figures (each with its source, what it
measured and the model quantity to compare). This module computes the model's side of
each comparison. Most items are mirrored by the simulated experiments of
:mod:`health_sim.experiments.mirror` (the study's design on one simulated county, arms under
common random numbers), run here over replicates, each with its own seed and, when an
ensemble is given, its own ensemble member (:func:`mirrored`). Two need more than one
county's arms: the remoteness gradient across townships (:func:`distance_gradient`, with the
causal effect of an hour's more travel beside it, :func:`remoteness_effect`) and everyone
contracted against no one (:func:`contract_matched`).

It also runs the dynamic check of the calibration (:func:`dynamic_check`): the model
started in 2022 with the 2023 changes switched on, its 2022 -> 2023 changes against
Yangshan's. Every function takes a :class:`Setting` (scale, replicates, seed, ensemble),
so a notebook can run them small under the tests and large for an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from health_sim.config.params import load_params, with_overrides
from health_sim.config.schema import Params
from health_sim.core.paths import resolve
from health_sim.experiments import mirror
from health_sim.experiments.ensemble import load_ensemble
from health_sim.experiments.evidence import load_evidence_file
from health_sim.experiments.scenario_runs import replicate_seeds, run_replicates
from health_sim.world.county import build_county

EVIDENCE = Path("params") / "validation" / "evidence.yaml"
DYNAMIC = Path("params") / "validation" / "dynamic_2022_2023.yaml"
BASE = Path("params") / "scenarios" / "baseline_2023.yaml"
DYNAMIC_ITEMS = {
    "grassroots_visits": "yangshan_grassroots_visits_change_2022_2023",
    "downward_referrals": "yangshan_downward_referrals_change_2022_2023",
}
"""The KPI of each observed 2022 -> 2023 relative change (2023 / 2022 - 1) and its evidence item."""


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


def _whole(setting: Setting, scenario: str | Path):
    """Replicates of ``scenario`` over its own days (the dynamic checks), made once."""
    return _cached_runs(setting, (), str(scenario), None)


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


NATIONAL = Path("params") / "validation" / "national_2015_2021.yaml"


def national_dynamic(setting: Setting, scenario: str | Path = NATIONAL) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2015-2021 run with the secular forces on: (its change of the grassroots share against China's, annual table).

    The county as fitted for 2023, started in 2015 with incomes against the prices of care
    and its county and city hospitals set back by the secular growth, no reform: does its
    share fall as China's did (0.564 -> 0.502)? Direction and rough size, not a fit.
    """
    reps = _whole(setting, scenario)
    a = reps.annual.set_index(["replicate", "year"])["grassroots_share"]
    first, last = int(reps.annual["year"].min()), int(reps.annual["year"].max())
    change = (a.xs(last, level="year") - a.xs(first, level="year")).to_numpy()
    nat = load_evidence()["national_grassroots_share"]["values"]
    observed = float(nat[last] - nat[first]) if first in nat and last in nat else float("nan")
    s = _summary(change)
    row = {
        "measure": f"change of the grassroots share, {first} -> {last} (share points / 100)",
        "observed_change": observed,
        **s,
        "direction_agrees": bool(np.sign(s["model"]) == np.sign(observed)) and s["model_hi"] * s["model_lo"] > 0,
        "source": "NHC statistical bulletins (evidence file: national_grassroots_share)",
    }
    return pd.DataFrame([row]), reps.annual


HOSPITAL_GROWTHS = (0.0, 0.03, 0.049, 0.07)
"""Yearly hospital growth rates of :func:`national_sensitivity`: none, lower, the national beds' 4.9%, higher."""


def national_sensitivity(
    setting: Setting, growths: tuple[float, ...] = HOSPITAL_GROWTHS, scenario: str | Path = NATIONAL
) -> pd.DataFrame:
    """How the 2015-2021 change of the share depends on the hospital growth rate (incomes as in ``scenario``).

    One row per rate: the change of the grassroots share (mean, 5-95% of replicates), the
    county hospitals' bed occupancy in the first and the last year (means), and hospital
    (county + city) and grassroots visits' relative change over the run (means).
    """
    own = load_params(resolve(scenario)).secular.hospital_growth_per_year
    rows = []
    for g in growths:  # the scenario's own rate is the run national_dynamic made (cached)
        s = (
            setting
            if g == own
            else replace(setting, overrides=(*setting.overrides, ("secular.hospital_growth_per_year", g)))
        )
        a = _whole(s, scenario).annual.set_index(["replicate", "year"])
        first, last = a.index.get_level_values("year").min(), a.index.get_level_values("year").max()
        a0, a1 = a.xs(first, level="year"), a.xs(last, level="year")
        hosp = ("visits_by_level.county", "visits_by_level.city")
        rows.append(
            {
                "hospital_growth_per_year": g,
                **_summary((a1["grassroots_share"] - a0["grassroots_share"]).to_numpy()),
                f"occupancy_{first}": float(a0["county_hospital_occupancy"].mean()),
                f"occupancy_{last}": float(a1["county_hospital_occupancy"].mean()),
                "hospital_visits_change": float((a1[list(hosp)].sum(axis=1) / a0[list(hosp)].sum(axis=1) - 1).mean()),
                "grassroots_visits_change": float((a1["grassroots_visits"] / a0["grassroots_visits"] - 1).mean()),
            }
        )
    return pd.DataFrame(rows)


def _summary(values: np.ndarray) -> dict:
    v = np.asarray(values, dtype=float)
    return {
        "model": float(np.mean(v)),
        "model_lo": float(np.quantile(v, 0.05)),
        "model_hi": float(np.quantile(v, 0.95)),
    }


def mirrored(setting: Setting, ids: list[str] | None = None) -> dict[str, dict]:
    """Every item the simulated experiments mirror (:mod:`health_sim.experiments.mirror`), over the replicates.

    Replicate ``r`` runs the arms on one county with the seed of replicate ``r`` and, when the
    setting names a calibrated file, the ensemble member drawn for replicate ``r`` (so the
    interval carries chance and parameter uncertainty). ``ids``: the items [default: all].
    """
    ids = list(ids or mirror.EXPERIMENTS)
    base = with_overrides(
        load_params(resolve(BASE)), dict(setting.overrides) | {"run.days": setting.days, "run.scale": setting.scale}
    )
    seeds = replicate_seeds(setting.seed, setting.replicates)
    members = (
        [v for _, v in load_ensemble(resolve(setting.ensemble)).overrides(setting.replicates, setting.seed)]
        if setting.ensemble
        else [{}] * setting.replicates
    )
    rows = [
        mirror.simulate(with_overrides(base, m) if m else base, s, ids) for s, m in zip(seeds, members, strict=True)
    ]
    return {i: _summary([r[i] for r in rows]) | {"how": mirror.EXPERIMENTS[i].how} for i in ids}


GATEKEEPING_RULES = (0.2, 1.0)
"""Rate points taken from unreferred county and city care in :func:`gatekeeping_rules`: the lever's
default, and none of the rate left (no reimbursement without a referral, the usual Chinese rule)."""
GATEKEEPING_ITEMS = ("gatekeeping_pilot_primary_care_visits", "gatekeeping_pilot_hospital_visits")


def gatekeeping_rules(setting: Setting, reductions: tuple[float, ...] = GATEKEEPING_RULES) -> pd.DataFrame:
    """The gatekeeping pilot's two outcomes under each rule, since the pilot's own rule is not in its abstract.

    One row per rule (``reductions``: rate points taken from unreferred hospital care) and item:
    the model's mean and 5-95% spread over the replicates, as :func:`mirrored` gives them.
    """
    rows = []
    for cut in reductions:
        s = replace(setting, overrides=(*setting.overrides, ("policies.gatekeeping.unreferred_reduction", cut)))
        res = mirrored(s, list(GATEKEEPING_ITEMS))
        for i in GATEKEEPING_ITEMS:
            rows.append(
                {"unreferred_reduction": cut, "id": i, **{k: res[i][k] for k in ("model", "model_lo", "model_hi")}}
            )
    return pd.DataFrame(rows)


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


def distance_gradient(setting: Setting) -> tuple[dict[str, dict], pd.DataFrame]:
    """The remoteness gradient across the townships, and the township table it is fitted on.

    Township-centre visits per resident against hours to the county hospitals (relative change
    per hour, holding travel to the own centre; log-linear fit per replicate).
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
    return {
        "distance_thc_remoteness_outpatient_visits": _summary(np.expm1(slopes))
        | {
            "how": (
                "across the townships: relative change of township-centre visits per resident per hour of travel to "
                "the county hospitals, holding travel to the own centre (log-linear fit)"
            )
        },
    }, town


REMOTENESS_MINUTES = 60.0
"""The remoteness arm: every resident this many minutes farther from the county and city hospitals."""


def remoteness_effect(setting: Setting) -> dict:
    """The model's causal effect of remoteness: township-centre visits with every resident an hour farther away.

    The base arm against the same county with ``county.hospital_extra_minutes`` = 60 (same seeds
    and members: common random numbers): the relative change of township-centre visits, and of
    county-hospital visits, 5-95% of replicates. Set beside the cross-section of
    :func:`distance_gradient`, which compares townships that differ in more than distance.
    """
    base = _runs(setting).kpis
    far = _runs(setting, {"county.hospital_extra_minutes": REMOTENESS_MINUTES}).kpis
    out = {}
    for level in ("township", "county"):
        col = f"visits_by_level.{level}"
        out[level] = _summary(far[col].to_numpy() / base[col].to_numpy() - 1.0)
    return out


def contract_matched(setting: Setting) -> dict[str, dict]:
    """Everyone contracted against no one contracted: the model's causal effects of a contract.

    First trips to the grassroots (set beside the propensity-score-matched comparison of
    contracted and other residents) and the outpatient episodes of residents aged 45+ for
    which care was sought (set beside the instrumental-variable estimate on outpatient use).
    """
    all_in, none_in = (
        _runs(setting, {"population.contract_rate": 1.0}),
        _runs(setting, {"population.contract_rate": 0.0}),
    )
    everyone, no_one = all_in.kpis, none_in.kpis
    causal = everyone["grassroots_first.contracted"].to_numpy() - no_one["grassroots_first.not_contracted"].to_numpy()
    use = [r.township.groupby("replicate")["first_trips_outpatient_45plus"].sum().to_numpy() for r in (all_in, none_in)]
    return {
        "contract_outpatient_utilization_rural_shandong": _summary(use[0] / use[1] - 1.0)
        | {
            "how": (
                "everyone contracted against no one contracted: relative change of the minor, chronic and serious "
                "episodes of residents aged 45+ for which care was sought (first trips)"
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


def rural_admissions(setting: Setting) -> dict[str, dict]:
    """Where residents outside the county seat are admitted: the city hospital's (tier 3) share of their admissions.

    The twelve townships outside the county seat (a tenth of their residents in towns) stand
    for the study's rural areas; the model has no disease detail, so every admission counts
    (the study: first admissions for stroke or ischaemic heart disease).
    """
    reps = _runs(setting)
    town = reps.township[reps.township["township"] != reps.params.county.county_seat]
    g = town.groupby("replicate")[["admitted", "admitted_city"]].sum()
    city = g["admitted_city"] / g["admitted"]
    return {
        "severity_rural_cardiovascular_admissions_tier3": _summary(city.to_numpy())
        | {
            "how": (
                "base runs: share of the admissions of residents outside the county seat that were at the city "
                "hospital (every admission: the model has no disease detail)"
            )
        },
    }


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
    ranges overlap. For an effect (``level`` False): when the model's interval includes 0
    (it does not fix the sign), "model smaller" if the whole interval lies nearer 0 than the
    published range (an effect near none against one clearly not), else "inconclusive";
    "opposite direction" when the whole interval has the other sign; otherwise "same direction,
    model larger/smaller". For a level (a share or count, ``level`` True): "model
    higher/lower".
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
        near = min(abs(lo), abs(hi))  # the published range's edge nearest 0
        if lo * hi > 0 and max(abs(model_lo), abs(model_hi)) < near:
            return "model smaller (its interval includes 0, not the published range)"
        return "inconclusive (the model's interval includes 0)"
    if model_hi >= lo and model_lo <= hi:
        return "agrees"
    if level:
        return "model higher" if model_lo > hi else "model lower"
    if (model_hi < 0 < value) or (model_lo > 0 > value):
        return "opposite direction"
    return "same direction, model " + ("larger" if abs(model) > abs(value) else "smaller")


def compare(evidence: dict, results: dict[str, dict]) -> pd.DataFrame:
    """One row per evidence item (the county's figures, effects, other checks): published, model, verdict.

    Items with no model result are listed with the reason in ``how``. ``why``: the evidence
    file's ``conflict`` for the item (what is known of a disagreement), empty if it has none.
    """
    rows = []
    for e in evidence.get("county_figures", []) + evidence.get("effects", []) + evidence.get("other_checks", []):
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
            "why": e.get("conflict", ""),
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
            level = (share or unit.startswith("CNY") or e.get("lever") is None) and not unit.startswith(
                "relative change"
            )  # a level, not an effect with a sign (a change over time is an effect)
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
        "why",
    ]
    return pd.DataFrame(rows)[cols]


def dynamic_check(setting: Setting, scenario: str | Path = DYNAMIC) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the 2022 -> 2023 scenario; return (the comparison of relative changes, the annual table).

    The observed changes are the evidence file's items (:data:`DYNAMIC_ITEMS`).
    """
    reps = _whole(setting, scenario)
    a = reps.annual.set_index(["replicate", "year"])
    items = {i["id"]: i for i in load_evidence()["county_figures"]}
    rows = []
    for kpi, item_id in DYNAMIC_ITEMS.items():
        before, after = a[kpi].xs(2022, level="year").to_numpy(), a[kpi].xs(2023, level="year").to_numpy()
        change = np.full(before.shape, np.nan)  # a change from nothing is undefined, not infinite
        np.divide(after, before, out=change, where=before > 0)
        change -= 1.0
        s = _summary(change)
        observed = items[item_id]["value"]
        rows.append(
            {
                "kpi": kpi,
                "id": item_id,
                "observed_change": observed,
                **s,
                "direction_agrees": bool(np.sign(s["model"]) == np.sign(observed)),
                "source": items[item_id]["source"],
            }
        )
    return pd.DataFrame(rows), reps.annual


def dynamic_items(setting: Setting, scenario: str | Path = DYNAMIC) -> dict[str, dict]:
    """The dynamic check's relative changes as evidence-item results (for :func:`compare`)."""
    table, _ = dynamic_check(setting, scenario)
    how = "the county run from 2022 with its 2023 reforms from 2023-01-01: relative change 2022 -> 2023 of {}"
    return {
        r.id: {"model": r.model, "model_lo": r.model_lo, "model_hi": r.model_hi, "how": how.format(r.kpi)}
        for r in table.itertuples()
    }
