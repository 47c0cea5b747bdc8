"""Images for people to look at: contact sheets of synthetic faces, and one camera-day's frames
with their ground truth (``facelab synth faces`` and ``facelab frames``).

Every PNG written here carries a signed provenance record
(:mod:`facelab.governance.provenance`), so the images can be fed back into facelab and nothing
else can.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facelab.errors import ConfigError

GENERATOR = "dcgan-digiface"
SHEET_CELL_FACE = 96  # contact-sheet cell of a 64 px face
SHEET_CELL_PORTRAIT = 160  # contact-sheet cell of a 192 px portrait


@dataclass(frozen=True)
class FacesResult:
    """What :func:`synth_faces` wrote: the sheet, and each face's PNG when asked."""

    sheet: Path
    what: str
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class FramesResult:
    """What :func:`render_frames` wrote."""

    out: Path
    truth: Path
    frames: int
    faces: int
    clip: Path | None


def synth_faces(n: int = 64, *, seed: int = 0, sightings: int | None = None, identity: int = 0,
                sheet: str | Path | None = None, out: str | Path | None = None, cols: int = 8,
                cell: int | None = None) -> FacesResult:  # fmt: skip
    """Draw ``n`` identities (or ``sightings`` portraits of ``identity``) into a signed contact
    sheet (default ``faces-N.png`` / ``sightings-K.png`` in the current folder), and with
    ``out`` each face as its own signed PNG there."""
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

    sheet_path = Path(sheet) if sheet is not None else Path.cwd() / default_sheet
    image = synth.contact_sheet(images, cols=min(cols, len(images)), cell=side, captions=captions)
    provenance.write_image(sheet_path, image, sheet_record)
    what = f"{n} identities" if sightings is None else f"{sightings} sightings of id {identity}"
    files: list[Path] = []
    if out is not None:
        for name, img, rec in zip(names, images, records, strict=True):
            files.append(Path(out) / name)
            provenance.write_image(files[-1], img, rec)
    return FacesResult(sheet_path, what, tuple(files))


def camera_index(sc, camera_id: str) -> int:
    """Index of ``camera_id`` in the scenario; ``ConfigError`` naming the closest id if none."""
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


def frame_count(sc, camera: str, day: int, limit: int | None = None) -> int:
    """How many frames :func:`render_frames` will write (for a progress bar)."""
    from facelab.world.world import build_world

    n = len(build_world(sc).frames(camera_index(sc, camera), day))
    return n if limit is None else min(n, limit)


def render_frames(sc, camera: str, day: int, out: str | Path, *, limit: int | None = None,
                  clip: bool = False,
                  on_frame: Callable[[int], None] | None = None) -> FramesResult:  # fmt: skip
    """Render one camera-day of scenario ``sc`` into ``out``: signed PNG frames, ``truth.json``
    (frame id, time, and for each face person, pass id, box and degradation) and with ``clip``
    an MJPG ``.avi``. ``on_frame(total)`` is called after each frame."""
    from facelab.governance import provenance
    from facelab.world import camera as cam_mod
    from facelab.world import synth
    from facelab.world.world import build_world

    ci = camera_index(sc, camera)
    if not 0 <= day < sc.days:
        raise ConfigError(
            f"{sc.source}: day {day} is out of range; "
            f"scenario {sc.name!r} has days 0..{sc.days - 1}"
        )
    out = Path(out)
    world = build_world(sc)
    truth = world.frames(ci, day)
    if limit is not None:
        truth = truth[:limit]
    gen = synth.FaceGenerator()
    renderer = cam_mod.CameraRenderer(sc, world, gen)
    out.mkdir(parents=True, exist_ok=True)
    records, images = [], []
    batch = 16
    for s in range(0, len(truth), batch):
        for frame in renderer.render(truth[s : s + batch]):
            name = f"{frame.frame_id}.png"
            provenance.write_image(
                out / name, frame.image, cam_mod.frame_record(frame, sc, gen.model_sha256)
            )
            records.append({
                "frame_id": frame.frame_id, "file": name, "t": frame.t,
                "faces": [
                    {"person": f.person, "pid": f.pid, "box": list(f.box),
                     "degradation": f.degradation.to_dict()}
                    for f in frame.faces
                ],
            })  # fmt: skip
            if clip:
                images.append(frame.image)
            if on_frame is not None:
                on_frame(len(truth))
    doc = {
        "scenario": sc.name, "seed": sc.seed, "camera": camera, "camera_index": ci, "day": day,
        "box_format": "x, y, w, h in pixels", "frames": records,
    }  # fmt: skip
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(doc, indent=1) + "\n")
    clip_path = None
    if clip and images:
        clip_path = cam_mod.write_clip(images, out / f"{camera}-d{day:03d}.avi")
    n_faces = sum(len(r["faces"]) for r in records)
    return FramesResult(out, truth_path, len(records), n_faces, clip_path)
