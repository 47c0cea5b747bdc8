"""CLI commands: `facelab profiles`, `facelab profile fit SOURCE`, `facelab profile predict NAME`."""

from __future__ import annotations

from typing import Annotated

import typer

from facelab.cli._app import app

profile_app = typer.Typer(
    help="Fit and inspect system profiles (score models of deployed systems)."
)
app.add_typer(profile_app, name="profile")


def _rate(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.3%}" if x >= 1e-3 else f"{x:.2e}"


@app.command("profiles")
def profiles_cmd(
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """List the shipped system profiles with their sources and fitted / held-out point counts."""
    from facelab import api
    from facelab.cli.formats import check_format, print_json

    check_format(fmt, ("text", "json"))
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
        for s in r["sources"]:
            print(f"    source: {s}")


@profile_app.command("fit")
def fit_cmd(
    source: Annotated[
        str, typer.Argument(help="A profile file (TOML) or a shipped profile's name.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Fit a profile's free parameters to its fitted points (binomial likelihood) and print every
    point beside the model, with the published point's Wilson 95 % interval from its own n."""
    from facelab import api
    from facelab.cli.formats import check_format, print_json

    check_format(fmt, ("text", "json"))
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
    for x in r.residuals:
        pt = x.point
        tag = "fitted" if pt.fitted else "held out"
        pub = f"{_rate(pt.published)} ({pt.count}/{pt.n}{'*' if pt.n_basis == 'assumed' else ''})"
        ci = f"{_rate(x.lo)}–{_rate(x.hi)}"
        print(f"{pt.name:22s} {tag:8s} {pub:26s} {ci:22s} {_rate(x.model):10s} {x.verdict}")
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
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """FPIR and FNIR the profile's model predicts at other gallery sizes (no published figure)."""
    from facelab import api
    from facelab.cli.formats import check_format, print_json
    from facelab.errors import ConfigError

    check_format(fmt, ("text", "json"))
    try:
        sizes = [int(float(x)) for x in gallery.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--gallery: not a list of sizes: {gallery!r}") from None
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
