"""Policy optimisation: the cheapest lever mix that meets the targets with high probability.

An optimisation file (params/optimize/*.yaml) names a base scenario, the levers to choose
(dotted keys with a range), the targets, the probability with which every target must be
met (the share of replicates, default 90%), replicates per candidate, trials, the price of
a doctor-day, and a seed. Optuna (TPE, multi-objective with a constraint) searches the
levers; each candidate mix runs ``replicates`` times under common random numbers (the
same seeds for every candidate, so candidates differ only by their levers) on a local
process pool or Dask, like a sweep. Two costs are minimised, both in the run's last
calendar year: doctor-days spent at the grassroots, and extra insurance-fund spending
against the base scenario. The constraints: every target met (together) in at least
``probability`` of the replicates, and, if ``max_oop_increase`` is set, out-of-pocket
payment per visit and per admission risen by no more than that share. The answer is the
Pareto front of the feasible mixes and the cheapest one in yuan (doctor-days x
``yuan_per_doctor_day`` + extra fund spending).

Everything is kept in ``<out>/``: the Optuna study (``study.db``, so an interrupted
optimisation resumes where it stopped), one row per candidate (``trials.parquet``), the
front (``pareto.parquet``) and the cheapest mix as a scenario file (``cheapest.yaml``)
that ``health-sim run`` and the notebooks take.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import field_validator

from health_sim.config.params import load_params, with_overrides
from health_sim.core.errors import ParamsError
from health_sim.core.fields import P, Section
from health_sim.core.paths import atomic_write
from health_sim.experiments.scenario_runs import replicate_seeds
from health_sim.experiments.sweep import (
    Factor,
    TargetList,
    check_factors,
    check_memory,
    check_spec_ensemble,
    load_spec,
    run_point,
    sweep_members,
    sweep_targets,
)
from health_sim.experiments.targets import Target
from health_sim.experiments.workers import quiet_optuna_interrupts

COSTS = ["doctor_days_sunk", "fund_spending", "oop_per_visit", "oop_per_admission", "grassroots_share"]
OOP = ["oop_per_visit", "oop_per_admission"]
_FINAL = [f"final:{k}" for k in COSTS]
"""KPIs read in the last year of every run: the two costs, what patients pay, the grassroots share."""


class Cost(Section):
    """The ``cost`` section of an optimisation file: the price of a doctor-day at the grassroots (yuan)."""

    yuan_per_doctor_day: float = P(
        600.0,
        "Price of a doctor-day spent at the grassroots (salary, allowance and travel of a county doctor).",
        unit="yuan per doctor-day",
        source="assumption: about 150,000 yuan a year of a county-hospital doctor over 250 working days",
        ge=0.0,
    )


class OptimizeSpec(Section):
    """An optimisation file (params/optimize/*.yaml): base scenario, levers, targets and the search."""

    name: str = P(..., "Name; results go to outputs/optimize/<name>/.")
    base: str = P(..., "Base scenario file (relative to this file or the repository root).")
    levers: dict[str, Factor] = P(
        ..., "Levers to choose, by dotted parameter key, each with low and high (integer: whole numbers)."
    )
    targets: TargetList = P(
        ..., "Targets every candidate must meet: names in the targets file, or targets written out."
    )
    targets_file: str = P("params/targets.yaml", "File of the targets (relative to this file or the repository root).")
    probability: float = P(
        0.9,
        "Share of replicates in which every target must be met (all of them in the same replicate).",
        unit="share",
        ge=0.0,
        le=1.0,
    )
    replicates: int = P(
        10, "Runs per candidate (common random numbers: the same seeds for every candidate).", ge=1, le=1000
    )
    trials: int = P(60, "Candidates Optuna evaluates (the first is every lever at its low end).", ge=1, le=100_000)
    cost: Cost = P(Cost, "Prices that add the two costs up.")
    max_oop_increase: float | None = P(
        None,
        (
            "Most that out-of-pocket payment per visit and per admission may rise against the base scenario in the "
            "last year (0.1: by 10%); none: no limit. Without it the fund's cheapest mix may simply shift costs to "
            "patients."
        ),
        unit="share",
        ge=0.0,
    )
    run: dict[str, Any] = P(
        dict, "Overrides of the base scenario for every run (scale, days, levers switched on and their start)."
    )
    seed: int = P(20230101, "Seed of the replicates and of the sampler.", ge=0, le=2**32 - 1)
    ensemble: str | None = P(
        None,
        (
            "Calibrated file (params/calibrated/*.yaml): replicate r of every candidate, and of the base it is "
            "costed against, draws the calibrated parameters from the same posterior member, so the probability of "
            "meeting the targets carries parameter uncertainty; run overrides and levers win over members. "
            "[default: none]"
        ),
    )

    @field_validator("levers")
    @classmethod
    def _ranges(cls, v: dict) -> dict:
        if not v:
            raise ValueError("at least one lever")
        for k, f in v.items():
            if f.low is None or f.high is None:
                raise ValueError(f"{k}: give low and high")
        return v

    @field_validator("targets")
    @classmethod
    def _some(cls, v: list) -> list:
        if not v:
            raise ValueError("at least one target")
        return v


def load_optimize(path: str | Path, changes: dict | None = None) -> tuple[OptimizeSpec, Path, list[Target]]:
    """Read and validate an optimisation file (and its base, levers and targets).

    ``changes`` replace fields (``run`` is merged), e.g. a smaller scale in a notebook.
    """
    path = Path(path)
    spec, base = load_spec(OptimizeSpec, path, changes)
    params = load_params(base)
    check_factors(path, "levers", params, spec.run, spec.levers)
    check_spec_ensemble(path, spec, params)
    targets = sweep_targets(spec, path)
    final = with_overrides(params, dict(spec.run))
    last_year = (final.run.start_date + dt.timedelta(days=final.run.days - 1)).year
    for t in targets:  # a target the runs never reach could never be met
        if t.year is not None and not final.run.start_date.year <= t.year <= last_year:
            raise ParamsError(
                f"{path}: targets: '{t.name}' is judged in {t.year}, outside the runs "
                f"({final.run.start_date.year}-{last_year}): change run.days or the target"
            )
    return spec, base, targets


def _evaluate(
    pool, spec: OptimizeSpec, base: Path, targets: list[Target], seeds: list[int], levers: dict, members: list[dict]
) -> pd.DataFrame:
    """The replicates of one lever mix, one row each (raises if a run fails).

    Replicate r runs with seed r and posterior member r (empty without an ensemble); the run overrides win over it.
    """
    futs = [
        pool.submit(run_point, str(base), {**m, **spec.run}, levers, s, _FINAL, targets)
        for s, m in zip(seeds, members, strict=True)
    ]
    return pd.DataFrame([f.result() for f in futs])


def summarise_candidate(
    rows: pd.DataFrame,
    targets: list[Target],
    reference_fund: float,
    spec: OptimizeSpec,
    reference_oop: dict | None = None,
) -> dict:
    """Probabilities of meeting each target, the costs, what patients pay, and feasibility of one candidate.

    ``reference_oop``: the base's out-of-pocket per visit and per admission (needed when the spec
    limits their rise).
    """
    out = {f"p:{t.name}": float(rows[f"met:{t.name}"].mean()) for t in targets}
    p_all = float((rows[[f"met:{t.name}" for t in targets]] == 1.0).all(axis=1).mean())
    doctor_days = float(rows["final:doctor_days_sunk"].mean())
    extra_fund = float(rows["final:fund_spending"].mean()) - reference_fund
    oop = {k: float(rows[f"final:{k}"].mean()) if f"final:{k}" in rows else np.nan for k in OOP}
    rise = max((oop[k] / reference_oop[k] - 1.0 for k in OOP), default=np.nan) if reference_oop else np.nan
    oop_ok = spec.max_oop_increase is None or bool(rise <= spec.max_oop_increase)
    out |= {
        "p:all": p_all,
        "feasible": p_all >= spec.probability and oop_ok,
        "doctor_days": doctor_days,
        "extra_fund_yuan": extra_fund,
        "cost_yuan": doctor_days * spec.cost.yuan_per_doctor_day + extra_fund,
        **oop,
        "oop_rise": rise,
        "grassroots_share": float(rows["final:grassroots_share"].mean())
        if "final:grassroots_share" in rows
        else np.nan,
    }
    return out


def optimize(
    spec_path: str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    trials: int | None = None,
    progress: bool | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    changes: dict | None = None,
    force: bool = False,
    dashboard: str | None = None,
) -> tuple[pd.DataFrame, Path]:
    """Run (or resume) an optimisation; return the table of candidates and the folder.

    ``trials`` overrides the file's (the total, counting trials done before a resume). The
    folder is claimed for this process (:func:`health_sim.experiments.sweep.claim`). Ctrl-C stops the
    workers and raises :class:`health_sim.experiments.workers.Interrupted`, saying what is saved.
    """
    import warnings

    import optuna

    from health_sim.experiments.sweep import claim, default_out
    from health_sim.experiments.workers import Interrupted, Pool

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    spec, base, targets = load_optimize(spec_path, changes)
    if trials is not None:
        spec = spec.model_copy(update={"trials": int(trials)})
    out = Path(out) if out else default_out(spec, load_optimize(spec_path)[0] if changes else spec, kind="optimize")
    pool_spec = Pool(executor, workers or os.cpu_count() or 1, scheduler, dashboard)
    check_memory(f"{spec_path}: run", with_overrides(load_params(base), dict(spec.run)), spec.levers, pool_spec)
    with claim(
        out, spec.model_copy(update={"trials": 0}), base, targets, kind="optimisation", force=force
    ):  # more trials later is a resume, not another optimisation
        try:
            members = [v for _, v in sweep_members(spec, spec_path)]
            return _optimize(spec, base, targets, out, pool_spec, progress, members)
        except (KeyboardInterrupt, Exception) as e:
            if not _interrupted(e):
                raise
            raise Interrupted(
                f"interrupted: {completed_trials(out / 'study.db', spec.name)} of {spec.trials} candidates are saved "
                f"in {out / 'study.db'}",
                out,
            ) from None


def _interrupted(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a Ctrl-C, or an error raised while one was being handled.

    Optuna's trial bookkeeping can fail in its own ``finally`` block when the interrupt lands
    there (an UnboundLocalError whose context is the KeyboardInterrupt): that is still a Ctrl-C.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__context__
    return False


def _optimize(
    spec: OptimizeSpec,
    base: Path,
    targets: list[Target],
    out: Path,
    pool_spec,
    progress: bool | None,
    members: list[dict],
) -> tuple[pd.DataFrame, Path]:
    import optuna
    from tqdm.auto import tqdm

    seeds = replicate_seeds(spec.seed, spec.replicates)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet_optuna_interrupts()
    keys = list(spec.levers)

    sampler = optuna.samplers.TPESampler(
        seed=spec.seed, multivariate=True, n_startup_trials=min(10, max(1, spec.trials // 4))
    )
    study = optuna.create_study(
        study_name=spec.name,
        storage=f"sqlite:///{out / 'study.db'}",
        directions=["minimize", "minimize"],
        sampler=sampler,
        load_if_exists=True,
    )
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING]):  # left by an interruption
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    done = len(study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE]))
    lows = {k: (int(spec.levers[k].low) if spec.levers[k].integer else spec.levers[k].low) for k in keys}
    live = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.WAITING)
    if not any(t.params == lows for t in study.get_trials(deepcopy=False, states=live)):
        study.enqueue_trial(lows)  # first: do the levers at their low ends suffice? (again after an interruption)

    bar = tqdm(
        total=spec.trials,
        initial=min(done, spec.trials),
        disable=None if progress is None else not progress,
        unit="trial",
        desc=spec.name,
    )
    with pool_spec as pool:
        ref_file = out / "reference.json"
        if ref_file.exists():  # null (an undefined KPI) is read back as NaN
            reference = {k: (np.nan if v is None else v) for k, v in json.loads(ref_file.read_text()).items()}
        else:  # the base scenario with the run overrides: the fund spending the levers add to
            base_over = {k: v for k, v in spec.run.items() if not k.startswith("policies.")}
            ref = pd.DataFrame(
                [
                    f.result()
                    for f in [
                        pool.submit(run_point, str(base), {**m, **base_over}, {}, s, _FINAL)
                        for s, m in zip(seeds, members, strict=True)
                    ]
                ]
            )
            reference = {k: float(ref[f"final:{k}"].mean()) for k in COSTS}
            valid = {k: (v if np.isfinite(v) else None) for k, v in reference.items()}  # valid JSON: NaN as null
            atomic_write(ref_file, lambda p: p.write_text(json.dumps(valid, indent=1, allow_nan=False) + "\n"))

        feasible = sum(1 for t in study.get_trials(deepcopy=False) if t.user_attrs.get("feasible"))

        def objective(trial) -> tuple[float, float]:
            nonlocal feasible
            levers = {}
            for k in keys:
                f = spec.levers[k]
                levers[k] = (
                    trial.suggest_int(k, int(f.low), int(f.high))
                    if f.integer
                    else trial.suggest_float(k, f.low, f.high)
                )
            rows = _evaluate(pool, spec, base, targets, seeds, levers, members)
            s = summarise_candidate(rows, targets, reference["fund_spending"], spec, {k: reference[k] for k in OOP})
            for k, v in s.items():
                trial.set_user_attr(k, v)
            trial.set_constraint(
                "all_targets", spec.probability - s["p:all"]
            )  # feasible: every target met together in enough replicates
            if spec.max_oop_increase is not None:  # and patients not made to pay more than allowed
                trial.set_constraint("out_of_pocket", s["oop_rise"] - spec.max_oop_increase)
            feasible += s["feasible"]
            bar.update()
            bar.set_postfix(feasible=feasible)
            return s["doctor_days"], s["extra_fund_yuan"]

        remaining = spec.trials - done
        if remaining > 0:
            study.optimize(objective, n_trials=remaining, catch=(Exception,))
    bar.close()
    table = candidates(study, keys)
    failed = study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.FAIL])
    if table.empty and failed:
        reason = str(failed[-1].system_attrs.get("fail_reason", "unknown")).strip().splitlines()
        raise RuntimeError(f"all {len(failed)} candidates failed; the last: {reason[-1] if reason else 'unknown'}")
    write_results(out, table, spec, base)
    return table, out


def completed_trials(db: Path, name: str) -> int:
    """Completed trials of the Optuna study ``name`` in ``db`` (0 if there is none)."""
    import optuna

    if not Path(db).exists():
        return 0
    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
    except Exception:
        return 0
    return len(study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE]))


def candidates(study, keys: list[str]) -> pd.DataFrame:
    """One row per completed candidate: levers, probabilities, costs, feasibility and Pareto membership.

    ``pareto``: whether it is on the Pareto front of the feasible candidates.
    """
    import optuna

    front = {t.number for t in study.best_trials if t.user_attrs.get("feasible")}
    rows = []
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE]):
        rows.append({"trial": t.number, **{k: t.params[k] for k in keys}, **t.user_attrs, "pareto": t.number in front})
    return pd.DataFrame(rows)


def cheapest(table: pd.DataFrame) -> pd.Series | None:
    """The feasible candidate of least cost in yuan (None if no candidate is feasible)."""
    ok = table[table["feasible"]] if len(table) else table
    return None if ok.empty else ok.loc[ok["cost_yuan"].idxmin()]


def write_results(out: Path, table: pd.DataFrame, spec: OptimizeSpec, base: Path) -> None:
    """trials.parquet, pareto.parquet and cheapest.yaml (a scenario extending the base)."""
    atomic_write(out / "trials.parquet", lambda p: table.to_parquet(p, index=False))
    front = table[table["pareto"]].sort_values("doctor_days") if len(table) else table
    atomic_write(out / "pareto.parquet", lambda p: front.to_parquet(p, index=False))
    best = cheapest(table)
    target = out / "cheapest.yaml"
    if best is None:
        if target.exists():
            target.unlink()
        return
    over = {
        **spec.run,
        **{k: (int(best[k]) if spec.levers[k].integer else float(best[k])) for k in spec.levers},
    }  # full precision: the candidate judged
    nested: dict = {}
    for k, v in over.items():
        d = nested
        *head, last = k.split(".")
        for h in head:
            d = d.setdefault(h, {})
        d[last] = v.isoformat() if hasattr(v, "isoformat") else v
    header = (
        f"# The cheapest lever mix found by `health-sim optimize` ({spec.name}, trial {int(best['trial'])}): every "
        "target met in\n"
        f"# {best['p:all']:.0%} of {spec.replicates} replicates; {best['doctor_days']:,.0f} doctor-days and "
        f"{best['extra_fund_yuan']:+,.0f} yuan of fund spending\n"
        f"# a year against the base ({best['cost_yuan']:,.0f} yuan at {spec.cost.yuan_per_doctor_day:g} yuan a "
        "doctor-day).\n"
    )
    text = header + yaml.safe_dump(
        {"extends": os.path.relpath(base.resolve(), out.resolve()), **nested}, sort_keys=False
    )
    atomic_write(target, lambda p: p.write_text(text, encoding="utf-8"))
    load_params(target)  # it must be a valid scenario
