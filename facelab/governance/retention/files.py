"""The run's files that retention deletes or checks: frame day folders, clips, ``held.faiss``.

Frames live in ``RUN/frames/day-NNN/``, clips in ``RUN/clips/`` (named ``*-dNNN*`` for their
day), day shards in ``RUN/archive/day-NNNN.faiss`` (:mod:`facelab.search.archive`) and the
embeddings retained past the archive window in ``RUN/held.faiss``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from facelab.errors import RetentionError
from facelab.governance.retention.proof import DeletionProof

HELD_INDEX = "held.faiss"
"""Embeddings retained past the archive window (case holds, longer matched retention)."""
CLIPS_DIR = "clips"

_FRAME_DAY_RE = re.compile(r"^day-(\d{3,})$")
_CLIP_DAY_RE = re.compile(r"-d(\d{3,})")
_HELD_TMP_RE = re.compile(r"^\.held\.faiss\..+\.tmp$")
SHARD_RE = re.compile(r"^day-(\d{4,})\.faiss$")


def file_size(path: Path) -> int:
    """Size in bytes; 0 for a missing file."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def db_bytes(path: Path) -> int:
    """Size of a SQLite database and its WAL."""
    return sum(file_size(path.with_name(path.name + s)) for s in ("", "-wal"))


def unlink(path: Path, proof: DeletionProof | None, ref: str) -> int:
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


def held_temp_files(run: Path) -> list[Path]:
    """Temporary files a crash while writing ``held.faiss`` left behind."""
    return [p for p in run.iterdir() if _HELD_TMP_RE.match(p.name)]


def frame_day_dirs(frames: Path) -> list[tuple[int, Path]]:
    """``(day, folder)`` of every ``day-NNN`` folder under ``frames``, by day."""
    if not frames.is_dir():
        return []
    out = []
    for p in frames.iterdir():
        m = _FRAME_DAY_RE.match(p.name)
        if m and p.is_dir():
            out.append((int(m.group(1)), p))
    return sorted(out)


def clip_files(run: Path) -> list[tuple[int, Path]]:
    """``(day, file)`` of every clip of the run."""
    folder = run / CLIPS_DIR
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.rglob("*")):
        m = _CLIP_DAY_RE.search(p.name)
        if m and p.is_file():
            out.append((int(m.group(1)), p))
    return out


def all_files(run: Path) -> list[Path]:
    """Every file under ``run``, in a stable order."""
    out = []
    for root, dirs, files in os.walk(run):
        dirs.sort()
        for name in sorted(files):
            out.append(Path(root) / name)
    return out
