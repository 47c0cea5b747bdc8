"""The hash-chained, append-only audit log of a run (``RUN/audit.jsonl``).

Every enrolment, removal, search, review, purge, export and run appends one record: who (actor),
what (action), when (UTC wall clock), the stated reason and case id, and details. Each record is one
line of canonical JSON (sorted keys, no spaces, ASCII)::

    {"action":"search","actor":"ana","case":"C-17","details":{...},"hash":"…","prev":"…",
     "reason":"stolen car","seq":3,"time":"2026-11-02T09:14:03.512Z"}

``hash`` is the SHA-256 of the canonical JSON of all the other fields, and ``prev`` is the
previous record's ``hash`` (64 zeros for the first), so editing, deleting, inserting or reordering
records breaks the chain. Cutting records off the end leaves a valid shorter chain, so each
append also rewrites a small anchor file (``audit.head``: record count and last hash), and
:meth:`AuditLog.verify` checks the chain against it.

A hash chain without a key is tamper-*evident* against edits made with a text editor, not against
someone who recomputes every hash; keep a copy of ``audit.head`` elsewhere for stronger evidence.

Appends are crash-safe: one ``os.write`` of the whole line on an ``O_APPEND`` descriptor, then
``fsync``, under an exclusive ``flock`` so concurrent writers cannot interleave or reuse a ``seq``.
A crash leaves at most a torn last line, which :meth:`AuditLog.verify` reports. An append
verifies the whole chain first and refuses to continue one that does not verify.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facelab.errors import AuditError, DataError
from facelab.fileio import write_atomic

try:  # POSIX; without it appends are not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ZERO_HASH = "0" * 64
ACTIONS = ("enrol", "remove", "search", "review", "purge", "export", "run")
"""The actions facelab itself records (others are accepted)."""
_FIELDS = ("seq", "time", "actor", "action", "reason", "case", "details", "prev", "hash")


def _canonical(obj: Any) -> str:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def default_actor() -> str:
    """Who is acting: ``$FACELAB_ACTOR``, else the login name, else ``"operator"``."""
    actor = os.environ.get("FACELAB_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser() or "operator"
    except (OSError, KeyError, ImportError):
        return "operator"


def require_reason(reason: str | None, policy_requires: bool, action: str) -> str | None:
    """Return the stated reason (stripped, ``None`` if blank), enforcing the run's policy.

    Raises
    ------
    AuditError
        If the policy requires a reason for ``action`` and none (or only blanks) was given.
    """
    reason = reason.strip() if reason else ""
    if policy_requires and not reason:
        raise AuditError(
            f"a stated reason (--reason) is required for {action} by this run's policy"
        )
    return reason or None


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log.

    Attributes
    ----------
    seq : int
        Position in the log, from 1.
    time : str
        ISO-8601 UTC wall-clock time of the append, e.g. ``"2026-11-02T09:14:03.512Z"``.
    actor, action : str
        Who did what.
    reason, case : str or None
        Stated reason and case id.
    details : dict
        Action-specific JSON data (ids, counts, thresholds).
    prev : str
        Hex SHA-256 ``hash`` of the previous record, 64 zeros for the first.
    hash : str
        Hex SHA-256 of the canonical JSON of all other fields.
    """

    seq: int
    time: str
    actor: str
    action: str
    reason: str | None
    case: str | None
    details: dict[str, Any] = field(default_factory=dict)
    prev: str = ZERO_HASH
    hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict."""
        return asdict(self)

    def compute_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON of every field but ``hash``."""
        body = {k: v for k, v in self.to_dict().items() if k != "hash"}
        return hashlib.sha256(_canonical(body).encode("ascii")).hexdigest()

    def line(self) -> bytes:
        """The record as written to the log: canonical JSON and a newline."""
        return (_canonical(self.to_dict()) + "\n").encode("ascii")


@dataclass(frozen=True)
class AuditReport:
    """Outcome of :meth:`AuditLog.verify`.

    Attributes
    ----------
    ok : bool
        Whether the whole log verified.
    count : int
        Records verified: all of them when ``ok``, else those before the first bad one.
    first_bad : int or None
        1-based line number of the first bad record (``None`` when ``ok``, or when the
        problem is not on one line).
    problem : str
        What is wrong, ``""`` when ``ok``.
    """

    ok: bool
    count: int
    first_bad: int | None = None
    problem: str = ""


def _parse(raw: bytes, lineno: int) -> AuditRecord:
    """Parse one line (without its newline) into a record, or raise ValueError saying why."""
    try:
        obj = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"line {lineno} is not valid JSON") from None
    if not isinstance(obj, dict) or set(obj) != set(_FIELDS):
        raise ValueError(f"line {lineno} does not have the audit record fields")
    ok = (
        type(obj["seq"]) is int
        and all(isinstance(obj[k], str) for k in ("time", "actor", "action", "prev", "hash"))
        and all(obj[k] is None or isinstance(obj[k], str) for k in ("reason", "case"))
        and isinstance(obj["details"], dict)
    )
    if not ok:
        raise ValueError(f"line {lineno} has fields of the wrong type")
    return AuditRecord(**obj)


class AuditLog:
    """The audit log at ``path`` (normally ``RUN/audit.jsonl``).

    Parameters
    ----------
    path : str or Path
        The JSON-lines file; created on the first append. Its anchor is the sibling file
        ``audit.head`` (same stem, suffix ``.head``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_suffix(".head")

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    # ---------------------------------------------------------------- writing

    def append(
        self,
        actor: str,
        action: str,
        *,
        reason: str | None = None,
        case: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one record and return it.

        The whole chain is verified first (:meth:`verify`, under the lock), so a record is
        never added to a log that no longer verifies.

        Raises
        ------
        AuditError
            If the log does not verify (an edit, a torn write, records cut from the end), so
            the chain cannot be continued.
        DataError
            If ``details`` is not plain JSON.
        """
        if not actor or not action:
            raise AuditError("an audit record needs an actor and an action")
        try:
            details = json.loads(_canonical(dict(details or {})))
        except (TypeError, ValueError) as exc:
            raise DataError(f"audit details must be plain JSON: {exc}") from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            report = self.verify()
            if not report.ok:
                where = f" at record {report.first_bad}" if report.first_bad is not None else ""
                raise AuditError(
                    f"audit log {self.path} does not verify{where} ({report.problem}); "
                    "nothing was added to it"
                )
            last = self._last_record(fd)
            now = datetime.now(UTC).isoformat(timespec="milliseconds")
            record = AuditRecord(
                seq=last.seq + 1 if last else 1,
                time=now.replace("+00:00", "Z"),
                actor=str(actor),
                action=str(action),
                reason=reason or None,
                case=case or None,
                details=details,
                prev=last.hash if last else ZERO_HASH,
            )
            record = AuditRecord(**{**record.to_dict(), "hash": record.compute_hash()})
            line = record.line()
            if os.write(fd, line) != len(line):
                raise AuditError(f"short write to {self.path}")
            os.fsync(fd)
            self._write_head(record)
        finally:
            os.close(fd)  # releases the lock
        log.info("audit %d: %s %s", record.seq, record.actor, record.action)
        return record

    def _last_record(self, fd: int) -> AuditRecord | None:
        size = os.fstat(fd).st_size
        if size == 0:
            return None
        if os.pread(fd, 1, size - 1) != b"\n":
            raise AuditError(
                f"audit log {self.path} ends in an incomplete line (a torn write?); "
                "run `facelab audit verify` before adding to it"
            )
        start, block = size - 1, b""
        while start > 0 and b"\n" not in block:
            step = min(4096, start)
            start -= step
            block = os.pread(fd, step, start) + block
        line = block.rsplit(b"\n", 1)[-1] if b"\n" in block else block
        try:
            return _parse(line, 0)
        except ValueError:
            raise AuditError(
                f"the last line of audit log {self.path} is damaged; "
                "run `facelab audit verify` before adding to it"
            ) from None

    def _write_head(self, record: AuditRecord) -> None:
        text = _canonical({"count": record.seq, "hash": record.hash}) + "\n"
        write_atomic(self.head_path, text.encode("ascii"))

    # ---------------------------------------------------------------- reading

    def _lines(self) -> list[bytes]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise AuditError(f"cannot read audit log {self.path}: {exc.strerror or exc}") from None
        return data.split(b"\n")  # last item is b"" when the file ends in a newline

    def records(self) -> list[AuditRecord]:
        """Every record in file order (an absent log has none).

        Raises
        ------
        AuditError
            If a line cannot be parsed (naming the line), or the log cannot be read.
        """
        lines = self._lines()
        out = []
        for i, raw in enumerate(lines, start=1):
            if i == len(lines) and raw == b"":
                break
            try:
                out.append(_parse(raw, i))
            except ValueError as exc:
                raise AuditError(f"audit log {self.path}: {exc}") from None
        return out

    def verify(self) -> AuditReport:
        """Check every line and link of the chain, and the chain's end against ``audit.head``.

        Detects edited fields, deleted, inserted, duplicated and reordered records, bytes
        flipped anywhere, a torn or missing last line, and records cut off the end.

        Returns
        -------
        AuditReport
            ``ok`` and the record count, or the first bad line and what is wrong with it.
        """
        lines = self._lines()
        complete = not lines or lines[-1] == b""
        body = lines[:-1] if lines and complete else lines
        hashes = [ZERO_HASH]
        for i, raw in enumerate(body, start=1):
            if i == len(body) and not complete:
                return AuditReport(
                    False, i - 1, i, f"line {i} is incomplete (torn write or truncated file)"
                )
            try:
                rec = _parse(raw, i)
            except ValueError as exc:
                return AuditReport(False, i - 1, i, str(exc))
            if rec.line() != raw + b"\n":
                return AuditReport(False, i - 1, i, f"line {i} is not in canonical form (altered)")
            if rec.hash != rec.compute_hash():
                return AuditReport(
                    False, i - 1, i, f"record {i} was altered (its hash does not match its fields)"
                )
            if rec.seq != i:
                what = "missing before it" if rec.seq > i else "inserted, duplicated or reordered"
                return AuditReport(
                    False, i - 1, i, f"line {i} holds seq {rec.seq}, expected {i} (records {what})"
                )
            if rec.prev != hashes[-1]:
                return AuditReport(
                    False,
                    i - 1,
                    i,
                    f"record {i} does not link to the record before it "
                    "(records deleted, inserted or reordered)",
                )
            hashes.append(rec.hash)
        return self._check_head(hashes)

    def _check_head(self, hashes: list[str]) -> AuditReport:
        """Compare the verified chain (``hashes[k]`` = hash of record k) with the anchor."""
        count = len(hashes) - 1
        try:
            head = json.loads(self.head_path.read_text(encoding="ascii"))
            n_head, h_head = int(head["count"]), str(head["hash"])
            if n_head < 0:
                raise ValueError(n_head)
        except FileNotFoundError:
            if count == 0:
                return AuditReport(True, 0)
            return AuditReport(
                False,
                count,
                None,
                f"anchor {self.head_path.name} is missing, so records cut "
                "from the end could not be detected",
            )
        except (OSError, ValueError, TypeError, KeyError):
            return AuditReport(False, count, None, f"anchor {self.head_path.name} is unreadable")
        if count < n_head:
            return AuditReport(
                False,
                count,
                count + 1,
                f"the log ends after {count} records but its anchor records {n_head} "
                "(records cut from the end)",
            )
        if n_head > 0:
            # Records after the anchor are allowed: a crash between the append and the anchor
            # update leaves one, and anyone who may append can add more through this API.
            if hashes[n_head] != h_head:
                return AuditReport(
                    False,
                    n_head - 1,
                    n_head,
                    f"record {n_head} differs from the anchored one (the chain was rewritten)",
                )
        return AuditReport(True, count)
