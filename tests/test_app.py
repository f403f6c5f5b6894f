"""The Mesa app (src/health_sim/app.py): its model factory, and its page as a person sees it.

The factory test is fast. The browser test fills solara's offline front-end files
(scripts/solara_assets.py), serves the app with ``solara run`` on a free localhost port, opens
it in Debian's Chromium through Playwright, moves a model-parameter slider, resets, steps three
days and checks that the KPI text and the plot change, with no console errors. It saves a
screenshot, app.png, in $HEALTH_SIM_SCREENSHOTS if set, else in ``outputs_root()/app/`` (under
the tests a temporary folder: conftest.py points HEALTH_SIM_OUTPUTS there, so the tests never
touch the main job's outputs/). Skipped only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import inspect
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from health_sim.core.paths import outputs_root

from .browser import ARGS, CHROMIUM, free_port, need_browser

ROOT = Path(__file__).resolve().parents[1]
FIRST_DAY_S = 300  # the first Step runs the burn-in year, and compiles the engine if its cache is stale (~30 s)


# --- the factory -----------------------------------------------------------------------------------------------


def test_factory_gives_the_model_the_apps_settings():
    from health_sim import app

    m = app.make_model(
        scale=0.005, seed="11", stationed=True, stationed_doctors=40, gatekeeping=True, telemedicine=True
    )
    pol, start = m.params.policies, m.params.run.start_date
    assert isinstance(m, app.AppModel)
    assert m.seed == 11 and m.params.run.seed == 11 and m.params.run.scale == 0.005
    for name in ("stationed", "gatekeeping", "telemedicine"):
        lever = getattr(pol, name)
        assert lever.enabled and lever.start == start and lever.ramp_years == 0 and lever.before_start is None
        assert lever.acts_from == start and lever.intensity(start) == 1.0  # at full strength from the first day
    assert pol.stationed.doctors_per_year_county == 40
    assert not pol.family_doctor.enabled and not pol.reimbursement.enabled
    assert any("stationed doctors (40 a year)" in s for s in m.levers_on())


def test_factory_caps_the_scale_and_checks_the_seed():
    from health_sim import app

    assert app.app_params(scale=1.0).run.scale == app.SCALE_MAX
    assert app.MODEL_PARAMS["scale"]["max"] == app.SCALE_MAX
    with pytest.raises(ValueError, match="seed"):
        app.app_params(seed="abc")
    p = app.app_params(reimbursement_gap=0.1, family_doctor=True, contract_rate=0.7)
    assert p.policies.reimbursement.outpatient_grassroots_increase == pytest.approx(0.1)
    assert p.policies.reimbursement.outpatient_hospital_decrease == pytest.approx(0.1)
    assert p.policies.family_doctor.enabled and p.policies.family_doctor.contract_rate == pytest.approx(0.7)
    # with the controls at their initial values, the levers are the scenario's
    assert app.app_params().policies.model_dump(mode="json") == app.base_params().policies.model_dump(mode="json")


def test_every_control_is_a_keyword_of_the_model():
    """Mesa's Reset builds ``AppModel(**controls)``: the controls and the constructor's keywords agree."""
    from mesa.visualization.solara_viz import _check_model_params

    from health_sim import app

    keywords = set(inspect.signature(app.AppModel.__init__).parameters) - {"self"}
    assert keywords == set(app.MODEL_PARAMS) == set(app.HELP)
    assert set(inspect.signature(app.app_params).parameters) - {"base"} == keywords
    _check_model_params(app.AppModel.__init__, app.MODEL_PARAMS)


# --- the page in a browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """URL of the app served by ``solara run`` on localhost (the server is stopped, its process group killed, after)."""
    need_browser()
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "solara_assets.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "solara.log"
    cmd = [
        str(Path(sys.executable).with_name("solara")),
        "run",
        "src/health_sim/app.py",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--production",
        "--no-open",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the solara server did not start:\n" + log.read_text(errors="replace")[-3000:])
                time.sleep(0.5)
        yield url, log
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def _day_shown(page, day: int) -> None:
    """Wait until the KPI panel says ``day`` days have been run."""
    page.wait_for_function(
        "(n) => { const e = document.querySelector('.hs-app-kpi-0');"
        " return e && e.innerText.startsWith(`Day ${n} of`); }",
        arg=day,
        timeout=FIRST_DAY_S * 1000,
    )


def _plot_src(page) -> str:
    return page.locator(".hs-app-series img").first.get_attribute("src") or ""


@pytest.mark.slow
def test_app_page_steps_the_model_and_updates_the_kpis(server):
    from playwright.sync_api import sync_playwright

    url, log = server
    shots = Path(os.environ.get("HEALTH_SIM_SCREENSHOTS") or outputs_root() / "app")
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url, timeout=180_000)
            step = page.get_by_role("button", name="Step", exact=True)
            step.wait_for(timeout=180_000)
            _day_shown(page, 0)
            page.locator(".hs-app-series img").wait_for(timeout=60_000)  # the plots are on the page

            # a model parameter: the reimbursement gap slider one notch up (0 -> 0.05 rate points), then Reset
            slider = page.locator(".v-slider", has_text="Reimbursement gap").locator("[role=slider]")
            slider.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "(e) => Number(e.getAttribute('aria-valuenow')) > 0", arg=slider.element_handle(), timeout=30_000
            )
            page.get_by_role("button", name="Reset", exact=True).click()
            page.wait_for_function(
                "() => (document.querySelector('.hs-app-kpi-2') || {innerText: ''}).innerText"
                ".includes('reimbursement gap (±0.05 outpatient)')",
                timeout=60_000,
            )

            step.click()
            _day_shown(page, 1)
            page.wait_for_function("() => document.querySelector('.hs-app-kpi-1').innerText.includes('Grassroots')")
            first_text = page.locator(".hs-app-kpi-1").inner_text()
            first_plot = _plot_src(page)
            for day in (2, 3):
                step.click()
                _day_shown(page, day)
            page.wait_for_function("(s) => document.querySelector('.hs-app-series img').src !== s", arg=first_plot)
            text = page.locator(".hs-app-kpi-1").inner_text()
            plot = _plot_src(page)
            page.wait_for_function(  # the new image is shown
                "() => [...document.querySelectorAll('.hs-app-series img, .hs-app-map img')]"
                ".every((i) => i.complete && i.naturalWidth > 100)",
                timeout=30_000,
            )
            page.screenshot(path=str(shots / "app.png"), full_page=True)
        finally:
            browser.close()
    assert re.match(r"Grassroots share \d+\.\d% of visits; mean wait \d+\.\d\d days per trip", text), text
    assert text != first_text, "the KPIs of three days equal those of one"
    assert plot.startswith(("blob:", "data:image/")) and plot != first_plot  # a new image of the plot
    assert not errors, errors
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]
