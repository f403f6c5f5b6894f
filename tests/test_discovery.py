"""Scenario discovery (PRIM).

On a synthetic table and on a real sweep, its errors, and where a sweep's results go when the sweep file is changed by
``changes``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from health_sim.core.errors import ParamsError
from health_sim.experiments.analysis import discover
from health_sim.experiments.sweep import default_out, load_sweep, run_sweep

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "params" / "baseline.yaml"
GAP = "policies.reimbursement.outpatient_grassroots_increase"
INERT = "facilities.village_clinic.price_admission"  # village clinics do not admit


def synthetic(n: int = 400, noise: float = 0.05, seed: int = 1) -> pd.DataFrame:
    """Runs whose target is met when a > 0.6 (a share ``noise`` of them flipped); b is irrelevant."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(size=n), rng.uniform(size=n)
    met = ((a > 0.6) ^ (rng.uniform(size=n) < noise)).astype(float)
    return pd.DataFrame(
        {
            "point": np.arange(n),
            "replicate": 0,
            "status": "ok",
            "factor:a": a,
            "factor:b": b,
            "grassroots_share": rng.uniform(size=n),
            "met:x": met,
        }
    )


def test_discover_recovers_the_box_of_a_synthetic_table():
    d = discover(synthetic(), ["x"], min_density=0.9)
    box = d.box
    assert list(box.index) == ["a", "b"]
    assert box.loc["a", "restricted"] and 0.55 <= box.loc["a", "low"] <= 0.65
    assert box.loc["a", "high"] == box.loc["a", "sweep_high"]
    assert not box.loc["b", "restricted"] and np.isnan(box.loc["b", "qp"])
    assert (box.loc["b", "low"], box.loc["b", "high"]) == (box.loc["b", "sweep_low"], box.loc["b", "sweep_high"])
    assert box.loc["a", "qp"] < 1e-3  # the restriction of a is no accident
    assert d.density >= 0.9 and 0 < d.coverage <= 1 and 0 < d.mass <= 1
    assert d.coverage > 0.8  # most runs meeting the target are in the box
    assert d.runs == 400 and d.share_meeting == pytest.approx(synthetic()["met:x"].mean())
    assert d.targets == ["x"] and d.min_density == 0.9
    t = d.trajectory
    assert {"coverage", "density", "mass", "res_dim", "chosen"} <= set(t.columns)
    assert t["chosen"].sum() == 1
    chosen = t[t["chosen"]].iloc[0]
    assert (chosen["density"], chosen["coverage"], chosen["mass"]) == pytest.approx((d.density, d.coverage, d.mass))
    # the chosen box is the one of largest coverage among those dense enough
    assert chosen["coverage"] == t.loc[t["density"] >= 0.9, "coverage"].max()
    # the box's density is the share of the runs inside it that meet the target
    df = synthetic()
    inside = df["factor:a"].between(box.loc["a", "low"], box.loc["a", "high"]) & df["factor:b"].between(
        box.loc["b", "low"], box.loc["b", "high"]
    )
    assert df.loc[inside, "met:x"].mean() == pytest.approx(d.density)
    assert inside.mean() == pytest.approx(d.mass)


def test_discover_ignores_failed_and_uncovered_runs():
    df = synthetic()
    junk = df.iloc[:50].assign(status="failed", **{"met:x": np.nan})
    uncovered = df.iloc[50:80].assign(**{"met:x": np.nan})  # runs that stop before the target's year
    d = discover(pd.concat([df.iloc[80:], junk, uncovered], ignore_index=True), ["x"])
    assert d.runs == 320 and d.share_meeting == pytest.approx(df["met:x"].iloc[80:].mean())


def test_without_a_dense_enough_box_the_densest_is_chosen():
    d = discover(synthetic(noise=0.2), ["x"], min_density=0.99)
    t = d.trajectory
    assert d.density < 0.99 and d.density == pytest.approx(t["density"].max())
    assert t.loc[t["chosen"], "density"].iloc[0] == t["density"].max()


@pytest.mark.parametrize(
    "met, fragment", [(1.0, "400 of 400 runs meet the targets"), (0.0, "0 of 400 runs meet the targets")]
)
def test_discover_needs_runs_that_meet_and_runs_that_miss(met, fragment):
    with pytest.raises(ValueError, match=fragment):
        discover(synthetic().assign(**{"met:x": met}), ["x"])


def test_discover_names_a_target_the_sweep_did_not_record():
    with pytest.raises(ValueError, match="did not record met:y"):
        discover(synthetic(), ["x", "y"])
    with pytest.raises(ValueError, match="no successful run"):
        discover(synthetic().assign(status="failed"), ["x"])


# --- on a real sweep ---------------------------------------------------------------------

# Measured on the baseline at run.scale 0.01, run.days 30, burn-in 30, seed 7, one replicate
# (common random numbers: every point has the same seed, so only the factors move the share),
# over this LHS of 16 points: the grassroots share of the run rises with the gap whatever the
# admission price at village clinics, from 0.6708 (gap 0.005) through 0.6731 (0.045 and 0.066)
# and 0.6749 (0.084) to 0.6770 (0.287). A target of 0.674 is met by the 12 points of gap 0.084
# and above and missed by the 4 below.
THRESHOLD = 0.674


def sweep_file(tmp_path: Path, factors: str, design: str, name: str = "s", targets: str = "") -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(f"""name: {name}
base: {BASE}
factors:
{factors}
design: {design}
replicates: 1
kpis: [grassroots_share]
{targets}run: {{run.scale: 0.01, run.days: 30, run.burn_in_days: 30, policies.reimbursement.enabled: true}}
seed: 7
""")
    return f


def test_discovery_on_a_sweep_bounds_the_reimbursement_gap_from_below(tmp_path):
    f = sweep_file(
        tmp_path,
        f"  {GAP}: {{low: 0.0, high: 0.3}}\n  {INERT}: {{low: 0.0, high: 100.0}}",
        "{method: lhs, samples: 16}",
        targets=f"targets: [{{name: gs, kpi: grassroots_share, threshold: {THRESHOLD}, source: test}}]\n",
    )
    table, _ = run_sweep(f, out=tmp_path / "out", workers=2, progress=False)
    assert (table["status"] == "ok").all() and len(table) == 16
    assert ((table["grassroots_share"] >= THRESHOLD) == (table["met:gs"] == 1.0)).all()
    assert 0 < table["met:gs"].mean() < 1, "the threshold must split the runs"
    d = discover(table, ["gs"], min_density=0.9)
    gap, inert = d.box.loc[GAP], d.box.loc[INERT]
    assert gap["restricted"] and gap["low"] > gap["sweep_low"] + 0.03 and gap["low"] < 0.25
    assert gap["high"] == gap["sweep_high"]
    assert not inert["restricted"]
    # every run met the target above the box's lower end of the gap would be in it
    met = table[table["met:gs"] == 1.0]
    assert d.coverage == pytest.approx((met[f"factor:{GAP}"] >= gap["low"]).mean())
    assert d.density >= 0.9


def test_changes_go_to_a_folder_of_their_own_and_a_changed_sweep_is_refused(tmp_path, monkeypatch):
    f = sweep_file(tmp_path, f"  {GAP}: {{values: [0.0, 0.3]}}", "{method: grid}")
    changes = {"factors": {GAP: {"values": [0.3]}}}
    # default folders are outputs/sweeps/... of the working directory when it is not in a repository
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEALTH_SIM_OUTPUTS")
    (tmp_path / "outputs").mkdir()
    plain, plain_out = run_sweep(f, workers=1, progress=False)
    changed, changed_out = run_sweep(f, workers=1, progress=False, changes=changes)
    spec, _ = load_sweep(f)
    assert (
        plain_out == default_out(spec, spec)
        and plain_out.resolve() == (tmp_path / "outputs" / "sweeps" / "s").resolve()
    )
    assert changed_out == default_out(load_sweep(f, changes)[0], spec) and changed_out.parent == plain_out.parent
    assert changed_out.name.startswith("s-") and changed_out != plain_out
    assert (
        default_out(load_sweep(f, {"factors": {GAP: {"values": [0.0]}}})[0], spec) != changed_out
    )  # other changes, another folder
    assert (
        run_sweep(f, workers=1, progress=False, changes={"replicates": 1})[1] == plain_out
    )  # a change that changes nothing
    assert len(plain) == 2 and len(changed) == 1
    assert changed[f"factor:{GAP}"].tolist() == [0.3]
    # the run at gap 0.3 is the same in both (same seed)
    assert changed["grassroots_share"].iloc[0] == plain.loc[plain[f"factor:{GAP}"] == 0.3, "grassroots_share"].iloc[0]
    # the same changes again: the same folder, nothing run again
    again, again_out = run_sweep(f, workers=1, progress=False, changes=changes)
    assert again_out == changed_out
    pd.testing.assert_frame_equal(again, changed)
    # a changed sweep into the folder of the unchanged one is refused in one line
    with pytest.raises(ParamsError) as e:
        run_sweep(f, out=plain_out, workers=1, progress=False, changes=changes)
    msg = str(e.value)
    assert (
        msg.startswith(f"--out {plain_out}: holds the runs of another sweep (factors differs)") and "\n" not in msg
    ), msg
    assert len(pd.read_parquet(plain_out / "results.parquet")) == 2
