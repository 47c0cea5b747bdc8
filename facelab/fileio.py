"""Crash-safe file writes (a temporary file beside the target, fsync, then an atomic rename),
and the one gate for reading a file a user names (:func:`read_user_file`)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from facelab.errors import FacelabError


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (best effort where directories can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: bytes | str, *, mode: int = 0o644) -> Path:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    A ``str`` is written as UTF-8. The temporary file (``.NAME.*.tmp``) is removed on failure.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "is not a regular file"


def read_user_file(
    path: str | Path, *, max_bytes: int, error: type[FacelabError], prefix: str
) -> bytes:
    """Read a file a user names, whole, refusing by type and size before reading.

    The file is opened without following it into a blocking open (``O_NONBLOCK``: a FIFO
    never hangs), then checked with ``fstat`` on the open descriptor: a directory, FIFO,
    socket or device (a symlink is followed and its target checked) is refused, as is a file
    over ``max_bytes``; at most ``max_bytes + 1`` bytes are ever read, so a file that grows
    while it is read is refused too.

    Parameters
    ----------
    path : str or Path
    max_bytes : int
        Largest accepted size.
    error : type of FacelabError
        Raised with the one-line message ``f"{prefix}: {problem}"``.
    prefix : str
        Start of every message (it names the file).

    Raises
    ------
    error
        Not found, permission denied, not a regular file, too large, or unreadable.
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"{prefix}: file not found") from None
    except PermissionError:
        raise error(f"{prefix}: permission denied") from None
    except IsADirectoryError:
        raise error(f"{prefix}: is a directory") from None
    except OSError as exc:
        raise error(f"{prefix}: cannot open file ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{prefix}: {_kind(st.st_mode)}")
        if st.st_size > max_bytes:
            raise error(f"{prefix}: file too large ({st.st_size} bytes; at most {max_bytes})")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise error(f"{prefix}: file too large (more than {max_bytes} bytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{prefix}: cannot read file ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
