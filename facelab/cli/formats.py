"""Output formats of the listing commands: a table (default), JSON or CSV.

JSON is what :mod:`facelab.lab.jsonview` makes of the results; CSV is the same records
flattened to one row each. Tables are printed by rich at least as wide as their content
needs, so a cell is wrapped, never cut to "…", whatever the terminal's width.
"""

from __future__ import annotations

import csv
import json
import sys

from rich.console import Console
from rich.measure import Measurement

from facelab.errors import ConfigError

FORMATS = ("table", "json", "csv")


def check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> str:
    """``fmt`` if it is one of ``allowed``; else ``ConfigError`` (a parameter error, exit 2)."""
    if fmt not in allowed:
        raise ConfigError(f"--format must be one of {', '.join(allowed)}, got {fmt!r}")
    return fmt


def print_table(table, console: Console | None = None) -> None:
    """Print a rich table no narrower than its content needs (wrapped cells, never "…").

    Rich fits a table to the console's width (80 columns when the output is not a terminal)
    and cuts unbreakable cells to "…"; here the console is widened to the table's minimum
    width when that is larger, cells that can wrap still wrap, and a word longer than its
    column is folded onto the next line.
    """
    console = console or Console()
    wide = console.options.update_width(1 << 20)
    for column in table.columns:
        if column.no_wrap:  # as wide as its widest cell (rich measures only its longest word)
            cells = [column.header, *column.cells]
            width = max(Measurement.get(console, wide, c).maximum for c in cells)
            column.min_width = max(column.min_width or 0, width)
        elif column.overflow == "ellipsis":
            column.overflow = "fold"  # a word longer than its column is folded, not cut
    need = console.measure(table, options=wide).minimum
    if need > console.width:
        console = Console(width=need, file=console.file)
    console.print(table)


def print_json(results) -> None:
    """Print results as JSON (:func:`facelab.lab.jsonview.dumps`)."""
    from facelab.lab.jsonview import dumps

    print(dumps(results))


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, list):
            out[key] = json.dumps(v, ensure_ascii=False)
        else:
            out[key] = v
    return out


def print_csv(results) -> None:
    """Print a list of results as CSV: one row each, nested fields as ``a.b`` columns."""
    from facelab.lab.jsonview import to_jsonable

    rows = [_flat(r) for r in to_jsonable(list(results))]
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    w = csv.DictWriter(sys.stdout, columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
