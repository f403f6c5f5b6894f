"""Regenerate tests/baseline_summary.json: the KPIs of the baseline at scale 0.05 for a year.

The regression test compares every run of the test suite with this file; regenerate it
only when a change to the model is meant to change results, and say so in the commit.
"""

import json
from pathlib import Path

import health_sim
from health_sim.config.params import with_overrides

ROOT = Path(__file__).resolve().parents[1]

params = with_overrides(health_sim.load_params(ROOT / "params/baseline.yaml"), {"run.scale": 0.05, "run.days": 365})
result = health_sim.run(params)
out = {"params": {"scale": 0.05, "days": 365, "seed": result.seed}, "kpis": result.kpis}
(ROOT / "tests/baseline_summary.json").write_text(json.dumps(out, indent=2) + "\n")
print(json.dumps(out["kpis"], indent=2))
