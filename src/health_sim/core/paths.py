"""Where things are: the repository root (the folder holding params/), from anywhere inside it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def repo_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding ``params/baseline.yaml``.

    ``start`` defaults to the working directory; notebooks run from notebooks/ or from the root
    alike.
    """
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "params" / "baseline.yaml").exists():
            return d
    raise FileNotFoundError(f"no params/baseline.yaml at or above {here}")


OUTPUTS_ENV = "HEALTH_SIM_OUTPUTS"
"""Environment variable naming the folder that takes the place of ``outputs/`` (the tests
point it at a temporary folder, so they never touch the main job's outputs)."""


def outputs_root(start: str | Path | None = None) -> Path:
    """Where outputs go by default.

    $HEALTH_SIM_OUTPUTS if set, else the repository's ``outputs/`` (from anywhere inside it),
    else ``outputs/`` in the working directory.
    """
    env = os.environ.get(OUTPUTS_ENV)
    if env:
        return Path(env)
    try:
        return repo_root(start) / "outputs"
    except FileNotFoundError:
        return Path("outputs")


def resolve(path: str | Path, start: str | Path | None = None) -> Path:
    """``path`` as given if it exists, else relative to the repository root.

    As given when there is no repository around, so that the caller reports it missing.
    """
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    try:
        return repo_root(start) / p
    except FileNotFoundError:
        return p


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` whole or not at all.

    ``write(tmp)`` writes to a temporary name beside it, which is then renamed over it (an
    interruption leaves the old file, never half a new one).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of UTF-8 text."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
