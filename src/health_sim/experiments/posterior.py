"""Bayesian calibration to the evidence: Gaussian-process emulators of the calibration items, sampled by MCMC.

A fit file (params/calibrate/*_evidence.yaml) names a base scenario, the evidence file, the run
(scale, days), the parameters with their priors (uniform, on a log scale for positive
parameters spanning orders of magnitude) and the budget. Every calibration item of the
evidence file is simulated by its experiment (:mod:`health_sim.experiments.mirror`: the
study's design run on one simulated county, arms under common random numbers), each
simulation on its own seed, so the model's chance variation is part of what is fitted.

Each of ``runs`` independent runs (its own design and seeds):

1. simulates a scrambled Halton design of ``design`` points over the prior;
2. fits a Gaussian-process emulator of every item (:mod:`health_sim.experiments.emulator`) and
   draws the posterior it implies with emcee; then, ``waves`` times, simulates ``wave_size``
   of those draws (where the posterior is, the emulator must be right), measures the
   emulator's error on them before it has seen them, and refits on everything;
3. draws its final posterior with the Gaussian likelihood of each published value: the
   item's standard error, the emulator's error measured out of sample and the model's chance
   at the county's real size, added in quadrature.

Why this and not ABC-SMC (pyabc), which the first two fits used: one simulation costs 1.2 s,
and ABC-SMC needed some 10,000 a run to reach a useful threshold, so neither fit converged in
an hour on two cores (docs/model.md has the numbers). An emulator needs about a thousand
simulations, which two cores run in twenty minutes. sbi would bring torch (gigabytes of
CUDA wheels from PyPI); ELFI's BOLFI emulates one scalar discrepancy, where per-item
emulators keep each item's published uncertainty in the likelihood and say how well each
item is emulated. scikit-learn (Gaussian processes) and emcee (ensemble MCMC) are both
maintained and small.

Convergence is judged by the runs' agreement (for each parameter the difference of the runs'
posterior medians against the pooled posterior standard deviation, and the ratio of their
standard deviations) and by every chain being at least 50 autocorrelation times long. The
result, written to ``out`` (default params/calibrated/<name>.yaml) in the calibrated-file
format scenario runs draw from (``ensemble``), holds the provenance, the fit (each calibration
item: published, its standard error, the emulated posterior, the emulator's error, and fresh
simulations of every draw), the identification (each parameter's posterior against its
prior, and the item that moves most with it over the design) and the agreement of the runs.
Every run keeps its plans and simulations as CSV files in its working folder: run the
command again after an interruption and it goes on from the last simulation written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import field_validator

from health_sim.config.params import flat_params, load_params, params_hash, with_overrides
from health_sim.core.errors import ParamsError
from health_sim.core.fields import P, Section
from health_sim.core.paths import atomic_write_text, resolve
from health_sim.experiments.calibrate import Prior, read_written
from health_sim.experiments.emulator import AUTOCORR_RULE, Chain, Emulator, Likelihood, sample
from health_sim.experiments.evidence import load_evidence_file
from health_sim.experiments.mirror import EXPERIMENTS, simulate
from health_sim.experiments.sweep import Factor, check_factors, load_spec

METHOD = "Gaussian-process emulators of the calibration items (scikit-learn) and MCMC (emcee)"

HEADER = """\
# Calibrated parameters: {name}. Written by `health-sim fit {spec}`; do not edit by hand.
#
# A posterior sample of the behavioural parameters, fitted to the calibration items of the
# evidence file through Gaussian-process emulators of the simulated experiments (MCMC on the
# emulators' likelihood). ensemble: parameter sets drawn from the pooled posterior of the
# independent runs (scenario runs draw from them, so that intervals carry parameter
# uncertainty); fit: each item against the emulated posterior and against fresh simulations
# of every draw (predictive_*); identification: posterior against prior, and the item that
# pins each parameter; agreement: whether the runs found the same posterior.
# See src/health_sim/experiments/posterior.py.
"""


class FitSpec(Section):
    """A fit file: the evidence to fit, the parameters and their priors, and the simulation budget."""

    name: str = P(..., "Name; the runs' working files go to outputs/calibrate/<name>/.")
    description: str = P("", "What is fitted to what.")
    base: str = P(..., "Base scenario file (relative to this file or the repository root).")
    evidence: str = P("../validation/evidence.yaml", "The evidence file; its calibration items are fitted.")
    run: dict[str, Any] = P(dict, "Overrides of the base for every simulation, e.g. run.scale and run.days.")
    parameters: dict[str, Prior] = P(..., "Parameters to fit, by dotted key, with their uniform prior ranges.")
    design: int = P(600, "Simulations of a run's first wave: a scrambled Halton design over the prior.", ge=8)
    waves: int = P(2, "Further waves of a run, each simulating draws of the posterior found so far.", ge=0, le=20)
    wave_size: int = P(150, "Simulations of each further wave.", ge=2)
    walkers: int = P(64, "MCMC walkers (emcee's ensemble sampler); at least twice the parameters.", ge=4, le=10_000)
    steps: int = P(8000, "MCMC steps of each walker; the first third is burn-in.", ge=30, le=1_000_000)
    runs: int = P(2, "Independent runs (each its own design and seeds), one after the other.", ge=1, le=16)
    members: int = P(60, "Posterior draws written as the ensemble.", ge=1, le=10_000)
    seed: int = P(20230101, "Seed of the runs.", ge=0, le=2**32 - 1)
    out: str = P("", "Calibrated file written, relative to this file [default: params/calibrated/<name>.yaml].")

    @field_validator("parameters")
    @classmethod
    def _some(cls, v: dict) -> dict:
        if not v:
            raise ValueError("empty: give at least one")
        return v

    @property
    def simulations(self) -> int:
        """Simulations of one run: the design and every further wave."""
        return self.design + self.waves * self.wave_size


def load_fit(path: str | Path, changes: dict | None = None):
    """Read and validate a fit file: its base, every parameter at both ends of its prior, and its evidence items.

    Returns (spec, base path, calibration items, evidence path).
    """
    path = Path(path)
    spec, base = load_spec(FitSpec, path, changes)
    if spec.walkers < 2 * len(spec.parameters):
        raise ParamsError(f"{path}: walkers: {spec.walkers} is fewer than twice the {len(spec.parameters)} parameters")
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


def _ends(p: Prior) -> tuple[float, float]:
    return (math.log10(p.low), math.log10(p.high)) if p.log else (p.low, p.high)


def values_at(spec: FitSpec, u) -> dict[str, float]:
    """Dotted-key parameter values at a point ``u`` of the unit cube (each prior range; log10 ranges undone)."""
    out = {}
    for (k, p), x in zip(spec.parameters.items(), np.asarray(u, dtype=float), strict=True):
        lo, hi = _ends(p)
        v = lo + (hi - lo) * float(x)
        out[k] = float(10**v if p.log else v)
    return out


def unit_of(spec: FitSpec, values: dict[str, float]) -> np.ndarray:
    """The point of the unit cube of dotted-key ``values`` (the inverse of :func:`values_at`)."""
    out = []
    for k, p in spec.parameters.items():
        lo, hi = _ends(p)
        v = math.log10(values[k]) if p.log else values[k]
        out.append((v - lo) / (hi - lo))
    return np.array(out)


def _u_cols(spec: FitSpec) -> list[str]:
    """A plan's columns of the unit cube, one per parameter, named by its key (so a reordered file cannot mix them)."""
    return [f"u:{k}" for k in spec.parameters]


def _simulate_rows(params, spec: FitSpec, ids: list[str], rows: list[tuple[int, int, list[float]]]) -> list[dict]:
    """Simulate each (index, seed, point) of ``rows`` (a worker's share of a wave)."""
    out = []
    for index, seed, u in rows:
        v = simulate(with_overrides(params, values_at(spec, u)), int(seed), ids)
        out.append({"index": index} | {k: (x if np.isfinite(x) else np.nan) for k, x in v.items()})
    return out


def _read_done(path: Path, ids: list[str]) -> pd.DataFrame:
    """The simulations a wave has written so far (a line cut short by an interruption is dropped).

    A file written for other calibration items (the evidence file changed under a working folder) is refused in
    one line rather than read.
    """
    if not path.exists() or path.stat().st_size == 0:
        return pd.DataFrame(columns=["index", *ids])
    done = pd.read_csv(path, on_bad_lines="skip")
    if list(done.columns) != ["index", *ids]:
        raise ParamsError(
            f"{path}: simulated for other calibration items than the evidence file's now; give another --out, or "
            "delete the working folder to start again"
        )
    return done.dropna(subset=["index"]).drop_duplicates("index")


def simulate_wave(spec: FitSpec, base: Path, ids: list[str], plan: pd.DataFrame, path: Path, label: str):
    """Simulate every planned point not yet in ``path`` (the cores side by side), appending as they finish.

    Returns the wave's simulations (index and items), in the plan's order.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    params = with_overrides(load_params(base), dict(spec.run))
    if path.exists():  # a line cut short by an interruption goes, so that appended rows start on a line of their own
        text = path.read_bytes()
        if text and not text.endswith(b"\n"):
            with path.open("r+b") as f:
                f.truncate(text.rfind(b"\n") + 1)
    done = _read_done(path, ids)
    todo = plan[~plan["index"].isin(done["index"])]
    cols = _u_cols(spec)
    rows = [(int(r["index"]), int(r["seed"]), [float(r[c]) for c in cols]) for _, r in todo.iterrows()]
    n, start = len(plan), len(plan) - len(rows)
    if rows:
        cores = os.cpu_count() or 1
        chunk = max(1, min(4, len(rows) // (4 * cores) or 1))
        t0, finished, shown = time.perf_counter(), 0, start
        print(f"{label}: {start} of {n} simulations done; simulating {len(rows)} on {cores} cores", flush=True)
        with ProcessPoolExecutor(max_workers=cores, mp_context=get_context("spawn")) as ex:
            pending = {
                ex.submit(_simulate_rows, params, spec, ids, rows[i : i + chunk]) for i in range(0, len(rows), chunk)
            }
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in ready:
                    got = pd.DataFrame(f.result(), columns=["index", *ids])
                    got.to_csv(path, mode="a", header=not path.exists() or path.stat().st_size == 0, index=False)
                    finished += len(got)
                if start + finished >= shown + max(1, n // 10) or not pending:
                    shown = start + finished
                    rate = (time.perf_counter() - t0) / finished
                    print(
                        f"{label}: {shown} of {n} simulations ({rate:.2f} s each on the cores together, about "
                        f"{rate * (n - shown) / 60:.0f} min left)",
                        flush=True,
                    )
        done = _read_done(path, ids)
    return plan[["index"]].merge(done, on="index", how="left")


def _start_points(like: Likelihood, u: np.ndarray, walkers: int) -> np.ndarray:
    """Simulated points, best first by the emulated likelihood (where the walkers start)."""
    return u[np.argsort(-like(u))][:walkers]


def _variance(items: list, emu: Emulator, error: np.ndarray, scale: float) -> np.ndarray:
    se = np.array([float(i.standard_error()) for i in items])
    return se**2 + error**2 + emu.noise * scale


def _run(spec: FitSpec, base: Path, items: list, folder: Path, k: int) -> dict:
    """One independent run: its design, its waves, its emulator and its final posterior draws."""
    from scipy.stats import qmc

    ids = [i.id for i in items]
    observed = np.array([float(i.value) for i in items])
    scale = float(with_overrides(load_params(base), dict(spec.run)).run.scale)
    cols, d = _u_cols(spec), len(spec.parameters)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    waves, us, ys, checks = [], [], [], []
    error = np.zeros(len(ids))  # the emulator's error, measured out of sample once a wave is simulated
    emu = like = None
    for w in range(spec.waves + 1):
        plan_file = folder / f"run{k}_wave{w}_plan.csv"
        if plan_file.exists():
            plan = pd.read_csv(plan_file)
            if list(plan.columns) != ["index", "seed", *cols]:
                raise ParamsError(f"{plan_file}: planned for other parameters; give another --out")
        else:
            rng = np.random.default_rng([spec.seed, k, w])
            if w == 0:
                u = qmc.Halton(d, scramble=True, seed=rng).random(spec.design)
            else:
                chain = sample(like, _start_points(like, np.vstack(us), spec.walkers), spec.walkers, spec.steps,
                               seed=int(rng.integers(2**31)), draws=spec.wave_size)  # fmt: skip
                u = chain.draws
            n = len(u)
            plan = pd.DataFrame(u, columns=cols)
            plan.insert(0, "seed", rng.integers(1, 2**31 - 1, size=n))
            plan.insert(0, "index", np.arange(n))
            atomic_write_text(plan_file, plan.to_csv(index=False))
        label = f"fit {spec.name} run {k} wave {w}"
        sims = simulate_wave(spec, base, ids, plan, folder / f"run{k}_wave{w}_sims.csv", label)
        u_w, y_w = plan[cols].to_numpy(dtype=float), sims[ids].to_numpy(dtype=float)
        dead = [i for i, ok in zip(ids, np.isfinite(y_w).any(axis=0), strict=True) if not ok]
        if dead:
            raise ParamsError(f"{label}: {dead[0]}: no simulation gave a finite value; the item cannot be fitted")
        if emu is not None:  # the emulator of the earlier waves, judged on simulations it has not seen
            checks.append({"wave": w} | emu.judged_on(u_w, y_w))
            error = checks[-1]["error"]
        us.append(u_w)
        ys.append(y_w)
        emu = Emulator(ids, seed=(spec.seed + 31 * k + w) % 2**32).fit(np.vstack(us), np.vstack(ys))
        like = Likelihood(emu, observed, _variance(items, emu, error, scale))
        waves.append({"wave": w, "simulations": len(plan), "failed": int(np.isnan(y_w).any(axis=1).sum())})
    if spec.waves == 0:  # no wave judged the emulator: hold out a tenth of the design
        u_all, y_all = np.vstack(us), np.vstack(ys)
        cut = max(1, len(u_all) // 10)
        held = Emulator(ids, seed=(spec.seed + 31 * k) % 2**32).fit(u_all[:-cut], y_all[:-cut])
        checks.append({"wave": 0} | held.judged_on(u_all[-cut:], y_all[-cut:]))
        error = checks[-1]["error"]
        like = Likelihood(emu, observed, _variance(items, emu, error, scale))
    rng = np.random.default_rng([spec.seed, k, 999])
    chain = sample(like, _start_points(like, np.vstack(us), spec.walkers), spec.walkers, spec.steps,
                   seed=int(rng.integers(2**31)))  # fmt: skip
    return {
        "k": k,
        "chain": chain,
        "emulator": emu,
        "design_u": us[0],
        "design_y": ys[0],
        "checks": checks,
        "waves": waves,
        "minutes": round((time.perf_counter() - t0) / 60.0, 1),
    }


def _chain_row(r: dict) -> dict:
    c: Chain = r["chain"]
    return {
        "run": r["k"],
        "simulations": int(sum(w["simulations"] for w in r["waves"])),
        "failed_simulations": int(sum(w["failed"] for w in r["waves"])),
        "waves": len(r["waves"]),
        "walkers": c.walkers,
        "steps": c.steps,
        "burn_in": c.burn,
        "max_autocorr_steps": round(float(np.max(c.autocorr)), 1),
        "chain_long_enough": c.long_enough,
        "acceptance": round(c.acceptance, 3),
        "draws": len(c.draws),
        "minutes": r["minutes"],
    }


def summarise(spec: FitSpec, items: list, results: list[dict]) -> dict:
    """Fit, identification, agreement and the ensemble from the runs."""
    ids = [i.id for i in items]
    keys = list(spec.parameters)
    runs = [_chain_row(r) for r in results]
    n = min(len(r["chain"].draws) for r in results)
    g = np.random.default_rng(np.random.SeedSequence([spec.seed, 0xAB5]))
    per_run = [r["chain"].draws[g.choice(len(r["chain"].draws), size=n, replace=False)] for r in results]
    pooled_u = np.vstack(per_run)
    pooled = pd.DataFrame([values_at(spec, u) for u in pooled_u])

    emulated = np.mean([r["emulator"].mean(pooled_u) for r in results], axis=0)  # the runs' emulators together
    error = np.sqrt(np.mean([r["checks"][-1]["error"] ** 2 for r in results], axis=0))
    rmse = np.sqrt(np.mean([r["checks"][-1]["rmse"] ** 2 for r in results], axis=0))
    fit = []
    for j, it in enumerate(items):
        x = emulated[:, j]
        fit.append(
            {
                "id": it.id,
                "published": float(it.value),
                "se": round(float(it.standard_error()), 6),
                "model_mean": float(np.mean(x)),
                "model_median": float(np.median(x)),
                "model_lo": float(np.quantile(x, 0.05)),
                "model_hi": float(np.quantile(x, 0.95)),
                "emulator_error": float(error[j]),
                "emulator_rmse_new_simulations": float(rmse[j]),
            }
        )

    design_u = np.vstack([r["design_u"] for r in results])
    design = pd.concat(
        [
            pd.DataFrame([values_at(spec, u) for u in design_u]),
            pd.DataFrame(np.vstack([r["design_y"] for r in results]), columns=ids),
        ],
        axis=1,
    )
    ident = {}
    for j, (key, p) in enumerate(spec.parameters.items()):
        x = pooled[key].to_numpy(dtype=float)
        sd = float(np.std(pooled_u[:, j]))
        corr = design[[key, *ids]].corr(method="spearman")[key].drop(key).abs().dropna()
        ident[key] = {
            "prior": [p.low, p.high] + (["log"] if p.log else []),
            "posterior_median": float(np.median(x)),
            "posterior_90": [float(np.quantile(x, 0.05)), float(np.quantile(x, 0.95))],
            "sd_ratio": round(sd / (1.0 / math.sqrt(12.0)), 3),
            "pinned_by": (corr.idxmax() if len(corr) and corr.max() >= 0.2 else "none"),
            "rank_correlation": round(float(corr.max()), 3) if len(corr) else None,
        }
        ident[key]["verdict"] = (
            "well identified" if ident[key]["sd_ratio"] < 0.35 else
            "partly identified" if ident[key]["sd_ratio"] < 0.7 else "not identified (posterior close to prior)"
        )  # fmt: skip

    agreement = {}
    if len(per_run) > 1:
        for j, key in enumerate(keys):
            meds = [float(np.median(u[:, j])) for u in per_run]
            sds = [float(np.std(u[:, j])) for u in per_run]
            pooled_sd = math.sqrt(np.mean(np.square(sds))) or 1e-12
            shift = (max(meds) - min(meds)) / pooled_sd
            ratio = max(sds) / max(min(sds), 1e-12)
            agreement[key] = {
                "median_shift_in_sd": round(shift, 3),
                "sd_ratio": round(ratio, 3),
                "agree": bool(shift < 0.5 and ratio < 2.0),
            }
    m = min(spec.members, len(pooled))
    pick = g.choice(len(pooled), size=m, replace=False)
    ensemble = [{"trial": int(i), "values": {k: round(float(pooled.loc[i, k]), 6) for k in keys}} for i in pick]
    return {"runs": runs, "fit": fit, "identification": ident, "agreement": agreement, "ensemble": ensemble}


def _predict_one(params, values: dict, seed: int, ids: list[str]) -> dict[str, float]:
    out = simulate(with_overrides(params, values), seed, ids)
    return {k: (x if np.isfinite(x) else np.nan) for k, x in out.items()}


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

    ``out``: the working folder of the runs' plans and simulations [default outputs/calibrate/<name>];
    ``write``: the calibrated file [default: the spec's ``out``, else params/calibrated/<name>.yaml].
    """
    import emcee
    import sklearn

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
    # What the simulations already written depend on; the rest (more waves, longer chains, more members) may change.
    same = spec.model_copy(
        update={"out": "", "description": "", "waves": 0, "walkers": 4, "steps": 30, "members": 1, "runs": 1}
    )
    spec_sha = hashlib.sha256(Path(spec_path).read_bytes()).hexdigest()  # as read, not as it may be at the end
    evidence_sha = hashlib.sha256(evidence.read_bytes()).hexdigest()
    with claim(folder, same, base, [], kind="fit", force=force):
        print(
            f"fit {spec.name}: {len(items)} calibration items, {len(spec.parameters)} parameters, {spec.runs} runs of "
            f"{spec.simulations} simulations ({spec.design} in the design, {spec.waves} waves of {spec.wave_size}); "
            f"working files in {folder}",
            flush=True,
        )
        results = []
        for k in range(spec.runs):
            results.append(_run(spec, base, items, folder, k))
            r = _chain_row(results[-1])
            print(
                f"fit {spec.name} run {k}: {r['simulations']} simulations, chain of {r['steps']} steps "
                f"(autocorrelation {r['max_autocorr_steps']} steps, acceptance {r['acceptance']:.2f}), "
                f"{r['minutes']} min",
                flush=True,
            )
        result = summarise(spec, items, results)
        print(f"fit {spec.name}: posterior predictive check, {len(result['ensemble'])} draws on new seeds", flush=True)
        pred = predictive(spec, base, [i.id for i in items], [m["values"] for m in result["ensemble"]], spec.seed + 1)
        for row in result["fit"]:
            x = pred[row["id"]].to_numpy(dtype=float)
            row |= {
                "predictive_mean": float(np.nanmean(x)),
                "predictive_sd": float(np.nanstd(x, ddof=1)) if len(x) > 1 else 0.0,
                "predictive_lo": float(np.nanquantile(x, 0.05)),
                "predictive_hi": float(np.nanquantile(x, 0.95)),
            }
            row["z"] = round((row["predictive_mean"] - row["published"]) / row["se"], 3)
    minutes = (time.perf_counter() - t0) / 60.0
    converged = bool(
        len(result["runs"]) >= 2  # agreement needs two runs at least: one run cannot show it found the posterior
        and all(r["chain_long_enough"] for r in result["runs"])
        and all(a["agree"] for a in result["agreement"].values())
    )
    base_params = load_params(base)
    member = result["ensemble"][0]["values"]
    fitted_on = flat_params(with_overrides(base_params, member))
    doc = {
        "provenance": {
            "method": METHOD,
            "likelihood": "Normal(published; emulated mean, se^2 + emulator error^2 + model chance at full size)",
            "scikit_learn": sklearn.__version__,
            "emcee": emcee.__version__,
            "spec": Path(spec_path).as_posix(),
            "spec_sha256": spec_sha,
            "evidence": evidence.as_posix(),
            "evidence_sha256": evidence_sha,
            "items": [i.id for i in items],
            "base": Path(os.path.normpath(base)).as_posix(),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "health_sim": __version__,
            "seed": spec.seed,
            "run": dict(spec.run),
            "design": spec.design,
            "waves": spec.waves,
            "wave_size": spec.wave_size,
            "runs": result["runs"],
            "minutes": round(sum(r["minutes"] for r in result["runs"]), 1),
            "minutes_rule": "wall minutes of the runs (simulations, emulators and chains), one after the other",
            "minutes_this_call": round(minutes, 1),
            "within_tolerance": True,  # every draw is from the posterior (no tolerance is involved)
            "converged": converged,
            "convergence_rule": (
                f"every run's chain keeps at least {AUTOCORR_RULE:.0f} autocorrelation times after burn-in, and the "
                "runs (two at least, each its own design, waves and seeds) agree on every parameter (medians within "
                "half a posterior sd, sds within a factor 2)"
            ),
            "items_within_2_se": bool(all(abs(f["z"]) <= 2.0 for f in result["fit"])),
            "items_rule": "an item is reached when the fresh simulations' mean is within 2 standard errors",
            "all_runs_agree": bool(all(a["agree"] for a in result["agreement"].values()))
            if result["agreement"]
            else None,
            "base_params_sha256": params_hash(with_overrides(base_params, member)),
            "hash_rule": "sha256 of the base parameters with a member's values set (fitted keys' defaults ignored)",
            "base_params": {k: v for k, v in fitted_on.items() if k not in member},
            "base_params_rule": "by schema field, with a member's values set (as the hash), a dict or list field whole",
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
    if doc["provenance"].get("method") != METHOD:
        raise ParamsError(f"{p}: provenance.method: not a posterior written by health-sim fit")
    return doc


def fit_table(doc: dict) -> pd.DataFrame:
    """Each calibration item against the fit: published, se, the emulated posterior (median, 90% range), fresh runs.

    The fresh simulations are every posterior draw run again on a new seed (predictive mean, sd and 90% range);
    ``z`` is their mean against the published value in standard errors.
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
    """One row per posterior draw in the ensemble: its index among the pooled draws and its parameter values."""
    return pd.DataFrame([{"trial": m["trial"], **m["values"]} for m in doc["ensemble"]])


def runs_table(doc: dict) -> pd.DataFrame:
    """One row per independent run: simulations, the chain's length, autocorrelation and acceptance, minutes."""
    return pd.DataFrame(doc["provenance"]["runs"])
