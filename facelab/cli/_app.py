"""The typer application object shared by the command modules, and the error boundary."""

from __future__ import annotations

import logging
import sys

import typer

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_errors

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

    Click's usage errors (unknown options, missing arguments, values click itself refuses) are
    printed the same way, as one ``error: …`` line with exit code 2, and an ``OSError`` the
    system raised for a file (a read-only folder, a full disk) as one line with exit code 1;
    ``--help``, ``typer.Exit`` and a bare ``facelab`` (which shows the help) behave as in
    click's standalone mode.
    """
    try:
        rc = app(standalone_mode=False)
    except FacelabError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click_errors.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(exc.exit_code)
        message = " ".join(exc.format_message().split())
        command = exc.ctx.command_path if exc.ctx is not None else "facelab"
        print(f"error: {message} (see '{command} --help')", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # the system refused a file: a read-only folder, a full disk, ...
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(rc if type(rc) is int else 0)  # typer.Exit's code; a command's own value: 0
