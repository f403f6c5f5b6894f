"""environment.yml (conda) stays in step with pyproject.toml (uv)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def _conda_specs() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e"):
                continue
            specs[_name(item)] = item[len(_name(item)) :].strip()
    return specs


def test_every_pyproject_dependency_is_in_environment_yml_with_the_same_bounds():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(pyproject["project"]["dependencies"]) + list(pyproject["dependency-groups"]["dev"])
    conda = _conda_specs()
    for req in reqs:
        name = _name(req)
        assert name in conda, f"{name} is in pyproject.toml but not in environment.yml"
        bounds = req[len(name) :].split(";")[0].replace(" ", "")
        assert conda[name].replace(" ", "") == bounds, (
            f"{name}: pyproject {bounds!r} != environment.yml {conda[name]!r}"
        )


def test_python_versions_agree():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.12" in env["dependencies"]
    assert (ROOT / ".python-version").read_text().strip() == "3.12"
