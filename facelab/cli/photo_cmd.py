"""CLI command: `facelab photo RUN PERSON --out FILE` — a fresh signed photo of a person."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facelab.cli import options
from facelab.cli._app import app


@app.command("photo")
def photo_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory (made by `facelab run`).")],
    person: Annotated[
        str,
        typer.Argument(
            help="Person id of the run's world, or a scenario watchlist label (WL-0001); "
            "`facelab world SCENARIO --people` lists ids worth trying.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", dir_okay=False, help="PNG file to write.")],
    take: Annotated[
        int,
        typer.Option(
            "--take",
            parser=options.count("--take"),
            help="Which fresh photo of the person (1, 2, …).",
        ),
    ] = 1,
    fmt: options.TextOrJson = "text",
) -> None:
    """Write a fresh signed synthetic photo of a person of the run's world.

    The photo is made as the scenario's watchlist photos are (same generator, same variation)
    but from its own seed stream, so it is another picture of the person, never the enrolled
    one. Use it with `facelab enroll` and `facelab search`.
    """
    from facelab import api
    from facelab.cli.formats import print_json

    p = api.open_run(run).photo(person, out, take=take)
    if fmt == "json":
        print_json(p)
        return
    who = f"person {p.identity}" + (f" ({p.label} on the scenario's watchlist)" if p.label else "")
    where = "" if p.in_city else "; never comes to the city"
    print(f"photo of {who}, take {p.take}{where}: {p.path}")
