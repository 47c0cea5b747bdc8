"""The case part of ``facelab.sqlite``'s SQL (table ``cases`` of :mod:`facelab.run.schema`):
one case's row, and putting it back as it was (undoing an interrupted close-case)."""

from __future__ import annotations

import sqlite3


def case_row(conn: sqlite3.Connection, case_id: str) -> list | None:
    """``[status, opened_at, closed_at]`` of a case's row, or None without one."""
    sql = "SELECT status, opened_at, closed_at FROM cases WHERE id=?"
    row = conn.execute(sql, (case_id,)).fetchone()
    return list(row) if row is not None else None


def restore_case(conn: sqlite3.Connection, case_id: str, row: list | None) -> None:
    """Put a case's row back to ``row`` (from :func:`case_row`); None deletes it."""
    if row is None:
        conn.execute("DELETE FROM cases WHERE id=?", (case_id,))
        return
    conn.execute(
        "INSERT INTO cases(id, status, opened_at, closed_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET status=excluded.status, opened_at=excluded.opened_at, "
        "closed_at=excluded.closed_at",
        (case_id, *row),
    )
