"""Case holds: evidence an open investigation keeps past every retention limit.

A sighting is *held* while the policy's ``case_hold`` is true and it has an alert with status
``'confirmed'`` and a ``case_id`` whose case is not closed (table ``cases``; a case id with no
row there is open). The hold keeps the sighting row with its alerts and candidates, its whole
frame (other faces in it included: evidence is kept as recorded) and its embedding.
:func:`close_case` releases the hold; the next purge deletes what it kept.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3

from facelab.run.store import RunStore, Transaction

CASES_SCHEMA = """
CREATE TABLE IF NOT EXISTS cases(
  id TEXT PRIMARY KEY, status TEXT NOT NULL DEFAULT 'open', opened_at TEXT, closed_at TEXT);
"""


def utcnow() -> str:
    """Wall-clock time (UTC, ISO, seconds) for records of actions."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def ensure_cases(db: sqlite3.Connection) -> None:
    """Create the ``cases`` table if missing (``id``, ``status`` open|closed, timestamps)."""
    db.executescript(CASES_SCHEMA)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    q = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
    return db.execute(q, (name,)).fetchone() is not None


def held_sightings(db: sqlite3.Connection, before_day: int) -> set[int]:
    """Ids of the sightings of days ``< before_day`` that an open case holds."""
    cases_join = "LEFT JOIN cases c ON c.id = a.case_id" if _has_table(db, "cases") else ""
    open_case_ = "COALESCE(c.status, 'open') <> 'closed'" if cases_join else "1"
    sql = (
        f"SELECT DISTINCT a.sighting FROM alerts a {cases_join} WHERE a.day < ? AND "
        f"a.status = 'confirmed' AND a.case_id IS NOT NULL AND {open_case_}"
    )
    return {r[0] for r in db.execute(sql, (before_day,))}


def open_case(store: RunStore, case_id: str, *, actor: str, reason: str | None = None) -> None:
    """Open (or re-open) a case: its confirmed alerts are held again."""
    ensure_cases(store.db)
    with Transaction(store.db) as db:
        db.execute(
            "INSERT INTO cases(id, status, opened_at) VALUES (?, 'open', ?) "
            "ON CONFLICT(id) DO UPDATE SET status='open', closed_at=NULL",
            (case_id, utcnow()),
        )
    store.audit.append(actor, "case-open", reason=reason, case=case_id)


def close_case(store: RunStore, case_id: str, *, actor: str, reason: str | None = None) -> int:
    """Close a case: its held sightings fall back to the ordinary limits at the next purge.

    Returns the number of confirmed alerts the case held.
    """
    ensure_cases(store.db)
    n = store.db.execute(
        "SELECT COUNT(*) FROM alerts WHERE case_id=? AND status='confirmed'", (case_id,)
    ).fetchone()[0]
    with Transaction(store.db) as db:
        db.execute(
            "INSERT INTO cases(id, status, closed_at) VALUES (?, 'closed', ?) "
            "ON CONFLICT(id) DO UPDATE SET status='closed', closed_at=excluded.closed_at",
            (case_id, utcnow()),
        )
    store.audit.append(actor, "case-close", reason=reason, case=case_id,
                       details={"confirmed_alerts": int(n)})  # fmt: skip
    return int(n)


def cases(store: RunStore) -> list[tuple[str, str, int]]:
    """``(case id, status, confirmed alerts)`` for every case named by an alert or a cases row."""
    has = _has_table(store.db, "cases")
    status = dict(store.db.execute("SELECT id, status FROM cases").fetchall()) if has else {}
    counts = dict(store.db.execute(
        "SELECT case_id, COUNT(*) FROM alerts WHERE case_id IS NOT NULL AND status='confirmed' "
        "GROUP BY case_id").fetchall())  # fmt: skip
    ids = sorted(set(status) | set(counts))
    return [(c, status.get(c, "open"), int(counts.get(c, 0))) for c in ids]
