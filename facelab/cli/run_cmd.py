"""CLI command: `facelab run SCENARIO --out RUN`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from facelab.cli import options
from facelab.cli._app import app
from facelab.cli.search_cmd import AddressOpt, EngineOpt
from facelab.run.pipeline import RunSummary


def run_with_progress(
    scenario,
    out: Path,
    mode: str | None,
    device: str,
    quiet: bool = False,
    backend: str | None = None,
    engine: str = "local",
    address: str | None = None,
):
    """Run a scenario (:func:`facelab.api.run`) with one progress bar per simulated day."""
    from facelab import api

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, disable=quiet, transient=False) as bar:
        tasks: dict[int, int] = {}

        def on_progress(day: int, done: int, total: int) -> None:
            if day not in tasks:
                tasks[day] = bar.add_task(f"day {day + 1}/{scenario.days}", total=max(total, 1))
            bar.update(tasks[day], completed=done, total=max(total, 1))

        return api.run(
            scenario, out, mode=mode, device=device, backend=backend, on_progress=on_progress,
            engine=engine, address=address,
        )  # fmt: skip


def print_summary(s: RunSummary) -> None:
    from facelab.lab.report.text import pct

    where = f"{s.mode} mode, device {s.device}, backend {s.inference}"
    print(f"run directory      {s.path}  ({where})")
    if s.days_skipped:
        print(f"resumed            {s.days_skipped} day(s) already done were kept")
    print(f"days simulated     {len(s.days)}")
    print(f"watchlist entries  {s.watchlist}")
    print(f"frames rendered    {s.total('frames')}")
    print(f"sightings          {s.total('sightings')}  (faces detected and searched)")
    print(
        f"alerts             {s.total('alerts')}  (waiting for manual review: facelab alerts {s.path})"
    )
    print(f"time               {s.seconds:.1f} s  ({s.faces_per_s:.1f} faces/s)")
    truth, found = s.total("faces_truth"), s.total("faces_found")
    if truth:
        print(
            f"ground truth (lab) {found}/{truth} faces at FR cameras were detected "
            f"({pct(found / truth)})"
        )


@app.command("run")
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario preset name or TOML file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to create or resume.")],
    mode: Annotated[
        str | None, typer.Option(help="image or embedding (default: the scenario's).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    backend: Annotated[
        str | None,
        typer.Option(
            help="auto, onnxruntime or openvino: where the models run "
            "(default: the scenario's [detection] backend)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(parser=options.seed(), help="Override the scenario's seed.")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(parser=options.count("--days"), help="Override the number of days."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            metavar="PCT",
            help="Override the alert threshold in percent (thresholds.alert_percent; "
            "cameras with their own per_camera value keep it).",
        ),
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(
            "--system",
            metavar="PROFILE",
            help="Emulate a deployed system (facelab profiles): embedding mode, candidate "
            "scores carried onto the profile's score scale, alerts on its percent "
            "([system] profile).",
        ),
    ] = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
) -> None:
    """Simulate a scenario day by day: render, detect, embed, search, alert, archive.

    Started again with the same command after an interruption, it resumes where it stopped.
    """
    from facelab import api

    sc = api.load_scenario(scenario, seed=seed, days=days, threshold=threshold, system=system)
    print_summary(
        run_with_progress(sc, out, mode, device, backend=backend, engine=engine, address=address)
    )
    if sc.system.profile is not None:
        print(
            f"system profile     {sc.system.profile}: scores on its scale, alerts at "
            f"{sc.thresholds.alert_percent:g} % ({sc.thresholds.mapping} percent)"
        )
