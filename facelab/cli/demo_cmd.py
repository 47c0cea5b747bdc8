"""CLI commands: demo."""

from facelab.cli._app import app  # noqa: F401
