"""Errors every layer raises: bad input is one line for the user."""

from __future__ import annotations

import os
import reprlib
from typing import Any

MAX_MESSAGE = 300
"""Longest error line (characters); a longer one is cut."""


class ParamsError(ValueError):
    """A parameter file or override is invalid.

    ``str(err)`` is one line for the user (at most MAX_MESSAGE characters); in a notebook it shows
    as that line, not a traceback.
    """

    def __init__(self, message: object = ""):
        text = " ".join(str(message).splitlines())  # every kind of line break
        super().__init__(text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "...")

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


class ParamsWarning(UserWarning):
    """A choice that runs but probably does not do what was meant (a lever given parameters but not switched on)."""


def short(v: Any, limit: int = 80) -> str:
    """``v`` as text of at most ``limit`` characters, however large it is.

    An alias bomb stays cheap: nested containers are cut before they are rendered.
    """
    r = reprlib.Repr(
        maxlevel=3, maxdict=4, maxlist=4, maxtuple=4, maxset=4, maxstring=limit, maxother=limit, maxlong=limit
    )
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    text = v if isinstance(v, str) else r.repr(v)
    if isinstance(v, str) and len(text) > limit:
        text = text[: limit - 3] + "..."
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else text[: limit - 3] + "..."
