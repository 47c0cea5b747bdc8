"""CLI commands: audit.

``facelab audit RUN`` lists the audit log of a run; ``facelab audit verify RUN`` checks its hash
chain. One command with the arguments ``[verify] RUN`` rather than a group with a callback: a group
taking an optional RUN argument would swallow the word ``verify`` as the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from facelab.cli._app import app
from facelab.cli.formats import check_format, print_csv, print_json, print_table
from facelab.errors import AuditError
from facelab.governance.audit import AuditLog, AuditRecord
from facelab.run.store import require_run

AUDIT_FILE = "audit.jsonl"


def _cell(value: str) -> Text:
    """Plain text for a table cell: no rich markup, no terminal control characters."""
    return Text("".join(ch if ch.isprintable() else "?" for ch in value))


def _details(details: dict) -> str:
    """The details as compact JSON (whole: the table wraps the cell)."""
    text = json.dumps(details, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)
    return "" if text == "{}" else text


def _reason_case(rec: AuditRecord) -> str:
    parts = [p for p in (rec.reason, f"case {rec.case}" if rec.case else None) if p]
    return "; ".join(parts)


def _list(run: Path, fmt: str = "table") -> None:
    records = AuditLog(run / AUDIT_FILE).records()
    if fmt != "table":
        (print_json if fmt == "json" else print_csv)(records)
        return
    if not records:
        print(f"no audit records in {run}")
        return
    table = Table(title=_cell(f"audit log of {run}"))
    for col, kw in (
        ("seq", {"justify": "right"}),
        ("time (UTC)", {"no_wrap": True}),
        ("actor", {}),
        ("action", {}),
        ("reason / case", {}),
        ("details", {}),
    ):
        table.add_column(col, **kw)
    for rec in records:
        cells = (rec.time[:19].replace("T", " "), rec.actor, rec.action, _reason_case(rec))
        table.add_row(str(rec.seq), *map(_cell, cells), _cell(_details(rec.details)))
    print_table(table)


def _verify(run: Path) -> None:
    report = AuditLog(run / AUDIT_FILE).verify()
    if not report.ok:
        where = f" at record {report.first_bad}" if report.first_bad is not None else ""
        raise AuditError(f"audit log BROKEN{where}: {report.problem}")
    print(f"audit log OK: {report.count} records")


@app.command("audit")
def audit(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[verify] RUN",
            help="A run directory to list; 'verify RUN' checks its hash chain instead.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="table, json or csv (listing only).")
    ] = "table",
) -> None:
    """List a run's audit log, or verify its hash chain.

    facelab audit RUN: every record (who, what, when, stated reason and case).

    facelab audit verify RUN: "audit log OK: N records", or the first bad record (exit code 7).
    """
    check_format(fmt)
    if len(args) == 1:
        _list(require_run(args[0]), fmt)
    elif len(args) == 2 and args[0] == "verify":
        _verify(require_run(args[1]))
    else:
        raise typer.BadParameter("expected RUN or 'verify RUN'", param_hint="[verify] RUN")
