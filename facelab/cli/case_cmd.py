"""CLI command: `facelab case NAME` — re-run a published case and compare headlines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facelab.cli import options
from facelab.cli._app import app


@app.command("case")
def case_cmd(
    name: Annotated[
        str | None,
        typer.Argument(help="aclu-congress, cardiff-2017, npl-lfr or metro; omit to list them."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for the case's runs (resumed if there).")
    ] = Path("runs/cases"),
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    fmt: options.TextOrJson = "text",
    system: Annotated[
        str | None,
        typer.Option(
            help="A system profile (facelab profiles): print the case's published points beside "
            "the profile's and sface-synthetic's figures (score models; no run)."
        ),
    ] = None,
) -> None:
    """Re-run a published deployment on synthetic people; print its headline beside the published one."""
    from facelab.cli.formats import print_json
    from facelab.cli.run_cmd import run_with_progress
    from facelab.lab.cases import CASES, run_case

    if name is None:
        if fmt == "json":
            print_json([{"name": c.name, "title": c.title} for c in CASES.values()])
            return
        for c in CASES.values():
            print(f"{c.name:14s} {c.title}")
        return
    if system is not None:
        from facelab import api

        comparison = api.case(name, system=system)
        if fmt == "json":
            print_json(comparison.to_json())
        else:
            print(comparison.text())
        return
    result = run_case(
        name, out / name,
        run=lambda sc, path: run_with_progress(sc, path, None, device, quiet=fmt == "json"),
    )  # fmt: skip
    if fmt == "json":
        print_json(result)
        return
    print(result.text())
    for label, path in result.runs.items():
        print(f"run {label:10s} {path}  (facelab sweep / report work on it)")
