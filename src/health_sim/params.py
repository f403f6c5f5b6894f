"""Loading parameter files: defaults <- ``extends`` chain <- file <- ``--set`` overrides.

Every file is an override of the schema defaults (see :mod:`health_sim.schema`), so a
scenario names only what it changes. Bad input raises :class:`ParamsError`, whose
message is one line naming the file (or ``--set``) and the dotted key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .schema import Params


class ParamsError(ValueError):
    """A parameter file or override is invalid. ``str(err)`` is one line for the user."""


_MISSING = object()


def defaults() -> dict:
    """The schema defaults as plain data (JSON types)."""
    return Params().model_dump(mode="json")


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: about 10x faster on params/baseline.yaml


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise ParamsError(f"{path}: no such file")
    if path.is_dir():
        raise ParamsError(f"{path}: is a directory, not a parameter file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParamsError(f"{path}: malformed YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a text file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data


def _merge(base: dict, over: dict, origin: dict, src: str, prefix: tuple = ()) -> dict:
    """Deep-merge ``over`` into a copy of ``base``; record which source set each key."""
    out = dict(base)
    for k, v in over.items():
        key = prefix + (k,)
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, origin, src, key)
        else:
            out[k] = v
        origin[key] = src
    return out


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    """The file and the files it extends, base first."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in seen:
        raise ParamsError(f"{path}: extends: circular ({' -> '.join(p.name for p in seen + (resolved,))})")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return [(path, data)]
    if not isinstance(parent, str):
        raise ParamsError(f"{path}: extends: must be a file name, not {parent!r}")
    parent_path = path.parent / parent
    if not parent_path.exists():
        raise ParamsError(f"{path}: extends: {parent}: no such file")
    return _chain(parent_path, seen + (resolved,)) + [(path, data)]


def parse_set(item: str) -> tuple[list[str], Any]:
    """Parse one ``dotted.key=value`` override; the value is read as YAML (numbers, lists...)."""
    if "=" not in item:
        raise ParamsError(f"--set {item}: expected dotted.key=value")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ParamsError(f"--set {item}: expected dotted.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_path(data: dict, parts: list[str], value: Any, origin: dict, src: str) -> None:
    node: Any = data
    for i, p in enumerate(parts[:-1]):
        if isinstance(node, list):
            try:
                node = node[int(p)]
            except (ValueError, IndexError):
                raise ParamsError(f"{src} {'.'.join(parts)}: {p} is not an index of this list") from None
            continue
        if not isinstance(node.get(p), (dict, list)):
            node[p] = {}
        node = node[p]
    last = parts[-1]
    if isinstance(node, list):
        try:
            node[int(last)] = value
        except (ValueError, IndexError):
            raise ParamsError(f"{src} {'.'.join(parts)}: {last} is not an index of this list") from None
    else:
        node[last] = value
    origin[tuple(parts)] = src


def _fields_at(loc: tuple) -> list[str]:
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


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict, bool)) or v is None else str(v)


def _describe(err: dict) -> tuple[tuple, str]:
    """One pydantic error -> (location, human message)."""
    loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
    typ, ctx, val = err["type"], err.get("ctx", {}), err.get("input", _MISSING)
    if isinstance(val, str) and typ in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        try:  # a number read as text (a CSV cell) is reported as the number
            val = int(val) if val.strip().lstrip("+-").isdigit() else float(val)
        except ValueError:
            pass
    if typ == "extra_forbidden":
        key = str(loc[-1])
        close = difflib.get_close_matches(key, _fields_at(loc[:-1]), n=1)
        return loc, "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
    if typ == "missing":
        return loc, "missing"
    if typ in ("less_than_equal", "less_than"):
        return loc, f"{_fmt(val)} is above {_fmt(ctx.get('le', ctx.get('lt')))}"
    if typ in ("greater_than_equal", "greater_than"):
        bound = _fmt(ctx.get("ge", ctx.get("gt")))
        if bound == "0" and isinstance(val, (int, float)) and val < 0:
            return loc, f"{_fmt(val)} is negative"
        return loc, f"{_fmt(val)} is below {bound}" if typ == "greater_than_equal" else f"{_fmt(val)} must be above {bound}"
    if typ == "value_error":
        return loc, str(ctx.get("error", err["msg"]))
    msg = err["msg"]
    msg = msg[0].lower() + msg[1:] if msg else msg
    return loc, f"{_fmt(val)}: {msg}" if val is not _MISSING and not isinstance(val, dict) else msg


def _source_of(loc: tuple, origin: dict, default_src: str) -> str:
    for n in range(len(loc), 0, -1):
        src = origin.get(tuple(str(p) for p in loc[:n]))
        if src is not None:
            return src
    key = tuple(str(p) for p in loc)
    below = [v for k, v in origin.items() if k[: len(key)] == key]
    return below[-1] if below else default_src


def validate_file(model: type[BaseModel], path: Path):
    """Read a YAML file and validate it against ``model``; errors as one ParamsError line."""
    return validate_data(model, _read_yaml(Path(path)), str(path))


def validate_data(model: type[BaseModel], data: dict, where: str):
    """Validate ``data`` against ``model``; errors as one ParamsError line starting with ``where``."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ParamsError(f"{where}: {first_error(e)}") from None


def first_error(e: ValidationError) -> str:
    """'key.path: message (and N more)' for the first error of a pydantic ValidationError."""
    errors = e.errors()
    loc, msg = _describe(errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{'.'.join(str(p) for p in loc) or '(top level)'}: {msg}{more}"


def context_problems(p: Params) -> list[tuple[tuple, str]]:
    """Combinations that each key allows but that make no sense together: (location, message)."""
    import datetime as dt
    import math

    out: list[tuple[tuple, str]] = []
    end = p.run.start_date + dt.timedelta(days=p.run.days - 1)
    for name in type(p.policies).model_fields:
        lever = getattr(p.policies, name)
        if lever.enabled and lever.start > end:
            out.append((("policies", name, "start"), f"{lever.start} is after the run ends ({end})"))
    st, ci = p.policies.stationed, p.policies.circuit
    staff = {ft: int(round(sum(getattr(p.facilities, ft).doctors.values()))) for ft in ("county_people", "city_tertiary")}
    at_once = lambda per_year: math.ceil(per_year * st.period_days / 365)  # noqa: E731
    if st.enabled:
        county_out = at_once(st.doctors_per_year_county) + (ci.teams * ci.team_size if ci.enabled else 0)
        if st.doctors_per_year_county > staff["county_people"] or county_out > staff["county_people"]:
            out.append((("policies", "stationed", "doctors_per_year_county"), f"{st.doctors_per_year_county} a year ({county_out} away at once with the circuit teams) is more than the county people's hospital's {staff['county_people']} doctors"))
        if st.doctors_per_year_city > staff["city_tertiary"]:
            out.append((("policies", "stationed", "doctors_per_year_city"), f"{st.doctors_per_year_city} is more than the city hospital's {staff['city_tertiary']} doctors"))
    if ci.enabled and ci.teams * ci.team_size > staff["county_people"]:
        out.append((("policies", "circuit", "teams"), f"{ci.teams} teams of {ci.team_size} is more than the county people's hospital's {staff['county_people']} doctors"))
    return out


def validate(data: dict, origin: dict | None = None, source: str = "<params>") -> Params:
    """Validate merged parameter data; raise ParamsError with one line on the first problem."""
    origin = {tuple(str(p) for p in k): v for k, v in (origin or {}).items()}
    try:
        params = Params.model_validate(data)
    except ValidationError as e:
        errors = e.errors()
        loc, msg = _describe(errors[0])
        src = _source_of(loc, origin, source)
        key = ".".join(str(p) for p in loc) or "(top level)"
        raise ParamsError(_format(src, key, msg, len(errors) - 1)) from None
    problems = context_problems(params)
    if problems:
        loc, msg = problems[0]
        raise ParamsError(_format(_source_of(loc, origin, source), ".".join(loc), msg, len(problems) - 1))
    return params


def _format(src: str, key: str, msg: str, n_more: int) -> str:
    more = f" (and {n_more} more)" if n_more else ""
    if ", row " in src:  # a row of a county set's table: 'file: row N, column: message'
        parts = key.split(".")
        at = next((i for i, p in enumerate(parts) if p.isdigit()), 1)
        file, _, row = src.partition(", ")
        from .county_files import column_of

        return f"{file}: {row}, {column_of(parts[at + 1 :]) if parts[at + 1 :] else parts[-1]}: {msg}{more}"
    if src == "--set":
        return f"--set {key}: {msg}{more}"
    if src.startswith("--"):  # a command-line flag standing for one key
        return f"{src}: {msg}{more}"
    return f"{src}: {key}: {msg}{more}"


def _use_county_set(data: dict, folder: Path, origin: dict) -> dict:
    """``data`` with its county replaced by the county set in ``folder`` (see :mod:`health_sim.county_files`)."""
    from .county_files import read_county_set

    county, facilities, where = read_county_set(folder)
    data = dict(data, county=_merge(defaults()["county"], county, {}, ""))
    data = _merge(data, {"facilities": facilities}, {}, "")
    for ftype, row in facilities.items():  # a row's doctors are the type's whole staff
        if "doctors" in row:
            data["facilities"][ftype]["doctors"] = row["doctors"]
    origin.update(where)
    return data


def load_params(path: str | Path | None = None, overrides: list[str] | dict | None = None, *, flags: dict[str, tuple[str, Any]] | None = None, county: str | Path | None = None) -> Params:
    """Load a parameter file (following ``extends``) over the schema defaults.

    ``overrides`` are ``dotted.key=value`` strings (as ``--set`` takes) or a mapping
    of dotted keys to values. ``flags`` maps dotted keys to (command-line flag, value),
    applied last and named by their flag in errors. With no path, the defaults alone.
    """
    origin: dict = {}
    data = defaults()
    source = "<defaults>"
    if path is not None:
        for p, d in _chain(Path(path)):
            if isinstance(d.get("county"), str):  # a county set, relative to the file naming it
                data = _use_county_set(data, p.parent / d.pop("county"), origin)
            data = _merge(data, d, origin, str(p))
        source = str(path)
    if county is not None:
        data = _use_county_set(data, Path(county), origin)
    items: list[tuple[list[str], Any]] = []
    if isinstance(overrides, dict):
        items = [(k.split("."), v) for k, v in overrides.items()]
    elif overrides:
        items = [parse_set(s) for s in overrides]
    for parts, value in items:
        _set_path(data, parts, value, origin, "--set")
    for key, (flag, value) in (flags or {}).items():
        if value is not None:
            _set_path(data, key.split("."), value, origin, flag)
    return validate(data, origin, source)


def with_overrides(params: Params, overrides: dict[str, Any]) -> Params:
    """A copy of ``params`` with dotted-key overrides, validated."""
    origin: dict = {}
    data = params.model_dump(mode="json")
    for k, v in overrides.items():
        _set_path(data, k.split("."), v, origin, "--set")
    return validate(data, origin)


def params_hash(params: Params) -> str:
    """SHA-256 of the resolved parameters (canonical JSON)."""
    blob = json.dumps(params.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def to_yaml(params: Params) -> str:
    """The resolved parameters as YAML."""
    return yaml.safe_dump(params.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=120)


# --- the commented rendering of the defaults (params/baseline.yaml) ---------------


def _field_comment(model: type[BaseModel], name: str) -> str:
    f = model.model_fields[name]
    extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
    bits = [f.description or ""]
    if extra.get("unit"):
        bits.append(f"[{extra['unit']}]")
    if extra.get("source"):
        bits.append(f"Source: {extra['source']}.")
    return " ".join(b for b in bits if b)


def _flow(v: Any) -> str:
    text = yaml.safe_dump(v, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def render_commented(params: Params | None = None, header: str = "") -> str:
    """YAML of all parameters, each key preceded by its description, unit and source."""
    params = params or Params()
    lines = [header.rstrip()] if header else []

    def emit(model_obj: BaseModel, indent: int) -> None:
        cls = type(model_obj)
        for name in cls.model_fields:
            value = getattr(model_obj, name)
            pad = "  " * indent
            comment = _field_comment(cls, name)
            if comment:
                lines.append(f"{pad}# {comment}")
            if isinstance(value, BaseModel):
                lines.append(f"{pad}{name}:")
                emit(value, indent + 1)
            elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
                lines.append(f"{pad}{name}:")
                for k, v in value.items():
                    lines.append(f"{pad}  {k}:")
                    emit(v, indent + 2)
            elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
                lines.append(f"{pad}{name}:")
                for v in value:
                    lines.append(f"{pad}  - {_flow(v.model_dump(mode='json'))}")
            else:
                data = json.loads(json.dumps(value, default=str))
                lines.append(f"{pad}{name}: {_flow(data)}")
            if indent == 0:
                lines.append("")

    emit(params, 0)
    return "\n".join(lines).rstrip() + "\n"
