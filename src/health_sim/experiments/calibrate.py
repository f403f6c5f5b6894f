"""Calibration: fit the behavioural and incidence parameters to what a county observed.

A calibration file (params/calibrate/*.yaml) names a base scenario, the observed figures
(each a KPI, its observed value, a tolerance and a source), the parameters to fit (dotted
keys with a prior range, optionally on a log scale), replicates per trial, trials and a
seed. The distance of a parameter set is the root mean square of
``(simulated mean - observed) / tolerance`` over the figures, the simulated mean taken
over ``replicates`` runs under common random numbers (the same seeds for every trial),
so a distance of 1 means "off by one tolerance on average".

Two stages:

1. **Search.** Optuna's TPE sampler minimises the distance over the prior box; the study
   lives in ``<out>/study.db`` so an interrupted calibration resumes.
2. **Ensemble.** The best ``ensemble.candidates`` trials are run again with
   ``ensemble.replicates`` fresh seeds (so the selection's luck does not carry over);
   those within ``ensemble.max_distance`` form the ensemble (at most ``ensemble.size``,
   best first): parameter sets that fit the data about equally well, whose spread is
   the parameter uncertainty that scenario runs can carry (``--ensemble``). This is
   rejection approximate Bayesian computation with an optimiser's proposals, not an
   exact posterior: the spread shows which parameters the data pin down and which they
   leave free, not a calibrated probability.

The result is written to ``spec.out`` (default params/calibrated/<name>.yaml): provenance
(spec, its hash, data, seed, trials, code version), the fit (observed against the
ensemble's simulated means and intervals), how well each parameter is identified (its
ensemble range against its prior), the best set and the ensemble.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import field_validator, model_validator

from health_sim.config.params import load_params, params_hash, with_overrides
from health_sim.core.errors import ParamsError
from health_sim.core.fields import P, Section
from health_sim.core.paths import atomic_write, atomic_write_text, resolve
from health_sim.experiments.scenario_runs import replicate_seeds
from health_sim.experiments.sweep import Factor, check_factors, check_memory, claim, default_out, load_spec, run_point
from health_sim.experiments.workers import quiet_optuna_interrupts


class Observed(Section):
    """One observed figure of a calibration file: a KPI, its observed value, tolerance and source."""

    kpi: str = P(..., "KPI name (health-sim kpis), or final:<kpi> for its value in the run's last calendar year.")
    value: float = P(..., "Observed value, in the KPI's unit.")
    tolerance: float = P(
        ...,
        "How far off counts as one unit of distance (observation and model error together), in the KPI's unit.",
        gt=0.0,
    )
    source: str = P(..., "Where the value comes from.")

    @field_validator("kpi")
    @classmethod
    def _known(cls, v: str) -> str:
        import difflib

        from health_sim.sim.kpis import KPIS

        names = [f"{k.name}.{p}" for k in KPIS.values() for p in k.parts] + [
            k.name for k in KPIS.values() if not k.parts
        ]
        base = v.removeprefix("final:")
        if base not in names:
            if base in KPIS:
                raise ValueError(f"'{v}' has parts: name one ({', '.join(f'{base}.{p}' for p in KPIS[base].parts)})")
            close = difflib.get_close_matches(base, names, n=1)
            raise ValueError(
                f"'{v}' is not a KPI" + (f" (did you mean '{close[0]}'?)" if close else " (health-sim kpis lists them)")
            )
        return v


class Prior(Section):
    """The prior range of one fitted parameter of a calibration file (on a linear or log scale)."""

    low: float = P(..., "Lower end of the prior range.")
    high: float = P(..., "Upper end of the prior range.")
    log: bool = P(False, "Search on a log scale (for positive parameters spanning orders of magnitude).")
    note: str = P("", "Why this range.")

    @model_validator(mode="after")
    def _range(self) -> Prior:
        if not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log-scale prior needs low > 0")
        return self


class EnsembleSpec(Section):
    """The ``ensemble`` section of a calibration file: which candidates are re-run and which join."""

    candidates: int = P(30, "Best trials of the search run again with fresh seeds.", ge=1, le=10_000)
    replicates: int = P(4, "Fresh replicates per candidate.", ge=1, le=1000)
    max_distance: float = P(
        1.0, "Candidates at or below this distance (on the fresh replicates) join the ensemble.", gt=0.0
    )
    size: int = P(20, "Members at most (best first).", ge=1, le=10_000)


class CalibrationSpec(Section):
    """A calibration file (params/calibrate/*.yaml): observed figures, parameters to fit and the search."""

    name: str = P(..., "Name; the study goes to outputs/calibrate/<name>/.")
    description: str = P("", "What is fitted to what.")
    base: str = P(..., "Base scenario file (relative to this file or the repository root).")
    observed: dict[str, Observed] = P(..., "Observed figures by label.")
    parameters: dict[str, Prior] = P(..., "Parameters to fit, by dotted key, with their prior ranges.")
    run: dict[str, Any] = P(dict, "Overrides of the base for every run, e.g. run.scale and run.days.")
    replicates: int = P(2, "Runs per trial (common random numbers: the same seeds for every trial).", ge=1, le=1000)
    trials: int = P(200, "Trials of the search.", ge=1, le=100_000)
    seed: int = P(20230101, "Seed of the sampler and the replicates.", ge=0, le=2**32 - 1)
    parallel_trials: int = P(
        1,
        (
            "Trials evaluated at once. 1: the search is reproducible from the seed; more uses more cores, but the "
            "sampler's proposals then depend on which trial finishes first."
        ),
        ge=1,
        le=256,
    )
    ensemble: EnsembleSpec = P(EnsembleSpec, "How the ensemble is chosen.")
    out: str = P("", "Calibrated file written [default: params/calibrated/<name>.yaml].")

    @field_validator("observed", "parameters")
    @classmethod
    def _some(cls, v: dict) -> dict:
        if not v:
            raise ValueError("empty: give at least one")
        return v


def load_calibration(path: str | Path, changes: dict | None = None) -> tuple[CalibrationSpec, Path]:
    """Read and validate a calibration file, its base and every parameter at both ends of its range."""
    path = Path(path)
    spec, base = load_spec(CalibrationSpec, path, changes)
    check_factors(
        path,
        "parameters",
        load_params(base),
        spec.run,
        {k: Factor(low=p.low, high=p.high) for k, p in spec.parameters.items()},
    )
    return spec, base


def distance(simulated: dict[str, float], spec: CalibrationSpec) -> float:
    """Root mean square of (simulated - observed) / tolerance over the observed figures."""
    z = [(simulated[label] - o.value) / o.tolerance for label, o in spec.observed.items()]
    return float(math.sqrt(sum(v * v for v in z) / len(z))) if all(np.isfinite(z)) else float("inf")


def _evaluate(pool, spec: CalibrationSpec, base: Path, seeds: list[int], values: dict) -> dict[str, float]:
    """Mean of each observed KPI over the replicates of one parameter set."""
    kpis = sorted({o.kpi for o in spec.observed.values()})
    rows = pd.DataFrame(
        [f.result() for f in [pool.submit(run_point, str(base), dict(spec.run), values, s, kpis) for s in seeds]]
    )
    return {label: float(rows[o.kpi].mean()) for label, o in spec.observed.items()}


def calibrate(
    spec_path: str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    trials: int | None = None,
    progress: bool | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    changes: dict | None = None,
    write: str | Path | None = None,
    pool: list[str | Path] = (),
    force: bool = False,
    dashboard: str | None = None,
) -> tuple[pd.DataFrame, Path]:
    """Run (or resume) a calibration; write the calibrated file and return (ensemble table, its path).

    ``out`` is the working folder (study, candidate re-runs); ``write`` the calibrated file
    [default: the spec's ``out``, else params/calibrated/<name>.yaml]; ``trials`` overrides
    the file's (the total, counting those done before a resume). ``pool``: working folders of
    earlier searches of the same figures, tolerances, run and seeds (other priors or sampler
    seeds) whose trials and re-run candidates join this search's before the ensemble is
    chosen: searches that end in different regions of equally good fits then all count.

    The working folder is claimed for this process (:func:`health_sim.experiments.sweep.claim`); the
    calibrated file, if it exists, must be one health_sim wrote (or ``force``). Ctrl-C
    stops the workers and raises :class:`health_sim.experiments.workers.Interrupted`.
    """
    import warnings

    import optuna

    from health_sim.experiments.optimize import completed_trials
    from health_sim.experiments.outdir import check_file_place
    from health_sim.experiments.workers import Interrupted, Pool

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    spec, base = load_calibration(spec_path, changes)
    if trials is not None:
        spec = spec.model_copy(update={"trials": int(trials)})
    for other in pool:  # a search that cannot be pooled fails now, not after this one
        _check_pooled(spec, Path(other))
    folder = (
        Path(out) if out else default_out(spec, load_calibration(spec_path)[0] if changes else spec, kind="calibrate")
    )
    target = (
        Path(write)
        if write
        else resolve(spec.out)
        if spec.out
        else resolve("params") / "calibrated" / f"{spec.name}.yaml"
    )
    check_file_place(
        target, lambda text: text.startswith(_HEADER.split("{name}")[0]), force=force, flag="--write"
    )  # before the search, not after an hour of it
    pool_spec = Pool(executor, workers or os.cpu_count() or 1, scheduler, dashboard)
    check_memory(f"{spec_path}: run", with_overrides(load_params(base), dict(spec.run)), {}, pool_spec)
    # What the stored runs depend on: more trials, another output file or another choice of members is a resume.
    with claim(
        folder,
        spec.model_copy(
            update={
                "trials": 0,
                "out": "",
                "parallel_trials": 1,
                "ensemble": EnsembleSpec(replicates=spec.ensemble.replicates),
            }
        ),
        base,
        [],
        kind="calibration",
        force=force,
    ):
        try:
            return _calibrate(spec, Path(spec_path), base, folder, target, pool_spec, progress, pool)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted: {completed_trials(folder / 'study.db', spec.name)} of {spec.trials} trials are saved "
                f"in {folder / 'study.db'}",
                folder,
            ) from None


def _calibrate(
    spec: CalibrationSpec,
    spec_path: Path,
    base: Path,
    folder: Path,
    target: Path,
    pool_spec,
    progress: bool | None,
    pool: list,
) -> tuple[pd.DataFrame, Path]:
    import optuna
    from tqdm.auto import tqdm

    seeds = replicate_seeds(spec.seed, spec.replicates)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet_optuna_interrupts()
    sampler = optuna.samplers.TPESampler(
        seed=spec.seed, multivariate=True, n_startup_trials=min(20, max(1, spec.trials // 5))
    )
    study = optuna.create_study(
        study_name=spec.name,
        storage=f"sqlite:///{folder / 'study.db'}",
        direction="minimize",
        sampler=sampler,
        load_if_exists=True,
    )
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING]):  # left by an interruption
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    base_params = load_params(base)
    start = {k: _get(base_params, k) for k in spec.parameters}
    if all(spec.parameters[k].low <= v <= spec.parameters[k].high for k, v in start.items()) and not study.trials:
        study.enqueue_trial(start)  # the base's own values are the first trial: how far off is the model as it stands?
    done = len(study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE]))
    bar = tqdm(
        total=spec.trials,
        initial=min(done, spec.trials),
        disable=None if progress is None else not progress,
        unit="trial",
        desc=f"calibrate {spec.name}",
    )
    best = [
        min(
            (t.value for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])),
            default=math.inf,
        )
    ]
    with pool_spec as workers_pool:

        def objective(trial) -> float:
            values = {k: trial.suggest_float(k, p.low, p.high, log=p.log) for k, p in spec.parameters.items()}
            sim = _evaluate(workers_pool, spec, base, seeds, values)
            for label, v in sim.items():
                trial.set_user_attr(f"sim:{label}", v)
            d = distance(sim, spec)
            best[0] = min(best[0], d)
            bar.update()
            bar.set_postfix(best=f"{best[0]:.3f}")
            return d

        if spec.trials > done:
            study.optimize(objective, n_trials=spec.trials - done, n_jobs=spec.parallel_trials, catch=())
        bar.close()
        table = trials_table(study, spec)
        ensemble = _ensemble_stage(workers_pool, spec, base, table, folder, progress)
    searches = [
        {
            "folder": folder.as_posix(),
            "trials": len(table),
            "priors": {k: [p.low, p.high] for k, p in spec.parameters.items()},
        }
    ]
    for k, other in enumerate(pool, start=1):
        t, c, about = _pooled_search(spec, Path(other), offset=10_000 * k)
        table, ensemble = pd.concat([table, t], ignore_index=True), pd.concat([ensemble, c], ignore_index=True)
        searches.append(about)
    table = table.sort_values(["distance", "trial"], kind="stable").reset_index(drop=True)
    ensemble = _choose_members(ensemble, spec)  # from every search's re-run candidates
    doc = calibrated_document(spec, spec_path, base, table, ensemble, len(table))
    doc["provenance"]["searches"] = searches
    atomic_write_text(
        target,
        _HEADER.format(name=spec.name, spec=spec_path.as_posix())
        + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120),
    )
    return ensemble, target


_HEADER = """\
# Calibrated parameters: {name}. Written by `health-sim calibrate {spec}`; do not edit by hand.
#
# best: the parameter set nearest the observed figures; ensemble: parameter sets that fit
# about equally well (scenario runs draw from them with --ensemble, so that intervals carry
# parameter uncertainty); fit: observed against simulated; identification: how far the data
# narrowed each parameter from its prior range. See src/health_sim/calibrate.py.
"""


def _get(params, key: str) -> float:
    node: Any = params
    for part in key.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return float(node)


def trials_table(study, spec: CalibrationSpec) -> pd.DataFrame:
    """One row per completed trial: number, distance, parameter values and simulated figures, best first."""
    import optuna

    rows = []
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE]):
        rows.append(
            {
                "trial": t.number,
                "distance": t.value,
                **t.params,
                **{k: v for k, v in t.user_attrs.items() if k.startswith("sim:")},
            }
        )
    cols = ["trial", "distance", *spec.parameters, *[f"sim:{k}" for k in spec.observed]]
    return pd.DataFrame(rows, columns=cols).sort_values(["distance", "trial"], kind="stable").reset_index(drop=True)


def _check_pooled(spec: CalibrationSpec, folder: Path) -> dict:
    """The spec of the earlier search in ``folder``, refused in one line unless it matches this spec.

    It must have this spec's figures, tolerances, run, replicates, seed and re-run replicates
    (so that its distances mean the same), and it must have fitted every parameter this spec
    fits.
    """
    made = folder / "spec.json"
    if not made.exists() or not (folder / "study.db").exists() or not (folder / "candidates.parquet").exists():
        raise ParamsError(
            f"--pool {folder}: not the working folder of a finished calibration (spec.json, study.db, "
            "candidates.parquet)"
        )
    old = json.loads(made.read_text())["spec"]
    mine = spec.model_dump(mode="json")
    old["ensemble.replicates"], mine["ensemble.replicates"] = (
        old["ensemble"]["replicates"],
        mine["ensemble"]["replicates"],
    )  # the re-runs' seeds
    for key in ("name", "observed", "run", "replicates", "seed", "ensemble.replicates"):
        if old.get(key) != mine.get(key):
            raise ParamsError(
                f"--pool {folder}: its {key} differs from this calibration's; only searches with other priors can be "
                "pooled"
            )
    missing = [k for k in spec.parameters if k not in old.get("parameters", {})]
    if missing:
        raise ParamsError(f"--pool {folder}: it did not fit {missing[0]}")
    return old


def _pooled_search(spec: CalibrationSpec, folder: Path, offset: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Trials and re-run candidates of an earlier search in ``folder`` (trial numbers + ``offset``)."""
    import optuna

    old = _check_pooled(spec, folder)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet_optuna_interrupts()
    study = optuna.load_study(study_name=spec.name, storage=f"sqlite:///{folder / 'study.db'}")
    table = trials_table(study, spec)
    cand = pd.read_parquet(folder / "candidates.parquet")
    table["trial"] += offset
    cand["trial"] += offset
    return (
        table,
        cand,
        {
            "folder": folder.as_posix(),
            "trials": len(table),
            "trial_offset": offset,
            "priors": {k: v and [v["low"], v["high"]] for k, v in old["parameters"].items()},
        },
    )


def _ensemble_stage(
    pool, spec: CalibrationSpec, base: Path, table: pd.DataFrame, folder: Path, progress: bool | None
) -> pd.DataFrame:
    """Re-run the best candidates with fresh seeds; keep the re-runs in ``folder`` (resumable)."""
    from tqdm.auto import tqdm

    fresh = replicate_seeds(spec.seed + 1, spec.ensemble.replicates)
    store = folder / "candidates.parquet"
    old = pd.read_parquet(store) if store.exists() else pd.DataFrame(columns=["trial"])
    rows = [r for _, r in old.iterrows()]
    have = set(int(t) for t in old["trial"])
    best = table.head(spec.ensemble.candidates)
    for _, r in tqdm(
        list(best.iterrows()), disable=None if progress is None else not progress, desc="ensemble", unit="candidate"
    ):
        if int(r["trial"]) in have:
            continue
        values = {k: float(r[k]) for k in spec.parameters}
        sim = _evaluate(pool, spec, base, fresh, values)
        rows.append(
            pd.Series(
                {
                    "trial": int(r["trial"]),
                    "search_distance": float(r["distance"]),
                    "distance": distance(sim, spec),
                    **values,
                    **{f"sim:{k}": v for k, v in sim.items()},
                }
            )
        )
        frame = pd.DataFrame(rows)
        atomic_write(store, lambda p, f=frame: f.to_parquet(p, index=False))
    cand = pd.DataFrame(rows)
    return cand[cand["trial"].isin(best["trial"])]


def _choose_members(cand: pd.DataFrame, spec: CalibrationSpec) -> pd.DataFrame:
    """Candidates best first, ``within`` tolerance, and ``member`` (within, and among the first ``ensemble.size``)."""
    cand = cand.sort_values(["distance", "trial"], kind="stable").reset_index(drop=True)
    cand["within"] = cand["distance"] <= spec.ensemble.max_distance
    cand["member"] = cand["within"] & (np.arange(len(cand)) < spec.ensemble.size)
    return cand


PROFILE_BINS = 5


def _identification(spec: CalibrationSpec, members: pd.DataFrame, trials: pd.DataFrame) -> dict:
    """Per parameter: prior range, ensemble range and mean, and how well the data identify it.

    ``narrowed``, the share of the prior's spread the ensemble removed (1 - ensemble sd / prior
    sd, on the search scale: an upper bound on what the data say, because the search
    concentrates its trials, and so its ensemble, where it found good fits); ``profile``, the
    best search distance any trial reached in each fifth of the prior range, and
    ``fifths_that_fit``, the share of fifths where some trial came within
    ``ensemble.max_distance`` (1/5: pinned to one fifth; 1: the data do not constrain it); and
    ``at_prior_edge`` when an ensemble member lies within 2% of a bound or the best fitting
    fifth is an outer one (the prior may be cutting off good values).
    """
    out = {}
    for k, p in spec.parameters.items():
        x = members[k].to_numpy(float)
        tx = np.log(x) if p.log else x
        lo, hi = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
        prior_sd = (hi - lo) / math.sqrt(12.0)
        sd = float(np.std(tx, ddof=1)) if len(tx) > 1 else float("nan")
        t = trials[k].to_numpy(float)
        where = np.clip(((np.log(t) if p.log else t) - lo) / (hi - lo) * PROFILE_BINS, 0, PROFILE_BINS - 1e-9).astype(
            int
        )
        profile = [
            _r(trials["distance"][where == b].min()) if (where == b).any() else None for b in range(PROFILE_BINS)
        ]
        near = [(v - lo) / (hi - lo) for v in (tx.min(), tx.max())]
        best_fifth = int(np.nanargmin([np.inf if d is None else d for d in profile]))
        fitting = [d is not None and d <= spec.ensemble.max_distance for d in profile]
        out[k] = {
            "prior": [p.low, p.high] + (["log"] if p.log else []),
            "ensemble_min": _r(x.min()),
            "ensemble_max": _r(x.max()),
            "ensemble_mean": _r(float(np.exp(tx.mean())) if p.log else x.mean()),
            "narrowed": _r(1.0 - sd / prior_sd) if np.isfinite(sd) else None,
            "profile": profile,
            "fifths_that_fit": _r(sum(fitting) / PROFILE_BINS),
            "at_prior_edge": bool(
                near[0] < 0.02 or near[1] > 0.98 or (best_fifth in (0, PROFILE_BINS - 1) and fitting[best_fifth])
            ),
        }
    return out


def _r(v: float, digits: int = 6) -> float:
    return float(f"{float(v):.{digits}g}")


def calibrated_document(
    spec: CalibrationSpec, spec_path: Path, base: Path, table: pd.DataFrame, cand: pd.DataFrame, trials: int
) -> dict:
    """The calibrated file's content (plain data)."""
    from health_sim import __version__

    members = cand[cand["member"]]
    within = bool(len(members))
    if not within:  # nothing within the tolerance: keep the best few, and say so
        members = cand.head(min(spec.ensemble.size, max(2, len(cand) // 3)))
    fit = {}
    for label, o in spec.observed.items():
        sim = members[f"sim:{label}"].to_numpy(float)
        fit[label] = {
            "kpi": o.kpi,
            "observed": o.value,
            "tolerance": o.tolerance,
            "simulated": _r(sim.mean()),
            "simulated_low": _r(sim.min()),
            "simulated_high": _r(sim.max()),
            "source": o.source,
        }
    text = spec_path.read_bytes() if spec_path.exists() else b""
    return {
        "provenance": {
            "spec": spec_path.as_posix(),
            "spec_sha256": hashlib.sha256(text).hexdigest(),
            "base": Path(os.path.normpath(base)).as_posix(),
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
            "health_sim": __version__,
            "seed": spec.seed,
            "trials": trials,
            "replicates_per_trial": spec.replicates,
            "run": json.loads(json.dumps(spec.run, default=str)),
            "ensemble_rule": (
                f"the best {spec.ensemble.candidates} trials re-run with {spec.ensemble.replicates} fresh replicates; "
                f"members at distance <= {spec.ensemble.max_distance} (at most {spec.ensemble.size})"
            ),
            "within_tolerance": within,
            "candidates_within_tolerance": int((cand["distance"] <= spec.ensemble.max_distance).sum()),
            "parallel_trials": spec.parallel_trials,
            "base_params_sha256": params_hash(load_params(base)),
            "distance": "root mean square of (simulated mean - observed) / tolerance",
        },
        "observed": {k: o.model_dump() for k, o in spec.observed.items()},
        "fit": fit,
        "identification": _identification(spec, members, table),
        "best": {k: _r(members.iloc[0][k]) for k in spec.parameters},
        "best_distance": _r(members.iloc[0]["distance"]),
        "ensemble": [
            {"trial": int(r["trial"]), "distance": _r(r["distance"]), "values": {k: _r(r[k]) for k in spec.parameters}}
            for _, r in members.iterrows()
        ],
    }


# --- reading a calibrated file (notebooks/calibration.ipynb) ------------------------


def read_written(path: Path, keys: tuple[str, ...], command: str) -> dict:
    """A file ``command`` wrote, as data: each of ``keys`` must be there (else one ParamsError line)."""
    from health_sim.config.files import read_yaml

    doc = read_yaml(path)
    for key in keys:
        if key not in doc:
            raise ParamsError(f"{path}: {key}: missing (not a file written by {command})")
    return doc


def load_calibrated(path: str | Path) -> dict:
    """A calibrated file as data (one ParamsError line if it is not one)."""
    return read_written(
        resolve(path), ("provenance", "fit", "identification", "best", "ensemble"), "health-sim calibrate"
    )


def fit_table(doc: dict) -> pd.DataFrame:
    """Observed against simulated (the ensemble's mean and range) for each observed figure.

    With the error in tolerances.
    """
    t = pd.DataFrame.from_dict(doc["fit"], orient="index").rename_axis("figure").reset_index()
    t["error_in_tolerances"] = (t["simulated"] - t["observed"]) / t["tolerance"]
    return t


def identification_table(doc: dict) -> pd.DataFrame:
    """Per parameter: prior range, ensemble range and mean, best value, and how well it is identified.

    ``narrowed`` (an upper bound), ``fifths_that_fit`` (the profile's verdict: small means
    pinned down), whether it sits at the prior's edge, and the profile (best distance by fifth
    of the prior).
    """
    rows = []
    for k, v in doc["identification"].items():
        lo, hi = v["prior"][0], v["prior"][1]
        rows.append(
            {
                "parameter": k,
                "prior_low": lo,
                "prior_high": hi,
                "log": len(v["prior"]) > 2,
                "ensemble_min": v["ensemble_min"],
                "ensemble_max": v["ensemble_max"],
                "ensemble_mean": v["ensemble_mean"],
                "best": doc["best"][k],
                "narrowed": v["narrowed"],
                "fifths_that_fit": v.get("fifths_that_fit"),
                "at_prior_edge": v.get("at_prior_edge", False),
                **{f"profile_{i + 1}": d for i, d in enumerate(v.get("profile", []))},
            }
        )
    return pd.DataFrame(rows)


def members_table(doc: dict) -> pd.DataFrame:
    """One row per ensemble member: trial, distance and parameter values."""
    return pd.DataFrame([{"trial": m["trial"], "distance": m["distance"], **m["values"]} for m in doc["ensemble"]])


def predictive_check(
    doc: dict,
    scenario: str | Path,
    replicates: int = 8,
    scale: float = 0.05,
    seed: int | None = None,
    calibrated: str | Path | None = None,
    overrides: dict | None = None,
) -> pd.DataFrame:
    """Run the scenario with replicates drawing from the ensemble, against each observed figure.

    Fresh seeds: by default spawned from the calibration's seed + 2 (the search used the seed
    and the ensemble stage seed + 1). Each observed figure is set against the simulated mean and
    90% interval, which carry chance and parameter uncertainty together; ``covered``: the
    observed value lies inside the interval.
    """
    from health_sim.experiments.scenario_runs import run_replicates

    run = {k: v for k, v in doc["provenance"].get("run", {}).items() if k != "run.scale"}
    seed = int(doc["provenance"]["seed"]) + 2 if seed is None else seed
    k = run_replicates(
        resolve(scenario),
        replicates=replicates,
        seed=seed,
        scale=scale,
        overrides=run | dict(overrides or {}),
        ensemble=resolve(calibrated) if calibrated else None,
    ).kpis
    rows = []
    for label, o in doc["observed"].items():
        x = k[o["kpi"]].astype(float)
        lo, hi = float(x.quantile(0.05)), float(x.quantile(0.95))
        rows.append(
            {
                "figure": label,
                "observed": o["value"],
                "simulated": float(x.mean()),
                "lo": lo,
                "hi": hi,
                "covered": bool(lo <= o["value"] <= hi),
                "source": o["source"],
            }
        )
    return pd.DataFrame(rows)
