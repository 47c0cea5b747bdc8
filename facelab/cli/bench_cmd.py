"""CLI commands: calibrate — fit the embedding twin to image mode and show how close it is."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from facelab.cli import options
from facelab.cli._app import app
from facelab.cli.formats import print_table


def _fmt_rate(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x == 0 or x >= 1e-3:
        return f"{x:.4f}"
    return f"{x:.1e}"


def _with_ci(value: float, lo: float, hi: float) -> str:
    return f"{_fmt_rate(value)} [{_fmt_rate(lo)}–{_fmt_rate(hi)}]"


def _flag(wilson: bool, clustered: bool) -> str:
    """'✓' inside the Wilson interval, '~' only inside the clustering-aware one, '✗' neither."""
    return "✓" if wilson else ("~" if clustered else "✗")


def print_reports(reports, console: Console, title: str) -> None:
    """Two tables: score distributions with KS statistics; FMR / FNMR at each threshold."""
    dist = Table(title=f"{title}: score distributions (mean ± sd)", box=None, pad_edge=False)
    for col in ("pairs", "genuine image", "twin", "KS", "impostor image", "twin", "KS", "people"):
        dist.add_column(col, justify="left" if col == "pairs" else "right", no_wrap=True)
    for r in reports:
        dist.add_row(
            r.pairs,
            f"{r.image_genuine[0]:.3f} ± {r.image_genuine[1]:.3f}",
            f"{r.twin_genuine[0]:.3f} ± {r.twin_genuine[1]:.3f}",
            f"{r.ks_genuine:.3f}",
            f"{r.image_impostor[0]:.3f} ± {r.image_impostor[1]:.3f}",
            f"{r.twin_impostor[0]:.3f} ± {r.twin_impostor[1]:.3f}",
            f"{r.ks_impostor:.3f}",
            f"{r.n_image_identities}/{r.n_twin_identities}",
        )
    print_table(dist, console)
    rates = Table(
        title=f"{title}: FMR / FNMR at percent thresholds (linear mapping), image [95 % CI] vs twin",
        box=None, pad_edge=False,
    )  # fmt: skip
    for col in ("pairs", "%", "FMR image", "twin", "", "FNMR image", "twin", ""):
        rates.add_column(col, justify="left" if col == "pairs" else "right", no_wrap=True)
    for r in reports:
        for i, p in enumerate(r.percents):
            rates.add_row(
                r.pairs if i == 0 else "", f"{p:g}",
                _with_ci(r.image_fmr[i].value, *r.image_fmr_ci[i]),
                _fmt_rate(r.twin_fmr[i].value), _flag(r.fmr_inside[i], r.fmr_inside_clustered[i]),
                _with_ci(r.image_fnmr[i].value, *r.image_fnmr_ci[i]),
                _fmt_rate(r.twin_fnmr[i].value),
                _flag(r.fnmr_inside[i], r.fnmr_inside_clustered[i]),
            )  # fmt: skip
    print_table(rates, console)
    console.print(
        "CI: hull of the Wilson interval and an identity (cluster) bootstrap, since pairs "
        "sharing a person are not independent. ✓ twin inside the Wilson interval; ~ inside "
        "the wider CI only; ✗ outside both.",
        highlight=False,
    )


def print_yardstick(reports, samples, console: Console) -> None:
    """How many rates the twin puts inside the fresh sample's intervals, beside how many the
    fitted image sample (other people, same cameras) puts there: image mode against itself."""
    from facelab.twin.model import PHOTO
    from facelab.twin.validation import image_rates

    twin_in = sum(sum(r.fmr_inside_clustered) + sum(r.fnmr_inside_clustered) for r in reports)
    image_in, total, outside = 0, 0, []
    for r in reports:
        sightings, photos = samples[r.pairs.split(" vs ")[1]], samples[PHOTO]
        with_photo = r.pairs.startswith(PHOTO)
        fmr, fnmr = image_rates(
            sightings.embeddings, sightings.labels, r.seed, percents=r.percents,
            photo_emb=photos.embeddings if with_photo else None,
            photo_labels=photos.labels if with_photo else None,
        )  # fmt: skip
        for name, flags in zip(("FMR", "FNMR"), r.inside(fmr, fnmr)):
            total += len(flags)
            image_in += sum(flags)
            outside += [
                f"{r.pairs} {name} at {pc:g} %" for pc, ok in zip(r.percents, flags) if not ok
            ]
    console.print(
        f"yardstick: the twin puts {twin_in} of {total} rates inside the fresh sample's "
        f"intervals; the fitted image sample (other people, same cameras) puts {image_in} of "
        f"{total} there" + (f" (outside: {', '.join(outside)})" if outside else ""),
        highlight=False,
    )


@app.command("calibrate")
def calibrate(
    identities: Annotated[
        int,
        typer.Option(
            "--identities",
            parser=options.count("--identities", 2, 100_000),
            help="People in the image sample.",
        ),
    ] = 150,
    sightings: Annotated[
        int,
        typer.Option(
            "--sightings",
            parser=options.count("--sightings", 2, 1000),
            help="Camera faces per person and quality.",
        ),
    ] = 4,
    photos: Annotated[
        int,
        typer.Option(
            "--photos",
            parser=options.count("--photos", 2, 1000),
            help="Enrolment photos per person.",
        ),
    ] = 2,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", parser=options.seed(), help="Seed of the image sample and of the fit."
        ),
    ] = 0,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the twin (default: models/twin.npz)."),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="cpu, cuda or auto (generator and embedder).")
    ] = "cpu",
    backend: Annotated[
        str, typer.Option("--backend", help="auto, onnxruntime or openvino: where the models run.")
    ] = "onnxruntime",
    qualities: Annotated[
        str, typer.Option("--qualities", help="Camera qualities to calibrate.")
    ] = "good,fair,poor",
    check: Annotated[
        int,
        typer.Option(
            "--check",
            min=0,
            help="Also compare on a fresh image sample of this many people (seed + 1), with the "
            "fitted image sample's own rates as a yardstick; 0 compares on the fitted sample only.",
        ),
    ] = 0,
) -> None:
    """Fit the embedding twin to image-mode SFace embeddings and save it.

    Renders camera-like sightings of each quality and enrolment photos of the same synthetic
    people, detects (YuNet), aligns and embeds (SFace) them, fits the twin and prints how its
    genuine and impostor scores compare with image mode: KS statistics and FMR / FNMR at
    50–80 %.
    """
    from facelab.config.quality import BUILTIN_QUALITY
    from facelab.errors import ConfigError
    from facelab.twin.calibrate import calibrate as calibrate_twin
    from facelab.twin.imagesample import sample_all
    from facelab.twin.model import PHOTO, default_path
    from facelab.twin.validation import compare
    from facelab.vision import detect, embed
    from facelab.world import synth

    quals = [q.strip() for q in qualities.split(",") if q.strip()]
    unknown = [q for q in quals if q not in BUILTIN_QUALITY]
    if not quals or unknown:
        raise ConfigError(
            f"--qualities: unknown {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(BUILTIN_QUALITY)}"
        )
    path = out or default_path()
    console = Console()
    started = time.perf_counter()
    opened = (
        synth.FaceGenerator(device, backend=backend),
        detect.FaceDetector(device, backend=backend),
        embed.Embedder(device, backend=backend),
    )
    per_person = sightings * len(quals) + photos
    total = identities * per_person + check * (sightings * len(quals) + 1)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("rendering, detecting, embedding", total=total)

        def step(n: int) -> None:
            bar.advance(task, n)

        model, samples = calibrate_twin(
            identities, sightings, photos, seed, quals, models=opened, progress=step
        )
        checks = (
            sample_all(check, sightings, 1, seed + 1, quals, models=opened, progress=step)
            if check
            else None
        )
    sampled = time.perf_counter()
    model.save(path)

    console.print(f"twin written to {path}", highlight=False)
    console.print(
        f"source: seed {seed}, {identities} people × {sightings} camera faces per quality "
        f"({', '.join(quals)}) + {photos} photos; SFace {model.embedder_sha256[:12]}…; "
        f"facelab {model.facelab_version}",
        highlight=False,
    )
    from facelab.lab.report.text import pct

    found = ", ".join(
        f"{k} {len(s.labels)}/{s.rendered} ({pct(s.detect_rate)})" for k, s in samples.items()
    )
    console.print(f"faces YuNet found: {found}", highlight=False)
    rendered = sum(s.rendered for src in (samples, checks or {}) for s in src.values())
    console.print(
        f"time: image sample and fit {sampled - started:.0f} s ({rendered} faces, "
        f"{rendered / max(sampled - started, 1e-9):.0f} faces/s)",
        highlight=False,
    )
    for name, src, tag in (("fitted sample", samples, "in-sample"),
                           ("fresh sample", checks, f"fresh people, seed {seed + 1}")):  # fmt: skip
        if src is None:
            continue
        reports = []
        for q in quals:
            s = src[q]
            reports.append(compare(model, s.embeddings, s.labels, seed + 101, q))
            reports.append(compare(
                model, s.embeddings, s.labels, seed + 102, q,
                photo_emb=src[PHOTO].embeddings, photo_labels=src[PHOTO].labels,
            ))  # fmt: skip
        print_reports(reports, console, f"twin vs image mode, {name} ({tag})")
        if src is checks:
            print_yardstick(reports, samples, console)
    console.print(f"total {time.perf_counter() - started:.0f} s", highlight=False)
