"""Bayesian calibration to the evidence (health_sim.experiments.posterior: emulators of the items and MCMC).

The fit file is validated with one-line errors; the emulator and the sampler recover a posterior known in closed
form; a tiny fit runs end to end, writes a calibrated file with its provenance that scenario runs can draw from,
and goes on from the simulations it wrote (after an interruption, or with more waves); the committed posterior is
loadable, says where it came from, and was fitted to the evidence file's calibration items as they are now.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from health_sim.core.errors import ParamsError
from health_sim.core.paths import resolve
from health_sim.experiments.ensemble import default_ensemble_to_use, load_ensemble
from health_sim.experiments.evidence import load_evidence_file
from health_sim.experiments.posterior import METHOD, FitSpec, load_fit

SPEC = Path("params") / "calibrate" / "yangshan_evidence.yaml"
POSTERIOR = Path("params") / "calibrated" / "yangshan_2023.yaml"


def _tiny_spec(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load(resolve(SPEC).read_text())
    data |= {
        "base": str(resolve("params/scenarios/baseline_2023.yaml")),
        "evidence": str(resolve("params/validation/evidence.yaml")),
        "out": "",
        "run": {"run.scale": 0.01, "run.days": 30, "run.burn_in_days": 10},
        "design": 16,
        "waves": 1,
        "wave_size": 8,
        "walkers": 28,  # at least twice the thirteen parameters
        "steps": 60,
        "runs": 2,
        "members": 5,
    } | changes
    f = tmp_path / "fit.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False))
    return f


def test_the_fit_file_fits_every_calibration_item():
    spec, base, items, evidence = load_fit(resolve(SPEC))
    assert isinstance(spec, FitSpec) and base.exists() and evidence.exists()
    assert {i.id for i in items} == {i.id for i in load_evidence_file().by_role("calibration")}
    assert all(i.standard_error() > 0 for i in items)


@pytest.mark.parametrize(
    "change, key",
    [
        ({"parameters": {"choice.minor.nonsense": {"low": 0, "high": 1}}}, "choice.minor.nonsense"),
        ({"parameters": {"choice.minor.trust": {"low": 2, "high": 1}}}, "parameters"),
        ({"walkers": 3}, "walkers"),
        ({"walkers": 12}, "walkers"),  # fewer than twice the thirteen parameters
        ({"design": 2}, "design"),
        ({"evidence": "nowhere.yaml"}, "nowhere.yaml"),
    ],
)
def test_a_bad_fit_file_is_one_line_naming_the_key(tmp_path, change, key):
    f = _tiny_spec(tmp_path, **change)
    with pytest.raises((ParamsError, FileNotFoundError)) as e:
        load_fit(f)
    msg = str(e.value)
    assert "\n" not in msg and key in msg, msg


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory):
    from health_sim.experiments.posterior import fit

    tmp = tmp_path_factory.mktemp("fit")
    spec = _tiny_spec(tmp)
    out, target = tmp / "work", tmp / "posterior.yaml"
    fit(spec, out=out, write=target)
    return spec, out, target


def test_a_tiny_fit_writes_a_posterior_with_its_provenance(tiny_fit):
    spec, _, target = tiny_fit
    text = target.read_text()
    assert text.startswith("# Calibrated parameters: ")
    doc = yaml.safe_load(text)
    prov = doc["provenance"]
    assert prov["method"] == METHOD
    assert prov["spec_sha256"] == hashlib.sha256(spec.read_bytes()).hexdigest()
    items = {i.id for i in load_evidence_file().by_role("calibration")}
    assert set(prov["items"]) == items and {f["id"] for f in doc["fit"]} == items
    assert len(prov["runs"]) == 2 and all(r["simulations"] == 24 for r in prov["runs"])
    assert all(f["emulator_error"] >= 0 and f["se"] > 0 and "predictive_mean" in f for f in doc["fit"])
    params = yaml.safe_load(spec.read_text())["parameters"]
    assert set(doc["identification"]) == set(params) == set(doc["agreement"])
    for key, ident in doc["identification"].items():
        lo, hi = params[key]["low"], params[key]["high"]
        assert lo <= ident["posterior_90"][0] <= ident["posterior_median"] <= ident["posterior_90"][1] <= hi, key
    assert len(doc["ensemble"]) == 5
    ens = load_ensemble(target)
    assert len(ens) == 5 and all(set(m) == set(params) for m in ens.members)
    # fitted on the base as it is now: no other warning than that a tiny fit did not converge
    assert [w for w in ens.warnings() if "did not converge" not in w] == []


def test_a_fit_goes_on_from_the_simulations_it_wrote(tiny_fit):
    from health_sim.experiments.posterior import fit

    spec, out, target = tiny_fit
    files = sorted(out.glob("run*_wave*_*.csv"))
    assert [f.name for f in files if f.name.startswith("run0")] == [
        "run0_wave0_plan.csv", "run0_wave0_sims.csv", "run0_wave1_plan.csv", "run0_wave1_sims.csv"
    ]  # fmt: skip
    before = {f.name: f.read_text() for f in files}
    # an interruption: run 1's last wave lost its last rows, the last line cut short
    cut = out / "run1_wave1_sims.csv"
    lines = before[cut.name].splitlines(keepends=True)
    cut.write_text("".join(lines[:4]) + lines[4][:10])
    empty = out / "run0_wave1_sims.csv"  # cut before its first line ended
    empty.write_text("")
    fit(spec, out=out, write=target, changes={"waves": 2}, force=True)
    after = {f.name: f.read_text() for f in sorted(out.glob("run*_wave*_*.csv"))}
    for name, text in before.items():
        if name == empty.name:
            assert sorted(pd.read_csv(out / name)["index"]) == list(range(8))
        elif name == cut.name:
            kept = pd.read_csv(out / name)
            assert len(kept) == 8 and sorted(kept["index"]) == list(range(8))  # the lost rows simulated again
            assert after[name].startswith("".join(lines[:4]))  # the rows written before are kept as they were
        else:
            assert after[name] == text, name  # nothing simulated again
    assert {"run0_wave2_plan.csv", "run0_wave2_sims.csv", "run1_wave2_sims.csv"} <= set(after)  # a wave more
    assert len(pd.read_csv(out / "run1_wave2_sims.csv")) == 8
    assert [r["simulations"] for r in yaml.safe_load(target.read_text())["provenance"]["runs"]] == [32, 32]


def test_working_files_of_other_items_or_parameters_are_refused_in_one_line(tiny_fit, tmp_path):
    import shutil

    from health_sim.experiments.posterior import fit

    spec, out, _ = tiny_fit
    for name, edit, word in [
        ("run0_wave0_sims.csv", lambda t: t.replace("yangshan_tcm_share_2023", "another_item", 1), "calibration items"),
        ("run0_wave0_plan.csv", lambda t: t.replace("u:choice.minor.asc.village", "u:x", 1), "other parameters"),
    ]:
        work = tmp_path / name
        shutil.copytree(out, work)
        (work / name).write_text(edit((work / name).read_text()))
        with pytest.raises(ParamsError) as e:
            fit(spec, out=work, write=tmp_path / "p.yaml", force=True)
        assert "\n" not in str(e.value) and name in str(e.value) and word in str(e.value), str(e.value)


def test_one_run_is_never_called_converged(tmp_path):
    """Convergence is the runs' agreement: a single run cannot show it, however long its chain."""
    from health_sim.experiments.posterior import fit

    spec = _tiny_spec(tmp_path, runs=1, design=12, waves=0, members=3)
    target = fit(spec, out=tmp_path / "work", write=tmp_path / "p.yaml")
    prov = yaml.safe_load(target.read_text())["provenance"]
    assert prov["converged"] is False and prov["all_runs_agree"] is None


def test_the_emulator_and_sampler_recover_a_posterior_known_in_closed_form():
    """Two items: a = u0 and b = u0 + u1 (simulated with noise), published 0.4 and 0.9 with se 0.05.

    The posterior of (u0, u1) is then Gaussian with means (0.4, 0.5), sds (0.05, 0.0707) and correlation
    -0.707 (the likelihood's, well inside the unit cube). The emulator learns the two items from 300
    noisy simulations, and the sampled posterior must match.
    """
    from health_sim.experiments.emulator import Emulator, Likelihood, sample

    rng = np.random.default_rng(5)
    u = rng.random((300, 2))
    y = np.column_stack([u[:, 0], u[:, 0] + u[:, 1]]) + rng.normal(0, 0.02, size=(300, 2))
    emu = Emulator(["a", "b"], seed=1).fit(u, y)
    assert np.allclose(emu.noise, 0.02**2, rtol=0.5)  # the simulator's chance, learnt as white noise
    grid = rng.random((200, 2))
    assert np.abs(emu.mean(grid) - np.column_stack([grid[:, 0], grid.sum(axis=1)])).max() < 0.03
    like = Likelihood(emu, np.array([0.4, 0.9]), np.array([0.05**2, 0.05**2]))
    chain = sample(like, u[np.argsort(-like(u))], walkers=16, steps=3000, seed=3)
    assert chain.long_enough, chain.autocorr
    m, sd = chain.draws.mean(axis=0), chain.draws.std(axis=0)
    assert np.allclose(m, [0.4, 0.5], atol=0.02), m
    assert np.allclose(sd, [0.05, 0.0707], rtol=0.2), sd
    assert np.corrcoef(chain.draws.T)[0, 1] == pytest.approx(-0.707, abs=0.1)
    assert like(np.array([[1.2, 0.5]]))[0] == -np.inf  # outside the prior


def test_the_committed_posterior_is_the_fit_of_the_evidence_as_it_is():
    doc = yaml.safe_load(resolve(POSTERIOR).read_text())
    prov = doc["provenance"]
    assert prov["method"] == METHOD
    assert prov["spec"] == SPEC.as_posix()
    calibration = {i.id for i in load_evidence_file().by_role("calibration")}
    assert set(prov["items"]) == calibration, "the evidence file's calibration items changed since the fit: refit"
    values = {i.id: i.value for i in load_evidence_file().items()}
    assert all(f["published"] == values[f["id"]] for f in doc["fit"]), "a calibration item's value changed: refit"
    spec = yaml.safe_load(resolve(SPEC).read_text())
    assert set(doc["identification"]) == set(spec["parameters"])
    ens = load_ensemble(resolve(POSTERIOR))
    assert len(ens) == spec["members"]
    assert isinstance(prov["converged"], bool) and prov["convergence_rule"]
    if not prov["converged"]:  # said, and not drawn from by default
        assert any("did not converge" in w for w in ens.warnings())
        chosen, why = default_ensemble_to_use()
        assert chosen is None and "did not converge" in why
    else:
        assert ens.warnings() == [], ens.warnings()
