"""CLI commands: audit."""

from facelab.cli._app import app  # noqa: F401
