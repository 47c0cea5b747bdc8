"""Where facelab keeps its models and default runs.

``FACELAB_MODEL_DIR`` overrides the model folder; by default it is ``models/`` at the root of
the source checkout (the folder holding ``pyproject.toml``), else ``~/.cache/facelab/models``.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def repo_root() -> Path | None:
    """The source checkout holding this package, or ``None`` for an installed wheel."""
    return _REPO_ROOT if (_REPO_ROOT / "pyproject.toml").exists() else None


def model_dir() -> Path:
    """Folder that holds the converted models and their manifest."""
    env = os.environ.get("FACELAB_MODEL_DIR")
    if env:
        return Path(env)
    root = repo_root()
    if root is not None:
        return root / "models"
    return Path.home() / ".cache" / "facelab" / "models"


def scenarios_dir() -> Path:
    """Folder of the bundled scenario presets."""
    root = repo_root()
    return (root / "scenarios") if root is not None else Path(__file__).parent / "scenarios"
