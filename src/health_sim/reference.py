"""The reference tables of ``docs/model.md``, generated from the schema and the KPI registry.

Each generated block of the file sits between ``<!-- generated: NAME -->`` and
``<!-- end generated -->``; ``health-sim docs`` rewrites every block from the code, and a test
fails when the file and the code have drifted apart. Nothing in a block is written by hand:
change the lever's module (its parameters and its class docstring) or the KPI's definition.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Callable
from pathlib import Path

from health_sim.core.fields import Section
from health_sim.policies.lever import Lever
from health_sim.policies.registry import PolicyParams
from health_sim.sim.kpis import KPIS

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _cell(text: str) -> str:
    """Text as one Markdown table cell (one line, pipes escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _parameters(cls: type[Section]) -> str:
    """Each parameter of a lever (those common to every lever apart): key, default, unit and source."""
    out = []
    for name, field in cls.model_fields.items():
        if name in Lever.model_fields:
            continue
        extra = field.json_schema_extra or {}
        unit = extra.get("unit", "")
        default = _value(field.get_default(call_default_factory=True))
        unit_text = f" {unit}" if unit and unit != "bool" else ""
        source = f" ({extra['source']})" if extra.get("source") else ""
        out.append(f"`{name}` {default}{unit_text}{source}")
    return "<br>".join(_cell(x) for x in out)


def lever_table() -> str:
    """One row per lever, in the order they act: what it is, how it acts, its parameters."""
    rows = [
        "| lever (`policies.`) | what it is and how it acts | parameters: default, unit (source of the default) |",
        "|---|---|---|",
    ]
    for name, field in PolicyParams.model_fields.items():
        cls = field.annotation
        doc = inspect.getdoc(cls) or ""
        rows.append(f"| `{name}` | {_cell(doc)} | {_parameters(cls)} |")
    return "\n".join(rows) + "\n"


def kpi_table() -> str:
    """One row per KPI: name, unit, definition (and the parts of a KPI with parts)."""
    rows = ["| KPI | unit | definition |", "|---|---|---|"]
    for k in KPIS.values():
        parts = f" Parts: {', '.join(k.parts)}." if k.parts else ""
        county = " County-wide only (facility counters)." if k.needs_facility else ""
        rows.append(f"| `{k.name}` | {_cell(k.unit)} | {_cell(k.definition + '.' + parts + county)} |")
    return "\n".join(rows) + "\n"


BLOCKS: dict[str, Callable[[], str]] = {"levers": lever_table, "kpis": kpi_table}
"""Generated blocks by name."""


def render(text: str) -> str:
    """``text`` with every generated block rewritten; an unknown block name is an error."""

    def block(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise KeyError(f"unknown generated block '{name}' (known: {', '.join(BLOCKS)})")
        return m.group(1) + BLOCKS[name]() + m.group(4)

    return _BLOCK.sub(block, text)


def blocks_in(text: str) -> list[str]:
    """Names of the generated blocks of ``text``, in order."""
    return [m.group("name") for m in _BLOCK.finditer(text)]


def write(path: str | Path) -> bool:
    """Rewrite the generated blocks of the file ``path``; return whether it changed."""
    path = Path(path)
    old = path.read_text(encoding="utf-8")
    new = render(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old
