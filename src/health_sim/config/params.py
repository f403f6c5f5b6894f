"""Loading parameter files: defaults <- ``extends`` chain <- file <- ``--set`` overrides.

Every file is an override of the schema defaults (see :mod:`health_sim.config.schema`), so a
scenario names only what it changes. Bad input raises :class:`ParamsError`, whose
message is one line naming the file (or ``--set``) and the dotted key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from health_sim.config.files import file_kind, load_yaml, read_yaml
from health_sim.config.messages import describe, fields_at, fmt_value, sorted_errors
from health_sim.config.schema import Params
from health_sim.core.errors import ParamsError, ParamsWarning, short


def defaults() -> dict:
    """The schema defaults as plain data (JSON types)."""
    return Params().model_dump(mode="json")


def _merge(base: dict, over: dict, origin: dict, src: str, prefix: tuple = ()) -> dict:
    """Deep-merge ``over`` into a copy of ``base``; record which source set each key."""
    out = dict(base)
    for k, v in over.items():
        key = (*prefix, k)
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, origin, src, key)
        else:
            out[k] = v
        origin[key] = src
    return out


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict]]:
    """The file and the files it extends, base first."""
    path = Path(path)
    file_kind(path)  # a name that cannot be looked at is one line, before resolving it
    try:
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError) as e:
        raise ParamsError(f"{short(path, 120)}: cannot be read ({e})") from None
    if resolved in seen:
        raise ParamsError(f"{path}: extends: circular ({' -> '.join(p.name for p in (*seen, resolved))})")
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return [(path, data)]
    if not isinstance(parent, str):
        raise ParamsError(f"{path}: extends: must be a file name, not {fmt_value(parent)}")
    parent_path = path.parent / parent
    kind = file_kind(parent_path) if "\0" not in parent else "missing"
    if kind == "missing":
        raise ParamsError(f"{path}: extends: {short(parent)}: no such file")
    if kind != "file":
        raise ParamsError(f"{path}: extends: {short(parent)}: not a regular file (a parameter file is a text file)")
    return [*_chain(parent_path, (*seen, resolved)), (path, data)]


def parse_set(item: str) -> tuple[list[str], Any]:
    """Parse one ``dotted.key=value`` override.

    The value is read as YAML (numbers, lists...), or kept as text when it is not valid YAML.
    """
    if "=" not in item:
        raise ParamsError(f"--set {short(item)}: expected dotted.key=value")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key or any(not p.strip() for p in key.split(".")):
        raise ParamsError(f"--set {short(item)}: expected dotted.key=value")
    try:
        value = load_yaml(raw, "--set") if raw.strip() else ""
    except ParamsError:
        value = raw
    return [p.strip() for p in key.split(".")], value


def _set_path(data: dict, parts: list[str], value: Any, origin: dict, src: str) -> None:
    """Set dotted key ``parts`` of ``data`` to ``value``.

    A key through a value that is not a section or list, or an index outside a list, is one
    ParamsError line.
    """
    where = f"{src} {short('.'.join(parts))}" if src.startswith("--") else f"{src}: {short('.'.join(parts))}"
    node: Any = data
    for i, p in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_index(node, p, where)]
        elif isinstance(node, dict):
            if node.get(p) is None:
                node[p] = {}
            node = node[p]
        else:
            raise ParamsError(f"{where}: {short('.'.join(parts[:i]))} is {short(node)}, not a section with keys")
        if not isinstance(node, (dict, list)):
            raise ParamsError(
                f"{where}: {short('.'.join(parts[: i + 1]))} is a value ({short(node)}), not a section with keys"
            )
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, where)] = value
    else:
        node[last] = value
    origin[tuple(parts)] = src


def _index(node: list, part: str, where: str) -> int:
    """A list index written plainly: 0, 1, 12.

    Not -0, +1, 01 or 1_0, which would be recorded under another name than the element they set.
    """
    if not (part.isascii() and part.isdigit() and len(part) <= 9 and (part == "0" or not part.startswith("0"))):
        raise ParamsError(f"{where}: {short(part)} is not an index of this list (0 to {len(node) - 1})")
    i = int(part)
    if not 0 <= i < len(node):
        raise ParamsError(f"{where}: {i} is not an index of this list (0 to {len(node) - 1})")
    return i


def _source_of(loc: tuple, origin: dict, default_src: str) -> str:
    for n in range(len(loc), 0, -1):
        src = origin.get(tuple(str(p) for p in loc[:n]))
        if src is not None:
            return src
    key = tuple(str(p) for p in loc)
    below = [v for k, v in origin.items() if k[: len(key)] == key]
    return below[-1] if below else default_src


def context_problems(p: Params) -> list[tuple[tuple, str]]:
    """Combinations that each key allows but that make no sense together: (location, message)."""
    out: list[tuple[tuple, str]] = []
    end = p.run.start_date + dt.timedelta(days=p.run.days - 1)
    for name, lever in p.policies.levers():
        if lever.enabled and lever.acts_from > end:
            out.append((("policies", name, "start"), f"{lever.start} is after the run ends ({end})"))
    for name, lever in p.policies.levers():
        out.extend((("policies", *loc), msg) for loc, msg in lever.problems(name, p))
    return out


MAX_MAGNITUDE = 1e9
"""Largest absolute value of any number in the parameters (the seed aside): larger ones are
typing mistakes, and would overflow the model's arithmetic into NaN."""

_UNBOUNDED = {("run", "seed")}

BYTES_PER_RESIDENT = 260
"""Memory a simulated resident needs, with headroom (benchmarks/city.py measured 219 MB per
million residents, the model's own share 152 MB)."""


MIN_RESIDENTS = 100
"""Fewest simulated residents a run may have: fewer leave most KPIs without a denominator."""


def _numbers(x: Any, loc: tuple = ()):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _numbers(v, (*loc, str(k)))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _numbers(v, (*loc, str(i)))
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield loc, x


def available_memory() -> int | None:
    """Bytes of memory available to a new process (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_needed(p: Params) -> float:
    """Bytes of memory a run of these parameters needs, roughly (with headroom)."""
    return p.county.population * p.run.scale * BYTES_PER_RESIDENT + 200e6


def resource_problems(p: Params) -> list[tuple[tuple, str]]:
    """Runs too large for this machine, found before anything is built: (location, message)."""
    residents = p.county.population * p.run.scale
    if residents < MIN_RESIDENTS:
        return [
            (
                ("run", "scale"),
                f"{p.run.scale:g} x county.population {p.county.population:,} = {residents:.3g} residents; a run "
                f"needs at least {MIN_RESIDENTS}",
            )
        ]
    need = memory_needed(p)
    free = available_memory()
    if free is not None and need > 0.8 * free:
        return [
            (
                ("county", "population"),
                f"{p.county.population:,} x run.scale {p.run.scale:g} = {residents:,.0f} residents need about "
                f"{need / 1e9:.1f} GB of memory; {free / 1e9:.1f} GB is available (lower run.scale)",
            )
        ]
    return []


def validate(data: dict, origin: dict | None = None, source: str = "<params>") -> Params:
    """Validate merged parameter data; raise ParamsError with one line on the first problem."""
    origin = {tuple(str(p) for p in k): v for k, v in (origin or {}).items()}
    try:
        params = Params.model_validate(data)
    except ValidationError as e:
        errors = sorted_errors(e)
        loc, msg = describe(errors[0])
        src = _source_of(loc, origin, source)
        key = short(".".join(str(p) for p in loc), 120) or "(top level)"
        raise ParamsError(_format(src, key, msg, len(errors) - 1)) from None
    problems = [
        (loc, f"{fmt_value(v)} is beyond {MAX_MAGNITUDE:.0e}, the largest number a parameter may have")
        for loc, v in _numbers(params.model_dump())
        if loc not in _UNBOUNDED and abs(v) > MAX_MAGNITUDE
    ]
    problems += context_problems(params) + resource_problems(params)
    if problems:
        loc, msg = problems[0]
        raise ParamsError(_format(_source_of(loc, origin, source), ".".join(loc), msg, len(problems) - 1))
    return params


def lever_warnings(params: Params, sources: list[tuple[str, set[tuple]]]) -> list[str]:
    """Levers given parameters but not switched on.

    For each lever that is off, the last source (file, ``--set``, sweep factors ...) that set
    one of its parameters, when no source from then on set its ``enabled``. ``sources``: (name,
    dotted keys it set), in the order they were applied.
    """
    out = []
    for name, lever in params.policies.levers():
        if lever.enabled:
            continue
        gave = [
            i
            for i, (_, keys) in enumerate(sources)
            if any(k[:2] == ("policies", name) and len(k) > 2 and k[2] != "enabled" for k in keys)
        ]
        switched = [i for i, (_, keys) in enumerate(sources) if ("policies", name, "enabled") in keys]
        if gave and (not switched or switched[-1] < gave[-1]):
            src = sources[gave[-1]][0]
            out.append(
                f"{src}: policies.{name}: parameters given but the lever is not switched on, so they have no effect "
                f"(add policies.{name}.enabled: true, or enabled: false to keep it off)"
            )
    return out


def warn_levers(params: Params, sources: list[tuple[str, set[tuple]]]) -> list[str]:
    """:func:`lever_warnings`, each issued as a :class:`ParamsWarning`; returns them."""
    found = lever_warnings(params, sources)
    for w in found:
        warnings.warn(w, ParamsWarning, stacklevel=3)
    return found


def _format(src: str, key: str, msg: str, n_more: int) -> str:
    more = f" (and {n_more} more)" if n_more else ""
    if ", row " in src:  # a row of a county set's table: 'file: row N, column: message'
        parts = key.split(".")
        at = next((i for i, p in enumerate(parts) if p.isdigit()), 1)
        file, _, row = src.partition(", ")
        from health_sim.config.county_files import column_of

        return f"{file}: {row}, {column_of(parts[at + 1 :]) if parts[at + 1 :] else parts[-1]}: {msg}{more}"
    if src == "--set":
        return f"--set {key}: {msg}{more}"
    if src.startswith("--"):  # a command-line flag standing for one key
        return f"{src}: {msg}{more}"
    return f"{src}: {key}: {msg}{more}"


def _use_county_set(data: dict, folder: Path, origin: dict) -> dict:
    """``data`` with its county replaced by the county set in ``folder`` (see :mod:`health_sim.config.county_files`)."""
    from health_sim.config.county_files import read_county_set

    county, facilities, where = read_county_set(folder)
    data = dict(data, county=_merge(defaults()["county"], county, {}, ""))
    data = _merge(data, {"facilities": facilities}, {}, "")
    for ftype, row in facilities.items():  # a row's doctors are the type's whole staff
        if "doctors" in row:
            data["facilities"][ftype]["doctors"] = row["doctors"]
    origin.update(where)
    return data


def load_params(
    path: str | Path | None = None,
    overrides: list[str] | dict | None = None,
    *,
    flags: dict[str, tuple[str, Any]] | None = None,
    county: str | Path | None = None,
) -> Params:
    """Load a parameter file (following ``extends``) over the schema defaults.

    ``overrides`` are ``dotted.key=value`` strings (as ``--set`` takes) or a mapping
    of dotted keys to values. ``flags`` maps dotted keys to (command-line flag, value),
    applied last and named by their flag in errors. With no path, the defaults alone.
    """
    origin: dict = {}
    sources: list[tuple[str, set[tuple]]] = []
    data = defaults()
    source = "<defaults>"
    if path is not None:
        for p, d in _chain(Path(path)):
            if isinstance(d.get("county"), str):  # a county set, relative to the file naming it
                data = _use_county_set(data, p.parent / d.pop("county"), origin)
            given: dict = {}
            data = _merge(data, d, given, str(p))
            origin.update(given)
            sources.append((str(p), set(given)))
        source = str(path)
    if county is not None:
        data = _use_county_set(data, Path(county), origin)
    items: list[tuple[list[str], Any]] = []
    if isinstance(overrides, dict):
        items = [(k.split("."), v) for k, v in overrides.items()]
    elif overrides:
        items = [parse_set(s) for s in overrides]
    given = {}
    for parts, value in items:
        _set_override(data, parts, value, given, "--set")
    origin.update(given)
    sources.append(("--set", set(given)))
    for key, (flag, value) in (flags or {}).items():
        if value is not None:
            if tuple(key.split(".")) in given:
                raise ParamsError(f"{flag} and --set {key}: both set {key}; give one of them")
            _set_path(data, key.split("."), value, origin, flag)
    params = validate(data, origin, source)
    warn_levers(params, sources)
    return params


def _set_override(data: dict, parts: list[str], value: Any, origin: dict, src: str) -> None:
    """One dotted-key override: a section is given as a mapping, merged into the section."""
    fields = fields_at(tuple(parts))
    if fields and not isinstance(value, dict):
        where = f"{src} {short('.'.join(parts))}" if src.startswith("--") else f"{src}: {short('.'.join(parts))}"
        raise ParamsError(
            f"{where}: {fmt_value(value)} is not a section; set one of its keys "
            f"({', '.join(fields[:4])}{', ...' if len(fields) > 4 else ''})"
        )
    if fields:
        for k, v in value.items():
            _set_override(data, [*parts, str(k)], v, origin, src)
        return
    _set_path(data, parts, value, origin, src)


def with_overrides(params: Params, overrides: dict[str, Any]) -> Params:
    """A copy of ``params`` with dotted-key overrides, validated."""
    origin: dict = {}
    data = params.model_dump(mode="json")
    for k, v in overrides.items():
        _set_override(data, k.split("."), v, origin, "--set")
    return validate(data, origin)


def flat_params(params: BaseModel, prefix: str = "", data: dict | None = None) -> dict[str, object]:
    """The resolved parameters by schema field: dotted field paths, JSON values (a dict or list field kept whole)."""
    data = params.model_dump(mode="json") if data is None else data  # dumped once, at the top
    out: dict[str, object] = {}
    for name in type(params).model_fields:
        path = f"{prefix}.{name}" if prefix else name
        value = getattr(params, name)
        out |= flat_params(value, path, data[name]) if isinstance(value, BaseModel) else {path: data[name]}
    return out


def changed_params(fitted: dict[str, object], now: Params, ignore: set[str] | frozenset = frozenset()) -> list[str]:
    """Schema fields on which ``now`` differs from ``fitted``, ``ignore`` apart.

    ``fitted`` is a :func:`flat_params` of the parameters something was fitted on. Counted: values that differ
    (a dict-valued field with an entry more or less differs), fields gone, and fields added since at other than
    their default (a new parameter at its default leaves the model as it was, which the regression baseline
    keeps true).
    """
    flat, default = flat_params(now), flat_params(Params())
    out = [k for k in fitted if k not in ignore and (k not in flat or flat[k] != fitted[k])]
    out += [k for k in flat if k not in fitted and k not in ignore and flat[k] != default.get(k)]
    return out


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
