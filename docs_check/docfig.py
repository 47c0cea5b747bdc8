"""Figures as the documentation prints them, and the rule a printed figure must follow.

A figure in README.md or benchmarks/README.md is found by a pattern next to its command in the
check (never copied into the check), and agrees with the command's value when the value,
rounded to nearest at the decimals the document prints, reads the same (``27.4`` is quoted as
``27``, never as ``28``; ``0.9712`` as ``97 %`` or ``97.1 %``). A range ``12–14`` agrees with
every value inside it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: A number as documents print it: ``1,887``, ``27.4``, ``0.95``.
NUMBER = r"\d[\d,]*(?:\.\d+)?"


def doc(name: str) -> str:
    """The document's text with every run of white space (line breaks too) made one space."""
    return " ".join((ROOT / name).read_text().split())


def table_row(name: str, first_cell: str) -> list[str]:
    """The cells of the markdown table row of document ``name`` whose first cell is
    ``first_cell``."""
    for line in (ROOT / name).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"{name}: no table row starting with {first_cell!r}")


def find(pattern: str, text: str, what: str) -> re.Match:
    """The first match of ``pattern`` in ``text``, or an AssertionError naming ``what``."""
    m = re.search(pattern, text)
    assert m, f"{what}: pattern {pattern!r} not found in:\n{text[:600]}"
    return m


def number(s: str) -> float:
    """``"1,887"`` → 1887.0."""
    return float(s.replace(",", ""))


def decimals(s: str) -> int:
    """Decimals printed in ``s``: ``"27.4"`` → 1, ``"1,887"`` → 0."""
    return len(s.split(".")[1]) if "." in s else 0


def agrees(printed: str, value: float) -> bool:
    """Whether the document's ``printed`` figure is ``value`` rounded to its decimals.

    ``printed`` may be a range ``"12–14"`` (inclusive), or ``"none"`` for 0.
    """
    printed = printed.strip()
    if printed == "none":
        return value == 0
    if "–" in printed:
        lo, hi = (number(p) for p in printed.split("–"))
        return lo <= value <= hi
    d = decimals(printed)
    return f"{value:.{d}f}" == f"{number(printed):.{d}f}"


def check(printed: str, value: float, what: str) -> None:
    """Assert :func:`agrees`, saying where the figure is and what the command gives."""
    assert agrees(printed, value), f"{what}: the document says {printed!r}, the command {value!r}"
