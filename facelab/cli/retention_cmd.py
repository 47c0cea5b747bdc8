"""CLI commands: retention."""

from facelab.cli._app import app  # noqa: F401
