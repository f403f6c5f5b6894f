"""Common random numbers.

Every random draw is keyed by (seed, stream, day, resident) and by nothing else, so a
resident's illness and choice draws do not depend on the policy: two runs with one
seed differ only through the policy (Starsim's approach).

* :func:`uniforms` hashes (seed, stream, day, slot, resident id) with SplitMix64,
  a counter-based generator, for the few residents who have an episode that day.
  :func:`key` and :func:`uniform` are the same hash compiled, for the engine's loops
  (``uniform(key(seed, stream, day, slot), id)`` equals ``uniforms(seed, stream, day, [id], slot)``).
"""

from __future__ import annotations

import numpy as np

from health_sim.core.jit import jit

# One stream per kind of decision; new decisions get new numbers, never reuse one.
POPULATION = 1
ARRIVAL = 2  # the former daily illness lottery (now ONSET and KIND); kept so that no number is reused
SEVERITY = 3
SPECIALTY = 4
CHOICE = 5
FORMAL_REFERRAL = 6
ADMIT = 7
LENGTH_OF_STAY = 8
DOWNWARD = 9
SATISFACTION = 10
EXTRA_VISITS = 11
SINKING = 12
SCREENING = 13
ONLINE = 14
TCM = 15
CONTROL = 16
TRACKING = 17
LATE_DIAGNOSIS = 18
TURNOVER = 19
BEDS = 20
ONSET = 21
KIND = 22
ROTATION = 23  # which township doctors leave for rotation training today
INCOME = 24  # residents' disposable incomes (its own generator: the other draws of the population are unchanged)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


@jit
def _mix(x):
    """SplitMix64 finaliser on uint64 (wrapping arithmetic); compiled, and elementwise on arrays."""
    x = x + _GOLDEN
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


_MASK = (1 << 64) - 1


def _mix_int(x: int) -> int:
    """SplitMix64 finaliser on a Python int (the same function as :func:`_mix`)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _key(seed: int, stream: int, day: int, slot: int) -> np.uint64:
    h = 0
    for v in (seed, stream, day, slot):
        h = _mix_int(h ^ (v & _MASK))
    return np.uint64(h)


def uniforms(seed: int, stream: int, day: int, ids: np.ndarray, slot: int = 0) -> np.ndarray:
    """Uniforms in [0, 1) for residents ``ids`` on ``day``; identical whatever else is drawn."""
    key = _key(seed, stream, day, slot)
    with np.errstate(over="ignore"):
        x = _mix(ids.astype(np.uint64) * _M2 ^ key)
    return (x >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)


@jit
def key(seed, stream, day, slot):
    """The hash key of (seed, stream, day, slot), compiled (as :func:`_key`)."""
    h = np.uint64(0)
    for v in (seed, stream, day, slot):
        h = _mix(h ^ np.uint64(v))
    return h


@jit
def uniform(k, i):
    """The uniform in [0, 1) of id ``i`` under key ``k``.

    ``i`` is a resident, or one of his alternatives (``resident * n + j``).

    ``k`` is cast to uint64: a key that crossed into Python comes back as a plain int, which
    Numba would otherwise type as int64 (and mix with the id in floating point).
    """
    x = _mix((np.uint64(i) * _M2) ^ np.uint64(k))
    return np.float64(x >> _S11) * (1.0 / 9007199254740992.0)


def generator(seed: int, stream: int) -> np.random.Generator:
    """A generator for one-off draws (building the county and its residents)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))
