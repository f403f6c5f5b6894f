"""Numba compilation for the engine: one decorator, and a compile cache that cannot go stale.

Numba's own cache is invalidated only when the file of the compiled function changes,
not when a function it calls from another file does, nor when a constant it reads from
another module does (the vocabulary's codes, the KPI counters' rows, the policy record's
fields). The compiled code is therefore cached in a folder named after a hash of every
module of the layers the engine is built from (``core``, ``policies``, ``world``, ``sim``),
under ``$NUMBA_CACHE_DIR`` if set, else the user's cache folder: edit any of them and
everything is compiled afresh, once (about 20 s), then loaded from the cache by every
later process.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

_PACKAGE = Path(__file__).resolve().parent.parent
_LAYERS = ("core", "policies", "world", "sim")
"""Subpackages whose source keys the compile cache."""


def _cache_dir() -> Path:
    digest = hashlib.sha256()
    for layer in _LAYERS:
        for path in sorted((_PACKAGE / layer).rglob("*.py")):
            digest.update(path.relative_to(_PACKAGE).as_posix().encode())
            digest.update(path.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "health_sim"
    )
    return Path(base) / f"numba-{numba.__version__}-{digest.hexdigest()[:16]}"


numba.config.CACHE_DIR = str(_cache_dir())  # read when a function is decorated with cache=True

jit = numba.njit(cache=True)
"""Decorator of every compiled function of the engine (no Python objects, cached)."""
