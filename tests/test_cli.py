"""The ``health-sim`` command, run as a subprocess through its console script.

Error contract: bad input -> exactly one line on stderr naming the file (or ``--set`` /
the flag) and the dotted key, exit code 2, nothing on stdout, nothing written.
Runs: the output files, their content, determinism, quietness off a terminal,
and atomic replacement of the output directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

import health_sim
from health_sim.config.params import load_params, params_hash
from health_sim.config.schema import Params

from .conftest import health_sim_exe, without_undefined_kpi_warning

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "params" / "baseline.yaml"
OUTPUT_FILES = {
    "kpis.json",
    "daily.parquet",
    "township.parquet",
    "annual.parquet",
    "capability.parquet",
    "params.resolved.yaml",
    "manifest.json",
}
TOWNSHIPS = [
    "Yangcheng", "Qigong", "Taiping", "Dubu", "Jiangying", "Yangmei", "Qinglian",
    "Libu", "Xiaojiang", "Dalang", "Lingbei", "Huangben", "Chengjia",
]  # fmt: skip
TIMEOUT = 180

# A small, fast run: 1% of the county, 20 recorded days after 10 days of burn-in.
DAYS, SCALE, SEED = 20, 0.01, 7
RUN_ARGS = [
    "--scale", str(SCALE), "--days", str(DAYS), "--seed", str(SEED),
    "--set", "run.burn_in_days=10",
    "--set", "insurance.outpatient.township.reimbursement=0.8",
]  # fmt: skip


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    """Start ``health-sim ARGS`` with stdout and stderr captured (so neither is a terminal)."""
    return subprocess.Popen(
        [health_sim_exe(), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
    )  # fmt: skip


@dataclass
class Done:
    rc: int | None
    stdout: str
    stderr: str


def finish(proc: subprocess.Popen) -> Done:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return Done(None, out, err + f"\n[killed after {TIMEOUT} s]")
    return Done(proc.returncode, out, err)


def hs(args: list[str], cwd: Path) -> Done:
    return finish(start(args, cwd))


def tree(d: Path) -> dict[str, bytes | None]:
    """Every path under ``d`` (hidden ones too) -> its bytes (None for a directory)."""
    return {
        str(p.relative_to(d)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(d.rglob("*"))
    }  # fmt: skip


# --- the error contract ------------------------------------------------------------


@dataclass
class Case:
    files: dict[str, str]
    args: list[str]
    prefix: str  # the line starts with this: "FILE: dotted.key: ", "--set key: ", "--flag: "
    fragments: list[str] = field(default_factory=list)
    blame: str | None = None  # the file the message must name, when not the one in the prefix


TOWNSHIP_BAD = "county:\n  townships:\n    - {name: Yangcheng, population: -3, villages: 1, x_km: 0, y_km: 0}\n"
OK = {"p.yaml": "run: {seed: 3}\n"}
# Every case but the flag ones also passes --scale 0.01 so that a wrongly accepted file runs fast.
SMALL = ["--scale", "0.01"]

ERROR_CASES: dict[str, Case] = {
    "unknown_key": Case(
        {"p.yaml": "run: {dayz: 3}\n"}, ["p.yaml", "--out", "out", *SMALL], "p.yaml: run.dayz: ", ["'days'"]
    ),
    "wrong_type": Case(
        {"p.yaml": "run:\n  days: abc\n"}, ["p.yaml", "--out", "out", *SMALL], "p.yaml: run.days: ", ["abc"]
    ),
    "rate_above_1": Case(
        {"p.yaml": "insurance:\n  outpatient:\n    township:\n      reimbursement: 1.3\n"},
        ["p.yaml", "--out", "out", *SMALL],
        "p.yaml: insurance.outpatient.township.reimbursement: 1.3 is above 1",
    ),
    "negative_population": Case(
        {"p.yaml": "county:\n  population: -5\n"},
        ["p.yaml", "--out", "out", *SMALL],
        "p.yaml: county.population: ",
        ["-5"],
    ),
    "negative_township_population": Case(
        {"p.yaml": TOWNSHIP_BAD}, ["p.yaml", "--out", "out", *SMALL], "p.yaml: county.townships.0.population: ", ["-3"]
    ),
    # no --out: the default outputs/<stem> must not appear either
    "missing_file": Case({}, ["nope.yaml", *SMALL], "nope.yaml: ", ["no such file"]),
    "malformed_yaml": Case({"p.yaml": "run:\n  days: 3\n   seed: 4\n"}, ["p.yaml", *SMALL], "p.yaml: ", ["line 3"]),
    "top_level_list": Case({"p.yaml": "- run\n- county\n"}, ["p.yaml", "--out", "out", *SMALL], "p.yaml: ", ["list"]),
    "extends_missing": Case(
        {"p.yaml": "extends: nope.yaml\n"}, ["p.yaml", "--out", "out", *SMALL], "p.yaml: extends: ", ["nope.yaml"]
    ),
    "extends_circular": Case(
        {"p.yaml": "extends: q.yaml\n", "q.yaml": "extends: p.yaml\n"},
        ["p.yaml", "--out", "out", *SMALL],
        "p.yaml: extends: ",
        ["circular"],
    ),
    "bad_key_in_extended_file": Case(
        {"base.yaml": "run:\n  dayz: 3\n", "scen/child.yaml": "extends: ../base.yaml\nrun: {seed: 4}\n"},
        ["scen/child.yaml", "--out", "out", *SMALL],
        "",
        ["run.dayz", "'days'"],
        blame="base.yaml",
    ),
    "bad_key_in_extending_file": Case(
        {"base.yaml": "run: {days: 30}\n", "scen/child.yaml": "extends: ../base.yaml\nrun: {dayz: 4}\n"},
        ["scen/child.yaml", "--out", "out", *SMALL],
        "scen/child.yaml: run.dayz: ",
        ["'days'"],
    ),
    "set_unknown_key": Case(
        OK, ["p.yaml", "--out", "out", *SMALL, "--set", "run.dayz=3"], "--set run.dayz: ", ["'days'"]
    ),
    "set_wrong_type": Case(
        OK, ["p.yaml", "--out", "out", *SMALL, "--set", "run.days=abc"], "--set run.days: ", ["abc"]
    ),
    "set_rate_above_1": Case(
        OK,
        ["p.yaml", "--out", "out", *SMALL, "--set", "insurance.outpatient.township.reimbursement=1.3"],
        "--set insurance.outpatient.township.reimbursement: 1.3 is above 1",
    ),
    "set_negative_township_population": Case(
        OK,
        ["p.yaml", "--out", "out", *SMALL, "--set", "county.townships.3.population=-5"],
        "--set county.townships.3.population: ",
        ["-5"],
    ),
    "set_not_key_value": Case(
        OK, ["p.yaml", "--out", "out", *SMALL, "--set", "run.days"], "--set run.days", ["key=value"]
    ),
    "scale_zero": Case(OK, ["p.yaml", "--out", "out", "--scale", "0"], "--scale: ", ["0"]),
    "scale_above_1": Case(OK, ["p.yaml", "--out", "out", "--scale", "1.5"], "--scale: ", ["1.5"]),
    "days_negative": Case(OK, ["p.yaml", "--out", "out", *SMALL, "--days", "-1"], "--days: ", ["-1"]),
    "out_is_a_file": Case(
        {"p.yaml": "", "taken": "not a directory\n"},
        ["p.yaml", "--out", "taken", *SMALL, "--days", "1"],
        "--out taken: ",
    ),
}


def setup_case(name: str, d: Path) -> dict:
    for rel, text in ERROR_CASES[name].files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text, encoding="utf-8")
    return tree(d)


def check_error(name: str, d: Path, before: dict, done: Done) -> None:
    case = ERROR_CASES[name]
    assert done.rc == 2, f"exit code {done.rc}, stderr: {done.stderr!r}"
    assert done.stdout == "", f"stdout: {done.stdout!r}"
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1, (
        f"stderr is not exactly one line: {done.stderr!r}"
    )
    line = done.stderr.rstrip("\n")
    assert line.startswith(case.prefix), line
    assert "Traceback" not in line and "Usage:" not in line, line
    for f in case.fragments:
        assert f in line, line
    if case.blame is not None:
        named = line.split(": ", 1)[0]
        assert (d / named).resolve() == (d / case.blame).resolve(), f"should name {case.blame}: {line}"
    assert tree(d) == before, f"the failed run wrote something: {sorted(set(tree(d)) - set(before))}"


def invoke(args: list[str]) -> Done:
    """``health-sim ARGS`` in-process (a subprocess costs a second of imports; the app is the same)."""
    from typer.testing import CliRunner

    from health_sim.cli import app

    result = CliRunner().invoke(app, args)
    return Done(result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, monkeypatch, name):
    before = setup_case(name, tmp_path)
    monkeypatch.chdir(tmp_path)
    check_error(name, tmp_path, before, invoke(["run", *ERROR_CASES[name].args]))


@pytest.mark.parametrize("name", ["bad_key_in_extended_file", "set_rate_above_1", "days_negative", "malformed_yaml"])
def test_bad_input_through_the_console_script(tmp_path, name):
    before = setup_case(name, tmp_path)
    check_error(name, tmp_path, before, hs(["run", *ERROR_CASES[name].args], tmp_path))


def test_flag_of_wrong_type_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "p.yaml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    done = invoke(["run", "p.yaml", "--out", "out", "--days", "abc"])
    assert done.rc == 2
    assert done.stderr.count("\n") == 1 and "--days" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


# --- a run ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twin_runs(tmp_path_factory):
    """The same small run twice, into two output directories (concurrently)."""
    d = tmp_path_factory.mktemp("runs")
    procs = [start(["run", str(BASELINE), *RUN_ARGS, "--out", str(d / name)], d) for name in ("a", "b")]
    dones = [finish(p) for p in procs]
    for done in dones:
        assert done.rc == 0, f"health-sim run failed ({done.rc}): {done.stderr}"
    return d / "a", d / "b", dones


@pytest.fixture(scope="module")
def out(twin_runs):
    return twin_runs[0]


def test_run_writes_exactly_the_output_files(twin_runs):
    a, b, _ = twin_runs
    for o in (a, b):
        assert {p.name for p in o.iterdir()} == OUTPUT_FILES
    # no temporary siblings left behind by the atomic write
    assert {p.name for p in a.parent.iterdir()} == {"a", "b"}


def test_run_says_only_where_its_outputs_are_off_a_terminal(twin_runs):
    for out, done in zip(twin_runs[:2], twin_runs[2], strict=True):
        # one line, so that a log says where the results went; no progress bar
        assert done.stdout.count("\n") == 1 and done.stdout.startswith(f"outputs in {out}: grassroots_share "), (
            done.stdout
        )
        assert "\r" not in done.stderr and "%|" not in done.stderr and "it/s" not in done.stderr, (
            "a progress bar on stderr"
        )
        assert without_undefined_kpi_warning(done.stderr) == "", f"unexpected stderr: {done.stderr!r}"


def test_kpis_json(out):
    k = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert 0.0 <= k["grassroots_share"] <= 1.0
    by_level = k["visits_by_level"]
    assert set(by_level) == {"village", "township", "county", "city"}
    assert all(v >= 0 for v in by_level.values()) and sum(by_level.values()) > 0
    grassroots = (by_level["village"] + by_level["township"]) / sum(by_level.values())
    assert k["grassroots_share"] == pytest.approx(grassroots, rel=1e-9)


def test_daily_parquet_one_row_per_day(out):
    daily = pd.read_parquet(out / "daily.parquet")
    assert len(daily) == DAYS
    assert "date" in daily.columns
    dates = pd.to_datetime(daily["date"]).reset_index(drop=True)
    expected = pd.Series(pd.date_range(Params().run.start_date, periods=DAYS, freq="D"))
    assert (dates.dt.normalize() == expected).all(), dates.tolist()


def test_township_parquet_has_the_13_townships(out):
    town = pd.read_parquet(out / "township.parquet")
    assert len(town) == 13
    names = [c for c in town.columns if town[c].astype(str).isin(TOWNSHIPS).all()]
    assert names, f"no column holds the township names; columns: {list(town.columns)}"
    assert sorted(town[names[0]]) == sorted(TOWNSHIPS)


def test_manifest(out):
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for key in ("version", "git_commit", "seed", "params_sha256", "wall_seconds"):
        assert key in m, f"manifest.json lacks {key}: {sorted(m)}"
    assert m["version"] == health_sim.__version__
    assert isinstance(m["git_commit"], str) and m["git_commit"]
    assert m["seed"] == SEED
    assert isinstance(m["wall_seconds"], (int, float)) and m["wall_seconds"] >= 0
    resolved = load_params(out / "params.resolved.yaml")
    assert m["params_sha256"] == params_hash(resolved)


def test_resolved_params_reflect_set_seed_scale_days(out):
    resolved = load_params(out / "params.resolved.yaml")
    assert resolved.run.seed == SEED
    assert resolved.run.scale == SCALE
    assert resolved.run.days == DAYS
    assert resolved.run.burn_in_days == 10
    assert resolved.insurance.outpatient.township.reimbursement == 0.8
    # and nothing else moved from the baseline
    expected = load_params(
        BASELINE,
        ["run.burn_in_days=10", "insurance.outpatient.township.reimbursement=0.8"],
        flags={"run.scale": ("--scale", SCALE), "run.seed": ("--seed", SEED), "run.days": ("--days", DAYS)},
    )
    assert resolved == expected


def test_same_command_twice_is_identical(twin_runs):
    a, b, _ = twin_runs
    assert (a / "kpis.json").read_bytes() == (b / "kpis.json").read_bytes()
    assert (a / "params.resolved.yaml").read_bytes() == (b / "params.resolved.yaml").read_bytes()
    for name in ("daily.parquet", "township.parquet"):
        fa, fb = pd.read_parquet(a / name), pd.read_parquet(b / name)
        pd.testing.assert_frame_equal(fa, fb)
        assert fa.equals(fb)
    ma, mb = (json.loads((o / "manifest.json").read_text(encoding="utf-8")) for o in (a, b))
    ma.pop("wall_seconds"), mb.pop("wall_seconds")
    assert ma == mb


def test_rerun_replaces_an_earlier_run_wholly(tmp_path, out):
    o = tmp_path / "out"
    shutil.copytree(out, o)  # an earlier run's output: replaced without asking
    args = [a if a != str(SEED) else str(SEED + 1) for a in RUN_ARGS]  # another seed, same size
    done = hs(["run", str(BASELINE), *args, "--out", str(o)], tmp_path)
    assert done.rc == 0, done.stderr
    assert {p.name for p in o.iterdir()} == OUTPUT_FILES
    assert {p.name for p in tmp_path.iterdir()} == {"out"}, "temporary directories left beside --out"
    kpis = json.loads((o / "kpis.json").read_text(encoding="utf-8"))
    assert json.loads((o / "manifest.json").read_text(encoding="utf-8"))["seed"] == SEED + 1
    # the seed reaches the model (so the twin runs being identical is not trivial)
    assert kpis != json.loads((out / "kpis.json").read_text(encoding="utf-8"))


def test_a_folder_of_other_files_is_refused_unless_forced(tmp_path):
    o = tmp_path / "out"
    o.mkdir()
    (o / "stray.txt").write_text("left over\n", encoding="utf-8")
    (o / "kpis.json").write_text('{"stale": true}\n', encoding="utf-8")
    before = tree(tmp_path)
    done = hs(["run", str(BASELINE), *RUN_ARGS, "--out", str(o)], tmp_path)
    assert done.rc == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"--out {o}: holds files health-sim did not write") and "--force" in done.stderr, (
        done.stderr
    )
    assert tree(tmp_path) == before
    done = hs(["run", str(BASELINE), *RUN_ARGS, "--out", str(o), "--force"], tmp_path)
    assert done.rc == 0, done.stderr
    assert {p.name for p in o.iterdir()} == OUTPUT_FILES, "the old directory was not replaced wholly"
    assert {p.name for p in tmp_path.iterdir()} == {"out"}, "temporary directories left beside --out"
    assert "stale" not in json.loads((o / "kpis.json").read_text(encoding="utf-8"))


def test_failed_run_leaves_existing_out_untouched(tmp_path, out):
    o = tmp_path / "out"
    shutil.copytree(out, o)
    (o / "note.txt").write_text("keep me\n", encoding="utf-8")
    before = tree(tmp_path)
    stats = {p.name: p.stat().st_mtime_ns for p in o.iterdir()}
    done = hs(
        ["run", str(BASELINE), *RUN_ARGS, "--set", "insurance.outpatient.county.reimbursement=1.3", "--out", str(o)],
        tmp_path,
    )
    assert done.rc == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "insurance.outpatient.county.reimbursement" in done.stderr, done.stderr
    assert tree(tmp_path) == before
    assert {p.name: p.stat().st_mtime_ns for p in o.iterdir()} == stats


# --- the other commands ------------------------------------------------------------------


def test_kpis_command_lists_the_kpis(out, tmp_path):
    done = hs(["kpis"], tmp_path)
    assert done.rc == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert "grassroots_share" in listed
    # every KPI a run reports is listed
    assert set(json.loads((out / "kpis.json").read_text(encoding="utf-8"))) <= set(listed)


def test_params_command_prints_yaml_of_the_defaults(tmp_path):
    done = hs(["params"], tmp_path)
    assert done.rc == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert isinstance(data, dict) and "run" in data and "insurance" in data
    assert Params.model_validate(data) == Params()
    # --out writes the same text (that is how params/baseline.yaml is made)
    written = invoke(["params", "--out", str(tmp_path / "baseline.yaml")])
    assert written.rc == 0, written.stderr
    assert (tmp_path / "baseline.yaml").read_text(encoding="utf-8") == done.stdout
