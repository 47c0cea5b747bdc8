"""CLI commands: ``facelab synth faces``, ``facelab synth stats`` and ``facelab frames``.

Every PNG written here carries a signed provenance record (:mod:`facelab.governance.provenance`), so the
images can be fed back into facelab and nothing else can.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated

import typer

from facelab.cli._app import app
from facelab.errors import ConfigError

synth_app = typer.Typer(
    help="Synthetic faces: contact sheets, sighting variations, SFace genuine/impostor statistics.",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")

GENERATOR = "dcgan-digiface"
PROGRESS_MIN_FRAMES = 8  # show a progress bar from this many frames on
SHEET_CELL_FACE = 96  # contact-sheet cell of a 64 px face
SHEET_CELL_PORTRAIT = 160  # contact-sheet cell of a 192 px portrait


def _sheet_default(name: str) -> Path:
    return Path.cwd() / name


# Help texts: one line per paragraph, because typer keeps a docstring's line breaks.
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
    seed: Annotated[int, typer.Option("--seed", min=0, help="World seed of the identities.")] = 0,
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
        int, typer.Option("--identity", min=0, help="Identity drawn with --sightings.")
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
    from facelab.governance import provenance
    from facelab.lab import calibration
    from facelab.world import synth

    gen = synth.FaceGenerator()
    side = cell or (SHEET_CELL_FACE if sightings is None else SHEET_CELL_PORTRAIT)
    if sightings is None:
        ids = list(range(n))
        images = list(gen.identities(seed, ids))
        captions = [f"id {i}" for i in ids]
        names = [f"face-s{seed}-id{i:05d}.png" for i in ids]
        records = [
            provenance.make_record(
                "face",
                generator=GENERATOR,
                model_sha256=gen.model_sha256,
                seed=seed,
                identity=i,
                params={
                    "sigma": 0.0,
                    "sighting": None,
                    "degradation": synth.NO_DEGRADATION.to_dict(),
                    "size": synth.FACE_SIZE,
                },
            )  # fmt: skip
            for i in ids
        ]
        sheet_record = provenance.make_record(
            "sheet", generator=GENERATOR, model_sha256=gen.model_sha256, seed=seed,
            identity=None, params={
                "content": "identities", "identity_range": [0, n - 1], "sigma": 0.0,
                "degradation": synth.NO_DEGRADATION.to_dict(), "cols": cols, "cell": side,
            },
        )  # fmt: skip
        default_sheet = f"faces-{n}.png"
    else:
        arr, _, ks = calibration.sighting_portraits(gen, seed, [identity], sightings)
        images = list(arr)
        sigma = synth.DEFAULT_LATENT_SIGMA
        degr = synth.DEFAULT_PHOTO_DEGRADATION.to_dict()
        captions = [f"id {identity} #{k}" for k in ks]
        names = [f"portrait-s{seed}-id{identity:05d}-k{k:03d}.png" for k in ks]
        records = [
            provenance.make_record(
                "portrait",
                generator=GENERATOR,
                model_sha256=gen.model_sha256,
                seed=seed,
                identity=identity,
                params={
                    "sigma": sigma,
                    "sighting": int(k),
                    "sighting_id": calibration.sighting_id(identity, int(k)),
                    "sighting_stream": calibration.PORTRAIT_SIGHTING_STREAM,
                    "degradation": degr,
                    "size": synth.PORTRAIT_SIZE,
                    "face_px": synth.PORTRAIT_FACE_PX,
                },
            )  # fmt: skip
            for k in ks
        ]
        sheet_record = provenance.make_record(
            "sheet", generator=GENERATOR, model_sha256=gen.model_sha256, seed=seed,
            identity=identity, params={
                "content": "sightings", "sightings": sightings, "sigma": sigma,
                "sighting_stream": calibration.PORTRAIT_SIGHTING_STREAM,
                "degradation": degr, "cols": cols, "cell": side,
            },
        )  # fmt: skip
        default_sheet = f"sightings-{sightings}.png"

    sheet_path = sheet or _sheet_default(default_sheet)
    image = synth.contact_sheet(images, cols=min(cols, len(images)), cell=side, captions=captions)
    provenance.write_image(sheet_path, image, sheet_record)
    what = f"{n} identities" if sightings is None else f"{sightings} sightings of id {identity}"
    print(f"contact sheet of {what} (seed {seed}): {sheet_path}")
    if out is not None:
        for name, img, rec in zip(names, images, records, strict=True):
            provenance.write_image(out / name, img, rec)
        print(f"{len(images)} face PNGs: {out}/")


@synth_app.command("stats", help=_STATS_HELP)
def stats_cmd(
    identities: Annotated[
        int, typer.Option("--identities", min=2, help="Identities (ids 0..I-1).")
    ] = 100,
    sightings: Annotated[
        int, typer.Option("--sightings", min=2, help="Sighting portraits per identity.")
    ] = 4,
    seed: Annotated[int, typer.Option("--seed", min=0, help="World seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """SFace genuine-vs-impostor statistics (see ``_STATS_HELP``)."""
    import cv2

    from facelab.lab import calibration

    # OpenCV's DNN engine warns about targets on stderr when YuNet loads; keep stderr for errors.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    res = calibration.genuine_impostor_scores(identities, sightings, seed)
    summary = res.summary()
    if as_json:
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


def _camera_index(sc, camera_id: str) -> int:
    try:
        return sc.camera_index(camera_id)
    except KeyError:
        ids = [c.id for c in sc.cameras]
        hint = difflib.get_close_matches(camera_id, ids, n=1)
        more = f"did you mean {hint[0]!r}? " if hint else ""
        shown = ", ".join(ids[:8]) + (f", … ({len(ids)} cameras)" if len(ids) > 8 else "")
        raise ConfigError(
            f"{sc.source}: unknown camera id {camera_id!r}; {more}valid ids: {shown}"
        ) from None


@app.command("frames", help=_FRAMES_HELP)
def frames_cmd(
    scenario: Annotated[
        str, typer.Argument(help="Preset name (classroom, metro) or path to a .toml.")
    ],
    camera: Annotated[str, typer.Option("--camera", help="Camera id, e.g. north-gate.")],
    day: Annotated[int, typer.Option("--day", help="Day index, 0 .. days-1.")],
    out: Annotated[
        Path, typer.Option("--out", file_okay=False, help="Folder for the PNGs and truth.json.")
    ],
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Render only the first N frames.")
    ] = None,
    clip: Annotated[
        bool, typer.Option("--clip", help="Also write the frames as an MJPG clip (.avi).")
    ] = False,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Override the scenario's seed.")
    ] = None,
) -> None:
    """Render one camera-day's frames with ground truth (see ``_FRAMES_HELP``)."""
    from rich.console import Console
    from rich.progress import Progress

    from facelab.config.scenario import load_scenario
    from facelab.governance import provenance
    from facelab.world import camera as cam_mod
    from facelab.world import synth
    from facelab.world.world import build_world

    sc = load_scenario(scenario)
    if seed is not None:
        sc = sc.with_overrides(seed=seed)
    ci = _camera_index(sc, camera)
    if not 0 <= day < sc.days:
        raise ConfigError(
            f"{sc.source}: day {day} is out of range; "
            f"scenario {sc.name!r} has days 0..{sc.days - 1}"
        )
    world = build_world(sc)
    truth = world.frames(ci, day)
    if limit is not None:
        truth = truth[:limit]
    gen = synth.FaceGenerator()
    renderer = cam_mod.CameraRenderer(sc, world, gen)
    out.mkdir(parents=True, exist_ok=True)
    records, images = [], []
    batch = 16
    with Progress(
        console=Console(stderr=True), transient=True, disable=len(truth) < PROGRESS_MIN_FRAMES
    ) as progress:
        task = progress.add_task(f"rendering {camera} day {day}", total=len(truth))
        for s in range(0, len(truth), batch):
            for frame in renderer.render(truth[s : s + batch]):
                name = f"{frame.frame_id}.png"
                provenance.write_image(
                    out / name, frame.image, cam_mod.frame_record(frame, sc, gen.model_sha256)
                )
                records.append(
                    {
                        "frame_id": frame.frame_id,
                        "file": name,
                        "t": frame.t,
                        "faces": [
                            {
                                "person": f.person,
                                "pid": f.pid,
                                "box": list(f.box),
                                "degradation": f.degradation.to_dict(),
                            }
                            for f in frame.faces
                        ],
                    }
                )
                if clip:
                    images.append(frame.image)
                progress.advance(task)
    doc = {
        "scenario": sc.name,
        "seed": sc.seed,
        "camera": camera,
        "camera_index": ci,
        "day": day,
        "box_format": "x, y, w, h in pixels",
        "frames": records,
    }
    (out / "truth.json").write_text(json.dumps(doc, indent=1) + "\n")
    n_faces = sum(len(r["faces"]) for r in records)
    print(f"{len(records)} frames ({n_faces} faces) of {camera}, day {day}: {out}/")
    print(f"ground truth: {out / 'truth.json'}")
    if clip:
        if images:
            path = cam_mod.write_clip(images, out / f"{camera}-d{day:03d}.avi")
            print(f"clip: {path}")
        else:
            print("no frames, so no clip")
