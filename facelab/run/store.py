"""The run directory: layout, format version and the SQLite databases.

Layout of a run directory::

    RUN/run.json          format marker {"format": "facelab-run", "version": N, ...}
    RUN/facelab.sqlite    search side: cameras, frames, sightings, watchlist, alerts, reviews
                          (tables, rows and statements: :mod:`facelab.run.schema`; watchlist
                          versions: :mod:`facelab.run.schema_versions`)
    RUN/truth.sqlite      ground truth (:mod:`facelab.truth`; never opened by the run layer)
    RUN/audit.jsonl       hash-chained audit log
    RUN/watchlist.faiss   watchlist index
    RUN/archive/          one FAISS shard per simulated day
    RUN/frames/           rendered frames (signed JPEG, provenance record in a comment)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from facelab.errors import RunError
from facelab.run import schema, schema_versions

RUN_FORMAT = "facelab-run"
RUN_VERSION = 3
MARKER = "run.json"


def require_run(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is a facelab run directory of this format version.

    Raises
    ------
    RunError
        If the folder is missing, is not a facelab run, or was written by another format version.
    """
    run = Path(path)
    if run.exists() and not run.is_dir():
        raise RunError(f"not a run directory (a file): {run}")
    if not run.is_dir():
        raise RunError(f"run directory not found: {run}")
    marker = run / MARKER
    if not marker.is_file():
        raise RunError(f"not a facelab run directory (no {MARKER}): {run}")
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"unreadable {marker}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise RunError(f"not a facelab run directory (foreign {MARKER}): {run}")
    if meta.get("version") != RUN_VERSION:
        raise RunError(
            f"run directory {run} has format version {meta.get('version')}, "
            f"this facelab reads version {RUN_VERSION}; re-create it with `facelab run`"
        )
    return run


# --------------------------------------------------------------------------- databases

SEARCH_DB = "facelab.sqlite"
AUDIT_LOG = "audit.jsonl"
WATCHLIST_INDEX = "watchlist.faiss"
ARCHIVE_DIR = "archive"
FRAMES_DIR = "frames"
PHOTOS_DIR = "watchlist"


SQLITE_MAGIC = b"SQLite format 3\x00"
SEARCH_TABLES = ("meta", "cameras", "days", "sightings", "watchlist", "alerts")
"""Tables every run's ``facelab.sqlite`` has; a database without them is foreign."""


def damaged(path: Path, what: str) -> RunError:
    """The error for a damaged run file: names the file and says what is wrong with it."""
    return RunError(f"damaged run directory {path.parent}: {path.name} {what}")


def check_sqlite_file(path: Path) -> None:
    """Refuse a file that is missing, empty, not SQLite or shorter than its header says.

    Reads the 100-byte header only, so it is cheap on any size. Nothing is written.

    Raises
    ------
    RunError
        Naming the file (a damaged run).
    """
    try:
        if not path.is_file():
            raise damaged(path, "is missing" if not path.exists() else "is not a file")
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise damaged(path, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise damaged(path, "is empty")
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        raise damaged(path, "is not a SQLite database")
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    counter, valid_for = head[24:28], head[92:96]
    if page < 512 or page & (page - 1) or size % page:
        raise damaged(path, f"is truncated or garbled ({size} bytes, page size {page})")
    if counter == valid_for and pages and size < pages * page:
        raise damaged(path, f"is truncated ({size} bytes, its header says {pages * page})")


def check_tables(conn: sqlite3.Connection, path: Path, tables) -> None:
    """Refuse a database that lacks any of ``tables`` (a foreign or damaged file)."""
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise damaged(path, f"cannot be read ({exc})") from None
    missing = [t for t in tables if t not in have]
    if missing:
        raise damaged(path, f"is not a facelab database (no table {', '.join(missing)})")


def connect(path: Path, *, readonly: bool = False, create: bool = False) -> sqlite3.Connection:
    """Open a run database.

    Read-write: WAL, full sync, and ``secure_delete`` so freed pages are zeroed. Read-only:
    ``mode=ro``, and ``immutable=1`` when there is no ``-wal`` file (no WAL content to miss),
    so that reading creates no ``-wal``/``-shm`` file and changes nothing in the run.

    Parameters
    ----------
    path : Path
    readonly : bool
    create : bool
        Allow a missing file (a new database). Otherwise the file must exist and be a whole
        SQLite database (:func:`check_sqlite_file`): an empty or damaged file is never given a
        fresh schema.

    Raises
    ------
    RunError
        The file is missing, damaged or not a SQLite database (naming it).
    """
    if not create or path.exists():
        check_sqlite_file(path)
    try:
        if readonly:
            wal = path.with_name(path.name + "-wal")
            mode = "ro" if wal.exists() else "ro&immutable=1"
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None,
                timeout=30,
            )  # fmt: skip
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if not readonly and ("readonly" in text or "unable to open" in text):
            raise RunError(  # a whole file in a folder (or on a disk) that refuses writes
                f"run directory {path.parent}: {path.name} cannot be opened for writing "
                f"({text}); is the folder read-only?"
            ) from None
        raise damaged(path, f"is not a usable SQLite database ({exc})") from None
    return conn


def connect_read_only(path: Path) -> sqlite3.Connection:
    """``connect(path, readonly=True)`` (a ``connect`` for :class:`facelab.truth.TruthStore`)."""
    return connect(path, readonly=True)


class Transaction:
    """``with Transaction(conn):`` — BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception (unless
    SQLite already rolled back)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _utcnow() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class RunStore:
    """An open run directory. Use :meth:`create` for a new one, the constructor for an existing one.

    Attributes
    ----------
    path : Path
    meta : dict, the contents of ``run.json``
    db : sqlite3.Connection, the search side (the ground truth is not opened here:
        :class:`facelab.truth.TruthStore`)
    audit : :class:`facelab.governance.audit.AuditLog`
    shards : :class:`facelab.search.archive.ShardCache` or None
        The shard cache :meth:`archive` loads shards into, when its owner shares one between
        the stores it opens (``None``: the archive keeps a cache of its own).
    """

    def __init__(self, path: str | Path, *, shards=None, readonly: bool = False):
        from facelab.governance.audit import AuditLog

        self.path = require_run(path)
        self.readonly = bool(readonly)
        if not (self.path / SEARCH_DB).is_file():
            raise RunError(f"incomplete run directory {self.path}: {SEARCH_DB} is missing")
        self.meta = json.loads((self.path / MARKER).read_text())
        self.db = connect(self.path / SEARCH_DB, readonly=self.readonly)
        try:
            check_tables(self.db, self.path / SEARCH_DB, SEARCH_TABLES)
        except RunError:
            self.db.close()
            raise
        self.audit = AuditLog(self.path / AUDIT_LOG)
        self.shards = shards
        self._archive = None

    @classmethod
    def create(cls, path: str | Path, meta: dict) -> RunStore:
        """Create a run directory atomically (built beside it, then renamed into place)."""
        run = Path(path)
        if run.exists():
            raise RunError(f"{run} already exists")
        run.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=run.parent, prefix=f".{run.name}.creating-"))
        try:
            conn = connect(tmp / SEARCH_DB, create=True)
            conn.executescript(schema.SCHEMA + schema.PENDING_SCHEMA + schema_versions.SCHEMA)
            conn.close()
            (tmp / ARCHIVE_DIR).mkdir()
            (tmp / FRAMES_DIR).mkdir()
            (tmp / PHOTOS_DIR).mkdir()
            full = {"format": RUN_FORMAT, "version": RUN_VERSION, "created": _utcnow(), **meta}
            (tmp / MARKER).write_text(json.dumps(full, indent=2, sort_keys=True))
            os.replace(tmp, run)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(run)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- key/value progress markers

    def get(self, key: str, default: str | None = None) -> str | None:
        return schema.meta_get(self.db, key, default)

    def set(self, key: str, value) -> None:
        schema.meta_set(self.db, key, value)

    # ---- files

    @property
    def watchlist_path(self) -> Path:
        return self.path / WATCHLIST_INDEX

    @property
    def archive_dir(self) -> Path:
        return self.path / ARCHIVE_DIR

    @property
    def frames_dir(self) -> Path:
        return self.path / FRAMES_DIR

    @property
    def photos_dir(self) -> Path:
        return self.path / PHOTOS_DIR

    def load_watchlist(self):
        """The watchlist index (an empty one before the first enrolment).

        Raises
        ------
        RunError
            The index file is missing while the run has watchlist entries, or is damaged.
        """
        from facelab.search.watchlist import WatchlistIndex

        if self.watchlist_path.exists():
            return WatchlistIndex.load(self.watchlist_path)
        if schema.active_watch_ids(self.db):
            raise damaged(self.watchlist_path, "is missing (the run has watchlist entries)")
        return WatchlistIndex()

    def archive_options(self) -> dict:
        """How this run's archive is opened: the kind and ``nprobe`` of the run's scenario
        (``[archive]``; ``flat`` for runs without it) and a shard cache covering its retention
        window (at least :data:`facelab.search.archive.DEFAULT_CACHE_SHARDS`)."""
        from facelab.search.archive import DEFAULT_CACHE_SHARDS

        sc = self.scenario_dict()
        table = sc.get("archive") or {}
        opts = {"kind": table.get("kind", "flat")}
        if table.get("nprobe") is not None:
            opts["nprobe"] = int(table["nprobe"])
        window = int((sc.get("retention") or {}).get("days") or 0)
        opts["cache_shards"] = max(DEFAULT_CACHE_SHARDS, window)
        return opts

    def archive(self, **kw):
        """The day-sharded archive of sighting embeddings (:meth:`archive_options`).

        Without arguments, one :class:`~facelab.search.archive.DayShardArchive` per store,
        loading its shards into :attr:`shards` when the store was given a cache (an owner such
        as :class:`facelab.api.Run` keeps one across the stores it opens, so that repeated
        searches find their shards loaded), else into a cache of its own. Keyword arguments
        override the options and give a new archive with a cache of its own.
        """
        from facelab.search.archive import DayShardArchive

        opts = self.archive_options()
        opts["readonly"] = self.readonly
        if kw:
            return DayShardArchive(self.archive_dir, **{**opts, **kw})
        if self._archive is None:
            self._archive = DayShardArchive(self.archive_dir, **opts, cache=self.shards)
        return self._archive

    def days_done(self) -> list[int]:
        return schema.days_done(self.db)

    def scenario_dict(self) -> dict:
        return self.meta.get("scenario", {})

    def scenario(self):
        """The run's scenario as a validated :class:`facelab.config.scenario.Scenario`."""
        from facelab.config.scenario import parse_scenario

        data = self.scenario_dict()
        if not data:
            raise RunError(f"{self.path / MARKER} holds no scenario")
        return parse_scenario(data, str(self.path / MARKER))

    @property
    def requires_reason(self) -> bool:
        """Whether the run's policy requires a stated reason for searches, enrolments, removals."""
        return bool(self.scenario_dict().get("policy", {}).get("require_reason", True))
