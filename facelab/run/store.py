"""The run directory: layout, format version and the SQLite databases.

Layout of a run directory::

    RUN/run.json          format marker {"format": "facelab-run", "version": N, ...}
    RUN/facelab.sqlite    search side: cameras, frames, sightings, watchlist, alerts, reviews
                          (tables, rows and statements: :mod:`facelab.run.schema`)
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
from facelab.run import schema

RUN_FORMAT = "facelab-run"
RUN_VERSION = 2
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


def connect(path: Path) -> sqlite3.Connection:
    """Open a run database: WAL, full sync, and secure_delete so freed pages are zeroed."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA secure_delete=ON")
    except sqlite3.DatabaseError as exc:
        raise RunError(f"{path}: not a usable SQLite database ({exc})") from None
    return conn


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

    def __init__(self, path: str | Path, *, shards=None):
        from facelab.governance.audit import AuditLog

        self.path = require_run(path)
        if not (self.path / SEARCH_DB).is_file():
            raise RunError(f"incomplete run directory {self.path}: {SEARCH_DB} is missing")
        self.meta = json.loads((self.path / MARKER).read_text())
        self.db = connect(self.path / SEARCH_DB)
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
            conn = connect(tmp / SEARCH_DB)
            conn.executescript(schema.SCHEMA)
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
        """The watchlist index (an empty one before the first enrolment)."""
        from facelab.search.watchlist import WatchlistIndex

        if self.watchlist_path.exists():
            return WatchlistIndex.load(self.watchlist_path)
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
