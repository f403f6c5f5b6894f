"""Test-suite settings that reach the notebooks too (nbval runs them from notebooks/)."""

import os

NOTEBOOK_SCALE = 0.01
"""Scale at which notebooks run under the tests (and at which their checked outputs were made)."""

os.environ["HEALTH_SIM_SCALE"] = str(NOTEBOOK_SCALE)
os.environ["HEALTH_SIM_SMOKE"] = "1"  # notebooks with sweeps run their smallest designs
