"""One burn-in for many lever settings: a per-process cache of models at the end of the burn-in.

A run starts with a year of unrecorded burn-in that brings trust, habits, queues and
beds to their steady state. When every enabled lever starts on or after the start date,
no lever acts during the burn-in, so its end state depends only on the seed and the
parameters outside ``policies``. Sweeps and optimisations run many lever settings with
the same few seeds (common random numbers), so each process keeps the end-of-burn-in
model of each (seed, non-lever parameters) and continues copies of it
(:meth:`HealthSystemModel.rebind`) instead of simulating the burn-in again. Results are
identical bit for bit to a run from scratch (a test checks every scenario).
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict

from health_sim.config.schema import Params
from health_sim.sim.model import HealthSystemModel, burn_in_key

CACHE_BYTES = int(os.environ.get("HEALTH_SIM_WARMSTART_BYTES", 400_000_000))
"""Most bytes of pickled models a process keeps, least recently used dropped first (environment
variable HEALTH_SIM_WARMSTART_BYTES; 0 turns the cache off). A model at the end of its burn-in
pickles to about 8 MB at a tenth of the county and 80 MB at full scale, so the default keeps
the seeds of a typical sweep at the scales sweeps run at."""

_cache: OrderedDict[str, bytes] = OrderedDict()
stats = {"hits": 0, "misses": 0}


def warm_model(params: Params, seed: int) -> HealthSystemModel:
    """A model of ``params`` and ``seed`` at the end of its burn-in, from the cache when it can be."""
    key = burn_in_key(params, seed) if CACHE_BYTES > 0 else None
    if key is not None and key in _cache:
        _cache.move_to_end(key)
        stats["hits"] += 1
        model = pickle.loads(_cache[key])
        model.rebind(params)
        return model
    model = HealthSystemModel(params, rng=seed)
    model.burn_in()
    if key is not None:
        stats["misses"] += 1
        blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        if len(blob) <= CACHE_BYTES:
            _cache[key] = blob
            while sum(len(b) for b in _cache.values()) > CACHE_BYTES:
                _cache.popitem(last=False)
    return model


def clear() -> None:
    """Empty this process's cache."""
    _cache.clear()
    stats.update(hits=0, misses=0)
