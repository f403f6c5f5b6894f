"""outputs/report.html (health_sim.report): built from a small suite's outputs, checked as data and in Chromium.

A suite of three scenarios (the baseline, a scale-up whose rotation training starts in 2024, and
gatekeeping) runs at a small scale for two years, three replicates each, through the same
functions the scenario template uses; the scorecard and the report are written from what they
wrote. The page is then opened from disk in Debian's Chromium through Playwright: no console
errors, every figure decoded, a screenshot report.png in $HEALTH_SIM_SCREENSHOTS if set, else in
the test's temporary folder (the tests never write into outputs/).
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from health_sim import report
from health_sim.experiments import compare, scenario_runs
from health_sim.experiments.outdir import OutputRefused
from health_sim.experiments.suite import Outcome, scorecard, write_scorecard

from .browser import ARGS, CHROMIUM, need_browser

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("baseline_2023", "training", "gatekeeping")
REPS = 3


@pytest.fixture(scope="module")
def suite_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("suite")
    files = [ROOT / "params" / "scenarios" / f"{n}.yaml" for n in NAMES]
    for f in files:
        reps = scenario_runs.run_replicates(f, replicates=REPS, seed=7, scale=0.004, days=730)
        reps.write(out / "scenarios" / f.stem)
    card = scorecard(out, files, {f.stem: Outcome(f.stem, True, 0.0) for f in files}, ROOT / "params" / "targets.yaml")
    write_scorecard(card, out)
    report.write(out, card=card)
    return out


def test_the_report_is_one_self_contained_page_written_by_health_sim(suite_out):
    html = (suite_out / "report.html").read_text(encoding="utf-8")
    assert html.startswith(report.HEAD)
    for section in ("summary", "matrix", "effects", "trajectories", "costs", "maps", "methods"):
        assert f'id="{section}"' in html, section
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(srcs) == 6 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must open without a network"
    # every interval says what it is and how many replicates it rests on
    assert "Student-t interval of the mean paired difference" in html and f"{REPS} replicates" in html
    assert "central 90% of" in html


def test_the_tables_download_as_csv_and_hold_what_the_outputs_say(suite_out):
    html = (suite_out / "report.html").read_text(encoding="utf-8")
    found = dict(re.findall(r'download="([^"]+)" href="data:text/csv;base64,([^"]+)"', html))
    assert set(found) == {"scorecard.csv", "effects.csv", "provenance.csv"}
    tables = {k: pd.read_csv(io.BytesIO(base64.b64decode(v))) for k, v in found.items()}
    card = tables["scorecard.csv"]
    assert set(card["scenario"]) == set(NAMES)
    # the run covers 2023-2024: a target judged in 2027 is not reachable by design, and says why
    rot = card[card["target"] == "rotation_training_80_in_5_years"]
    assert (rot["verdict"] == "not reachable by design").all() and rot["reason"].str.contains("2023-2024").all()
    effects = tables["effects.csv"]
    suite = compare.read_suite(suite_out)
    base = suite.annual["baseline_2023"].query("year == 2024").set_index("replicate")["grassroots_share"]
    gate = suite.annual["gatekeeping"].query("year == 2024").set_index("replicate")["grassroots_share"]
    row = effects[(effects["scenario"] == "gatekeeping") & (effects["kpi"] == "grassroots_share")].iloc[0]
    assert row["difference"] == pytest.approx(float((gate - base).mean()))
    assert row["lo"] <= row["difference"] <= row["hi"] and row["replicates"] == REPS
    prov = tables["provenance.csv"]
    assert (prov["replicates"] == REPS).all() and prov["params_sha256"].notna().all()


def test_a_report_someone_else_wrote_is_never_replaced(suite_out, tmp_path):
    theirs = tmp_path / "report.html"
    theirs.write_text("<html>my own notes</html>", encoding="utf-8")
    with pytest.raises(OutputRefused, match="not written by health-sim"):
        report.write(suite_out, path=theirs)
    assert theirs.read_text(encoding="utf-8") == "<html>my own notes</html>"
    report.write(suite_out, path=theirs, force=True)
    assert theirs.read_text(encoding="utf-8").startswith(report.HEAD)


def test_the_report_opens_in_chromium_without_errors_and_every_figure_loads(suite_out, tmp_path):
    playwright = need_browser()
    shots = Path(os.environ.get("HEALTH_SIM_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto((suite_out / "report.html").as_uri())
            page.wait_for_load_state("load")
            loaded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
            assert loaded and all(loaded), loaded
            assert "Which scenarios reach which targets" in page.inner_text("body")
            page.screenshot(path=str(shots / "report.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert (shots / "report.png").stat().st_size > 10_000
