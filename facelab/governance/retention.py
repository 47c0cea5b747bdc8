"""Retention: purge what is past the window, and prove that it is gone.

Simulated dates
---------------
Day ``d`` of a run is the date ``scenario.start + d days``; simulated second ``t`` is
``t // 86400`` days and ``t % 86400`` seconds after midnight of the start date. "Now" after
finishing day ``d`` is the start of day ``d + 1`` (``now_day = d + 1``). Without ``--now``,
``facelab purge`` takes the run's simulated now (the end of its last completed day, or a later
"now" an earlier purge was run at).

Policy (the run's ``[retention]``: ``days``, ``unmatched_days``, ``matched_days``, ``case_hold``)
------------------------------------------------------------------------------------------------
* A sighting *expires* when its day is ``< now_day - matched_days`` if it has an alert (a
  "matched" sighting), ``< now_day - unmatched_days`` if not; expired sightings are deleted with
  their candidates, alerts, ground-truth row and embedding.
* A *case hold* keeps a sighting however old it is: it has an alert with status ``'confirmed'``
  and a ``case_id`` whose case is not closed (table ``cases``; a case id with no row there is
  open), while ``case_hold`` is true. The hold keeps the sighting row with its alerts and
  candidates, its whole frame (other faces in it included: evidence is kept as recorded) and its
  embedding. :func:`close_case` releases the hold; the next purge deletes what it kept.
* The *archive window* is the last ``days`` days: ``now_day - days <= day < now_day``. Day shards
  exist only inside it, so a search (:func:`archive_window`) can never see an older sighting.
  Embeddings retained past the window (held ones, or matched ones when ``matched_days > days``)
  are moved, before their day's shard is dropped, into ``RUN/held.faiss`` (``IndexIDMap2`` over a
  flat index, keyed by sighting id), which the search never reads.
* A frame is deleted with its row when no retained sighting is in it and its day is
  ``< now_day - min(unmatched_days, matched_days)`` (a frame with no detection counts as
  unmatched). Clips (``RUN/clips/*-dNNN*``) follow the same day limit (they are never held).
  Ground-truth pass rows (``pass_truth``) go when their day is
  ``< now_day - max(unmatched_days, matched_days)``. Per-day counts (table ``days``) stay: they
  hold no personal data and are what a resumed run checks.
* ``--retention-days N`` sets ``days = N`` and caps both other limits at ``N``.

A purge is one logical operation, crash-safe and idempotent: its plan is computed from the
database, which is changed last, so a purge killed at any moment and run again finds the same
rows and finishes the job; the counts of the files it had already deleted wait in a small
journal (``RUN/.purge-journal.json``, counts only) for the report of the purge that finishes.
In order: (1) ``BEGIN IMMEDIATE`` on ``facelab.sqlite`` (no other writer until the end) and the
plan; (2) embeddings retained past the window are copied into ``held.faiss`` (written
atomically) and released ones are removed from it; (3) day shards past
the window are unlinked (:meth:`~facelab.search.archive.DayShardArchive.drop_day`), shards inside it
that hold expired vectors are rewritten without them (atomically, so the old file is unlinked),
frame and clip files are unlinked (stale ``*.tmp`` files beside them too) and emptied day folders
removed; (4) the ground-truth rows are deleted; (5) the rows are deleted and the report
recorded in table ``purges`` in the same transaction, which also sets a ``purge_pending``
marker; (6) ``VACUUM`` of both databases, the audit record, the marker cleared and
``PRAGMA wal_checkpoint(TRUNCATE)``. ``secure_delete`` (on in every connection,
:func:`facelab.run.store.connect`) zeroes deleted rows in their pages; ``VACUUM`` rewrites each
database without free pages; the truncating checkpoint leaves no old page image in the WAL. A
purge that finds the marker set (killed before step 6) finishes that step first.

During ``facelab run`` :func:`purge_after_day` runs at every simulated day boundary; it records a
report only when something was deleted, moved or compacted. ``facelab purge`` always records
one (an operator's action is always audited).

Proof of deletion
-----------------
Keeping the purged embeddings or frames anywhere, even "for the proof", would defeat the
deletion; keeping only their hashes (SHA-256 of each file) cannot find a copy of them elsewhere.
So a purge can hand out a :class:`DeletionProof` of *fingerprinted needles*: byte strings that
any surviving copy would contain verbatim, each stored only as its length, a 64-bit polynomial
rolling hash and a salted SHA-256 (a random salt per proof file). Needles per purged item:

* embedding: its bytes as stored (512 raw float32 bytes in a flat shard or ``held.faiss``), and
  their first 64 bytes, which also catch a partial or truncated copy;
* frame file: windows of 256 bytes every KiB of its compressed image data (a JPEG's scan data,
  a PNG's ``IDAT``; at most 64, spread evenly over larger files), so a copy of the file, or of
  a long enough run of its image data, is found;
* frame row: the frame id, stored as text in the ``frames``, ``sightings`` and ``alerts`` rows,
  so a row left in a free page, in a page's slack or in a stale WAL frame would show. This is a
  *reference* needle: it is not looked for in the audit log, which keeps references to what was
  done by design (never embeddings or image bytes, which are looked for there too).

:func:`verify` slides a window of each needle length over every byte of every file under RUN (the
SQLite main files, their WAL and shared-memory files, index files, frames, the audit log, stale
temporary files, anything): numpy computes the rolling hash of all windows of a block at once
from prefix sums mod 2**64, a bitmap of the needles' top 20 hash bits sieves them, and a hash
that matches a needle's is confirmed with the salted SHA-256 (about 15 MB/s on one core). An
exact copy always has the needle's hash (no false negatives); a false positive would need a
SHA-256 collision. The proof holds 40 bytes of one-way digests per needle: it cannot give
a vector or an image back (a match needs the exact bytes), so it can be handed to an auditor; the
frame ids in it are low-entropy metadata (camera and second) and could be guessed from it.
In-process (tests) the proof object is passed from :func:`purge` to :func:`verify`; from the
command line ``facelab purge RUN --keep-proof PATH`` writes it to a file outside RUN (merging into
an existing proof of the same run) and ``facelab retention verify RUN --proof PATH`` scans for it.
Without a proof, verify does the structural checks only (and says so): nothing the policy says
must be gone is left (rows, frames, shards, held vectors, ground truth, clips), no stale
temporary file, no free SQLite page, no stale WAL frame, no unfinished purge.

What this does not prove: transformed copies (a re-encoded image, a float64 or quantised copy of
a vector) and bytes outside the run directory (backups, the OS page cache, disk blocks freed by
unlinking but not overwritten; wiping those is the file system's and the disk's business).
Embedding needles are the bytes each shard stores: the codes of ``flat`` and ``sq8`` shards and
of the inverted lists of ``ivf-flat``, ``ivf-sq8`` and ``ivf-pq`` (reconstructed float32 vectors
only for a refined ``ivf-pq``, whose full vectors sit in its refine index). A proof
lacks the needles of files that a killed purge had deleted before the purge that finished it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from facelab.errors import RetentionError, RunError
from facelab.fileio import fsync_dir, write_atomic
from facelab.run.store import (
    ARCHIVE_DIR,
    AUDIT_LOG,
    FRAMES_DIR,
    SEARCH_DB,
    TRUTH_DB,
    RunStore,
    Transaction,
    require_run,
)

log = logging.getLogger(__name__)

HELD_INDEX = "held.faiss"
"""Embeddings retained past the archive window (case holds, longer matched retention)."""
CLIPS_DIR = "clips"
CASES_SCHEMA = """
CREATE TABLE IF NOT EXISTS cases(
  id TEXT PRIMARY KEY, status TEXT NOT NULL DEFAULT 'open', opened_at TEXT, closed_at TEXT);
"""
PENDING_KEY = "purge_pending"
JOURNAL = ".purge-journal.json"
"""Counts of files a purge deleted before recording its report (only between those two)."""
RUN_ACTOR = "facelab-run"  # the pipeline's actor (not imported: the pipeline loads the models)
AUTO_REASON = "retention policy (simulated day boundary)"
SECONDS_PER_DAY = 86_400

COUNT_KINDS = (
    "sightings", "candidates", "alerts", "frames", "frame_files", "clips", "embeddings",
    "shards_dropped", "shards_rewritten", "moved_to_held", "released_from_held",
    "truth_sightings", "truth_passes",
)  # fmt: skip
BYTE_KINDS = ("frames", "clips", "shards", "held", "databases")

_FRAME_DAY_RE = re.compile(r"^day-(\d{3,})$")
_CLIP_DAY_RE = re.compile(r"-d(\d{3,})")
_HELD_TMP_RE = re.compile(r"^\.held\.faiss\..+\.tmp$")


def _crashpoint(label: str, day: int) -> None:
    """:func:`facelab.run.pipeline.crashpoint`, imported only when the test variable is set."""
    if os.environ.get("FACELAB_CRASH_AT"):
        from facelab.run.pipeline import crashpoint

        crashpoint(label, day)


# --------------------------------------------------------------------------- policy and dates


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of data is kept, in simulated days (see the module docstring)."""

    days: int
    unmatched_days: int
    matched_days: int
    case_hold: bool

    @classmethod
    def of(cls, scenario) -> "RetentionPolicy":
        r = scenario.retention
        return cls(int(r.days), int(r.unmatched_days), int(r.matched_days), bool(r.case_hold))

    @classmethod
    def from_dict(cls, d: dict) -> "RetentionPolicy":
        return cls(int(d["days"]), int(d["unmatched_days"]), int(d["matched_days"]),
                   bool(d["case_hold"]))  # fmt: skip

    def with_days(self, days: int | None) -> "RetentionPolicy":
        """``days`` overridden (``--retention-days``): both other limits capped at it."""
        if days is None:
            return self
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise RetentionError(f"--retention-days must be an integer >= 1, got {days!r}")
        return RetentionPolicy(
            days, min(self.unmatched_days, days), min(self.matched_days, days), self.case_hold
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Cutoffs:
    """First day *kept* by each rule, for a given ``now_day``."""

    now_day: int
    window: int  # day shards: days < window are dropped
    unmatched: int  # sightings without an alert
    matched: int  # sightings with an alert
    frames: int  # frames with no retained sighting, clips
    passes: int  # pass_truth rows

    @classmethod
    def of(cls, policy: RetentionPolicy, now_day: int) -> "_Cutoffs":
        u, m = policy.unmatched_days, policy.matched_days
        return cls(now_day, now_day - policy.days, now_day - u, now_day - m,
                   now_day - min(u, m), now_day - max(u, m))  # fmt: skip

    @property
    def scan(self) -> int:
        """Rows of days below this may be due; none at or above it is."""
        return max(self.window, self.unmatched, self.matched, self.frames)


def _start(store_or_scenario) -> _dt.date:
    sc = store_or_scenario if hasattr(store_or_scenario, "start") else store_or_scenario.scenario()
    return sc.start


def day_date(start: _dt.date, day: int) -> _dt.date:
    """The date of simulated day ``day``."""
    return start + _dt.timedelta(days=int(day))


def iso_time(start: _dt.date, t: int) -> str:
    """ISO date-time of simulated second ``t`` (naive: simulated local time)."""
    return (_dt.datetime.combine(start, _dt.time()) + _dt.timedelta(seconds=int(t))).isoformat()


def parse_now(value, start: _dt.date) -> int:
    """``--now`` (a date, ``YYYY-MM-DD``) as a ``now_day``: days from the start to that date."""
    if isinstance(value, _dt.datetime):
        value = value.date()
    if not isinstance(value, _dt.date):
        try:
            value = _dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise RetentionError(f"--now {value!r} is not a date; use YYYY-MM-DD") from None
    now_day = (value - start).days
    if now_day < 0:
        raise RetentionError(f"--now {value.isoformat()} is before the run's start {start}")
    return now_day


def _last_purge(db: sqlite3.Connection) -> dict | None:
    """The report of the purge run at the latest simulated now (the most recent among those)."""
    row = db.execute(
        "SELECT id, report FROM purges ORDER BY now_day DESC, id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    report = json.loads(row[1])
    report["purge_id"] = row[0]
    return report


def _run_now(store: RunStore, db: sqlite3.Connection | None = None) -> int:
    """The run's simulated now: after its last completed day, or a later purge's now."""
    db = db or store.db
    row = db.execute("SELECT MAX(day) FROM days").fetchone()
    now = int(row[0]) + 1 if row and row[0] is not None else 0
    last = _last_purge(db)
    return max(now, int(last["now_day"])) if last else now


def _effective_policy(store: RunStore, now_day: int, db: sqlite3.Connection | None = None):
    """The run's policy, or the last purge's (an override) when that purge was at ``now_day``."""
    last = _last_purge(db or store.db)
    if last and int(last["now_day"]) >= now_day and "policy" in last:
        return RetentionPolicy.from_dict(last["policy"])
    return RetentionPolicy.of(store.scenario())


class ArchiveWindow(NamedTuple):
    """The days a search may look at: ``first_day .. last_day`` inclusive, and their dates."""

    first_day: int
    last_day: int
    first_date: _dt.date
    last_date: _dt.date

    @property
    def day_range(self) -> range:
        """``range(first_day, last_day + 1)``: pass it as ``days=`` to the archive search."""
        return range(self.first_day, self.last_day + 1)

    def describe(self) -> str:
        n = self.last_day - self.first_day + 1
        return f"{self.first_date.isoformat()} .. {self.last_date.isoformat()} ({n} day(s))"


def archive_window(store: RunStore, now_day: int | None = None) -> ArchiveWindow | None:
    """The retention window a search must stay in, or ``None`` when it holds no simulated day.

    ``now_day`` defaults to the run's simulated now (after its last completed day, or a later
    ``facelab purge --now``). The window is ``max(0, now_day - days) .. min(now_day - 1, last
    completed day)``, ``days`` being the run's ``retention.days`` (or the override of a purge at
    that now). Search only these days (``days=window.day_range``) and print
    :meth:`ArchiveWindow.describe`: a person last seen before ``first_date`` is not found, and
    the answer says which window was searched. Shards outside it do not exist after a purge;
    ``held.faiss`` is never searched.

    Returns
    -------
    ArchiveWindow or None
        A named tuple ``(first_day, last_day, first_date, last_date)`` (dates as
        :class:`datetime.date`).
    """
    done = store.days_done()
    if not done:
        return None
    now = _run_now(store) if now_day is None else int(now_day)
    policy = _effective_policy(store, now)
    first = max(0, now - policy.days)
    last = min(now - 1, max(done))
    if last < first:
        return None
    start = _start(store)
    return ArchiveWindow(first, last, day_date(start, first), day_date(start, last))


# --------------------------------------------------------------------------- cases


def ensure_cases(db: sqlite3.Connection) -> None:
    """Create the ``cases`` table if missing (``id``, ``status`` open|closed, timestamps)."""
    db.executescript(CASES_SCHEMA)


def _utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def open_case(store: RunStore, case_id: str, *, actor: str, reason: str | None = None) -> None:
    """Open (or re-open) a case: its confirmed alerts are held again."""
    ensure_cases(store.db)
    with Transaction(store.db) as db:
        db.execute(
            "INSERT INTO cases(id, status, opened_at) VALUES (?, 'open', ?) "
            "ON CONFLICT(id) DO UPDATE SET status='open', closed_at=NULL",
            (case_id, _utcnow()),
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
            (case_id, _utcnow()),
        )
    store.audit.append(actor, "case-close", reason=reason, case=case_id,
                       details={"confirmed_alerts": int(n)})  # fmt: skip
    return int(n)


def cases(store: RunStore) -> list[tuple[str, str, int]]:
    """``(case id, status, confirmed alerts)`` for every case named by an alert or a cases row."""
    has = store.db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cases'"
    ).fetchone()
    status = dict(store.db.execute("SELECT id, status FROM cases").fetchall()) if has else {}
    counts = dict(store.db.execute(
        "SELECT case_id, COUNT(*) FROM alerts WHERE case_id IS NOT NULL AND status='confirmed' "
        "GROUP BY case_id").fetchall())  # fmt: skip
    ids = sorted(set(status) | set(counts))
    return [(c, status.get(c, "open"), int(counts.get(c, 0))) for c in ids]


# --------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    cut: _Cutoffs
    policy: RetentionPolicy
    expired: dict[int, int] = field(default_factory=dict)  # sighting id -> day
    rows: set[int] = field(default_factory=set)  # every sighting row of a day < cut.scan
    keep_old: dict[int, int] = field(default_factory=dict)  # retained, day < window -> held
    case_held: int = 0  # retained only because of a case hold
    frames: list[tuple[str, int, str | None]] = field(default_factory=list)  # rows to delete
    kept_frame_paths: set[str] = field(default_factory=set)  # frames below cut.frames kept
    alerts: list[int] = field(default_factory=list)  # alert ids to delete
    candidate_sightings: set[int] = field(default_factory=set)  # delete their candidates

    def truth_stale(self, sid: int) -> bool:
        """A ground-truth row of a day < cut.scan whose sighting expired or has no row."""
        return sid in self.expired or sid not in self.rows


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    q = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
    return db.execute(q, (name,)).fetchone() is not None


def _plan(db: sqlite3.Connection, policy: RetentionPolicy, now_day: int) -> _Plan:
    """What the policy says must go at ``now_day``, from the search-side rows."""
    cut = _Cutoffs.of(policy, now_day)
    plan = _Plan(cut, policy)
    scan = cut.scan
    if scan <= 0:
        return plan
    rows = db.execute("SELECT id, day, frame_id FROM sightings WHERE day < ?", (scan,)).fetchall()
    matched = {
        r[0] for r in db.execute("SELECT DISTINCT sighting FROM alerts WHERE day < ?", (scan,))
    }
    held: set[int] = set()
    if policy.case_hold:
        cases_join = "LEFT JOIN cases c ON c.id = a.case_id" if _has_table(db, "cases") else ""
        open_case_ = "COALESCE(c.status, 'open') <> 'closed'" if cases_join else "1"
        sql = (
            f"SELECT DISTINCT a.sighting FROM alerts a {cases_join} WHERE a.day < ? AND "
            f"a.status = 'confirmed' AND a.case_id IS NOT NULL AND {open_case_}"
        )
        held = {r[0] for r in db.execute(sql, (scan,))}
    all_ids = plan.rows
    kept_frames: set[str] = set()
    for sid, day, frame_id in rows:
        all_ids.add(sid)
        limit = cut.matched if sid in matched else cut.unmatched
        if day < limit and sid not in held:
            plan.expired[sid] = day
            continue
        if day < limit:
            plan.case_held += 1
        if day < cut.window:
            plan.keep_old[sid] = day
        if frame_id is not None:
            kept_frames.add(frame_id)
    if cut.frames > 0:
        for fid, day, path in db.execute(
            "SELECT id, day, path FROM frames WHERE day < ?", (cut.frames,)
        ).fetchall():
            if fid in kept_frames:
                if path:
                    plan.kept_frame_paths.add(path)
            else:
                plan.frames.append((fid, day, path))
    for aid, sid in db.execute("SELECT id, sighting FROM alerts WHERE day < ?", (scan,)).fetchall():
        if sid in plan.expired or sid not in all_ids:
            plan.alerts.append(aid)
    for (sid,) in db.execute(
        "SELECT DISTINCT sighting FROM candidates WHERE day < ?", (scan,)
    ).fetchall():
        if sid in plan.expired or sid not in all_ids:
            plan.candidate_sightings.add(sid)
    return plan


# --------------------------------------------------------------------------- proof needles

_R = 0x9E3779B97F4A7C15  # odd, so invertible mod 2**64
_RINV = pow(_R, -1, 1 << 64)
_BLOCK = 1 << 22  # bytes of a file hashed at once
_FILTER_BITS = 20  # bitmap prefilter on the top bits of the window hashes
_POW_CACHE: dict[str, np.ndarray] = {}

FRAME_WINDOW = 256
FRAME_STRIDE = 1024  # a window every KiB: a 640x480 JPEG frame (~80 KB) gives the maximum
FRAME_MAX_WINDOWS = 64
EMBED_PREFIX = 64
REFERENCE_KINDS = ("frame-id",)
"""Needle kinds that are references, not content: not looked for in the audit log."""
AUDIT_FILES = (AUDIT_LOG, Path(AUDIT_LOG).with_suffix(".head").name)
PROOF_FORMAT = "facelab-deletion-proof"
PROOF_VERSION = 1


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``R**j`` and ``R**-j`` mod 2**64 for ``j < n`` (uint64)."""
    have = _POW_CACHE.get("p")
    if have is None or have.shape[0] < n:
        m = max(n, _BLOCK + 4096)
        with np.errstate(over="ignore"):
            p = np.empty(m, np.uint64)
            p[0] = 1
            p[1:] = _R
            np.cumprod(p, out=p)
            q = np.empty(m, np.uint64)
            q[0] = 1
            q[1:] = _RINV
            np.cumprod(q, out=q)
        _POW_CACHE["p"], _POW_CACHE["q"] = p, q
    return _POW_CACHE["p"][:n], _POW_CACHE["q"][:n]


def rolling_hash(data: bytes) -> int:
    """``sum(data[m] * R**m) mod 2**64``: the needle hash :func:`_window_hashes` slides."""
    b = np.frombuffer(data, np.uint8).astype(np.uint64)
    p, _ = _powers(len(b))
    with np.errstate(over="ignore"):
        return int(np.sum(b * p, dtype=np.uint64))


def _prefix(buf: np.ndarray) -> np.ndarray:
    """``c[k] = sum(buf[j] * R**j, j < k) mod 2**64``, shape ``(n + 1,)``."""
    n = buf.shape[0]
    p, _ = _powers(n + 1)
    c = np.zeros(n + 1, np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(buf.astype(np.uint64) * p[:n], out=c[1:])
    return c


def _window_hashes(c: np.ndarray, length: int) -> np.ndarray:
    """Rolling hash of every ``length``-byte window, from :func:`_prefix`: window ``i`` is
    ``(c[i + length] - c[i]) * R**-i``, shape ``(n - length + 1,)``."""
    m = c.shape[0] - length
    _, q = _powers(m)
    with np.errstate(over="ignore"):
        return (c[length:] - c[:m]) * q


class DeletionProof:
    """Fingerprints of purged bytes, never the bytes (see the module docstring).

    Parameters
    ----------
    salt : bytes, optional
        Random 16 bytes when omitted.
    run_id : str, optional
        Identity of the run (its ``run.json`` creation time and fingerprint).
    """

    def __init__(self, salt: bytes | None = None, run_id: str | None = None) -> None:
        self.salt = salt if salt is not None else secrets.token_bytes(16)
        self.run_id = run_id
        # length -> rolling hash -> [(salted sha256, kind, ref)]
        self._needles: dict[int, dict[int, list[tuple[bytes, str, str]]]] = {}
        self._seen: set[bytes] = set()
        self._filters: dict[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._seen)

    def __repr__(self) -> str:
        return f"DeletionProof({len(self)} needles, kinds={dict(self.kinds())})"

    def _sha(self, data: bytes) -> bytes:
        return hashlib.sha256(self.salt + data).digest()

    def add(self, kind: str, data: bytes, ref: str = "") -> None:
        """Add one needle: a byte string no file of the run may contain any more."""
        data = bytes(data)
        if len(data) < 8:
            return  # too short to mean anything
        sha = self._sha(data)
        if sha in self._seen:
            return
        self._seen.add(sha)
        self._insert(len(data), rolling_hash(data), sha, kind, ref)

    def _insert(self, length: int, rh: int, sha: bytes, kind: str, ref: str) -> None:
        self._needles.setdefault(length, {}).setdefault(rh, []).append((sha, kind, ref))
        self._seen.add(sha)
        self._filters = None

    def _filter(self) -> dict[int, np.ndarray]:
        """Per needle length, a bitmap over the top :data:`_FILTER_BITS` bits of the hashes."""
        if self._filters is None:
            self._filters = {}
            for length, table in self._needles.items():
                bits = np.zeros(1 << _FILTER_BITS, bool)
                keys = np.fromiter(table, np.uint64, len(table))
                bits[(keys >> np.uint64(64 - _FILTER_BITS)).astype(np.intp)] = True
                self._filters[length] = bits
        return self._filters

    def add_embedding(self, stored: bytes, ref: str) -> None:
        """Needles of one purged embedding: its stored bytes and their 64-byte prefix."""
        self.add("embedding", stored, ref)
        if len(stored) > EMBED_PREFIX:
            self.add("embedding-prefix", stored[:EMBED_PREFIX], ref)

    def add_frame_file(self, data: bytes, ref: str) -> None:
        """Needles of one purged frame file: windows of its compressed image data."""
        for off in _frame_windows(data):
            self.add("frame", data[off : off + FRAME_WINDOW], ref)

    def add_frame_id(self, frame_id: str) -> None:
        """Needle of one purged frame row: its id as stored in the database rows."""
        self.add("frame-id", frame_id.encode("utf-8"), frame_id)

    def kinds(self) -> Counter:
        return Counter(k for table in self._needles.values() for v in table.values()
                       for _, k, _ in v)  # fmt: skip

    def merge(self, other: "DeletionProof") -> None:
        if other.salt != self.salt:
            raise RetentionError("cannot merge deletion proofs with different salts")
        for length, table in other._needles.items():
            for rh, items in table.items():
                for sha, kind, ref in items:
                    if sha not in self._seen:
                        self._insert(length, rh, sha, kind, ref)

    # ---- file

    def to_dict(self) -> dict:
        needles = [
            {"kind": kind, "len": length, "rh": f"{rh:016x}", "sha": sha.hex(), "ref": ref}
            for length, table in sorted(self._needles.items())
            for rh, items in table.items()
            for sha, kind, ref in items
        ]
        return {"format": PROOF_FORMAT, "version": PROOF_VERSION, "run": self.run_id,
                "salt": self.salt.hex(), "needles": needles,
                "note": "for auditors: fingerprints of purged bytes (no bytes); "
                        "check with `facelab retention verify RUN --proof FILE`"}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict, name: str = "<proof>") -> "DeletionProof":
        if not isinstance(d, dict) or d.get("format") != PROOF_FORMAT:
            raise RetentionError(f"{name} is not a facelab deletion proof")
        if d.get("version") != PROOF_VERSION:
            raise RetentionError(f"{name}: unsupported proof version {d.get('version')!r}")
        try:
            proof = cls(bytes.fromhex(d["salt"]), d.get("run"))
            for n in d["needles"]:
                proof._insert(int(n["len"]), int(n["rh"], 16), bytes.fromhex(n["sha"]),
                              str(n["kind"]), str(n.get("ref", "")))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise RetentionError(f"{name}: malformed deletion proof ({exc})") from None
        return proof

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, fsync, rename)."""
        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "DeletionProof":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="ascii"))
        except FileNotFoundError:
            raise RetentionError(f"deletion proof not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise RetentionError(f"unreadable deletion proof {path}: {exc}") from None
        return cls.from_dict(data, str(path))

    # ---- scanning

    def scan_file(self, path: Path, *, references: bool = True) -> Counter:
        """Needles found in one file, by kind (each occurrence counts)."""
        found: Counter = Counter()
        tables = {length: (self._filter()[length], t) for length, t in self._needles.items()}
        if not tables:
            return found
        shift = np.uint64(64 - _FILTER_BITS)
        longest = max(tables)
        size = path.stat().st_size
        with open(path, "rb") as fh:
            offset = 0
            carry = b""
            while offset < size or carry:
                block = fh.read(_BLOCK)
                data = carry + block
                if not data:
                    break
                base = offset - len(carry)  # file offset of data[0]
                last = not block or offset + len(block) >= size
                c = _prefix(np.frombuffer(data, np.uint8))
                # windows starting in [base, limit) are counted here; later ones next block
                limit = base + len(data) if last else base + len(data) - (longest - 1)
                for length, (bits, table) in tables.items():
                    if len(data) < length:
                        continue
                    h = _window_hashes(c, length)
                    maybe = np.flatnonzero(bits[(h >> shift).astype(np.intp)])
                    for i in maybe.tolist():
                        if base + i >= limit or int(h[i]) not in table:
                            continue
                        sha = self._sha(data[i : i + length])
                        for s, kind, _ref in table[int(h[i])]:
                            if s == sha and (references or kind not in REFERENCE_KINDS):
                                found[kind] += 1
                offset += len(block)
                if last:
                    break
                carry = data[limit - base :]
        return found


def _frame_windows(data: bytes) -> list[int]:
    """Offsets of 256-byte windows every KiB inside a frame's compressed image data (a PNG's
    IDAT payloads, a JPEG's scan data: never the headers that every frame shares; the whole file
    for anything else), at most 64 (then spread evenly)."""
    from facelab.errors import ImageError
    from facelab.imageio import JPEG_SOI, jpeg_segments

    spans = []
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        pos = 8
        while pos + 8 <= len(data):
            n, ctype = struct.unpack_from(">I4s", data, pos)
            if ctype == b"IDAT":
                spans.append((pos + 8, min(pos + 8 + n, len(data))))
            pos += 12 + n
    elif data.startswith(JPEG_SOI):
        try:
            spans.append((jpeg_segments(data)[-1].end, len(data)))
        except ImageError:  # a damaged file: fall back to its whole content
            pass
    if not spans:
        spans = [(0, len(data))]
    slots = [(a, b) for a, b in spans if b - a >= FRAME_WINDOW]
    offsets = []
    for a, b in slots:
        offsets += list(range(a, b - FRAME_WINDOW + 1, FRAME_STRIDE))
    if len(offsets) > FRAME_MAX_WINDOWS:
        pick = np.linspace(0, len(offsets) - 1, FRAME_MAX_WINDOWS).round().astype(int)
        offsets = [offsets[i] for i in pick]
    return offsets


def _run_id(store_or_path) -> str:
    path = store_or_path.path if isinstance(store_or_path, RunStore) else Path(store_or_path)
    meta = json.loads((path / "run.json").read_text())
    return f"{meta.get('created')}/{meta.get('fingerprint')}"


# --------------------------------------------------------------------------- faiss helpers


def _flat_codes(index) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ids, codes (n, code_size) uint8)`` of an ``IndexIDMap2`` over flat-code storage."""
    import faiss

    if not isinstance(index, faiss.IndexIDMap2):
        return None
    inner = faiss.downcast_index(index.index)
    if not isinstance(inner, faiss.IndexFlatCodes):
        return None
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    codes = faiss.vector_to_array(inner.codes).reshape(-1, inner.code_size)
    return ids, codes


def _ivf_codes(index) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ids, codes (n, code_size) uint8)`` read from an IVF index's inverted lists (float32
    bytes for ``ivf-flat``, 8-bit codes for ``ivf-sq8``, PQ codes for ``ivf-pq``)."""
    import faiss

    ivf = faiss.downcast_index(index)
    if not isinstance(ivf, faiss.IndexIVF):  # a refined ivf-pq sits under IndexIDMap2
        return None
    inv, cs = ivf.invlists, ivf.invlists.code_size
    ids, codes = [np.empty(0, np.int64)], [np.empty((0, cs), np.uint8)]
    for lst in range(ivf.nlist):
        n = inv.list_size(lst)
        if n:
            ids_ptr, codes_ptr = inv.get_ids(lst), inv.get_codes(lst)
            ids.append(faiss.rev_swig_ptr(ids_ptr, n).astype(np.int64))
            codes.append(faiss.rev_swig_ptr(codes_ptr, n * cs).copy().reshape(n, cs))
            inv.release_ids(lst, ids_ptr)
            inv.release_codes(lst, codes_ptr)
    return np.concatenate(ids), np.concatenate(codes)


def _index_ids(index) -> np.ndarray:
    import faiss

    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    from facelab.search.index import _ivf_list_ids

    return _ivf_list_ids(faiss.downcast_index(index)).astype(np.int64)


def _reconstruct(index, ids: list[int]) -> np.ndarray:
    """Float32 vectors of ``ids`` (exact for flat storage)."""
    import faiss

    if not isinstance(index, faiss.IndexIDMap2):
        ivf = faiss.downcast_index(index)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    out = np.empty((len(ids), index.d), np.float32)
    for k, i in enumerate(ids):
        out[k] = index.reconstruct(int(i))
    return out


def _stored_bytes(index, ids: set[int]) -> dict[int, bytes]:
    """The bytes each of ``ids`` is stored as (flat or IVF codes, else reconstructed float32)."""
    fc = _flat_codes(index) or _ivf_codes(index)
    if fc is not None:
        all_ids, codes = fc
        return {int(i): codes[k].tobytes() for k, i in enumerate(all_ids.tolist()) if i in ids}
    want = [i for i in _index_ids(index).tolist() if i in ids]
    return {i: v.tobytes() for i, v in zip(want, _reconstruct(index, want))}


def _new_held(d: int):
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(d))


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class PurgeReport:
    """What one purge did (recorded as JSON in table ``purges`` and in the audit log).

    Attributes
    ----------
    purge_id : int or None
        Row in ``purges``; ``None`` when nothing was due and nothing was recorded.
    now_day : int
        Simulated "now": the start of this day.
    now : str
        Its ISO date-time.
    window_start_day : int
        First day of the archive window (may be negative early in a run).
    window_start : str
        Its date.
    policy : dict
        The :class:`RetentionPolicy` applied.
    counts : dict
        Deleted (or moved) per kind, see :data:`COUNT_KINDS`.
    bytes_freed : dict
        Per kind, see :data:`BYTE_KINDS` (``held`` is negative when vectors moved in).
    retained_past_window : int
        Sightings kept past the window (case holds, longer matched retention).
    case_held : int
        Of those and others, sightings kept only by a case hold.
    oldest_remaining : str or None
        ISO date-time of the oldest sighting or frame left in the run.
    actor, reason, at : str
        Who, why, and the wall-clock time (UTC).
    """

    purge_id: int | None
    now_day: int
    now: str
    window_start_day: int
    window_start: str
    policy: dict
    counts: dict = field(default_factory=dict)
    bytes_freed: dict = field(default_factory=dict)
    retained_past_window: int = 0
    case_held: int = 0
    oldest_remaining: str | None = None
    actor: str = ""
    reason: str | None = None
    at: str = ""

    @property
    def total_bytes(self) -> int:
        return int(sum(self.bytes_freed.values()))

    @property
    def deleted(self) -> int:
        return int(sum(self.counts.values()))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PurgeReport":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})

    def lines(self) -> list[str]:
        """The report as printed by ``facelab purge``."""
        p = self.policy
        out = [
            f"purge as of      {self.now}  (simulated day {self.now_day})",
            f"archive window   from {self.window_start} ({p['days']} days); unmatched sightings "
            f"{p['unmatched_days']} d, matched {p['matched_days']} d, case hold "
            f"{'on' if p['case_hold'] else 'off'}",
        ]
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.counts.items() if v)
        out.append(f"deleted          {counts or 'nothing was due'}")
        mib = self.total_bytes / 2**20
        parts = ", ".join(f"{k} {v:,}" for k, v in self.bytes_freed.items() if v)
        extra = f"  [{parts}]" if parts else ""
        out.append(f"bytes freed      {self.total_bytes:,} ({mib:.2f} MiB){extra}")
        out.append(f"kept past window {self.retained_past_window} sighting(s) "
                   f"({self.case_held} by an open case)")  # fmt: skip
        out.append(f"oldest remaining {self.oldest_remaining or '(nothing left)'}")
        if self.purge_id is not None:
            out.append(f"recorded         purge #{self.purge_id} (table purges, audit log)")
        return out


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _db_bytes(path: Path) -> int:
    return sum(_file_size(path.with_name(path.name + s)) for s in ("", "-wal"))


def _unlink(path: Path, proof: DeletionProof | None, ref: str) -> int:
    """Delete one file (adding its frame needles to ``proof``); return its size."""
    try:
        data = path.read_bytes() if proof is not None else None
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise RetentionError(f"cannot delete {path}: {exc.strerror or exc}") from None
    if proof is not None and data is not None:
        proof.add_frame_file(data, ref)
    return size


def _frame_day_dirs(frames: Path) -> list[tuple[int, Path]]:
    if not frames.is_dir():
        return []
    out = []
    for p in frames.iterdir():
        m = _FRAME_DAY_RE.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def _clip_files(run: Path) -> list[tuple[int, Path]]:
    folder = run / CLIPS_DIR
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.rglob("*")):
        m = _CLIP_DAY_RE.search(p.name)
        if m and p.is_file():
            out.append((int(m.group(1)), p))
    return out


# --------------------------------------------------------------------------- purge


def purge(
    run: str | Path | RunStore,
    *,
    now_day: int | None = None,
    now=None,
    retention_days: int | None = None,
    actor: str | None = None,
    reason: str | None = None,
    proof: DeletionProof | None = None,
    always_record: bool = True,
) -> PurgeReport:
    """Delete everything the retention policy says must go as of ``now_day`` (or date ``now``).

    Parameters
    ----------
    run : path or RunStore
    now_day : int, optional
        Simulated now (start of this day); default the run's simulated now.
    now : date or "YYYY-MM-DD", optional
        The same as a date (``--now``).
    retention_days : int, optional
        Override of ``retention.days`` (``--retention-days``), capping the other two limits.
    actor, reason : str, optional
        For the audit record (default ``$FACELAB_ACTOR`` or the login, "retention policy").
    proof : DeletionProof, optional
        Receives the fingerprints of every purged embedding and frame.
    always_record : bool
        Record a report even when nothing was due (``facelab purge``); the day-boundary purge
        records one only when it deleted, moved or compacted something.

    Returns
    -------
    PurgeReport

    Raises
    ------
    RetentionError
        Bad ``now``/``retention_days``, or a file that cannot be deleted.
    """
    from facelab.governance.audit import default_actor

    own = not isinstance(run, RunStore)
    store = RunStore(run) if own else run
    try:
        actor = actor or default_actor()
        reason = reason or "retention policy"
        scenario = store.scenario()
        start = scenario.start
        if now is not None:
            if now_day is not None:
                raise RetentionError("give now or now_day, not both")
            now_day = parse_now(now, start)
        if now_day is None:
            now_day = _run_now(store)
        if now_day < 0:
            raise RetentionError(f"now_day must be >= 0, got {now_day}")
        policy = RetentionPolicy.of(scenario).with_days(retention_days)
        if proof is not None:
            if proof.run_id is None:
                proof.run_id = _run_id(store)
            elif proof.run_id != _run_id(store):
                raise RetentionError(
                    f"the deletion proof given belongs to another run ({proof.run_id})"
                )
        pending = store.get(PENDING_KEY)
        if pending is not None:  # a purge was killed before compacting: finish it first
            _finish(store, int(pending), actor, reason)
        return _purge(store, start, policy, int(now_day), actor, reason, proof, always_record)
    finally:
        if own:
            store.close()


def purge_after_day(out: str | Path, day: int | None = None, *,
                    proof: DeletionProof | None = None) -> PurgeReport | None:  # fmt: skip
    """The automatic purge of ``facelab run`` at the boundary after simulated ``day``.

    ``now_day = day + 1``. With ``day=None``, after the run's last completed day (``facelab run``
    calls that once more at the end, which completes a purge a crash interrupted). Idempotent;
    returns ``None`` when no day is done yet.
    """
    with RunStore(out) as store:
        if day is None:
            done = store.days_done()
            if not done:
                return None
            day = max(done)
        return purge(store, now_day=int(day) + 1, actor=RUN_ACTOR, reason=AUTO_REASON,
                     proof=proof, always_record=False)  # fmt: skip


def _purge(
    store: RunStore,
    start: _dt.date,
    policy: RetentionPolicy,
    now_day: int,
    actor: str,
    reason: str,
    proof: DeletionProof | None,
    always_record: bool,
) -> PurgeReport:
    from facelab.search.index import read_index, write_index_atomic

    day_label = now_day - 1
    run = store.path
    counts = dict.fromkeys(COUNT_KINDS, 0)
    freed = dict.fromkeys(BYTE_KINDS, 0)
    token = _journal_resume(store, counts, freed)
    db_before = _db_bytes(run / SEARCH_DB) + _db_bytes(run / TRUTH_DB)
    ensure_cases(store.db)
    db = store.db
    db.execute("BEGIN IMMEDIATE")
    try:
        plan = _plan(db, policy, now_day)
        cut = plan.cut
        archive = store.archive()
        shard_days = [d for d in archive.days() if d < now_day]
        drop_days = [d for d in shard_days if d < cut.window]
        trim_days = sorted({d for d in plan.expired.values() if cut.window <= d} & set(shard_days))
        held_path = run / HELD_INDEX
        for p in run.iterdir():  # a crash while writing held.faiss leaves its temporary file
            if _HELD_TMP_RE.match(p.name):
                _unlink(p, None, p.name)

        # (2) held.faiss: move in what stays past the window, remove what expired
        held = read_index(held_path) if held_path.exists() else None
        held_ids = set(_index_ids(held).tolist()) if held is not None else set()
        release = {i for i in held_ids if i not in plan.keep_old}
        move_in: dict[int, list[int]] = {}
        for sid, day in plan.keep_old.items():
            if sid not in held_ids:
                move_in.setdefault(day, []).append(sid)
        if release or move_in:
            size0 = _file_size(held_path)
            if held is None:
                held = _new_held(archive.d)
            if release:
                if proof is not None:
                    for sid, data in _stored_bytes(held, release).items():
                        proof.add_embedding(data, f"sighting {sid}")
                held.remove_ids(np.array(sorted(release), np.int64))
                counts["released_from_held"] += len(release)
                counts["embeddings"] += len(release)
            for day, sids in sorted(move_in.items()):
                if day not in shard_days:
                    log.error("day %d: %d retained embedding(s) have no shard left", day, len(sids))
                    continue
                shard = read_index(archive.path(day))
                present = set(_index_ids(shard).tolist())
                sids = sorted(s for s in sids if s in present)
                if sids:
                    held.add_with_ids(_reconstruct(shard, sids), np.array(sids, np.int64))
                    counts["moved_to_held"] += len(sids)
            if held.ntotal:
                write_index_atomic(held, held_path)
            else:
                held_path.unlink(missing_ok=True)
                fsync_dir(run)
            freed["held"] += size0 - _file_size(held_path)
            _journal_save(run, token, counts, freed)
        _crashpoint("purge-held", day_label)

        # (3) files: shards, frames, clips
        for day in drop_days:
            path = archive.path(day)
            size = _file_size(path)
            shard = read_index(path)
            ids = set(_index_ids(shard).tolist())
            gone = {i for i in ids if i not in plan.keep_old}
            if proof is not None:
                for sid, data in _stored_bytes(shard, gone).items():
                    proof.add_embedding(data, f"sighting {sid}")
            del shard
            archive.drop_day(day)
            counts["embeddings"] += len(gone)
            counts["shards_dropped"] += 1
            freed["shards"] += size
        for day in trim_days:
            path = archive.path(day)
            size = _file_size(path)
            shard = read_index(path)
            ids = set(_index_ids(shard).tolist())
            gone = {i for i in ids if i in plan.expired}
            if not gone:
                continue
            if proof is not None:
                for sid, data in _stored_bytes(shard, gone).items():
                    proof.add_embedding(data, f"sighting {sid}")
            shard.remove_ids(np.array(sorted(gone), np.int64))
            counts["embeddings"] += len(gone)
            if shard.ntotal:
                write_index_atomic(shard, path)
                counts["shards_rewritten"] += 1
            else:
                archive.drop_day(day)
                counts["shards_dropped"] += 1
            freed["shards"] += size - _file_size(path)
        archive.clear_cache()
        frame_ref = {}
        for fid, _day, rel in plan.frames:
            if rel:
                frame_ref[rel] = fid
        for day, folder in _frame_day_dirs(run / FRAMES_DIR):
            if day >= cut.frames:
                continue
            for p in sorted(folder.iterdir()):
                rel = str(p.relative_to(run))
                if p.is_file() and rel not in plan.kept_frame_paths:
                    freed["frames"] += _unlink(p, proof, frame_ref.get(rel, rel))
                    counts["frame_files"] += 1
            if not any(folder.iterdir()):
                folder.rmdir()
            fsync_dir(folder.parent)
        for day, p in _clip_files(run):
            if day < cut.frames:
                freed["clips"] += _unlink(p, proof, str(p.relative_to(run)))
                counts["clips"] += 1
        if proof is not None:
            for fid, _day, _rel in plan.frames:
                proof.add_frame_id(fid)
        if any(counts.values()):
            _journal_save(run, token, counts, freed)
        _crashpoint("purge-files", day_label)

        # (4) ground truth
        truth = store.truth
        with Transaction(truth):
            stale = [
                r[0]
                for r in truth.execute(
                    "SELECT sighting FROM sighting_truth WHERE day < ?", (cut.scan,)
                ).fetchall()
                if plan.truth_stale(r[0])
            ]
            truth.executemany("DELETE FROM sighting_truth WHERE sighting=?", [(s,) for s in stale])
            counts["truth_sightings"] += len(stale)
            n0 = truth.total_changes
            truth.execute("DELETE FROM pass_truth WHERE day < ?", (cut.passes,))
            counts["truth_passes"] += truth.total_changes - n0

        # (5) rows, the report, the pending marker: one transaction
        n0 = db.total_changes
        db.executemany("DELETE FROM candidates WHERE sighting=?",
                       [(s,) for s in sorted(plan.candidate_sightings)])  # fmt: skip
        counts["candidates"] += db.total_changes - n0
        db.executemany("DELETE FROM alerts WHERE id=?", [(a,) for a in plan.alerts])
        counts["alerts"] += len(plan.alerts)
        db.executemany("DELETE FROM sightings WHERE id=?", [(s,) for s in sorted(plan.expired)])
        counts["sightings"] += len(plan.expired)
        db.executemany("DELETE FROM frames WHERE id=?", [(f[0],) for f in plan.frames])
        counts["frames"] += len(plan.frames)
        freelist = _freelist(db) + _freelist(truth)
        did = any(counts.values()) or freelist > 0
        report = PurgeReport(
            purge_id=None,
            now_day=now_day,
            now=_dt.datetime.combine(day_date(start, now_day), _dt.time()).isoformat(),
            window_start_day=cut.window,
            window_start=day_date(start, cut.window).isoformat(),
            policy=policy.to_dict(),
            counts=counts,
            bytes_freed=freed,
            retained_past_window=len(plan.keep_old),
            case_held=plan.case_held,
            oldest_remaining=_oldest(db, start),
            actor=actor,
            reason=reason,
            at=_utcnow(),
        )
        if not (did or always_record):
            db.execute("COMMIT")
            return report
        row = {**report.to_dict(), "db_bytes_before": db_before, "journal": token}
        cur = db.execute(
            "INSERT INTO purges(at, now_day, report) VALUES (?, ?, ?)",
            (report.at, now_day, json.dumps(row)),
        )
        purge_id = int(cur.lastrowid)
        store.set(PENDING_KEY, purge_id)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    (run / JOURNAL).unlink(missing_ok=True)  # its counts are in the report just committed
    _crashpoint("purge-rows", day_label)
    return _finish(store, purge_id, actor, reason)


def _journal_resume(store: RunStore, counts: dict, freed: dict) -> str:
    """Counts of a purge killed after deleting files (added to ``counts``/``freed``) and the
    journal token of this purge: the killed one's, so that its files are reported once."""
    path = store.path / JOURNAL
    try:
        data = json.loads(path.read_text())
        token = str(data["token"])
        done = store.db.execute(
            "SELECT 1 FROM purges WHERE json_extract(report, '$.journal') = ?", (token,)
        ).fetchone()
    except FileNotFoundError:
        return secrets.token_hex(8)
    except (OSError, ValueError, KeyError, TypeError, sqlite3.Error):
        log.warning("ignoring an unreadable purge journal %s", path)
        path.unlink(missing_ok=True)
        return secrets.token_hex(8)
    if done:  # recorded already; the crash came before the journal was removed
        path.unlink(missing_ok=True)
        return secrets.token_hex(8)
    for k, v in data.get("counts", {}).items():
        if k in counts:
            counts[k] += int(v)
    for k, v in data.get("bytes", {}).items():
        if k in freed:
            freed[k] += int(v)
    return token


def _journal_save(run: Path, token: str, counts: dict, freed: dict) -> None:
    write_atomic(run / JOURNAL, json.dumps({"token": token, "counts": counts, "bytes": freed}))


def _freelist(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA freelist_count").fetchone()[0])


def _oldest(db: sqlite3.Connection, start: _dt.date) -> str | None:
    ts = [r[0] for r in db.execute(
        "SELECT MIN(t) FROM sightings UNION ALL SELECT MIN(t) FROM frames").fetchall()  # fmt: skip
        if r[0] is not None]
    return iso_time(start, min(ts)) if ts else None


def _compact(conn: sqlite3.Connection, name: str) -> None:
    """VACUUM (no free page keeps old bytes) and truncate the WAL (no old page image left)."""
    conn.execute("PRAGMA temp_store=MEMORY")  # VACUUM's scratch copy never touches a disk file
    conn.execute("VACUUM")
    _checkpoint(conn, name)


def _checkpoint(conn: sqlite3.Connection, name: str) -> None:
    busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RetentionError(
            f"{name}: another connection is reading, so the WAL could not be truncated; "
            "close other facelab processes on this run and run `facelab purge` again"
        )


def _finish(store: RunStore, purge_id: int, actor: str, reason: str | None) -> PurgeReport:
    """Step 6: compact both databases, complete the report, audit it, clear the marker."""
    run = store.path
    _compact(store.truth, TRUTH_DB)
    _compact(store.db, SEARCH_DB)
    row = store.db.execute("SELECT report FROM purges WHERE id=?", (purge_id,)).fetchone()
    if row is None:  # the marker outlived its row (cannot happen: same transaction); clear it
        with Transaction(store.db) as db:
            db.execute("DELETE FROM meta WHERE key=?", (PENDING_KEY,))
        _checkpoint(store.db, SEARCH_DB)
        raise RetentionError(f"{run}: unfinished purge #{purge_id} has no report; run it again")
    data = json.loads(row[0])
    before = int(data.pop("db_bytes_before", 0))
    after = _db_bytes(run / SEARCH_DB) + _db_bytes(run / TRUTH_DB)
    data["bytes_freed"]["databases"] = max(before - after, 0) if before else 0
    data["purge_id"] = purge_id
    report = PurgeReport.from_dict(data)
    if not _audited(store, purge_id):
        store.audit.append(
            report.actor or actor, "purge", reason=report.reason or reason,
            details={
                "purge_id": purge_id, "now": report.now, "window_start": report.window_start,
                "policy": report.policy, "counts": report.counts,
                "bytes_freed": report.total_bytes, "oldest_remaining": report.oldest_remaining,
            },
        )  # fmt: skip
    with Transaction(store.db) as db:
        db.execute(
            "UPDATE purges SET report=? WHERE id=?", (json.dumps(report.to_dict()), purge_id)
        )
        db.execute("DELETE FROM meta WHERE key=?", (PENDING_KEY,))
    _checkpoint(store.db, SEARCH_DB)
    _checkpoint(store.truth, TRUTH_DB)
    log.info("purge #%d: %s", purge_id, report.counts)
    return report


def _audited(store: RunStore, purge_id: int) -> bool:
    """Whether the audit log already has the record of this purge (a crash after appending)."""
    try:
        records = store.audit.records()
    except Exception:  # a damaged log is `facelab audit verify`'s business
        return False
    for rec in reversed(records):
        if rec.action == "purge":
            return rec.details.get("purge_id") == purge_id
    return False


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class Check:
    """One structural check of :func:`verify`."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class FileFinding:
    """Needles found in one file (``found`` by kind; empty when clean)."""

    path: str
    size: int
    found: dict

    @property
    def count(self) -> int:
        return int(sum(self.found.values()))


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    run : str
    now_day : int
    window : str
        The archive window checked, in words.
    checks : tuple of Check
    files : tuple of FileFinding
        Every file scanned (empty without a proof).
    needles : int
        Needles looked for (0: structural checks only).
    bytes_scanned : int
    """

    run: str
    now_day: int
    window: str
    checks: tuple
    files: tuple = ()
    needles: int = 0
    bytes_scanned: int = 0

    @property
    def found(self) -> int:
        return int(sum(f.count for f in self.files))

    @property
    def ok(self) -> bool:
        return self.found == 0 and all(c.ok for c in self.checks)


def _ro(path: Path) -> sqlite3.Connection:
    """Read-only connection. Without a WAL file the database is opened immutable, so that
    verifying creates no ``-wal``/``-shm`` file in the run (there is no WAL content to miss)."""
    wal = path.with_name(path.name + "-wal")
    mode = "ro" if wal.exists() else "ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=30)
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise RunError(f"{path}: cannot open read-only ({exc})") from None
    return conn


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


def _all_files(run: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(run):
        dirs.sort()
        for name in sorted(files):
            out.append(Path(root) / name)
    return out


def verify(run: str | Path, proof: DeletionProof | str | Path | None = None) -> VerifyReport:
    """Check that nothing the retention policy says must be gone is left in the run.

    With a proof (a :class:`DeletionProof` or its file), every byte of every file under ``run``
    is first scanned for the purged embeddings and frames (before any database is opened, so
    nothing is checkpointed away); then the structural checks run on read-only connections.

    Returns
    -------
    VerifyReport
        ``ok`` is false when any needle is found or any check fails.
    """
    run = require_run(run)
    if proof is not None and not isinstance(proof, DeletionProof):
        proof = DeletionProof.load(proof)
    files: list[FileFinding] = []
    scanned = 0
    if proof is not None:
        for p in _all_files(run):
            if p.is_symlink() or not p.is_file():
                continue
            rel = str(p.relative_to(run))
            found = proof.scan_file(p, references=rel not in AUDIT_FILES)
            size = _file_size(p)
            scanned += size
            files.append(FileFinding(rel, size, dict(found)))
    checks, now_day, window = _structural(run)
    return VerifyReport(
        run=str(run), now_day=now_day, window=window, checks=tuple(checks), files=tuple(files),
        needles=len(proof) if proof is not None else 0, bytes_scanned=scanned,
    )  # fmt: skip


class _ROStore:
    """The bits of RunStore the plan and the window need, over read-only connections."""

    def __init__(self, run: Path) -> None:
        self.path = run
        self.meta = json.loads((run / "run.json").read_text())
        self.db = _ro(run / SEARCH_DB)
        self.truth = _ro(run / TRUTH_DB)

    def scenario_dict(self) -> dict:
        return self.meta.get("scenario", {})

    scenario = RunStore.scenario  # needs only path and scenario_dict

    def days_done(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT day FROM days ORDER BY day")]

    def close(self) -> None:
        self.db.close()
        self.truth.close()


def _structural(run: Path) -> tuple[list[Check], int, str]:
    """The structural checks, the now they were made at, and the window in words."""
    from facelab.search.archive import DayShardArchive
    from facelab.search.index import read_index

    st = _ROStore(run)
    checks: list = []

    def add(name: str, bad: int | list, what: str, fix: str = "run `facelab purge RUN`") -> None:
        n = len(bad) if isinstance(bad, list) else int(bad)
        if n:
            eg = f" (e.g. {bad[0]})" if isinstance(bad, list) else ""
            checks.append(Check(name, False, f"{n} {what}{eg}; {fix}"))
        else:
            checks.append(Check(name, True, f"no {what}"))

    try:
        db, truth = st.db, st.truth
        now_day = _run_now(st, db)  # type: ignore[arg-type]
        policy = _effective_policy(st, now_day, db)  # type: ignore[arg-type]
        plan = _plan(db, policy, now_day)
        cut = plan.cut
        start = _start(st)
        win = archive_window(st, now_day)  # type: ignore[arg-type]
        window = (f"{win.describe()}, now {day_date(start, now_day)}" if win
                  else f"empty (now {day_date(start, now_day)})")  # fmt: skip
        add("sightings", sorted(plan.expired), "sighting row(s) past retention")
        add("frames", [f[0] for f in plan.frames], "frame row(s) past retention")
        add("alerts", plan.alerts, "alert row(s) of purged sightings")
        add("candidates", sorted(plan.candidate_sightings), "candidate row(s) of purged sightings")
        files = []
        for day, folder in _frame_day_dirs(run / FRAMES_DIR):
            if day < cut.frames:
                files += [str(p.relative_to(run)) for p in sorted(folder.iterdir())
                          if str(p.relative_to(run)) not in plan.kept_frame_paths]  # fmt: skip
        add("frame files", files, "frame file(s) past retention")
        add("clips", [str(p.relative_to(run)) for d, p in _clip_files(run) if d < cut.frames],
            "clip file(s) past retention")
        archive_dir = run / ARCHIVE_DIR
        shard_days = []
        if archive_dir.is_dir():
            shard_days = sorted(
                int(m.group(1)) for p in archive_dir.iterdir()
                if (m := re.match(r"^day-(\d{4,})\.faiss$", p.name))
            )  # fmt: skip
        add("archive window", [f"day-{d:04d}.faiss" for d in shard_days if d < cut.window],
            "day shard(s) older than the window")
        bad_ids = []
        for d in shard_days:
            if cut.window <= d < cut.scan:
                ids = _index_ids(read_index(DayShardArchive(archive_dir).path(d)))
                bad_ids += [f"sighting {i} in day {d}" for i in ids.tolist() if i in plan.expired]
        add("archive contents", bad_ids, "expired vector(s) in day shards")
        held_path = run / HELD_INDEX
        held_ids = set(_index_ids(read_index(held_path)).tolist()) if held_path.exists() else set()
        add("held index", sorted(held_ids - set(plan.keep_old)),
            f"vector(s) in {HELD_INDEX} no longer retained")
        missing = sorted(set(plan.keep_old) - held_ids)
        checks.append(Check(
            "held coverage", True,
            f"{len(plan.keep_old)} sighting(s) retained past the window, "
            + (f"{len(missing)} without a held embedding" if missing else "all embeddings held"),
        ))  # fmt: skip
        truth_bad = [
            r[0] for r in truth.execute(
                "SELECT sighting FROM sighting_truth WHERE day < ?", (cut.scan,)).fetchall()
            if plan.truth_stale(r[0])
        ]  # fmt: skip
        add("ground truth", truth_bad, "sighting_truth row(s) of purged sightings")
        passes = truth.execute(
            "SELECT COUNT(*) FROM pass_truth WHERE day < ?", (cut.passes,)
        ).fetchone()[0]
        add("ground-truth passes", int(passes), "pass_truth row(s) past retention")
        temps = [str(p.relative_to(run)) for p in _all_files(run)
                 if p.name.startswith(".") and p.name.endswith(".tmp")]  # fmt: skip
        add("temporary files", temps, "stale temporary file(s) of an interrupted write")
        pending = db.execute("SELECT value FROM meta WHERE key=?", (PENDING_KEY,)).fetchone()
        add("unfinished purge", int(bool(pending)) + int((run / JOURNAL).exists()),
            "unfinished purge (marker or journal)")
        for name, conn in ((SEARCH_DB, db), (TRUTH_DB, truth)):
            add(f"{name} free pages", _freelist(conn), f"free page(s) in {name}")
            _frames, stale = wal_stale_frames(run / f"{name}-wal")
            add(f"{name} WAL", stale, f"stale WAL frame(s) in {name}-wal")
    finally:
        st.close()
    return checks, now_day, window
