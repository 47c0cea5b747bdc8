"""CLI commands: synth."""

from facelab.cli._app import app  # noqa: F401
