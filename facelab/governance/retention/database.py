"""Deleted rows leave no bytes in a SQLite database: compaction and the checks for leftovers.

``secure_delete`` (on in every connection, :func:`facelab.run.store.connect`) zeroes deleted
rows in their pages; ``VACUUM`` rewrites the database without free pages; a truncating
checkpoint (``PRAGMA wal_checkpoint(TRUNCATE)``) leaves no old page image in the WAL.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

from facelab.errors import RetentionError


def freelist(conn: sqlite3.Connection) -> int:
    """Free pages in the database (each may hold bytes of deleted rows)."""
    return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


def compact(conn: sqlite3.Connection, name: str) -> None:
    """VACUUM (no free page keeps old bytes) and truncate the WAL (no old page image left)."""
    conn.execute("PRAGMA temp_store=MEMORY")  # VACUUM's scratch copy never touches a disk file
    conn.execute("VACUUM")
    checkpoint(conn, name)


def checkpoint(conn: sqlite3.Connection, name: str) -> None:
    """Copy the WAL into the database and truncate it.

    Raises
    ------
    RetentionError
        Another connection is reading, so the WAL could not be truncated.
    """
    busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RetentionError(
            f"{name}: another connection is reading, so the WAL could not be truncated; "
            "close other facelab processes on this run and run `facelab purge` again"
        )


def wal_stale_frames(path: Path) -> tuple[int, int]:
    """``(frames, stale)`` of a SQLite WAL file: stale frames (salts of an older generation, or a
    torn tail) are leftover bytes that a reader ignores but that are still in the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0, 0
    if len(data) < 32:
        return 0, int(len(data) > 0)
    magic, _v, page, _seq, s1, s2 = struct.unpack(">IIIIII", data[:24])
    if magic not in (0x377F0682, 0x377F0683) or page == 0:
        return 0, 1
    size = 24 + page
    frames = stale = 0
    pos = 32
    while pos < len(data):
        if pos + size > len(data):
            stale += 1
            break
        f1, f2 = struct.unpack_from(">II", data, pos + 8)
        frames += 1
        if (f1, f2) != (s1, s2):
            stale += 1
        pos += size
    return frames, stale


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Read-only connection (:func:`facelab.run.store.connect_read_only`): without a WAL file the
    database is opened immutable, so that reading it creates no ``-wal``/``-shm`` file in the
    run (there is no WAL content to miss); a missing, empty or damaged file is a ``RunError``."""
    from facelab.run.store import connect

    return connect(path, readonly=True)
