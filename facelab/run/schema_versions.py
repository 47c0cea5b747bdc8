"""Watchlist versions in ``RUN/facelab.sqlite``: which entries each version of the watchlist
held, and which version each day's searches were compared against.

Tables (:data:`SCHEMA`, created with the run beside :data:`facelab.run.schema.SCHEMA`)::

    watchlist_versions(version, at, change)       one row per change of the active set
    watchlist_spans(watch, added, removed)        entry ``watch`` is active in versions
                                                  ``added <= v < removed`` (removed NULL: now)
    day_watchlist(day, version)                   the version the day's searches ran against

Version 0 is the empty watchlist. Every change of the set of active entries (an enrolment, a
batch enrolment, a removal, an undone removal) adds one version, in the same transaction that
changes the ``watchlist.active`` flags, so the spans always agree with those flags. The run
pipeline loads the active watchlist once (:func:`active_ids_and_version`, one statement, so the
ids and the version are of one moment) and searches every day of that invocation against it, so
the version is stored per day; each search of a day has its day's version.

Like :mod:`facelab.run.schema` (of which this is the watchlist-history part), the functions take
an open connection and never begin or end a transaction.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Iterable

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS watchlist_versions(
  version INTEGER PRIMARY KEY, at TEXT NOT NULL, change TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS watchlist_spans(
  watch INTEGER NOT NULL, added INTEGER NOT NULL, removed INTEGER,
  PRIMARY KEY(watch, added)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day_watchlist(day INTEGER PRIMARY KEY, version INTEGER NOT NULL);
"""
"""The watchlist-history tables of ``facelab.sqlite``."""

CHANGES = ("enrol", "remove", "restore")
"""What a version records: entries enrolled, an entry removed, a removal undone."""

SPAN = np.dtype([("watch", np.int64), ("added", np.int64), ("removed", np.int64)])
"""Spans in bulk (:func:`spans`): ``removed`` is :data:`OPEN` while the entry is active."""

OPEN = np.iinfo(np.int64).max
"""``removed`` of a span that is still open (the entry is active now)."""

DAY_VERSION = np.dtype([("day", np.int64), ("version", np.int64)])
"""Days in bulk (:func:`day_versions`)."""

_CURRENT = "(SELECT COALESCE(MAX(version), 0) FROM watchlist_versions)"


def current_version(conn: sqlite3.Connection) -> int:
    """The watchlist's version now (0 before the first enrolment)."""
    return int(conn.execute(f"SELECT {_CURRENT}").fetchone()[0])


def new_version(conn: sqlite3.Connection, change: str) -> int:
    """Add a version recording ``change`` (one of :data:`CHANGES`) and return it."""
    if change not in CHANGES:
        raise ValueError(f"unknown watchlist change {change!r}")
    at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    sql = f"INSERT INTO watchlist_versions(version, at, change) VALUES ({_CURRENT} + 1, ?, ?)"
    return int(conn.execute(sql, (at, change)).lastrowid)


def open_spans(conn: sqlite3.Connection, watch_ids: Iterable[int], version: int) -> None:
    """Entries ``watch_ids`` are active from ``version`` on."""
    conn.executemany(
        "INSERT INTO watchlist_spans(watch, added, removed) VALUES (?, ?, NULL)",
        [(int(w), int(version)) for w in watch_ids],
    )


def close_span(conn: sqlite3.Connection, watch_id: int, version: int) -> None:
    """Entry ``watch_id`` is no longer active from ``version`` on."""
    conn.execute(
        "UPDATE watchlist_spans SET removed=? WHERE watch=? AND removed IS NULL",
        (int(version), int(watch_id)),
    )


def enrolled(conn: sqlite3.Connection, watch_ids: Iterable[int]) -> int:
    """Record the enrolment of ``watch_ids`` (made active in the same transaction) as a new
    version; returns it."""
    v = new_version(conn, "enrol")
    open_spans(conn, watch_ids, v)
    return v


def removed(conn: sqlite3.Connection, watch_id: int) -> int:
    """Record the removal of ``watch_id`` (made inactive in the same transaction) as a new
    version; returns it."""
    v = new_version(conn, "remove")
    close_span(conn, watch_id, v)
    return v


def restored(conn: sqlite3.Connection, watch_id: int) -> int:
    """Record that a removal of ``watch_id`` was undone (it is active again, in the same
    transaction) as a new version; returns it. A search made while the removal stood keeps the
    version that did not hold the entry."""
    v = new_version(conn, "restore")
    open_spans(conn, [watch_id], v)
    return v


def clear(conn: sqlite3.Connection) -> None:
    """Forget every version and span (the run pipeline redoing its enrolment, before any day)."""
    conn.execute("DELETE FROM watchlist_spans")
    conn.execute("DELETE FROM watchlist_versions")


def active_ids_and_version(conn: sqlite3.Connection) -> tuple[list[int], int]:
    """The ids of the active entries (ascending) and the current version, read by one
    statement so that both are of the same moment."""
    sql = f"SELECT {_CURRENT}, id FROM watchlist WHERE active=1 UNION ALL SELECT {_CURRENT}, NULL"
    rows = conn.execute(f"SELECT * FROM ({sql}) ORDER BY 2").fetchall()
    ids = [int(r[1]) for r in rows if r[1] is not None]
    return ids, int(rows[0][0])


def set_day_version(conn: sqlite3.Connection, day: int, version: int | None) -> None:
    """Record the version a day's searches ran against (``None``: the current one)."""
    conn.execute(
        f"INSERT OR REPLACE INTO day_watchlist(day, version) VALUES (?, COALESCE(?, {_CURRENT}))",
        (int(day), None if version is None else int(version)),
    )


def day_versions(conn: sqlite3.Connection) -> np.ndarray:
    """The version of every day that recorded one, by day: structured ndarray of
    :data:`DAY_VERSION`, shape (d,)."""
    rows = conn.execute("SELECT day, version FROM day_watchlist ORDER BY day").fetchall()
    return np.array(rows, DAY_VERSION)


def spans(conn: sqlite3.Connection) -> np.ndarray:
    """Every span, by entry then start: structured ndarray of :data:`SPAN`, shape (s,)."""
    sql = "SELECT watch, added, COALESCE(removed, ?) FROM watchlist_spans ORDER BY watch, added"
    return np.array(conn.execute(sql, (int(OPEN),)).fetchall(), SPAN)


def active_at(span: np.ndarray, version: int) -> np.ndarray:
    """The ids (int64, ascending, unique) of the entries active in ``version``, from
    :func:`spans`."""
    held = (span["added"] <= version) & (version < span["removed"])
    return np.unique(span["watch"][held])
