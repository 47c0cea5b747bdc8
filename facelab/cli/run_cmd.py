"""CLI commands: run."""

from facelab.cli._app import app  # noqa: F401
