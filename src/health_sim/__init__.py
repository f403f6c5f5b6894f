"""health_sim: where residents of a Chinese county seek care, under policy.

    >>> import health_sim
    >>> params = health_sim.load_params("params/baseline.yaml")
    >>> result = health_sim.run(params, seed=1, scale=0.05, days=30)
    >>> result.kpis["grassroots_share"]  # doctest: +SKIP

The names below are imported on first use, so that the command line starts fast.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("health-sim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_EXPORTS = {
    "HealthSystemModel": "sim.model",
    "KPIS": "sim.kpis",
    "Params": "config.schema",
    "ParamsError": "core.errors",
    "RunResult": "experiments.runner",
    "load_params": "config.params",
    "run": "experiments.runner",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'health_sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
