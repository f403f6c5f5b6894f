"""Optimisation.

One-line errors in optimisation files, a small real optimisation (the low-end first trial, feasibility, the Pareto
front, the cheapest mix and its scenario file, the CLI), resuming with more trials, refusing another optimisation's
folder, and reproducibility.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from health_sim.config.params import load_params
from health_sim.core.errors import ParamsError
from health_sim.experiments.optimize import COSTS, cheapest, load_optimize, optimize, summarise_candidate
from health_sim.experiments.scenario_runs import replicate_seeds
from health_sim.experiments.sweep import run_point

from .conftest import health_sim_exe

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "params" / "baseline.yaml"

GAP = "policies.reimbursement.outpatient_grassroots_increase"
DOCTORS = "policies.stationed.doctors_per_year_county"
LEVERS = f"""  {GAP}: {{low: 0.0, high: 0.3}}
  {DOCTORS}: {{low: 0, high: 20, integer: true}}"""
RUN = {
    "run.scale": 0.01,
    "run.days": 30,
    "run.burn_in_days": 30,
    "policies.reimbursement.enabled": True,
    "policies.stationed.enabled": True,
}

# The threshold, measured on the baseline at run.scale 0.01, run.days 30, burn-in 30, seed 7
# (the two replicate seeds replicate_seeds(7, 2)), grassroots share of the run (all in 2023),
# remeasured when issue 15 changed the behavioural core:
#   gap 0.00, 0 doctors:  0.6522 and 0.6557   -> meets 0.6765 in 0 of 2 replicates
#   gap 0.15, 0 doctors:  0.6722 and 0.6625   -> 0 of 2
#   gap 0.30, 0 doctors:  0.6787 and 0.6709   -> 1 of 2
#   gap 0.15, 20 doctors: 0.6767 and 0.6703   -> 1 of 2
#   gap 0.30, 20 doctors: 0.6848 and 0.6786   -> 2 of 2
# (only at the high ends does the second replicate reach it). With probability 0.5 the low ends fail and the
# high ends pass; stationed doctors cost doctor-days but lower fund spending, the gap costs
# fund spending, so the Pareto front of (doctor-days, extra fund) has several points.
THRESHOLD = 0.6765
TARGET = f"[{{name: gs, kpi: grassroots_share, threshold: {THRESHOLD}, source: test}}]"


def spec(
    tmp_path: Path,
    levers: str = LEVERS,
    targets: str = TARGET,
    probability: float = 0.5,
    reps: int = 2,
    trials: int = 8,
    name: str = "o",
    extra: str = "",
) -> Path:
    f = tmp_path / f"{name}.yaml"
    run = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in RUN.items())
    f.write_text(f"""{extra}name: {name}
base: {BASE}
levers:
{levers}
targets: {targets}
probability: {probability}
replicates: {reps}
trials: {trials}
cost: {{yuan_per_doctor_day: 600}}
run: {{{run}}}
seed: 7
""")
    return f


def nondominated(rows: pd.DataFrame) -> set[int]:
    """Trials of ``rows`` that no other row beats on both doctor_days and extra_fund_yuan."""
    out = set()
    for _, r in rows.iterrows():
        beaten = (
            (rows["doctor_days"] <= r["doctor_days"])
            & (rows["extra_fund_yuan"] <= r["extra_fund_yuan"])
            & ((rows["doctor_days"] < r["doctor_days"]) | (rows["extra_fund_yuan"] < r["extra_fund_yuan"]))
        )
        if not beaten.any():
            out.add(int(r["trial"]))
    return out


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "levers, targets, probability, fragment",
    [
        (
            f"  {GAP.replace('increase', 'increse')}: {{low: 0.0, high: 0.3}}",
            TARGET,
            0.5,
            (
                f"levers.{GAP.replace('increase', 'increse')}: "
                "unknown key (did you mean 'outpatient_grassroots_increase'?)"
            ),
        ),
        (f"  {GAP}: {{low: 0.0, high: 1.4}}", TARGET, 0.5, f"levers.{GAP}: 1.4 is above 1"),
        (f"  {DOCTORS}: {{low: 0, high: 5000, integer: true}}", TARGET, 0.5, f"levers.{DOCTORS}: 5000 a year"),
        (LEVERS, "[grassroots_share_66]", 0.5, "targets: unknown target 'grassroots_share_66'"),
        (LEVERS, TARGET, 1.5, "probability: 1.5 is above 1"),
        (f"  {GAP}: {{}}", TARGET, 0.5, f"levers.{GAP}: give either values or low and high"),
        (f"  {GAP}: {{low: 0.1}}", TARGET, 0.5, f"levers.{GAP}: give either values or low and high"),
        (f"  {GAP}: {{values: [0.1, 0.2]}}", TARGET, 0.5, f"{GAP}: give low and high"),
        (f"  {GAP}: {{low: 0.3, high: 0.1}}", TARGET, 0.5, "low 0.3 must be below high 0.1"),
        ("  {}", TARGET, 0.5, "levers: at least one lever"),
        (LEVERS, "[]", 0.5, "targets: at least one target"),
    ],
    ids=[
        "misspelt-key",
        "outside-schema",
        "context-check",
        "unknown-target",
        "probability-above-1",
        "no-range",
        "no-high",
        "values-not-range",
        "low-above-high",
        "no-levers",
        "no-targets",
    ],
)
def test_bad_optimisation_files_give_one_line(tmp_path, levers, targets, probability, fragment):
    f = spec(tmp_path, levers=levers, targets=targets, probability=probability)
    with pytest.raises(ParamsError) as e:
        load_optimize(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ") and fragment in msg and "\n" not in msg, msg


def test_unknown_target_suggests_the_nearest_name(tmp_path):
    f = spec(tmp_path, targets="[grassroots_share_66]")
    with pytest.raises(ParamsError) as e:
        load_optimize(f)
    assert "did you mean 'grassroots_share_65'" in str(e.value)


def test_the_repository_optimisation_file_is_valid():
    s, base, targets = load_optimize(ROOT / "params" / "optimize" / "cheapest_mix.yaml")
    assert (
        base.exists()
        and len(s.levers) == 5
        and [t.name for t in targets] == ["grassroots_share_75_by_2025", "chronic_followup_80"]
        and s.max_oop_increase == 0.10
    )
    small, _, _ = load_optimize(
        ROOT / "params" / "optimize" / "cheapest_mix.yaml", {"replicates": 2, "trials": 3, "run": {"run.scale": 0.01}}
    )
    assert (small.replicates, small.trials, small.run["run.scale"]) == (2, 3, 0.01)
    assert small.run["policies.stationed.enabled"] is True  # `run` is merged, not replaced


def test_bad_changes_name_the_key(tmp_path):
    """A bad value in ``changes`` is one line naming the field (not pydantic's help URL)."""
    f = spec(tmp_path)
    with pytest.raises(ParamsError) as e:
        load_optimize(f, {"probability": 1.5})
    msg = str(e.value)
    assert msg.startswith(f"{f}: changes:") and "\n" not in msg
    assert "probability" in msg and "errors.pydantic.dev" not in msg, msg


# --- the arithmetic of a candidate ---------------------------------------------------


def test_summarise_candidate_and_cheapest():
    from health_sim.experiments.optimize import OptimizeSpec
    from health_sim.experiments.targets import Target

    targets = [
        Target(name="a", kpi="grassroots_share", threshold=0.5, source="t"),
        Target(name="b", kpi="satisfaction", threshold=0.5, source="t"),
    ]
    rows = pd.DataFrame(
        {
            "met:a": [1.0, 1.0, 1.0, 0.0],
            "met:b": [1.0, 1.0, 0.0, 1.0],
            "final:doctor_days_sunk": [100.0, 200.0, 300.0, 400.0],
            "final:fund_spending": [1e6, 2e6, 3e6, 4e6],
            "final:oop_per_visit": [50.0, 50.0, 70.0, 70.0],
        }
    )
    s = OptimizeSpec(
        name="x",
        base="b",
        levers={GAP: {"low": 0, "high": 0.3}},
        targets=["a"],
        probability=0.75,
        cost={"yuan_per_doctor_day": 10.0},
    )
    out = summarise_candidate(rows, targets, reference_fund=2e6, spec=s)
    assert (out["p:a"], out["p:b"], out["p:all"]) == (0.75, 0.75, 0.5)
    assert out["doctor_days"] == 250.0 and out["extra_fund_yuan"] == 0.5e6 and out["oop_per_visit"] == 60.0
    assert out["cost_yuan"] == 250.0 * 10.0 + 0.5e6
    # each target is met in 3 of 4 replicates, but both together only in 2: not enough for 75%
    assert out["feasible"] is False
    assert summarise_candidate(rows, targets, 2e6, s.model_copy(update={"probability": 0.5}))["feasible"] is True

    table = pd.DataFrame(
        {"trial": [0, 1, 2, 3], "feasible": [False, True, True, False], "cost_yuan": [1.0, 50.0, 20.0, 5.0]}
    )
    assert int(cheapest(table)["trial"]) == 2  # the infeasible cheaper ones do not count
    assert cheapest(table.assign(feasible=False)) is None
    assert cheapest(table.iloc[:0]) is None


# --- a small real optimisation -------------------------------------------------------


@pytest.fixture(scope="module")
def optimised(tmp_path_factory):
    d = tmp_path_factory.mktemp("opt")
    f = spec(d)
    table, out = optimize(f, out=d / "out", workers=2, progress=False)
    return f, table, out


def test_small_optimisation(optimised):
    _, table, out = optimised
    table = table.sort_values("trial").reset_index(drop=True)
    assert list(table["trial"]) == list(range(8))
    # the first candidate is every lever at its low end; it misses the target (see THRESHOLD)
    first = table.iloc[0]
    assert first[GAP] == 0.0 and first[DOCTORS] == 0 and not first["feasible"]
    # the reference is the base with the same seeds, so the low ends add no fund spending
    assert first["doctor_days"] == 0.0 and abs(first["extra_fund_yuan"]) < 1e-6
    assert table[GAP].between(0.0, 0.3).all() and table[DOCTORS].between(0, 20).all()
    assert (table[DOCTORS] == table[DOCTORS].round()).all()
    # feasible means every target met (together) in at least `probability` of the replicates
    p_cols = [c for c in table.columns if c.startswith("p:") and c != "p:all"]
    assert p_cols == ["p:gs"]
    assert set(table["p:gs"]) <= {0.0, 0.5, 1.0}  # two replicates
    assert (table["p:all"] == table["p:gs"]).all()  # one target: together is alone
    assert (table["feasible"] == (table["p:all"] >= 0.5)).all()
    assert table["feasible"].any() and not table["feasible"].all()
    assert np.allclose(table["cost_yuan"], table["doctor_days"] * 600 + table["extra_fund_yuan"])
    # the Pareto front: exactly the feasible candidates no other feasible one beats on both costs
    front = set(table.loc[table["pareto"], "trial"])
    assert front and table.loc[table["pareto"], "feasible"].all()
    assert front == nondominated(table[table["feasible"]])
    # the cheapest: the feasible candidate of least cost in yuan
    best = cheapest(table)
    feasible = table[table["feasible"]]
    assert best["feasible"] and best["cost_yuan"] == feasible["cost_yuan"].min()
    assert (table.loc[~table["feasible"], "cost_yuan"] < best["cost_yuan"]).any(), (
        "an infeasible candidate should be cheaper (else the check above is weak)"
    )
    # the files
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "trials.parquet").sort_values("trial").reset_index(drop=True), table
    )
    pareto = pd.read_parquet(out / "pareto.parquet")
    assert set(pareto["trial"]) == front and pareto["doctor_days"].is_monotonic_increasing
    text = (out / "cheapest.yaml").read_text()
    assert f"trial {int(best['trial'])})" in text
    p = load_params(out / "cheapest.yaml")
    assert p.policies.reimbursement.outpatient_grassroots_increase == pytest.approx(best[GAP], abs=1e-4)
    assert p.policies.stationed.doctors_per_year_county == int(best[DOCTORS])
    assert p.policies.reimbursement.enabled and p.policies.stationed.enabled
    assert (p.run.scale, p.run.days, p.run.burn_in_days) == (0.01, 30, 30)


def test_cheapest_candidate_matches_its_runs_recomputed(optimised):
    """The table's probability and costs of the cheapest mix are those of its replicates run again here.

    The replicates run with the optimisation's seeds, against the reference spending it recorded.
    """
    _, table, out = optimised
    best = cheapest(table)
    levers = {GAP: float(best[GAP]), DOCTORS: int(best[DOCTORS])}
    rows = pd.DataFrame(
        [
            run_point(str(BASE), RUN, levers, s, ["grassroots_share", *(f"final:{k}" for k in COSTS)], [])
            for s in replicate_seeds(7, 2)
        ]
    )
    reference = json.loads((out / "reference.json").read_text())
    assert best["p:gs"] == (rows["grassroots_share"] >= THRESHOLD).mean()
    assert best["doctor_days"] == pytest.approx(rows["final:doctor_days_sunk"].mean())
    assert best["extra_fund_yuan"] == pytest.approx(rows["final:fund_spending"].mean() - reference["fund_spending"])


def test_cli(optimised, tmp_path):
    f, table, out = optimised
    bad = spec(tmp_path, levers=f"  {GAP}: {{low: 0.0, high: 1.4}}", name="bad")
    done = subprocess.run(
        [health_sim_exe(), "optimize", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}: levers.{GAP}: 1.4 is above 1"), done.stderr
    # a finished optimisation rerun with its number of trials runs nothing and reports the table
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    done = subprocess.run(
        [health_sim_exe(), "optimize", str(f), "--out", str(copy), "--workers", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    n_feasible, n_front = int(table["feasible"].sum()), int(table["pareto"].sum())
    assert f"8 candidates, {n_feasible} feasible, {n_front} on the Pareto front" in done.stdout
    assert f"cheapest: {cheapest(table)['cost_yuan']:,.0f} yuan a year" in done.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "trials.parquet"), pd.read_parquet(out / "trials.parquet"))


def test_resume_keeps_earlier_trials_and_refuses_another_optimisation(optimised, tmp_path):
    f, table, out = optimised
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    reference = (copy / "reference.json").read_text()
    more, _ = optimize(f, out=copy, workers=2, trials=10, progress=False)
    more = more.sort_values("trial").reset_index(drop=True)
    assert list(more["trial"]) == list(range(10))
    old = table.sort_values("trial").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        more.iloc[:8].drop(columns=["pareto"]), old.drop(columns=["pareto"])
    )  # new trials may beat old ones
    assert (copy / "reference.json").read_text() == reference
    assert set(more.loc[more["pareto"], "trial"]) == nondominated(more[more["feasible"]])
    # another optimisation (another probability) into the same folder is refused, folder untouched
    before = pd.read_parquet(copy / "trials.parquet")
    with pytest.raises(ParamsError) as e:
        optimize(f, out=copy, workers=1, trials=10, progress=False, changes={"probability": 0.9})
    msg = str(e.value)
    assert msg.startswith(f"--out {copy}: holds the runs of another") and "probability" in msg and "\n" not in msg, msg
    pd.testing.assert_frame_equal(pd.read_parquet(copy / "trials.parquet"), before)


def test_fresh_optimisations_are_reproducible(optimised, tmp_path):
    """Same file, same seed, another folder (and another number of workers): the same table."""
    f, table, _ = optimised
    again, _ = optimize(f, out=tmp_path / "again", workers=1, progress=False)
    pd.testing.assert_frame_equal(
        again.sort_values("trial").reset_index(drop=True), table.sort_values("trial").reset_index(drop=True)
    )


def test_pareto_front_and_feasible_flag_agree_with_two_targets(tmp_path):
    """With two targets, the feasible flag and the sampler's constraint must use one rule.

    At seed 7 (see THRESHOLD) the first replicate's grassroots share is above 0.6715 and the
    second's below for every gap in [0.15, 0.3] (0.6722 and up; 0.6709 and down); so each of the
    targets "above" and "below" is met in 1 of 2 replicates and both together in none. Whether
    feasibility means each target in half the replicates (every candidate feasible) or all
    targets together (none feasible), the Pareto front must be the feasible candidates no
    feasible one beats.
    """
    targets = """
  - {name: above, kpi: grassroots_share, op: ">=", threshold: 0.6715, source: test}
  - {name: below, kpi: grassroots_share, op: "<", threshold: 0.6715, source: test}"""
    f = spec(tmp_path, levers=f"  {GAP}: {{low: 0.15, high: 0.3}}", targets=targets, trials=2, name="two")
    table, out = optimize(f, out=tmp_path / "two", workers=2, progress=False)
    assert (table["p:above"] == 0.5).all() and (table["p:below"] == 0.5).all() and (table["p:all"] == 0.0).all()
    assert not table["feasible"].any(), "feasible means all targets met in the same replicates"
    assert set(table.loc[table["pareto"], "trial"]) == nondominated(table[table["feasible"]])
    best = cheapest(table)
    assert (best is None) == (not (out / "cheapest.yaml").exists())
    if best is not None:
        assert best["pareto"], "the cheapest feasible mix is on the Pareto front"


def test_a_target_the_runs_do_not_reach_is_a_one_line_error(tmp_path):
    """A target judged in a year after the runs end cannot be met or missed.

    Such a target (e.g. cheapest_mix.yaml with a shorter run.days in `changes`) gives a one-line error naming it, not a
    crash inside the sampler.
    """
    late = "[{name: share_by_2030, kpi: grassroots_share, threshold: 0.1, year: 2030, source: test}]"
    f = spec(tmp_path, levers=f"  {GAP}: {{low: 0.0, high: 0.3}}", targets=late, reps=1, trials=1, name="late")
    with pytest.raises((ParamsError, ValueError)) as e:
        optimize(f, out=tmp_path / "late", workers=1, progress=False)
    msg = str(e.value)
    assert "share_by_2030" in msg and "\n" not in msg, msg


def test_an_out_of_pocket_limit_makes_cost_shifting_infeasible():
    """A mix that meets every target but makes patients pay more than the limit is not feasible."""
    from health_sim.experiments.optimize import OptimizeSpec
    from health_sim.experiments.targets import Target

    targets = [Target(name="a", kpi="grassroots_share", threshold=0.5, source="t")]
    rows = pd.DataFrame(
        {
            "met:a": [1.0, 1.0],
            "final:doctor_days_sunk": [0.0, 0.0],
            "final:fund_spending": [1e6, 1e6],
            "final:oop_per_visit": [55.0, 55.0],
            "final:oop_per_admission": [6600.0, 6600.0],
            "final:grassroots_share": [0.7, 0.7],
        }
    )
    ref = {"oop_per_visit": 50.0, "oop_per_admission": 6000.0}
    s = OptimizeSpec(name="x", base="b", levers={GAP: {"low": 0, "high": 0.3}}, targets=["a"], probability=0.9)
    assert summarise_candidate(rows, targets, 2e6, s, ref)["feasible"]  # no limit
    out = summarise_candidate(rows, targets, 2e6, s.model_copy(update={"max_oop_increase": 0.05}), ref)
    assert out["oop_rise"] == pytest.approx(0.10) and not out["feasible"]
    assert summarise_candidate(rows, targets, 2e6, s.model_copy(update={"max_oop_increase": 0.12}), ref)["feasible"]


def test_with_an_ensemble_each_replicate_draws_its_posterior_member(tmp_path):
    """Replicate r of the base reference and of every candidate runs with posterior member r (run overrides win).

    Two members far apart (few or many minor episodes kept at home): the reference spending and the first
    candidate's costs are those of runs made here with each replicate's member, and differ from runs without one.
    """
    from health_sim.experiments.ensemble import load_ensemble

    stay = "choice.stay_home_utility.minor"
    calibrated = tmp_path / "calibrated.yaml"
    calibrated.write_text(
        f"provenance: {{seed: 1}}\nensemble:\n- {{trial: 1, values: {{{stay}: 2.0}}}}\n"
        f"- {{trial: 2, values: {{{stay}: 5.0}}}}\n"
    )
    f = spec(tmp_path, trials=2, extra=f"ensemble: {calibrated}\n")
    table, out = optimize(f, out=tmp_path / "out", workers=2, progress=False)
    members = [v for _, v in load_ensemble(calibrated).overrides(2, 7)]
    seeds = replicate_seeds(7, 2)
    kpis = [f"final:{k}" for k in COSTS]
    base_over = {k: v for k, v in RUN.items() if not k.startswith("policies.")}
    ref = [run_point(str(BASE), {**m, **base_over}, {}, s, kpis) for s, m in zip(seeds, members, strict=True)]
    plain = [run_point(str(BASE), base_over, {}, s, kpis) for s in seeds]
    reference = json.loads((out / "reference.json").read_text())
    assert reference["fund_spending"] == pytest.approx(np.mean([r["final:fund_spending"] for r in ref]))
    assert reference["fund_spending"] != pytest.approx(np.mean([r["final:fund_spending"] for r in plain]))
    first = table.sort_values("trial").iloc[0]  # every lever at its low end
    rows = [
        run_point(str(BASE), {**m, **RUN}, {GAP: 0.0, DOCTORS: 0}, s, kpis) for s, m in zip(seeds, members, strict=True)
    ]
    assert first["extra_fund_yuan"] == pytest.approx(
        np.mean([r["final:fund_spending"] for r in rows]) - reference["fund_spending"]
    )
    bad = spec(tmp_path, name="bad", extra=f"ensemble: {tmp_path / 'nowhere.yaml'}\n")
    with pytest.raises(ParamsError) as e:
        load_optimize(bad)
    assert "\n" not in str(e.value) and "ensemble" in str(e.value) and "nowhere.yaml" in str(e.value)


def test_an_error_optuna_raises_while_handling_a_ctrl_c_is_reported_as_the_interrupt(tmp_path, monkeypatch):
    """A Ctrl-C that Optuna's own bookkeeping turns into another error is still said as an interrupt.

    Its ``finally`` can fail when Ctrl-C lands there (an UnboundLocalError whose context is the
    KeyboardInterrupt); any other error is not an interrupt.
    """
    from health_sim.experiments import optimize as opt
    from health_sim.experiments.workers import Interrupted

    def interrupted_in_optuna(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise UnboundLocalError("cannot access local variable 'updated_state'") from None

    def broken(*args, **kwargs):
        raise UnboundLocalError("a real defect")

    path = spec(tmp_path)
    monkeypatch.setattr(opt, "_optimize", interrupted_in_optuna)
    with pytest.raises(Interrupted, match="interrupted: 0 of"):
        optimize(path, out=tmp_path / "a")
    monkeypatch.setattr(opt, "_optimize", broken)
    with pytest.raises(UnboundLocalError, match="a real defect"):
        optimize(path, out=tmp_path / "b")
