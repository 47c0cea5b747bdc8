"""CLI commands: world."""

from facelab.cli._app import app  # noqa: F401
