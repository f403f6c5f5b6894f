"""Re-execute the notebooks at the CI scale and keep only what is committed.

nbval (`pytest --nbval-lax`, part of `make test`) re-runs every notebook and compares the
output of the cells marked `# NBVAL_CHECK_OUTPUT` with the committed one. This script
refreshes those committed outputs: it executes each notebook from notebooks/ with
HEALTH_SIM_SCALE at the test scale (see conftest.py), then strips every other output,
execution counts and run metadata, so the committed notebooks stay light and carry no
paths or timestamps. Run it after a change that is meant to move the checked KPIs:

    uv run python scripts/refresh_notebooks.py [NAME.ipynb ...]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from conftest import NOTEBOOK_SCALE  # noqa: E402

CHECK = "# NBVAL_CHECK_OUTPUT"


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata = {k: nb.metadata[k] for k in ("kernelspec", "language_info") if k in nb.metadata}
    nb.metadata.get("language_info", {}).pop("version", None)
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        cell.metadata = {"tags": tags} if tags else {}
        cell.id = f"cell-{i}"  # stable ids: no churn in diffs
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        if cell.source.lstrip().startswith(CHECK):
            cell.execution_count = i  # nbval compares only cells that were run
            cell.outputs = [o for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
            for o in cell.outputs:
                o.pop("metadata", None)
        else:
            cell.outputs = []
    return nb


def main() -> None:
    os.environ["HEALTH_SIM_SCALE"] = str(NOTEBOOK_SCALE)
    os.environ["HEALTH_SIM_SMOKE"] = "1"
    names = sys.argv[1:] or sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for name in names:
        path = ROOT / "notebooks" / name
        print("executing", name, flush=True)
        nb = pm.execute_notebook(str(path), None, cwd=str(path.parent), progress_bar=False, kernel_name="python3")
        nbformat.write(strip(nb), path)


if __name__ == "__main__":
    main()
