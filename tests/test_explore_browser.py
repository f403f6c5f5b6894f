"""The explore notebook as a person sees it: JupyterLab in a real headless Chromium.

Starts JupyterLab on localhost, opens notebooks/explore.ipynb, runs it, moves a slider
with the keyboard and waits for the KPI panel to change, and saves a screenshot,
explore.png, in $HEALTH_SIM_SCREENSHOTS if set, else in the test's temporary folder (the
tests never write into outputs/). Needs Debian's chromium (/usr/bin/chromium) and the
playwright package; CI installs both. Elsewhere the test is skipped if they are missing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .browser import ARGS, CHROMIUM, free_port, need_browser

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    port = free_port()
    here = tmp_path_factory.mktemp("lab")
    log = here / "lab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={ROOT}",
        "--LabApp.news_url=",
        "--allow-root",
        f"--FileCheckpoints.checkpoint_dir={here / 'checkpoints'}",  # not notebooks/.ipynb_checkpoints
        f"--LabApp.workspaces_dir={here / 'workspaces'}",
        f"--LabApp.user_settings_dir={here / 'settings'}",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start:\n" + log.read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_explore_notebook_sliders_update_the_kpis(lab, tmp_path):
    pw = need_browser()
    shots = Path(os.environ.get("HEALTH_SIM_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{lab}/lab/tree/notebooks/explore.ipynb", timeout=120_000)
        page.wait_for_selector(".jp-Notebook", timeout=120_000)
        with contextlib.suppress(Exception):  # the kernel dialog on first open
            page.locator(".jp-Dialog .jp-mod-accept").click(timeout=10_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-mod-idle", timeout=120_000, state="attached"
        )
        # Run all cells: click into the first cell, then Shift+Enter through them
        cells = page.locator(".jp-Notebook .jp-Cell")
        cells.first.click()
        for _ in range(cells.count()):
            page.keyboard.press("Shift+Enter")
        kpis = page.locator(".hs-kpis")
        kpis.wait_for(timeout=180_000)
        page.wait_for_function(
            (
                "() => { const e = document.querySelector('.hs-kpis'); "
                "return e && e.innerText.includes('grassroots share'); }"
            ),
            timeout=180_000,
        )
        before = kpis.inner_text()
        slider = page.locator(".widget-slider [role=slider]").first
        slider.focus()
        for _ in range(6):  # 60 more stationed doctors a year
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            (
                "(b) => { const e = document.querySelector('.hs-kpis'); "
                "return e && e.innerText.includes('grassroots share') && e.innerText !== b; }"
            ),
            arg=before,
            timeout=180_000,
        )
        after = kpis.inner_text()
        page.screenshot(path=str(shots / "explore.png"), full_page=False)
        browser.close()
    assert before != after
    assert "doctor-days at the grassroots" in after and "\t0\n" not in after.split("doctor-days")[1][:5]
