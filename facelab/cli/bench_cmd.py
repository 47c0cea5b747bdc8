"""CLI commands: bench."""

from facelab.cli._app import app  # noqa: F401
