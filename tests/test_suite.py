"""Targets, scoring, the papermill template and the scenario suite (failures included)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from health_sim.core.errors import ParamsError
from health_sim.experiments.targets import Target, load_targets, score

from .conftest import health_sim_exe

ROOT = Path(__file__).resolve().parents[1]


def test_targets_file_holds_the_documents_targets():
    t = {x.name: x for x in load_targets(ROOT / "params" / "targets.yaml")}
    assert t["grassroots_share_65"].kpi == "grassroots_share" and t["grassroots_share_65"].threshold == 0.65
    assert t["satisfaction_93_by_2023"].year == 2023 and t["satisfaction_95_by_2025"].threshold == 0.95
    assert t["referral_closed_loop_95"].threshold == 0.95
    assert t["tcm_share_24"].threshold == 0.244
    assert t["rotation_training_80_in_5_years"].threshold == 0.80
    assert all(x.source for x in t.values())


@pytest.mark.parametrize(
    "text, fragment",
    [
        (
            "targets:\n  - {name: a, kpi: grasroots_share, threshold: 0.6, source: x}\n",
            "targets.0.kpi: unknown KPI 'grasroots_share' (did you mean 'grassroots_share'?)",
        ),
        ("targets:\n  - {name: a, kpi: grassroots_share, op: '=>', threshold: 0.6, source: x}\n", "targets.0.op"),
        ("targets:\n  - {name: a, kpi: grassroots_share, source: x}\n", "targets.0.threshold: missing"),
        ("targets:\n  - {name: a, kpi: visits_by_level, threshold: 1, source: x}\n", "visits_by_level.PART"),
        (
            "targets:\n  - {name: a, kpi: grassroots_share, threshold: 0.6, source: x, colour: red}\n",
            "targets.0.colour: unknown key",
        ),
        ("targets: [\n", "malformed YAML"),
    ],
)
def test_bad_targets_give_one_line(tmp_path, text, fragment):
    f = tmp_path / "targets.yaml"
    f.write_text(text)
    with pytest.raises(ParamsError) as e:
        load_targets(f)
    assert fragment in str(e.value) and str(e.value).startswith(str(f)) and "\n" not in str(e.value)


def test_score_mean_interval_met_and_share():
    annual = pd.DataFrame(
        {
            "replicate": [0, 1, 2, 3, 0, 1, 2, 3],
            "year": [2023] * 4 + [2024] * 4,
            "grassroots_share": [0.60, 0.62, 0.64, 0.66, 0.64, 0.66, 0.68, 0.70],
        }
    )
    targets = [
        Target(name="g", kpi="grassroots_share", threshold=0.65, source="s"),
        Target(name="g23", kpi="grassroots_share", threshold=0.65, year=2023, source="s"),
        Target(name="g30", kpi="grassroots_share", threshold=0.65, year=2030, source="s"),
        Target(name="low", kpi="grassroots_share", op="<=", threshold=0.61, year=2023, source="s"),
    ]
    s = score(annual, targets).set_index("target")
    assert s.loc["g", "year"] == 2024 and s.loc["g", "mean"] == pytest.approx(0.67)
    assert s.loc["g", "met"] and s.loc["g", "share_met"] == 0.75
    assert s.loc["g", "lo"] == pytest.approx(np.quantile([0.64, 0.66, 0.68, 0.70], 0.05))
    assert not s.loc["g23", "met"] and s.loc["g23", "share_met"] == 0.25
    assert np.isnan(s.loc["g30", "mean"]) and s.loc["g30", "replicates"] == 0
    assert s.loc["low", "share_met"] == 0.25
    assert s.loc["g", "verdict"] == "met" and s.loc["g23", "verdict"] == "not met"
    assert s.loc["g30", "verdict"] == "not reachable by design" and "2023-2024" in s.loc["g30", "reason"]


def test_a_target_whose_window_its_lever_cannot_fill_is_not_reachable_by_design():
    from health_sim.config.params import load_params

    annual = pd.DataFrame(
        {"replicate": [0] * 5, "year": list(range(2023, 2028)), "staff_rotation_trained_share": [0.1] * 5}
    )
    t = Target(
        name="rot", kpi="staff_rotation_trained_share", threshold=0.8, year=2027, window_years=5,
        lever="training.rotation_share_per_year", source="s",
    )  # fmt: skip
    scale_up = load_params("params/scenarios/training.yaml")  # rotation from 2024: 4 years by 2027
    s = score(annual, [t], params=scale_up).iloc[0]
    assert s["verdict"] == "not reachable by design" and "2024-01-01" in s["reason"] and np.isnan(s["mean"])
    # the baseline has no rotation at all: judged, and not met (the policy, not the question, falls short)
    s = score(annual, [t], params=load_params("params/scenarios/baseline_2023.yaml")).iloc[0]
    assert s["verdict"] == "not met" and s["mean"] == pytest.approx(0.1)
    # a run too short for the window
    s = score(annual[annual["year"] >= 2024], [t]).iloc[0]
    assert s["verdict"] == "not reachable by design" and "the run starts in 2024" in s["reason"]
    with pytest.raises(ValueError, match="has no field"):
        Target(name="x", kpi="grassroots_share", threshold=1, lever="training.nope", source="s")


def test_papermill_runs_the_template_from_the_repo_root(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            "notebooks/scenario.ipynb",
            str(tmp_path / "out.ipynb"),
            "-p",
            "scenario",
            "params/scenarios/drg.yaml",
            "-p",
            "scale",
            "0.01",
            "-p",
            "replicates",
            "2",
            "-p",
            "days",
            "400",
            "-p",
            "out_dir",
            str(out),
            "--no-progress-bar",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    k = pd.read_parquet(out / "kpis.parquet")
    assert list(k["replicate"]) == [0, 1] and k["seed"].nunique() == 2
    assert {"kpis.parquet", "daily.parquet", "township.parquet", "annual.parquet", "figures"} <= {
        p.name for p in out.iterdir()
    }
    assert {p.name for p in (out / "figures").iterdir()} >= {
        "grassroots_share.png",
        "visits_by_level.png",
        "townships.png",
        "costs.png",
    }
    d = pd.read_parquet(out / "daily.parquet")
    assert len(d) == 2 * 400 and set(d["replicate"]) == {0, 1}


def test_help_notebook_lists_the_typed_parameters():
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", "notebooks/scenario.ipynb"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for name in ("scenario: str", "scale: float", "seed: int", "replicates: int", "days: int", "out_dir: str"):
        assert name in proc.stdout


@pytest.fixture()
def mini_repo(tmp_path):
    """A copy of the repository's params and template with two scenarios: one fine, one broken."""
    for d in ("params", "notebooks"):
        (tmp_path / d).mkdir()
    shutil.copy(ROOT / "params" / "baseline.yaml", tmp_path / "params")
    shutil.copy(ROOT / "params" / "targets.yaml", tmp_path / "params")
    shutil.copy(ROOT / "notebooks" / "scenario.ipynb", tmp_path / "notebooks")
    sc = tmp_path / "params" / "scenarios"
    sc.mkdir()
    (sc / "fine.yaml").write_text("# fine\nextends: ../baseline.yaml\nrun: {burn_in_days: 30}\n")
    (sc / "broken.yaml").write_text(
        "# broken\nextends: ../baseline.yaml\nrun: {burn_in_days: 30}\n"
        "insurance: {outpatient: {township: {reimbursement: 1.5}}}\n"
    )
    return tmp_path


def _repo_env() -> dict:
    """The environment without the tests' HEALTH_SIM_OUTPUTS, so outputs go to the mini repository's outputs/."""
    return {k: v for k, v in os.environ.items() if k != "HEALTH_SIM_OUTPUTS"}


def test_suite_keeps_going_marks_failures_and_exits_non_zero(mini_repo):
    cmd = [health_sim_exe(), "scenarios", "--scale", "0.01", "--reps", "2", "--jobs", "2", "--days", "60"]
    proc = subprocess.run(cmd, cwd=mini_repo, capture_output=True, text=True, timeout=900, env=_repo_env())
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "failed: broken" in proc.stderr and "1 of 2 scenarios ran" in proc.stderr
    fine, broken = mini_repo / "outputs" / "scenarios" / "fine", mini_repo / "outputs" / "scenarios" / "broken"
    assert {"scenario.ipynb", "scenario.html", "kpis.parquet", "annual.parquet", "figures"} <= {
        p.name for p in fine.iterdir()
    }
    assert (broken / "scenario.ipynb").exists() and "reimbursement: 1.5 is above 1" in (
        broken / "error.txt"
    ).read_text()
    card = pd.read_csv(mini_repo / "outputs" / "scorecard.csv")
    assert set(card["scenario"]) == {"fine", "broken"}
    assert card.loc[card.scenario == "broken", "status"].str.startswith("failed").all()
    ok = card[card.scenario == "fine"].set_index("target")
    assert ok.loc["grassroots_share_65", "replicates"] == 2 and 0.5 < ok.loc["grassroots_share_65", "mean"] < 0.8
    assert (mini_repo / "outputs" / "scorecard.md").read_text().count("| fine |") == len(ok)
    assert "<table" in (mini_repo / "outputs" / "scorecard.html").read_text()
    assert json.loads((fine / "manifest.json").read_text())["written_by"] == "scenario"
    # a scenario folder holding a file the suite did not write is refused before anything runs
    (fine / "stray.txt").write_text("old")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in fine.iterdir())
    proc = subprocess.run(
        [*cmd, "--only", "fine"], cwd=mini_repo, capture_output=True, text=True, timeout=900, env=_repo_env()
    )
    assert (
        proc.returncode == 2
        and proc.stderr.count("\n") == 1
        and "holds files health-sim did not write (stray.txt)" in proc.stderr
    ), proc.stderr
    assert sorted((p.name, p.stat().st_mtime_ns) for p in fine.iterdir()) == before
    # with --force it is replaced whole, and no temporary folders are left
    proc = subprocess.run(
        [*cmd, "--only", "fine", "--force"], cwd=mini_repo, capture_output=True, text=True, timeout=900, env=_repo_env()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (fine / "stray.txt").exists() and (fine / "kpis.parquet").exists()
    assert not [p for p in (mini_repo / "outputs" / "scenarios").iterdir() if p.name.startswith(".")]


def test_suite_rejects_unknown_scenarios(mini_repo):
    proc = subprocess.run(
        [health_sim_exe(), "scenarios", "--only", "fien"],
        cwd=mini_repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=_repo_env(),
    )
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == "--only fien: no such scenario in params/scenarios (did you mean 'fine'?)"
    )
    assert not (mini_repo / "outputs" / "scenarios").exists()
