"""Loading parameters: the one-line error contract, ``extends:``, the baseline file, the hash.

These call :func:`health_sim.load_params` in-process; ``tests/test_cli.py`` checks the
same contract through the ``health-sim`` command (exit code, stderr, no output).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from health_sim.config.params import load_params, params_hash, to_yaml, with_overrides
from health_sim.config.schema import Params
from health_sim.core.errors import ParamsError

from .conftest import health_sim_exe

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "params" / "baseline.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(*args, **kw) -> str:
    """The message of the ParamsError that load_params(*args, **kw) raises; it must be one line."""
    with pytest.raises(ParamsError) as info:
        load_params(*args, **kw)
    msg = str(info.value)
    assert msg, "ParamsError with an empty message"
    assert "\n" not in msg and "\r" not in msg, f"ParamsError message is not one line: {msg!r}"
    return msg


def source_of(msg: str) -> str:
    """The part of a file-sourced message before the first ': ' (the file it names)."""
    return msg.split(": ", 1)[0]


def flatten(d, prefix=()) -> dict:
    """Nested dicts/lists -> {dotted key: leaf}."""
    if isinstance(d, dict):
        items = d.items()
    elif isinstance(d, list):
        items = enumerate(d)
    else:
        return {".".join(map(str, prefix)): d}
    out = {}
    for k, v in items:
        out.update(flatten(v, (*prefix, k)))
    return out


def diff(a: Params, b: Params) -> dict:
    fa, fb = flatten(a.model_dump(mode="json")), flatten(b.model_dump(mode="json"))
    return {k: (fa.get(k), fb.get(k)) for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k)}


# --- the error contract: one line naming the file (or --set / the flag) and the dotted key ---


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    p = write(tmp_path / "scen.yaml", "run: {dayz: 3}\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: run.dayz: "), msg
    assert "unknown" in msg and "'days'" in msg, msg


def test_unknown_top_level_key_suggests_section(tmp_path):
    p = write(tmp_path / "scen.yaml", "insurence: {}\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: insurence: "), msg
    assert "'insurance'" in msg, msg


def test_wrong_type_names_key_and_value(tmp_path):
    p = write(tmp_path / "scen.yaml", "run:\n  days: abc\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: run.days: "), msg
    assert "abc" in msg and "integer" in msg, msg


def test_rate_above_one(tmp_path):
    p = write(tmp_path / "scen.yaml", "insurance:\n  outpatient:\n    township:\n      reimbursement: 1.3\n")
    assert error_of(p) == f"{p}: insurance.outpatient.township.reimbursement: 1.3 is above 1"


def test_negative_county_population(tmp_path):
    p = write(tmp_path / "scen.yaml", "county:\n  population: -5\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: county.population: "), msg
    assert "-5" in msg, msg


def test_negative_township_population(tmp_path):
    p = write(
        tmp_path / "scen.yaml",
        "county:\n  townships:\n    - {name: Yangcheng, population: -3, villages: 1, x_km: 0, y_km: 0}\n",
    )
    assert error_of(p) == f"{p}: county.townships.0.population: -3 is negative"


def test_missing_file(tmp_path):
    p = tmp_path / "nope.yaml"
    msg = error_of(p)
    assert msg.startswith(f"{p}: "), msg
    assert "no such file" in msg, msg


def test_malformed_yaml_names_the_line(tmp_path):
    p = write(tmp_path / "scen.yaml", "run:\n  days: 3\n   seed: 4\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: "), msg
    assert "line 3" in msg, msg


def test_top_level_list(tmp_path):
    p = write(tmp_path / "scen.yaml", "- run\n- county\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: "), msg
    assert "list" in msg, msg


def test_empty_file_is_the_defaults(tmp_path):
    p = write(tmp_path / "empty.yaml", "# nothing overridden\n")
    assert load_params(p) == Params()


def test_extends_missing_file(tmp_path):
    p = write(tmp_path / "scen.yaml", "extends: nope.yaml\nrun: {days: 3}\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}: extends: "), msg
    assert "nope.yaml" in msg and "no such file" in msg, msg


def test_circular_extends(tmp_path):
    a = write(tmp_path / "a.yaml", "extends: b.yaml\n")
    write(tmp_path / "b.yaml", "extends: c.yaml\n")
    write(tmp_path / "c.yaml", "extends: a.yaml\n")
    msg = error_of(a)
    assert msg.startswith(f"{a}: extends: "), msg
    assert "circular" in msg, msg


def test_self_extends_is_circular(tmp_path):
    a = write(tmp_path / "a.yaml", "extends: a.yaml\n")
    assert "circular" in error_of(a)


def test_bad_key_in_extended_file_names_that_file(tmp_path):
    base = write(tmp_path / "base.yaml", "run:\n  dayz: 3\n")
    child = write(tmp_path / "scen" / "child.yaml", "extends: ../base.yaml\nrun: {seed: 4}\n")
    msg = error_of(child)
    assert Path(source_of(msg)).resolve() == base.resolve(), msg
    assert "run.dayz" in msg and "'days'" in msg, msg


def test_bad_value_in_extended_file_names_that_file(tmp_path):
    base = write(tmp_path / "base.yaml", "insurance:\n  outpatient:\n    township: {reimbursement: 1.3}\n")
    child = write(
        tmp_path / "child.yaml", "extends: base.yaml\ninsurance:\n  outpatient:\n    township: {deductible: 2}\n"
    )
    msg = error_of(child)
    assert Path(source_of(msg)).resolve() == base.resolve(), msg
    assert msg.endswith(": insurance.outpatient.township.reimbursement: 1.3 is above 1"), msg


def test_bad_key_in_extending_file_names_that_file(tmp_path):
    write(tmp_path / "base.yaml", "run: {days: 30}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nrun: {dayz: 3}\n")
    msg = error_of(child)
    assert Path(source_of(msg)).resolve() == child.resolve(), msg
    assert "run.dayz" in msg, msg


def test_extending_file_overriding_a_bad_value_names_itself(tmp_path):
    write(tmp_path / "base.yaml", "run: {days: 30}\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\nrun: {days: -4}\n")
    msg = error_of(child)
    assert Path(source_of(msg)).resolve() == child.resolve(), msg
    assert "run.days" in msg and "-4" in msg, msg


def test_cross_field_error_in_extended_file_names_that_file(tmp_path):
    base = write(tmp_path / "base.yaml", "county:\n  county_seat: Nowhere\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\ncounty:\n  name: Elsewhere\n")
    msg = error_of(child)
    assert "Nowhere" in msg, msg
    assert Path(source_of(msg)).resolve() == base.resolve(), msg


def test_malformed_extended_file_names_that_file(tmp_path):
    base = write(tmp_path / "base.yaml", "run: [1,\n")
    child = write(tmp_path / "child.yaml", "extends: base.yaml\n")
    msg = error_of(child)
    assert Path(source_of(msg)).resolve() == base.resolve(), msg
    assert "malformed" in msg.lower() or "yaml" in msg.lower(), msg


@pytest.mark.parametrize(
    "item, prefix, fragments",
    [
        ("run.dayz=3", "--set run.dayz: ", ["'days'"]),
        ("run.days=abc", "--set run.days: ", ["abc"]),
        (
            "insurance.outpatient.township.reimbursement=1.3",
            "--set insurance.outpatient.township.reimbursement: ",
            ["1.3 is above 1"],
        ),
        ("county.population=-5", "--set county.population: ", ["-5"]),
        ("county.townships.3.population=-7", "--set county.townships.3.population: ", ["-7 is negative"]),
        ("county.townships.99.population=1", "--set county.townships.99.population: ", ["99"]),
        ("run.days", "--set run.days", ["key=value"]),
    ],
)
def test_set_errors_name_set_and_key(tmp_path, item, prefix, fragments):
    p = write(tmp_path / "scen.yaml", "run: {seed: 4}\n")
    msg = error_of(p, [item])
    assert msg.startswith(prefix), msg
    assert str(p) not in msg, f"a --set error must not blame the file: {msg}"
    for f in fragments:
        assert f in msg, msg


@pytest.mark.parametrize(
    "key, flag, value, fragment",
    [
        ("run.scale", "--scale", 0, "0"),
        ("run.scale", "--scale", 1.5, "1.5"),
        ("run.days", "--days", -1, "-1"),
        ("run.seed", "--seed", -3, "-3"),
    ],
)
def test_flag_errors_name_the_flag(tmp_path, key, flag, value, fragment):
    p = write(tmp_path / "scen.yaml", "run: {seed: 4}\n")
    msg = error_of(p, flags={key: (flag, value)})
    assert msg.startswith(f"{flag}: "), msg
    assert fragment in msg and str(p) not in msg, msg


def test_precedence_file_then_set_then_flag(tmp_path):
    write(tmp_path / "base.yaml", "run: {days: 11, seed: 1, burn_in_days: 3}\n")
    p = write(tmp_path / "scen.yaml", "extends: base.yaml\nrun: {days: abc, seed: 2}\n")
    # --set repairs the file's bad value; the flag beats the file.
    params = load_params(p, ["run.days=12"], flags={"run.seed": ("--seed", 9), "run.scale": ("--scale", None)})
    assert (params.run.days, params.run.seed, params.run.burn_in_days, params.run.scale) == (12, 9, 3, 1.0)
    # a flag and --set of the same key is ambiguous: one line, not a silent winner
    with pytest.raises(ParamsError, match=r"^--seed and --set run.seed: both set run.seed; give one of them$"):
        load_params(p, ["run.days=12", "run.seed=5"], flags={"run.seed": ("--seed", 9)})


def test_set_accepts_a_mapping_of_dotted_keys():
    params = load_params(None, {"run.days": 7, "insurance.inpatient.county.deductible": 123.0})
    assert diff(params, Params()) == {"run.days": (7, 365), "insurance.inpatient.county.deductible": (123.0, 500.0)}


# --- extends ---


def test_extends_baseline_overrides_exactly_one_key(tmp_path):
    shutil.copy(BASELINE, tmp_path / "baseline.yaml")
    scen = write(
        tmp_path / "scenarios" / "cheap_township.yaml",
        "extends: ../baseline.yaml\ninsurance:\n  outpatient:\n    township:\n      reimbursement: 0.8\n",
    )
    got, base = load_params(scen), load_params(BASELINE)
    assert got != base
    assert diff(got, base) == {
        "insurance.outpatient.township.reimbursement": (0.8, base.insurance.outpatient.township.reimbursement)
    }


def test_extends_nested_merge_keeps_siblings_and_follows_a_chain(tmp_path, monkeypatch):
    write(
        tmp_path / "base.yaml", "run: {days: 30, seed: 5}\ninsurance:\n  outpatient:\n    township: {deductible: 3.0}\n"
    )
    write(
        tmp_path / "mid" / "mid.yaml",
        "extends: ../base.yaml\nrun: {seed: 9}\ninsurance:\n  outpatient:\n    township: {reimbursement: 0.8}\n",
    )
    leaf = write(tmp_path / "mid" / "deep" / "leaf.yaml", "extends: ../mid.yaml\nrun: {burn_in_days: 7}\n")
    # Paths in extends are relative to the extending file, not to the working directory.
    monkeypatch.chdir(tmp_path / "mid" / "deep")
    params = load_params(Path("leaf.yaml"))
    assert params == load_params(leaf)
    d = Params()
    expected = {
        "run.days": (30, d.run.days),
        "run.seed": (9, d.run.seed),
        "run.burn_in_days": (7, d.run.burn_in_days),
        "insurance.outpatient.township.deductible": (3.0, d.insurance.outpatient.township.deductible),
        "insurance.outpatient.township.reimbursement": (0.8, d.insurance.outpatient.township.reimbursement),
    }
    assert diff(params, d) == expected


def test_extends_key_is_not_a_parameter(tmp_path):
    write(tmp_path / "base.yaml", "run: {days: 30}\n")
    p = write(tmp_path / "scen.yaml", "extends: base.yaml\n")
    assert "extends" not in load_params(p).model_dump()
    assert load_params(p).run.days == 30


# --- the baseline file ---


def test_baseline_file_equals_schema_defaults():
    assert load_params(BASELINE) == load_params() == Params()


def test_baseline_file_text_equals_params_command():
    proc = subprocess.run([health_sim_exe(), "params"], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert proc.returncode == 0, proc.stderr
    committed = BASELINE.read_text(encoding="utf-8")
    assert proc.stdout == committed, (
        "params/baseline.yaml has drifted from the schema; regenerate it with "
        "`health-sim params --out params/baseline.yaml`"
    )


# --- hashing and the resolved YAML ---


def test_params_hash_stable_and_sensitive(tmp_path):
    a, b = load_params(), load_params(BASELINE)
    h = params_hash(a)
    assert len(h) == 64 and all(c in "0123456789abcdef" for c in h)
    assert params_hash(b) == h  # equal params from different sources
    assert params_hash(a) == h  # repeatable
    changed = with_overrides(a, {"insurance.outpatient.township.reimbursement": 0.61})
    assert params_hash(changed) != h
    assert params_hash(with_overrides(a, {"run.seed": a.run.seed + 1})) != h
    assert params_hash(with_overrides(changed, {"insurance.outpatient.township.reimbursement": 0.60})) == h


def test_resolved_yaml_round_trips(tmp_path):
    params = load_params(None, ["run.days=17", "county.townships.2.population=999", "run.start_date=2024-02-29"])
    p = write(tmp_path / "params.resolved.yaml", to_yaml(params))
    assert isinstance(yaml.safe_load(p.read_text(encoding="utf-8")), dict)
    back = load_params(p)
    assert back == params
    assert params_hash(back) == params_hash(params)
