"""CLI commands: sweep."""

from facelab.cli._app import app  # noqa: F401
