"""Proof of deletion: fingerprints of purged bytes, and a scan of every file for them.

Keeping the purged embeddings or frames anywhere, even "for the proof", would defeat the
deletion; keeping only their hashes (SHA-256 of each file) cannot find a copy of them elsewhere.
So a purge can hand out a :class:`DeletionProof` of *fingerprinted needles*: byte strings that
any surviving copy would contain verbatim, each stored only as its length, a 64-bit polynomial
rolling hash and a salted SHA-256 (a random salt per proof file). Needles per purged item:

* embedding: its bytes as stored (:mod:`~facelab.governance.retention.faiss_bytes`; 512 raw
  float32 bytes in a flat shard or ``held.faiss``), and their first 64 bytes, which also catch a
  partial or truncated copy;
* frame file: windows of 256 bytes every KiB of its compressed image data (a JPEG's scan data,
  a PNG's ``IDAT``; at most 64, spread evenly over larger files), so a copy of the file, or of
  a long enough run of its image data, is found;
* frame row: the frame id, stored as text in the ``frames``, ``sightings`` and ``alerts`` rows,
  so a row left in a free page, in a page's slack or in a stale WAL frame would show. This is a
  *reference* needle: it is not looked for in the audit log, which keeps references to what was
  done by design (never embeddings or image bytes, which are looked for there too).

:meth:`DeletionProof.scan_file` slides a window of each needle length over every byte of a file:
numpy computes the rolling hash of all windows of a block at once from prefix sums mod 2**64, a
bitmap of the needles' top 20 hash bits sieves them, and a hash that matches a needle's is
confirmed with the salted SHA-256 (about 15 MB/s on one core). An exact copy always has the
needle's hash (no false negatives); a false positive would need a SHA-256 collision. The proof
holds 40 bytes of one-way digests per needle: it cannot give a vector or an image back (a match
needs the exact bytes), so it can be handed to an auditor; the frame ids in it are low-entropy
metadata (camera and second) and could be guessed from it.

What this does not prove: transformed copies (a re-encoded image, a float64 or quantised copy of
a vector) and bytes outside the run directory (backups, the OS page cache, disk blocks freed by
unlinking but not overwritten; wiping those is the file system's and the disk's business). A
proof lacks the needles of files that a killed purge had deleted before the purge that finished
it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from collections import Counter
from pathlib import Path

import numpy as np

from facelab.errors import ImageError, RetentionParameterError
from facelab.fileio import write_atomic
from facelab.run.store import AUDIT_LOG, RunStore

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
        for off in frame_windows(data):
            self.add("frame", data[off : off + FRAME_WINDOW], ref)

    def add_frame_id(self, frame_id: str) -> None:
        """Needle of one purged frame row: its id as stored in the database rows."""
        self.add("frame-id", frame_id.encode("utf-8"), frame_id)

    def kinds(self) -> Counter:
        return Counter(k for table in self._needles.values() for v in table.values()
                       for _, k, _ in v)  # fmt: skip

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
    def from_dict(cls, d: dict, name: str = "<proof>") -> DeletionProof:
        if not isinstance(d, dict) or d.get("format") != PROOF_FORMAT:
            raise RetentionParameterError(f"{name} is not a facelab deletion proof")
        if d.get("version") != PROOF_VERSION:
            raise RetentionParameterError(f"{name}: unsupported proof version {d.get('version')!r}")
        try:
            proof = cls(bytes.fromhex(d["salt"]), d.get("run"))
            for n in d["needles"]:
                proof._insert(int(n["len"]), int(n["rh"], 16), bytes.fromhex(n["sha"]),
                              str(n["kind"]), str(n.get("ref", "")))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise RetentionParameterError(f"{name}: malformed deletion proof ({exc})") from None
        return proof

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file, fsync, rename)."""
        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def load(cls, path: str | Path) -> DeletionProof:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="ascii"))
        except FileNotFoundError:
            raise RetentionParameterError(f"deletion proof not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise RetentionParameterError(f"unreadable deletion proof {path}: {exc}") from None
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


def frame_windows(data: bytes) -> list[int]:
    """Offsets of 256-byte windows every KiB inside a frame's compressed image data (a PNG's
    IDAT payloads, a JPEG's scan data: never the headers that every frame shares; the whole file
    for anything else), at most 64 (then spread evenly)."""
    from facelab.imageio import JPEG_SOI, jpeg_segments  # cv2: imported when first needed

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


def run_identity(store_or_path) -> str:
    """The identity of a run a proof belongs to: its ``run.json`` creation time and fingerprint."""
    path = store_or_path.path if isinstance(store_or_path, RunStore) else Path(store_or_path)
    meta = json.loads((path / "run.json").read_text())
    return f"{meta.get('created')}/{meta.get('fingerprint')}"
