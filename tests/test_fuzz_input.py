"""Property-based fuzzing of the three ways input reaches the model.

1. parameter files: ``load_params(path)`` on YAML written to a temporary folder (schema keys,
   misspelt keys, nasty values, duplicated keys, anchors, ``extends:`` chains, random bytes);
2. ``--set`` items: ``load_params(baseline, [items])`` and :func:`health_sim.config.params.parse_set`;
3. county sets: the template county set, mutated (cells, headers, columns, rows, files).

The contract for every input: either a valid :class:`Params` comes back whose numbers are all
finite, or :class:`ParamsError` (or a subclass) is raised whose message is one non-empty line
of at most 300 characters. Anything else is a failure: another exception, a hang, a
multi-line or overlong message, a non-finite number accepted, an input with duplicated keys
(YAML keys, CSV column headers) accepted although one of the values is silently dropped.

Every example gets a fresh ``tempfile.TemporaryDirectory()``. The examples are derandomized
(the same inputs on every run), so a failure here is reproducible.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import re
import shutil
import signal
import tempfile
import types
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from health_sim.config.params import load_params, parse_set
from health_sim.config.schema import CountyParams, Params
from health_sim.core.errors import ParamsError

settings.register_profile(
    "fuzz_input",
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)
FUZZ = settings.get_profile("fuzz_input")

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "params" / "baseline.yaml"
TEMPLATE = REPO / "params" / "counties" / "template"

MAX_MESSAGE = 300
HANG_SECONDS = 10.0


# --- the contract -------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm when one example runs longer than HANG_SECONDS.

    A BaseException, so that ``except Exception`` in the code under test does not swallow it.
    """


@contextlib.contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise Hang(f"no answer after {seconds:g} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Failure:
    # "exception", "hang", "multi-line message", "overlong message", "empty message", "non-finite accepted", "accepted",
    # "bad return"
    kind: str
    detail: str
    exc: BaseException | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def nonfinite(obj: Any, path: str = "") -> list[str]:
    """Dotted paths of the non-finite floats in dumped parameters."""
    if isinstance(obj, float):
        return [] if math.isfinite(obj) else [f"{path}={obj}"]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in nonfinite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(obj, (list, tuple)):
        return [p for i, v in enumerate(obj) for p in nonfinite(v, f"{path}.{i}")]
    return []


def check_error(e: ParamsError) -> Failure | None:
    msg = str(e)
    if not msg:
        return Failure("empty message", repr(e), e)
    if "\n" in msg or "\r" in msg:
        return Failure("multi-line message", repr(msg[:400]), e)
    if len(msg) > MAX_MESSAGE:
        return Failure("overlong message", f"{len(msg)} characters: {msg[:400]!r}", e)
    return None


def outcome(call: Callable[[], Any], must_reject: str | None = None) -> Failure | None:
    """None if ``call()`` keeps the contract, else what went wrong.

    ``must_reject`` names a defect of the input that must not be accepted silently (duplicated keys).
    """
    try:
        with time_limit(HANG_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # warnings (a lever set but off) are not errors: not this contract
            result = call()
    except ParamsError as e:
        return check_error(e)
    except Hang as e:
        return Failure("hang", str(e), e)
    except Exception as e:
        return Failure("exception", f"{type(e).__name__}: {str(e)[:300]!r}", e)
    if not isinstance(result, Params):
        return Failure("bad return", repr(result)[:300])
    bad = nonfinite(result.model_dump())
    if bad:
        return Failure("non-finite accepted", ", ".join(bad[:5]))
    if must_reject:
        return Failure("accepted", f"accepted although {must_reject}")
    return None


def assert_contract(call: Callable[[], Any], must_reject: str | None = None) -> None:
    failure = outcome(call, must_reject)
    if failure is not None:
        raise AssertionError(str(failure)) from failure.exc


# --- the schema's real keys ---------------------------------------------------------------

DEFAULTS = Params().model_dump(mode="json")


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _walk(tp: Any, default: Any, key: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]) -> None:
    tp = _unwrap(tp)
    if key:
        out.append((key, tp))
    origin = typing.get_origin(tp)
    if _is_model(tp):
        for name, f in tp.model_fields.items():
            _walk(f.annotation, default.get(name) if isinstance(default, dict) else None, (*key, name), out)
    elif origin is dict:
        for k, v in (default or {}).items():  # the real keys of the default
            _walk(typing.get_args(tp)[1], v, (*key, str(k)), out)
    elif origin in (list, tuple):
        args = typing.get_args(tp)
        items = default if isinstance(default, list) and default else [None]
        for i, d in enumerate(items):
            item_tp = args[i] if origin is tuple and i < len(args) and args[-1] is not Ellipsis else args[0]
            _walk(item_tp, d, (*key, str(i)), out)


def schema_keys() -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    _walk(Params, DEFAULTS, (), out)
    return out


KEYS = schema_keys()
"""(dotted key parts, type) of every key of the schema, sections included, list items by index."""
SECTIONS = [k for k, tp in KEYS if _is_model(tp) or typing.get_origin(tp) in (dict, list, tuple)]
LEAVES = [k for k, tp in KEYS if k not in set(SECTIONS)]
LISTS = [k for k, tp in KEYS if typing.get_origin(tp) in (list, tuple)]
TYPE_OF = dict(KEYS)
assert len(KEYS) > 300 and ("run", "days") in TYPE_OF and ("county", "townships", "0", "population") in TYPE_OF


# --- nasty values, as YAML text -------------------------------------------------------------

NASTY_INTS = [2**63, 2**64, -(2**63) - 1, -1, 0, 1, 10**12, 10**30, 3650, 3651]
NASTY_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, -0.0, 5e-324, 0.5, 1.0, 1.0000001, -1e-300]
NASTY_STRINGS = [
    "",
    " ",
    "\t",
    "a\nb",
    "a\rb",
    "x" * 301,
    "y" * 2000,
    "nul\x00byte",
    "é中文",
    "Chengguan",
    "Yangcheng",
    "'",
    '"',
    "\\",
    "\u2028",
    "\ufeff",
]

RAW_TOKENS = [
    # YAML 1.1 specials (PyYAML): floats, nulls, booleans, bases, sexagesimal
    ".nan",
    ".NaN",
    "-.inf",
    "+.inf",
    ".inf",
    ".Inf",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "-Infinity",
    "~",
    "null",
    "Null",
    "",
    "yes",
    "no",
    "on",
    "off",
    "Yes",
    "NO",
    "true",
    "false",
    "True",
    "FALSE",
    "y",
    "n",
    "0x1F",
    "0o17",
    "017",
    "0b101",
    "1_000",
    "1:30",
    "190:20:30",
    "-0",
    "+1",
    "1e308",
    "1.0e+308",
    "1.0e+309",
    "1e999",
    "-1e999",
    "5e-324",
    "4.9e-324",
    "-0.0",
    "0.",
    ".5",
    "1,5",
    "1 000",
    # quoted numbers and specials (strings that pydantic may still read as numbers)
    "'nan'",
    "'inf'",
    "'-inf'",
    "'1e999'",
    "'Infinity'",
    "'1e308'",
    "'0x1F'",
    "' 5 '",
    "'1_000'",
    # dates and times, valid and invalid
    "2023-01-01",
    "2024-02-29",
    "0001-01-01",
    "9999-12-31",
    "2023-13-01",
    "2023-02-30",
    "2023-00-10",
    "2023-1-1",
    "2023-01-01T25:61:00",
    "2023-01-01 10:00:00",
    "2023-01-01t00:00:00Z",
    "'2023-13-01'",
    # collections
    "[]",
    "{}",
    "[[]]",
    "[[], [[]]]",
    "[1, [2, [3, [4]]]]",
    "{a: {b: {c: {}}}}",
    "[.nan, .inf]",
    "{0-14: .nan}",
    "[3.0, 15.0]",
    "[15.0, 3.0]",
    "[1, 2, 3]",
    # tags and aliases
    "!!binary aGVsbG8=",
    "!!binary //79",
    "!!set {a, b}",
    "!!float .nan",
    "!!float 1e999",
    "!!int 0x1F",
    "!!int '99999999999999999999'",
    "!!timestamp 2023-13-01",
    "!!str 5",
    "!!null ''",
    "!!bool yes",
    "!!python/object:os.system ''",
    "!!python/name:os.system",
    "!!omap [a: 1]",
    "!!pairs [a: 1, a: 2]",
    "!whatever 1",
    "*nope",
    "&a",
    "&a [1]",
    # YAML syntax in the wrong place
    "|\n  text",
    ">",
    "- a",
    "? a",
    "a: b",
    "'unterminated",
    '"unterminated',
    "[unterminated",
    "{a: 1",
    "%YAML 1.1",
    "---",
    "...",
    "#comment",
    "@at",
    "`tick",
    "!",
    "&",
    "*",
    "|",
    ">-",
    ",",
    "\t1",
]


def yaml_float(x: float) -> str:
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".inf" if x > 0 else "-.inf"
    return repr(x)


def quoted(s: str) -> str:
    return json.dumps(s)


def quoted_unicode(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def deep(n: int, kind: str) -> str:
    return "[" * n + "]" * n if kind == "list" else "{a: " * n + "1" + "}" * n


def bomb(levels: int) -> str:
    """A few lines of YAML that expand to 9**levels values (anchors defined inside the value)."""
    out = ["&b0 [x, x, x, x, x, x, x, x, x]"]
    out += [f"&b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(out) + "]"


_PLAIN_SAFE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}


def key_text(k: str) -> str:
    """A mapping key as YAML text: plain when that reads back as the same string, else quoted."""
    return k if _PLAIN_SAFE.match(k) and k.lower() not in _YAML_WORDS else json.dumps(k)


nasty_scalar = st.one_of(
    st.sampled_from(RAW_TOKENS),
    st.sampled_from(NASTY_INTS).map(str),
    st.integers().map(str),
    st.sampled_from(NASTY_FLOATS).map(yaml_float),
    st.floats().map(yaml_float),
    st.floats().map(repr),  # 'nan', 'inf', '1e+308': strings to YAML
    st.sampled_from(NASTY_STRINGS).map(quoted),
    st.text(max_size=12).map(quoted),
    st.text(max_size=12).map(quoted_unicode),
    st.text(max_size=12),  # plain random text (may break the YAML)
    st.dates().map(str),
    st.booleans().map(str),
)

flow_key = st.one_of(st.sampled_from(sorted({k[-1] for k, _ in KEYS})), st.text(max_size=6)).map(key_text)

nested_value = st.recursive(
    nasty_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.dictionaries(flow_key, inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=6,
)
huge_value = st.one_of(  # deep nesting, and an alias bomb (levels of 9 aliases: 9**levels values)
    st.builds(deep, st.sampled_from([2, 30, 300, 3000]), st.sampled_from(["list", "dict"])),
    st.builds(bomb, st.sampled_from([2, 4, 6, 9])),
)
nasty_value = st.one_of(
    nested_value, nested_value, nested_value, huge_value
)  # one_of picks a branch evenly: huge values 1 in 4


def typed_value(tp: Any) -> st.SearchStrategy[str]:
    """Values of roughly the right type (so that documents often get past validation)."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([typed_value(a) for a in typing.get_args(tp)])
    if tp is type(None):
        return st.sampled_from(["null", "~", ""])
    if tp is bool:
        return st.sampled_from(["true", "false", "yes", "no", "1", "0"])
    if tp is int:
        return st.one_of(st.integers(min_value=-2, max_value=4000).map(str), st.sampled_from(NASTY_INTS).map(str))
    if tp is float:
        return st.one_of(
            st.floats(min_value=-2, max_value=2).map(yaml_float),
            st.sampled_from(NASTY_FLOATS).map(yaml_float),
            st.sampled_from([".nan", ".inf", "-.inf", "nan", "inf", "1e999"]),
            st.floats().map(yaml_float),
        )
    if tp is str:
        return st.one_of(st.text(max_size=10).map(quoted), st.sampled_from(NASTY_STRINGS).map(quoted))
    if tp is dt.date:
        return st.one_of(
            st.dates().map(str),
            st.sampled_from(
                ["2023-13-01", "2023-02-30", "2023-01-01", "2030-01-01", "'2023-13-01'", "2023-01-01T25:00:00"]
            ),
        )
    if origin is typing.Literal:
        return st.sampled_from([quoted(a) if isinstance(a, str) else str(a) for a in typing.get_args(tp)])
    if origin in (list, tuple):
        return st.lists(typed_value(typing.get_args(tp)[0]), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    if origin is dict:
        return st.dictionaries(flow_key, typed_value(typing.get_args(tp)[1]), max_size=4).map(
            lambda d: "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"
        )
    return nasty_value


def value_for(key: tuple[str, ...] | None) -> st.SearchStrategy[str]:
    """A value for ``key``: mostly of roughly its type, else from the nasty pool."""
    tp = TYPE_OF.get(key) if key else None
    return nasty_value if tp is None else st.one_of(typed_value(tp), typed_value(tp), typed_value(tp), nasty_value)


# --- keys: real, misspelt, random ---------------------------------------------------------------


@st.composite
def misspelt(draw, part: str) -> str:
    how = draw(st.sampled_from(["drop", "swap", "insert", "case", "space", "dash", "plural"]))
    i = draw(st.integers(min_value=0, max_value=max(len(part) - 1, 0)))
    if how == "drop" and part:
        return part[:i] + part[i + 1 :]
    if how == "swap" and len(part) > 1:
        i = min(i, len(part) - 2)
        return part[:i] + part[i + 1] + part[i] + part[i + 2 :]
    if how == "insert":
        return part[:i] + draw(st.characters(codec="utf-8")) + part[i:]
    if how == "case":
        return part.upper()
    if how == "space":
        return f" {part} " if draw(st.booleans()) else part + " "
    if how == "dash":
        return part.replace("_", "-")
    return part + "s"


# special keys: (YAML text, the Python key it reads as)
SPECIAL_KEYS = [
    ("yes", True),
    ("~", None),
    ("1.5", 1.5),
    ("2023-01-01", dt.date(2023, 1, 1)),
    ("''", ""),
    ("'run'", "run"),
    ('"run"', "run"),
]


@st.composite
def yaml_key(draw) -> tuple[list[tuple[str, Any]], tuple[str, ...] | None]:
    """Key parts as (YAML text, the key it reads as), and the real schema key when it is one."""
    kind = draw(st.sampled_from(["real", "real", "real", "section", "misspelt", "random", "special"]))
    if kind in ("real", "section"):
        key = draw(st.sampled_from(LEAVES if kind == "real" else SECTIONS))
        return [(key_text(p), p) for p in key], key
    if kind == "misspelt":
        key = list(draw(st.sampled_from(LEAVES)))
        i = draw(st.integers(min_value=0, max_value=len(key) - 1))
        key[i] = draw(misspelt(key[i]))
        return [(key_text(p), p) for p in key], None
    if kind == "random":
        parts = draw(st.lists(st.text(max_size=8), min_size=1, max_size=3))
        return [(key_text(p), p) for p in parts], None
    prefix = list(draw(st.sampled_from(SECTIONS))[: draw(st.integers(min_value=0, max_value=2))])
    text, canon = draw(st.sampled_from(SPECIAL_KEYS))
    return [(key_text(p), p) for p in prefix] + [(text, canon)], None


# --- YAML documents (written as text, so that keys can repeat) ----------------------------------


@dataclass
class Leaf:
    text: str


MERGE = object()  # the canonical key of '<<' (merged keys may be overridden: not a duplicate)


def _same(a: Any, b: Any) -> bool:
    return a is not MERGE and b is not MERGE and type(a) is type(b) and a == b


def _insert(node: list, parts: list[tuple[str, Any]], leaf: Leaf, dup_at: int | None) -> None:
    for i, (text, canon) in enumerate(parts):
        last = i == len(parts) - 1
        existing = next((c for c in node if _same(c[1], canon)), None)
        if existing is not None and not last and isinstance(existing[2], list) and i != dup_at:
            node = existing[2]
            continue
        if last:
            node.append([text, canon, leaf])
            return
        new: list = []
        node.append([text, canon, new])
        node = new


def _has_duplicates(node: list) -> bool:
    for i, (_, canon, child) in enumerate(node):
        if any(_same(canon, c[1]) for c in node[:i]):
            return True
        if isinstance(child, list) and _has_duplicates(child):
            return True
    return False


def _leaves(node: list) -> list[Leaf]:
    out = []
    for _, _, child in node:
        out += [child] if isinstance(child, Leaf) else _leaves(child)
    return out


def _render(node: list, indent: int = 0) -> list[str]:
    lines = []
    for text, _, child in node:
        pad = "  " * indent
        if isinstance(child, Leaf):
            lines.append(f"{pad}{text}: {child.text}")
        else:
            lines.append(f"{pad}{text}:")
            lines += _render(child, indent + 1)
    return lines


@dataclass
class Doc:
    data: bytes
    duplicates: bool = False
    extends: str | None = None  # the sibling file it extends, if it names one

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (
            f"Doc(duplicates={self.duplicates}, extends={self.extends!r}, "
            f"text={self.data.decode('utf-8', 'backslashreplace')!r})"
        )


SIBLINGS = ["main.yaml", "a.yaml", "b.yaml"]


def extends_target() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(
            [
                *SIBLINGS,
                "missing.yaml",
                "sub/missing.yaml",
                "",
                ".",
                "..",
                "/",
                str(BASELINE),
                "../" * 30 + "etc/passwd",
            ]
        ).map(quoted),
        st.sampled_from(["a" * 300 + ".yaml", "nul\x00.yaml", "a\nb.yaml"]).map(quoted),
        nasty_value,
    )


@st.composite
def yaml_doc(draw, name: str = "main.yaml") -> Doc:
    form = draw(st.sampled_from(["tree"] * 6 + ["clean"] * 3 + ["bytes", "text", "scalar", "multi"]))
    if form == "bytes":
        return Doc(draw(st.binary(max_size=80)))
    if form == "text":
        return Doc(draw(st.text(max_size=80)).encode("utf-8", "surrogatepass"))
    if form == "scalar":  # a top level that is not a mapping
        return Doc(draw(nasty_value).encode("utf-8", "surrogatepass"))
    tree: list = []
    if form == "clean":  # real keys, values of their type: mostly valid, so that what is accepted gets checked
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            key = draw(st.sampled_from(LEAVES))
            _insert(tree, [(key_text(p), p) for p in key], Leaf(draw(typed_value(TYPE_OF[key]))), None)
        return Doc(("\n".join(_render(tree)) + "\n").encode("utf-8", "surrogatepass"), _has_duplicates(tree))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3, 4, 6]))):
        parts, real = draw(yaml_key())
        value = draw(value_for(real))
        dup_at = draw(st.one_of(st.none(), st.none(), st.none(), st.integers(min_value=0, max_value=len(parts) - 1)))
        _insert(tree, parts, Leaf(value), dup_at)
    extends = None
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        target = draw(extends_target())
        tree.insert(0, ["extends", "extends", Leaf(target)])
        with contextlib.suppress(Exception):
            loaded = yaml.safe_load(target)
            extends = loaded if loaded in SIBLINGS else None
    if draw(st.integers(min_value=0, max_value=5)) == 0:  # a county set named in the file
        where = draw(
            st.sampled_from(
                [str(TEMPLATE), str(REPO / "params" / "counties" / "yangshan"), "missing", ".", name, "a" * 300]
            )
        )
        tree.append(["county", "county", Leaf(quoted(where))])
    leaves = _leaves(tree)
    if len(leaves) >= 2 and draw(st.integers(min_value=0, max_value=4)) == 0:  # anchors and aliases
        i = draw(st.integers(min_value=0, max_value=len(leaves) - 2))
        j = draw(st.integers(min_value=i + 1, max_value=len(leaves) - 1))
        leaves[i].text = f"&a1 {leaves[i].text}"
        leaves[j].text = draw(st.sampled_from(["*a1", "*a1", "*a2", "[*a1, *a1, *a1]"]))
        if draw(st.booleans()):  # merge the anchored value into a real section (after the anchor)
            section = draw(st.sampled_from([k for k in SECTIONS if len(k) <= 2]))
            _insert(tree, [(key_text(p), p) for p in section] + [("<<", MERGE)], Leaf("*a1"), None)
    duplicates = _has_duplicates(tree)
    text = "\n".join(_render(tree)) + "\n"
    if form == "multi":
        text = (
            draw(st.sampled_from(["%YAML 1.1\n---\n", "---\n", "--- !!map\n", "\ufeff"]))
            + text
            + draw(st.sampled_from(["", "---\n", "...\n", "---\nrun: {days: 3}\n"]))
        )
    return Doc(text.encode("utf-8", "surrogatepass"), duplicates, extends)


@st.composite
def params_folder(draw) -> dict[str, Doc]:
    """main.yaml and up to two siblings it may extend (which may extend each other or main.yaml)."""
    docs = {"main.yaml": draw(yaml_doc("main.yaml"))}
    for name in draw(st.sampled_from([[], [], ["a.yaml"], ["a.yaml", "b.yaml"]])):
        docs[name] = draw(yaml_doc(name))
    return docs


def chain_has_duplicates(docs: dict[str, Doc]) -> bool:
    seen, name = set(), "main.yaml"
    while name in docs and name not in seen:
        seen.add(name)
        if docs[name].duplicates:
            return True
        name = docs[name].extends
    return False


def load_folder(docs: dict[str, Doc]) -> Failure | None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, doc in docs.items():
            (Path(tmp) / name).write_bytes(doc.data)
        (Path(tmp) / "sub").mkdir()
        return outcome(
            lambda: load_params(Path(tmp) / "main.yaml"),
            "a key repeats in the YAML" if chain_has_duplicates(docs) else None,
        )


@FUZZ
@given(params_folder())
def test_parameter_files(docs):
    failure = load_folder(docs)
    if failure is not None:
        raise AssertionError(str(failure)) from failure.exc


# --- --set items ----------------------------------------------------------------------------


@st.composite
def set_key(draw) -> str:
    kind = draw(
        st.sampled_from(
            [
                "real",
                "real",
                "real",
                "out_of_range",
                "bad_index",
                "empty_part",
                "section",
                "beyond_leaf",
                "misspelt",
                "random",
            ]
        )
    )
    if kind == "real":
        key = draw(st.sampled_from(LEAVES))
        if draw(st.booleans()):  # a value of roughly the key's type, as text
            return ".".join(key) + "=" + draw(value_for(key))
        return ".".join(key)
    if kind in ("out_of_range", "bad_index"):
        key = draw(st.sampled_from(LISTS))
        if kind == "out_of_range":
            index = draw(st.sampled_from(["99", "13", "2", "-99", "-1", str(10**30), "1" * 5000]))
        else:
            index = draw(
                st.sampled_from(["x", "1.5", "", " 1", "1 ", "١", "０", "0x1", "1_0", "+1", "-0", "nan", "1e3"])
            )
        rest = draw(st.sampled_from([(), ("population",), ("name",), ("x_km",), ("nosuch",), ("0",)]))
        return ".".join((*key, index, *rest))
    if kind == "empty_part":
        key = list(draw(st.sampled_from(LEAVES)))
        i = draw(st.integers(min_value=0, max_value=len(key)))
        return ".".join([*key[:i], "", *key[i:]])
    if kind == "section":
        return ".".join(draw(st.sampled_from(SECTIONS)))
    if kind == "beyond_leaf":
        return ".".join(
            draw(st.sampled_from(LEAVES))
            + tuple(draw(st.lists(st.sampled_from(["x", "0", "1", "days", ""]), min_size=1, max_size=3)))
        )
    if kind == "misspelt":
        key = list(draw(st.sampled_from(LEAVES)))
        i = draw(st.integers(min_value=0, max_value=len(key) - 1))
        key[i] = draw(misspelt(key[i]))
        return ".".join(key)
    return draw(st.text(max_size=20))


set_value = st.one_of(
    nasty_value,
    st.text(max_size=20),
    st.sampled_from(NASTY_STRINGS),
    st.just(""),
    st.sampled_from(["a=b", "=", "x" * 400, "a: b", "[1, 2", "'"]),
)
set_item = st.one_of(
    st.builds(lambda k, v: k if "=" in k else f"{k}={v}", set_key(), set_value),
    st.builds(lambda k, v: k if "=" in k else f"{k}={v}", set_key(), set_value),
    st.text(max_size=30),
)


clean_set_item = st.sampled_from(LEAVES).flatmap(
    lambda key: typed_value(TYPE_OF[key]).map(lambda v: ".".join(key) + "=" + v)
)
"""A real key and a value of roughly its type: often accepted, so that what is accepted gets checked."""


@FUZZ
@given(st.one_of(st.lists(set_item, min_size=1, max_size=3), st.lists(clean_set_item, min_size=1, max_size=2)))
def test_set_overrides(items):
    assert_contract(lambda: load_params(BASELINE, items))


def parse_set_outcome(item: str) -> Failure | None:
    try:
        with time_limit(HANG_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parts, _ = parse_set(item)
    except ParamsError as e:
        return check_error(e)
    except Hang as e:
        return Failure("hang", str(e), e)
    except Exception as e:
        return Failure("exception", f"{type(e).__name__}: {str(e)[:300]!r}", e)
    if not (isinstance(parts, list) and parts and all(isinstance(p, str) and p for p in parts)):
        return Failure("bad return", f"key parts {parts!r}")
    return None


@FUZZ
@given(set_item)
def test_parse_set(item):
    failure = parse_set_outcome(item)
    if failure is not None:
        raise AssertionError(str(failure)) from failure.exc


# --- county sets --------------------------------------------------------------------------


def _read_template_csv(name: str) -> list[list[str]]:
    with (TEMPLATE / name).open(newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f)]


CSV_FILES = ("townships.csv", "villages.csv", "facilities.csv")
TEMPLATE_CSV = {name: _read_template_csv(name) for name in CSV_FILES}
TEMPLATE_YAML = [
    (k, json.dumps(v) if not isinstance(v, str) else key_text(v))
    for k, v in yaml.safe_load((TEMPLATE / "county.yaml").read_text(encoding="utf-8")).items()
]
REQUIRED_COLUMNS = {
    "townships.csv": ["name", "x_km", "y_km"],
    "villages.csv": ["township", "population", "x_km", "y_km"],
    "facilities.csv": ["type"],
}

NASTY_CELLS = [
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "infinity",
    "1e999",
    "-1e999",
    "1e308",
    "-1e308",
    "5e-324",
    "-0.0",
    "-0",
    "0",
    "-1",
    str(2**63),
    str(2**64),
    str(10**12),
    "1e3",
    "1.5",
    "0x1F",
    "1_000",
    "1,000",
    "1 000",
    "١٢",
    "１２",
    "½",
    "yes",
    "no",
    "true",
    "True",
    "on",
    "~",
    "null",
    "None",
    ".nan",
    ".inf",
    "2023-13-01",
    "2023-01-01",
    "",
    " ",
    '"',
    "'",
    "a\nb",
    "a\rb",
    "x" * 301,
    "y" * 5000,
    "\x00",
    "\ufeff",
    "é中文",
    "Chengguan",
    "Nan",
    "No",
    "county_people",
    "township_centre",
    "village_clinic",
    "city_tertiary",
    "=1+1",
]
cell_value = st.one_of(
    st.sampled_from(NASTY_CELLS), st.text(max_size=10), st.floats().map(repr), st.integers().map(str)
)
header_value = st.one_of(
    st.sampled_from(
        sorted(
            {c for rows in TEMPLATE_CSV.values() for c in rows[0]}
            | {
                "notes",
                "population",
                "villages",
                "name_zh",
                "urban_share",
                "minutes_city",
                "capability_minor",
                "doctors_surgery",
                "serves",
                "length_of_stay",
            }
        )
    ),
    st.text(max_size=8),
    st.sampled_from(["", " name", "name ", "NAME", "\ufeffname", "x" * 400, "a\nb", "a,b"]),
)


@dataclass
class CountySpec:
    files: dict[str, bytes | None]  # file -> its new contents (None: deleted); files not named keep the template's
    duplicates: list[str] = field(default_factory=list)  # what repeats (must not be accepted)
    log: list[str] = field(default_factory=list)  # the mutations, for the failure report

    def __repr__(self) -> str:
        short = {k: (v if v is None or len(v) < 600 else v[:600] + b"...") for k, v in self.files.items()}
        return f"CountySpec(log={self.log!r}, duplicates={self.duplicates!r}, files={short!r})"


@st.composite
def county_set(draw) -> CountySpec:
    tables: dict[str, list[list[str]] | bytes | None] = {k: [list(r) for r in v] for k, v in TEMPLATE_CSV.items()}
    county: list[tuple[str, str]] | bytes | None = list(TEMPLATE_YAML)
    log: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        target = draw(st.sampled_from(["county.yaml", *CSV_FILES, *CSV_FILES]))
        if target == "county.yaml":
            if not isinstance(county, list):
                continue
            how = draw(st.sampled_from(["set", "set", "add", "drop", "dup", "bytes", "text", "delete"]))
            if how in ("set", "drop", "dup") and county:
                i = draw(st.integers(min_value=0, max_value=len(county) - 1))
                k = county[i][0]
                if how == "set":
                    county[i] = (k, draw(value_for(("county", k))))
                elif how == "drop":
                    del county[i]
                else:
                    county.append((k, draw(value_for(("county", k)))))
                log.append(f"county.yaml {how} {k}")
            elif how == "add":
                k = draw(
                    st.one_of(
                        st.sampled_from([*CountyParams.model_fields, "townships", "villages", "extends", "county"]),
                        st.text(max_size=8),
                    )
                )
                county.append((k, draw(value_for(("county", k)))))
                log.append(f"county.yaml add {k!r}")
            elif how == "bytes":
                county = draw(st.binary(max_size=80))
                log.append("county.yaml random bytes")
            elif how == "text":
                county = draw(st.text(max_size=80)).encode("utf-8")
                log.append("county.yaml random text")
            elif how == "delete":
                county = None
                log.append("county.yaml deleted")
            continue
        rows = tables[target]
        if not isinstance(rows, list):
            continue
        how = draw(
            st.sampled_from(
                [
                    "cell",
                    "cell",
                    "cell",
                    "header",
                    "dup_header",
                    "drop_column",
                    "add_column",
                    "ragged",
                    "add_row",
                    "drop_row",
                    "empty",
                    "header_only",
                    "bytes",
                    "text",
                    "delete",
                ]
            )
        )
        width = len(rows[0]) if rows else 0
        if how == "cell" and len(rows) > 1 and width:
            r = draw(st.integers(min_value=1, max_value=len(rows) - 1))
            c = draw(st.integers(min_value=0, max_value=max(len(rows[r]) - 1, 0)))
            if rows[r]:
                rows[r][c] = draw(cell_value)
                log.append(f"{target} row {r + 1} column {rows[0][c] if c < width else c} = {rows[r][c]!r}")
        elif how == "header" and width:
            c = draw(st.integers(min_value=0, max_value=width - 1))
            rows[0][c] = draw(header_value)
            log.append(f"{target} header {c} = {rows[0][c]!r}")
        elif how == "dup_header" and width >= 2:
            a, b = draw(st.lists(st.integers(min_value=0, max_value=width - 1), min_size=2, max_size=2, unique=True))
            rows[0][b] = rows[0][a]
            log.append(f"{target} header {b} = {rows[0][a]!r} (twice)")
        elif how == "drop_column" and width:
            names = rows[0]
            required = [i for i, n in enumerate(names) if n in REQUIRED_COLUMNS[target]]
            c = (
                draw(st.sampled_from(required))
                if required and draw(st.booleans())
                else draw(st.integers(min_value=0, max_value=width - 1))
            )
            log.append(f"{target} drop column {names[c]!r}")
            for row in rows:
                if c < len(row):
                    del row[c]
        elif how == "add_column":
            name = draw(header_value)
            rows[0].append(name)
            for row in rows[1:]:
                row.append(draw(st.sampled_from(["", "1", "x"])))
            log.append(f"{target} add column {name!r}")
        elif how == "ragged" and len(rows) > 1:
            r = draw(st.integers(min_value=1, max_value=len(rows) - 1))
            n = draw(st.integers(min_value=0, max_value=width + 3))
            rows[r] = (
                (rows[r] + [draw(cell_value) for _ in range(n)])[:n]
                if n < len(rows[r])
                else rows[r] + [draw(cell_value) for _ in range(n - len(rows[r]))]
            )
            log.append(f"{target} row {r + 1} has {len(rows[r])} cells (header {width})")
        elif how == "add_row":
            row = (
                list(draw(st.sampled_from(rows[1:])))
                if len(rows) > 1 and draw(st.booleans())
                else draw(st.lists(cell_value, min_size=width, max_size=width))
            )
            rows.insert(draw(st.integers(min_value=1, max_value=len(rows))), row)
            log.append(f"{target} add row {row!r}"[:200])
        elif how == "drop_row" and len(rows) > 1:
            r = draw(st.integers(min_value=1, max_value=len(rows) - 1))
            del rows[r]
            log.append(f"{target} drop row {r + 1}")
        elif how == "empty":
            tables[target] = b""
            log.append(f"{target} empty")
        elif how == "header_only":
            del rows[1:]
            log.append(f"{target} header only")
        elif how == "bytes":
            tables[target] = draw(st.binary(max_size=80))
            log.append(f"{target} random bytes")
        elif how == "text":
            tables[target] = draw(st.text(max_size=80)).encode("utf-8")
            log.append(f"{target} random text")
        elif how == "delete":
            tables[target] = None
            log.append(f"{target} deleted")
    files: dict[str, bytes | None] = {}
    duplicates = []
    for name, rows in tables.items():
        if isinstance(rows, list):
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(rows)
            files[name] = buf.getvalue().encode("utf-8")
            header = [h.strip() for h in rows[0]] if rows else []
            if len(set(header)) < len(header):
                duplicates.append(f"a column of {name} repeats")
        else:
            files[name] = rows
    if isinstance(county, list):
        files["county.yaml"] = "".join(f"{key_text(k)}: {v}\n" for k, v in county).encode("utf-8")
        keys = [k for k, _ in county]
        if len(set(keys)) < len(keys):
            duplicates.append("a key of county.yaml repeats")
    else:
        files["county.yaml"] = county
    return CountySpec(files, duplicates, log)


def load_county(spec: CountySpec) -> Failure | None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mycounty"
        shutil.copytree(TEMPLATE, folder)
        for name, data in spec.files.items():
            if data is None:
                (folder / name).unlink(missing_ok=True)
            else:
                (folder / name).write_bytes(data)
        return outcome(lambda: load_params(county=folder), "; ".join(spec.duplicates) or None)


@FUZZ
@given(county_set())
def test_county_sets(spec):
    failure = load_county(spec)
    if failure is not None:
        raise AssertionError(str(failure)) from failure.exc
