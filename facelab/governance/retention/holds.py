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

from facelab.errors import DataError
from facelab.run import schema
from facelab.run.store import RunStore, Transaction


def utcnow() -> str:
    """Wall-clock time (UTC, ISO, seconds) for records of actions."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def held_sightings(db: sqlite3.Connection, before_day: int) -> set[int]:
    """Ids of the sightings of days ``< before_day`` that an open case holds."""
    return schema.open_case_sightings(db, before_day)


def close_case(store: RunStore, case_id: str, *, actor: str, reason: str | None = None) -> int:
    """Close a case: its held sightings fall back to the ordinary limits at the next purge.

    Returns the number of confirmed alerts the case held.

    Raises
    ------
    DataError
        No alert and no earlier closing names ``case_id`` (nothing is written).
    """
    if case_id not in {c for c, _status, _n in cases(store)}:
        raise DataError(f"no case {case_id[:64]!r} in {store.path} "
                        f"(see `facelab retention cases {store.path}`)")  # fmt: skip
    n = schema.confirmed_by_case(store.db).get(case_id, 0)
    with Transaction(store.db) as db:
        schema.set_case_closed(db, case_id, utcnow())
    store.audit.append(actor, "case-close", reason=reason, case=case_id,
                       details={"confirmed_alerts": int(n)})  # fmt: skip
    return int(n)


def cases(store: RunStore) -> list[tuple[str, str, int]]:
    """``(case id, status, confirmed alerts)`` for every case named by an alert or a cases row."""
    status = {c.id: c.status for c in schema.cases(store.db)}
    counts = schema.confirmed_by_case(store.db)
    ids = sorted(set(status) | set(counts))
    return [(c, status.get(c, "open"), int(counts.get(c, 0))) for c in ids]
