"""Reading input files safely.

Regular files of bounded size, YAML without duplicate keys, impossible dates, alias bombs or
runaway nesting. Every failure is one :class:`ParamsError` line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from health_sim.core.errors import ParamsError, short

_BASE_LOADER = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)  # libyaml when present: about 10x faster on params/baseline.yaml


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
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key '{short(key, 40)}' (first at line {seen[key] + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark.line
            except TypeError:  # an unhashable key: the constructor reports it
                pass
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"{short(node.value, 40)} is not a date ({e})", node.start_mark
            ) from None


def _check_size(root) -> None:
    """Refuse documents that expand to more than MAX_NODES values, nest deeper than MAX_DEPTH or refer to themselves.

    Iteratively: no recursion on hostile input.
    """
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


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)
_Loader.add_constructor("tag:yaml.org,2002:map", _BASE_LOADER.construct_yaml_map)  # through construct_mapping above


def file_kind(path: Path) -> str:
    """The kind of thing at ``path``: "file", "folder", "missing" or "other" (a FIFO, a device, a socket).

    A path that cannot even be looked at (too long, no permission) is one ParamsError line.
    """
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
    """The text of a regular file of at most ``limit`` bytes.

    Anything else (missing, a folder, a FIFO or device, too large, not UTF-8) is one ParamsError
    line.
    """
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
    """Refuse nesting deeper than MAX_DEPTH, from the parser's event stream.

    The stream is read without recursion: composing a document of 100,000 nested lists would
    overflow the stack of the compiled loader and crash the process.
    """
    parser = _BASE_LOADER(text)
    depth = 0
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise ParamsError(
                        f"{where}: nested deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})"
                    )
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


def read_yaml(path: Path) -> dict:
    """A YAML file whose top level is a mapping (empty: ``{}``); anything else is one ParamsError line."""
    data = load_yaml(read_text(path), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: the top level must be a mapping of keys, not {type(data).__name__}")
    return data
