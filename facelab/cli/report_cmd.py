"""CLI command: `facelab report RUN` — one self-contained HTML report of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facelab.cli import options
from facelab.cli._app import app
from facelab.lab.metrics import SECONDS_PER_CANDIDATE
from facelab.lab.sweep import DEFAULT_THRESHOLDS
from facelab.search.percent import MAPPINGS


@app.command("report")
def report_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory (from `facelab run`).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write (default RUN/report.html)."),
    ] = None,
    thresholds: Annotated[
        str, typer.Option(help="Percent thresholds of the tables: 65, 50,60,70 or start:stop:step.")
    ] = DEFAULT_THRESHOLDS,
    mapping: Annotated[
        str, typer.Option(help=f"Percent mapping: {', '.join(MAPPINGS)}.")
    ] = "linear",
    rank: Annotated[
        int,
        typer.Option(
            parser=options.count("--rank"), help="Rank for FNIR (mate within the first R)."
        ),
    ] = 1,
    seconds_per_candidate: Annotated[
        float,
        typer.Option(
            parser=options.number("--seconds-per-candidate", 0, 86400, lo_open=True),
            help="Human review time per alert, in seconds.",
        ),
    ] = SECONDS_PER_CANDIDATE,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the report file if it exists.")
    ] = False,
) -> None:
    """Write a self-contained HTML report of a run; open it in a browser.

    Figures, tables with counts and 95 % intervals, and faces of false matches.
    """
    from facelab.lab.report.html import write_report

    path = write_report(
        run, out, thresholds=thresholds, mapping=mapping, rank=rank,
        seconds_per_candidate=seconds_per_candidate, force=force,
    )  # fmt: skip
    print(f"Report: {path} — open it in a browser")
