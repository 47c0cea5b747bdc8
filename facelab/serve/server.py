"""Running the console on uvicorn: in the foreground (``facelab serve``) or in a thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from facelab.errors import ConfigError
from facelab.serve.security import is_loopback


@dataclass(frozen=True)
class Address:
    """Where a console listens and the URL to open (with the token when one is needed)."""

    host: str
    port: int
    token: str | None

    @property
    def base(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if not is_loopback(self.host) and self.host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/" + (f"?token={self.token}" if self.token else "")


def _config(app, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="off", server_header=False)  # fmt: skip


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port``, or a ConfigError (one line) when the address
    cannot be resolved or bound (an unknown host, a port in use or reserved)."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"--host {host}: cannot listen there ({_why(exc)})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--host {host} --port {port}: cannot listen there ({_why(exc)})"
        ) from None
    return sock


def _why(exc: Exception) -> str:
    return str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)


def serve(app, host: str, port: int, sock: socket.socket | None = None) -> None:
    """Serve ``app`` until interrupted (on ``sock`` when given: see :func:`listen`)."""
    server = uvicorn.Server(_config(app, host, port))
    server.run(sockets=[sock] if sock is not None else None)


class Background:
    """``with Background(app, host) as addr:`` — the console served from a thread on a free port."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.server = uvicorn.Server(_config(app, host, port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.host = host

    def __enter__(self) -> Address:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the console did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return Address(self.host, int(port), self.app.state.console.guard.token)

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
