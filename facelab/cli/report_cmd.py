"""CLI commands: report."""

from facelab.cli._app import app  # noqa: F401
