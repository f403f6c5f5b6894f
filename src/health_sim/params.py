"""Loading parameter files: defaults <- ``extends`` chain <- file <- ``--set`` overrides.

Every file is an override of the schema defaults (see :mod:`health_sim.schema`), so a
scenario names only what it changes. Bad input raises :class:`ParamsError`, whose
message is one line naming the file (or ``--set``) and the dotted key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import reprlib
import stat
import typing
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .schema import Params


MAX_MESSAGE = 300
"""Longest error line (characters); a longer one is cut."""


class ParamsError(ValueError):
    """A parameter file or override is invalid. ``str(err)`` is one line for the user (at
    most MAX_MESSAGE characters); in a notebook it shows as that line, not a traceback."""

    def __init__(self, message: object = ""):
        text = " ".join(str(message).splitlines())  # every kind of line break
        super().__init__(text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "...")

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"{type(self).__name__}: {self}"]


class ParamsWarning(UserWarning):
    """A choice that runs but probably does not do what was meant (a lever given
    parameters but not switched on)."""


def short(v: Any, limit: int = 80) -> str:
    """``v`` as text of at most ``limit`` characters, however large it is (an alias bomb
    stays cheap: nested containers are cut before they are rendered)."""
    r = reprlib.Repr(maxlevel=3, maxdict=4, maxlist=4, maxtuple=4, maxset=4, maxstring=limit, maxother=limit, maxlong=limit)
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    text = v if isinstance(v, str) else r.repr(v)
    if isinstance(v, str) and len(text) > limit:
        text = text[: limit - 3] + "..."
    text = " ".join(text.splitlines())
    return text if len(text) <= limit else text[: limit - 3] + "..."


_MISSING = object()


def defaults() -> dict:
    """The schema defaults as plain data (JSON types)."""
    return Params().model_dump(mode="json")


_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: about 10x faster on params/baseline.yaml

MAX_FILE_BYTES = 20_000_000
"""Largest parameter or county file read (bytes)."""

MAX_NODES = 1_000_000
"""Most values a YAML document may expand to (anchors and aliases counted as many times as
they are used): a few lines of nested aliases must not become billions of values."""

MAX_DEPTH = 64
"""Deepest nesting of a YAML document."""


class _Loader(_BASE_LOADER):
    """YAML that refuses duplicate keys and impossible dates (one-line errors with the line)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{short(key, 40)}' (first at line {seen[key] + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line
            except TypeError:  # an unhashable key: the constructor reports it
                pass
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(None, None, f"{short(node.value, 40)} is not a date ({e})", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:map", _BASE_LOADER.construct_yaml_map)  # through construct_mapping above


def _check_size(root) -> None:
    """Refuse documents that expand to more than MAX_NODES values, nest deeper than
    MAX_DEPTH or refer to themselves (iteratively: no recursion on hostile input)."""
    sizes: dict[int, int] = {}
    stack = [(root, 0, False)]
    open_nodes: set[int] = set()
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise _DocumentError(f"nested deeper than {MAX_DEPTH} levels", node)
        key = id(node)
        if done:
            open_nodes.discard(key)
            children = _children(node)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_NODES:
                raise _DocumentError(f"expands to more than {MAX_NODES:,} values (anchors and aliases)", node)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise _DocumentError("an alias refers to the value that holds it", node)
        open_nodes.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in _children(node) if id(c) not in sizes)


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


class _DocumentError(Exception):
    def __init__(self, problem: str, node):
        super().__init__(problem)
        self.problem, self.mark = problem, node.start_mark


def file_kind(path: Path) -> str:
    """"file", "folder", "missing" or "other" (a FIFO, a device, a socket); a path that
    cannot even be looked at (too long, no permission) is one ParamsError line."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as e:
        raise ParamsError(f"{short(path, 120)}: cannot be read ({e.strerror or e})") from None
    except ValueError:  # a NUL byte in the name
        raise ParamsError(f"{short(path, 120)}: not a valid file name") from None
    return "file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode) else "other"


def read_text(path: Path, what: str = "parameter file", limit: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most ``limit`` bytes; anything else (missing, a
    folder, a FIFO or device, too large, not UTF-8) is one ParamsError line."""
    path = Path(path)
    kind = file_kind(path)
    if kind == "missing":
        raise ParamsError(f"{short(path, 120)}: no such file")
    if kind == "folder":
        raise ParamsError(f"{short(path, 120)}: is a directory, not a {what}")
    if kind != "file":
        raise ParamsError(f"{short(path, 120)}: not a regular file (a {what} is a text file)")
    try:
        with path.open("rb") as f:
            raw = f.read(limit + 1)
    except OSError as e:
        raise ParamsError(f"{path}: cannot be read ({e.strerror or e})") from None
    if len(raw) > limit:
        raise ParamsError(f"{path}: larger than {limit // 1_000_000} MB (a {what} is a small text file)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParamsError(f"{path}: not a UTF-8 text file") from None


def _check_depth(text: str, where: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the parser's event stream, which is read
    without recursion: composing a document of 100,000 nested lists would overflow the
    stack of the compiled loader and crash the process."""
    parser = _BASE_LOADER(text)
    depth = 0
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ParamsError(f"{where}: nested deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        pass  # reported, with its line, by the loader
    finally:
        parser.dispose()


def load_yaml(text: str, where: str):
    """YAML ``text`` as data; a problem is one ParamsError line starting with ``where``."""
    _check_depth(text, where)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except _DocumentError as e:
        raise ParamsError(f"{where}: {e.problem} (line {e.mark.line + 1})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParamsError(f"{where}: malformed YAML{at}: {problem}") from None
    except RecursionError:
        raise ParamsError(f"{where}: nested too deeply") from None
    finally:
        loader.dispose()


def _read_yaml(path: Path) -> dict:
    data = load_yaml(read_text(path), str(path))
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
    file_kind(path)  # a name that cannot be looked at is one line, before resolving it
    try:
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError) as e:
        raise ParamsError(f"{short(path, 120)}: cannot be read ({e})") from None
    if resolved in seen:
        raise ParamsError(f"{path}: extends: circular ({' -> '.join(p.name for p in seen + (resolved,))})")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return [(path, data)]
    if not isinstance(parent, str):
        raise ParamsError(f"{path}: extends: must be a file name, not {_fmt(parent)}")
    parent_path = path.parent / parent
    kind = file_kind(parent_path) if "\0" not in parent else "missing"
    if kind == "missing":
        raise ParamsError(f"{path}: extends: {short(parent)}: no such file")
    if kind != "file":
        raise ParamsError(f"{path}: extends: {short(parent)}: not a regular file (a parameter file is a text file)")
    return _chain(parent_path, seen + (resolved,)) + [(path, data)]


def parse_set(item: str) -> tuple[list[str], Any]:
    """Parse one ``dotted.key=value`` override; the value is read as YAML (numbers, lists...),
    or kept as text when it is not valid YAML."""
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
    """Set dotted key ``parts`` of ``data`` to ``value``; a key through a value that is not a
    section or list, or an index outside a list, is one ParamsError line."""
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
            raise ParamsError(f"{where}: {short('.'.join(parts[: i + 1]))} is a value ({short(node)}), not a section with keys")
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, where)] = value
    else:
        node[last] = value
    origin[tuple(parts)] = src


def _index(node: list, part: str, where: str) -> int:
    """A list index written plainly (0, 1, 12: not -0, +1, 01 or 1_0, which would be
    recorded under another name than the element they set)."""
    if not (part.isascii() and part.isdigit() and len(part) <= 9 and (part == "0" or not part.startswith("0"))):
        raise ParamsError(f"{where}: {short(part)} is not an index of this list (0 to {len(node) - 1})")
    i = int(part)
    if not 0 <= i < len(node):
        raise ParamsError(f"{where}: {i} is not an index of this list (0 to {len(node) - 1})")
    return i


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
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    if isinstance(v, str):
        return repr(short(v, 78))
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    return short(v)


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
        key = short(str(loc[-1]), 60)
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


def _errors(e: ValidationError) -> list[dict]:
    """A ValidationError's errors, unknown keys first: a misspelt key is also reported as the
    real key 'missing', and the misspelling (with its did-you-mean) is the useful line."""
    errors = e.errors()
    return sorted(errors, key=lambda err: err["type"] != "extra_forbidden")


def first_error(e: ValidationError) -> str:
    """'key.path: message (and N more)' for the first error of a pydantic ValidationError."""
    errors = _errors(e)
    loc, msg = _describe(errors[0])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{short('.'.join(str(p) for p in loc), 120) or '(top level)'}: {msg}{more}"


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
            yield from _numbers(v, loc + (str(k),))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _numbers(v, loc + (str(i),))
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
        return [(("run", "scale"), f"{p.run.scale:g} x county.population {p.county.population:,} = {residents:.3g} residents; a run needs at least {MIN_RESIDENTS}")]
    need = memory_needed(p)
    free = available_memory()
    if free is not None and need > 0.8 * free:
        return [(("county", "population"), f"{p.county.population:,} x run.scale {p.run.scale:g} = {residents:,.0f} residents need about {need / 1e9:.1f} GB of memory; {free / 1e9:.1f} GB is available (lower run.scale)")]
    return []


def validate(data: dict, origin: dict | None = None, source: str = "<params>") -> Params:
    """Validate merged parameter data; raise ParamsError with one line on the first problem."""
    origin = {tuple(str(p) for p in k): v for k, v in (origin or {}).items()}
    try:
        params = Params.model_validate(data)
    except ValidationError as e:
        errors = _errors(e)
        loc, msg = _describe(errors[0])
        src = _source_of(loc, origin, source)
        key = short(".".join(str(p) for p in loc), 120) or "(top level)"
        raise ParamsError(_format(src, key, msg, len(errors) - 1)) from None
    problems = [(loc, f"{_fmt(v)} is beyond {MAX_MAGNITUDE:.0e}, the largest number a parameter may have") for loc, v in _numbers(params.model_dump()) if loc not in _UNBOUNDED and abs(v) > MAX_MAGNITUDE]
    problems += context_problems(params) + resource_problems(params)
    if problems:
        loc, msg = problems[0]
        raise ParamsError(_format(_source_of(loc, origin, source), ".".join(loc), msg, len(problems) - 1))
    return params


def lever_warnings(params: Params, sources: list[tuple[str, set[tuple]]]) -> list[str]:
    """Levers given parameters but not switched on: for each lever that is off, the last
    source (file, ``--set``, sweep factors ...) that set one of its parameters, when no
    source from then on set its ``enabled``. ``sources``: (name, dotted keys it set), in
    the order they were applied."""
    out = []
    for name in type(params.policies).model_fields:
        if getattr(params.policies, name).enabled:
            continue
        gave = [i for i, (_, keys) in enumerate(sources) if any(k[:2] == ("policies", name) and len(k) > 2 and k[2] != "enabled" for k in keys)]
        switched = [i for i, (_, keys) in enumerate(sources) if ("policies", name, "enabled") in keys]
        if gave and (not switched or switched[-1] < gave[-1]):
            src = sources[gave[-1]][0]
            out.append(f"{src}: policies.{name}: parameters given but the lever is not switched on, so they have no effect (add policies.{name}.enabled: true, or enabled: false to keep it off)")
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
    fields = _fields_at(tuple(parts))
    if fields and not isinstance(value, dict):
        where = f"{src} {short('.'.join(parts))}" if src.startswith("--") else f"{src}: {short('.'.join(parts))}"
        raise ParamsError(f"{where}: {_fmt(value)} is not a section; set one of its keys ({', '.join(fields[:4])}{', ...' if len(fields) > 4 else ''})")
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
