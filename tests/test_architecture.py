"""The house rules the tree keeps (docs/architecture.md).

Layers, no import cycles, one module per lever, one list for every name, a clean lint, and
generated docs in step with the code.
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from health_sim import reference
from health_sim.core.names import LEVELS, Level
from health_sim.policies.lever import Lever
from health_sim.policies.registry import PolicyParams
from health_sim.policies.state import ENGINE_FIELDS, PolicyState
from health_sim.sim import engine
from health_sim.sim.kpis import COUNTERS, KPIS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "health_sim"
LAYERS = ("core", "policies", "config", "world", "sim", "experiments")  # lowest first; cli, viz, reference on top


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Modules of health_sim that ``path`` imports anywhere (functions included), except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    skip = set()
    for node in ast.walk(tree):  # annotation-only imports run nothing
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            if base.split(".")[0] != "health_sim":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if (PACKAGE.parent / full.replace(".", "/")).with_suffix(".py").exists() else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "health_sim")
    return out


GRAPH = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    """Index of the module's layer (higher may import lower); top-level modules sit above all."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else len(LAYERS)


def test_every_module_imports_only_its_own_layer_and_those_below():
    wrong = [
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        for d in deps
        if d in GRAPH and d != "health_sim" and layer_of(d) > layer_of(m) and layer_of(m) < len(LAYERS)
    ]  # the package itself only names its version and, lazily, the public API
    assert not wrong, wrong


def test_import_linter_contract_is_kept():
    exe = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )  # nothing left in the repo
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_there_are_no_import_cycles():
    """No strongly connected group of modules (imports inside functions count)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def connect(m: str) -> None:  # Tarjan's algorithm
        index[m] = low[m] = len(index)
        stack.append(m)
        for d in sorted(GRAPH[m] & GRAPH.keys()):
            if d not in index:
                connect(d)
                low[m] = min(low[m], low[d])
            elif d in stack:
                low[m] = min(low[m], index[d])
        if low[m] == index[m]:
            group = []
            while True:
                x = stack.pop()
                group.append(x)
                if x == m:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for m in sorted(GRAPH):
        if m not in index:
            connect(m)
    assert not groups, groups


def test_each_lever_is_one_module_of_the_policies_package():
    for name, field in PolicyParams.model_fields.items():
        cls = field.annotation
        assert issubclass(cls, Lever)
        assert cls.__module__ == f"health_sim.policies.{name}", f"{name}: {cls.__module__}"
        assert (PACKAGE / "policies" / f"{name}.py").exists()
        doc = cls.__doc__ or ""
        assert len(doc.split()) > 10, f"{name}: its class docstring says what it is and how it acts (docs/model.md)"


def test_engine_names_come_from_the_one_lists():
    """The engine's tally rows are the KPI counters' rows; its policy vector is PolicyState's float fields."""
    rows = {name: i for i, name in enumerate(COUNTERS)}
    assert rows == engine._T
    floats = [f for f, t in PolicyState.__annotations__.items() if t == "float"]
    assert list(ENGINE_FIELDS) == floats
    assert {name: i for i, name in enumerate(floats)} == engine._P
    assert tuple(lvl.name.lower() for lvl in Level) == LEVELS


def test_no_bare_level_codes_in_the_source():
    """Levels are compared with the enum (``Level.TOWNSHIP``), never with a bare number."""
    bare = re.compile(r"\blevel\w*\s*(==|!=|<=|>=|<|>)\s*\d")
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in PACKAGE.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert not found, found


@pytest.mark.parametrize(
    "args", [["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]], ids=["lint", "format"]
)
def test_ruff_is_clean(args):
    done = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]


def test_docs_model_tables_are_generated_from_the_code():
    text = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    assert reference.blocks_in(text) == ["levers", "kpis"]
    assert reference.render(text) == text, "docs/model.md has drifted from the code: run `health-sim docs`"
    for name in PolicyParams.model_fields:
        assert f"| `{name}` |" in text
    for name in KPIS:
        assert f"| `{name}` |" in text


def test_docs_architecture_names_every_module():
    """docs/architecture.md, the map of the tree, names every module, so it stays true."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [
        str(p.relative_to(PACKAGE))
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.name != "__init__.py" and f"{p.relative_to(PACKAGE).with_suffix('')}" not in text
    ]
    assert not missing, f"docs/architecture.md does not mention {missing}"
