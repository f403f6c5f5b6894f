"""health_sim: where residents of a Chinese county seek care, under policy.

    >>> import health_sim
    >>> params = health_sim.load_params("params/baseline.yaml")
    >>> result = health_sim.run(params, seed=1, scale=0.05, days=30)
    >>> result.kpis["grassroots_share"]  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

from .kpis import KPIS
from .model import HealthSystemModel
from .params import ParamsError, load_params
from .run import RunResult, run
from .schema import Params

try:
    __version__ = version("health-sim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = ["HealthSystemModel", "KPIS", "Params", "ParamsError", "RunResult", "load_params", "run", "__version__"]
