"""ARCHITECTURE.md names every module of the package, and nothing that is not there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "facelab"
MAX_LINES = 800


def _modules() -> set[str]:
    """Every module as a dotted name relative to the package (``run.store``, ``api``)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        if rel.name == "__init__":
            continue
        names.add(".".join(rel.parts))
    return names


def _named_in_doc() -> set[str]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z_][a-z_.]*)` \|", text, flags=re.M))


def test_architecture_names_every_module():
    modules, named = _modules(), _named_in_doc()
    assert not modules - named, f"modules missing from ARCHITECTURE.md: {sorted(modules - named)}"
    assert not named - modules, (
        f"ARCHITECTURE.md names modules that do not exist: {sorted(named - modules)}"
    )


def test_no_module_is_longer_than_a_sitting():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
