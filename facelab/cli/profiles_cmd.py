"""CLI commands: `facelab profiles` and `facelab profile fit SOURCE.toml` (system profiles)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facelab.cli._app import app

profile_app = typer.Typer(help="Fit and inspect system profiles (score models of deployed systems).")
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
    from facelab.cli.formats import check_format, print_json
    from facelab.profiles.profile import get_profile, shipped

    check_format(fmt, ("text", "json"))
    rows = []
    for name in shipped():
        p = get_profile(name)
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
    from facelab.cli.formats import check_format, print_json
    from facelab.profiles.fit import fit_profile
    from facelab.profiles.profile import get_profile

    check_format(fmt, ("text", "json"))
    p = get_profile(Path(source) if source.endswith(".toml") else source)
    r = fit_profile(p)
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
