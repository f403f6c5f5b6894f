"""Parameter uncertainty.

Reading a calibrated ensemble, drawing its members, replicates and sweeps that carry them (common parameters across
scenarios, overrides and factors winning), and the command line's --ensemble / --no-ensemble.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from health_sim.config.params import load_params, with_overrides
from health_sim.core.errors import ParamsError
from health_sim.experiments.ensemble import Ensemble, load_ensemble
from health_sim.experiments.scenario_runs import replicate_seeds, run_replicates
from health_sim.experiments.sweep import load_sweep, run_point, run_sweep, sweep_members

from .conftest import health_sim_exe

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "params" / "scenarios" / "baseline_2023.yaml"
STAY = "choice.stay_home_utility.minor"
TCM = "tcm.uptake_grassroots"
RUN = {"run.scale": 0.01, "run.days": 30, "run.burn_in_days": 10}
SEED = 5

# three members far apart (few or many visits; little or much TCM), so that they show in the KPIs
CALIBRATED = f"""# a hand-written calibrated file (only `ensemble` is read)
provenance: {{seed: 1}}
ensemble:
- {{trial: 4, distance: 0.3, values: {{{STAY}: 4.6, {TCM}: 0.32}}}}
- {{trial: 7, distance: 0.5, values: {{{STAY}: 6.9, {TCM}: 0.68}}}}
- {{trial: 9, distance: 0.6, values: {{{STAY}: 5.7, {TCM}: 0.5}}}}
"""
MEMBERS = {4: {STAY: 4.6, TCM: 0.32}, 7: {STAY: 6.9, TCM: 0.68}, 9: {STAY: 5.7, TCM: 0.5}}


@pytest.fixture
def calibrated(tmp_path) -> Path:
    f = tmp_path / "cal.yaml"
    f.write_text(CALIBRATED, encoding="utf-8")
    return f


def kpi_values(row: pd.Series) -> pd.Series:
    return row.drop(labels=[c for c in ("replicate", "seed", "member") if c in row.index]).astype(float)


# --- reading and drawing ------------------------------------------------------------------


def test_load_ensemble(calibrated):
    e = load_ensemble(calibrated)
    assert isinstance(e, Ensemble) and len(e) == 3 and e.path == calibrated
    assert e.trials == (4, 7, 9) and list(e.members) == [MEMBERS[4], MEMBERS[7], MEMBERS[9]]


def test_draw_is_deterministic_spans_the_members_and_depends_on_the_seed(calibrated):
    e = load_ensemble(calibrated)
    assert e.draw(7, 123) == e.draw(7, 123)
    for seed in range(10):
        d = e.draw(9, seed)
        assert len(d) == 9
        # every member once before any repeats, then again
        assert sorted(d[:3]) == [0, 1, 2] and sorted(d[3:6]) == [0, 1, 2] and sorted(d[6:]) == [0, 1, 2]
        assert e.draw(4, seed) == d[:4], "fewer replicates: a prefix of the same draw"
    assert len({tuple(e.draw(9, s)) for s in range(10)}) > 1, "the draw ignores the seed"
    assert e.overrides(3, 123) == [(e.trials[i], e.members[i]) for i in e.draw(3, 123)]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("provenance: {seed: 1}\n", "ensemble: missing or empty"),
        ("ensemble: []\n", "ensemble: missing or empty"),
        (
            f"ensemble:\n- {{trial: 1, values: {{{STAY}: 5.0}}}}\n- {{trial: 2, values: {{{STAY}: 'high'}}}}\n",
            "ensemble.1.values: must map parameter keys to numbers",
        ),
        (
            f"ensemble:\n- {{trial: 1, values: {{{STAY}: '5.0'}}}}\n",
            "ensemble.0.values: must map parameter keys to numbers",
        ),
        ("ensemble:\n- {trial: 1}\n", "ensemble.0.values: must map parameter keys to numbers"),
        ("ensemble:\n- {trial: 1, values: {}}\n", "ensemble.0.values: must map parameter keys to numbers"),
        ("ensemble: [\n", "malformed YAML"),
    ],
    ids=[
        "no-ensemble",
        "empty-ensemble",
        "value-a-word",
        "value-a-string",
        "no-values",
        "empty-values",
        "malformed-yaml",
    ],
)
def test_bad_calibrated_files_give_one_line(tmp_path, text, fragment):
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as e:
        load_ensemble(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ") and fragment in msg and "\n" not in msg, msg


def test_a_missing_calibrated_file_is_one_line(tmp_path):
    with pytest.raises(ParamsError) as e:
        load_ensemble(tmp_path / "nowhere.yaml")
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "nowhere.yaml")) and "no such file" in msg and "\n" not in msg, msg


# --- replicates drawing members -----------------------------------------------------------


def test_replicates_record_their_member_and_run_with_its_values(calibrated):
    r = run_replicates(BASE, replicates=3, seed=SEED, overrides=RUN, ensemble=calibrated)
    k = r.kpis
    e = load_ensemble(calibrated)
    assert "member" in k.columns and list(k["member"]) == [e.trials[i] for i in e.draw(3, SEED)]
    assert sorted(k["member"]) == [4, 7, 9], "three replicates should span the three members"
    assert list(k["seed"]) == replicate_seeds(SEED, 3)
    for _, row in k.iterrows():  # each replicate: the scenario with its member's values, its own seed
        alone = run_replicates(
            BASE, seeds=[int(row["seed"])], overrides={**RUN, **MEMBERS[int(row["member"])]}
        ).kpis.iloc[0]
        pd.testing.assert_series_equal(kpi_values(row), kpi_values(alone), check_names=False)
    # without an ensemble: no member column, and other results
    plain = run_replicates(BASE, replicates=3, seed=SEED, overrides=RUN).kpis
    assert "member" not in plain.columns
    assert not (plain["visits_total"].to_numpy() == k["visits_total"].to_numpy()).all()


def test_different_members_give_different_results_on_the_same_seed(calibrated):
    s = replicate_seeds(SEED, 1)[0]
    k = run_replicates(BASE, seeds=[s, s, s], seed=SEED, overrides=RUN, ensemble=calibrated).kpis
    assert k["member"].nunique() == 3 and k["seed"].nunique() == 1
    assert k["visits_total"].nunique() == 3 and k["tcm_share"].nunique() == 3
    by = k.set_index("member")
    # fewer visits when staying home is worth more; more TCM with more uptake
    assert by.loc[7, "visits_total"] < by.loc[9, "visits_total"] < by.loc[4, "visits_total"]
    assert by.loc[4, "tcm_share"] < by.loc[9, "tcm_share"] < by.loc[7, "tcm_share"]


def test_two_scenarios_get_the_same_members_in_the_same_replicates(calibrated):
    other = with_overrides(
        load_params(BASE),
        {"policies.reimbursement.enabled": True, "policies.reimbursement.outpatient_grassroots_increase": 0.3},
    )
    a = run_replicates(BASE, replicates=4, seed=SEED, overrides=RUN, ensemble=calibrated).kpis
    b = run_replicates(other, replicates=4, seed=SEED, overrides=RUN, ensemble=calibrated).kpis
    assert list(a["member"]) == list(b["member"]) and list(a["seed"]) == list(b["seed"])
    assert a["member"].nunique() == 3
    # and the policy still makes a difference on the same residents and parameters
    assert not (a["grassroots_share"].to_numpy() == b["grassroots_share"].to_numpy()).all()
    # an Ensemble object gives the same as its file
    c = run_replicates(BASE, replicates=4, seed=SEED, overrides=RUN, ensemble=load_ensemble(calibrated)).kpis
    pd.testing.assert_frame_equal(a, c)


def test_overrides_win_over_members(calibrated):
    k = run_replicates(BASE, replicates=2, seed=SEED, overrides={**RUN, TCM: 0.9}, ensemble=calibrated).kpis
    assert k["member"].nunique() == 2
    for _, row in k.iterrows():
        member = MEMBERS[int(row["member"])]
        won = run_replicates(BASE, seeds=[int(row["seed"])], overrides={**RUN, **member, TCM: 0.9}).kpis.iloc[0]
        lost = run_replicates(BASE, seeds=[int(row["seed"])], overrides={**RUN, **member}).kpis.iloc[0]
        pd.testing.assert_series_equal(kpi_values(row), kpi_values(won), check_names=False)
        assert row["tcm_share"] > lost["tcm_share"], "the override of uptake to 0.9 did not apply"


# --- sweeps ---------------------------------------------------------------------------------


def sweep_file(folder: Path, ensemble: str = "cal.yaml") -> Path:
    f = folder / "sw.yaml"
    f.write_text(
        f"""name: sw
base: {BASE}
factors:
  {STAY}: {{values: [5.74]}}
replicates: 3
kpis: [grassroots_share, visits_total, tcm_share]
run: {{run.scale: 0.01, run.days: 30, run.burn_in_days: 10}}
seed: {SEED}
ensemble: {ensemble}
""",
        encoding="utf-8",
    )
    return f


def test_sweep_with_an_ensemble_records_members_and_factors_win(calibrated, tmp_path):
    f = sweep_file(tmp_path)  # the calibrated file named relative to the sweep file
    spec, _ = load_sweep(f)
    e = load_ensemble(calibrated)
    drawn = [e.trials[i] for i in e.draw(3, SEED)]
    assert [m for m, _ in sweep_members(spec, f)] == drawn
    table, out = run_sweep(f, out=tmp_path / "out", workers=1, progress=False)
    assert out == tmp_path / "out" and (table["status"] == "ok").all(), table.get("error")
    assert list(table["member"]) == drawn and list(table["seed"]) == replicate_seeds(SEED, 3)
    for _, row in table.iterrows():  # the member's values, but the factor's value for the key they share
        values = {**MEMBERS[int(row["member"])], STAY: 5.74}
        alone = run_point(str(BASE), RUN, values, int(row["seed"]), ["grassroots_share", "visits_total", "tcm_share"])
        for k in ("grassroots_share", "visits_total", "tcm_share"):
            assert row[k] == pytest.approx(alone[k], rel=1e-12), k
    # the members' TCM uptakes differ, so the replicates' TCM shares do
    assert table["tcm_share"].nunique() == 3


def test_sweep_without_an_ensemble_has_no_member_column(tmp_path):
    f = sweep_file(tmp_path)
    f.write_text(f.read_text().replace("ensemble: cal.yaml\n", ""), encoding="utf-8")
    spec, _ = load_sweep(f)
    assert sweep_members(spec, f) == [(None, {})] * 3


def test_sweep_with_a_missing_ensemble_is_one_line_at_load(tmp_path):
    f = sweep_file(tmp_path, ensemble="no_such_calibration.yaml")
    with pytest.raises(ParamsError) as e:
        load_sweep(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ensemble: ") and "no_such_calibration.yaml: no such file" in msg and "\n" not in msg, (
        msg
    )
    assert not (tmp_path / "out").exists()


def test_sweep_with_an_ensemble_of_unknown_keys_is_one_line_naming_the_key(tmp_path):
    (tmp_path / "cal.yaml").write_text(
        "ensemble:\n- {trial: 1, values: {tcm.uptake_grasroots: 0.5}}\n", encoding="utf-8"
    )
    f = sweep_file(tmp_path)
    with pytest.raises(ParamsError) as e:
        load_sweep(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ensemble: ") and "\n" not in msg, msg
    assert "uptake_grasroots" in msg, msg


def test_sweep_checks_every_member_at_load(tmp_path):
    (tmp_path / "cal.yaml").write_text(
        f"ensemble:\n- {{trial: 1, values: {{{TCM}: 0.5}}}}\n- {{trial: 2, values: {{tcm.uptake_grasroots: 0.5}}}}\n",
        encoding="utf-8",
    )
    f = sweep_file(tmp_path)
    with pytest.raises(ParamsError) as e:
        load_sweep(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ensemble: ") and "\n" not in msg, msg


def test_load_sweep_with_an_ensemble_accepts_a_str_path(calibrated, tmp_path):
    f = sweep_file(tmp_path)
    spec, _ = load_sweep(str(f))
    assert spec.ensemble == "cal.yaml"


# --- the command line -------------------------------------------------------------------------


def scenarios_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            health_sim_exe(),
            "scenarios",
            "--only",
            "baseline_2023",
            "--scale",
            "0.01",
            "--reps",
            "1",
            "--days",
            "30",
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "out"),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_ensemble_and_no_ensemble_together_are_refused(calibrated, tmp_path):
    done = scenarios_cli(["--ensemble", str(calibrated), "--no-ensemble"], tmp_path)
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert lines == ["--ensemble and --no-ensemble: choose one"], done.stderr
    assert not (tmp_path / "out" / "scenarios").exists()


def test_cli_bad_ensemble_is_one_line_before_any_run(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("provenance: {}\n", encoding="utf-8")
    done = scenarios_cli(["--ensemble", str(bad)], tmp_path)
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}: ensemble: missing or empty"), done.stderr
    assert not (tmp_path / "out" / "scenarios").exists() and not (tmp_path / "out" / "scorecard.csv").exists()


def test_sweep_run_overrides_win_over_members(tmp_path):
    """A sweep's `run` overrides are the experiment's conditions: a member never changes them."""
    (tmp_path / "cal.yaml").write_text(
        "provenance: {seed: 1}\n"
        f"ensemble:\n- {{trial: 1, distance: 0.1, values: {{{TCM}: 0.68, run.burn_in_days: 20}}}}\n",
        encoding="utf-8",
    )
    f = sweep_file(tmp_path)
    table, _ = run_sweep(f, out=tmp_path / "out", workers=1, progress=False)
    assert (table["status"] == "ok").all(), table.get("error")
    row = table.iloc[0]
    alone = run_point(
        str(BASE), RUN, {TCM: 0.68, STAY: 5.74}, int(row["seed"]), ["tcm_share"]
    )  # burn-in 10 (run), not 20 (member)
    assert row["tcm_share"] == pytest.approx(alone["tcm_share"], rel=1e-12)


def test_ensemble_warnings_for_a_fallback_or_a_stale_calibration(tmp_path):
    from health_sim.config.params import params_hash

    good = params_hash(load_params(BASE))
    f = tmp_path / "cal.yaml"
    f.write_text(
        f"provenance: {{within_tolerance: true, base: {BASE}, base_params_sha256: {good}}}\n"
        f"ensemble:\n- {{trial: 1, distance: 0.1, values: {{{TCM}: 0.5}}}}\n",
        encoding="utf-8",
    )
    assert load_ensemble(f).warnings() == []
    f.write_text(
        f"provenance: {{within_tolerance: false, base: {BASE}, base_params_sha256: 0000}}\n"
        f"ensemble:\n- {{trial: 1, distance: 3.0, values: {{{TCM}: 0.5}}}}\n",
        encoding="utf-8",
    )
    w = load_ensemble(f).warnings()
    assert len(w) == 2 and "best few" in w[0] and "other base parameters" in w[1]


def test_a_recorded_base_is_compared_key_by_key_and_a_new_parameter_at_its_default_is_no_change(tmp_path):
    """A posterior that records its base parameters (provenance.base_params) warns only when one moved, and names it."""
    import yaml

    from health_sim.config.params import flat_params

    fitted = {k: v for k, v in flat_params(load_params(BASE)).items() if k != TCM}
    f = tmp_path / "cal.yaml"

    def write(base_params: dict) -> list[str]:
        doc = {
            "provenance": {"base": str(BASE), "base_params_sha256": "0000", "base_params": base_params},
            "ensemble": [{"trial": 1, "values": {TCM: 0.5}}],
        }
        f.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return load_ensemble(f).warnings()

    assert write(fitted) == []  # the same base: no warning, whatever the (stale) hash says
    key = "secular.hospital_growth_per_year"
    assert write({k: v for k, v in fitted.items() if k != key}) == []  # added since, at its default: no change
    moved = write(fitted | {"choice.minor.quality": 99.0})
    assert len(moved) == 1 and "other base parameters" in moved[0] and "choice.minor.quality" in moved[0]
    gone = write(fitted | {"choice.minor.retired_weight": 1.0})  # a key the schema no longer has
    assert len(gone) == 1 and "choice.minor.retired_weight" in gone[0]


def test_changed_params_counts_a_new_key_only_off_its_default():
    from health_sim.config.params import changed_params, flat_params, with_overrides

    base = load_params(BASE)
    fitted = {k: v for k, v in flat_params(base).items() if k != "secular.hospital_growth_per_year"}
    assert changed_params(fitted, base) == []
    assert changed_params(fitted, with_overrides(base, {"secular.hospital_growth_per_year": 0.05})) == [
        "secular.hospital_growth_per_year"
    ]
    assert changed_params(fitted, with_overrides(base, {TCM: 0.4})) == [TCM]
    assert changed_params(fitted, with_overrides(base, {TCM: 0.4}), ignore={TCM}) == []


def test_a_new_entry_in_a_dict_valued_parameter_is_a_change():
    """A dict-valued field is compared whole: the record without one specialty differs from the base with it."""
    from health_sim.config.params import changed_params, flat_params

    base = load_params(BASE)
    flat = flat_params(base)
    key = "facilities.township_centre.doctors"
    assert isinstance(flat[key], dict) and len(flat[key]) > 1
    fewer = dict(list(flat[key].items())[1:])
    assert changed_params(flat | {key: fewer}, base) == [key]
    assert changed_params(flat | {key: {}}, base) == [key]
