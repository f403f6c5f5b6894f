"""Replicated parameter sweeps: a design over levers and uncertain parameters.

Run in parallel, one row per run, resumable.

A sweep file (params/sweeps/*.yaml) names a base scenario, the factors (dotted parameter
keys with a range or a list of values), a design (grid; Latin hypercube via
scipy.stats.qmc; Sobol or Morris via SALib), replicates, the KPIs to record and a seed.
Every run's row is written atomically to ``<out>/runs/`` as it finishes; rerunning the
same command skips the runs that are done and retries the failed ones, so a sweep killed
at any moment and rerun ends with the table of an uninterrupted sweep.

Seeds: replicate r of every point uses the r-th seed spawned from ``SeedSequence(seed)``
(common random numbers across points), so the table does not depend on the executor or
the number of workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BeforeValidator, field_validator, model_validator

from health_sim.config.messages import first_error, validate_data, validate_file
from health_sim.config.params import load_params, warn_levers, with_overrides
from health_sim.core.errors import ParamsError
from health_sim.core.fields import P, Section
from health_sim.core.paths import atomic_write, outputs_root, repo_root, resolve
from health_sim.experiments.ensemble import check_ensemble
from health_sim.experiments.scenario_runs import flatten, replicate_seeds
from health_sim.experiments.targets import Target, load_targets, score
from health_sim.sim.kpis import KPIS


def inline_targets(v: list) -> list:
    """Targets written out in a spec validated as Target (so a bad one gets Target's own message)."""
    from pydantic import ValidationError

    out = []
    for i, t in enumerate(v or []):
        if isinstance(t, dict):
            try:
                t = Target.model_validate(t)
            except ValidationError as e:
                raise ValueError(f"{i}.{first_error(e)}") from None
        out.append(t)
    return out


TargetList = Annotated[list[str | Target], BeforeValidator(inline_targets)]
"""Targets of a spec: names in its targets file, or targets written out (validated as Target)."""


class Factor(Section):
    """A lever or uncertain parameter: a list of values, or a range [low, high]."""

    values: list[Any] | None = P(None, "The values it takes (grid designs).")
    low: float | None = P(None, "Lower end of its range.")
    high: float | None = P(None, "Upper end of its range.")
    levels: int = P(3, "Grid points across [low, high] when no values are given.", ge=2, le=100)
    integer: bool = P(False, "Round sampled values to integers (counts such as doctors a year).")

    @model_validator(mode="after")
    def _one_form(self) -> Factor:
        if self.values is None and (self.low is None or self.high is None):
            raise ValueError("give either values or low and high")
        if self.values is None and not self.low < self.high:
            raise ValueError(f"low {self.low} must be below high {self.high}")
        if self.values is not None and not self.values:
            raise ValueError("values is empty")
        return self


class Design(Section):
    """The ``design`` section of a sweep file: the method (grid, lhs, sobol, morris) and its size."""

    method: Literal["grid", "lhs", "sobol", "morris"] = P(
        "grid",
        (
            "grid: every combination; lhs: Latin hypercube (scipy.stats.qmc); sobol: Saltelli sampling for Sobol "
            "indices (SALib); morris: Morris trajectories (SALib)."
        ),
    )
    samples: int = P(
        16,
        (
            "Points (lhs), base samples N (sobol: N x (D + 2) points for D factors, N a power of 2) or trajectories "
            "(morris: r x (D + 1) points)."
        ),
        ge=1,
        le=100_000,
    )
    morris_levels: int = P(4, "Grid levels of the Morris design.", ge=2, le=20)


class SweepSpec(Section):
    """A sweep file (params/sweeps/*.yaml): base scenario, factors, design, replicates, KPIs and targets."""

    name: str = P(..., "Name of the sweep; results go to outputs/sweeps/<name>/.")
    base: str = P(..., "Base scenario file (relative to the sweep file or the repository root).")
    factors: dict[str, Factor] = P(..., "Factors by dotted parameter key.")
    design: Design = P(Design, "How points are chosen.")
    replicates: int = P(2, "Runs per point (common random numbers across points).", ge=1, le=1000)
    kpis: list[str] = P(
        lambda: ["grassroots_share", "visits_per_resident", "satisfaction", "fund_spending", "doctor_days_sunk"],
        (
            "KPIs recorded for every run, over the whole run (parts as name.part), or in its last calendar year as "
            "final:<kpi>."
        ),
    )
    targets: TargetList = P(
        list,
        (
            "Targets judged for every run (a column met:<name> of 1 or 0): names in the targets file, or targets "
            "written out (name, kpi, op, threshold, year, source)."
        ),
    )
    targets_file: str = P(
        "params/targets.yaml", "File of the targets (relative to the sweep file or the repository root)."
    )
    run: dict[str, Any] = P(dict, "Overrides of the base scenario for every run, e.g. {run.scale: 0.1, run.days: 365}.")
    seed: int = P(20230101, "Base seed.", ge=0, le=2**32 - 1)
    ensemble: str | None = P(
        None,
        (
            "Calibrated file (params/calibrated/*.yaml): replicate r of every point draws the calibrated parameters "
            "from the same ensemble member, so results carry parameter uncertainty; run overrides and factors win "
            "over members. [default: none]"
        ),
    )

    @field_validator("factors")
    @classmethod
    def _some(cls, v: dict) -> dict:
        if not v:
            raise ValueError("at least one factor")
        return v

    @model_validator(mode="after")
    def _ranges_for_sampling(self) -> SweepSpec:
        if self.design.method != "grid":
            listed = [k for k, f in self.factors.items() if f.values is not None]
            if listed:
                raise ValueError(
                    f"the {self.design.method} design needs low and high for every factor, not values ({listed[0]})"
                )
        return self

    @field_validator("kpis")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        import difflib

        for k in v:
            base = k.removeprefix("final:").split(".")[0]
            if base not in KPIS:
                close = difflib.get_close_matches(base, list(KPIS), n=1)
                raise ValueError(f"unknown KPI '{k}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        return v


def with_changes(spec, changes: dict | None, path: Path):
    """``spec`` with fields replaced by ``changes`` (dict fields such as ``run`` merged), validated.

    A bad change is one ParamsError line naming ``changes`` and the key.
    """
    if not changes:
        return spec
    merged = spec.model_dump()
    for k, v in changes.items():
        merged[k] = {**merged[k], **v} if isinstance(merged.get(k), dict) and isinstance(v, dict) else v
    return validate_data(type(spec), merged, f"{path}: changes")


def load_spec(model: type, path: str | Path, changes: dict | None = None):
    """Read a spec file (sweep, optimisation, calibration) into ``model`` with ``changes`` applied.

    Return it and its base scenario file, which must exist.
    """
    path = Path(path)
    spec = with_changes(validate_file(model, path), changes, path)
    base = _beside(path, spec.base)
    if not base.exists():
        raise ParamsError(f"{path}: base: {spec.base}: no such file")
    return spec, base


def _beside(path: Path, name: str) -> Path:
    """A file named in ``path``: relative to it, else to the repository root."""
    near = path.parent / name
    return near if near.exists() else resolve(name)


def load_sweep(path: str | Path, changes: dict | None = None) -> tuple[SweepSpec, Path]:
    """Read and validate a sweep file; check the base scenario, every factor key and the targets too.

    ``changes`` replace fields of the file (``run`` and ``design`` are merged), e.g.
    ``{"replicates": 1, "design": {"samples": 8}, "run": {"run.scale": 0.01}}``.
    """
    path = Path(path)
    spec, base = load_spec(SweepSpec, path, changes)
    sweep_targets(spec, path)
    params = load_params(base)
    check_factors(path, "factors", params, spec.run, spec.factors)
    check_spec_ensemble(path, spec, params)
    return spec, base


def check_spec_ensemble(path: Path, spec, params) -> None:
    """A sweep's (or optimisation's) ``ensemble``, when it names one, must be a calibrated file valid on the base."""
    if spec.ensemble:
        check_ensemble(f"{path}: ensemble", _beside(path, spec.ensemble), params)


def check_factors(path: Path, section: str, params, run: dict, factors: dict[str, Factor]) -> None:
    """Every factor must be a real parameter, valid at both ends and inside its range.

    A whole-number parameter needs ``integer: true``. A factor that fails is one line naming
    ``section.key``.
    """
    try:
        with_run = with_overrides(params, dict(run))
    except ParamsError as e:
        raise ParamsError(f"{path}: run: {str(e).removeprefix('--set ')}") from None
    keys = lambda names: {tuple(k.split(".")) for k in names}  # noqa: E731
    warn_levers(with_run, [(f"{path}: run", keys(run)), (f"{path}: {section}", keys(factors))])
    for key, f in factors.items():
        probe = (
            f.values
            if f.values is not None
            else [f.low, f.high] + ([] if f.integer else [f.low + 0.37 * (f.high - f.low)])
        )
        for v in probe:
            try:
                with_overrides(params, {**run, key: round(v) if f.integer else v})
            except ParamsError as e:
                raise ParamsError(f"{path}: {section}.{key}: {str(e).split(': ', 1)[-1]}") from None


def sweep_members(spec: SweepSpec, path: str | Path) -> list[tuple[int | None, dict]]:
    """(member trial, calibrated values) of each replicate; no values without an ensemble (sweeps, optimisations)."""
    if not spec.ensemble:
        return [(None, {})] * spec.replicates
    from health_sim.experiments.ensemble import load_ensemble

    return load_ensemble(_beside(Path(path), spec.ensemble)).overrides(spec.replicates, spec.seed)


def sweep_targets(spec, path: str | Path) -> list[Target]:
    """The targets a sweep (or optimisation) judges.

    Names looked up in its targets file (unknown names are one-line errors), or targets written
    out in the spec.
    """
    import difflib

    names = [t for t in spec.targets if isinstance(t, str)]
    known: dict[str, Target] = {}
    if names:
        tfile = _beside(Path(path), spec.targets_file)
        if not tfile.exists():
            raise ParamsError(f"{path}: targets_file: {spec.targets_file}: no such file")
        known = {t.name: t for t in load_targets(tfile)}
    out = []
    for t in spec.targets:
        if isinstance(t, Target):
            out.append(t)
        elif t in known:
            out.append(known[t])
        else:
            close = difflib.get_close_matches(t, list(known), n=1)
            raise ParamsError(
                f"{path}: targets: unknown target '{t}' in {tfile}"
                + (f" (did you mean '{close[0]}'?)" if close else "")
            )
    dup = sorted({t.name for t in out if [u.name for u in out].count(t.name) > 1})
    if dup:
        raise ParamsError(f"{path}: targets: '{dup[0]}' is named twice")
    return out


def record(kpis: dict, annual: pd.DataFrame, names: list[str], targets: list[Target]) -> dict:
    """A run's row: the named KPIs and, for each target, ``met:<name>``.

    The KPIs are over the whole run; a name ``final:<kpi>`` gives the value in the run's last
    calendar year. ``met:<name>`` is 1, 0, or NaN when the run does not cover the target's year.
    """
    last = annual.loc[annual["year"].idxmax()]
    row = {}
    for name in names:
        k = name.removeprefix("final:")
        row[name] = kpis.get(name, np.nan) if k == name else (float(last[k]) if k in last.index else np.nan)
    if targets:
        judged = score(annual, targets)
        row |= {f"met:{t}": float(s) for t, s in zip(judged["target"], judged["share_met"], strict=True)}
    return row


def design_points(spec: SweepSpec) -> pd.DataFrame:
    """The design: one row per point, one column per factor."""
    keys = list(spec.factors)
    fs = [spec.factors[k] for k in keys]
    m = spec.design.method
    if m == "grid":
        axes = [f.values if f.values is not None else list(np.linspace(f.low, f.high, f.levels)) for f in fs]
        pts = pd.DataFrame(list(itertools.product(*axes)), columns=keys)
    else:
        if any(f.values is not None for f in fs):
            raise ValueError(f"the {m} design needs low and high for every factor")
        bounds = [[f.low, f.high] for f in fs]
        if m == "lhs":
            from scipy.stats import qmc

            unit = qmc.LatinHypercube(d=len(keys), seed=np.random.default_rng(spec.seed)).random(spec.design.samples)
            x = qmc.scale(unit, [b[0] for b in bounds], [b[1] for b in bounds])
        elif m == "sobol":
            from SALib.sample import sobol as sobol_sample

            x = sobol_sample.sample(salib_problem(spec), spec.design.samples, calc_second_order=False, seed=spec.seed)
        else:
            from SALib.sample import morris as morris_sample

            x = morris_sample.sample(
                salib_problem(spec), spec.design.samples, num_levels=spec.design.morris_levels, seed=spec.seed
            )
        pts = pd.DataFrame(x, columns=keys)
    for k, f in zip(keys, fs, strict=True):
        if f.integer:
            pts[k] = pts[k].round().astype(int)
    pts.insert(0, "point", np.arange(len(pts)))
    return pts


def salib_problem(spec: SweepSpec) -> dict:
    """The SALib problem of a sweep: the factors' names and [low, high] bounds."""
    keys = list(spec.factors)
    return {"num_vars": len(keys), "names": keys, "bounds": [[spec.factors[k].low, spec.factors[k].high] for k in keys]}


def _native(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def run_point(base: str, run_over: dict, factors: dict, seed: int, kpis: list[str], targets: list[Target] = ()) -> dict:
    """One run of a design point in a worker: its row (KPIs, targets met, seconds), or raises.

    The burn-in is shared between runs of the same seed in this process when the levers
    allow it (:mod:`health_sim.experiments.warmstart`); the results are the same either way.
    """
    from health_sim.experiments.warmstart import warm_model

    t0 = time.perf_counter()
    params = with_overrides(load_params(base), {**run_over, **factors})
    model = warm_model(params, seed)
    model.run_days(progress=False)
    row = record(flatten(model.kpis()), model.annual_frame(), kpis, list(targets))
    return row | {"seconds": round(time.perf_counter() - t0, 3)}


def run_point_notebook(
    root: str,
    base: str,
    run_over: dict,
    factors: dict,
    seed: int,
    kpis: list[str],
    out_dir: str,
    targets: list[Target] = (),
) -> dict:
    """One run through the scenario notebook (papermill), its executed notebook kept in ``out_dir``."""
    import papermill as pm

    from health_sim.experiments import notebooks as kernels
    from health_sim.experiments.notebooks import PAPERMILL_OPTIONS

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    overrides = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in {**run_over, **factors}.items()}
    km = kernels.take(root)  # started and warmed while this worker's previous run executed
    try:
        pm.execute_notebook(
            str(Path(root) / "notebooks" / "scenario.ipynb"),
            str(out.with_suffix(".ipynb")),
            cwd=root,
            **PAPERMILL_OPTIONS,
            km=km,
            parameters={
                "scenario": base,
                "replicates": 1,
                "seeds": [seed],
                "overrides": overrides,
                "out_dir": str(out),
                "figures": False,
            },
        )
    finally:
        kernels.release(km)
    k = pd.read_parquet(out / "kpis.parquet").iloc[0].to_dict()
    row = record(k, pd.read_parquet(out / "annual.parquet"), kpis, list(targets))
    return row | {"seconds": round(time.perf_counter() - t0, 3)}


def _row_path(runs: Path, point: int, rep: int) -> Path:
    return runs / f"p{point:06d}_r{rep:03d}.parquet"


def _write_row(runs: Path, row: dict) -> None:
    atomic_write(
        _row_path(runs, row["point"], row["replicate"]), lambda p: pd.DataFrame([row]).to_parquet(p, index=False)
    )


def done_runs(runs: Path) -> dict[tuple[int, int], str]:
    """Status of the runs written so far, by (point, replicate)."""
    out = {}
    for f in runs.glob("p*_r*.parquet"):
        try:
            row = pd.read_parquet(f, columns=["point", "replicate", "status"]).iloc[0]
        except Exception:
            continue
        out[(int(row["point"]), int(row["replicate"]))] = str(row["status"])
    return out


def default_out(spec, as_written, kind: str = "sweeps") -> Path:
    """outputs/<kind>/<name> for the specification as written in its file (``as_written``).

    Or <name>-<hash> when changes made it another one (changes that change nothing, or only the
    number of trials, keep the plain folder).
    """
    folder = outputs_root() / kind
    a, b = (
        x.model_dump(mode="json", exclude={"trials"} if "trials" in type(x).model_fields else None)
        for x in (spec, as_written)
    )
    if a == b:
        return folder / spec.name
    tag = hashlib.sha256(json.dumps(a, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return folder / f"{spec.name}-{tag}"


def claim(out: Path, spec, base: Path, targets: list[Target], kind: str = "sweep", force: bool = False):
    """Claim folder ``out`` for this specification (:func:`health_sim.experiments.outdir.claim`).

    Locked while this process fills it, ``spec.json`` created atomically; a folder of another
    specification (or base scenario), one another process is filling, or one holding files
    health_sim did not write is refused in one line. Returns the claim (a context manager).
    """
    from health_sim.config.params import params_hash
    from health_sim.experiments.outdir import claim as claim_folder

    made = {"spec": spec.model_dump(mode="json"), "base_params_sha256": params_hash(load_params(base))}
    made["spec"].pop("base"), made["spec"].pop("targets_file", None)  # paths may be written differently
    made["spec"]["targets"] = [t.model_dump(mode="json") for t in targets]  # what the names meant (thresholds, years)

    def differs(old: dict, new: dict) -> str:
        keys = sorted(
            k for k in set(old.get("spec", {})) | set(new["spec"]) if old.get("spec", {}).get(k) != new["spec"].get(k)
        )
        return keys[0] if keys else "base scenario"

    return claim_folder(Path(out), made, kind, force=force, differs=differs)


MAX_RUNS = 1_000_000
"""Most runs a sweep may have: a larger design is refused before it is built."""

CONFIRM_RUNS = 5_000
"""A sweep of more runs asks for confirmation (``--yes`` when not at a terminal)."""


def design_size(spec: SweepSpec) -> int:
    """Points of the design, computed from the spec without building it."""
    d = len(spec.factors)
    m = spec.design.method
    if m == "grid":
        n = 1
        for f in spec.factors.values():
            n *= len(f.values) if f.values is not None else f.levels
        return n
    return spec.design.samples * {"lhs": 1, "sobol": d + 2, "morris": d + 1}[m]


def seconds_per_run(params) -> float:
    """A rough time of one run on one core of this kind of machine (seconds).

    Measured about 4 s for a full-scale county-year with its year of burn-in
    (benchmarks/county_year.py).
    """
    residents = params.county.population * params.run.scale
    return 0.3 + 4.0 * residents / 367_175 * (params.run.days + params.run.burn_in_days) / 730


def check_memory(where: str, params, factors: dict, pool) -> None:
    """Refuse, in one line, more workers of ``pool`` than this machine's memory holds runs of ``params``.

    Runs at the largest scale a factor gives them. An existing Dask cluster is not checked: its
    memory is on its own machines.
    """
    from health_sim.config.params import available_memory, memory_needed

    if getattr(pool, "scheduler", None):
        return
    f = factors.get("run.scale")
    if f is not None:
        params = with_overrides(params, {"run.scale": max(f.values) if f.values is not None else f.high})
    each, free = memory_needed(params), available_memory()
    if free is not None and each * pool.workers > 0.8 * free:
        raise ParamsError(
            f"{where}: {pool.workers} workers x about {each / 1e9:.1f} GB a run is more than the {free / 1e9:.1f} GB "
            "of memory available; use fewer --workers or a smaller run.scale"
        )


def check_size(path: str | Path, spec: SweepSpec) -> int:
    """The number of runs; a design of more than MAX_RUNS is refused in one line."""
    points = design_size(spec)
    if points * spec.replicates > MAX_RUNS:
        raise ParamsError(
            f"{path}: design: {points:,} points x {spec.replicates} replicates = {points * spec.replicates:,} runs, "
            f"more than the limit of {MAX_RUNS:,}; use fewer levels or samples"
        )
    return points * spec.replicates


def run_sweep(
    spec_path: str | Path,
    out: str | Path | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    via: str = "api",
    changes: dict | None = None,
    force: bool = False,
    dashboard: str | None = None,
    confirm: Callable[[int, float], None] | None = None,
) -> tuple[pd.DataFrame, Path]:
    """Run (or resume) a sweep; return the results table and its folder.

    ``changes``: fields of the sweep file replaced for this call (see :func:`load_sweep`),
    e.g. a smaller design or scale in a notebook; its results go to a folder of their own.

    ``executor``: "local" (a process pool of ``workers``) or "dask" (a LocalCluster of
    ``workers``, or the existing cluster at ``scheduler``). ``via``: "api" runs the model
    in-process; "notebook" runs notebooks/scenario.ipynb through papermill for each run and
    keeps each executed notebook under ``<out>/notebooks/``. The table is the same either way.

    ``confirm(runs, hours)``, if given, is called once the sweep is checked and before its
    folder is claimed (the command line asks before a large sweep; it raises to stop).

    The folder is claimed for this process (see :func:`claim`; ``force`` adds to a folder
    holding other files). Ctrl-C stops the workers and raises
    :class:`health_sim.experiments.workers.Interrupted`, saying how many runs are saved.
    """
    if via not in ("api", "notebook"):
        raise ParamsError(f"--via {str(via)[:40]}: must be api or notebook")
    from tqdm.auto import tqdm

    from health_sim.experiments.workers import Interrupted, Pool

    spec, base = load_sweep(spec_path, changes)
    n_runs = check_size(spec_path, spec)
    targets = sweep_targets(spec, spec_path)
    out = Path(out) if out else default_out(spec, load_sweep(spec_path)[0] if changes else spec)
    pool_spec = Pool(executor, workers or os.cpu_count() or 1, scheduler, dashboard)
    params = with_overrides(load_params(base), dict(spec.run))
    check_memory(f"{spec_path}: run", params, spec.factors, pool_spec)
    if confirm is not None:
        confirm(n_runs, n_runs * seconds_per_run(params) / pool_spec.workers / 3600)
    with claim(out, spec, base, targets, force=force):
        runs = out / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        pts = design_points(spec)
        atomic_write(out / "design.parquet", lambda p: pts.to_parquet(p, index=False))
        seeds = replicate_seeds(spec.seed, spec.replicates)
        members = sweep_members(spec, spec_path)
        status = done_runs(runs)
        todo = [
            (int(p.point), r)
            for p in pts.itertuples()
            for r in range(spec.replicates)
            if status.get((int(p.point), r)) != "ok"
        ]
        keys = list(spec.factors)
        factor_values = {int(row["point"]): {k: _native(row[k]) for k in keys} for _, row in pts.iterrows()}
        failed = 0
        bar = tqdm(
            total=n_runs,
            initial=n_runs - len(todo),
            disable=None if progress is None else not progress,
            unit="run",
            desc=spec.name,
        )
        plan = _Plan(spec, base, out, via, targets, seeds, members, factor_values)
        try:
            with pool_spec as pool:
                futures = {_submit(pool, plan, point, rep): (point, rep) for point, rep in todo}
                for fut in cf.as_completed(futures):
                    row = _row(plan, *futures[fut], fut)
                    failed += row["status"] != "ok"
                    _write_row(runs, row)
                    bar.update()
                    bar.set_postfix(failed=failed)
        except KeyboardInterrupt:
            bar.close()
            saved = sum(1 for v in done_runs(runs).values() if v == "ok")
            raise Interrupted(f"interrupted: {saved} of {n_runs} runs are saved in {runs}", out) from None
        bar.close()
        table = results(out)
    return table, out


@dataclass(frozen=True)
class _Plan:
    """What every run of a sweep shares.

    The specification, its base, folder and route, the targets, the replicates' seeds and
    ensemble members, and each design point's factor values.
    """

    spec: SweepSpec
    base: Path
    out: Path
    via: str
    targets: list[Target]
    seeds: list[int]
    members: list[tuple[int | None, dict]]
    factor_values: dict[int, dict]


def _submit(pool, plan: _Plan, point: int, rep: int) -> cf.Future:
    """Submit the run of design point ``point``, replicate ``rep`` to ``pool`` (in-process or a notebook)."""
    spec = plan.spec
    run_over = {**plan.members[rep][1], **spec.run}
    args = (plan.factor_values[point], plan.seeds[rep], list(spec.kpis))
    if plan.via == "api":
        return pool.submit(run_point, str(plan.base), run_over, *args, plan.targets)
    nb_out = str((plan.out / "notebooks" / f"p{point:06d}_r{rep:03d}").resolve())
    root = str(repo_root())
    return pool.submit(run_point_notebook, root, str(Path(plan.base).resolve()), run_over, *args, nb_out, plan.targets)


def _row(plan: _Plan, point: int, rep: int, fut: cf.Future) -> dict:
    """The row of a finished run.

    Its point, replicate, seed and factors, then its KPIs and targets met (status ok) or its
    error (status failed, KPIs NaN).
    """
    spec = plan.spec
    row = {
        "point": point,
        "replicate": rep,
        "seed": plan.seeds[rep],
        **({"member": plan.members[rep][0]} if spec.ensemble else {}),
        **{f"factor:{k}": v for k, v in plan.factor_values[point].items()},
    }
    try:
        return row | fut.result() | {"status": "ok", "error": ""}
    except Exception as e:
        row |= {k: np.nan for k in spec.kpis} | {f"met:{t.name}": np.nan for t in plan.targets}
        return row | {"status": "failed", "error": f"{type(e).__name__}: {e}"[:2000], "seconds": np.nan}


def results(out: str | Path) -> pd.DataFrame:
    """The sweep's table (one row per run, sorted), also written to results.parquet atomically."""
    out = Path(out)
    files = sorted((out / "runs").glob("p*_r*.parquet"))
    table = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()
    if len(table):
        table = table.sort_values(["point", "replicate"]).reset_index(drop=True)
    atomic_write(out / "results.parquet", lambda p: table.to_parquet(p, index=False))
    return table
