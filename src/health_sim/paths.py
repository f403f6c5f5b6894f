"""Where things are: the repository root (the folder holding params/), from anywhere inside it."""

from __future__ import annotations

from pathlib import Path


def repo_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding
    ``params/baseline.yaml``; notebooks run from notebooks/ or from the root alike."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "params" / "baseline.yaml").exists():
            return d
    raise FileNotFoundError(f"no params/baseline.yaml at or above {here}")


def resolve(path: str | Path, start: str | Path | None = None) -> Path:
    """``path`` as given if it exists, else relative to the repository root."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    return repo_root(start) / p
