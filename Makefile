# health_sim: the two commands of the README, and a few more.
#   make scenarios  the main job: every scenario through the notebook template, and the scorecard, into outputs/
#   make test       the test suite (unit tests and the notebooks, validated with nbval)
# Both install what they need first: uv (from PyPI, if missing) and the locked environment.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
export UV_COMPILE_BYTECODE := 1
export UV_FROZEN := 1
PYTEST_ARGS ?=

SCALE ?= 0.05
REPS ?= 10
JOBS ?= 2

.PHONY: scenarios baseline calibrate test bench lab app setup

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --user --quiet --break-system-packages uv

.venv/.synced: pyproject.toml uv.lock .python-version | $(UV)
	$(UV) sync --quiet
	@touch $@

setup: .venv/.synced

scenarios: setup
	$(UV) run health-sim scenarios --scale $(SCALE) --reps $(REPS) --jobs $(JOBS)

baseline: setup
	$(UV) run health-sim run params/baseline.yaml --out outputs/baseline

calibrate: setup
	$(UV) run health-sim fit params/calibrate/yangshan_evidence.yaml

test: setup
	$(UV) run pytest $(PYTEST_ARGS)

bench: setup
	$(UV) run python benchmarks/county_year.py
	$(UV) run python benchmarks/reference_mesa.py
	$(UV) run python benchmarks/city.py
	$(UV) run python benchmarks/scaling.py
	$(UV) run python benchmarks/sweep_throughput.py --via both
	$(UV) run python benchmarks/fit_simulation.py

# JupyterLab on this machine only (127.0.0.1); root needs --allow-root, which is given when make runs as root.
lab: setup
	$(UV) run jupyter lab --ip 127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root,)

# The Mesa app (src/health_sim/app.py) at http://127.0.0.1:8765, this machine only; solara's front-end files are fetched once (npm).
app: setup
	$(UV) run python scripts/solara_assets.py
	SOLARA_TELEMETRY_MIXPANEL_ENABLE=False $(UV) run solara run src/health_sim/app.py --host 127.0.0.1 --port 8765 --production
