"""Building blocks of the parameter schema.

Sections that reject unknown keys, and fields that carry a description, a unit and the source of
their default.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


def P(default: Any = ..., description: str = "", *, unit: str = "", source: str = "", **kw: Any) -> Any:
    """A parameter field: default, one-line description, unit and source of the default."""
    extra = {"unit": unit, "source": source}
    if callable(default) and not isinstance(default, (int, float, str)):
        return Field(default_factory=default, description=description, json_schema_extra=extra, **kw)
    return Field(default, description=description, json_schema_extra=extra, **kw)


Rate = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]


class Section(BaseModel):
    """Base of every parameter section: strict about keys, assignments and numbers.

    Unknown keys are errors; assignments are validated; NaN and infinite numbers are errors.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True, allow_inf_nan=False)


def _per_kind(values: dict[str, float]) -> Any:
    return lambda: dict(values)


def _check_keys(v: dict, allowed: tuple[str, ...], what: str, need_all: bool = True) -> dict:
    unknown = [k for k in v if k not in allowed]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(allowed)})"
        raise ValueError(f"unknown {what} '{k}'{hint}")
    if need_all:
        missing = [k for k in allowed if k not in v]
        if missing:
            raise ValueError(f"missing {what} '{missing[0]}'")
    return v
