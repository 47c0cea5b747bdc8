"""The typer application object shared by the command modules, and the error boundary."""

from __future__ import annotations

import logging
import sys

import typer

from facelab.errors import FacelabError

app = typer.Typer(
    name="facelab",
    help="A face-search simulation lab with synthetic people only.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details."),
) -> None:
    """facelab: measure what city face search does, on synthetic people."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Console entry point: run the app, turning FacelabError into one line and an exit code.

    Usage errors, ``--help`` and ``typer.Exit`` are handled by click's standalone mode.
    """
    try:
        app()
    except FacelabError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(exc.exit_code)
