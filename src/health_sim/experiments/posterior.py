"""Bayesian calibration to the evidence: ABC-SMC (pyabc) on the evidence file's calibration items.

A fit file (params/calibrate/*_abc.yaml) names a base scenario, the evidence file, the run
(scale, days), the parameters with their priors (uniform, on a log scale for positive
parameters spanning orders of magnitude) and the budget. Every calibration item of the
evidence file is simulated by its experiment (:mod:`health_sim.experiments.mirror`: the
study's design run on one simulated county, arms under common random numbers), and the
distance of a simulation is

    sqrt( sum_i ((model_i - published_i) / se_i)^2 )

with ``se_i`` the item's standard error (published, from its 95% interval, or assumed with a
reason: :meth:`health_sim.experiments.evidence.Item.standard_error`), so an item is weighed by
how precisely it is known. Each simulation draws a new seed, so the model's own chance
variation enters the fit as it should.

Why pyabc: it is maintained, runs ABC-SMC with adaptive thresholds and kernels on a laptop,
keeps every generation in an SQLite database (so a run resumes after an interruption), and
needs no neural-network stack (sbi would bring torch; ELFI is little maintained).

``runs`` independent runs (different seeds) go side by side, one core each. Convergence is
judged by their agreement: for each parameter the difference of the runs' posterior
medians against the pooled posterior standard deviation, and the ratio of their standard
deviations. The result, written to ``out`` (default params/calibrated/<name>.yaml) in the
calibrated-file format scenario runs draw from (``ensemble``), holds the provenance, the fit
(each calibration item: published, its standard error, the accepted simulations' median and
90% range), the identification (each parameter's posterior against its prior, and the item
that moves most with it among the prior draws of the first generation) and the agreement
of the runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import field_validator

from health_sim.config.params import load_params, params_hash, with_overrides
from health_sim.core.errors import ParamsError
from health_sim.core.fields import P, Section
from health_sim.core.paths import atomic_write_text, resolve
from health_sim.experiments.calibrate import Prior, read_written
from health_sim.experiments.evidence import load_evidence_file
from health_sim.experiments.mirror import EXPERIMENTS, simulate
from health_sim.experiments.sweep import Factor, check_factors, load_spec

HEADER = """\
# Calibrated parameters: {name}. Written by `health-sim fit {spec}`; do not edit by hand.
#
# A posterior sample by ABC-SMC (pyabc) on the calibration items of the evidence file.
# ensemble: parameter sets drawn from the pooled posterior of the independent runs
# (scenario runs draw from them, so that intervals carry parameter uncertainty); fit:
# each item against the accepted simulations and against fresh simulations of every draw
# (predictive_*); identification: posterior against prior,
# and the item that pins each parameter; agreement: whether the runs found the same
# posterior. See src/health_sim/experiments/posterior.py.
"""


ESS_FLOOR = 0.3
"""Smallest effective sample size of a run's last generation, as a share of the population, for convergence."""


class FitSpec(Section):
    """A fit file: the evidence to fit, the parameters and their priors, and the budget of ABC-SMC."""

    name: str = P(..., "Name; the runs' databases go to outputs/calibrate/<name>/.")
    description: str = P("", "What is fitted to what.")
    base: str = P(..., "Base scenario file (relative to this file or the repository root).")
    evidence: str = P("../validation/evidence.yaml", "The evidence file; its calibration items are fitted.")
    run: dict[str, Any] = P(dict, "Overrides of the base for every simulation, e.g. run.scale and run.days.")
    parameters: dict[str, Prior] = P(..., "Parameters to fit, by dotted key, with their uniform prior ranges.")
    population: int = P(150, "Particles per generation.", ge=4, le=100_000)
    generations: int = P(12, "Generations at most.", ge=1, le=100)
    simulations: int = P(3000, "Simulations at most per run (all generations, the first included).", ge=10)
    min_acceptance: float = P(0.02, "Stop a run when a generation accepts fewer than this share.", ge=0.0, le=1.0)
    runs: int = P(2, "Independent runs (different seeds), side by side.", ge=1, le=16)
    members: int = P(60, "Posterior draws written as the ensemble.", ge=1, le=10_000)
    seed: int = P(20230101, "Seed of the runs.", ge=0, le=2**32 - 1)
    kernel: Literal["global", "local"] = P(
        "global",
        "Perturbation kernel of ABC-SMC: one multivariate normal fitted to the whole population (pyabc's default), or "
        "one per particle fitted to its nearest quarter (for ridges; needs 5 particles a parameter).",
    )
    out: str = P("", "Calibrated file written, relative to this file [default: params/calibrated/<name>.yaml].")

    @field_validator("parameters")
    @classmethod
    def _some(cls, v: dict) -> dict:
        if not v:
            raise ValueError("empty: give at least one")
        return v


def load_fit(path: str | Path, changes: dict | None = None):
    """Read and validate a fit file: its base, every parameter at both ends of its prior, and its evidence items.

    Returns (spec, base path, calibration items).
    """
    path = Path(path)
    spec, base = load_spec(FitSpec, path, changes)
    check_factors(
        path,
        "parameters",
        load_params(base),
        spec.run,
        {k: Factor(low=p.low, high=p.high) for k, p in spec.parameters.items()},
    )
    evidence = Path(os.path.normpath(path.parent / spec.evidence))
    if not evidence.exists():
        evidence = resolve(spec.evidence)
    items = load_evidence_file(evidence).by_role("calibration")
    missing = [i.id for i in items if i.id not in EXPERIMENTS]
    if missing:
        raise ParamsError(f"{evidence}: {missing[0]}: a calibration item with no simulated experiment (mirror.py)")
    return spec, base, items, evidence


def _names(spec: FitSpec) -> dict[str, str]:
    """The pyabc parameter name of each dotted key (p00, p01, ...: the database's column names)."""
    return {k: f"p{i:02d}" for i, k in enumerate(spec.parameters)}


def _prior(spec: FitSpec):
    """The priors in the space pyabc moves in: each uniform prior as a standard logistic on the logit of its range.

    A uniform prior on [low, high] (on log10 for ``log`` parameters) is the same distribution as a standard
    logistic on z = logit((x - low) / (high - low)), so the posterior is unchanged; but the Gaussian kernels of
    ABC-SMC then move on an unbounded line. On the bounded range they proposed past the edges, the mixture density
    of particles near an edge was undercounted, and those particles took most of the importance weight (a pilot:
    effective sample size 9 of 60 after one generation).
    """
    import pyabc

    return pyabc.Distribution(**{name: pyabc.RV("logistic", 0.0, 1.0) for name in _names(spec).values()})


def values_of(spec: FitSpec, particle: dict) -> dict[str, float]:
    """Dotted-key parameter values of a pyabc particle (from the logit of the prior range; log10 ranges undone)."""
    names = _names(spec)
    out = {}
    for k, p in spec.parameters.items():
        lo, hi = (math.log10(p.low), math.log10(p.high)) if p.log else (p.low, p.high)
        u = 1.0 / (1.0 + math.exp(-min(max(float(particle[names[k]]), -700.0), 700.0)))
        x = lo + (hi - lo) * u
        out[k] = float(10**x if p.log else x)
    return out


class _Simulator:
    """pyabc's model: a particle's parameters -> the calibration items on one simulated county (a fresh seed)."""

    def __init__(self, spec: FitSpec, base: Path, items: list[str], seed: int):
        self.spec, self.items = spec, items
        self.params = with_overrides(load_params(base), dict(spec.run))
        self.rng = np.random.default_rng(seed)

    def __call__(self, particle) -> dict[str, float]:
        p = with_overrides(self.params, values_of(self.spec, dict(particle)))
        seed = int(self.rng.integers(1, 2**31 - 1))
        out = simulate(p, seed, self.items)
        return {k: (v if np.isfinite(v) else 1e9) for k, v in out.items()}


def _one_run(spec_path: str, changes: dict | None, folder: str, k: int) -> str:
    """Run (or resume) independent run ``k`` in its own database; return its path."""
    import pyabc

    logging.getLogger("ABC").setLevel(logging.INFO)
    spec, base, items, _ = load_fit(spec_path, changes)
    np.random.seed((spec.seed + 104729 * (k + 1)) % 2**32)  # pyabc proposes from numpy's global generator
    observed = {i.id: float(i.value) for i in items}
    weights = {i.id: 1.0 / float(i.standard_error()) for i in items}
    db = Path(folder) / f"run{k}.db"
    uri = f"sqlite:///{db}"
    done = 0
    if db.exists():
        h = pyabc.History(uri)
        done = int(h.total_nr_simulations or 0) if h.n_populations > 0 else 0
        np.random.seed((spec.seed + 104729 * (k + 1) + done) % 2**32)  # a resumed run goes on with new proposals
    sim = _Simulator(spec, base, [i.id for i in items], seed=(spec.seed + 7919 * k + done) % 2**32)
    abc = pyabc.ABCSMC(
        sim,
        _prior(spec),
        pyabc.PNormDistance(p=2, fixed_weights=weights),
        population_size=spec.population,
        # The local kernel needs at least 5 particles a parameter for its covariances; below that the global one serves.
        transitions=(
            pyabc.LocalTransition(k_fraction=0.25)
            if spec.kernel == "local" and spec.population >= 5 * len(spec.parameters)
            else pyabc.MultivariateNormalTransition()
        ),
        sampler=pyabc.SingleCoreSampler(),
    )
    if db.exists() and pyabc.History(uri).n_populations > 0:
        h = abc.load(uri, 1)
        left = spec.generations - h.n_populations
        pops = h.get_all_populations()
        last = pops[pops["t"] == h.max_t].iloc[0]
        if last["particles"] / max(last["samples"], 1) < spec.min_acceptance:
            left = 0  # it stopped because acceptance fell below the floor: finished, not interrupted
        print(f"fit {spec.name} run {k}: {h.n_populations} generations and {done} simulations done", flush=True)
    else:
        abc.new(uri, observed)
        left = spec.generations
    if left > 0 and done < spec.simulations:
        abc.run(
            max_nr_populations=left,
            min_acceptance_rate=spec.min_acceptance,
            max_total_nr_simulations=spec.simulations,
        )
    return str(db)


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    o = np.argsort(x)
    c = np.cumsum(w[o]) / w.sum()
    return float(x[o][np.searchsorted(c, q, side="left").clip(0, len(x) - 1)])


def _population(spec: FitSpec, db: str, t: int | None = None):
    """(history, parameters, weights, simulated items) of generation ``t`` of a run [default: its last], row by row."""
    import pyabc

    h = pyabc.History(f"sqlite:///{db}")
    pop = h.get_population(t=h.max_t if t is None else t)
    params = pd.DataFrame([values_of(spec, dict(p.parameter)) for p in pop.particles])
    stats = pd.DataFrame([dict(p.sum_stat) for p in pop.particles])
    w = np.array([p.weight for p in pop.particles], dtype=float)
    return h, params, w, stats


def summarise(spec: FitSpec, items: list, dbs: list[str]) -> dict:
    """Fit, identification, agreement and the ensemble from the runs' databases."""
    import pyabc

    finals = [_population(spec, db) for db in dbs]
    runs, pooled_p, pooled_w, pooled_s, pooled_sw = [], [], [], [], []
    for k, (h, vals, w, stats) in enumerate(finals):
        pops = h.get_all_populations()
        pops = pops[pops["t"] >= 0]
        runs.append(
            {
                "run": k,
                "generations": int(h.n_populations),
                "simulations": int(h.total_nr_simulations),
                "final_epsilon": float(pops["epsilon"].iloc[-1]),
                "final_acceptance": float(pops["particles"].iloc[-1] / pops["samples"].iloc[-1]),
                "effective_sample_size": float(pyabc.weighted_statistics.effective_sample_size(w)),
                "minutes": round(
                    (pd.Timestamp(pops["population_end_time"].max()) - pd.Timestamp(h.get_abc().start_time))
                    / pd.Timedelta(minutes=1),
                    1,
                ),
                "epsilons": [round(float(e), 4) for e in pops["epsilon"]],
            }
        )
        pooled_p.append(vals)
        pooled_w.append(w / w.sum() / len(finals))
        pooled_s.append(stats)
        pooled_sw.append(w / w.sum() / len(finals))
    P_, W = pd.concat(pooled_p, ignore_index=True), np.concatenate(pooled_w)
    S, SW = pd.concat(pooled_s, ignore_index=True), np.concatenate(pooled_sw)

    fit = []
    for it in items:
        x = S[it.id].to_numpy(dtype=float)
        fit.append(
            {
                "id": it.id,
                "published": float(it.value),
                "se": round(float(it.standard_error()), 6),
                "model_mean": float(np.sum(SW * x) / SW.sum()),
                "model_median": _weighted_quantile(x, SW, 0.5),
                "model_lo": _weighted_quantile(x, SW, 0.05),
                "model_hi": _weighted_quantile(x, SW, 0.95),
                "z": round((_weighted_quantile(x, SW, 0.5) - float(it.value)) / float(it.standard_error()), 3),
            }
        )

    # Which item moves most with each parameter among the first generation's particles (near the prior).
    gen0 = pd.concat([pd.concat(_population(spec, db, 0)[1::2], axis=1) for db in dbs], ignore_index=True)
    ident = {}
    for key, p in spec.parameters.items():
        x = P_[key].to_numpy(dtype=float)
        lo, hi = (math.log10(p.low), math.log10(p.high)) if p.log else (p.low, p.high)
        xs = np.log10(x) if p.log else x
        mean = float(np.sum(W * xs))
        sd = float(math.sqrt(max(np.sum(W * (xs - mean) ** 2), 0.0)))
        corr = gen0[[key, *[i.id for i in items]]].corr(method="spearman")[key].drop(key).abs().dropna()
        ident[key] = {
            "prior": [p.low, p.high] + (["log"] if p.log else []),
            "posterior_median": _weighted_quantile(x, W, 0.5),
            "posterior_90": [_weighted_quantile(x, W, 0.05), _weighted_quantile(x, W, 0.95)],
            "sd_ratio": round(sd / ((hi - lo) / math.sqrt(12.0)), 3),
            "pinned_by": (corr.idxmax() if len(corr) else "") if len(corr) and corr.max() >= 0.2 else "none",
            "rank_correlation": round(float(corr.max()), 3) if len(corr) else None,
        }
        ident[key]["verdict"] = (
            "well identified" if ident[key]["sd_ratio"] < 0.35 else
            "partly identified" if ident[key]["sd_ratio"] < 0.7 else "not identified (posterior close to prior)"
        )  # fmt: skip

    ess_ok = all(r["effective_sample_size"] >= ESS_FLOOR * spec.population for r in runs)
    if not ess_ok:  # a few particles carry all the weight: their spread says nothing about identification
        for v in ident.values():
            v["verdict"] = "unknown: the fit did not converge (effective sample size too small)"
    agreement = {}
    for key, p in spec.parameters.items():
        per = []
        for vals, w in zip(pooled_p, pooled_w, strict=True):
            x = np.log10(vals[key].to_numpy()) if p.log else vals[key].to_numpy()
            m = float(np.sum(w * x) / w.sum())
            per.append((_weighted_quantile(x, w, 0.5), math.sqrt(max(float(np.sum(w * (x - m) ** 2) / w.sum()), 0.0))))
        if len(per) > 1:
            meds, sds = zip(*per, strict=True)
            pooled = math.sqrt(np.mean(np.square(sds))) or 1e-12
            shift = (max(meds) - min(meds)) / pooled
            ratio = max(sds) / max(min(sds), 1e-12)
            agreement[key] = {
                "median_shift_in_sd": round(shift, 3),
                "sd_ratio": round(ratio, 3),
                "agree": bool(shift < 0.5 and ratio < 2.0),
            }
    g = np.random.default_rng(np.random.SeedSequence([spec.seed, 0xAB5]))
    n = min(spec.members, len(P_))
    pick = g.choice(len(P_), size=n, replace=False, p=W / W.sum())
    ensemble = [{"trial": int(i), "values": {k: round(float(P_.loc[i, k]), 6) for k in spec.parameters}} for i in pick]
    return {"runs": runs, "fit": fit, "identification": ident, "agreement": agreement, "ensemble": ensemble}


def _predict_one(params, values: dict, seed: int, ids: list[str]) -> dict[str, float]:
    return simulate(with_overrides(params, values), seed, ids)


def predictive(spec: FitSpec, base: Path, ids: list[str], members: list[dict], seed: int) -> pd.DataFrame:
    """Each item of ``ids`` simulated afresh for every posterior member (new seeds, the cores side by side)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from health_sim.experiments.scenario_runs import replicate_seeds

    params = with_overrides(load_params(base), dict(spec.run))
    n = len(members)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn")) as ex:
        rows = list(ex.map(_predict_one, [params] * n, members, replicate_seeds(seed, n), [ids] * n))
    return pd.DataFrame(rows)


def fit(
    spec_path: str | Path,
    out: str | Path | None = None,
    write: str | Path | None = None,
    changes: dict | None = None,
    force: bool = False,
) -> Path:
    """Run (or resume) the fit; write the calibrated file and return its path.

    ``out``: the working folder of the runs' databases [default outputs/calibrate/<name>];
    ``write``: the calibrated file [default: the spec's ``out``, else params/calibrated/<name>.yaml].
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    import pyabc

    from health_sim import __version__
    from health_sim.experiments.outdir import check_file_place
    from health_sim.experiments.sweep import claim, default_out

    spec, base, items, evidence = load_fit(spec_path, changes)
    folder = Path(out) if out else default_out(spec, spec, kind="calibrate")
    target = (
        Path(write)
        if write
        else Path(os.path.normpath(Path(spec_path).parent / spec.out))
        if spec.out
        else resolve("params") / "calibrated" / f"{spec.name}.yaml"
    )
    check_file_place(target, lambda text: text.startswith(HEADER.split("{name}")[0]), force=force, flag="--write")
    t0 = time.perf_counter()
    with claim(folder, spec.model_copy(update={"out": "", "simulations": 0, "generations": 0}), base, [],
               kind="fit", force=force):  # fmt: skip
        print(
            f"fit {spec.name}: {len(items)} calibration items, {len(spec.parameters)} parameters, {spec.runs} runs of "
            f"at most {spec.simulations} simulations ({spec.population} particles, {spec.generations} generations); "
            f"databases in {folder}",
            flush=True,
        )
        with ProcessPoolExecutor(
            max_workers=min(spec.runs, os.cpu_count() or 1), mp_context=get_context("spawn")
        ) as ex:
            dbs = list(ex.map(_one_run, [str(spec_path)] * spec.runs, [changes] * spec.runs,
                              [str(folder)] * spec.runs, range(spec.runs)))  # fmt: skip
        result = summarise(spec, items, dbs)
        print(f"fit {spec.name}: posterior predictive check, {len(result['ensemble'])} draws on new seeds", flush=True)
        pred = predictive(spec, base, [i.id for i in items], [m["values"] for m in result["ensemble"]], spec.seed + 1)
        for row in result["fit"]:
            x = pred[row["id"]].to_numpy(dtype=float)
            row |= {
                "predictive_mean": float(np.mean(x)),
                "predictive_sd": float(np.std(x, ddof=1)) if len(x) > 1 else 0.0,
                "predictive_lo": float(np.quantile(x, 0.05)),
                "predictive_hi": float(np.quantile(x, 0.95)),
            }
    minutes = (time.perf_counter() - t0) / 60.0
    converged = bool(
        all(r["effective_sample_size"] >= ESS_FLOOR * spec.population for r in result["runs"])
        and all(a["agree"] for a in result["agreement"].values())
    )
    base_params = load_params(base)
    member = result["ensemble"][0]["values"]
    doc = {
        "provenance": {
            "method": "ABC-SMC (pyabc), distance sqrt(sum(((model - published) / se)^2)) over the calibration items",
            "pyabc": pyabc.__version__,
            "spec": Path(spec_path).as_posix(),
            "spec_sha256": hashlib.sha256(Path(spec_path).read_bytes()).hexdigest(),
            "evidence": evidence.as_posix(),
            "evidence_sha256": hashlib.sha256(evidence.read_bytes()).hexdigest(),
            "items": [i.id for i in items],
            "base": Path(os.path.normpath(base)).as_posix(),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "health_sim": __version__,
            "seed": spec.seed,
            "run": dict(spec.run),
            "population": spec.population,
            "runs": result["runs"],
            "minutes": max(r["minutes"] for r in result["runs"]),
            "minutes_rule": "wall minutes from the start of a run to its last generation, the longest run",
            "minutes_this_call": round(minutes, 1),
            "within_tolerance": True,  # every draw is from the last accepted population (within its threshold)
            "converged": converged,
            "convergence_rule": (
                f"every run's last generation has an effective sample size of at least {ESS_FLOOR:.0%} of the "
                "population, and the runs agree on every parameter (medians within half a posterior sd, sds within a "
                "factor 2)"
            ),
            "items_within_2_se": bool(all(abs(f["z"]) <= 2.0 for f in result["fit"])),
            "items_rule": "an item is reached when the accepted simulations' median is within 2 standard errors",
            "all_runs_agree": bool(all(a["agree"] for a in result["agreement"].values()))
            if result["agreement"]
            else None,
            "base_params_sha256": params_hash(with_overrides(base_params, member)),
            "hash_rule": "sha256 of the base parameters with a member's values set (fitted keys' defaults ignored)",
        },
        "fit": result["fit"],
        "identification": result["identification"],
        "agreement": result["agreement"],
        "ensemble": result["ensemble"],
    }
    atomic_write_text(
        target,
        HEADER.format(name=spec.name, spec=Path(spec_path).as_posix())
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120),
    )
    return target


# --- reading a posterior file (notebooks/calibration.ipynb) ------------------------------------


def load_posterior(path: str | Path) -> dict:
    """A posterior file written by :func:`fit` as data (one ParamsError line if it is not one)."""
    p = resolve(path)
    doc = read_written(p, ("provenance", "fit", "identification", "agreement", "ensemble"), "health-sim fit")
    if not str(doc["provenance"].get("method", "")).startswith("ABC-SMC"):
        raise ParamsError(f"{p}: provenance.method: not an ABC-SMC posterior (health-sim fit)")
    return doc


def fit_table(doc: dict) -> pd.DataFrame:
    """Each calibration item against the fit: published, se, accepted simulations (median, 90% range, z), fresh ones.

    The fresh simulations are every posterior draw run again on a new seed (predictive mean, sd and 90% range).
    """
    t = pd.DataFrame(doc["fit"])
    t["within_2_se"] = t["z"].abs() <= 2.0
    return t


def identification_table(doc: dict) -> pd.DataFrame:
    """Per parameter: prior, posterior median and 90% interval, how much the data narrowed it, the item pinning it.

    ``narrowed`` = 1 - posterior sd / prior sd (on the prior's scale): near 1 pinned down, near 0 left free.
    """
    rows = []
    for k, v in doc["identification"].items():
        rows.append(
            {
                "parameter": k,
                "prior_low": v["prior"][0],
                "prior_high": v["prior"][1],
                "log": len(v["prior"]) > 2,
                "best": v["posterior_median"],
                "posterior_5": v["posterior_90"][0],
                "posterior_95": v["posterior_90"][1],
                "narrowed": 1.0 - v["sd_ratio"],
                "verdict": v["verdict"],
                "pinned_by": v["pinned_by"],
                "rank_correlation": v["rank_correlation"],
                **({f"runs_{a}": b for a, b in doc["agreement"][k].items()} if k in doc["agreement"] else {}),
            }
        )
    return pd.DataFrame(rows)


def members_table(doc: dict) -> pd.DataFrame:
    """One row per posterior draw in the ensemble: its particle index and parameter values."""
    return pd.DataFrame([{"trial": m["trial"], **m["values"]} for m in doc["ensemble"]])


def runs_table(doc: dict) -> pd.DataFrame:
    """One row per independent run: generations, simulations, final threshold and acceptance, effective size."""
    return pd.DataFrame(doc["provenance"]["runs"]).drop(columns=["epsilons"])
