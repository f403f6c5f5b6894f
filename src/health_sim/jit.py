"""Numba compilation for the engine: one decorator, and a compile cache that cannot go stale.

Numba's own cache is invalidated only when the file of the compiled function changes,
not when a function it calls from another file does. The compiled code of
:mod:`health_sim.rng`, :mod:`health_sim.rules`, :mod:`health_sim.engine`,
:mod:`health_sim.chronic` and :mod:`health_sim.onset` is therefore cached in a folder named after a hash of those files (under ``$NUMBA_CACHE_DIR``
if set, else the user's cache folder): edit any of them and everything is compiled
afresh, once (a few seconds), then loaded from the cache by every later process.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

_HERE = Path(__file__).resolve().parent
_SOURCES = ("jit.py", "rng.py", "rules.py", "engine.py", "chronic.py", "onset.py")


def _cache_dir() -> Path:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((_HERE / name).read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "health_sim")
    return Path(base) / f"numba-{numba.__version__}-{digest.hexdigest()[:16]}"


numba.config.CACHE_DIR = str(_cache_dir())  # read when a function is decorated with cache=True

jit = numba.njit(cache=True)
"""Decorator of every compiled function of the engine (no Python objects, cached)."""
