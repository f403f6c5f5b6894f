"""Validation errors as one line: a pydantic error becomes 'file: key.path: message'."""

from __future__ import annotations

import contextlib
import difflib
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from health_sim.config.files import read_yaml
from health_sim.config.schema import Params
from health_sim.core.errors import ParamsError, short

_MISSING = object()


def fields_at(loc: tuple) -> list[str]:
    """Valid keys of the schema node at ``loc`` (for did-you-mean hints)."""
    node: Any = Params
    for part in loc:
        origin = typing.get_origin(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            f = node.model_fields.get(str(part))
            if f is None:
                return []
            node = f.annotation
        elif origin in (list, tuple):
            node = typing.get_args(node)[0]
        elif origin is dict:
            node = typing.get_args(node)[1]
        else:
            return []
        while typing.get_origin(node) is typing.Annotated:
            node = typing.get_args(node)[0]
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def fmt_value(v: Any) -> str:
    """A value as an error message shows it: whole floats as integers, text quoted, dates in ISO form."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    if isinstance(v, str):
        return repr(short(v, 78))
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    return short(v)


def describe(err: dict) -> tuple[tuple, str]:
    """One pydantic error -> (location, human message)."""
    loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
    typ, ctx, val = err["type"], err.get("ctx", {}), err.get("input", _MISSING)
    if isinstance(val, str) and typ in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        with contextlib.suppress(ValueError):  # a number read as text (a CSV cell) is reported as the number
            val = int(val) if val.strip().lstrip("+-").isdigit() else float(val)
    if typ == "extra_forbidden":
        key = short(str(loc[-1]), 60)
        close = difflib.get_close_matches(key, fields_at(loc[:-1]), n=1)
        return loc, "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
    if typ == "missing":
        return loc, "missing"
    if typ in ("less_than_equal", "less_than"):
        return loc, f"{fmt_value(val)} is above {fmt_value(ctx.get('le', ctx.get('lt')))}"
    if typ in ("greater_than_equal", "greater_than"):
        bound = fmt_value(ctx.get("ge", ctx.get("gt")))
        if bound == "0" and isinstance(val, (int, float)) and val < 0:
            return loc, f"{fmt_value(val)} is negative"
        return (
            loc,
            f"{fmt_value(val)} is below {bound}"
            if typ == "greater_than_equal"
            else f"{fmt_value(val)} must be above {bound}",
        )
    if typ == "value_error":
        return loc, str(ctx.get("error", err["msg"]))
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    return loc, f"{fmt_value(val)}: {msg}" if val is not _MISSING and not isinstance(val, dict) else msg


def validate_file(model: type[BaseModel], path: Path):
    """Read a YAML file and validate it against ``model``; errors as one ParamsError line."""
    return validate_data(model, read_yaml(Path(path)), str(path))


def validate_data(model: type[BaseModel], data: dict, where: str):
    """Validate ``data`` against ``model``; errors as one ParamsError line starting with ``where``."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ParamsError(f"{where}: {first_error(e)}") from None


def sorted_errors(e: ValidationError) -> list[dict]:
    """A ValidationError's errors, unknown keys first.

    A misspelt key is also reported as the real key 'missing', and the misspelling (with its
    did-you-mean) is the useful line.
    """
    errors = e.errors()
    return sorted(errors, key=lambda err: err["type"] != "extra_forbidden")


def first_error(e: ValidationError) -> str:
    """'key.path: message (and N more)' for the first error of a pydantic ValidationError."""
    errors = sorted_errors(e)
    loc, msg = describe(errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{short('.'.join(str(p) for p in loc), 120) or '(top level)'}: {msg}{more}"
