"""Could detection cost less CPU without changing what is embedded? (diagnostic, not a test)

Run: ``.venv/bin/python benchmarks/experiments/detect_cheaper.py`` (about a minute).

Frames: the classroom preset (seed 7) with 200 people, the first 200 FR frames of day 0 (one face
each). For each way of detecting, prints ms a frame (one onnxruntime thread), faces found at
IoU >= 0.5 with the ground truth, and how the faces it aligns embed compared with full-frame
detection (cosine of the two embeddings; 1.0 = the same face crop):

* ``full``: YuNet on the whole 640x480 frame (what facelab does);
* ``scale 0.75`` / ``scale 0.5``: YuNet on a downscaled frame, landmarks mapped back;
* ``roi``: proposals from YuNet at half resolution (a low threshold), then YuNet on a crop of the
  full frame around each proposal, the crop's corners on YuNet's 32-pixel stride grid and
  ``ROI_MARGIN`` pixels of context on each side, keeping the strongest face per crop.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from facelab import camera, embed, synth
from facelab.detect import FaceDetector, iou
from facelab.embed import Embedder
from facelab.scenario import PopulationSpec, load_scenario
from facelab.world import build_world

FRAMES = 200
ROI_MARGIN = 96
PROPOSAL_THRESHOLD = 0.3
GRID = 32


def frames():
    sc = load_scenario("classroom").with_overrides(population=PopulationSpec(200), days=1)
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator())
    truth = list(world.fr_frames(0))[:FRAMES]
    return [f for s in range(0, len(truth), 16) for f in renderer.render(truth[s : s + 16])]


def detect_scaled(det: FaceDetector, scale: float):
    def run(img):
        small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        d = det.detect(small)
        return d.boxes / scale, d.landmarks / scale

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

    return run


def main() -> None:
    fr = frames()
    det, emb = FaceDetector(), Embedder()
    ways = {
        "full": detect_scaled(det, 1.0),
        "scale 0.75": detect_scaled(det, 0.75),
        "scale 0.5": detect_scaled(det, 0.5),
        "roi": detect_roi(det, FaceDetector(score_threshold=PROPOSAL_THRESHOLD)),
    }
    reference = None
    for name, run in ways.items():
        found, crops, seconds = {}, {}, 0.0
        for f in fr:
            t = time.perf_counter()
            boxes, marks = run(f.image)
            seconds += time.perf_counter() - t
            for face in f.faces:
                ious = [iou(b, face.box) for b in boxes]
                if ious and max(ious) >= 0.5:
                    j = int(np.argmax(ious))
                    found[face.pid] = embed.align(f.image, marks[j])
        pids = sorted(found)
        vecs = dict(zip(pids, emb.embed(np.stack([found[p] for p in pids]))))
        if reference is None:
            reference = vecs
        cos = [float(vecs[p] @ reference[p]) for p in pids if p in reference]
        n_faces = sum(len(f.faces) for f in fr)
        print(
            f"{name:11s} {seconds / len(fr) * 1e3:6.2f} ms/frame  found {len(found)}/{n_faces}  "
            f"cosine to full: median {np.median(cos):.3f}, 5th percentile {np.percentile(cos, 5):.3f}"
        )


if __name__ == "__main__":
    main()
