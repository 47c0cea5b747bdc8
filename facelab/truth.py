"""A run's ground truth, ``RUN/truth.sqlite``: who each sighting really is.

The search side (``facelab.sqlite``, :mod:`facelab.run.store`) never holds it, and the run layer
never imports this module: the pipeline and enrolment write through the
:class:`facelab.run.sinks.TruthSink` their caller gives them (a :class:`TruthStore`, made by
:mod:`facelab.api`). The lab reads it to score a run (:mod:`facelab.lab.scores`,
:mod:`facelab.lab.report`); retention deletes the rows of purged sightings and of passes past
retention, and checks that they are gone (:mod:`facelab.governance.retention`).

Tables::

    sighting_truth(sighting, day, pid, person, iou)     one row per sighting (SIGHTING_TRUTH)
    pass_truth(pid, day, camera, t, person, detected)   one row per FR-camera pass (PASS_TRUTH)
    watch_truth(watch, identity)                        the person in each enrolled photo
    identity_truth(identity, grp, ita, attempt)         measured group (runs with groups only)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab.errors import RunError
from facelab.run import store as run_store
from facelab.run.sinks import PASS_TRUTH, SIGHTING_TRUTH
from facelab.run.store import Transaction

TRUTH_DB = "truth.sqlite"

TRUTH_SCHEMA = """
CREATE TABLE IF NOT EXISTS sighting_truth(
  sighting INTEGER PRIMARY KEY, day INTEGER NOT NULL, pid INTEGER NOT NULL,
  person INTEGER NOT NULL, iou REAL);
CREATE INDEX IF NOT EXISTS sighting_truth_day ON sighting_truth(day);
CREATE TABLE IF NOT EXISTS pass_truth(
  pid INTEGER PRIMARY KEY, day INTEGER NOT NULL, camera INTEGER NOT NULL, t INTEGER NOT NULL,
  person INTEGER NOT NULL, detected INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pass_truth_day ON pass_truth(day);
CREATE TABLE IF NOT EXISTS watch_truth(watch INTEGER PRIMARY KEY, identity INTEGER);
"""

IDENTITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS identity_truth(
  identity INTEGER PRIMARY KEY, grp TEXT NOT NULL, ita REAL NOT NULL, attempt INTEGER NOT NULL);
"""
"""Each identity's measured group; only runs of scenarios with ``[population] groups`` have it."""

TRUTH_TABLES = ("sighting_truth", "pass_truth", "watch_truth")
"""Tables every ``truth.sqlite`` has; a database without them is foreign."""

SIGHTING_PERSON = np.dtype([("sighting", np.int64), ("person", np.int64)])
"""A sighting id and the person really in it (-1: a detection of no one)."""

WATCH_IDENTITY = np.dtype([("watch", np.int64), ("identity", np.int64)])
"""A watchlist id and the identity of its enrolled photo."""


def _insert(table: str, dtype: np.dtype) -> str:
    return (f"INSERT OR REPLACE INTO {table}({', '.join(dtype.names)}) "
            f"VALUES ({', '.join('?' * len(dtype.names))})")  # fmt: skip


@dataclass(frozen=True)
class DeletedTruth:
    """Rows one :meth:`TruthStore.delete` removed."""

    sightings: int
    passes: int


class TruthStore:
    """``RUN/truth.sqlite``, opened on first use (a :class:`~facelab.run.sinks.TruthSink`).

    Parameters
    ----------
    run : str or Path
        The run directory. With ``create``, it may not exist yet: the pipeline's caller makes
        the store before the pipeline creates the run, and the pipeline opens it (creating the
        file) as soon as the run exists.
    create : bool
        Create the database and its tables when the file is missing; otherwise a missing file
        is a :class:`~facelab.errors.RunError` (an incomplete run). An existing file is never
        given a schema: an empty, damaged or foreign one is a :class:`~facelab.errors.RunError`
        naming it.
    connect : callable, optional
        ``connect(path) -> sqlite3.Connection``; default :func:`facelab.run.store.connect`
        (read-write). Retention's verify passes a read-only one.
    readonly : bool
        Open with :func:`facelab.run.store.connect_read_only` (the lab's reads): nothing in
        the run changes, not even a ``-wal`` or ``-shm`` file.
    """

    def __init__(
        self,
        run: str | Path,
        *,
        create: bool = False,
        connect: Callable[[Path], sqlite3.Connection] | None = None,
        readonly: bool = False,
    ):
        self.path = Path(run) / TRUTH_DB
        self._create = create and not readonly
        self._connect = connect or (run_store.connect_read_only if readonly else run_store.connect)
        self._conn: sqlite3.Connection | None = None

    def open(self) -> TruthStore:
        """Open the database now rather than on first use (an incomplete run fails here)."""
        if self._conn is None:
            if not self._create and not self.path.is_file():
                raise RunError(
                    f"incomplete run directory {self.path.parent}: {TRUTH_DB} is missing"
                )
            if self._create and not self.path.exists():
                conn = run_store.connect(self.path, create=True)
                conn.executescript(TRUTH_SCHEMA)
            else:
                conn = self._connect(self.path)
                try:
                    run_store.check_tables(conn, self.path, TRUTH_TABLES)
                except RunError:
                    conn.close()
                    raise
            self._conn = conn
        return self

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection (retention compacts and checks the file through it)."""
        return self.open()._conn  # type: ignore[return-value]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> TruthStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- writes (the pipeline and enrolment, through the TruthSink protocol)

    def add_day(self, sightings: np.ndarray, passes: np.ndarray) -> None:
        """Store one day's rows in one transaction (``INSERT OR REPLACE``).

        Parameters
        ----------
        sightings : structured ndarray of :data:`facelab.run.sinks.SIGHTING_TRUTH`, shape (n,)
        passes : structured ndarray of :data:`facelab.run.sinks.PASS_TRUTH`, shape (m,)
        """
        with Transaction(self.conn) as c:
            c.executemany(_insert("sighting_truth", SIGHTING_TRUTH), sightings.tolist())
            c.executemany(_insert("pass_truth", PASS_TRUTH), passes.tolist())

    def set_watch_identities(self, watch: np.ndarray, identity: np.ndarray) -> None:
        """Record the identity of each watchlist entry's photo (int64 arrays, shape (n,))."""
        with Transaction(self.conn) as c:
            c.executemany(
                _insert("watch_truth", WATCH_IDENTITY),
                zip(np.asarray(watch).tolist(), np.asarray(identity).tolist(), strict=True),
            )

    def clear_watch(self) -> None:
        """Delete every watchlist identity."""
        self.conn.execute("DELETE FROM watch_truth")

    def set_identity_groups(
        self, identity: np.ndarray, group: list[str], ita: np.ndarray, attempt: np.ndarray
    ) -> None:
        """Record each identity's measured group, ITA and latent candidate (``identity_truth``)."""
        rows = zip(np.asarray(identity).tolist(), list(group), np.asarray(ita).tolist(),
                   np.asarray(attempt).tolist(), strict=True)  # fmt: skip
        with Transaction(self.conn) as c:
            c.execute(IDENTITY_SCHEMA)
            c.executemany(
                "INSERT OR REPLACE INTO identity_truth(identity, grp, ita, attempt) "
                "VALUES (?, ?, ?, ?)", rows,
            )  # fmt: skip

    def identity_groups(self) -> dict[int, tuple[str, float]] | None:
        """``{identity: (group, ita)}``, or ``None`` when the run has no groups."""
        c = self.conn
        has = c.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='identity_truth'"
        ).fetchone()
        if not has:
            return None
        rows = c.execute("SELECT identity, grp, ita FROM identity_truth ORDER BY identity")
        return {int(i): (str(g), float(a)) for i, g, a in rows}

    # ---- reads (the lab)

    def sighting_persons(self) -> np.ndarray:
        """Every sighting's person: structured ndarray of :data:`SIGHTING_PERSON`, shape (n,)."""
        rows = self.conn.execute("SELECT sighting, person FROM sighting_truth").fetchall()
        return np.array(rows, SIGHTING_PERSON)

    def watch_identities(self) -> np.ndarray:
        """Every enrolled photo's identity (removed entries too): structured ndarray of
        :data:`WATCH_IDENTITY`, shape (n,)."""
        rows = self.conn.execute(
            "SELECT watch, identity FROM watch_truth WHERE identity IS NOT NULL"
        ).fetchall()
        return np.array(rows, WATCH_IDENTITY)

    def sighting_passes(self) -> np.ndarray:
        """Every sighting's pass: int64 array, shape (n, 3), columns sighting, pid, person
        (pid and person -1 for a detection of no one)."""
        rows = self.conn.execute("SELECT sighting, pid, person FROM sighting_truth").fetchall()
        return np.array(rows, np.int64).reshape(-1, 3)

    def passes(self) -> np.ndarray:
        """Every FR-camera pass still held: int64 array, shape (m, 5), columns pid, day,
        camera, person, detected."""
        rows = self.conn.execute(
            "SELECT pid, day, camera, person, detected FROM pass_truth ORDER BY pid"
        ).fetchall()
        return np.array(rows, np.int64).reshape(-1, 5)

    # ---- retention

    def sightings_before(self, day: int) -> np.ndarray:
        """Ids (int64, shape (n,)) of the sighting rows of days before ``day``."""
        rows = self.conn.execute("SELECT sighting FROM sighting_truth WHERE day < ?", (day,))
        return np.array([r[0] for r in rows], np.int64)

    def count_passes_before(self, day: int) -> int:
        """Pass rows of days before ``day``."""
        return int(
            self.conn.execute("SELECT COUNT(*) FROM pass_truth WHERE day < ?", (day,)).fetchone()[0]
        )

    def delete(self, sightings: Sequence[int], *, passes_before: int) -> DeletedTruth:
        """Delete the rows of ``sightings`` and the passes of days before ``passes_before``, in
        one transaction."""
        c = self.conn
        with Transaction(c):
            n0 = c.total_changes
            c.executemany(
                "DELETE FROM sighting_truth WHERE sighting=?", [(int(s),) for s in sightings]
            )
            n1 = c.total_changes
            c.execute("DELETE FROM pass_truth WHERE day < ?", (passes_before,))
            n2 = c.total_changes
        return DeletedTruth(sightings=n1 - n0, passes=n2 - n1)
