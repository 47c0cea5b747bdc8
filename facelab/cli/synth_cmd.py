"""CLI commands: ``facelab synth faces``, ``facelab synth stats`` and ``facelab frames``.

Every PNG written here carries a signed provenance record (:mod:`facelab.governance.provenance`), so the
images can be fed back into facelab and nothing else can.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from facelab.cli import options
from facelab.cli._app import app
from facelab.lab.render import SHEET_CELL_FACE, SHEET_CELL_PORTRAIT

synth_app = typer.Typer(
    help="Synthetic faces: contact sheets, sighting variations, SFace genuine/impostor statistics.",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")

PROGRESS_MIN_FRAMES = 8  # show a progress bar from this many frames on


# Help texts given as help=: one line per paragraph (facelab.cli.helptext rewraps docstrings).
_FACES_HELP = (
    "Draw synthetic faces: n distinct identities, or K sightings of one identity.\n\n"
    "Without --sightings: the undisturbed 64x64 face of each identity 0..n-1 under --seed. "
    'With --sightings K: K "pre-loaded frame" portraits of --identity, each a latent '
    "variation (sigma = synth.DEFAULT_LATENT_SIGMA) with the default photo degradation. "
    "Every PNG carries a signed provenance record."
)
_STATS_HELP = (
    "SFace genuine-vs-impostor statistics on facelab's own synthetic faces.\n\n"
    "Renders K sighting portraits per identity (default variation and photo degradation), "
    "detects (YuNet, largest face), aligns and embeds (SFace), and scores every genuine pair "
    "and every impostor pair (a deterministic subsample when there are very many). Prints "
    "means, standard deviations and FMR / FNMR at 50/60/70/80 % under the default linear "
    "mapping, with counts and Wilson 95 % intervals."
)
_FRAMES_HELP = (
    "Render one camera's frames for one day, with ground truth beside them.\n\n"
    "Writes each frame as a signed PNG, truth.json (frame id, time, and for each face the "
    "person, pass id and box x, y, w, h), and with --clip an MJPG .avi."
)


@synth_app.command("faces", help=_FACES_HELP)
def faces_cmd(
    n: Annotated[
        int, typer.Option("--n", min=1, max=4096, help="Distinct identities (ids 0..n-1).")
    ] = 64,
    seed: Annotated[
        int, typer.Option("--seed", parser=options.seed(), help="World seed of the identities.")
    ] = 0,
    sightings: Annotated[
        int | None,
        typer.Option(
            "--sightings",
            min=1,
            max=4096,
            help="Draw this many sighting portraits of ONE identity instead of n identities.",
        ),
    ] = None,  # fmt: skip
    identity: Annotated[
        int,
        typer.Option(
            "--identity",
            parser=options.identifier("--identity"),
            help="Identity drawn with --sightings.",
        ),
    ] = 0,
    sheet: Annotated[
        Path | None,
        typer.Option(
            "--sheet",
            dir_okay=False,
            help="Contact sheet PNG to write [default: faces-N.png or sightings-K.png here].",
        ),
    ] = None,  # fmt: skip
    out: Annotated[
        Path | None,
        typer.Option("--out", file_okay=False, help="Also write each face as its own PNG here."),
    ] = None,
    cols: Annotated[int, typer.Option("--cols", min=1, max=64, help="Sheet columns.")] = 8,
    cell: Annotated[
        int | None,
        typer.Option(
            "--cell",
            min=32,
            max=512,
            help=f"Sheet cell side in px [default: {SHEET_CELL_FACE} for faces, "
            f"{SHEET_CELL_PORTRAIT} for sighting portraits].",
        ),  # fmt: skip
    ] = None,
) -> None:
    """Draw synthetic faces (see ``_FACES_HELP``)."""
    from facelab import api

    res = api.synth_faces(n, seed=seed, sightings=sightings, identity=identity, sheet=sheet,
                          out=out, cols=cols, cell=cell)  # fmt: skip
    print(f"contact sheet of {res.what} (seed {seed}): {res.sheet}")
    if out is not None:
        print(f"{len(res.files)} face PNGs: {out}/")


@synth_app.command("stats", help=_STATS_HELP)
def stats_cmd(
    identities: Annotated[
        int,
        typer.Option("--identities", min=2, max=100_000, help="Identities (ids 0..I-1)."),
    ] = 100,
    sightings: Annotated[
        int,
        typer.Option("--sightings", min=2, max=1000, help="Sighting portraits per identity."),
    ] = 4,
    seed: Annotated[int, typer.Option("--seed", parser=options.seed(), help="World seed.")] = 0,
    fmt: options.TextOrJson = "text",
    backend: Annotated[
        str, typer.Option("--backend", help="auto, onnxruntime or openvino: where the models run.")
    ] = "onnxruntime",
) -> None:
    """SFace genuine-vs-impostor statistics (see ``_STATS_HELP``)."""
    import cv2

    from facelab.lab import calibration

    # OpenCV's DNN engine warns about targets on stderr when YuNet loads; keep stderr for errors.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    res = calibration.genuine_impostor_scores(identities, sightings, seed, backend=backend)
    summary = res.summary()
    if fmt == "json":
        print(json.dumps(summary, indent=2))
        return
    g, i = summary["genuine"], summary["impostor"]
    d = res.degradation
    print(
        f"SFace on synthetic portraits: {identities} identities x {sightings} sightings, "
        f"seed {seed}, sigma {res.sigma:g}, photo blur {d.blur_sigma:g} noise {d.noise_sd:g} "
        f"jpeg {d.jpeg_quality}"
    )
    print(f"faces detected: {res.detected}/{res.faces}")
    print(
        f"genuine   pairs {g['count']:>9,}  mean {g['mean']:.3f}  sd {g['sd']:.3f}  "
        f"min {g['min']:.3f}"
    )
    sub = "" if i["count"] == i["total_pairs"] else f" (of {i['total_pairs']:,})"
    print(
        f"impostor  pairs {i['count']:>9,}  mean {i['mean']:.3f}  sd {i['sd']:.3f}  "
        f"max {i['max']:.3f}{sub}"
    )
    print(f"mapping: {summary['mapping']} (percent = 100 x clip(cos, 0, 1)); score >= T matches")
    for op in res.operating_points():
        print(f"  {op.percent:5.1f} %  cos >= {op.cosine:.3f}  FMR {op.fmr}  FNMR {op.fnmr}")


_GROUPS_HELP = (
    "How the generator's faces fall into the measured groups (a scenario's population "
    "groups).\n\n"
    "Measures the Individual Typology Angle (ITA) on the cheeks of the undisturbed face of "
    "identities 0..I-1 and counts them per ITA band; with --sightings K, also the share of K "
    "latent variations per identity whose face stays in its identity's band. The groups are "
    "bands of an image colour measure of synthetic faces, not skin types or ethnicities "
    "(docs/groups.md)."
)


@synth_app.command("groups", help=_GROUPS_HELP)
def groups_cmd(
    identities: Annotated[
        int, typer.Option("--identities", min=1, max=100_000, help="Identities (ids 0..I-1).")
    ] = 1000,
    sightings: Annotated[
        int, typer.Option("--sightings", min=0, max=100, help="Latent variations per identity.")
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", parser=options.seed(), help="World seed.")] = 0,
    fmt: options.TextOrJson = "text",
) -> None:
    """ITA distribution of the generator's faces (see ``_GROUPS_HELP``)."""
    from facelab import api

    d = api.synth_groups(identities, seed=seed, sightings=sightings).to_dict()
    if fmt == "json":
        print(json.dumps(d, indent=2))
        return
    print(f"ITA of {identities} synthetic faces (seed {seed}); groups are bands of an image "
          "colour measure, not skin types or ethnicities")  # fmt: skip
    for g, c in d["counts"].items():
        print(f"  {g:<13} {c:>7,}  {100 * d['shares'][g]:5.1f} %")
    p = d["ita_percentiles"]
    print("ITA percentiles: " + ", ".join(f"{k} {v:g}°" for k, v in p.items()))
    if sightings:
        print(f"sightings in their identity's group: {100 * d['sighting_agreement']:.1f} % "
              f"({sightings} per identity, latent sigma {d['sigma']:g})")  # fmt: skip


@app.command("frames", help=_FRAMES_HELP)
def frames_cmd(
    scenario: Annotated[
        str, typer.Argument(help="Preset name (classroom, metro) or path to a .toml.")
    ],
    camera: Annotated[str, typer.Option("--camera", help="Camera id, e.g. north-gate.")],
    day: Annotated[
        int,
        typer.Option("--day", parser=options.integer("--day", 0), help="Day index, 0 .. days-1."),
    ],
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Folder for the PNGs and truth.json.")
    ],
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", parser=options.count("--limit"), help="Render only the first N frames."
        ),
    ] = None,
    clip: Annotated[
        bool, typer.Option("--clip", help="Also write the frames as an MJPG clip (.avi).")
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option("--seed", parser=options.seed(), help="Override the scenario's seed."),
    ] = None,
) -> None:
    """Render one camera-day's frames with ground truth (see ``_FRAMES_HELP``)."""
    from rich.console import Console
    from rich.progress import Progress

    from facelab import api
    from facelab.lab.render import render_frames

    sc = api.load_scenario(scenario, seed=seed)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = None

        def on_frame(total: int) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task(f"rendering {camera} day {day}", total=total,
                                         visible=total >= PROGRESS_MIN_FRAMES)  # fmt: skip
            progress.advance(task)

        res = render_frames(sc, camera, day, out, limit=limit, clip=clip, on_frame=on_frame)
    print(f"{res.frames} frames ({res.faces} faces) of {camera}, day {day}: {out}/")
    print(f"ground truth: {res.truth}")
    if clip:
        print(f"clip: {res.clip}" if res.clip else "no frames, so no clip")
