"""When residents fall ill: a calendar of each resident's next episode onset.

A resident has a daily probability ``p`` of an episode (:class:`health_sim.world.chronic.ChronicCare`),
at most one a day: a daily hazard ``h = -log(1 - p)``. Rather than a lottery among all
residents every day, each resident carries the day of his next onset. After an episode
he draws an exponential amount of hazard ``E`` to be used up; his next onset is the first
day on which the hazard accumulated since reaches ``E``, ``ceil(E / h)`` days later, which
gives the geometric waits of a daily lottery (``P(wait > k) = (1 - p)^k``). When ``p``
changes (a diagnosis, the weekly review of control), the hazard already used up is kept
and the rest is spent at the new rate (the next-reaction method of Gibson and Bruck):
the onset moves by as little as the change of risk requires, and a resident whose risk
does not change falls ill on the same days (common random numbers). A day's work is
proportional to its episodes: the residents due within the coming week are gathered once
a week (:data:`WINDOW`), and each day takes those due that day.

Draws are keyed by (seed, stream, day, resident) (:mod:`health_sim.core.rng`). The kind of an
episode is drawn at onset from the kinds' shares of ``p``.
"""

from __future__ import annotations

import numpy as np

from health_sim.core import rng as crn
from health_sim.core.jit import jit

WINDOW = 7
"""Days gathered at a time: the residents due in the next ``WINDOW`` days."""
NEVER = np.iinfo(np.int32).max
"""Onset day of a resident who cannot fall ill (daily probability 0)."""


class Onsets:
    """Next onset day of every resident (``next_day``, clock days), and those due soon."""

    def __init__(self, seed: int, p: np.ndarray):
        """``p``: daily episode probabilities (n,); onsets are drawn from day 0 on."""
        n = len(p)
        self.seed = int(seed)
        self.next_day = np.empty(n, dtype=np.int32)
        self.since = np.empty(n, dtype=np.int32)  # day from which ``left`` is counted
        self.left = np.empty(n)  # hazard still to be used up after day ``since`` before the onset
        self.hazard = np.empty(n)  # daily hazard in force since then
        _renew(self.seed, np.arange(n), p, -1, self.next_day, self.since, self.left, self.hazard)
        self._week = np.empty(0, dtype=np.int64)  # residents due before _until when it was set, by day
        self._starts = np.zeros(WINDOW + 1, dtype=np.int64)  # where each day of the week begins in _week
        self._added = np.empty(0, dtype=np.int64)  # residents since made due before _until
        self._until = -1

    def today(self, d: int, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residents whose episode begins on day ``d`` (ascending) and their illness uniforms.

        Uniform on [0, p) each, so that where one falls among his kinds' cumulative
        probabilities draws the kind. They must be :meth:`renew` ed after the day.
        """
        if d >= self._until:
            self._until = d + WINDOW
            self._week, self._starts = _due_by_day(self.next_day, d, self._until)
            self._added = np.empty(0, dtype=np.int64)
        k = d - (self._until - WINDOW)
        listed = self._week[self._starts[k] : self._starts[k + 1]]
        return _take(self.seed, d, listed, self._added, self.next_day, p)

    def renew(self, ids: np.ndarray, p: np.ndarray, d: int) -> None:
        """Residents ``ids`` had an episode on day ``d``: draw their next onsets (probabilities ``p`` (n,))."""
        _renew(self.seed, ids, p, d, self.next_day, self.since, self.left, self.hazard)
        self._list(ids)

    def change(self, ids: np.ndarray, p: np.ndarray, d: int) -> None:
        """The risks of residents ``ids`` change after day ``d`` (to ``p`` (n,)): move their onsets."""
        _change(ids, p, d, self.next_day, self.since, self.left, self.hazard)
        self._list(ids)

    def _list(self, ids: np.ndarray) -> None:
        due = ids[self.next_day[ids] < self._until]
        if due.size:
            self._added = np.concatenate([self._added, due])


@jit
def _daily_hazard(p):
    return -np.log1p(-np.float64(p))


@jit
def _onset(d, left, hazard):
    """Day on which ``left`` hazard is used up at ``hazard`` a day, counting from day ``d + 1``."""
    if hazard <= 0.0:
        return NEVER
    return np.int32(min(d + max(1.0, np.ceil(left / hazard)), NEVER))


@jit
def _renew(seed, ids, p, d, next_day, since, left, hazard):
    """A fresh exponential amount of hazard for residents ``ids`` from day ``d``."""
    key = crn.key(seed, crn.ONSET, d + 1, 0)  # day + 1: the first draw is from day -1
    for i in ids:
        since[i] = d
        left[i] = -np.log1p(-crn.uniform(key, i))  # exponential(1)
        hazard[i] = _daily_hazard(p[i])
        next_day[i] = _onset(d, left[i], hazard[i])


@jit
def _change(ids, p, d, next_day, since, left, hazard):
    """Residents ``ids`` keep the hazard they have used up to day ``d`` and spend the rest at their new rate."""
    for i in ids:
        left[i] = max(left[i] - (d - since[i]) * hazard[i], 0.0)
        since[i] = d
        hazard[i] = _daily_hazard(p[i])
        next_day[i] = _onset(d, left[i], hazard[i])


@jit
def _due_by_day(next_day, first, until):
    """Residents due on days ``first`` .. ``until - 1``, ordered by day, and where each day begins."""
    days = until - first
    count = np.zeros(days + 1, dtype=np.int64)
    for i in range(next_day.size):
        if next_day[i] < until:
            count[next_day[i] - first + 1] += 1
    starts = np.cumsum(count)
    out = np.empty(starts[-1], dtype=np.int64)
    fill = starts[:-1].copy()
    for i in range(next_day.size):
        if next_day[i] < until:
            k = next_day[i] - first
            out[fill[k]] = i
            fill[k] += 1
    return out, starts


@jit
def _take(seed, d, listed, added, next_day, p):
    """Residents of ``listed`` and ``added`` due on day ``d`` (each once, ascending) and their illness uniforms."""
    ids = []
    for group in (listed, added):
        for i in group:
            if next_day[i] == d:
                next_day[i] = -1  # taken (a resident may be listed twice); renewed after the day
                ids.append(i)
    out = np.sort(np.array(ids, dtype=np.int64))
    key = crn.key(seed, crn.KIND, d, 0)
    u = np.empty(out.size)
    for j in range(out.size):
        u[j] = crn.uniform(key, out[j]) * np.float64(p[out[j]])
    return out, u
