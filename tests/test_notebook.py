"""The example notebook is committed without outputs and uses facelab only through
``facelab.api`` (``make docs-check`` executes it from a clean state)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "threshold-tradeoff.ipynb"


def _code_cells() -> list[dict]:
    nb = json.loads(NOTEBOOK.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_notebook_is_committed_without_outputs():
    cells = _code_cells()
    assert cells
    for c in cells:
        assert c["outputs"] == [] and c["execution_count"] is None


def test_notebook_uses_facelab_through_the_api_only():
    imported = set()
    for c in _code_cells():
        for node in ast.walk(ast.parse("".join(c["source"]))):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module)
    assert "facelab.api" in imported
    assert {m for m in imported if m.startswith("facelab")} == {"facelab.api"}
