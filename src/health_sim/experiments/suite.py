"""The scenario suite: every params/scenarios/*.yaml through the papermill template, then a scorecard.

The scenarios run J at a time; the scorecard is against params/targets.yaml.

Each scenario's folder ``outputs/scenarios/<name>/`` holds the executed notebook, its
tables and figures, and an HTML export. It is written beside its final place and swapped
in at the end, so a rerun never leaves a half-written folder. A scenario that fails does
not stop the others: its error and executed notebook are kept and the scorecard marks it.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from health_sim.config.params import load_params
from health_sim.core.paths import atomic_write, repo_root
from health_sim.experiments.notebooks import PAPERMILL_OPTIONS
from health_sim.experiments.outdir import OutputRefused, check_file_place, check_place, commit, discard, stage
from health_sim.experiments.targets import load_targets, score

TEMPLATE = Path("notebooks") / "scenario.ipynb"


@dataclass
class Outcome:
    """How one scenario of the suite went: name, success, wall seconds and the first line of any error."""

    name: str
    ok: bool
    seconds: float
    error: str = ""


def scenario_files(root: Path, only: list[str] | None = None) -> list[Path]:
    """The scenario files, all or the named ones (names without .yaml); unknown names are an error."""
    files = sorted((root / "params" / "scenarios").glob("*.yaml"))
    if not only:
        return files
    by_name = {f.stem: f for f in files}
    unknown = [n for n in only if n.removesuffix(".yaml") not in by_name]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(by_name), n=1)
        raise ValueError(
            f"--only {unknown[0]}: no such scenario in params/scenarios"
            + (f" (did you mean '{close[0]}'?)" if close else "")
        )
    return [by_name[n.removesuffix(".yaml")] for n in only]


def _html(notebook: Path, out: Path) -> None:
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    # papermill's injected cell holds the staging folder's temporary absolute path: the page shows the run's
    # parameters in the notebook's own first lines instead.
    exporter = HTMLExporter()
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={"injected-parameters"}), enabled=True)
    body, _ = exporter.from_notebook_node(nbformat.read(notebook, as_version=4))
    out.write_text(body, encoding="utf-8")


def run_scenario(
    root: str, scenario: str, scale: float, reps: int, seed: int, days: int, staged: str, final: str, ensemble: str = ""
) -> Outcome:
    """Execute the template for one scenario into the staged folder ``staged``, then swap it in at ``final``.

    ``staged`` is made by :func:`health_sim.experiments.outdir.stage`.
    """
    import papermill as pm

    root_p, scen, tmp, final_p = Path(root), Path(scenario), Path(staged), Path(final)
    side = final_p.parent / f".{final_p.name}.tmp-{os.getpid()}"  # names recover() cleans up if this worker is killed
    executed, log_path = Path(f"{side}-executed.ipynb"), Path(f"{side}-kernel.log")
    t0 = time.perf_counter()
    error = ""
    with open(log_path, "wb") as log:  # the kernel's own chatter goes here, not to the terminal
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            pm.execute_notebook(
                str(root_p / TEMPLATE),
                str(executed),
                cwd=str(root_p),
                **PAPERMILL_OPTIONS,
                parameters={
                    "scenario": str(scen),
                    "scale": scale,
                    "seed": seed,
                    "replicates": reps,
                    "days": days,
                    "out_dir": str(tmp),
                    "ensemble": ensemble,
                },
            )
        except Exception as e:
            error = f"{type(e).__name__}: {e}".strip()
            if not error or len(error) > 4000:
                error = error[:4000] or traceback.format_exc()[-4000:]
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    try:
        tmp.mkdir(exist_ok=True)
        shutil.move(str(log_path), tmp / "kernel.log")
        if executed.exists():
            shutil.move(str(executed), tmp / "scenario.ipynb")
            _html(tmp / "scenario.ipynb", tmp / "scenario.html")
        if error:
            (tmp / "error.txt").write_text(error + "\n", encoding="utf-8")
        commit(tmp, final_p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        executed.unlink(missing_ok=True)
        log_path.unlink(missing_ok=True)
    return Outcome(scen.stem, not error, time.perf_counter() - t0, error.splitlines()[0] if error else "")


def scorecard(out_root: Path, files: list[Path], outcomes: dict[str, Outcome], targets_file: Path) -> pd.DataFrame:
    """One row per scenario (its file in ``files``) and target.

    Mean, 90% interval, met, share of replicates meeting it, and the verdict (a target the scenario's run or levers
    cannot reach by design says so and why).
    """
    targets = load_targets(targets_file)
    rows = []
    for file in files:
        name = file.stem
        o = outcomes.get(name)
        annual = out_root / "scenarios" / name / "annual.parquet"
        if o is not None and o.ok and annual.exists():
            s = score(pd.read_parquet(annual), targets, params=load_params(file))
            s.insert(0, "scenario", name)
            s.insert(1, "status", "ok")
            rows.append(s)
        else:
            err = o.error if o else "not run"
            rows.append(
                pd.DataFrame(
                    [
                        {
                            "scenario": name,
                            "status": f"failed: {err}",
                            "target": t.name,
                            "kpi": t.kpi,
                            "op": t.op,
                            "threshold": t.threshold,
                            "year": t.year,
                        }
                        for t in targets
                    ]
                )
            )
    return pd.concat(rows, ignore_index=True)


def _markdown(df: pd.DataFrame) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:.4g}"
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return ""
        return str(v).replace("|", "/")

    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


SCORECARD_HEADS = {
    "scorecard.csv": "scenario,status,",
    "scorecard.md": "# Scenario scorecard",
    "scorecard.html": "<h1>Scenario scorecard</h1>",
}
"""How each scorecard file starts: one that starts otherwise was not written by the suite."""


def write_scorecard(card: pd.DataFrame, out_root: Path) -> list[Path]:
    """outputs/scorecard.csv, .md and .html, each written atomically."""
    shown = card.drop(columns=["source"], errors="ignore")
    outs = {
        "scorecard.csv": lambda p: card.to_csv(p, index=False),
        "scorecard.md": lambda p: p.write_text(
            SCORECARD_HEADS["scorecard.md"]
            + (
                "\n\n`mean`, `lo`, `hi`: the KPI in the target's year, mean and central 90% of the replicates (each "
                "replicate its own seed, and its own posterior draw when an ensemble is used); `met`: the mean meets "
                "the target; `share_met`: share of replicates that meet it (the probability in outputs/report.html); "
                "`verdict`: met, not met, not reachable by design (the run or the scenario's lever cannot cover the "
                "target's year or window: `reason` says which), or no value.\n\n"
            )
            + _markdown(shown),
            encoding="utf-8",
        ),
        "scorecard.html": lambda p: p.write_text(
            SCORECARD_HEADS["scorecard.html"]
            + "\n"
            + shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"),
            encoding="utf-8",
        ),
    }
    paths = []
    for name, writer in outs.items():
        paths.append(atomic_write(out_root / name, writer))
    return paths


def run_suite(
    scale: float = 0.05,
    reps: int = 10,
    jobs: int = 2,
    only: list[str] | None = None,
    seed: int = 20230101,
    days: int = 0,
    out_root: str | Path | None = None,
    progress: bool | None = None,
    ensemble: str | Path | None = None,
    force: bool = False,
) -> tuple[pd.DataFrame, list[Outcome]]:
    """Run the scenario suite; return the scorecard and what happened to each scenario.

    ``out_root`` [default: :func:`health_sim.core.paths.outputs_root`] takes ``scenarios/<name>/``
    and ``scorecard.*``. Every place is checked before any scenario runs: a scenario folder
    holding anything but an earlier scenario output, or a scorecard file the suite did not
    write, is refused (:class:`health_sim.experiments.outdir.OutputRefused`) unless ``force``.

    ``ensemble``: a calibrated file whose members the replicates draw their calibrated
    parameters from (the same member in replicate r of every scenario), so the
    scorecard's intervals carry parameter uncertainty too; None: the scenarios' own values.
    """
    from tqdm.auto import tqdm

    from health_sim.core.paths import outputs_root
    from health_sim.experiments.workers import process_pool

    root = repo_root()
    out = Path(out_root if out_root is not None else outputs_root()).resolve()
    files = scenario_files(root, only)
    load_targets(root / "params" / "targets.yaml")  # a bad targets file fails before any run
    if ensemble is not None:  # a bad calibrated file fails before any run
        from health_sim.config.params import load_params
        from health_sim.core.paths import resolve
        from health_sim.experiments.ensemble import check_ensemble

        ensemble = resolve(ensemble).resolve()
        check_ensemble("--ensemble", ensemble, load_params(root / "params" / "scenarios" / "baseline_2023.yaml"))
    finals = {f.stem: out / "scenarios" / f.stem for f in files}
    for final in finals.values():  # every place is checked before anything is written
        check_place(final, "scenario", force=force)
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"--out {out}: exists and is not a folder")
    for name, head in SCORECARD_HEADS.items():
        if (out / name).exists():
            check_file_place(out / name, lambda text, head=head: text.startswith(head), force=force)
    staged: dict[str, Path] = {}
    outcomes: dict[str, Outcome] = {}
    disable = None if progress is None else not progress
    from health_sim.experiments.workers import Interrupted

    try:
        for name, final in finals.items():
            staged[name] = stage(final, "scenario", force=force)
        with (
            process_pool(max(1, jobs)) as pool,
            tqdm(total=len(files), disable=disable, unit="scenario", desc="scenarios") as bar,
        ):
            futures = {
                pool.submit(
                    run_scenario,
                    str(root),
                    str(f),
                    scale,
                    reps,
                    seed,
                    days,
                    str(staged[f.stem]),
                    str(finals[f.stem]),
                    str(ensemble or ""),
                ): f.stem
                for f in files
            }
            for fut in cf.as_completed(futures):
                name = futures[fut]
                try:
                    outcomes[name] = fut.result()
                except Exception as e:
                    outcomes[name] = Outcome(name, False, 0.0, f"{type(e).__name__}: {e}")
                bar.update()
                bar.set_postfix(failed=sum(not o.ok for o in outcomes.values()))
    except KeyboardInterrupt:
        done = sorted(n for n, o in outcomes.items())
        raise Interrupted(
            f"interrupted: {len(done)} of {len(files)} scenarios finished and were written to {out / 'scenarios'}; "
            "the others' folders are as they were and the scorecard was not written",
            out,
            again="to run them all again",
        ) from None
    finally:
        for tmp in staged.values():
            discard(tmp)
    card = scorecard(out, files, outcomes, root / "params" / "targets.yaml")
    write_scorecard(card, out)
    return card, [outcomes[f.stem] for f in files]
