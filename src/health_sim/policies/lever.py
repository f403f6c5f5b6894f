"""What every lever is: a parameter section that is off by default, starts on a date and ramps up.

It acts through two hooks.

A lever is one class holding its parameters (fields with units and sources, collected into
the schema by :mod:`health_sim.policies.registry`) and its effect (Starsim's intervention
pattern). Its effect is written against two things the run hands it each day:

* :meth:`Lever.set_state` writes the lever's share of the day's :class:`~health_sim.policies.state.PolicyState`
  (tariffs, referral, service rules), which the engine reads;
* :meth:`Lever.close_gaps` closes a share of the grassroots' capability gap for some episode
  kinds (:class:`Gaps`).

Levers with a mechanism that keeps state across days (doctors' postings, trained staff)
own it in their module and the run keeps one instance (:class:`~health_sim.policies.run.PolicyRun`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import PrivateAttr, model_validator

from health_sim.core.fields import P, Section
from health_sim.core.names import KINDS, Level

if TYPE_CHECKING:
    from health_sim.policies.run import PolicyRun
    from health_sim.policies.state import PolicyState

_START = dt.date(2023, 1, 1)
_K = {k: i for i, k in enumerate(KINDS)}


class Lever(Section):
    """Common to every lever: on or off, when it starts, how fast it ramps up."""

    enabled: bool = P(
        False,
        "Whether the lever acts at all.",
        unit="bool",
        source="off by default; params/scenarios/baseline_2023.yaml has the county's 2023 reforms on",
    )
    start: dt.date = P(_START, "Date the lever starts.", unit="date", source="scenario")
    ramp_years: float = P(
        0.0,
        "Years from the start to full strength (linear; 0 = at once).",
        unit="years",
        source="scenario",
        ge=0.0,
        le=20.0,
    )

    before_start: dict[str, Any] | None = P(
        None,
        (
            "The lever as it stood before `start`: `since` (a date) and values of its own parameters in effect at "
            "full strength from `since` until `start` (for example a county's present level, which a scenario scales "
            "up from its start, ramping from this level); other parameters as given. Give the present level as the "
            "lever's own values too, so that a scenario changes only what it names."
        ),
        unit="since: date; others: as the parameter",
        source="scenario",
    )
    _earlier: Lever | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _before_start(self) -> Lever:
        b = self.before_start
        if b is None:
            self._earlier = None
            return self
        if "since" not in b:
            raise ValueError("before_start: give since (the date its values start)")
        own = set(type(self).model_fields) - {"enabled", "start", "ramp_years", "before_start"}
        for k in b:
            if k != "since" and k not in own:
                raise ValueError(f"before_start: {k} is not a parameter of this lever ({', '.join(sorted(own))})")
        values = {k: v for k, v in b.items() if k != "since"}
        data = self.model_dump() | values | {"before_start": None, "ramp_years": 0.0}
        data["start"] = b["since"]
        earlier = type(self)(**data)  # validates the values and the date
        if earlier.start >= self.start:
            raise ValueError(f"before_start: since {earlier.start} must be before start {self.start}")
        self._earlier = earlier
        return self

    @property
    def acts_from(self) -> dt.date:
        """First day the lever acts when enabled: ``before_start.since`` if given, else ``start``."""
        return self._earlier.start if self._earlier is not None else self.start

    def at(self, date: dt.date) -> Lever:
        """The lever as it acts on ``date``.

        Without ``before_start``: itself. With it: its ``before_start`` level before ``start``,
        then during the ramp the values of ``before_start`` moved linearly towards its own (at
        full strength: a scale-up does not fall back to nothing when it starts), then itself.
        """
        if self._earlier is None or not self.enabled:
            return self
        if date < self.start:
            return self._earlier
        i = self.intensity(date)
        if i >= 1.0:
            return self
        blend: dict[str, Any] = {}
        for k in self.before_start:
            if k == "since":
                continue
            a, b = getattr(self._earlier, k), getattr(self, k)
            if isinstance(b, bool) or not isinstance(b, (int, float)):
                blend[k] = b
            elif isinstance(b, int):
                blend[k] = round(a + i * (b - a))
            else:
                blend[k] = a + i * (b - a)
        return self.model_copy(update=blend | {"ramp_years": 0.0})

    def intensity(self, date: dt.date) -> float:
        """Strength in [0, 1] on ``date``."""
        if not self.enabled or date < self.start:
            return 0.0
        if self.ramp_years <= 0:
            return 1.0
        return min(1.0, (date - self.start).days / (365.0 * self.ramp_years))

    def set_state(self, state: PolicyState, date: dt.date) -> None:
        """Write this lever's effect on ``date`` into the day's ``state`` (default: none)."""

    def close_gaps(self, gaps: Gaps, date: dt.date, run: PolicyRun) -> None:
        """Close this lever's share of the grassroots' capability gaps on ``date`` (default: none)."""

    def problems(self, name: str, params) -> list[tuple[tuple, str]]:
        """Settings this lever allows key by key but that make no sense with the rest of ``params``.

        As (location, message) pairs (default: none).
        """
        return []


class Gaps:
    """Shares of each facility's gap to the level above that the levers close, by episode kind.

    A village clinic's gap is to its township centre, a township centre's to the county
    people's hospital. Shares from several levers combine as independent chances:
    1 - (1 - a)(1 - b).

    Parameters
    ----------
    level:
        (F,) level code of each facility (:class:`~health_sim.core.names.Level`).
    township:
        (F,) township index of each facility (-1 for the county and city hospitals).
    """

    def __init__(self, level: np.ndarray, township: np.ndarray):
        self.keep = np.ones((len(level), len(KINDS)))
        self.township = township
        self.village = level == Level.VILLAGE
        self.town = level == Level.TOWNSHIP
        self.grassroots = self.village | self.town

    def close(self, rows: np.ndarray, kinds: tuple[str, ...], share: float | np.ndarray) -> None:
        """Close ``share`` of the gap (a number, or one per township) at ``rows`` for ``kinds``."""
        share = np.asarray(share, dtype=float)
        for k in kinds:
            self.keep[rows, _K[k]] *= 1.0 - (share if share.ndim == 0 else share[self.township[rows]])

    def closed(self) -> np.ndarray:
        """(F, K) share of the gap closed."""
        return 1.0 - self.keep
