r"""A corpus of bad inputs and faults, across every entry point of ``health-sim``.

The contract every case of ``CASES`` asserts (what the README promises for bad input):

* the exit code is 2 (bad input), or 1 where the case is a runtime fault (a full disk);
  never a Python traceback;
* stderr is exactly one line (it ends with "\n" and holds no other), at most 300
  characters, without "Traceback";
* stdout is empty;
* the line names the file (its path as given, or its name) and the dotted key (or the CSV
  row and column, or the command-line flag: ``--set run.days``, ``--out``, ``--workers``)
  that is wrong; each case lists a few generous fragments the line must contain (an
  ``re:`` fragment is a regular expression);
* nothing is created or changed on disk: every path under the case's temporary folder
  (hidden ones too, with the bytes of files) is the same before and after. Cases run with
  the working directory in that folder and every output flag pointing inside it; the
  module also checks that the repository's ``outputs/`` and root listing are unchanged.

A case runs in-process through typer's CliRunner (fast) unless it could hang, exhaust
memory or crash the interpreter (a FIFO, /dev/zero, an alias bomb, a huge grid or
population, non-finite numbers reaching the engine): those run ``health-sim`` as a
subprocess with a timeout and an address-space limit. Every case that the current code
might wrongly accept uses a tiny run (``--scale 0.002 --days 2 --set run.burn_in_days=0``)
so that it fails in seconds.

Separate tests: a lever given parameters but not switched on is a warning, not an error;
an empty parameter file is fine; and the papermill template ``notebooks/scenario.ipynb``
refuses a misspelt parameter and a missing scenario file (``test_papermill_*``, marked
slow: each starts a kernel).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import health_sim_exe

REPO = Path(__file__).resolve().parents[1]
BASE_SCENARIO = REPO / "params" / "scenarios" / "baseline_2023.yaml"
TARGETS = REPO / "params" / "targets.yaml"
TEMPLATE = REPO / "notebooks" / "scenario.ipynb"
IS_ROOT = os.geteuid() == 0

MAX_LINE = 300
SUB_TIMEOUT = 60  # seconds: a case that takes longer is a failure (and its process group is killed)
MEMORY_LIMIT = 6 << 30  # address space of a subprocess case: exhausting memory fails the case, not the machine

SMALL_RUN = ["--scale", "0.002", "--days", "2", "--set", "run.burn_in_days=0"]
OK = "run: {seed: 3}\n"


FIT_FILE = (
    (REPO / "params" / "calibrate" / "yangshan_evidence.yaml")
    .read_text()
    .replace("base: ../scenarios/", f"base: {REPO / 'params' / 'scenarios'}/")
    .replace("evidence: ../validation/", f"evidence: {REPO / 'params' / 'validation'}/")
    .replace("out: ../calibrated/yangshan_2023.yaml", "out: written.yaml")
)

# --- a case ---------------------------------------------------------------------------


@dataclass
class Case:
    args: list[str]  # health-sim ARGS
    files: dict[str, str | bytes] = field(default_factory=dict)  # created in the case's folder first
    frags: tuple[str, ...] = ()  # the stderr line contains each ("re:..." : a regular expression)
    codes: tuple[int, ...] = (2,)  # acceptable exit codes
    sub: bool = False  # run as a subprocess (could hang, exhaust memory or crash)
    setup: Callable[[Path], None] | None = None  # more set-up (FIFO, symlink, copies)
    timeout: float = SUB_TIMEOUT
    fsize: int | None = None  # RLIMIT_FSIZE of the subprocess (a full disk)
    cold_cache: bool = False  # the subprocess compiles afresh into an empty compile cache


@dataclass
class Done:
    rc: int | None
    stdout: str
    stderr: str


def run_case(files: dict | None = None, *extra: str, frags: tuple[str, ...], params: str = "p.yaml", **kw) -> Case:
    """``health-sim run PARAMS --out out`` with a tiny run, then ``extra`` (which win over it)."""
    return Case(
        ["run", params, "--out", "out", *SMALL_RUN, *extra],
        dict(files if files is not None else {"p.yaml": OK}),
        frags,
        **kw,
    )


def set_case(*sets: str, frags: tuple[str, ...], extra: tuple[str, ...] = (), **kw) -> Case:
    args: list[str] = []
    for s in sets:
        args += ["--set", s]
    return run_case({"p.yaml": OK}, *args, *extra, frags=frags, **kw)


# --- set-up helpers -------------------------------------------------------------------


def mkfifo(name: str) -> Callable[[Path], None]:
    return lambda d: os.mkfifo(d / name)


def symlink(name: str, target: str) -> Callable[[Path], None]:
    return lambda d: os.symlink(target, d / name)


def mkdir(name: str) -> Callable[[Path], None]:
    return lambda d: (d / name).mkdir(parents=True)


def copy_scenarios(name: str) -> Callable[[Path], None]:
    return lambda d: shutil.copytree(REPO / "params" / "scenarios", d / name)


def repo_like(d: Path) -> None:
    """What ``health-sim scenarios`` needs around it (it works from the repository root).

    A copy of params/ and of the template, so that the case stays inside its folder.
    """
    shutil.copytree(REPO / "params", d / "params")
    (d / "notebooks").mkdir()
    shutil.copy2(TEMPLATE, d / "notebooks" / "scenario.ipynb")


def big_file(name: str, mb: int) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        line = "# " + "x" * 1021 + "\n"  # 1 KiB of comment a line
        with open(d / name, "w", encoding="utf-8") as f:
            f.write(OK)
            f.writelines(line for _ in range(mb * 1024))

    return make


def unwritable_out() -> tuple[str, Callable[[Path], None] | None]:
    """A place where --out cannot be created: as root chmod does not stop writes, so a path under /proc."""
    if IS_ROOT:
        return "/proc/health_sim_out", None

    def make(d: Path) -> None:
        (d / "ro").mkdir()
        (d / "ro").chmod(0o500)

    return "ro/out", make


UNWRITABLE, UNWRITABLE_SETUP = unwritable_out()


# --- file contents ---------------------------------------------------------------------


def alias_bomb(indent: str = "  ", depth: int = 9) -> str:
    """Anchors a..i, each nine copies of the one before: 9**9 leaves once expanded (as block YAML)."""
    names = "abcdefghi"[:depth]
    lines = [f"{indent}a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, cur in itertools.pairwise(names):
        lines.append(f"{indent}{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def alias_bomb_flow(depth: int = 9) -> str:
    """The same bomb as one flow sequence whose last element is the biggest anchor."""
    names = "abcdefghi"[:depth]
    parts = ["&a [x, x, x, x, x, x, x, x, x]"]
    for prev, cur in itertools.pairwise(names):
        parts.append(f"&{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "[" + ", ".join(parts) + "]"


# A small county set (two townships, villages laid out at random) and one with villages listed.
COUNTY_YAML = "name: Testland\npopulation: 20000\ncounty_seat: Alpha\ncity_x_km: 30.0\ncity_y_km: -20.0\n"


def townships(x: str = "0", y: str = "0", header: str = "name,population,villages,x_km,y_km", extra: str = "") -> str:
    return f"{header}\nAlpha,12000,3,{x},{y}{extra}\nBeta,8000,2,10,5{extra}\n"


def cs(**files: str | None) -> dict[str, str]:
    """The files of a small county set in cs/.

    Keywords (county_yaml=..., townships_csv=...) replace a file, None drops it.
    """
    renamed = {}
    for k, v in files.items():
        stem, _, ext = k.rpartition("_")
        renamed[f"{stem}.{ext}"] = v
    base: dict[str, str | None] = {"county.yaml": COUNTY_YAML, "townships.csv": townships()}
    base.update(renamed)
    return {f"cs/{name}": text for name, text in base.items() if text is not None}


LISTED_TOWNSHIPS = "name,x_km,y_km\nAlpha,0,0\nBeta,10,5\n"
VILLAGES = "township,name,population,x_km,y_km\nAlpha,A1,6000,0,1\nAlpha,A2,6000,1,0\nBeta,B1,8000,10,6\n"


def with_county(*extra: str, frags: tuple[str, ...], files: dict[str, str], **kw) -> Case:
    """``health-sim run p.yaml --county cs`` (a tiny run), as a subprocess."""
    return run_case({"p.yaml": OK, **files}, "--county", "cs", *extra, frags=frags, sub=True, **kw)


def check(files: dict[str, str], frags: tuple[str, ...], **kw) -> Case:
    return Case(["county", "check", "cs"], files, frags, **{"sub": True, **kw})


# Sweep, optimisation and calibration files: valid and tiny, then spoilt one way per case.
SWEEP = f"""\
name: t
base: {BASE_SCENARIO}
targets_file: {TARGETS}
factors:
  policies.reimbursement.outpatient_grassroots_increase: {{values: [0.0, 0.1]}}
design: {{method: grid}}
replicates: 1
kpis: [grassroots_share]
run:
  run.scale: 0.002
  run.days: 2
  run.burn_in_days: 0
  policies.reimbursement.enabled: true
seed: 1
"""
SWEEP_FACTOR = "  policies.reimbursement.outpatient_grassroots_increase: {values: [0.0, 0.1]}\n"


def sweep_file(old: str = "", new: str = "", add: str = "") -> str:
    text = SWEEP.replace(old, new, 1) if old else SWEEP
    assert not old or old in SWEEP, old
    return text + add


def sweep(text: str, *extra: str, frags: tuple[str, ...], **kw) -> Case:
    return Case(
        ["sweep", "s.yaml", "--out", "sw", "--workers", "1", *extra],
        {"s.yaml": text, **kw.pop("files", {})},
        frags,
        **kw,
    )


SIX_FACTORS_100_LEVELS = "factors:\n" + "".join(
    f"  {k}: {{low: 0.0, high: 0.3, levels: 100}}\n"
    for k in (
        "policies.reimbursement.outpatient_grassroots_increase",
        "policies.reimbursement.outpatient_hospital_decrease",
        "policies.reimbursement.inpatient_grassroots_increase",
        "policies.reimbursement.inpatient_hospital_decrease",
        "policies.gatekeeping.unreferred_reduction",
        "policies.family_doctor.contract_rate",
    )
)
DATE_SPOT = r"re:start_date|line 2\b"  # the key, or the line of the file
GRID_SIZE = r"re:1,?000,?000,?000,?000|1(\.0+)?e\+?12|10\^12|10\*\*12|10¹²|1 000 000 000 000"

OPTIMIZE = f"""\
name: o
base: {BASE_SCENARIO}
targets_file: {TARGETS}
levers:
  policies.reimbursement.outpatient_grassroots_increase: {{low: 0.0, high: 0.3}}
targets:
  - {{name: t, kpi: grassroots_share, threshold: 0.5, year: 2023, source: test}}
replicates: 1
trials: 1
run:
  run.scale: 0.002
  run.days: 2
  run.burn_in_days: 0
  policies.reimbursement.enabled: true
seed: 1
"""


def optimize_file(old: str = "", new: str = "", add: str = "") -> str:
    assert not old or old in OPTIMIZE, old
    return (OPTIMIZE.replace(old, new, 1) if old else OPTIMIZE) + add


def opt(text: str, *extra: str, frags: tuple[str, ...], **kw) -> Case:
    return Case(
        ["optimize", "o.yaml", "--out", "opt", "--workers", "1", *extra],
        {"o.yaml": text, **kw.pop("files", {})},
        frags,
        **kw,
    )


CALIBRATE = f"""\
name: c
base: {BASE_SCENARIO}
observed:
  share: {{kpi: grassroots_share, value: 0.67, tolerance: 0.01, source: test}}
parameters:
  choice.minor.trust: {{low: 1.0, high: 2.0}}
run:
  run.scale: 0.002
  run.days: 2
  run.burn_in_days: 0
replicates: 1
trials: 1
ensemble: {{candidates: 1, replicates: 1, size: 1}}
seed: 1
"""


def calibrate_file(old: str = "", new: str = "", add: str = "") -> str:
    assert not old or old in CALIBRATE, old
    return (CALIBRATE.replace(old, new, 1) if old else CALIBRATE) + add


def cal(text: str, *extra: str, frags: tuple[str, ...], **kw) -> Case:
    return Case(
        ["calibrate", "c.yaml", "--out", "work", "--write", "cal.yaml", "--workers", "1", *extra],
        {"c.yaml": text, **kw.pop("files", {})},
        frags,
        **kw,
    )


def scen(*extra: str, frags: tuple[str, ...], **kw) -> Case:
    """``health-sim scenarios`` (tiny) in a folder holding a copy of params/ and the template."""
    return Case(
        [
            "scenarios",
            "--out",
            "out",
            "--reps",
            "1",
            "--scale",
            "0.002",
            "--days",
            "2",
            "--only",
            "baseline_2023",
            *extra,
        ],
        kw.pop("files", {}),
        frags,
        setup=repo_like,
        **kw,
    )


# --- the corpus ------------------------------------------------------------------------

CASES: dict[str, Case] = {
    # -- health-sim run: non-finite and astronomically large numbers in a parameter file
    "run_file_nan_rate": run_case(
        {"p.yaml": "insurance:\n  outpatient:\n    township:\n      reimbursement: .nan\n"},
        frags=("p.yaml", "reimbursement"),
        sub=True,
    ),
    "run_file_nan_position": run_case(
        {"p.yaml": "county:\n  city_x_km: .nan\n"}, frags=("p.yaml", "city_x_km"), sub=True
    ),
    "run_file_inf_position": run_case(
        {"p.yaml": "county:\n  city_x_km: .inf\n"}, frags=("p.yaml", "city_x_km"), sub=True
    ),
    "run_file_neg_inf_position": run_case(
        {"p.yaml": "county:\n  city_y_km: -.inf\n"}, frags=("p.yaml", "city_y_km"), sub=True
    ),
    "run_file_1e308_position": run_case(
        {"p.yaml": "county:\n  city_x_km: 1.0e+308\n"}, frags=("p.yaml", "city_x_km"), sub=True
    ),
    "run_file_inf_price": run_case(
        {"p.yaml": "facilities:\n  county_people:\n    price_visit: .inf\n"}, frags=("p.yaml", "price_visit"), sub=True
    ),
    "run_file_inf_beds": run_case(
        {"p.yaml": "facilities:\n  county_people:\n    beds: .inf\n"}, frags=("p.yaml", "beds"), sub=True
    ),
    "run_file_1e308_length_of_stay": run_case(
        {"p.yaml": "facilities:\n  county_people:\n    length_of_stay: 1.0e+308\n"},
        frags=("p.yaml", "length_of_stay"),
        sub=True,
    ),
    "run_file_nan_trust_weight": run_case(
        {"p.yaml": "choice:\n  minor:\n    trust: .nan\n"}, frags=("p.yaml", "trust"), sub=True
    ),
    # (no --scale / --days flag here: the flag would win over the file's value)
    "run_file_nan_scale": Case(
        ["run", "p.yaml", "--out", "out", "--days", "2", "--set", "run.burn_in_days=0"],
        {"p.yaml": "run:\n  scale: .nan\n"},
        ("p.yaml", "scale"),
        sub=True,
    ),
    "run_file_inf_days": Case(
        ["run", "p.yaml", "--out", "out", "--scale", "0.002", "--set", "run.burn_in_days=0"],
        {"p.yaml": "run:\n  days: .inf\n"},
        ("p.yaml", "days"),
    ),
    "run_file_doctors_1e308": run_case(
        {"p.yaml": "facilities:\n  township_centre:\n    doctors:\n      internal_general: 1.0e+308\n"},
        frags=("p.yaml", "internal_general"),
        sub=True,
    ),
    "run_file_doctors_inf": run_case(
        {"p.yaml": "facilities:\n  township_centre:\n    doctors:\n      internal_general: .inf\n"},
        frags=("p.yaml", "internal_general"),
        sub=True,
    ),
    "run_file_population_1e12": run_case(
        {"p.yaml": "county:\n  population: 1000000000000\n"}, frags=("p.yaml", "population"), sub=True
    ),
    # -- --set and the flags: the same numbers
    "set_nan_position": set_case("county.city_x_km=.nan", frags=("--set", "city_x_km"), sub=True),
    "set_inf_price": set_case("facilities.village_clinic.price_visit=.inf", frags=("--set", "price_visit"), sub=True),
    "set_neg_inf_position": set_case("county.city_y_km=-.inf", frags=("--set", "city_y_km"), sub=True),
    "set_1e308_position": set_case("county.city_x_km=1e308", frags=("--set", "city_x_km"), sub=True),
    "set_nan_rate": set_case(
        "insurance.outpatient.township.reimbursement=.nan", frags=("--set", "reimbursement"), sub=True
    ),
    "set_doctors_inf": set_case(
        "facilities.township_centre.doctors.internal_general=.inf", frags=("--set", "internal_general"), sub=True
    ),
    "set_doctors_1e308": set_case(
        "facilities.township_centre.doctors.internal_general=1e308", frags=("--set", "internal_general"), sub=True
    ),
    "set_population_1e12": set_case("county.population=1000000000000", frags=("--set", "population"), sub=True),
    "flag_scale_nan": run_case(None, "--scale", "nan", frags=("--scale",), sub=True),
    "flag_scale_inf": run_case(None, "--scale", "inf", frags=("--scale",), sub=True),
    "flag_scale_too_small_for_one_resident": run_case(None, "--scale", "1e-12", frags=("--scale",), sub=True),
    # -- duplicated keys are errors, not "last wins"
    "dup_key_nested": run_case({"p.yaml": "run:\n  days: 3\n  days: 4\n"}, frags=("p.yaml", "days")),
    "dup_key_top_level": run_case({"p.yaml": "run: {seed: 1}\nrun: {seed: 2}\n"}, frags=("p.yaml", "run")),
    "dup_key_flow_mapping": run_case({"p.yaml": "run: {seed: 1, seed: 2}\n"}, frags=("p.yaml", "seed")),
    "dup_key_in_extended_file": run_case(
        {"base.yaml": "run:\n  seed: 1\n  seed: 2\n", "p.yaml": "extends: base.yaml\n"}, frags=("base.yaml", "seed")
    ),
    # -- --set that reshapes the parameters
    "set_section_to_number": set_case("run=5", frags=("--set run", "5")),
    "set_townships_empty": set_case("county.townships=[]", frags=("--set", "townships"), sub=True),
    "set_index_out_of_range": set_case("county.townships.99.population=5", frags=("--set", "townships.99")),
    "set_index_not_a_number": set_case("county.townships.x.population=5", frags=("--set", "townships.x")),
    "set_through_a_number": set_case("run.seed.x=3", frags=("--set", "run.seed")),
    "set_not_key_value": set_case("run.days", frags=("--set", "run.days")),
    "set_key_with_newline": set_case("run.da\nys=3", frags=("--set", "run.da")),
    # -- messages that would not be one short line
    "file_key_with_newline": run_case({"p.yaml": 'run:\n  "da\\nys": 3\n'}, frags=("p.yaml", "run.da")),
    "file_long_unknown_key": run_case({"p.yaml": "run:\n  " + "d" * 1000 + ": 3\n"}, frags=("p.yaml", "run.ddd")),
    "file_long_bad_value": run_case({"p.yaml": "run:\n  seed: " + "x" * 2000 + "\n"}, frags=("p.yaml", "seed")),
    "file_name_with_newline": run_case({"p\nq.yaml": "run: {dayz: 3}\n"}, frags=("dayz", "q.yaml"), params="p\nq.yaml"),
    # -- dates
    "file_date_month_13": run_case({"p.yaml": "run:\n  start_date: 2023-13-01\n"}, frags=("p.yaml", DATE_SPOT)),
    "file_date_feb_30": run_case({"p.yaml": "run:\n  start_date: 2023-02-30\n"}, frags=("p.yaml", DATE_SPOT)),
    "set_date_month_13": set_case("run.start_date=2023-13-01", frags=("--set", "start_date")),
    "set_date_feb_30": set_case("run.start_date=2023-02-30", frags=("--set", "start_date")),
    "file_date_end_of_calendar": run_case(
        {"p.yaml": "run:\n  start_date: 9999-12-30\n  days: 10\n"}, "--days", "10", frags=("p.yaml", "run."), sub=True
    ),
    "set_date_end_of_calendar": set_case(
        "run.start_date=9999-12-30", extra=("--days", "10"), frags=("run.",), sub=True
    ),
    "file_date_year_one": run_case(
        {"p.yaml": "run:\n  start_date: 0001-01-01\n"},
        "--set",
        "run.burn_in_days=365",
        frags=("p.yaml", "run."),
        sub=True,
    ),
    "set_date_year_one": set_case("run.start_date=0001-01-01", "run.burn_in_days=30", frags=("run.",), sub=True),
    # -- seeds
    "file_seed_2_63": run_case({"p.yaml": "run:\n  seed: 9223372036854775808\n"}, frags=("p.yaml", "seed"), sub=True),
    "file_seed_2_64": run_case({"p.yaml": "run:\n  seed: 18446744073709551616\n"}, frags=("p.yaml", "seed"), sub=True),
    "file_seed_negative": run_case({"p.yaml": "run:\n  seed: -5\n"}, frags=("p.yaml", "seed")),
    "flag_seed_2_63": run_case(None, "--seed", "9223372036854775808", frags=("--seed",), sub=True),
    "flag_seed_2_64": run_case(None, "--seed", "18446744073709551616", frags=("--seed",), sub=True),
    "flag_seed_negative": run_case(None, "--seed", "-1", frags=("--seed",)),
    # -- YAML alias bombs and deep nesting (one short line, quickly)
    "alias_bomb_under_unknown_key": run_case({"p.yaml": "zz_unknown:\n" + alias_bomb()}, frags=("p.yaml",), sub=True),
    "alias_bomb_under_int_key": run_case(
        {"p.yaml": "run:\n  seed: " + alias_bomb_flow() + "\n"}, frags=("p.yaml",), sub=True
    ),
    "alias_bomb_under_section": run_case(
        {"p.yaml": "policies:\n  gatekeeping: " + alias_bomb_flow() + "\n"}, frags=("p.yaml",), sub=True
    ),
    "alias_bomb_in_set": set_case(
        "run.seed=" + alias_bomb_flow(), frags=("--set", "seed"), sub=True
    ),  # not run.days: the --days flag would win over it
    "deeply_nested_yaml": run_case(
        {"p.yaml": "zz_unknown: " + "[" * 100_000 + "]" * 100_000 + "\n"}, frags=("p.yaml",), sub=True
    ),
    # -- what the parameter file is
    "params_fifo": run_case({}, frags=("p.yaml",), setup=mkfifo("p.yaml"), sub=True, timeout=20),
    "params_dev_zero": run_case({}, frags=("/dev/zero",), params="/dev/zero", sub=True),
    "params_symlink_to_dev_zero": run_case({}, frags=("p.yaml",), setup=symlink("p.yaml", "/dev/zero"), sub=True),
    "out_is_a_symbolic_link": run_case(
        None,
        "--out",
        "lnk",
        frags=("--out lnk", "symbolic link"),
        setup=lambda d: ((d / "real").mkdir(), os.symlink("real", d / "lnk")),
    ),
    "params_directory": run_case({}, frags=("p.yaml",), setup=mkdir("p.yaml")),
    "params_binary": run_case({"p.yaml": bytes(range(256)) * 16}, frags=("p.yaml",)),
    "params_nul_byte": run_case({"p.yaml": b"run: {seed: 3}\x00\n"}, frags=("p.yaml",)),
    "params_utf16": run_case({"p.yaml": OK.encode("utf-16")}, frags=("p.yaml",)),
    "params_python_tag": run_case({"p.yaml": "run: !!python/object/apply:os.getpid []\n"}, frags=("p.yaml",)),
    "params_50_mb": run_case({}, frags=("p.yaml",), setup=big_file("p.yaml", 50), sub=True),
    "params_missing": run_case({}, frags=("nope.yaml",), params="nope.yaml"),
    "extends_dev_zero": run_case(
        {"p.yaml": "extends: /dev/zero\n"}, frags=("/dev/zero", r"re:p\.yaml|extends"), sub=True
    ),
    "extends_fifo": run_case(
        {"p.yaml": "extends: f.yaml\n"}, frags=("f.yaml",), setup=mkfifo("f.yaml"), sub=True, timeout=20
    ),
    # -- where the run writes
    "out_existing_file": run_case(
        {"p.yaml": OK, "taken": "not a directory\n"}, "--out", "taken", frags=("--out", "taken")
    ),
    "out_inside_a_file": run_case(
        {"p.yaml": OK, "taken": "not a directory\n"}, "--out", "taken/sub", frags=("--out", "taken")
    ),
    "out_unwritable": run_case(
        None,
        "--out",
        UNWRITABLE,
        frags=("--out", UNWRITABLE.split("/")[-2] if not IS_ROOT else "health_sim_out"),
        codes=(1, 2),
        setup=UNWRITABLE_SETUP,
    ),
    "out_researchers_folder": run_case(
        {"p.yaml": OK, "thesis/chapter1.tex": "\\chapter{Introduction}\n"}, "--out", "thesis", frags=("--out", "thesis")
    ),
    "out_copy_of_params_scenarios": run_case(
        None, "--out", "scen", frags=("--out", "scen"), setup=copy_scenarios("scen")
    ),
    "out_working_directory": run_case(None, "--out", ".", frags=("--out",)),
    "out_empty_string": run_case(None, "--out", "", frags=("--out",)),
    "out_full_disk": run_case(None, "--out", "results", frags=("results",), codes=(1,), sub=True, fsize=4000),
    "compile_cache_full_disk": run_case(
        None,
        "--out",
        "results",
        frags=("no space left", "File too large"),
        codes=(1,),
        sub=True,
        fsize=4000,
        cold_cache=True,
    ),
    # -- --county and county sets given to run
    "county_missing": run_case(None, "--county", "nope", frags=("nope",)),
    "county_is_a_file": run_case({"p.yaml": OK, "cs": "a file\n"}, "--county", "cs", frags=("cs",)),
    "county_csv_nan": with_county(files=cs(townships_csv=townships(x="nan")), frags=("townships.csv", "x_km")),
    "county_csv_inf": with_county(files=cs(townships_csv=townships(x="inf")), frags=("townships.csv", "x_km")),
    "county_csv_neg_inf": with_county(files=cs(townships_csv=townships(y="-inf")), frags=("townships.csv", "y_km")),
    "county_csv_1e308": with_county(files=cs(townships_csv=townships(x="1e308")), frags=("townships.csv", "x_km")),
    "county_csv_duplicate_column": with_county(
        files=cs(townships_csv=townships(header="name,population,villages,x_km,y_km,x_km", extra=",7")),
        frags=("townships.csv", "x_km"),
    ),
    "county_yaml_nan": with_county(
        files=cs(county_yaml=COUNTY_YAML.replace("city_x_km: 30.0", "city_x_km: .nan")),
        frags=("county.yaml", "city_x_km"),
    ),
    "county_yaml_duplicate_key": with_county(
        files=cs(county_yaml=COUNTY_YAML + "population: 30000\n"), frags=("county.yaml", "population")
    ),
    "county_facilities_doctors_inf": with_county(
        files=cs(facilities_csv="type,doctors_internal_general\ntownship_centre,inf\n"),
        frags=("facilities.csv", "doctors_internal_general"),
    ),
    "county_villages_minutes_inf": with_county(
        files=cs(
            townships_csv=LISTED_TOWNSHIPS,
            villages_csv="township,name,population,x_km,y_km,minutes_county\nAlpha,A1,6000,0,1,10\nAlpha,A2,6000,1,0,12\nBeta,B1,8000,10,6,inf\n",
        ),
        frags=("villages.csv", "minutes_county"),
    ),
    "county_village_in_unknown_township": with_county(
        files=cs(townships_csv=LISTED_TOWNSHIPS, villages_csv=VILLAGES + "Gamma,G1,100,3,3\n"),
        frags=("villages.csv", "township", "Gamma"),
    ),
    "county_named_in_params_file_bad_cell": run_case(
        {"p.yaml": "county: cs\n", **cs(townships_csv=townships(x="nan"))}, frags=("townships.csv", "x_km"), sub=True
    ),
    # -- health-sim county check
    "check_missing_townships_csv": check(cs(townships_csv=None), ("townships.csv",), sub=False),
    "check_unknown_column": check(
        cs(townships_csv=townships(header="name,population,villages,x_kmm,y_km")), ("townships.csv", "x_kmm"), sub=False
    ),
    "check_duplicate_column": check(
        cs(townships_csv=townships(header="name,population,villages,x_km,y_km,x_km", extra=",7")),
        ("townships.csv", "x_km"),
    ),
    "check_csv_nan": check(cs(townships_csv=townships(x="nan")), ("townships.csv", "x_km")),
    "check_csv_inf": check(cs(townships_csv=townships(x="inf")), ("townships.csv", "x_km")),
    "check_csv_neg_inf": check(cs(townships_csv=townships(y="-inf")), ("townships.csv", "y_km")),
    "check_csv_1e308": check(cs(townships_csv=townships(x="1e308")), ("townships.csv", "x_km")),
    "check_csv_population_nan": check(
        cs(townships_csv="name,population,villages,x_km,y_km\nAlpha,nan,3,0,0\nBeta,8000,2,10,5\n"),
        ("townships.csv", "population"),
        sub=False,
    ),
    "check_village_in_unknown_township": check(
        cs(townships_csv=LISTED_TOWNSHIPS, villages_csv=VILLAGES + "Gamma,G1,100,3,3\n"),
        ("villages.csv", "township", "Gamma"),
        sub=False,
    ),
    "check_county_yaml_duplicate_key": check(
        cs(county_yaml=COUNTY_YAML + "population: 30000\n"), ("county.yaml", "population")
    ),
    "check_county_yaml_population_1e12": check(
        cs(county_yaml=COUNTY_YAML.replace("population: 20000", "population: 1000000000000")),
        ("county.yaml", "population"),
    ),
    "check_county_yaml_symlink_to_dev_zero": Case(
        ["county", "check", "cs"],
        {"cs/townships.csv": townships()},
        ("county.yaml",),
        sub=True,
        setup=symlink("cs/county.yaml", "/dev/zero"),
    ),
    "check_facilities_doctors_inf": check(
        cs(facilities_csv="type,doctors_internal_general\ntownship_centre,inf\n"),
        ("facilities.csv", "doctors_internal_general"),
    ),
    "check_facilities_price_nan": check(
        cs(facilities_csv="type,price_visit\ncounty_people,nan\n"), ("facilities.csv", "price_visit")
    ),
    # -- health-sim county new
    "new_from_bad_cell": Case(
        ["county", "new", "mine", "--from", "cs"],
        cs(townships_csv=townships(x="nan")),
        ("townships.csv", "x_km"),
        sub=True,
    ),
    "new_from_duplicate_column": Case(
        ["county", "new", "mine", "--from", "cs"],
        cs(townships_csv=townships(header="name,population,villages,x_km,y_km,x_km", extra=",7")),
        ("townships.csv", "x_km"),
        sub=True,
    ),
    "new_from_missing": Case(["county", "new", "mine", "--from", "nope"], {}, ("nope",)),
    "new_into_a_file": Case(["county", "new", "taken"], {"taken": "a file\n"}, ("taken",)),
    "new_into_an_existing_set": Case(["county", "new", "cs"], cs(), ("cs", "county.yaml")),
    "new_unwritable": Case(["county", "new", "/proc/health_sim_county"], {}, ("health_sim_county",), codes=(1, 2)),
    # -- health-sim scenarios
    "scenarios_scale_zero": scen("--scale", "0", frags=("--scale",)),
    "scenarios_scale_nan": scen("--scale", "nan", frags=("--scale",)),
    "scenarios_reps_zero": scen("--reps", "0", frags=("--reps",)),
    "scenarios_jobs_zero": scen("--jobs", "0", frags=("--jobs",)),
    "scenarios_days_negative": scen("--days", "-1", frags=("--days",)),
    "scenarios_days_too_many": scen("--days", "100000", "--no-ensemble", frags=("--days",)),
    "scenarios_seed_negative": scen("--seed", "-1", "--no-ensemble", frags=("--seed",)),
    "scenarios_only_unknown": scen("--only", "nope", "--no-ensemble", frags=("--only", "nope")),
    "scenarios_ensemble_missing": scen("--ensemble", "missing.yaml", frags=("--ensemble", "missing.yaml")),
    "scenarios_ensemble_empty": scen(
        "--ensemble", "bad.yaml", frags=("bad.yaml", "ensemble"), files={"bad.yaml": "ensemble: []\n"}
    ),
    "scenarios_ensemble_and_no_ensemble": scen(
        "--ensemble",
        "bad.yaml",
        "--no-ensemble",
        frags=("--ensemble", "--no-ensemble"),
        files={"bad.yaml": "ensemble: []\n"},
    ),
    "scenarios_out_is_a_file": scen(
        "--out", "taken", "--no-ensemble", frags=("--out", "taken"), files={"taken": "a file\n"}
    ),
    # -- health-sim fit
    "fit_waves_too_many": Case(["fit", "f.yaml", "--waves", "99"], {"f.yaml": "name: f\n"}, ("--waves", "99")),
    "fit_walkers_too_few": Case(
        ["fit", "f.yaml"], {"f.yaml": FIT_FILE.replace("walkers: 64", "walkers: 3")}, ("f.yaml", "walkers")
    ),
    "fit_unknown_key": Case(
        ["fit", "f.yaml"], {"f.yaml": FIT_FILE.replace("walkers: 64", "walkerz: 64")}, ("f.yaml", "walkerz")
    ),
    "fit_prior_low_above_high": Case(
        ["fit", "f.yaml"],
        {
            "f.yaml": FIT_FILE.replace(
                "tcm.uptake_grassroots: {low: 0.35, high: 0.6", "tcm.uptake_grassroots: {low: 0.6, high: 0.35"
            )
        },
        ("f.yaml", "tcm.uptake_grassroots"),
    ),
    # -- health-sim sweep
    "sweep_unknown_key": sweep(sweep_file("replicates: 1", "replicatez: 1"), frags=("s.yaml", "replicatez")),
    "sweep_unknown_factor_key": sweep(
        sweep_file("outpatient_grassroots_increase: {values", "outpatient_grassroots_increse: {values"),
        frags=("s.yaml", "outpatient_grassroots_increse"),
    ),
    "sweep_factor_low_above_high": sweep(
        sweep_file(SWEEP_FACTOR, "  policies.reimbursement.outpatient_grassroots_increase: {low: 0.3, high: 0.1}\n"),
        frags=("s.yaml", "outpatient_grassroots_increase"),
    ),
    "sweep_factor_values_empty": sweep(
        sweep_file("{values: [0.0, 0.1]}", "{values: []}"), frags=("s.yaml", "outpatient_grassroots_increase")
    ),
    "sweep_factor_low_nan": sweep(
        sweep_file(SWEEP_FACTOR, "  policies.reimbursement.outpatient_grassroots_increase: {low: .nan, high: 0.3}\n"),
        frags=("s.yaml", "outpatient_grassroots_increase"),
    ),
    "sweep_factor_high_inf": sweep(
        sweep_file(SWEEP_FACTOR, "  choice.minor.trust: {values: [1.0, .inf]}\n"), frags=("s.yaml", "trust")
    ),
    "sweep_factor_range_to_inf": sweep(
        sweep_file(SWEEP_FACTOR, "  choice.minor.trust: {low: 1.0, high: .inf}\n"), frags=("s.yaml", "trust")
    ),
    "sweep_factor_value_nan_unbounded": sweep(
        sweep_file(SWEEP_FACTOR, "  county.city_x_km: {values: [.nan]}\n"), frags=("s.yaml", "city_x_km")
    ),
    "sweep_grid_of_10_to_the_12": sweep(
        sweep_file("factors:\n" + SWEEP_FACTOR, SIX_FACTORS_100_LEVELS),
        frags=("s.yaml", GRID_SIZE),
        sub=True,
        timeout=30,
    ),
    "sweep_unknown_target": sweep(sweep_file(add="targets: [nope_target]\n"), frags=("s.yaml", "nope_target")),
    "sweep_targets_file_missing": sweep(
        sweep_file(f"targets_file: {TARGETS}", "targets_file: nope.yaml", add="targets: [grassroots_share_65]\n"),
        frags=("s.yaml", "targets_file"),
    ),
    "sweep_inline_target_nan_threshold": sweep(
        sweep_file(add="targets:\n  - {name: t, kpi: grassroots_share, threshold: .nan, year: 2023, source: s}\n"),
        frags=("s.yaml", "threshold"),
    ),
    "sweep_base_missing": sweep(sweep_file(f"base: {BASE_SCENARIO}", "base: nope.yaml"), frags=("s.yaml", "base")),
    "sweep_base_bad_key": sweep(
        sweep_file(f"base: {BASE_SCENARIO}", "base: b.yaml"),
        frags=("b.yaml", "dayz"),
        files={"b.yaml": "run: {dayz: 3}\n"},
    ),
    "sweep_base_dev_zero": sweep(sweep_file(f"base: {BASE_SCENARIO}", "base: /dev/zero"), frags=("zero",), sub=True),
    "sweep_duplicate_key": sweep(sweep_file(add="replicates: 2\n"), frags=("s.yaml", "replicates")),
    "sweep_lhs_with_values": sweep(
        sweep_file("design: {method: grid}", "design: {method: lhs, samples: 2}"), frags=("s.yaml", "lhs")
    ),
    "sweep_run_bad_key": sweep(
        sweep_file("  run.days: 2\n", "  run.days: 2\n  run.dayz: 3\n"), frags=("s.yaml", "dayz")
    ),
    "sweep_run_nan": sweep(
        sweep_file("  run.days: 2\n", "  run.days: 2\n  county.city_x_km: .nan\n"), frags=("s.yaml", "city_x_km")
    ),
    "sweep_seed_2_64": sweep(sweep_file("seed: 1", "seed: 18446744073709551616"), frags=("s.yaml", "seed")),
    "sweep_spec_missing": Case(["sweep", "nope.yaml", "--out", "sw"], {}, ("nope.yaml",)),
    "sweep_workers_zero": sweep(SWEEP, "--workers", "0", frags=("--workers",)),
    "sweep_workers_negative": sweep(SWEEP, "--workers", "-3", frags=("--workers",)),
    "sweep_executor_nope": sweep(SWEEP, "--executor", "nope", frags=("--executor", "nope")),
    "sweep_via_nope": sweep(SWEEP, "--via", "nope", frags=("--via", "nope")),
    "sweep_out_is_a_file": sweep(SWEEP, "--out", "taken", frags=("--out", "taken"), files={"taken": "a file\n"}),
    "sweep_out_researchers_folder": sweep(
        SWEEP, "--out", "thesis", frags=("--out", "thesis"), files={"thesis/chapter1.tex": "\\chapter{Introduction}\n"}
    ),
    "sweep_ensemble_missing": sweep(SWEEP, "--ensemble", "nope.yaml", frags=("nope.yaml",)),
    # -- health-sim optimize
    "optimize_unknown_key": opt(optimize_file("trials: 1", "trialz: 1"), frags=("o.yaml", "trialz")),
    "optimize_lever_without_range": opt(
        optimize_file("{low: 0.0, high: 0.3}", "{values: [0.1]}"), frags=("o.yaml", "levers")
    ),
    "optimize_unknown_lever": opt(
        optimize_file("outpatient_grassroots_increase: {low", "outpatient_grassroots_increse: {low"),
        frags=("o.yaml", "outpatient_grassroots_increse"),
    ),
    "optimize_lever_range_to_inf": opt(
        optimize_file(
            "  policies.reimbursement.outpatient_grassroots_increase: {low: 0.0, high: 0.3}\n",
            "  choice.minor.trust: {low: 1.0, high: .inf}\n",
        ),
        frags=("o.yaml", "trust"),
    ),
    "optimize_probability_above_1": opt(optimize_file(add="probability: 1.5\n"), frags=("o.yaml", "probability")),
    "optimize_probability_nan": opt(optimize_file(add="probability: .nan\n"), frags=("o.yaml", "probability")),
    "optimize_cost_inf": opt(
        optimize_file(add="cost: {yuan_per_doctor_day: .inf}\n"), frags=("o.yaml", "yuan_per_doctor_day")
    ),
    "optimize_target_year_outside_runs": opt(optimize_file("year: 2023", "year: 2030"), frags=("o.yaml", "targets")),
    "optimize_no_targets": opt(
        optimize_file(
            "targets:\n  - {name: t, kpi: grassroots_share, threshold: 0.5, year: 2023, source: test}\n",
            "targets: []\n",
        ),
        frags=("o.yaml", "targets"),
    ),
    "optimize_base_missing": opt(optimize_file(f"base: {BASE_SCENARIO}", "base: nope.yaml"), frags=("o.yaml", "base")),
    "optimize_seed_2_64": opt(optimize_file("seed: 1", "seed: 18446744073709551616"), frags=("o.yaml", "seed")),
    "optimize_duplicate_key": opt(optimize_file(add="trials: 2\n"), frags=("o.yaml", "trials")),
    "optimize_trials_zero": opt(OPTIMIZE, "--trials", "0", frags=("--trials",)),
    "optimize_workers_zero": opt(OPTIMIZE, "--workers", "0", frags=("--workers",)),
    "optimize_executor_nope": opt(OPTIMIZE, "--executor", "nope", frags=("--executor", "nope")),
    "optimize_out_is_a_file": opt(OPTIMIZE, "--out", "taken", frags=("--out", "taken"), files={"taken": "a file\n"}),
    # -- health-sim calibrate
    "calibrate_unknown_key": cal(calibrate_file("observed:", "observd:"), frags=("c.yaml", "observ")),
    "calibrate_unknown_kpi": cal(
        calibrate_file("kpi: grassroots_share", "kpi: grassroots_shares"), frags=("c.yaml", "kpi")
    ),
    "calibrate_tolerance_zero": cal(calibrate_file("tolerance: 0.01", "tolerance: 0"), frags=("c.yaml", "tolerance")),
    "calibrate_tolerance_nan": cal(calibrate_file("tolerance: 0.01", "tolerance: .nan"), frags=("c.yaml", "tolerance")),
    "calibrate_observed_value_inf": cal(calibrate_file("value: 0.67", "value: .inf"), frags=("c.yaml", "value")),
    "calibrate_prior_low_above_high": cal(
        calibrate_file("{low: 1.0, high: 2.0}", "{low: 2.0, high: 1.0}"), frags=("c.yaml", "trust")
    ),
    "calibrate_prior_log_from_zero": cal(
        calibrate_file("{low: 1.0, high: 2.0}", "{low: 0.0, high: 2.0, log: true}"), frags=("c.yaml", "trust")
    ),
    "calibrate_prior_to_inf": cal(
        calibrate_file("{low: 1.0, high: 2.0}", "{low: 1.0, high: .inf}"), frags=("c.yaml", "trust")
    ),
    "calibrate_no_parameters": cal(
        calibrate_file("parameters:\n  choice.minor.trust: {low: 1.0, high: 2.0}\n", "parameters: {}\n"),
        frags=("c.yaml", "parameters"),
    ),
    "calibrate_seed_2_64": cal(calibrate_file("seed: 1", "seed: 18446744073709551616"), frags=("c.yaml", "seed")),
    "calibrate_duplicate_key": cal(calibrate_file(add="trials: 2\n"), frags=("c.yaml", "trials")),
    "calibrate_trials_zero": cal(CALIBRATE, "--trials", "0", frags=("--trials",)),
    "calibrate_workers_zero": cal(CALIBRATE, "--workers", "0", frags=("--workers",)),
    "calibrate_executor_nope": cal(CALIBRATE, "--executor", "nope", frags=("--executor", "nope")),
    "calibrate_write_onto_a_folder": cal(
        CALIBRATE, "--write", "folder", frags=("--write", "folder"), files={"folder/keep.txt": "mine\n"}
    ),
    "calibrate_pool_missing": cal(CALIBRATE, "--pool", "nope", frags=("--pool", "nope")),
    "calibrate_out_is_a_file": cal(CALIBRATE, "--out", "taken", frags=("--out", "taken"), files={"taken": "a file\n"}),
    # -- health-sim params --out
    "params_out_into_missing_folder": Case(["params", "--out", "missing/baseline.yaml"], {}, ("--out", "missing")),
    "params_out_onto_a_folder": Case(["params", "--out", "folder"], {"folder/keep.txt": "mine\n"}, ("--out", "folder")),
    "params_out_inside_a_file": Case(
        ["params", "--out", "taken/baseline.yaml"], {"taken": "a file\n"}, ("--out", "taken")
    ),
    "params_out_dev_full": Case(["params", "--out", "/dev/full"], {}, ("--out", "/dev/full"), codes=(1, 2)),
    "params_out_full_disk": Case(
        ["params", "--out", "baseline.yaml"], {}, ("baseline.yaml",), codes=(1,), sub=True, fsize=4000
    ),
    "params_out_unwritable": Case(
        ["params", "--out", "/proc/health_sim_params.yaml"], {}, ("--out", "health_sim_params"), codes=(1, 2)
    ),
}


# --- running and checking a case --------------------------------------------------------


def listing(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` (hidden ones too, symlinks not followed) -> what it is.

    A file: its SHA-256 and size; a folder: its mode; a link: its target.
    """
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                out[rel] = ("file", st.st_size, h.hexdigest())
            else:
                out[rel] = ("special", stat.S_IFMT(st.st_mode))
    return out


def setup_case(case: Case, d: Path) -> None:
    for rel, content in case.files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    if case.setup is not None:
        case.setup(d)


def invoke(args: list[str]) -> Done:
    """``health-sim ARGS`` in-process; an exception escaping the command counts as a traceback."""
    from typer.testing import CliRunner

    from health_sim.cli import app

    result = CliRunner().invoke(app, args)
    err = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        e = result.exception
        err += f"Traceback (most recent call last) [in-process]: {type(e).__name__}: {e}"[:2000] + "\n"
    return Done(result.exit_code, result.stdout, err)


def _limits(fsize: int | None) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return apply


def run_process(
    cmd: list[str], cwd: Path, timeout: float, fsize: int | None = None, env: dict | None = None, limit: bool = True
) -> Done:
    """Run ``cmd`` in its own process group; on timeout kill that group (this case's processes only)."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=_limits(fsize) if limit else None, env=env,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Done(
            None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace") + f"[killed after {timeout:g} s]\n"
        )
    return Done(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def check_contract(case: Case, done: Done, before: dict, after: dict) -> None:
    problems = []
    if done.rc not in case.codes:
        problems.append(f"exit code {done.rc}, expected {' or '.join(map(str, case.codes))}")
    if done.stdout:
        problems.append(f"stdout not empty: {done.stdout[:200]!r}")
    err = done.stderr
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    if not (err.endswith("\n") and err.count("\n") == 1):
        problems.append(f"stderr is {err.count(chr(10))} lines, not one")
    line = err.rstrip("\n")
    if len(line) > MAX_LINE:
        problems.append(f"the line is {len(line)} characters (at most {MAX_LINE})")
    for f in case.frags:
        if f.startswith("re:"):
            if not re.search(f[3:], line):
                problems.append(f"the line does not match {f[3:]!r}")
        elif f not in line:
            problems.append(f"the line does not name {f!r}")
    if after != before:
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
        problems.append(f"disk changed: added {added[:8]}, removed {removed[:8]}, changed {changed[:8]}")
    assert not problems, "; ".join(problems) + f"\nstderr: {err[:600]!r}"


@pytest.fixture(scope="module", autouse=True)
def repository_untouched():
    """The repository's outputs/ (recursively) and root listing are the same after the module."""
    ignore = {".git", ".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache", "__pycache__"}

    def snapshot() -> dict:
        root = {p.name: p.lstat().st_mtime_ns for p in REPO.iterdir() if p.name not in ignore}
        outputs = {}
        if (REPO / "outputs").exists():
            for dirpath, dirnames, filenames in os.walk(REPO / "outputs"):
                for name in dirnames + filenames:
                    p = Path(dirpath) / name
                    st = p.lstat()
                    outputs[str(p.relative_to(REPO))] = (st.st_mtime_ns, st.st_size)
        return {"root": root, "outputs": outputs}

    before = snapshot()
    yield
    after = snapshot()
    for part in ("root", "outputs"):
        added = sorted(set(after[part]) - set(before[part]))
        removed = sorted(set(before[part]) - set(after[part]))
        changed = sorted(k for k in set(before[part]) & set(after[part]) if before[part][k] != after[part][k])
        assert not (added or removed or changed), (
            f"the module changed the repository's {part}: "
            f"added {added[:10]}, removed {removed[:10]}, changed {changed[:10]}"
        )


def warm_compile_cache(where: Path) -> None:
    """Compile the engine into the shared compile cache (a tiny run in this process)."""
    where.mkdir()
    (where / "p.yaml").write_text(OK)
    done = invoke(["run", str(where / "p.yaml"), "--out", str(where / "out"), *SMALL_RUN])
    assert done.rc == 0, done.stderr


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, monkeypatch):
    case = CASES[name]
    d = tmp_path / "case"
    d.mkdir()
    setup_case(case, d)
    try:
        before = listing(d)
        if case.sub:
            env = None
            if case.fsize is not None and case.args[0] == "run":
                if case.cold_cache:
                    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
                else:  # the limit is for the output folder, not for compiling
                    warm_compile_cache(tmp_path / "warm")
            done = run_process([health_sim_exe(), *case.args], d, case.timeout, case.fsize, env=env)
        else:
            monkeypatch.chdir(d)
            done = invoke(case.args)
        after = listing(d)
    finally:
        for p in [d, *d.rglob("*")]:  # let pytest remove what a read-only folder holds
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o700)
    check_contract(case, done, before, after)


# --- not errors ---------------------------------------------------------------------------


def test_lever_with_parameters_but_off_is_a_warning(tmp_path):
    """Parameters given to a lever that is not switched on: it runs, with one warning naming the lever."""
    (tmp_path / "p.yaml").write_text("policies:\n  gatekeeping:\n    unreferred_reduction: 0.3\n", encoding="utf-8")
    done = run_process([health_sim_exe(), "run", "p.yaml", "--out", "out", *SMALL_RUN], tmp_path, SUB_TIMEOUT)
    assert done.rc == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings and any("policies.gatekeeping" in w for w in warnings), (
        f"no warning naming policies.gatekeeping: {done.stderr[:600]!r}"
    )
    assert (tmp_path / "out" / "kpis.json").exists()


def test_empty_params_file_is_fine(tmp_path, monkeypatch):
    """An empty parameter file is the defaults: not an error."""
    (tmp_path / "p.yaml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    done = invoke(["run", "p.yaml", "--out", "out", *SMALL_RUN])
    assert done.rc == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "p.yaml" not in done.stderr, done.stderr[:600]
    assert (tmp_path / "out" / "kpis.json").exists()


# --- the papermill template (slow: each case starts a kernel) --------------------------------

PAPERMILL_CASES = {
    "papermill_misspelt_scenario_parameter": ["-p", "scenari", str(BASE_SCENARIO)],
    "papermill_misspelt_days_parameter": ["-p", "scenario", str(BASE_SCENARIO), "-p", "dayz", "2"],
    "papermill_missing_scenario_file": ["-p", "scenario", "{tmp}/nope.yaml"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PAPERMILL_CASES))
def test_papermill_template_refuses(name, tmp_path):
    """``papermill notebooks/scenario.ipynb`` must exit non-zero and write no results.

    The only new file allowed is the executed notebook papermill itself keeps.
    """
    papermill = Path(sys.executable).parent / "papermill"
    args = [a.replace("{tmp}", str(tmp_path)) for a in PAPERMILL_CASES[name]]
    cmd = [
        str(papermill), str(TEMPLATE), str(tmp_path / "executed.ipynb"), "--cwd", str(REPO),
        "-p", "scale", "0.002", "-p", "replicates", "1", "-p", "days", "2",
        "-p", "out_dir", str(tmp_path / "results"), "-p", "figures", "False",
        "-y", "overrides: {run.burn_in_days: 0}", *args,
    ]  # fmt: skip
    env = dict(os.environ, HEALTH_SIM_SCALE="0.002", PATH=f"{papermill.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    before = listing(tmp_path)
    done = run_process(cmd, tmp_path, 180, env=env, limit=False)
    after = listing(tmp_path)
    new = sorted(set(after) - set(before) - {"executed.ipynb"})
    assert done.rc not in (0, None), f"exit code {done.rc}; stderr: {done.stderr[-600:]!r}"
    assert not new, f"results written: {new[:10]}"
