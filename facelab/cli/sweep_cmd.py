"""CLI command: `facelab sweep RUN` — error rates and workload at each percent threshold.

Reads the run's stored scores only (nothing is re-embedded), so it takes seconds even over
millions of stored comparisons. ``--format table`` prints a short header about the run and
compact blocks that fit a 100–120 column terminal; ``csv`` and ``json`` print the full
:class:`~facelab.lab.sweep.SweepTable` (every rate with its count, total and 95 % interval). The
same run always gives the same bytes.
"""

from __future__ import annotations

import json
import math
import textwrap
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from facelab.cli import options
from facelab.cli._app import app
from facelab.errors import ConfigError
from facelab.lab.metrics import SECONDS_PER_CANDIDATE, Rate, targets_found
from facelab.lab.passes import load_passes
from facelab.lab.report.facts import RunFacts, run_facts
from facelab.lab.report.text import pct
from facelab.lab.scores import load_scores
from facelab.lab.sweep import DEFAULT_THRESHOLDS, SweepTable, run_mapping, sweep_run
from facelab.lab.watchlists import AS_SEARCHED, CURRENT, DESCRIPTIONS
from facelab.run.store import RunStore
from facelab.search.percent import MAPPINGS, PercentMapping


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class By(str, Enum):
    camera_kind = "camera-kind"
    group = "group"


class Watchlist(str, Enum):
    as_searched = AS_SEARCHED
    current = CURRENT


# --------------------------------------------------------------------------- compact text


def _p(x: float) -> str:
    """A proportion as a short percent: 0.0374 → '3.74%', NaN → 'n/a'."""
    return pct(x, sep="")


def _g(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _hours(h: float | None) -> str:
    if h is None or math.isnan(h):
        return "n/a"
    if h == 0:
        return "0"
    if h < 1:
        return f"{h * 60:.3g} min"
    return f"{_g(h)} h"


def _rate_parts(r: Rate | None, count: bool = True) -> tuple[str, ...]:
    """A rate as aligned parts: value, (95 % interval) and, with ``count``, count/total."""
    if r is None:
        return ("–",)
    lo, hi = _p(r.lo).rstrip("%"), _p(r.hi).rstrip("%")
    parts = (_p(r.value), f"({lo}–{hi})")
    return parts + (f"{r.count:,}/{r.total:,}",) if count else parts


def render_columns(headers: list[str], columns: list[list[Any]]) -> list[str]:
    """Right-aligned plain-text table.

    Each cell is a string or a tuple of parts; the parts of a column are aligned with each
    other (value under value, interval under interval, count under count).
    """
    rendered: list[list[str]] = []
    for col in columns:
        tuples = [c if isinstance(c, tuple) else (c,) for c in col]
        n = max((len(t) for t in tuples), default=1)
        widths = [max((len(t[i]) for t in tuples if len(t) == n), default=0) for i in range(n)]
        out = []
        for t in tuples:
            if len(t) == n:
                out.append(" ".join(p.rjust(w) for p, w in zip(t, widths, strict=True)))
            else:
                out.append(" ".join(t))
        rendered.append(out)
    widths = [
        max([len(h)] + [len(c) for c in col]) for h, col in zip(headers, rendered, strict=True)
    ]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for i in range(len(rendered[0]) if rendered else 0):
        lines.append(
            "  ".join(col[i].rjust(w) for col, w in zip(rendered, widths, strict=True)).rstrip()
        )
    return lines


def compact_text(
    table: SweepTable,
    *,
    best_true_score: np.ndarray | None = None,
    days: int | None = None,
    one_to_one: bool = True,
    mapping_line: bool = True,
) -> str:
    """A sweep as compact text blocks (≤ ~110 columns for runs of up to 10^6 comparisons).

    Blocks: search errors (FPIR, FNIR and, given ``best_true_score``, wanted people found at
    least once); one-to-one comparisons (FMR, FNMR) when present and ``one_to_one``; alerts
    and review work. Each rate reads ``value (95 % interval) count/total``; the share of alerts
    that are false reads ``value (95 % interval)``, its counts being the false and alerts
    columns beside it.
    """
    rows = table.rows
    pcts = [f"{r.percent:g}%" for r in rows]
    out: list[str] = []
    if mapping_line:
        out += [
            f"percent mapping: {table.mapping} ({table.mapping_description})",
            "a percent is a display scale, not a probability; score >= threshold is a match",
            "each rate: value (95% interval) count/total",
            "",
        ]
    headers = ["thresh.", "cosine", "innocent flagged (FPIR)", f"wanted missed (FNIR@{table.rank})"]
    cols: list[list[Any]] = [
        pcts,
        [f"{r.cosine:.4g}" for r in rows],
        [_rate_parts(r.fpir) for r in rows],
        [_rate_parts(r.fnir) for r in rows],
    ]
    if best_true_score is not None and best_true_score.size:
        found = targets_found(best_true_score, [r.cosine for r in rows])
        headers.append("wanted people found")
        cols.append([_rate_parts(f) for f in found])
    out.append("Search errors (1:N, search-level: per detected face)")
    out += render_columns(headers, cols)
    if any(r.pass_fnir is not None for r in rows):
        out += ["", "Pass errors (1:N, pass-level: per pass at a face-recognition camera)"]
        out += render_columns(
            ["thresh.", "innocent passes flagged (pass FPIR)",
             f"wanted passes missed (pass FNIR@{table.rank})"],
            [pcts, [_rate_parts(r.pass_fpir) for r in rows],
             [_rate_parts(r.pass_fnir) for r in rows]],
        )  # fmt: skip
        for k, v in table.definitions().items():
            out += textwrap.wrap(f"{k}: {v}", width=100, subsequent_indent="  ")
    if one_to_one and any(r.fmr is not None for r in rows):
        out += ["", "One-to-one comparisons (1:1)"]
        out += render_columns(
            ["thresh.", "false match (FMR)", "false non-match (FNMR)"],
            [pcts, [_rate_parts(r.fmr) for r in rows], [_rate_parts(r.fnmr) for r in rows]],
        )
    if any(r.alerts is not None for r in rows):
        per = f"{table.seconds_per_candidate:g} s"
        out += ["", f"Alerts and review work (review at {per} per alert)"]
        headers = ["thresh.", "alerts", "true", "false", "false share (95% int.)"]
        cols = [
            pcts,
            [f"{r.alerts:,}" for r in rows],
            [f"{r.true_alerts:,}" for r in rows],
            [f"{r.false_alerts:,}" for r in rows],
            [_rate_parts(r.false_alert_share, count=False) for r in rows],
        ]
        if days:
            headers.append("false/day")
            cols.append([_g(r.false_alerts / days) for r in rows])
        headers += ["false/cam-day", "alerts/search", "review"]
        cols += [
            [_g(r.false_alerts_per_camera_day) for r in rows],
            [_g(r.candidates_per_search) for r in rows],
            [_hours(r.review_hours) for r in rows],
        ]
        out += render_columns(headers, cols)
    return "\n".join(out) + "\n"


def header_text(facts: RunFacts, mapping: PercentMapping) -> str:
    """The short header above a sweep table (run, searches, watchlist, camera-days, 1:1)."""
    lines = [
        f"run        {facts.path}  (scenario {facts.scenario}, {facts.mode} mode, "
        f"{facts.days} day(s))",
        f"searches   {facts.n_searches:,}: {facts.n_mated:,} mated (person on the watchlist), "
        f"{facts.n_nonmated:,} non-mated",
        f"watchlist  {facts.watchlist_size:,} entries; {facts.fr_cameras} FR camera(s) x "
        f"{facts.held_days} day(s) held = {facts.camera_days:,} camera-days; "
        f"top {facts.top_k} candidates kept per search",
    ]
    if facts.purge is not None:
        lines.append(f"purged     {facts.purge.describe()}")
    versions = ", ".join(str(v) for v in facts.watchlist_versions) or "none"
    if facts.watchlist_basis == CURRENT:
        lines.append(
            f"scored     RE-SCORED against today's watchlist (version {versions}), not the "
            "one each search ran against"
        )
    else:
        lines.append(
            f"scored     each search against the watchlist it ran against (version {versions})"
        )
    if facts.inference:
        lines.append(f"models     ran on {facts.inference} (backend, precision; run.json)")
    if facts.system:
        lines.append(f"system     {facts.system}")
    if facts.complete:
        lines.append(
            "1:1        impostor scores complete (every search scored against every entry)"
        )
    else:
        lines.append(
            f"1:1        impostor scores INCOMPLETE: only the top {facts.top_k} of "
            f"{facts.watchlist_size:,} entries were kept per search, so FMR/FNMR are not shown"
        )
        if mapping.name == "log-fmr":
            lines.append(
                "           log-fmr is calibrated on the kept (highest) impostor scores only"
            )
    return "\n".join(lines) + "\n"


def _facts_json(facts: RunFacts) -> dict[str, Any]:
    return {
        "path": str(facts.path),
        "scenario": facts.scenario,
        "mode": facts.mode,
        "days": facts.days,
        "held_days": facts.held_days,
        "purged": None
        if facts.purge is None
        else {
            "purges": facts.purge.purges,
            "days": list(facts.purge.purged_days),
            "deleted": facts.purge.deleted,
        },
        "searches": facts.n_searches,
        "mated_searches": facts.n_mated,
        "nonmated_searches": facts.n_nonmated,
        "watchlist_size": facts.watchlist_size,
        "fr_cameras": facts.fr_cameras,
        "camera_days": facts.camera_days,
        "top_k": facts.top_k,
        "impostor_scores_complete": facts.complete,
        "inference": facts.inference,
        "watchlist": {
            "scored_against": facts.watchlist_basis,
            "versions": list(facts.watchlist_versions),
            "description": DESCRIPTIONS[facts.watchlist_basis],
        },
    }


# --------------------------------------------------------------------------- the command


def sweep_output(
    run: Path,
    thresholds: str = DEFAULT_THRESHOLDS,
    mapping: str = "linear",
    rank: int = 1,
    fmt: str = "table",
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
    by: str | None = None,
    watchlist: str = AS_SEARCHED,
) -> str:
    """Everything ``facelab sweep`` prints, as one string (deterministic for a given run).

    ``watchlist`` :data:`~facelab.lab.watchlists.CURRENT` re-scores the stored candidates
    against today's watchlist; a CSV then starts with a ``watchlist`` column saying so.
    """
    text = _sweep_text(run, thresholds, mapping, rank, fmt, seconds_per_candidate, by, watchlist)
    if fmt == Format.csv.value and watchlist == CURRENT:
        lines = text.splitlines()
        text = "\n".join(["watchlist," + lines[0]] + [f"{CURRENT}," + x for x in lines[1:]]) + "\n"
    return text


def _sweep_text(run: Path, thresholds, mapping, rank, fmt, seconds_per_candidate, by, watchlist):
    """:func:`sweep_output` (same arguments) before a CSV is labelled."""
    if by == By.group.value:
        return _group_text(run, thresholds, mapping, fmt, watchlist)
    with RunStore(run, readonly=True) as store:
        scores = load_scores(store, watchlist)
        facts = run_facts(store, scores)
        passes = load_passes(store, scores)
    m = run_mapping(scores, mapping)
    kw = dict(rank=rank, seconds_per_candidate=seconds_per_candidate, passes=passes)
    table = sweep_run(scores, thresholds, m, **kw)
    groups: dict[str, tuple[int, SweepTable]] = {}
    if by == By.camera_kind.value:
        for kind, n in facts.fr_cameras_by_kind.items():
            groups[kind] = (n, sweep_run(scores, thresholds, m, camera_kind=kind,
                                         camera_days=n * facts.held_days, **kw))  # fmt: skip

    if fmt == Format.csv.value:
        if not groups:
            return table.to_csv()
        lines = []
        for i, (name, t) in enumerate([("all", table)] + [(k, g[1]) for k, g in groups.items()]):
            body = t.to_csv().splitlines()
            if i == 0:
                lines.append("camera_kind," + body[0])
            lines += [f"{name},{line}" for line in body[1:]]
        return "\n".join(lines) + "\n"
    if fmt == Format.json.value:
        doc: dict[str, Any] = {"run": _facts_json(facts)}
        doc.update(json.loads(table.to_json()))
        if groups:
            doc["by_camera_kind"] = {
                k: {"fr_cameras": n, **json.loads(t.to_json())} for k, (n, t) in groups.items()
            }
        return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"

    parts = [header_text(facts, m), compact_text(table, best_true_score=scores.best_true_score,
                                                 days=facts.held_days)]  # fmt: skip
    for kind, (n, t) in groups.items():
        mask = scores.camera_kind == kind
        sub = scores.searches.subset(np.asarray(mask, bool))
        mated = int(sub.mated.sum())
        parts.append(
            f"\n=== cameras of kind {kind}: {n} FR camera(s), {n * facts.held_days:,} camera-days, "
            f"{sub.n_searches:,} searches ({mated:,} mated, {sub.n_searches - mated:,} "
            "non-mated) ===\n"
        )
        parts.append(compact_text(t, days=facts.held_days, one_to_one=False, mapping_line=False))
    return "".join(parts)


def _group_text(run: Path, thresholds: str, mapping: str, fmt: str,
                watchlist: str = AS_SEARCHED) -> str:  # fmt: skip
    """``--by group``: rates per measured group and the differential (:mod:`facelab.lab.groups`)."""
    from facelab.lab import groups as lab_groups

    if fmt == Format.csv.value:
        raise ConfigError("--by group prints a table or JSON (--format table or json)")
    with RunStore(run, readonly=True) as store:
        gs = lab_groups.load_group_scores(store, watchlist)
        gsw = lab_groups.sweep_groups(gs, thresholds, mapping)
    return gsw.to_json() if fmt == Format.json.value else lab_groups.group_text(gsw)


@app.command("sweep")
def sweep_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory (from `facelab run`).")],
    thresholds: Annotated[
        str, typer.Option(help="Percent thresholds: 65, 50,60,70 or start:stop:step.")
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
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    seconds_per_candidate: Annotated[
        float,
        typer.Option(
            parser=options.number("--seconds-per-candidate", 0, 86400, lo_open=True),
            help="Human review time per alert, in seconds.",
        ),
    ] = SECONDS_PER_CANDIDATE,
    by: Annotated[
        By | None,
        typer.Option(
            help="Also break the figures down by camera kind; or (group) rates per "
            "measured group of people and the differential between groups."
        ),
    ] = None,
    watchlist: Annotated[
        Watchlist,
        typer.Option(
            help="Score each search against the watchlist it ran against (as-searched), or "
            "re-score the stored candidates against today's (current; refused where the "
            "stored top-k does not cover it)."
        ),
    ] = Watchlist.as_searched,
    review: Annotated[
        bool,
        typer.Option(
            "--review",
            help="Add what the scenario's model of the human reviewer "
            "(its review table) makes of the alerts: stops, innocent people stopped, "
            "wanted people missed, reviewer hours, per day and per group.",
        ),
    ] = False,
) -> None:
    """Error rates, false alerts and review load at each percent threshold.

    Reads the run's stored scores only: nothing is re-embedded.

    Every rate comes with its count and 95 % interval.

    A percent is a display scale, not a probability: --mapping shows that "80 %" differs.
    """
    text = sweep_output(
        run, thresholds, mapping, rank, fmt.value, seconds_per_candidate,
        by.value if by is not None else None, watchlist.value,
    )  # fmt: skip
    if review:
        text = _with_review(text, run, thresholds, mapping, fmt.value, watchlist.value)
    typer.echo(text, nl=False)


def _with_review(text: str, run: Path, thresholds: str, mapping: str, fmt: str,
                 watchlist: str = AS_SEARCHED) -> str:  # fmt: skip
    """``--review``: the reviewer model's outcomes (:mod:`facelab.lab.reviewer`) after the
    sweep's table, or as the ``review`` entry of its JSON."""
    from facelab.lab import reviewer

    if fmt == Format.csv.value:
        raise ConfigError("--review prints with a table or JSON (--format table or json)")
    with RunStore(run, readonly=True) as store:
        spec = store.scenario().review
        outcomes = reviewer.review_run(store, thresholds, mapping, spec, watchlist)
    if fmt == Format.json.value:
        doc = json.loads(text)
        doc["review"] = json.loads(reviewer.review_json(outcomes, spec, watchlist))
        return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    return text + "\nWho is stopped: the human reviewer ([review])\n" + reviewer.review_text(
        outcomes, spec)  # fmt: skip
