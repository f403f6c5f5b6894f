"""Bayesian calibration to the evidence (health_sim.experiments.posterior: ABC-SMC with pyabc).

The fit file is validated with one-line errors; a tiny fit runs end to end, writes a calibrated file with its
provenance that scenario runs can draw from, and resumes from its databases; the committed posterior is loadable,
says where it came from, and was fitted to the evidence file's calibration items as they are now.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from health_sim.core.errors import ParamsError
from health_sim.core.paths import resolve
from health_sim.experiments.ensemble import default_ensemble_to_use, load_ensemble
from health_sim.experiments.evidence import load_evidence_file
from health_sim.experiments.posterior import FitSpec, load_fit

SPEC = Path("params") / "calibrate" / "yangshan_evidence.yaml"
POSTERIOR = Path("params") / "calibrated" / "yangshan_2023.yaml"


def _tiny_spec(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load(resolve(SPEC).read_text())
    data |= {
        "base": str(resolve("params/scenarios/baseline_2023.yaml")),
        "evidence": str(resolve("params/validation/evidence.yaml")),
        "out": "",
        "run": {"run.scale": 0.01, "run.days": 30, "run.burn_in_days": 10},
        "population": 8,
        "generations": 2,
        "simulations": 24,
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
        ({"population": 3}, "population"),
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
    assert prov["method"].startswith("ABC-SMC (pyabc)")
    assert prov["spec_sha256"] == hashlib.sha256(spec.read_bytes()).hexdigest()
    items = {i.id for i in load_evidence_file().by_role("calibration")}
    assert set(prov["items"]) == items and {f["id"] for f in doc["fit"]} == items
    assert len(prov["runs"]) == 2 and all(r["simulations"] >= 8 for r in prov["runs"])
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


def test_a_fit_resumes_from_its_databases(tiny_fit):
    import pyabc

    from health_sim.experiments.posterior import fit

    spec, out, target = tiny_fit
    before = [pyabc.History(f"sqlite:///{out / f'run{k}.db'}") for k in range(2)]
    done = [(h.total_nr_simulations, h.max_t) for h in before]
    fit(spec, out=out, write=target, changes={"simulations": 60, "generations": 4}, force=True)
    after = [pyabc.History(f"sqlite:///{out / f'run{k}.db'}") for k in range(2)]
    for (sims, t), h in zip(done, after, strict=True):
        assert h.total_nr_simulations > sims and h.max_t > t  # went on, did not start again
        assert h.n_populations == h.max_t + 1


def test_the_committed_posterior_is_the_fit_of_the_evidence_as_it_is():
    doc = yaml.safe_load(resolve(POSTERIOR).read_text())
    prov = doc["provenance"]
    assert prov["method"].startswith("ABC-SMC (pyabc)")
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
