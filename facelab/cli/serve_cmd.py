"""CLI command: `facelab serve RUN` — the classroom console in a web browser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facelab.cli._app import app


@app.command("serve")
def serve_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory (from `facelab run`).")],
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to bind. Loopback by default; any other address requires the "
            "access token printed at start.",
        ),
    ] = "127.0.0.1",
    device: Annotated[str, typer.Option(help="Where searches embed: cpu, cuda or auto.")] = "cpu",
) -> None:
    """Serve the classroom console: operator, threshold, search and retention views.

    Every decision, search and purge made in the console is written by the same functions as
    `facelab review`, `facelab search` and `facelab purge`, to the same audit log. Stop with
    Ctrl-C.
    """
    start_console(run, host=host, port=port, device=device)


def start_console(run: Path, *, host: str = "127.0.0.1", port: int = 8000, device: str = "cpu"):
    """Print the console's URL (with its token off loopback) and serve until Ctrl-C."""
    from facelab.serve.app import create_app
    from facelab.serve.server import Address, listen, serve

    application = create_app(run, host=host, device=device)
    sock = listen(host, port)  # an address that cannot be used is refused before the URL
    port = sock.getsockname()[1]
    addr = Address(host, port, application.state.console.guard.token)
    print(f"facelab console for {run}")
    print(f"open {addr.url}")
    if addr.token:
        print(
            "the token is required from any host but loopback: share the URL only with your class"
        )
    serve(application, host, port, sock)
