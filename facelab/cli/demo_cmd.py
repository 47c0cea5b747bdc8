"""CLI command: `facelab demo` — the classroom city end to end, ending with an HTML report.

Checks (and if needed fetches) the models, runs the ``classroom`` preset (resuming a run
already there), prints its summary and a compact 50–80 % sweep, and writes the report.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from facelab.cli._app import app

DEMO_OUT = Path("runs") / "demo"


def _remove_old_run(out: Path) -> None:
    """Delete a previous demo run; refuse anything that is not a facelab run directory."""
    from facelab.run.store import require_run

    if not out.exists():
        return
    require_run(out)  # RunError if this is not a run: never delete someone's folder
    shutil.rmtree(out)
    print(f"removed the old demo run in {out}")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory of the demo.")] = DEMO_OUT,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete a previous demo run in --out and start over.")
    ] = False,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    serve: Annotated[
        bool, typer.Option("--serve", help="Then open the classroom console on the demo run.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Console port (with --serve).")] = 8000,
) -> None:
    """Build the classroom city, run it, sweep 50–80 %, write the HTML report.

    About a minute on a two-core laptop, plus the one-time model download.

    Started again, it resumes the existing run instead of redoing it.
    """
    from facelab.api import DEMO_SCENARIO, DEMO_THRESHOLDS, demo_backend
    from facelab.cli.run_cmd import print_summary, run_with_progress
    from facelab.cli.sweep_cmd import compact_text, header_text
    from facelab.config.scenario import load_scenario
    from facelab.lab.report.facts import run_facts
    from facelab.lab.report.html import write_report
    from facelab.lab.scores import load_scores
    from facelab.lab.sweep import run_mapping, sweep_run
    from facelab.run.store import RunStore
    from facelab.vision import models

    started = time.perf_counter()
    if fresh:
        _remove_old_run(out)
    status = models.fetch()
    if any(state != "ok" for state in status.values()):
        print("models fetched and converted: " + ", ".join(sorted(status)))
    scenario = load_scenario(DEMO_SCENARIO)
    print(f"facelab demo: {scenario.description}")
    summary = run_with_progress(scenario, out, None, device, backend=demo_backend(out))
    print()
    print_summary(summary)

    with RunStore(out) as store:
        scores = load_scores(store)
        facts = run_facts(store, scores)
        mapping = run_mapping(scores, "linear")
        table = sweep_run(scores, DEMO_THRESHOLDS, mapping)
        print()
        print(header_text(facts, mapping), end="")
        print(compact_text(table, best_true_score=scores.best_true_score, days=facts.held_days,
                           one_to_one=False), end="")  # fmt: skip
        print(f"(more: facelab sweep {out} --by camera-kind, --mapping sigmoid or log-fmr)")
        report = write_report(store, thresholds=DEMO_THRESHOLDS, mapping=mapping, force=True)
    print()
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    print(f"Report: {report} — open it in a browser")
    if not serve:
        print(f"Console: facelab serve {out} — the operator's seat in a browser")
    if serve:
        from facelab.cli.serve_cmd import start_console

        print()
        start_console(out, port=port, device=device)
