"""Could detection cost less CPU without changing what is embedded? (diagnostic, not a test)

Run: ``.venv/bin/python benchmarks/experiments/detect_cheaper.py [QUALITY]`` (about a minute);
``QUALITY`` (``good``, ``fair``, ``poor``) puts every camera at that quality profile (the
preset's own by default).

Frames: the classroom preset (seed 7) with 200 people, the first 200 FR frames of day 0 (one face
each). For each way of detecting, prints ms a frame (one onnxruntime thread), faces found at
IoU >= 0.5 with the ground truth, and how the faces it aligns embed compared with full-frame
detection (cosine of the two embeddings; 1.0 = the same face crop):

* ``full``: YuNet on the whole 640x480 frame (``[detection] regions = "full"``);
* ``scale 0.75`` / ``scale 0.5``: YuNet on a downscaled frame, landmarks mapped back;
* ``roi``: proposals from YuNet at half resolution (a low threshold), then YuNet on a crop of the
  full frame around each proposal, the crop's corners on YuNet's 32-pixel stride grid and
  ``ROI_MARGIN`` pixels of context on each side, keeping the strongest face per crop;
* ``motion``: facelab's default (``[detection] regions = "motion"``): YuNet on the regions of
  each frame that changed against the other frames of its camera in the same chunk of 16 frames
  (:mod:`facelab.world.motion`), the whole frame where that is not possible.

Also prints the mean genuine score (cosine between two sightings of the same person, over the
faces both this way and the whole frame found, for each of the two) so that a way that shifts
embeddings can be told from one that degrades them.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import cv2
import numpy as np

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.vision import embed
from facelab.vision.detect import FaceDetector, iou
from facelab.vision.embed import Embedder
from facelab.world import camera, motion, synth
from facelab.world.world import build_world

FRAMES = 200
CHUNK = 16  # frames per pipeline chunk (pipeline.RENDER_BATCH)
ROI_MARGIN = 96
PROPOSAL_THRESHOLD = 0.3
GRID = 32


def frames(quality: str | None = None):
    sc = load_scenario("classroom").with_overrides(population=PopulationSpec(200), days=1)
    if quality:
        sc = sc.with_overrides(
            cameras=tuple(dataclasses.replace(c, quality=quality) for c in sc.cameras)
        )
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator())
    truth = list(world.fr_frames(0))[:FRAMES]
    return [f for s in range(0, len(truth), 16) for f in renderer.render(truth[s : s + 16])]


def per_frame(run):
    """A way that looks at one frame at a time, applied to a chunk."""
    return lambda chunk: [run(f.image) for f in chunk]


def detect_scaled(det: FaceDetector, scale: float):
    def run(img):
        small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        d = det.detect(small)
        return d.boxes / scale, d.landmarks / scale

    return per_frame(run)


def detect_motion(det: FaceDetector):
    def run(chunk):
        found = [det.detect_regions(f.image, r) for f, r in zip(chunk, motion.frame_regions(chunk))]
        return [(d.boxes, d.landmarks) for d in found]

    return run


def detect_roi(det: FaceDetector, proposer: FaceDetector):
    def run(img):
        h, w = img.shape[:2]
        small = cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        boxes, marks = [], []
        for b in proposer.detect(small).boxes * 2:
            x0 = max(0, int((b[0] - ROI_MARGIN) // GRID * GRID))
            y0 = max(0, int((b[1] - ROI_MARGIN) // GRID * GRID))
            x1 = min(w, int(-(-(b[0] + b[2] + ROI_MARGIN) // GRID) * GRID))
            y1 = min(h, int(-(-(b[1] + b[3] + ROI_MARGIN) // GRID) * GRID))
            d = det.detect(np.ascontiguousarray(img[y0:y1, x0:x1]))
            if len(d):
                boxes.append(d.boxes[0] + [x0, y0, 0, 0])
                marks.append(d.landmarks[0] + [x0, y0])
        return np.array(boxes).reshape(-1, 4), np.array(marks).reshape(-1, 5, 2)

    return per_frame(run)


def main() -> None:
    fr = frames(sys.argv[1] if len(sys.argv) > 1 else None)
    det, emb = FaceDetector(), Embedder()
    ways = {
        "full": detect_scaled(det, 1.0),
        "scale 0.75": detect_scaled(det, 0.75),
        "scale 0.5": detect_scaled(det, 0.5),
        "roi": detect_roi(det, FaceDetector(score_threshold=PROPOSAL_THRESHOLD)),
        "motion": detect_motion(det),
    }
    person = {face.pid: face.person for f in fr for face in f.faces}
    results = {}
    for name, run in ways.items():
        found, seconds = {}, 0.0
        for s in range(0, len(fr), CHUNK):
            chunk = fr[s : s + CHUNK]
            t = time.perf_counter()
            out = run(chunk)
            seconds += time.perf_counter() - t
            for f, (boxes, marks) in zip(chunk, out):
                for face in f.faces:
                    ious = [iou(b, face.box) for b in boxes]
                    if ious and max(ious) >= 0.5:
                        found[face.pid] = embed.align(f.image, marks[int(np.argmax(ious))])
        pids = sorted(found)
        results[name] = (seconds, dict(zip(pids, emb.embed(np.stack([found[p] for p in pids])))))
    reference = results["full"][1]
    n_faces = sum(len(f.faces) for f in fr)
    for name, (seconds, vecs) in results.items():
        cos = [float(vecs[p] @ reference[p]) for p in vecs if p in reference]
        print(
            f"{name:11s} {seconds / len(fr) * 1e3:6.2f} ms/frame  found {len(vecs)}/{n_faces}  "
            f"cosine to full: median {np.median(cos):.3f}, 5th percentile {np.percentile(cos, 5):.3f}  "
            f"genuine mean (faces full-frame found too) {genuine_mean(vecs, set(vecs) & set(reference), person):.4f}"
            f" vs full {genuine_mean(reference, set(vecs) & set(reference), person):.4f}"
        )


def genuine_mean(vecs: dict, pids, person: dict) -> float:
    """Mean cosine over pairs of sightings of the same person (among ``pids``)."""
    by_person: dict[int, list] = {}
    for p in sorted(pids):
        by_person.setdefault(person[p], []).append(vecs[p])
    scores = [
        float(a @ b) for xs in by_person.values() for i, a in enumerate(xs) for b in xs[i + 1 :]
    ]
    return float(np.mean(scores)) if scores else float("nan")


if __name__ == "__main__":
    main()
