"""`examples/threshold-tradeoff.ipynb` runs from a clean state, as a reader would run it.

The notebook is executed by nbclient in a fresh folder (so it runs the classroom preset itself),
on a kernel of this environment's Python, and must finish without an error, show its plots and
its purge.
"""

from __future__ import annotations

import sys

import nbformat
from docfig import ROOT
from nbclient import NotebookClient

NOTEBOOK = ROOT / "examples" / "threshold-tradeoff.ipynb"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_notebook_runs_from_a_clean_state(tmp_path, model_env, monkeypatch):
    for key, value in model_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FACELAB_NOTEBOOK_RUN", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert f"python: {sys.executable}\n" in _text(code[0])  # the kernel is this venv's Python
    assert (tmp_path / "runs" / "threshold-tradeoff" / "run.json").exists()
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert images >= 3
    assert "purge(s) removed 1 day(s)" in _text(code[-1])
