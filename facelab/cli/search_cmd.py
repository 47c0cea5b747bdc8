"""CLI commands: enroll, watchlist, search, alerts, review.

Each command delegates to :mod:`facelab.api` (the same calls a notebook makes). Refusals are
:class:`~facelab.errors.FacelabError` raised before anything is written; the error boundary in
:mod:`facelab.cli._app` prints them as one line and exits with the error's code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from facelab.cli import options
from facelab.cli._app import app
from facelab.search.percent import shown

RunArg = Annotated[
    Path, typer.Argument(help="Run directory (made by `facelab run`).", show_default=False)
]
PhotoArg = Annotated[
    Path,
    typer.Argument(
        help="Photo of one synthetic person: a PNG made by facelab.", show_default=False
    ),
]
ActorOpt = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="Who acts, for the audit log (default: $FACELAB_ACTOR, else your login name).",
    ),
]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="Stated reason, kept in the audit log.")
]
CaseOpt = Annotated[str | None, typer.Option("--case", help="Case id, kept in the audit log.")]
LargestOpt = Annotated[
    bool,
    typer.Option(
        "--largest", help="If the photo holds several faces, use the largest (else refuse)."
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="Embedder device: cpu, cuda or auto.")]
EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (this process) or ray (a Ray cluster: pip install 'facelab[ray]'); "
        "both give the same result.",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        metavar="ADDR",
        help="Ray cluster to join with --engine ray: host:port of `ray start --head`, "
        "ray://host:10001 or auto (default: a local Ray instance).",
    ),
]
FormatOpt = Annotated[
    str, typer.Option("--format", help="table, json or csv (json: facelab.lab.jsonview).")
]


def table(headers: list[str], rows: list[list], right: set[int] = frozenset()) -> None:
    """Print a plain table with aligned columns (``right``: indexes of right-aligned columns)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, r in enumerate(cells):
        parts = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ]
        print("  ".join(parts).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _open(run: Path, actor: str | None = None, device: str = "cpu"):
    from facelab.api import open_run

    return open_run(run, actor=actor, device=device)


def _faces_note(n: int) -> None:
    if n > 1:
        print(f"note: the photo holds {n} faces; the largest was used (--largest)")


# --------------------------------------------------------------------------- watchlist


@app.command("enroll")
def enroll_cmd(
    run: RunArg,
    photo: PhotoArg,
    label: Annotated[str, typer.Option("--label", help="Name of the watchlist entry (unique).")],
    reason: ReasonOpt = None,
    case: CaseOpt = None,
    largest: LargestOpt = False,
    actor: ActorOpt = None,
    device: DeviceOpt = "cpu",
    search: Annotated[
        bool,
        typer.Option(
            "--search",
            help="Then search the archive window for the enrolled photo: the sightings the "
            "entry would have alerted on (at the run's alert threshold).",
        ),
    ] = False,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
) -> None:
    """Enrol a pre-loaded frame of a synthetic person on the run's watchlist.

    The photo must carry facelab's provenance record (synthetic faces only) and show one face;
    the face is detected, aligned, embedded and added to the watchlist index. Alerts raised
    during `facelab run` used the watchlist as it was then; new entries count for searches and
    later runs. With --search, the archive is searched for the enrolled photo at once (on a Ray
    cluster with --engine ray; same hits). Recorded in the audit log.
    """
    from facelab.run.ray_engine import check_engine

    check_engine(engine, address)  # before anything is written
    lab = _open(run, actor, device)
    entry = lab.enroll(photo, label=label, reason=reason, case=case, largest=largest)
    print(f"enrolled {entry.label} (watchlist id {entry.id}) in {lab.path}")
    print(f"photo kept as {entry.photo}; case {entry.case_id or '-'}; by {entry.actor}")
    if search:
        res = lab.search_entry(entry.label, engine=engine, address=address)
        print(f"searched   {res.window}")
        _hits_table(res)
        print(res.summary)


@app.command("watchlist")
def watchlist_cmd(
    run: RunArg,
    remove: Annotated[
        str | None, typer.Option("--remove", help="Remove this entry (label or id).")
    ] = None,
    reason: ReasonOpt = None,
    show_all: Annotated[bool, typer.Option("--all", help="Also list removed entries.")] = False,
    actor: ActorOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """List the watchlist, or remove an entry with --remove LABEL --reason R.

    A removed entry's vector and photo are deleted; its row stays (inactive) for the audit.
    `facelab photo RUN LABEL --out p.png` writes a fresh photo of a scenario entry's person.
    """
    from facelab.cli.formats import check_format, print_csv, print_json

    check_format(fmt)
    lab = _open(run, actor)
    if remove is not None:
        entry = lab.remove(remove, reason=reason)
        print(f"removed {entry.label} (watchlist id {entry.id}) from {lab.path}")
        return
    rows = lab.watchlist(include_removed=show_all)
    if fmt != "table":
        (print_json if fmt == "json" else print_csv)(rows)
        return
    if not rows:
        print(f"the watchlist of {lab.path} is empty")
        return
    table(
        ["id", "label", "case", "enrolled", "by", "active", "reason"],
        [
            [
                e.id,
                e.label,
                e.case_id or "-",
                e.enrolled_at,
                e.actor,
                "yes" if e.active else "no",
                e.reason or "-",
            ]
            for e in rows
        ],  # fmt: skip
        right={0},
    )
    n = sum(e.active for e in rows)
    print(f"{n} active entr{'y' if n == 1 else 'ies'}")
    print(f"a fresh photo of a scenario entry's person: facelab photo {lab.path} LABEL --out p.png")


# --------------------------------------------------------------------------- search


@app.command("search")
def search_cmd(
    run: RunArg,
    photo: PhotoArg,
    reason: ReasonOpt = None,
    case: CaseOpt = None,
    min_percent: Annotated[
        float | None,
        typer.Option(
            "--min-percent",
            parser=options.number("--min-percent", 0, 100),
            help="Lowest percent shown (default: the run's alert threshold).",
        ),
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            "--top", parser=options.count("--top"), help="At most K hits, best first (FAISS top-k)."
        ),
    ] = None,
    camera: Annotated[
        list[str] | None, typer.Option("--camera", help="Only this camera id (repeatable).")
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="From this date or time (YYYY-MM-DD[THH:MM]).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Up to this date or time, inclusive.")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--mapping", help="Percent mapping: linear or sigmoid (default: the run's)."),
    ] = None,
    sheet: Annotated[
        Path | None,
        typer.Option(
            "--sheet", dir_okay=False, help="Also draw the probe beside its hits into this PNG."
        ),
    ] = None,
    largest: LargestOpt = False,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing",
            help="Search the other days when day shards of the window are missing or "
            "unreadable (a warning names the days not searched); otherwise that is an error.",
        ),
    ] = False,
    actor: ActorOpt = None,
    device: DeviceOpt = "cpu",
    fmt: FormatOpt = "table",
    engine: EngineOpt = "local",
    address: AddressOpt = None,
) -> None:
    """Where was the person in this photo seen? Searches the archive window of the run.

    Prints the window searched, then each hit (camera, time, percent, frame). A percent is a
    display scale for cosine similarity, not a probability; every hit may be a false match.
    A stated --reason is required unless the run's policy allows none; the search (probe hash,
    parameters, result count) is recorded in the audit log.
    """
    from facelab.cli.formats import check_format, print_csv, print_json

    check_format(fmt)
    lab = _open(run, actor, device)
    res = lab.search(
        photo, reason=reason, case=case, min_percent=min_percent, top=top, cameras=camera,
        date_from=date_from, date_to=date_to, mapping=mapping, largest=largest, sheet=sheet,
        allow_missing=allow_missing, engine=engine, address=address,
    )  # fmt: skip
    if res.missing_days:
        print(
            f"warning: NOT SEARCHED: {len(res.missing_days)} day(s) of the archive window have a "
            f"missing or unreadable shard: {', '.join(res.missing_days)}",
            file=sys.stderr,
        )
    if fmt == "json":
        print_json(res)
        return
    if fmt == "csv":
        print_csv(res.hits)
        return
    p = res.params
    print(f"searched   {res.window}")
    filters = []
    if p.cameras:
        filters.append("cameras " + ", ".join(p.cameras))
    if p.date_from or p.date_to:
        filters.append(f"time {p.date_from or '…'} .. {p.date_to or '…'}")
    if filters:
        print(f"filters    {'; '.join(filters)}")
    how = f"top {p.top}, " if p.top else ""
    print(f"threshold  ≥ {p.min_percent:g} % ({how}mapping {p.mapping})")
    print(f"probe      {res.probe_name} (sha256 {res.probe_sha256[:16]}…)")
    _faces_note(res.probe_faces)
    _hits_table(res)
    print(res.summary)
    if sheet is not None:
        print(f"sheet      {sheet}")


def _hits_table(res) -> None:
    """A search's hits as a table between blank lines (nothing without hits)."""
    if res.hits:
        print()
        table(
            ["#", "camera", "time", "percent", "frame"],
            [
                [h.rank, h.camera, h.time.replace("T", " "), shown(h.percent), h.frame or "-"]
                for h in res.hits
            ],  # fmt: skip
            right={0, 3},
        )
        print()


# --------------------------------------------------------------------------- review


@app.command("alerts")
def alerts_cmd(
    run: RunArg,
    min_percent: Annotated[
        float | None,
        typer.Option(
            "--min-percent",
            parser=options.number("--min-percent", 0, 100),
            help="Show candidates at or above this percent; below the run's threshold the "
            "candidates that never became alerts come up too (default: the queue as raised).",
        ),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="pending, confirmed, rejected or below-threshold."),
    ] = None,
    camera: Annotated[str | None, typer.Option("--camera", help="Only this camera id.")] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", parser=options.count("--limit"), help="At most N rows."),
    ] = None,
    fmt: FormatOpt = "table",
) -> None:
    """The manual review queue: alerts with camera, time, percent, rank, status and frame.

    Lowering --min-percent below the run's alert threshold shows many more candidates, marked
    'below-threshold': they were never alerted and are not in the queue.
    """
    from facelab.cli.formats import check_format, print_csv, print_json
    from facelab.run.schema import display_alert_id

    check_format(fmt)

    lab = _open(run)
    rows = lab.alerts(min_percent=min_percent, status=status, camera=camera, limit=limit)
    if fmt != "table":  # the JSON is the console's GET /api/alerts too
        (print_json if fmt == "json" else print_csv)(rows)
        return
    if not rows:
        print("no alerts" + (f" at ≥ {min_percent:g} %" if min_percent is not None else ""))
        return
    table(
        ["id", "watch", "camera", "time", "percent", "rank", "status", "frame"],
        [
            [
                display_alert_id(a.id),
                a.watch_label,
                a.camera,
                a.time.replace("T", " "),
                shown(a.percent),
                a.rank,
                a.status,
                a.frame or "-",
            ]
            for a in rows
        ],  # fmt: skip
        right={4, 5},
    )
    queued = [a for a in rows if a.in_queue]
    below = len(rows) - len(queued)
    pending = sum(a.status == "pending" for a in queued)
    line = f"{len(queued)} alert(s) in the queue ({pending} pending)"
    if below:
        line += f"; {below} candidate(s) below the run's threshold, not in the queue"
    print(line)


@app.command("review")
def review_cmd(
    run: RunArg,
    alert: Annotated[
        str,
        typer.Argument(
            help="Alert id as `facelab alerts` shows it (A-3-0042), or the numeric id.",
            show_default=False,
        ),
    ],
    confirm: Annotated[
        bool, typer.Option("--confirm", help="The reviewer confirms the match.")
    ] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help="The reviewer rejects the match.")
    ] = False,
    reason: ReasonOpt = None,
    case: CaseOpt = None,
    note: Annotated[str | None, typer.Option("--note", help="Free text kept on the alert.")] = None,
    actor: ActorOpt = None,
) -> None:
    """Record a decision on an alert: --confirm or --reject (with --reason or --case).

    The alert's status, reviewer and time are updated and the decision appended to the audit
    log; reviewing again changes the decision and is logged too.
    """
    if confirm == reject:
        raise typer.BadParameter("give exactly one of --confirm or --reject")
    from facelab.run.schema import display_alert_id, parse_alert_id

    alert_id = parse_alert_id(alert)
    lab = _open(run, actor)
    decision = "confirmed" if confirm else "rejected"
    from facelab.run.review import get_alert

    with lab.store() as s:
        was = get_alert(s, alert_id).status
    a = lab.review(alert_id, decision, reason=reason, case=case, note=note)
    print(f"alert {display_alert_id(a.id)}: {was} → {a.status} by {a.reviewed_by} ({a.watch_label}, {a.camera}, "
          f"{a.time.replace('T', ' ')}, {shown(a.percent)})")  # fmt: skip
