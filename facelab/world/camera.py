"""Camera frames: the faces passing a camera, blended into a procedural scene.

For each frame of the ground-truth schedule (:meth:`facelab.world.world.World.frames`), every person
passing is drawn as a sighting of their identity (latent variation keyed by the pass id), placed
at a size from the camera's quality profile, softly blended into the camera's background, and
the whole frame is degraded by the profile (blur, noise, brightness, occlusion, JPEG). The
ground truth of each face (person, pass id, box) travels beside the pixels, never inside them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facelab.errors import DataError
from facelab.world import synth

log = logging.getLogger(__name__)

FRAME_STREAM = 201
BACKGROUND_STREAM = 202
CLIP_FPS = 4


@dataclass(frozen=True)
class FaceTruth:
    """Ground truth of one rendered face: who, which pass, where, how degraded."""

    pid: int
    person: int
    box: tuple[int, int, int, int]
    degradation: synth.Degradation


@dataclass(frozen=True)
class Frame:
    """One rendered camera frame.

    Attributes
    ----------
    frame_id : stable id, e.g. ``"gate-0001-d003-041234"``.
    camera : camera index into ``scenario.cameras``.
    t : seconds since the start of day 0.
    image : uint8 (H, W, 3) BGR.
    faces : ground truth of the faces drawn in it.
    """

    frame_id: str
    camera: int
    t: int
    image: np.ndarray
    faces: tuple[FaceTruth, ...]


def background(width: int, height: int, seed: int, camera: int) -> np.ndarray:
    """A camera's fixed procedural scene: a shaded wall, floor, and a few panels (gates, ads)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, BACKGROUND_STREAM, camera]))
    wall = rng.uniform(60, 190, size=3)
    floor = rng.uniform(40, 140, size=3)
    img = np.empty((height, width, 3), np.float32)
    horizon = int(height * rng.uniform(0.62, 0.75))
    shade = np.linspace(0.8, 1.15, width, dtype=np.float32)[None, :, None]
    img[:horizon] = wall * shade
    img[horizon:] = floor * shade
    for _ in range(rng.integers(3, 7)):
        x0, y0 = int(rng.uniform(0, width * 0.9)), int(rng.uniform(0, horizon * 0.8))
        w, h = int(rng.uniform(20, width * 0.3)), int(rng.uniform(10, height * 0.4))
        img[y0 : y0 + h, x0 : x0 + w] = rng.uniform(30, 230, size=3)
    img += rng.normal(0, 3, size=(height, width, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


class CameraRenderer:
    """Renders the frames of a world's cameras, deterministically.

    Parameters
    ----------
    scenario : :class:`facelab.config.scenario.Scenario`
    world : :class:`facelab.world.world.World`
    generator : :class:`facelab.world.synth.FaceGenerator`
    """

    def __init__(self, scenario, world, generator: synth.FaceGenerator):
        self.scenario = scenario
        self.world = world
        self.generator = generator
        self._backgrounds: dict[int, np.ndarray] = {}

    def _background(self, camera: int) -> np.ndarray:
        if camera not in self._backgrounds:
            w, h = self.scenario.cameras[camera].resolution
            self._backgrounds[camera] = background(w, h, self.scenario.seed, camera)
        return self._backgrounds[camera]

    def render(self, frames) -> list[Frame]:
        """Render a batch of :class:`facelab.world.world.FrameTruth` (faces generated in one batch)."""
        frames = list(frames)
        pids = [p for f in frames for p in f.passes]
        persons = [p for f in frames for p in f.persons]
        if not pids:
            return []
        faces = self.generator.sightings(
            self.scenario.seed, persons, pids, self.scenario.variation.latent_sigma,
            attempts=self.world.latent_attempts(persons),
        )  # fmt: skip
        out, k = [], 0
        for f in frames:
            n = len(f.passes)
            out.append(self._compose(f, faces[k : k + n]))
            k += n
        return out

    def frames(self, camera: int, day: int, batch: int = 64) -> Iterator[Frame]:
        """Rendered frames of one camera for one day, in time order."""
        truth = self.world.frames(camera, day)
        for s in range(0, len(truth), batch):
            yield from self.render(truth[s : s + batch])

    def _compose(self, f, faces: np.ndarray) -> Frame:
        cam = self.scenario.cameras[f.camera]
        prof = self.scenario.quality[cam.quality]
        w, h = cam.resolution
        key = int(f.passes[0])
        rng = np.random.default_rng(np.random.SeedSequence([self.scenario.seed, FRAME_STREAM, key]))
        image = self._background(f.camera).copy()
        n = len(f.passes)
        slot = w // n
        truths = []
        for i in range(n):
            side = int(rng.integers(prof.face_px[0], prof.face_px[1] + 1))
            side = max(16, min(side, slot - 4, h - 4))
            x = i * slot + int(rng.integers(0, max(slot - side, 0) + 1))
            y = int(rng.integers(int(h * 0.05), max(int(h * 0.05) + 1, h - side - int(h * 0.1))))
            # Keep the truth box inside the frame: in crowded frames (slot < 20 px) the 16 px
            # minimum overflows the slot, and the box reaches ~2 % below the crop's bottom edge.
            _, by, _, bh = synth.face_box(0, 0, side)
            x = min(x, w - side)
            y = min(y, h - max(side, by + bh))
            synth.paste_face(image, faces[i], x, y, side)
            d = synth.sample_degradation(prof, rng)
            box = synth.face_box(x, y, side)
            if d.occlusion > 0:  # occlude this face only, before the whole-frame degradation
                image = synth.degrade(image, synth.Degradation(occlusion=d.occlusion), rng, box)
            truths.append(FaceTruth(int(f.passes[i]), int(f.persons[i]), box, d))
        # One frame, one exposure: the frame-level degradation uses the first face's draw.
        d0 = truths[0].degradation
        image = synth.degrade(image, synth.Degradation(
            blur_sigma=d0.blur_sigma, noise_sd=d0.noise_sd, brightness=d0.brightness,
            jpeg_quality=d0.jpeg_quality), rng)  # fmt: skip
        return Frame(f.frame_id, f.camera, int(f.t), image, tuple(truths))


def frame_record(frame: Frame, scenario, generator_sha256: str) -> dict:
    """The provenance record of a frame: what made it, from which seed, with which faces."""
    from facelab.governance.provenance import make_record

    return make_record(
        "frame", generator="dcgan-digiface", model_sha256=generator_sha256, seed=scenario.seed,
        params={
            "scenario": scenario.name,
            "frame_id": frame.frame_id,
            "camera": scenario.cameras[frame.camera].id,
            "t": frame.t,
            "pids": [f.pid for f in frame.faces],
        },
    )  # fmt: skip


def write_clip(images: list[np.ndarray], path: Path, fps: int = CLIP_FPS) -> Path:
    """Write frames as a short MJPG video clip (``.avi``); returns the path."""
    if not images:
        raise DataError("write_clip: no frames")
    h, w = images[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise DataError(f"cannot write video clip {path}")
    try:
        for img in images:
            writer.write(cv2.resize(img, (w, h)) if img.shape[:2] != (h, w) else img)
    finally:
        writer.release()
    return path
