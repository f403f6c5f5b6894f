"""Test-suite settings that reach the notebooks too (nbval runs them from notebooks/).

The tests never write into the repository's ``outputs/`` (where the main job, ``make
scenarios``, leaves its results) or its root: HEALTH_SIM_OUTPUTS points every default
output place, the notebooks' included, at a temporary folder removed when the session
ends, and hypothesis keeps its caches there too.
"""

import os
import shutil
import tempfile

NOTEBOOK_SCALE = 0.01
"""Scale at which notebooks run under the tests (and at which their checked outputs were made)."""

os.environ["HEALTH_SIM_SCALE"] = str(NOTEBOOK_SCALE)
os.environ["HEALTH_SIM_SMOKE"] = "1"  # notebooks with sweeps run their smallest designs
_OUTPUTS = tempfile.mkdtemp(prefix="health_sim-test-outputs-")
os.environ["HEALTH_SIM_OUTPUTS"] = _OUTPUTS
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = os.path.join(_OUTPUTS, ".hypothesis")  # not .hypothesis/ in the repository


def pytest_unconfigure(config):
    """Remove the session's temporary outputs folder."""
    shutil.rmtree(_OUTPUTS, ignore_errors=True)
