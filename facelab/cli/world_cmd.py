"""CLI commands: world — build a scenario's ground truth and print its summary."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from facelab.cli import options
from facelab.cli._app import app
from facelab.cli.formats import print_table

_LABELS = {
    "scenario": "scenario",
    "seed": "seed",
    "mode": "mode",
    "start": "start date",
    "days": "days",
    "people": "people",
    "commuters": "  of whom commuters",
    "stations": "stations",
    "cameras": "cameras",
    "fr_cameras": "  of which face recognition (FR)",
    "watchlist_size": "watchlist entries",
    "watchlist_in_city": "  of whom live in the city",
    "passes_total": "camera passes",
    "passes_per_day_mean": "  per day (mean)",
    "fr_passes_total": "passes at FR cameras (faces to search)",
    "fr_passes_per_day_mean": "  per day (mean)",
    "fr_frames_total": "frames at FR cameras",
    "watchlisted_passes_total": "passes by watchlisted people",
    "watchlisted_fr_passes_total": "  at FR cameras (possible true alerts)",
    "watchlisted_fr_passes_per_day_mean": "  per day (mean)",
    "alert_percent": "alert threshold (%)",
    "retention_days": "archive retention (days)",
    "fingerprint": "ground-truth fingerprint",
}


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    return str(v)


@app.command("world")
def world(
    scenario: str = typer.Argument(..., help="Preset name (classroom, metro) or path to a .toml."),
    seed: int | None = typer.Option(
        None, "--seed", parser=options.seed(), help="Override the scenario's seed."
    ),
    days: int | None = typer.Option(
        None, "--days", parser=options.count("--days"), help="Override the number of days."
    ),
    fmt: options.TextOrJson = "text",
    people: bool = typer.Option(
        False, "--people", help="Also list person ids worth a photo (`facelab photo`)."
    ),
) -> None:
    """Build a scenario's ground truth (people, cameras, schedule) and summarise it."""
    from facelab import api

    sc = api.load_scenario(scenario, seed=seed, days=days)
    world = api.world(sc)
    summary = world.summary()
    to_try = api.people(world) if people else None
    if fmt == "json":
        print(json.dumps(summary if to_try is None else {**summary, "people": to_try}, indent=2))
        return
    table = Table(title=f"facelab world: {sc.name}", show_header=False, box=None)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(_LABELS.get(key, key), str(value) if key == "seed" else _fmt(value))
    console = Console()
    print_table(table, console)
    if sc.description:
        console.print(sc.description, highlight=False)
    if to_try is not None:
        _print_people(to_try, scenario)


def _print_people(to_try: dict, scenario: str) -> None:
    """The watchlist's people and the busiest FR passers, with the photo command to try."""
    print()
    print("people worth a photo (facelab photo RUN PERSON --out photo.png):")
    for w in to_try["watchlist"]:
        where = f"{w['fr_passes']} FR passes" if w["in_city"] else "never in the city"
        print(f"  {w['person']:>7}  {w['label']:<10} watchlisted, {where}")
    for p in to_try["fr_passers"]:
        print(f"  {p['person']:>7}  {'':<10} not watchlisted, {p['fr_passes']} FR passes")
