"""CLI commands: `facelab profiles`, `facelab profile fit SOURCE`, `facelab profile predict NAME`."""

from __future__ import annotations

from typing import Annotated

import typer

from facelab.cli import options
from facelab.cli._app import app

MAX_DRAWS = 100_000
"""Most parameter draws `profile city` makes (1,000 take seconds; each is one model)."""

profile_app = typer.Typer(
    help="Fit and inspect system profiles (score models of deployed systems)."
)
app.add_typer(profile_app, name="profile")


def _rate(x: float) -> str:
    """A rate as the terminal tables print percents (:func:`facelab.lab.report.text.pct`)."""
    from facelab.lab.report.text import pct

    return pct(x, sep="")


@app.command("profiles")
def profiles_cmd(
    fmt: options.TextOrJson = "text",
) -> None:
    """List the shipped system profiles with their sources and fitted / held-out point counts."""
    from facelab import api
    from facelab.cli.formats import print_json

    rows = []
    for p in api.profiles():
        rows.append(
            {
                "name": p.name,
                "version": p.version,
                "default": p.default,
                "title": p.title,
                "scale": p.scale.name,
                "fitted": len(p.fitted_points),
                "held_out": len(p.held_out),
                "groups": list(p.model.groups),
                "group_maps": list(p.group_maps),
                "sources": [s.citation for s in p.sources],
                "file": str(p.path),
            }
        )
    if fmt == "json":
        print_json(rows)
        return
    for r in rows:
        mark = " (default)" if r["default"] else ""
        print(f"{r['name']} v{r['version']}{mark}: {r['title']}")
        print(f"    scale {r['scale']}; {r['fitted']} points fitted, {r['held_out']} held out")
        if r["groups"]:
            maps = ", ".join(r["group_maps"]) or "none"
            print(f"    groups {', '.join(r['groups'])}; maps to ITA bands: {maps}")
        for s in r["sources"]:
            print(f"    source: {s}")


@profile_app.command("fit")
def fit_cmd(
    source: Annotated[
        str, typer.Argument(help="A profile file (TOML) or a shipped profile's name.")
    ],
    fmt: options.TextOrJson = "text",
) -> None:
    """Fit a profile's free parameters to its fitted points (binomial likelihood) and print every
    point beside the model, with the published point's Wilson 95 % interval from its own n."""
    from facelab import api
    from facelab.cli.formats import print_json

    p, r = api.profile_fit(source)
    if fmt == "json":
        print_json(
            {
                "profile": p.name,
                "version": p.version,
                "params": {k: float(x) for k, x in r.params.items()},
                "stored": {k: float(x) for k, x in _stored(p).items()},
                "neg_log_likelihood": r.nll,
                "points": [_point_json(x) for x in r.residuals],
            }
        )
        return
    print(f"{p.name} v{p.version}: {p.title}")
    print(f"fitted {len(p.fit)} parameters to {len(p.fitted_points)} points (binomial likelihood):")
    stored = _stored(p)
    for k, x in r.params.items():
        print(f"    {k:32s} {x:.6g}   (file: {stored[k]:.6g})")
    print()
    print(f"{'point':22s} {'':8s} {'published (k/n)':26s} {'95 % CI':22s} {'model':10s} verdict")
    from facelab.profiles.compare import cells

    for x in r.residuals:
        pt = x.point
        tag = "fitted" if pt.fitted else "held out"
        pub, ci, mod = cells(x)
        print(f"{pt.name:22s} {tag:8s} {pub:26s} {ci:22s} {mod:10s} {x.verdict}")
    if any(pt.n_basis == "assumed" for pt in p.points):
        print("* n assumed: no source found gives the count (see the point's note)")
    misses = [x.point.name for x in r.residuals if x.verdict == "miss"]
    if misses:
        print(f"miss: {', '.join(misses)} (outside the interval and off by more than 3x)")


def _stored(p) -> dict[str, float]:
    from facelab.profiles.fit import get_param

    return {k: get_param(p.model, k) for k in p.fit}


def _point_json(x) -> dict:
    pt = x.point
    return {
        "name": pt.name,
        "metric": pt.metric,
        "gallery": pt.gallery,
        "threshold": pt.threshold,
        "fpir_target": pt.fpir_target,
        "condition": pt.condition,
        "group": pt.group,
        "significant": pt.significant,
        "count": pt.count,
        "n": pt.n,
        "n_basis": pt.n_basis,
        "published": pt.published,
        "model": x.model,
        "ci95": [x.lo, x.hi],
        "fitted": pt.fitted,
        "verdict": x.verdict,
        "where": pt.where,
    }


@profile_app.command("predict")
def predict_cmd(
    name: Annotated[str, typer.Argument(help="A shipped profile's name or a profile file.")],
    gallery: Annotated[
        str, typer.Option(help="Gallery / watchlist sizes, comma-separated (e.g. 1000,10000).")
    ] = "1000,10000",
    threshold: Annotated[
        float | None, typer.Option(help="Threshold on the profile's own scale.")
    ] = None,
    fpir: Annotated[
        float | None, typer.Option(help="Set the threshold per gallery so that FPIR equals this.")
    ] = None,
    condition: Annotated[
        str | None, typer.Option(help="Capture condition (default: the profile's first).")
    ] = None,
    fmt: options.TextOrJson = "text",
) -> None:
    """FPIR and FNIR the profile's model predicts at other gallery sizes (no published figure)."""
    from facelab import api
    from facelab.cli.formats import print_json

    sizes = [x.strip() for x in gallery.split(",") if x.strip()]  # each checked as an integer
    table = api.profile_predict(name, sizes, threshold=threshold, fpir=fpir, condition=condition)
    if fmt == "json":
        print_json(table)
        return
    print(
        f"{table['profile']} v{table['version']}, condition {table['condition']} "
        "(model predictions, not published figures)"
    )
    print(f"{'gallery':>12s} {'threshold':>10s} {'FPIR':>10s} {'FNIR':>10s}")
    for r in table["rows"]:
        print(
            f"{r['gallery']:>12,d} {r['threshold']:>10.4f} {_rate(r['fpir']):>10s} "
            f"{_rate(r['fnir']):>10s}"
        )


@profile_app.command("city")
def city_cmd(
    name: Annotated[str, typer.Argument(help="A shipped profile's name or a profile file.")],
    scenario: Annotated[str, typer.Option(help="Scenario preset or TOML file.")] = "metro",
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            metavar="PCT",
            help="Alert threshold, percent on the profile's scale (NeoFace 0.60 = 60).",
        ),
    ] = None,
    fpir: Annotated[
        float | None, typer.Option(help="Set the threshold so that FPIR equals this (NIST).")
    ] = None,
    seconds_per_candidate: Annotated[
        float,
        typer.Option(
            parser=options.number("--seconds-per-candidate", 0, 86400, lo_open=True),
            help="Review time per alert, seconds (as facelab sweep).",
        ),
    ] = 10.0,
    events_per_minute: Annotated[
        float,
        typer.Option(
            parser=options.number("--events-per-minute", 0, 1e12),
            help="Event rate to scale to (the seed's 1 million+ a minute).",
        ),
    ] = 1_000_000.0,
    draws: Annotated[
        int,
        typer.Option(
            parser=options.count("--draws", 1, MAX_DRAWS),
            help=f"Parameter draws behind the 95 % intervals (at most {MAX_DRAWS:,}).",
        ),
    ] = 1000,
    seed: Annotated[int, typer.Option(parser=options.seed(), help="Seed of the draws.")] = 0,
    groups: Annotated[
        str | None,
        typer.Option(
            help="Group shares, e.g. light=0.5,dark=0.5 (default: the scenario's [population] "
            "groups): per-group figures with the scenario's reviewer ([review])."
        ),
    ] = None,
    group_map: Annotated[
        str | None, typer.Option(help="The profile's group map (default: its only one).")
    ] = None,
    fmt: options.TextOrJson = "text",
) -> None:
    """False alerts a day, share of alerts false and review hours of a scenario's city under
    the profile's fitted model (no run), each with a 95 % interval from the fit; with groups,
    per group: false alerts, innocent people stopped, wanted people missed, reviewer hours."""
    from facelab import api
    from facelab.cli.formats import print_json

    out = api.profile_city(
        name, scenario, percent=threshold, fpir=fpir, seconds_per_candidate=seconds_per_candidate,
        events_per_minute=events_per_minute, draws=draws, seed=seed, groups=groups,
        group_map=group_map,
    )  # fmt: skip
    if fmt == "json":
        print_json(out)
        return
    f = out["figures"]
    at = f"{out['percent']:g} %" if out["percent"] is not None else f"FPIR {out['fpir_target']:g}"
    print(
        f"{out['profile']} v{out['version']} on {out['scenario']} at {at} "
        f"(model; 95 % intervals from {out['draws']} draws of the fit, seed {out['seed']})"
    )
    print(
        f"city: {out['searches_per_day']:,.0f} searches a day at {out['fr_cameras']} FR "
        f"cameras ({out['mated_per_day']:,.0f} of watchlisted people), watchlist "
        f"{out['watchlist']:,}"
    )

    def line(label: str, k: str, form: str) -> None:
        v = f[k]
        print(
            f"{label:38s} {form.format(v['value'])}  ({form.format(v['lo'])} – "
            f"{form.format(v['hi'])})"
        )

    line("FPIR", "fpir", "{:.3g}")
    line("FNIR", "fnir", "{:.3g}")
    line("false alerts a day", "false_alerts_per_day", "{:,.3g}")
    line("true alerts a day", "true_alerts_per_day", "{:,.3g}")
    line("share of alerts false", "false_share", "{:.3g}")
    line(f"review hours a day ({out['seconds_per_candidate']:g} s/alert)",
         "review_hours_per_day", "{:,.3g}")  # fmt: skip
    rate = f"{out['events_per_minute']:,.0f}/min"
    line(f"false alerts a day at {rate}", "false_alerts_per_day_at_rate", "{:,.3g}")
    line(f"review hours a day at {rate}", "review_hours_per_day_at_rate", "{:,.3g}")
    if out.get("by_group"):
        _print_groups(out["by_group"])


_GROUP_LINES = (
    ("false alerts a day", "false_alerts_per_day"),
    ("stops a day (confirmed alerts)", "stops_per_day"),
    ("innocent stops a day", "innocent_stops_per_day"),
    ("innocent people stopped a day", "innocent_people_per_day"),
    ("wanted people missed a day", "wanted_missed_per_day"),
    ("reviewer hours a day", "reviewer_hours_per_day"),
)


def _cell(v: dict) -> str:
    return f"{v['value']:,.3g} ({v['lo']:,.3g}–{v['hi']:,.3g})"


def _print_groups(bg: dict) -> None:
    """The per-group table of `profile city` (figures with their 95 % intervals)."""
    rv = bg["reviewer"]
    print()
    print(
        f"by group (group map {bg['group_map']}: {bg['group_map_description']}); reviewer "
        f"confirms {rv['p_confirm_true']:g} of true and {rv['p_confirm_false']:g} of false "
        f"alerts, {rv['seconds_per_alert']:g} s each"
    )
    cols = list(bg["groups"].items()) + [("total", bg["total"])]
    head = "".join(
        f"{g + (' [' + r['profile_group'] + ' rates]' if 'profile_group' in r else ''):>34s}"
        for g, r in cols
    )
    print(f"{'':32s}{head}")
    for label, k in _GROUP_LINES:
        cells = "".join(f"{_cell(r[k]):>34s}" for _, r in cols)
        print(f"{label:32s}{cells}")
