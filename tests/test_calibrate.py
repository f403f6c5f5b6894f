"""Calibration.

The distance, one-line errors in calibration files, a tiny real calibration (the base's own values first, the
calibrated file and its readers), resuming with more trials, refusing another calibration's folder, and the command
line.

Every calibration here writes into tmp_path only (``out=`` and ``write=``), never into
outputs/calibrate/ or params/calibrated/.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from health_sim.config.params import load_params
from health_sim.core.errors import ParamsError
from health_sim.experiments.calibrate import (
    CalibrationSpec,
    calibrate,
    distance,
    fit_table,
    identification_table,
    load_calibrated,
    load_calibration,
    members_table,
    predictive_check,
)
from health_sim.experiments.scenario_runs import replicate_seeds
from health_sim.experiments.sweep import run_point

from .conftest import health_sim_exe

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "params" / "scenarios" / "baseline_2023.yaml"

STAY = "choice.stay_home_utility.minor"
TCM = "tcm.uptake_grassroots"
RUN = {"run.scale": 0.01, "run.days": 30, "run.burn_in_days": 10}
PRIORS = {STAY: (3.0, 4.5, False), TCM: (0.3, 0.7, True)}  # the base has 3.5 and 0.48: inside both
SEED = 11

SPEC = f"""name: NAME
description: a tiny calibration for the tests
base: {BASE}
observed:
  share: {{kpi: grassroots_share, value: 0.65, tolerance: 0.02, source: test}}
  tcm: {{kpi: tcm_share, value: 0.45, tolerance: 0.02, source: test}}
parameters:
  {STAY}: {{low: 3.0, high: 4.5}}
  {TCM}: {{low: 0.3, high: 0.7, log: true}}
run: {{run.scale: 0.01, run.days: 30, run.burn_in_days: 10}}
replicates: 1
trials: 3
seed: {SEED}
ensemble: {{candidates: 2, replicates: 1, max_distance: 1000, size: 5}}
"""


def write_spec(folder: Path, name: str = "tiny", old: str = "", new: str = "") -> Path:
    text = SPEC.replace("NAME", name)
    if old:
        assert old in text, old
        text = text.replace(old, new)
    f = folder / f"{name}.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def study_trials(out: Path, name: str = "tiny") -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{out / 'study.db'}")
    return sorted(study.get_trials(states=[optuna.trial.TrialState.COMPLETE]), key=lambda t: t.number)


def spec_object() -> CalibrationSpec:
    return CalibrationSpec(
        name="x",
        base="b",
        parameters={STAY: {"low": 5.0, "high": 6.5}},
        observed={
            "a": {"kpi": "grassroots_share", "value": 0.6, "tolerance": 0.02, "source": "t"},
            "b": {"kpi": "tcm_share", "value": 0.4, "tolerance": 0.05, "source": "t"},
        },
    )


# --- the distance ---------------------------------------------------------------------


def test_distance_is_zero_at_the_observed_values():
    assert distance({"a": 0.6, "b": 0.4}, spec_object()) == 0.0


def test_distance_is_one_when_every_figure_is_one_tolerance_off():
    s = spec_object()
    assert distance({"a": 0.62, "b": 0.35}, s) == pytest.approx(1.0)  # one above, one below
    assert distance({"a": 0.58, "b": 0.45}, s) == pytest.approx(1.0)
    # root mean square: one tolerance off and three tolerances off -> sqrt((1 + 9) / 2)
    assert distance({"a": 0.62, "b": 0.55}, s) == pytest.approx(math.sqrt(5.0))


def test_distance_is_infinite_when_a_figure_is_not_a_number():
    s = spec_object()
    assert distance({"a": float("nan"), "b": 0.4}, s) == math.inf
    assert distance({"a": 0.6, "b": float("inf")}, s) == math.inf


# --- one-line errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, fragment",
    [
        (
            "kpi: grassroots_share",
            "kpi: grassroots_shar",
            "observed.share.kpi: 'grassroots_shar' is not a KPI (did you mean 'grassroots_share'?)",
        ),
        (
            f"{TCM}: {{low",
            "tcm.uptake_grasroots: {low",
            "parameters.tcm.uptake_grasroots: unknown key (did you mean 'uptake_grassroots'?)",
        ),
        (
            f"{STAY}: {{low: 3.0, high: 4.5}}",
            f"{STAY}: {{low: 6.5, high: 5.0}}",
            f"parameters.{STAY}: low 6.5 must be below high 5.0",
        ),
        (
            f"{STAY}: {{low: 3.0, high: 4.5}}",
            f"{STAY}: {{low: 6.5, high: 6.5}}",
            f"parameters.{STAY}: low 6.5 must be below high 6.5",
        ),
        (
            "low: 0.3, high: 0.7, log: true",
            "low: 0.0, high: 0.7, log: true",
            f"parameters.{TCM}: a log-scale prior needs low > 0",
        ),
        ("low: 0.3, high: 0.7, log: true", "low: 0.3, high: 1.5", f"parameters.{TCM}: 1.5 is above 1"),
        (f"base: {BASE}", "base: no_such_base.yaml", "base: no_such_base.yaml: no such file"),
        ("run: {run.scale: 0.01,", "run: {run.scale: 0.01, [", "malformed YAML at line"),
        (
            "tolerance: 0.02, source: test}\n  tcm",
            "tolerance: 0, source: test}\n  tcm",
            "observed.share.tolerance: 0 must be above 0",
        ),
        ("replicates: 1\n", "replicates: 1\nreplicate: 2\n", "replicate: unknown key"),
    ],
    ids=[
        "unknown-kpi",
        "unknown-parameter",
        "low-above-high",
        "low-equals-high",
        "log-prior-at-zero",
        "prior-outside-schema",
        "missing-base",
        "malformed-yaml",
        "zero-tolerance",
        "unknown-top-level-key",
    ],
)
def test_bad_calibration_files_give_one_line(tmp_path, old, new, fragment):
    f = write_spec(tmp_path, old=old, new=new)
    with pytest.raises(ParamsError) as e:
        load_calibration(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: ") and fragment in msg and "\n" not in msg, msg


def test_a_kpi_with_parts_needs_a_part(tmp_path):
    f = write_spec(tmp_path, old="kpi: grassroots_share", new="kpi: grassroots_first")
    with pytest.raises(ParamsError) as e:
        load_calibration(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: observed.share.kpi") and "\n" not in msg, msg


def test_a_bad_run_override_is_blamed_on_run(tmp_path):
    f = write_spec(tmp_path, old="run: {run.scale: 0.01,", new="run: {run.scael: 0.01,")
    with pytest.raises(ParamsError) as e:
        load_calibration(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: run") and "scael" in msg and "parameters." not in msg, msg


@pytest.mark.parametrize(
    "old, new, key",
    [
        (
            (
                "observed:\n"
                "  share: {kpi: grassroots_share, value: 0.65, tolerance: 0.02, source: test}\n"
                "  tcm: {kpi: tcm_share, value: 0.45, tolerance: 0.02, source: test}\n"
            ),
            "observed: {}\n",
            "observed",
        ),
        (
            f"parameters:\n  {STAY}: {{low: 3.0, high: 4.5}}\n  {TCM}: {{low: 0.3, high: 0.7, log: true}}\n",
            "parameters: {}\n",
            "parameters",
        ),
    ],
    ids=["no-observed", "no-parameters"],
)
def test_empty_sections_are_refused(tmp_path, old, new, key):
    f = write_spec(tmp_path, old=old, new=new)
    with pytest.raises(ParamsError) as e:
        load_calibration(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: {key}") and "\n" not in msg, msg


def test_the_repository_calibration_file_is_valid():
    spec, base = load_calibration(ROOT / "params" / "calibrate" / "yangshan_2023.yaml")
    assert base.exists() and spec.name == "yangshan_2023"
    assert len(spec.observed) >= 2 and len(spec.parameters) >= 2
    for p in spec.parameters.values():
        assert p.low < p.high and (not p.log or p.low > 0)
    # the base's own values lie inside the priors, so the search starts from the model as it stands
    params = load_params(base)
    for key, p in spec.parameters.items():
        node = params
        for part in key.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        assert p.low <= float(node) <= p.high, key


# --- a tiny real calibration ------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    d = tmp_path_factory.mktemp("cal")
    f = write_spec(d)
    ensemble, path = calibrate(f, out=d / "out", write=d / "calibrated.yaml", workers=1, progress=False)
    return f, d / "out", ensemble, path


def test_calibration_writes_its_file_where_told(calibrated):
    f, out, _, path = calibrated
    assert path == f.parent / "calibrated.yaml" and path.exists()
    assert (out / "study.db").exists() and (out / "candidates.parquet").exists() and (out / "spec.json").exists()
    assert path.read_text(encoding="utf-8").startswith("# Calibrated parameters: tiny.")


def test_calibrated_file_has_provenance_fit_identification_best_and_ensemble(calibrated):
    f, _, ensemble, path = calibrated
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("provenance", "observed", "fit", "identification", "best", "best_distance", "ensemble"):
        assert key in doc, key
    prov = doc["provenance"]
    assert prov["spec"] == f.as_posix()
    assert prov["spec_sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    assert prov["seed"] == SEED and prov["trials"] == 3 and prov["replicates_per_trial"] == 1
    assert prov["run"] == RUN and Path(prov["base"]) == BASE
    assert (
        set(doc["fit"]) == {"share", "tcm"}
        and set(doc["identification"]) == set(PRIORS)
        and set(doc["best"]) == set(PRIORS)
    )
    # max_distance is large: both candidates are members, best first
    assert len(doc["ensemble"]) == 2 and prov["within_tolerance"] is True
    distances = [m["distance"] for m in doc["ensemble"]]
    assert distances == sorted(distances) and doc["best_distance"] == distances[0]
    assert doc["best"] == doc["ensemble"][0]["values"]
    for m in doc["ensemble"]:
        for key, (lo, hi, _) in PRIORS.items():
            assert lo <= m["values"][key] <= hi, (key, m)
    # the members are the best trials of the search
    assert {m["trial"] for m in doc["ensemble"]} == set(ensemble.loc[ensemble["member"], "trial"].astype(int))


def test_the_base_values_are_trial_0_and_its_distance_is_recomputable(calibrated):
    _, out, _, _ = calibrated
    trials = study_trials(out)
    assert [t.number for t in trials] == [0, 1, 2]
    assert trials[0].params == {STAY: 3.5, TCM: 0.48}  # baseline.yaml's own values
    # the search distance of trial 0: the base run again here with the calibration's seeds
    seeds = replicate_seeds(SEED, 1)
    rows = pd.DataFrame(
        [run_point(str(BASE), RUN, {STAY: 3.5, TCM: 0.48}, s, ["grassroots_share", "tcm_share"]) for s in seeds]
    )
    expected = math.sqrt(
        (((rows["grassroots_share"].mean() - 0.65) / 0.02) ** 2 + ((rows["tcm_share"].mean() - 0.45) / 0.02) ** 2) / 2
    )
    assert trials[0].value == pytest.approx(expected, rel=1e-9)
    assert trials[0].user_attrs["sim:share"] == pytest.approx(rows["grassroots_share"].mean(), rel=1e-12)
    for t in trials:
        for key, (lo, hi, _) in PRIORS.items():
            assert lo <= t.params[key] <= hi


def test_ensemble_table_uses_fresh_seeds_and_its_own_distances(calibrated):
    f, out, ensemble, _ = calibrated
    spec, _ = load_calibration(f)
    trials = {t.number: t for t in study_trials(out)}
    best2 = sorted(trials.values(), key=lambda t: (t.value, t.number))[:2]
    assert set(ensemble["trial"].astype(int)) == {t.number for t in best2}
    for _, r in ensemble.iterrows():
        assert r["search_distance"] == pytest.approx(trials[int(r["trial"])].value)
        assert r["distance"] == pytest.approx(distance({"share": r["sim:share"], "tcm": r["sim:tcm"]}, spec))
    # each re-run is its trial's values with the seeds spawned from seed + 1, not the search's seeds
    for _, r in ensemble.iterrows():
        values = {STAY: float(r[STAY]), TCM: float(r[TCM])}
        assert values == trials[int(r["trial"])].params
        fresh = run_point(str(BASE), RUN, values, replicate_seeds(SEED + 1, 1)[0], ["grassroots_share"])
        assert r["sim:share"] == pytest.approx(fresh["grassroots_share"], rel=1e-12)
        assert r["sim:share"] != pytest.approx(trials[int(r["trial"])].user_attrs["sim:share"], rel=1e-9), "fresh seeds"
    assert ensemble["member"].all()
    assert list(ensemble["distance"]) == sorted(ensemble["distance"])


def test_readers_of_the_calibrated_file(calibrated):
    _, _, ensemble, path = calibrated
    doc = load_calibrated(path)
    fit = fit_table(doc)
    assert list(fit["figure"]) == ["share", "tcm"]
    assert np.allclose(fit["error_in_tolerances"], (fit["simulated"] - fit["observed"]) / fit["tolerance"])
    members = ensemble[ensemble["member"]]
    for label in ("share", "tcm"):
        r = fit[fit["figure"] == label].iloc[0]
        assert r["simulated"] == pytest.approx(members[f"sim:{label}"].mean(), rel=1e-5)
        assert r["simulated_low"] <= r["simulated"] <= r["simulated_high"]
    m = members_table(doc)
    assert list(m.columns) == ["trial", "distance", STAY, TCM] and len(m) == len(doc["ensemble"]) == 2
    ident = identification_table(doc)
    assert list(ident["parameter"]) == [STAY, TCM] and list(ident["log"]) == [False, True]
    for _, r in ident.iterrows():
        lo, hi, log = PRIORS[r["parameter"]]
        assert (r["prior_low"], r["prior_high"]) == (lo, hi)
        x = m[r["parameter"]].to_numpy(float)
        assert r["ensemble_min"] == pytest.approx(x.min(), rel=1e-5) and r["ensemble_max"] == pytest.approx(
            x.max(), rel=1e-5
        )
        assert r["best"] == pytest.approx(x[0], rel=1e-5)
        tx, prior_sd = (np.log(x), math.log(hi / lo) / math.sqrt(12)) if log else (x, (hi - lo) / math.sqrt(12))
        assert r["ensemble_mean"] == pytest.approx(np.exp(tx.mean()) if log else tx.mean(), rel=1e-5)
        assert r["narrowed"] == pytest.approx(1 - np.std(tx, ddof=1) / prior_sd, rel=1e-4, abs=1e-5)


def test_a_file_that_is_not_calibrated_is_one_line(tmp_path):
    f = tmp_path / "not.yaml"
    f.write_text("provenance: {}\nbest: {}\nensemble: []\nidentification: {}\n", encoding="utf-8")
    with pytest.raises(ParamsError) as e:
        load_calibrated(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: fit: missing") and "\n" not in msg, msg


def test_predictive_check_draws_from_the_ensemble(calibrated):
    _, _, _, path = calibrated
    doc = load_calibrated(path)
    table = predictive_check(doc, BASE, replicates=2, scale=0.01, calibrated=path)
    assert list(table["figure"]) == ["share", "tcm"] and list(table["observed"]) == [0.65, 0.45]
    assert (table["lo"] <= table["simulated"]).all() and (table["simulated"] <= table["hi"]).all()
    assert (table["covered"] == ((table["lo"] <= table["observed"]) & (table["observed"] <= table["hi"]))).all()
    assert table["lo"].lt(table["hi"]).all(), "two replicates with two different members should differ"


# --- resuming and refusing ----------------------------------------------------------------


def test_resume_adds_trials_and_reuses_the_candidate_reruns(calibrated, tmp_path):
    f, out, _, _ = calibrated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = {t.number: (t.params, t.value) for t in study_trials(copy)}
    # mark the stored candidate re-runs: if they are reused, the marks survive
    store = copy / "candidates.parquet"
    cand = pd.read_parquet(store)
    cand["sim:share"] = 0.123456
    cand.to_parquet(store, index=False)
    more, path = calibrate(f, out=copy, write=tmp_path / "more.yaml", workers=1, trials=4, progress=False)
    after = study_trials(copy)
    assert [t.number for t in after] == [0, 1, 2, 3]
    assert {t.number: (t.params, t.value) for t in after[:3]} == before
    assert load_calibrated(path)["provenance"]["trials"] == 4
    kept = pd.read_parquet(store)
    old = kept[kept["trial"].isin(cand["trial"])]
    assert len(old) == len(cand) and (old["sim:share"] == 0.123456).all(), (
        "the re-runs of earlier candidates were redone"
    )
    assert len(kept) <= len(cand) + 1
    for _, r in more.iterrows():
        assert (r["sim:share"] == 0.123456) == (int(r["trial"]) in set(cand["trial"].astype(int)))


def test_another_calibration_into_the_same_folder_is_refused(calibrated, tmp_path):
    f, out, _, _ = calibrated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = sorted((p.name, p.stat().st_size) for p in copy.iterdir())
    with pytest.raises(ParamsError) as e:
        calibrate(f, out=copy, write=tmp_path / "other.yaml", workers=1, progress=False, changes={"replicates": 2})
    msg = str(e.value)
    assert (
        msg.startswith(f"--out {copy}: holds the runs of another calibration")
        and "replicates" in msg
        and "\n" not in msg
    ), msg
    other = write_spec(tmp_path, old="value: 0.65", new="value: 0.66")  # another observed value, same name
    with pytest.raises(ParamsError) as e:
        calibrate(other, out=copy, write=tmp_path / "other.yaml", workers=1, progress=False)
    msg = str(e.value)
    assert (
        msg.startswith(f"--out {copy}: holds the runs of another calibration") and "observed" in msg and "\n" not in msg
    ), msg
    assert sorted((p.name, p.stat().st_size) for p in copy.iterdir()) == before
    assert not (tmp_path / "other.yaml").exists()


# --- the command line -------------------------------------------------------------------


def test_cli_bad_file_is_one_line_exit_2(tmp_path):
    bad = write_spec(tmp_path, name="bad", old="kpi: grassroots_share", new="kpi: grassroots_shar")
    done = subprocess.run(
        [
            health_sim_exe(),
            "calibrate",
            str(bad),
            "--out",
            str(tmp_path / "out"),
            "--write",
            str(tmp_path / "bad_calibrated.yaml"),
            "--workers",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stdout == "", (done.returncode, done.stdout, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{bad}: observed.share.kpi: 'grassroots_shar' is not a KPI"), (
        done.stderr
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "bad_calibrated.yaml").exists()


def test_bad_output_places_are_refused_before_the_search(tmp_path):
    f = write_spec(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(ParamsError, match="exists and is not a folder"):
        calibrate(f, out=a_file, write=tmp_path / "cal.yaml", workers=1)
    with pytest.raises(ParamsError, match="is a folder; give a file name"):
        calibrate(f, out=tmp_path / "work", write=tmp_path, workers=1)
    assert not (tmp_path / "work" / "study.db").exists()  # nothing was searched


def test_pooling_an_earlier_search_with_other_priors(calibrated, tmp_path):
    """A second search with a narrower prior pools the first's candidates into one ensemble.

    A search of other figures (or seeds) cannot be pooled.
    """
    _, first_out, first_ens, _ = calibrated
    f = write_spec(tmp_path, old="low: 3.0, high: 4.5", new="low: 3.25, high: 4.0")
    ens, path = calibrate(
        f, out=tmp_path / "out", write=tmp_path / "cal.yaml", workers=1, progress=False, pool=[first_out]
    )
    doc = load_calibrated(path)
    searches = doc["provenance"]["searches"]
    assert [s["trials"] for s in searches] == [3, 3] and searches[1]["trial_offset"] == 10_000
    assert searches[1]["priors"][STAY] == [3.0, 4.5] and searches[0]["priors"][STAY] == [3.25, 4.0]
    assert len(ens) == len(first_ens) + 2  # both searches' re-run candidates
    assert set(ens["trial"] >= 10_000) == {True, False}
    assert list(ens["distance"]) == sorted(ens["distance"])
    (tmp_path / "o").mkdir()
    other = write_spec(tmp_path / "o", old=f"seed: {SEED}", new="seed: 12")
    with pytest.raises(ParamsError, match="its seed differs"):
        calibrate(
            other, out=tmp_path / "out2", write=tmp_path / "cal2.yaml", workers=1, progress=False, pool=[first_out]
        )
    assert not (tmp_path / "out2" / "study.db").exists()
