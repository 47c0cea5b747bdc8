"""The console's guards: who may connect, which requests may change state, which files are served.

* **Hosts.** Bound to a loopback address (the default), the console answers only requests whose
  ``Host`` header names loopback (``127.0.0.1``, ``localhost``, ``[::1]``), which also stops DNS
  rebinding. Bound to any other address, every request needs the access token printed at start
  (Jupyter's model): ``?token=…`` once (then kept in an HttpOnly cookie), the cookie, or an
  ``Authorization: token …`` header.
* **Cross-site requests.** Every state-changing request (``POST``...) must carry the header
  ``X-CSRF-Token`` equal to the HMAC of the browser's session cookie under a secret made at
  start; pages carry it in ``<meta name="csrf-token">``. A cross-site page can neither read it
  nor set the header. A present ``Origin`` header must also name the console itself.
* **Files.** Only images under the run's ``frames/`` and ``watchlist/`` folders, after resolving
  symbolic links, so no ``..`` or link leads outside them (:func:`safe_file`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

TOKEN_COOKIE = "facelab_token"
SESSION_COOKIE = "facelab_session"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SERVED_DIRS = ("frames", "watchlist")
"""Folders of the run directory whose images the console serves."""
SERVED_SUFFIXES = (".jpg", ".jpeg", ".png")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def is_loopback(host: str) -> bool:
    """Whether a bind address (or host name) is loopback only."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name part of a ``Host`` header (``127.0.0.1:8000`` → ``127.0.0.1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass
class Guard:
    """The secrets and rules of one console process.

    Parameters
    ----------
    host : str
        The address the server binds to.
    token : str, optional
        Access token; made at random when the host is not loopback (``None`` on loopback).
    """

    host: str
    token: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        if self.token is None and not is_loopback(self.host):
            self.token = secrets.token_urlsafe(24)

    @property
    def needs_token(self) -> bool:
        return self.token is not None

    def host_allowed(self, host_header: str) -> bool:
        """On loopback, only loopback names in ``Host``; elsewhere any (the token guards)."""
        if self.needs_token:
            return True
        return is_loopback(_host_name(host_header)) if host_header else False

    def token_ok(self, presented: str | None) -> bool:
        if not self.needs_token:
            return True
        return bool(presented) and hmac.compare_digest(str(presented), str(self.token))

    def csrf_for(self, session: str) -> str:
        """The CSRF token of a browser session."""
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str | None, presented: str | None) -> bool:
        if not session or not presented:
            return False
        return hmac.compare_digest(self.csrf_for(session), str(presented))

    @staticmethod
    def new_session() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def origin_ok(origin: str | None, host_header: str) -> bool:
        """A present ``Origin`` must be this console (scheme-less comparison of host:port)."""
        if origin is None:
            return True
        if origin == "null":
            return False
        return urlsplit(origin).netloc.lower() == host_header.strip().lower()


def safe_file(run: Path, rel: str) -> Path | None:
    """The file ``rel`` (relative to the run directory) if the console may serve it, else None.

    Served: existing regular files with an image suffix under one of :data:`SERVED_DIRS`,
    after every symbolic link is resolved. Refused: absolute paths, ``..``, backslashes, NUL,
    hidden names, anything resolving outside those folders.
    """
    if not rel or "\\" in rel or "\x00" in rel:
        return None
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    if parts[0] not in SERVED_DIRS or any(p.startswith(".") for p in parts):
        return None
    if PurePosixPath(rel).suffix.lower() not in SERVED_SUFFIXES:
        return None
    root = run.resolve()
    try:
        full = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    base = (root / parts[0]).resolve()
    if not full.is_relative_to(base) or not base.is_relative_to(root) or not full.is_file():
        return None
    return full
