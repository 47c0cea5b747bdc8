"""Fixtures of ``make docs-check``: the costly commands whose figures the documentation quotes.

Each command runs once per session, in a fresh model folder whose twin is fitted here by
``facelab calibrate --check 150`` (seed 0, the twin the documentation's case figures rest on),
so the check never reads or overwrites the user's ``models/twin.npz``. ``DOCS_CHECK_RUNS``
names a folder to keep the runs in and resume from (development only: a kept run made by older
code would be read as it is); by default everything lives in pytest's temporary folder.
"""

from __future__ import annotations

from facelab.blas import tune_blas

tune_blas()  # before faiss is first imported, as the facelab command does

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def facelab(*args: str, env: dict[str, str], cwd: Path | None = None) -> str:
    """Run ``python -m facelab ARGS`` (the installed command) and return its stdout.

    Raises an AssertionError with the command's stderr when it exits non-zero.
    """
    cmd = [sys.executable, "-m", "facelab", *args]
    r = subprocess.run(cmd, env=env, cwd=cwd or ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd[2:])} exited {r.returncode}:\n{r.stderr[-4000:]}"
    return r.stdout


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    """Where the session's runs go (``DOCS_CHECK_RUNS`` or a temporary folder)."""
    kept = os.environ.get("DOCS_CHECK_RUNS")
    folder = Path(kept).resolve() if kept else tmp_path_factory.mktemp("docs-check")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def model_env(work) -> dict[str, str]:
    """Environment of every command: a model folder with the real ONNX models (linked) and a
    provenance key of its own; the twin is written into it by :func:`calibration`."""
    from facelab import paths

    folder = work / "models"
    folder.mkdir(exist_ok=True)
    for f in paths.model_dir().iterdir():
        if f.suffix in (".onnx", ".json") and not (folder / f.name).exists():
            (folder / f.name).symlink_to(f.resolve())
    env = dict(os.environ)
    env.update(FACELAB_MODEL_DIR=str(folder), COLUMNS="220")
    env.pop("FACELAB_PROVENANCE_KEY", None)
    return env


@pytest.fixture(scope="session")
def calibration(work, model_env) -> str:
    """The printed output of ``facelab calibrate --check 150`` (it writes the twin)."""
    out = work / "calibrate-check-150.txt"
    twin = Path(model_env["FACELAB_MODEL_DIR"]) / "twin.npz"
    if not (out.exists() and twin.exists()):
        text = facelab("calibrate", "--check", "150", env=model_env)
        out.write_text(text)
    return out.read_text()


@pytest.fixture(scope="session")
def twin_env(calibration, model_env) -> dict[str, str]:
    """The command environment once the twin is fitted."""
    return model_env


_CASES: dict[str, dict] = {}


@pytest.fixture(scope="session")
def case(work, twin_env):
    """``case(NAME)``: the JSON of ``facelab case NAME --format json`` (run once a session)."""

    def get(name: str) -> dict:
        if name not in _CASES:
            text = facelab("case", name, "--format", "json", "--out", str(work / "cases"),
                           env=twin_env)  # fmt: skip
            _CASES[name] = json.loads(text)
        return _CASES[name]

    return get
