"""The run database ``RUN/facelab.sqlite``: its tables, one frozen dataclass per row, and every
statement run on it.

Tables (:data:`SCHEMA`) and their row types::

    meta(key, value)                                 progress markers (meta_get / meta_set)
    cameras(idx, id, kind, station, fr, width, height, quality, threshold)       CameraRow
    days(day, frames, sightings, alerts, seconds, completed_at)                  DayRow
    frames(id, camera, t, day, path)                                             FrameRow
    sightings(id, frame_id, camera, t, day, x, y, w, h, det_score, face_px)      SightingRow
    watchlist(id, label, case_id, reason, photo, photo_sha256, enrolled_at, actor, active)
                                                                                 WatchlistEntry
    candidates(sighting, rank, watch, score, day)                  CandidateRow, CANDIDATE
    alerts(id, sighting, watch, rank, score, percent, camera, t, day, frame_id, status,
           case_id, reviewed_by, reviewed_at, note)                              AlertRow
    purges(id, at, now_day, report)                                              PurgeRow
    cases(id, status, opened_at, closed_at)                                      CaseRow

A dataclass's fields are its table's columns, in order. Bulk rows travel as structured numpy
arrays instead (one element per row, field names as the columns): :data:`CANDIDATE` (written per
day, read by the lab's sweeps), :data:`CANDIDATE_SCORE` and :data:`SIGHTING_KEY`. Rows are
written in one place, :func:`_insert_rows` (dataclasses) and :func:`_insert_columns` (arrays),
with the column list taken from the type.

The watchlist's history (versions, and the version each day's searches ran against) is the
sibling :mod:`facelab.run.schema_versions`.

Sighting ids are ``day << 32 | sequence`` (:mod:`facelab.run.pipeline`); an alert's id is
:func:`alert_id` of its sighting and the rank of its candidate. Ground truth is not here
(``truth.sqlite``, :mod:`facelab.truth`).

The functions take an open connection (:func:`facelab.run.store.connect`) and never begin or
end a transaction: callers group writes in :class:`facelab.run.store.Transaction`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from operator import attrgetter

import numpy as np

from facelab.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cameras(
  idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, kind TEXT NOT NULL, station TEXT NOT NULL,
  fr INTEGER NOT NULL, width INTEGER, height INTEGER, quality TEXT, threshold REAL);
CREATE TABLE IF NOT EXISTS days(
  day INTEGER PRIMARY KEY, frames INTEGER, sightings INTEGER, alerts INTEGER, seconds REAL,
  completed_at TEXT);
CREATE TABLE IF NOT EXISTS frames(
  id TEXT PRIMARY KEY, camera INTEGER NOT NULL, t INTEGER NOT NULL, day INTEGER NOT NULL,
  path TEXT);
CREATE INDEX IF NOT EXISTS frames_day ON frames(day);
CREATE TABLE IF NOT EXISTS sightings(
  id INTEGER PRIMARY KEY, frame_id TEXT, camera INTEGER NOT NULL, t INTEGER NOT NULL,
  day INTEGER NOT NULL, x REAL, y REAL, w REAL, h REAL, det_score REAL, face_px REAL);
CREATE INDEX IF NOT EXISTS sightings_day ON sightings(day);
CREATE TABLE IF NOT EXISTS watchlist(
  id INTEGER PRIMARY KEY, label TEXT UNIQUE NOT NULL, case_id TEXT, reason TEXT, photo TEXT,
  photo_sha256 TEXT, enrolled_at TEXT, actor TEXT, active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS candidates(
  sighting INTEGER NOT NULL, rank INTEGER NOT NULL, watch INTEGER NOT NULL, score REAL NOT NULL,
  day INTEGER NOT NULL, PRIMARY KEY(sighting, rank)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS candidates_day ON candidates(day);
CREATE TABLE IF NOT EXISTS alerts(
  id INTEGER PRIMARY KEY, sighting INTEGER NOT NULL, watch INTEGER NOT NULL, rank INTEGER NOT NULL,
  score REAL NOT NULL, percent REAL NOT NULL, camera INTEGER NOT NULL, t INTEGER NOT NULL,
  day INTEGER NOT NULL, frame_id TEXT, status TEXT NOT NULL DEFAULT 'pending', case_id TEXT,
  reviewed_by TEXT, reviewed_at TEXT, note TEXT);
CREATE INDEX IF NOT EXISTS alerts_day ON alerts(day);
CREATE TABLE IF NOT EXISTS purges(
  id INTEGER PRIMARY KEY, at TEXT NOT NULL, now_day INTEGER NOT NULL, report TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases(
  id TEXT PRIMARY KEY, status TEXT NOT NULL DEFAULT 'open', opened_at TEXT, closed_at TEXT);
"""
"""The tables of ``facelab.sqlite`` (embeddings live only in the FAISS files); with
:data:`PENDING_SCHEMA`."""

PENDING_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_ops(
  op TEXT PRIMARY KEY, action TEXT NOT NULL, data TEXT NOT NULL, created TEXT NOT NULL);
"""
"""Audited operations begun and not yet finished (:mod:`facelab.run.journal`); a run made
before this table existed gets it on its first audited operation."""

TOP_K = 10
"""Watchlist candidates kept per sighting whatever their score (ranks ``0 .. TOP_K - 1``), so
that a threshold sweep never re-embeds."""

ALERT_ID_FACTOR = 16
"""An alert's id is ``sighting id * ALERT_ID_FACTOR + rank`` (:func:`alert_id`)."""
assert TOP_K <= ALERT_ID_FACTOR, "every rank of a sighting needs its own alert id"

SQL_CHUNK = 900
"""Ids per ``IN (...)`` query, under SQLite's default variable limit."""


def alert_id(sighting, rank):
    """The id of the alert (or below-threshold candidate) at ``rank`` (0 = best) of
    ``sighting``: ``sighting * ALERT_ID_FACTOR + rank``. Ints or int64 arrays."""
    return sighting * ALERT_ID_FACTOR + rank


def split_alert_id(aid: int) -> tuple[int, int]:
    """``(sighting, rank)`` of an alert id (the inverse of :func:`alert_id`)."""
    return divmod(int(aid), ALERT_ID_FACTOR)


SIGHTING_DAY_SHIFT = 32
"""Sighting ids are ``day << SIGHTING_DAY_SHIFT | sequence`` (:mod:`facelab.run.pipeline`)."""


def display_alert_id(aid: int) -> str:
    """The short form of an alert id shown to people: ``A-<day>-<sequence>[-<rank>]``.

    ``day`` is the simulated day index (0 = the first day), ``sequence`` the sighting's number
    within that day (at least four digits), and ``rank`` (1-based, as in ``facelab alerts``) is
    written only when the candidate is not the sighting's best. The form is a reversible
    spelling of the stored id (:func:`parse_alert_id`), not a counter: it needs no stored
    mapping and never changes when a purge deletes other alerts or a run is resumed.
    """
    sighting, rank = split_alert_id(aid)
    day, seq = sighting >> SIGHTING_DAY_SHIFT, sighting & ((1 << SIGHTING_DAY_SHIFT) - 1)
    return f"A-{day}-{seq:04d}" + (f"-{rank + 1}" if rank else "")


def parse_alert_id(text: str | int) -> int:
    """The stored alert id of ``A-<day>-<sequence>[-<rank>]`` or of a plain number.

    Raises
    ------
    DataError
        Neither form, or an id past 2**63 - 1.
    """
    s = str(text).strip()
    bad = DataError(f"bad alert id {s[:40]!r}: use the id `facelab alerts` shows (A-3-0042)")
    if s.isascii() and s.isdigit():
        aid = int(s) if len(s) <= 20 else -1
    else:
        parts = s.split("-")
        ok = (len(parts) in (3, 4) and parts[0].upper() == "A"
              and all(p.isascii() and p.isdigit() and len(p) <= 20 for p in parts[1:]))  # fmt: skip
        rank = int(parts[3]) - 1 if ok and len(parts) == 4 else 0
        if not ok or not 0 <= rank < TOP_K or int(parts[2]) >> SIGHTING_DAY_SHIFT:
            raise bad
        aid = int(alert_id(int(parts[1]) << SIGHTING_DAY_SHIFT | int(parts[2]), rank))
    if not 0 <= aid < 1 << 63:  # past the database's 64-bit integers: no alert has it
        raise bad
    return aid


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class CameraRow:
    """A camera of the scenario; ``idx`` is its position in the scenario, the key other tables
    use. ``threshold`` is its alert threshold in percent."""

    idx: int
    id: str
    kind: str
    station: str
    fr: bool
    width: int | None
    height: int | None
    quality: str | None
    threshold: float | None


@dataclass(frozen=True, slots=True)
class DayRow:
    """A completed simulated day: its counts, the seconds its work took (all but the final
    commit) and when it was committed (UTC, ``YYYY-MM-DD HH:MM:SS``; ``None`` when writing: the
    database's clock)."""

    day: int
    frames: int
    sightings: int
    alerts: int
    seconds: float
    completed_at: str | None = None


@dataclass(frozen=True, slots=True)
class FrameRow:
    """A rendered frame (image mode); ``path`` is its file relative to the run directory."""

    id: str
    camera: int
    t: int
    day: int
    path: str | None


@dataclass(frozen=True, slots=True)
class SightingRow:
    """A detected face: camera index, second ``t`` of the run, day; the box ``x, y, w, h``, the
    detector's score and the face size in pixels (all ``None`` for twin sightings)."""

    id: int
    frame_id: str | None
    camera: int
    t: int
    day: int
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    det_score: float | None = None
    face_px: float | None = None


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    """A watchlist entry (its embedding lives in ``watchlist.faiss``); a removed entry is kept
    inactive, without its photo, for audit."""

    id: int
    label: str
    case_id: str | None
    reason: str | None
    photo: str | None
    photo_sha256: str | None
    enrolled_at: str
    actor: str
    active: bool


@dataclass(frozen=True, slots=True)
class CandidateRow:
    """A watchlist entry among a sighting's top :data:`TOP_K` (``rank`` 0 = best), with its
    cosine ``score``."""

    sighting: int
    rank: int
    watch: int
    score: float
    day: int


@dataclass(frozen=True, slots=True)
class AlertRow:
    """A candidate at or above its camera's threshold, raised for review (id :func:`alert_id`);
    ``percent`` under the run's mapping; status ``pending``, ``confirmed`` or ``rejected``."""

    id: int
    sighting: int
    watch: int
    rank: int
    score: float
    percent: float
    camera: int
    t: int
    day: int
    frame_id: str | None
    status: str = "pending"
    case_id: str | None = None
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeRow:
    """A recorded purge: wall-clock time, simulated now and its report (JSON text)."""

    id: int
    at: str
    now_day: int
    report: str


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case opened or closed by an operator (``status`` ``open`` or ``closed``); a case id
    named by an alert without a row here is open."""

    id: str
    status: str
    opened_at: str | None
    closed_at: str | None


@dataclass(frozen=True, slots=True)
class SightingView:
    """A sighting with the path of its frame (``None`` for twin sightings)."""

    sighting: SightingRow
    frame_path: str | None


@dataclass(frozen=True, slots=True)
class CandidateView:
    """A candidate with its sighting and the path of the sighting's frame."""

    candidate: CandidateRow
    sighting: SightingRow
    frame_path: str | None


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert with the path of its frame."""

    alert: AlertRow
    frame_path: str | None


CANDIDATE = np.dtype(
    [("sighting", np.int64), ("rank", np.int64), ("watch", np.int64), ("score", np.float64),
     ("day", np.int64)]
)  # fmt: skip
"""Candidates in bulk (:func:`insert_candidates`): the columns of :class:`CandidateRow`."""

CANDIDATE_SCORE = np.dtype(
    [("sighting", np.int64), ("rank", np.int64), ("watch", np.int64), ("score", np.float64)]
)
"""Candidates as the lab reads them (:func:`candidate_scores`): no day."""

SIGHTING_KEY = np.dtype(
    [("id", np.int64), ("day", np.int64), ("camera", np.int64), ("frame_id", object)]
)
"""Sightings in bulk (:func:`sighting_keys`): id, day, camera index, frame id (str or None)."""

assert CANDIDATE.names == tuple(f.name for f in fields(CandidateRow))


def _columns(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _select(cls, alias: str = "") -> str:
    """The column list of ``cls``'s table, in field order (``a.id, a.sighting, ...``)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + c for c in _columns(cls))


def _insert_sql(table: str, names: Sequence[str], verb: str) -> str:
    return f"{verb} INTO {table}({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


def _insert_rows(conn: sqlite3.Connection, table: str, cls, rows: Iterable,
                 verb: str = "INSERT OR REPLACE") -> None:  # fmt: skip
    """Write dataclass rows of ``cls`` (all its fields, in order) into ``table``."""
    names = _columns(cls)
    conn.executemany(_insert_sql(table, names, verb), map(attrgetter(*names), rows))


def _insert_columns(conn: sqlite3.Connection, table: str, rows: np.ndarray) -> None:
    """Write a structured array into ``table`` (its field names are the columns)."""
    names = rows.dtype.names
    columns = (rows[name].tolist() for name in names)  # faster than rows.tolist()
    conn.executemany(_insert_sql(table, names, "INSERT OR REPLACE"), zip(*columns))


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


# --------------------------------------------------------------------------- meta


def meta_get(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    """The value of a progress marker, or ``default``."""
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else default


def meta_set(conn: sqlite3.Connection, key: str, value) -> None:
    """Set a progress marker (stored as ``str(value)``)."""
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(value)))


def meta_delete(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM meta WHERE key=?", (key,))


# --------------------------------------------------------------------------- cameras, days


def insert_cameras(conn: sqlite3.Connection, rows: Iterable[CameraRow]) -> None:
    _insert_rows(conn, "cameras", CameraRow, rows)


def cameras(conn: sqlite3.Connection) -> list[CameraRow]:
    """Every camera, by index."""
    rows = conn.execute(f"SELECT {_select(CameraRow)} FROM cameras ORDER BY idx")
    return [CameraRow(*r[:4], bool(r[4]), *r[5:]) for r in rows]


def insert_day(conn: sqlite3.Connection, row: DayRow) -> None:
    """Mark a day done (``completed_at`` ``None``: the database's clock, UTC)."""
    names = _columns(DayRow)
    sql = (f"INSERT OR REPLACE INTO days({', '.join(names)}) "
           f"VALUES ({_placeholders(len(names) - 1)}, COALESCE(?, datetime('now')))")  # fmt: skip
    conn.execute(sql, attrgetter(*names)(row))


def days(conn: sqlite3.Connection) -> list[DayRow]:
    """Every completed day, by day."""
    return [DayRow(*r) for r in conn.execute(f"SELECT {_select(DayRow)} FROM days ORDER BY day")]


def days_done(conn: sqlite3.Connection) -> list[int]:
    """The completed days, ascending."""
    return [r[0] for r in conn.execute("SELECT day FROM days ORDER BY day")]


def sighting_days(conn: sqlite3.Connection, first: int, last: int) -> list[int]:
    """The days ``first .. last`` (inclusive) that hold at least one sighting row, ascending
    (each should have an archive shard)."""
    sql = "SELECT DISTINCT day FROM sightings WHERE day BETWEEN ? AND ? ORDER BY day"
    return [r[0] for r in conn.execute(sql, (int(first), int(last)))]


# --------------------------------------------------------------------------- frames, sightings


def insert_frames(conn: sqlite3.Connection, rows: Iterable[FrameRow]) -> None:
    _insert_rows(conn, "frames", FrameRow, rows)


def frames_before(conn: sqlite3.Connection, day: int) -> list[FrameRow]:
    """The frames of days before ``day``, by day (then in the order they were written)."""
    sql = f"SELECT {_select(FrameRow)} FROM frames WHERE day < ? ORDER BY day, rowid"
    return [FrameRow(*r) for r in conn.execute(sql, (day,))]


def delete_frames(conn: sqlite3.Connection, ids: Iterable[str]) -> None:
    conn.executemany("DELETE FROM frames WHERE id=?", [(i,) for i in ids])


def insert_sightings(conn: sqlite3.Connection, rows: Iterable[SightingRow]) -> None:
    _insert_rows(conn, "sightings", SightingRow, rows)


def sighting_keys(conn: sqlite3.Connection, before_day: int | None = None) -> np.ndarray:
    """Every sighting (of days before ``before_day`` when given), by id: structured ndarray of
    :data:`SIGHTING_KEY`, shape (n,)."""
    where = "" if before_day is None else " WHERE day < ?"
    args = () if before_day is None else (before_day,)
    sql = f"SELECT id, day, camera, frame_id FROM sightings{where} ORDER BY id"
    return np.array(conn.execute(sql, args).fetchall(), SIGHTING_KEY)


def sighting_views(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, SightingView]:
    """The sightings of ``ids`` that have a row, with their frames' paths, by id."""
    out: dict[int, SightingView] = {}
    for s in range(0, len(ids), SQL_CHUNK):
        chunk = [int(i) for i in ids[s : s + SQL_CHUNK]]
        sql = (
            f"SELECT {_select(SightingRow, 's')}, f.path FROM sightings s "
            f"LEFT JOIN frames f ON f.id = s.frame_id WHERE s.id IN ({_placeholders(len(chunk))})"
        )
        for r in conn.execute(sql, chunk):
            out[int(r[0])] = SightingView(SightingRow(*r[:-1]), r[-1])
    return out


def delete_sightings(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    conn.executemany("DELETE FROM sightings WHERE id=?", [(int(i),) for i in ids])


def oldest_time(conn: sqlite3.Connection) -> int | None:
    """The earliest ``t`` of any sighting or frame left, ``None`` when there is none."""
    sql = "SELECT MIN(t) FROM sightings UNION ALL SELECT MIN(t) FROM frames"
    ts = [r[0] for r in conn.execute(sql).fetchall() if r[0] is not None]
    return min(ts) if ts else None


# --------------------------------------------------------------------------- watchlist


def insert_watchlist(conn: sqlite3.Connection, entries: Iterable[WatchlistEntry]) -> None:
    """Add entries (a label or id already present is an ``sqlite3.IntegrityError``)."""
    _insert_rows(conn, "watchlist", WatchlistEntry, entries, verb="INSERT")


def watchlist_entries(
    conn: sqlite3.Connection, include_removed: bool = False
) -> list[WatchlistEntry]:
    """Watchlist entries by id (only the active ones unless ``include_removed``)."""
    where = "" if include_removed else " WHERE active=1"
    rows = conn.execute(f"SELECT {_select(WatchlistEntry)} FROM watchlist{where} ORDER BY id")
    return [WatchlistEntry(*r[:-1], bool(r[-1])) for r in rows]


def label_exists(conn: sqlite3.Connection, label: str) -> bool:
    """Whether an entry (active or removed) has this label."""
    return conn.execute("SELECT 1 FROM watchlist WHERE label=?", (label,)).fetchone() is not None


def active_watch_ids(conn: sqlite3.Connection) -> list[int]:
    """Ids of the active entries, ascending."""
    return [r[0] for r in conn.execute("SELECT id FROM watchlist WHERE active=1 ORDER BY id")]


def max_watch_id(conn: sqlite3.Connection) -> int:
    """The largest entry id ever given (removed entries too); 0 for an empty watchlist."""
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM watchlist").fetchone()[0])


def deactivate_watch(conn: sqlite3.Connection, watch_id: int) -> None:
    """Mark an entry removed and forget its photo's path."""
    conn.execute("UPDATE watchlist SET active=0, photo=NULL WHERE id=?", (int(watch_id),))


def activate_watch(conn: sqlite3.Connection, watch_id: int, photo: str | None = None) -> None:
    """Mark an entry active (a pending enrolment done, or a pending removal undone: then with
    the ``photo`` path it had)."""
    conn.execute(
        "UPDATE watchlist SET active=1, photo=COALESCE(?, photo) WHERE id=?", (photo, int(watch_id))
    )


def delete_watch(conn: sqlite3.Connection, watch_id: int) -> None:
    """Delete an entry's row (a pending enrolment that is undone)."""
    conn.execute("DELETE FROM watchlist WHERE id=?", (int(watch_id),))


def clear_watchlist(conn: sqlite3.Connection) -> None:
    """Delete every entry."""
    conn.execute("DELETE FROM watchlist")


# --------------------------------------------------------------------------- candidates


def insert_candidates(conn: sqlite3.Connection, cands: np.ndarray) -> None:
    """Write candidates: structured ndarray of :data:`CANDIDATE`, shape (m,)."""
    _insert_columns(conn, "candidates", cands)


def candidate_scores(conn: sqlite3.Connection) -> np.ndarray:
    """Every candidate, by (sighting, rank): structured ndarray of :data:`CANDIDATE_SCORE`,
    shape (m,)."""
    sql = "SELECT sighting, rank, watch, score FROM candidates ORDER BY sighting, rank"
    return np.array(conn.execute(sql).fetchall(), CANDIDATE_SCORE)


def candidate_exists(conn: sqlite3.Connection, sighting: int, rank: int) -> bool:
    sql = "SELECT 1 FROM candidates WHERE sighting=? AND rank=?"
    return conn.execute(sql, (int(sighting), int(rank))).fetchone() is not None


_N_CANDIDATE = len(_columns(CandidateRow))


def _candidate_view(r: tuple) -> CandidateView:
    n = _N_CANDIDATE
    return CandidateView(CandidateRow(*r[:n]), SightingRow(*r[n:-1]), r[-1])


_CANDIDATE_VIEW = (f"SELECT {_select(CandidateRow, 'c')}, {_select(SightingRow, 's')}, f.path "
                   "FROM candidates c JOIN sightings s ON s.id = c.sighting ")  # fmt: skip


def unalerted_candidates(conn: sqlite3.Connection, min_score: float,
                         camera: int | None = None) -> list[CandidateView]:  # fmt: skip
    """Candidates with ``score >= min_score`` that raised no alert (of camera index ``camera``
    when given)."""
    sql = (
        _CANDIDATE_VIEW + "LEFT JOIN frames f ON f.id = s.frame_id "
        "LEFT JOIN alerts a ON a.sighting = c.sighting AND a.rank = c.rank "
        "WHERE a.id IS NULL AND c.score >= ?" + (" AND s.camera = ?" if camera is not None else "")
    )
    args = [float(min_score)] + ([int(camera)] if camera is not None else [])
    return [_candidate_view(r) for r in conn.execute(sql, args)]


def active_candidates_between(conn: sqlite3.Connection, lo: float,
                              hi: float) -> Iterator[CandidateView]:  # fmt: skip
    """Candidates of active watchlist entries with ``lo <= score < hi``, best first (then by
    sighting and rank), read as they are consumed."""
    sql = (
        _CANDIDATE_VIEW + "JOIN watchlist w ON w.id = c.watch AND w.active = 1 "
        "JOIN cameras cam ON cam.idx = s.camera LEFT JOIN frames f ON f.id = s.frame_id "
        "WHERE c.score >= ? AND c.score < ? ORDER BY c.score DESC, c.sighting, c.rank"
    )
    return map(_candidate_view, conn.execute(sql, (float(lo), float(hi))))


def candidate_sightings_before(conn: sqlite3.Connection, day: int) -> list[int]:
    """The sightings of days before ``day`` that have candidates."""
    sql = "SELECT DISTINCT sighting FROM candidates WHERE day < ?"
    return [r[0] for r in conn.execute(sql, (day,))]


def delete_candidates(conn: sqlite3.Connection, sightings: Iterable[int]) -> int:
    """Delete the candidates of ``sightings``; returns the rows deleted."""
    n0 = conn.total_changes
    conn.executemany("DELETE FROM candidates WHERE sighting=?", [(int(s),) for s in sightings])
    return conn.total_changes - n0


# --------------------------------------------------------------------------- alerts


def insert_alerts(conn: sqlite3.Connection, rows: Iterable[AlertRow]) -> None:
    _insert_rows(conn, "alerts", AlertRow, rows)


def alert_views(
    conn: sqlite3.Connection,
    *,
    alert_id: int | None = None,
    min_score: float | None = None,
    camera: int | None = None,
    status: str | None = None,
) -> list[AlertView]:
    """Alerts with their frames' paths, filtered by id, ``score >= min_score``, camera index
    and status (each when given), in no particular order."""
    where, args = [], []
    for cond, value in (("a.id = ?", alert_id), ("a.score >= ?", min_score),
                        ("a.camera = ?", camera), ("a.status = ?", status)):  # fmt: skip
        if value is not None:
            where.append(cond)
            args.append(value)
    sql = (
        f"SELECT {_select(AlertRow, 'a')}, f.path FROM alerts a "
        "LEFT JOIN frames f ON f.id = a.frame_id"
        + (" WHERE " + " AND ".join(where) if where else "")
    )
    return [AlertView(AlertRow(*r[:-1]), r[-1]) for r in conn.execute(sql, args)]


def set_review(conn: sqlite3.Connection, alert_id: int, *, status: str, reviewed_by: str,
               reviewed_at: str, case_id: str | None, note: str | None) -> None:  # fmt: skip
    """Record a review decision; ``case_id`` and ``note`` keep their values when ``None``."""
    conn.execute(
        "UPDATE alerts SET status=?, reviewed_by=?, reviewed_at=?,"
        " case_id=COALESCE(?, case_id), note=COALESCE(?, note) WHERE id=?",
        (status, reviewed_by, reviewed_at, case_id, note, int(alert_id)),
    )


def alerts_before(conn: sqlite3.Connection, day: int) -> list[AlertRow]:
    """The alerts of days before ``day``, by day and id."""
    sql = f"SELECT {_select(AlertRow)} FROM alerts WHERE day < ? ORDER BY day, id"
    return [AlertRow(*r) for r in conn.execute(sql, (day,))]


def alerted_sightings(conn: sqlite3.Connection, before_day: int) -> set[int]:
    """The sightings of days before ``before_day`` that raised an alert."""
    sql = "SELECT DISTINCT sighting FROM alerts WHERE day < ?"
    return {r[0] for r in conn.execute(sql, (before_day,))}


def delete_alerts(conn: sqlite3.Connection, ids: Iterable[int]) -> None:
    conn.executemany("DELETE FROM alerts WHERE id=?", [(int(a),) for a in ids])


def open_case_sightings(conn: sqlite3.Connection, before_day: int) -> set[int]:
    """The sightings of days before ``before_day`` with a confirmed alert whose case is not
    closed (a case id with no ``cases`` row is open)."""
    sql = (
        "SELECT DISTINCT a.sighting FROM alerts a LEFT JOIN cases c ON c.id = a.case_id "
        "WHERE a.day < ? AND a.status = 'confirmed' AND a.case_id IS NOT NULL "
        "AND COALESCE(c.status, 'open') <> 'closed'"
    )
    return {r[0] for r in conn.execute(sql, (before_day,))}


def confirmed_by_case(conn: sqlite3.Connection) -> dict[str, int]:
    """Confirmed alerts per case id."""
    sql = ("SELECT case_id, COUNT(*) FROM alerts WHERE case_id IS NOT NULL "
           "AND status='confirmed' GROUP BY case_id")  # fmt: skip
    return {r[0]: int(r[1]) for r in conn.execute(sql)}


# --------------------------------------------------------------------------- cases, purges


def cases(conn: sqlite3.Connection) -> list[CaseRow]:
    """Every case row, by id."""
    return [CaseRow(*r) for r in conn.execute(f"SELECT {_select(CaseRow)} FROM cases ORDER BY id")]


def set_case_closed(conn: sqlite3.Connection, case_id: str, at: str) -> None:
    """Close a case at ``at``."""
    conn.execute(
        "INSERT INTO cases(id, status, closed_at) VALUES (?, 'closed', ?) "
        "ON CONFLICT(id) DO UPDATE SET status='closed', closed_at=excluded.closed_at",
        (case_id, at),
    )


def insert_purge(conn: sqlite3.Connection, at: str, now_day: int, report: str) -> int:
    """Record a purge; returns its id."""
    sql = "INSERT INTO purges(at, now_day, report) VALUES (?, ?, ?)"
    return int(conn.execute(sql, (at, int(now_day), report)).lastrowid)


def purge_row(conn: sqlite3.Connection, purge_id: int) -> PurgeRow | None:
    row = conn.execute(f"SELECT {_select(PurgeRow)} FROM purges WHERE id=?", (purge_id,)).fetchone()
    return PurgeRow(*row) if row else None


def purges(conn: sqlite3.Connection) -> list[PurgeRow]:
    """Every recorded purge, by simulated now then id."""
    sql = f"SELECT {_select(PurgeRow)} FROM purges ORDER BY now_day, id"
    return [PurgeRow(*row) for row in conn.execute(sql)]


def last_purge(conn: sqlite3.Connection) -> PurgeRow | None:
    """The purge at the latest simulated now (the most recent among those)."""
    sql = f"SELECT {_select(PurgeRow)} FROM purges ORDER BY now_day DESC, id DESC LIMIT 1"
    row = conn.execute(sql).fetchone()
    return PurgeRow(*row) if row else None


def set_purge_report(conn: sqlite3.Connection, purge_id: int, report: str) -> None:
    conn.execute("UPDATE purges SET report=? WHERE id=?", (report, int(purge_id)))


def purge_with_journal(conn: sqlite3.Connection, token: str) -> bool:
    """Whether a recorded purge's report names this journal token."""
    sql = "SELECT 1 FROM purges WHERE json_extract(report, '$.journal') = ?"
    return conn.execute(sql, (token,)).fetchone() is not None


# --------------------------------------------------------------------------- pending operations


def insert_pending(conn: sqlite3.Connection, op: str, action: str, data: str, created: str) -> None:
    """Record an audited operation as begun (``data``: JSON)."""
    conn.execute(PENDING_SCHEMA)
    conn.execute(
        "INSERT INTO pending_ops(op, action, data, created) VALUES (?, ?, ?, ?)",
        (op, action, data, created),
    )


def pending(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """``(op, action, data)`` of every begun operation, oldest first (none in a run without the
    table)."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='pending_ops'"
    ).fetchone():
        return []
    return conn.execute("SELECT op, action, data FROM pending_ops ORDER BY created, op").fetchall()


def restore_review(conn: sqlite3.Connection, alert_id: int, *, status: str,
                   reviewed_by: str | None, reviewed_at: str | None, case_id: str | None,
                   note: str | None) -> None:  # fmt: skip
    """Put an alert's review columns back exactly as they were (an undone decision)."""
    conn.execute(
        "UPDATE alerts SET status=?, reviewed_by=?, reviewed_at=?, case_id=?, note=? WHERE id=?",
        (status, reviewed_by, reviewed_at, case_id, note, int(alert_id)),
    )


def delete_pending(conn: sqlite3.Connection, op: str) -> None:
    """Forget a begun operation (it is finished or undone)."""
    conn.execute("DELETE FROM pending_ops WHERE op=?", (op,))
