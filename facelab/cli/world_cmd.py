"""CLI commands: world — build a scenario's ground truth and print its summary."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from facelab.cli._app import app

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
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    days: int | None = typer.Option(None, "--days", help="Override the number of days."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Build a scenario's ground truth (people, cameras, schedule) and summarise it."""
    from facelab.config.scenario import load_scenario
    from facelab.world.world import build_world

    sc = load_scenario(scenario)
    overrides = {k: v for k, v in (("seed", seed), ("days", days)) if v is not None}
    if overrides:
        sc = sc.with_overrides(**overrides)
    summary = build_world(sc).summary()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"facelab world: {sc.name}", show_header=False, box=None)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(_LABELS.get(key, key), str(value) if key == "seed" else _fmt(value))
    console = Console()
    console.print(table)
    if sc.description:
        console.print(sc.description, highlight=False)
