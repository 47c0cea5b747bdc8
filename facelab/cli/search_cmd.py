"""CLI commands: search."""

from facelab.cli._app import app  # noqa: F401
