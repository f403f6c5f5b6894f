"""The ``health-sim`` command."""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

DEBUG_ENV = "HEALTH_SIM_DEBUG"
"""Set to 1 to see the Python traceback of an internal error instead of its one line."""


def _command_line() -> str:
    """The command as typed, to resume it: ``health-sim ...`` when that is on the PATH."""
    exe = sys.argv[0]
    name = Path(exe).name
    found = shutil.which(name)
    head = name if found and Path(found).resolve() == Path(exe).resolve() else exe
    return shlex.join([head, *sys.argv[1:]])


_pending: list[str] = []


def _warnings_once():
    """A ``warnings.showwarning`` that holds each parameter warning back until the checks pass.

    Each warning is held once (a sweep reads its base scenario several times) until the command's
    checks have passed: bad input is then one line, and a run that starts is preceded by its
    warnings.
    """
    from health_sim.core.errors import ParamsWarning

    seen: set[str] = set()
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not issubclass(category, ParamsWarning):
            return original(message, category, filename, lineno, file, line)
        if str(message) not in seen:
            seen.add(str(message))
            _pending.append(str(message))

    return show


def _flush_warnings() -> None:
    """Print the warnings held back, as ``warning:`` lines."""
    while _pending:
        _warn(_pending.pop(0))


_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
"""Error numbers of a write that found no room (a full disk, a file-size limit, a quota)."""


class _OneLineErrors(TyperGroup):
    """Every failure as one line on stderr.

    Usage errors (a flag of the wrong type, an unknown option) and bad input exit 2, a failed
    write exits 1, Ctrl-C exits 130 saying what was saved and how to resume, an internal error
    exits 1 (HEALTH_SIM_DEBUG=1 shows its traceback). Parameter warnings print as
    ``warning: ...`` lines.

    Typer carries its own copy of click, so its exceptions are recognised by their
    interface (``format_message`` and ``exit_code``) rather than by class.
    """

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        from health_sim.core.errors import ParamsError, ParamsWarning
        from health_sim.experiments.outdir import OutputFailed
        from health_sim.experiments.workers import Interrupted, when_work_starts

        warnings.showwarning = _warnings_once()
        warnings.simplefilter("always", ParamsWarning)
        when_work_starts(_flush_warnings)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except (typer.Exit, typer.Abort):
            _flush_warnings()
            raise
        except ParamsError as e:
            _pending.clear()  # the error is what matters now; the warnings come back once it is fixed
            _line(str(e), 2)
        except OutputFailed as e:
            _flush_warnings()
            _line(str(e), 1)
        except Interrupted as e:  # not cut to 300 characters: the command must be whole
            _flush_warnings()
            typer.echo(f"{e}; {e.again}: {_command_line()}", err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            _flush_warnings()
            _line("interrupted", 130)
        except MemoryError:
            _flush_warnings()
            _line("health-sim: out of memory (lower run.scale or the design's size)", 1)
        except Exception as e:
            if type(e).__name__ == "NoArgsIsHelpError" and getattr(e, "ctx", None) is not None:
                typer.echo(e.ctx.get_help())
                sys.exit(0)
            if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # a usage error: bad input, one line
                _pending.clear()
                _line(f"health-sim: {e.format_message()}", e.exit_code)
            _flush_warnings()
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            if isinstance(e, OSError) and e.errno in _DISK_FULL:  # e.g. numba's compile cache on a full disk
                where = f" writing {e.filename}" if e.filename else ""
                _line(f"health-sim: no space left on the disk{where} ({e.strerror}); free some space and run again", 1)
            _line(f"health-sim: internal error: {type(e).__name__}: {e} (run with {DEBUG_ENV}=1 for the traceback)", 1)
        _flush_warnings()
        if type(code).__name__ == "Abort":  # pragma: no cover - Ctrl-C at a prompt
            sys.exit(130)
        if code == 130:  # typer turns a Ctrl-C it sees into exit code 130, silently
            _line("interrupted", 130)
        sys.exit(code if isinstance(code, int) else 0)


def _echo_line(msg: str) -> None:
    """``msg`` as one line of at most 300 characters on stderr."""
    text = " ".join(str(msg).split())
    typer.echo(text if len(text) <= 300 else text[:297] + "...", err=True)


def _warn(msg: str) -> None:
    """One ``warning:`` line on stderr."""
    _echo_line(f"warning: {msg}")


def _line(msg: str, code: int) -> None:
    """Print ``msg`` as one line on stderr and exit with ``code``."""
    _echo_line(msg)
    sys.exit(code)


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate where residents of a Chinese county seek care, under policy.",
)


def _fail(msg: str, code: int = 2) -> None:
    _line(msg, code)


Force = Annotated[
    bool, typer.Option("--force", help="Replace (or add to) an output place that holds files health-sim did not write.")
]
WriteCalibrated = Annotated[
    Path | None,
    typer.Option(
        help=(
            "Calibrated file to write [default: the spec's out, else params/calibrated/<name>.yaml]; an existing "
            "file health-sim did not write is refused unless --force."
        )
    ),
]
Dashboard = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help=(
            "With --executor dask and no --scheduler: serve the Dask dashboard at this address, e.g. 127.0.0.1:8787 "
            "[default: none]."
        ),
    ),
]


@app.command()
def run(
    params_file: Annotated[
        Path, typer.Argument(metavar="PARAMS.yaml", help="Parameter file (may `extends:` another).")
    ],
    scale: Annotated[
        float | None, typer.Option(help="Share of residents simulated (0-1]; overrides run.scale.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; overrides run.seed.")] = None,
    days: Annotated[int | None, typer.Option(help="Days to simulate; overrides run.days.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help=(
                "Output folder [default: outputs/<params file name>]; one holding other files is refused unless "
                "--force."
            )
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Override a parameter by its dotted key; repeatable."),
    ] = None,
    county: Annotated[
        Path | None,
        typer.Option(metavar="FOLDER", help="A county set (params/counties/*) replacing the file's county."),
    ] = None,
    force: Force = False,
) -> None:
    """Run one parameter file and write its outputs into the output directory.

    The outputs: kpis.json, daily.parquet, township.parquet, annual.parquet, capability.parquet,
    params.resolved.yaml and manifest.json.
    """
    from health_sim.config.params import load_params
    from health_sim.core.paths import outputs_root
    from health_sim.experiments.outdir import discard, stage
    from health_sim.experiments.runner import run as run_model

    params = load_params(
        params_file,
        set_ or [],
        flags={"run.scale": ("--scale", scale), "run.seed": ("--seed", seed), "run.days": ("--days", days)},
        county=county,
    )
    out = out or outputs_root() / params_file.stem
    staged = stage(out, "run", force=force)  # checked and writable before the simulation, not after it
    _flush_warnings()
    try:
        result = run_model(params, progress=None)
        result.manifest["params_file"] = str(params_file)
        result.manifest["overrides"] = list(set_ or [])
        result.write(out, staged=staged)
    except KeyboardInterrupt:
        discard(staged)
        _fail("interrupted: nothing was written", 130)
    except BaseException:
        discard(staged)
        raise
    undefined = result.undefined()
    if undefined:
        first = next(iter(undefined.items()))
        more = f"; also {', '.join(list(undefined)[1:])}" if len(undefined) > 1 else ""
        _warn(
            f"{len(undefined)} KPI{'s' if len(undefined) > 1 else ''} without a value in this run (null in kpis.json, "
            f"reasons in manifest.json): {first[0]}: {first[1]}{more}"
        )
    k = result.kpis
    head = ", ".join(
        f"{n} {k[n]:.3f}" if isinstance(k.get(n), float) else f"{n} undefined"
        for n in ("grassroots_share", "visits_per_resident", "satisfaction")
    )
    typer.echo(f"outputs in {out}: {head} ({result.wall_seconds:.1f} s)")  # terminal or log alike


@app.command()
def scenarios(
    scale: Annotated[float, typer.Option(help="Share of residents simulated in every scenario.")] = 0.05,
    reps: Annotated[int, typer.Option(help="Replicates per scenario (common random numbers).")] = 10,
    jobs: Annotated[int, typer.Option(help="Scenarios run at a time.")] = 2,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only this scenario (file name without .yaml); repeatable.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Base seed of the replicates.")] = 20230101,
    days: Annotated[int, typer.Option(help="Days to simulate; 0 keeps each scenario's own length.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Output root: scenarios/<name>/ and scorecard.* go there [default: outputs].")
    ] = None,
    ensemble: Annotated[
        Path | None,
        typer.Option(
            metavar="CALIBRATED.yaml",
            help=(
                "Draw the calibrated parameters of each replicate from this ensemble, so intervals carry parameter "
                "uncertainty [default: params/calibrated/yangshan_2023.yaml when it exists and its fit converged]."
            ),
        ),
    ] = None,
    no_ensemble: Annotated[
        bool,
        typer.Option(
            "--no-ensemble", help="Run every replicate with the scenarios' own parameter values (chance alone)."
        ),
    ] = False,
    force: Force = False,
) -> None:
    """Run every params/scenarios/*.yaml through the notebook template, then score them.

    Each scenario runs through notebooks/scenario.ipynb (papermill), J at a time, into
    OUT/scenarios/<name>/; then OUT/scorecard.csv, .md and .html are written.
    """
    from health_sim.core.paths import outputs_root
    from health_sim.experiments.ensemble import default_ensemble_to_use, load_ensemble
    from health_sim.experiments.suite import run_suite

    for flag, value, lo, hi in (("--scale", scale, 0.0, 1.0), ("--reps", reps, 1, 1000), ("--jobs", jobs, 1, 64)):
        if not (lo < value <= hi if flag == "--scale" else lo <= value <= hi):
            _fail(f"{flag}: {value} is outside {'(0, 1]' if flag == '--scale' else f'[{lo}, {hi}]'}")
    if not 0 <= days <= 3650:
        _fail(f"--days: {days} is outside [0, 3650]")
    if not 0 <= seed < 2**63:
        _fail(f"--seed: {seed} is outside [0, 2**63)")
    if ensemble is not None and no_ensemble:
        _fail("--ensemble and --no-ensemble: choose one")
    _check_file_flag("--ensemble", ensemble)
    chosen, why = (None, "") if no_ensemble else (ensemble, "") if ensemble else default_ensemble_to_use()
    if why:
        _warn(why)
    if chosen is not None:
        for w in load_ensemble(chosen).warnings():
            _warn(w)
    out = out if out is not None else outputs_root()
    from health_sim import report
    from health_sim.experiments.outdir import check_file_place

    try:
        if (out / "report.html").exists():  # refused before any run, not after
            check_file_place(out / "report.html", lambda text: text.startswith(report.HEAD), force=force)
        card, outcomes = run_suite(
            scale=scale,
            reps=reps,
            jobs=jobs,
            only=only,
            seed=seed,
            days=days,
            out_root=out,
            progress=None,
            ensemble=chosen,
            force=force,
        )
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    failed = [o for o in outcomes if not o.ok]
    ok = card[card["status"] == "ok"]
    met = int(ok["met"].fillna(False).astype(bool).sum()) if len(ok) else 0
    drawn = f"; parameters drawn from {chosen}" if chosen else "; parameters: the scenarios' own"
    typer.echo(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} scenarios ran; {met} of {len(ok)} scenario-targets "
        f"met{drawn}; scorecard: {out / 'scorecard.md'}",
        err=bool(failed),
    )
    for o in failed:
        typer.echo(f"failed: {o.name}: {o.error}", err=True)
    _write_report(out, card, force)
    if failed:
        raise typer.Exit(1)


def _write_report(out: Path, card, force: bool) -> None:
    """Write OUT/report.html from the suite's outputs, or say in one line why not."""
    from health_sim import report

    t0 = time.perf_counter()
    try:
        path = report.write(out, card=card, force=force)
    except (ValueError, FileNotFoundError) as e:
        _warn(f"no report: {str(e).splitlines()[0]}")
        return
    typer.echo(f"report: {path} ({time.perf_counter() - t0:.0f} s); open it in a browser")


@app.command("report")
def report_cmd(
    out: Annotated[
        Path | None, typer.Option(help="Output root the scenario suite wrote to [default: outputs].")
    ] = None,
    force: Force = False,
) -> None:
    """Rebuild OUT/report.html from the scenario suite's outputs (nothing is run).

    The report: which scenarios reach which targets and with what probability, each scenario's
    effect against the baseline (paired differences), trajectories, costs, maps of the county,
    methods and provenance. `health-sim scenarios` writes it at its end.
    """
    from health_sim.core.paths import outputs_root

    out = out if out is not None else outputs_root()
    if not (out / "scorecard.csv").is_file():
        _fail(f"--out {out}: no scorecard.csv: run `health-sim scenarios` first")
    import pandas as pd

    _write_report(out, pd.read_csv(out / "scorecard.csv"), force)


def _check_counts(workers: int | None, trials: int | None = None) -> None:
    """Refuse --workers and --trials out of range.

    --executor, --scheduler and --dashboard are checked by the pool itself
    (:class:`health_sim.experiments.workers.Pool`).
    """
    if workers is not None and not 1 <= workers <= 512:
        _fail(f"--workers: {workers} is outside [1, 512]")
    if trials is not None and not 1 <= trials <= 1_000_000:
        _fail(f"--trials: {trials} is outside [1, 1000000]")


def _check_file_flag(flag: str, path: Path | None) -> None:
    """A flag naming a file must name an existing one."""
    if path is not None and not path.is_file():
        _fail(f"{flag} {path}: no such file" if not path.exists() else f"{flag} {path}: not a file")


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Sweep file (params/sweeps/*.yaml).")],
    workers: Annotated[
        int | None, typer.Option(help="Runs at a time (local pool or Dask LocalCluster) [default: the cores].")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: outputs/sweeps/<name>].")] = None,
    executor: Annotated[str, typer.Option(help="local (a process pool) or dask (dask.distributed).")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help=(
                "With --executor dask: an existing scheduler, e.g. tcp://host:8786 or tls://host:8786 [default: start "
                "a LocalCluster on 127.0.0.1]."
            )
        ),
    ] = None,
    via: Annotated[
        str,
        typer.Option(
            help=(
                "api (the model in-process) or notebook (notebooks/scenario.ipynb through papermill, executed "
                "notebooks kept)."
            )
        ),
    ] = "api",
    ensemble: Annotated[
        Path | None,
        typer.Option(
            metavar="CALIBRATED.yaml",
            help=(
                "Draw each replicate's calibrated parameters from this ensemble (parameter uncertainty); overrides "
                "the file's `ensemble`."
            ),
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Start a sweep of more than 5,000 runs without asking.")] = False,
    force: Force = False,
    dashboard: Dashboard = None,
) -> None:
    """Run a replicated sweep, one row per run in OUT/runs/ and OUT/results.parquet.

    Rerunning resumes: finished runs are skipped, failed ones retried.
    """
    from health_sim.experiments.sweep import CONFIRM_RUNS, run_sweep

    _check_counts(workers)
    _check_file_flag("--ensemble", ensemble)

    def confirm(runs: int, hours: float) -> None:
        if runs > CONFIRM_RUNS and not yes:
            size = f"{spec}: {runs:,} runs, about {hours:,.1f} hours on {workers or os.cpu_count() or 1} workers"
            if not sys.stdin.isatty():
                _fail(f"{size}; add --yes to start it")
            typer.confirm(f"{size}. Start?", abort=True, err=True)

    changes = {"ensemble": str(ensemble.resolve())} if ensemble else None
    table, folder = run_sweep(
        spec,
        out=out,
        workers=workers,
        progress=None,
        executor=executor,
        scheduler=scheduler,
        via=via,
        changes=changes,
        force=force,
        dashboard=dashboard,
        confirm=confirm,
    )
    failed = int((table["status"] != "ok").sum()) if len(table) else 0
    typer.echo(f"{len(table)} runs, {failed} failed; results: {folder / 'results.parquet'}", err=bool(failed))
    if failed:
        raise typer.Exit(1)


@app.command()
def optimize(
    spec: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Optimisation file (params/optimize/*.yaml).")],
    trials: Annotated[
        int | None,
        typer.Option(help="Candidates in all, counting those of an interrupted run [default: the file's]."),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Runs at a time [default: the cores].")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: outputs/optimize/<name>].")] = None,
    executor: Annotated[str, typer.Option(help="local (a process pool) or dask (dask.distributed).")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(help="With --executor dask: an existing scheduler [default: start a LocalCluster on 127.0.0.1]."),
    ] = None,
    force: Force = False,
    dashboard: Dashboard = None,
) -> None:
    """Find the cheapest lever mix meeting the targets in enough replicates (Optuna).

    Also the Pareto front of doctor-days against extra fund spending. Rerunning resumes.
    """
    from health_sim.experiments.optimize import cheapest
    from health_sim.experiments.optimize import optimize as run_optimize

    _check_counts(workers, trials)
    try:
        table, folder = run_optimize(
            spec,
            out=out,
            workers=workers,
            trials=trials,
            progress=None,
            executor=executor,
            scheduler=scheduler,
            force=force,
            dashboard=dashboard,
        )
    except RuntimeError as e:
        _fail(str(e).splitlines()[0], code=1)
    best = cheapest(table)
    feasible = int(table["feasible"].sum()) if len(table) else 0
    typer.echo(
        f"{len(table)} candidates, {feasible} feasible, {int(table['pareto'].sum()) if len(table) else 0} on the "
        f"Pareto front; results: {folder}"
    )
    if best is None:
        typer.echo("no candidate met every target often enough: widen the lever ranges or add trials", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"cheapest: {best['cost_yuan']:,.0f} yuan a year ({best['doctor_days']:,.0f} doctor-days, "
        f"{best['extra_fund_yuan']:+,.0f} yuan fund); scenario: {folder / 'cheapest.yaml'}"
    )


county_app = typer.Typer(
    cls=_OneLineErrors, no_args_is_help=True, help="County sets: a county from a folder of YAML and CSV files."
)
app.add_typer(county_app, name="county")


@county_app.command("check")
def county_check(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="FOLDER", help="A county set (county.yaml, townships.csv [, villages.csv, facilities.csv])."
        ),
    ],
) -> None:
    """Validate a county set and summarise it; a problem is one line naming the file, row and column."""
    import numpy as np

    from health_sim.config.params import load_params
    from health_sim.core.errors import ParamsError
    from health_sim.world.county import build_county

    try:
        p = load_params(county=folder)
    except ParamsError as e:
        _fail(str(e))
    c = build_county(p, p.run.seed)
    listed = "listed" if p.county.villages else "laid out at random"
    minutes = np.median(c.travel_minutes, axis=0)
    typer.echo(
        f"{folder}: {p.county.name}, {p.county.population:,} residents, {c.n_townships} townships, {c.n_villages} "
        f"villages ({listed}); county seat {p.county.county_seat}; median minutes to the township centre "
        f"{minutes[1]:.0f}, to the county {minutes[2]:.0f}"
    )


@county_app.command("new")
def county_new(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="Folder to write (must not hold a county set yet).")],
    from_: Annotated[
        Path | None,
        typer.Option("--from", metavar="FOLDER", help="County set to copy [default: the baseline county, Yangshan]."),
    ] = None,
) -> None:
    """Start a county set from an existing one, to edit into your own county."""
    from health_sim.config.county_files import FILES, write_county_set
    from health_sim.config.params import load_params
    from health_sim.core.errors import ParamsError

    held = [f for f in FILES if (folder / f).exists()]
    if held:
        _fail(f"{folder}: already holds {held[0]} (a county set's file); choose another folder")
    try:
        p = load_params(county=from_)
    except ParamsError as e:
        _fail(str(e))
    try:
        written = write_county_set(p.county, p.facilities, folder)
    except (ParamsError, OSError) as e:
        _fail(str(e).splitlines()[0])
    for f in written:
        typer.echo(f"wrote {f}")


@app.command()
def calibrate(
    spec: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="Calibration file (params/calibrate/*.yaml).")],
    trials: Annotated[
        int | None, typer.Option(help="Trials in all, counting those of an interrupted run [default: the file's].")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Runs at a time [default: the cores].")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Working folder (study, candidate re-runs) [default: outputs/calibrate/<name>]."),
    ] = None,
    write: WriteCalibrated = None,
    executor: Annotated[str, typer.Option(help="local (a process pool) or dask (dask.distributed).")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(help="With --executor dask: an existing scheduler [default: start a LocalCluster on 127.0.0.1]."),
    ] = None,
    pool: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FOLDER",
            help=(
                "Working folder of an earlier search (other priors) whose candidates join the ensemble choice; "
                "repeatable."
            ),
        ),
    ] = None,
    force: Force = False,
    dashboard: Dashboard = None,
) -> None:
    """Fit parameters to observed figures (Optuna) and write the calibrated file.

    The parameter sets that fit about equally well are kept as an ensemble. Rerunning resumes.
    """
    from health_sim.experiments.calibrate import calibrate as run_calibration

    _check_counts(workers, trials)
    ens, path = run_calibration(
        spec,
        out=out,
        workers=workers,
        trials=trials,
        progress=None,
        executor=executor,
        scheduler=scheduler,
        write=write,
        pool=pool or [],
        force=force,
        dashboard=dashboard,
    )
    members = ens[ens["member"]]
    within = int(ens["within"].sum())
    note = (
        "" if within else " (none within tolerance: the ensemble is the best few; widen the priors or the tolerances)"
    )
    typer.echo(
        f"best distance {ens['distance'].min():.3f}; {within} of {len(ens)} re-run candidates within tolerance, "
        f"{len(members)} in the ensemble{note}; wrote {path}"
    )


@app.command()
def fit(
    spec: Annotated[
        Path,
        typer.Argument(
            metavar="SPEC.yaml",
            help="Fit file (params/calibrate/*_evidence.yaml): Gaussian-process emulators and MCMC.",
        ),
    ],
    waves: Annotated[
        int | None,
        typer.Option(help="Further waves of each run (posterior draws simulated), to go on [default: the file's]."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Working folder (the runs' plans and simulations) [default: outputs/calibrate/<name>]."),
    ] = None,
    write: WriteCalibrated = None,
    force: Force = False,
) -> None:
    """Fit the behavioural parameters to the evidence file's calibration items and write the posterior.

    Each run simulates a design over the prior and waves of posterior draws, fits an emulator of
    every item and samples the posterior by MCMC, printing its progress (simulations done and
    left, then each chain); rerunning goes on from the simulations written.
    """
    from health_sim.experiments.posterior import fit as run_fit
    from health_sim.experiments.workers import Interrupted

    if waves is not None and not 0 <= waves <= 20:
        _fail(f"--waves: {waves} is outside [0, 20]")
    changes = {"waves": waves} if waves is not None else None
    try:
        path = run_fit(spec, out=out, write=write, changes=changes, force=force)
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: every finished simulation is kept in the runs' working files",
            out,
        ) from None
    typer.echo(f"wrote {path}")


@app.command("docs")
def docs_cmd(
    check: Annotated[
        bool, typer.Option(help="Only say whether the file is up to date (exit 1 if not); write nothing.")
    ] = False,
    file: Annotated[Path, typer.Option(help="The Markdown file whose generated blocks to rewrite.")] = Path(
        "docs/model.md"
    ),
) -> None:
    """Rewrite the tables of docs/model.md generated from the schema and the KPI registry (levers, KPIs)."""
    from health_sim.config.files import read_text
    from health_sim.core.errors import ParamsError
    from health_sim.core.paths import atomic_write_text, resolve
    from health_sim.reference import blocks_in, render

    path = resolve(file)
    old = read_text(path, "Markdown file")
    if not blocks_in(old):
        raise ParamsError(f"--file {file}: holds no generated block (<!-- generated: NAME -->)")
    new = render(old)
    if check:
        if new != old:
            typer.echo(f"{file}: out of date (run health-sim docs)", err=True)
            raise typer.Exit(1)
        typer.echo(f"{file}: up to date")
        return
    if new != old:
        atomic_write_text(path, new)
    typer.echo(f"{file}: {'rewrote' if new != old else 'already up to date:'} {', '.join(blocks_in(new))}")


@app.command("params")
def params_cmd(
    out: Annotated[
        Path | None,
        typer.Option(
            help=(
                "Write here instead of standard output; an existing file health-sim did not write is refused unless "
                "--force."
            )
        ),
    ] = None,
    force: Force = False,
) -> None:
    """Print every parameter with its default, unit and source (the content of params/baseline.yaml)."""
    from health_sim.config.params import render_commented
    from health_sim.core.paths import atomic_write_text
    from health_sim.experiments.outdir import OutputFailed, check_file_place

    text = render_commented(header=BASELINE_HEADER)
    if out is None:
        typer.echo(text, nl=False)
        return
    check_file_place(out, lambda head: "health-sim params" in head, force=force)
    try:
        atomic_write_text(out, text)
    except OSError as e:
        raise OutputFailed(
            f"--out {out}: writing failed ({e.strerror or e}); the previous file, if any, is intact"
        ) from None


@app.command()
def kpis() -> None:
    """List the KPIs: name, unit and definition."""
    from health_sim.sim.kpis import describe

    for k in describe():
        typer.echo(f"{k['name']:<28} {k['unit']:<26} {k['definition']}")


BASELINE_HEADER = """\
# Yangshan county (阳山县), Qingyuan, Guangdong: the 2023 baseline.
#
# Every parameter of the model with its default, unit and source. This file is written
# by `health-sim params --out params/baseline.yaml` from the schema
# (src/health_sim/schema.py), which is the single source of names, units, ranges and
# defaults; a test keeps the two in step. Scenario files start with
# `extends: ../baseline.yaml` and override only what they change.

"""


def main() -> None:  # pragma: no cover
    """Run the ``health-sim`` command."""
    app()
