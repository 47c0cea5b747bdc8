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

from facelab.run import cases as run_cases
from facelab.run import schema
from facelab.run.store import RunStore


def utcnow() -> str:
    """Wall-clock time (UTC, ISO, seconds) for records of actions."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def held_sightings(db: sqlite3.Connection, before_day: int) -> set[int]:
    """Ids of the sightings of days ``< before_day`` that an open case holds."""
    return schema.open_case_sightings(db, before_day)


def close_case(store: RunStore, case_id: str, *, actor: str, reason: str | None = None) -> int:
    """Close a case: its held sightings fall back to the ordinary limits at the next purge.

    The row and its audit record are written whole or not at all
    (:func:`facelab.run.cases.close_case`).

    Returns the number of confirmed alerts the case held.

    Raises
    ------
    DataError
        No alert and no earlier closing names ``case_id`` (nothing is written).
    """
    return run_cases.close_case(store, case_id, actor=actor, reason=reason)


def cases(store: RunStore) -> list[tuple[str, str, int]]:
    """``(case id, status, confirmed alerts)`` for every case named by an alert or a cases row
    (a closing still pending without its audit record shown as not made)."""
    status = run_cases.statuses(store)
    counts = schema.confirmed_by_case(store.db)
    ids = sorted(set(status) | set(counts))
    return [(c, status.get(c, "open"), int(counts.get(c, 0))) for c in ids]
