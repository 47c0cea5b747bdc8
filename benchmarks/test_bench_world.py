"""Synthetic-world benchmarks: YuNet recall on rendered frames, SFace genuine/impostor figures
on facelab's own faces, SFace throughput by batch size.

Each benchmark records its figures in ``benchmark.extra_info`` and asserts only that it ran;
``benchmarks/README.md`` ("Synthetic world") holds the figures measured and the command.
"""

from __future__ import annotations

import numpy as np
import pytest

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.lab import calibration
from facelab.vision.detect import iou
from facelab.vision.embed import Embedder
from facelab.world import camera
from facelab.world.world import build_world

RECALL_PEOPLE = 200
RECALL_DAYS = 2
MIN_FACE_PX = 48
IOU_MIN = 0.5

STATS_IDENTITIES = 100
STATS_SIGHTINGS = 4
STATS_SEED = 0

THROUGHPUT_FACES = 64
THROUGHPUT_SEED = 1


def _match(truth_boxes, det_boxes) -> set[int]:
    """Greedy one-to-one matching by IoU; indexes of the truth boxes matched with IoU >= 0.5."""
    pairs = sorted(
        ((iou(t, d), i, j) for i, t in enumerate(truth_boxes) for j, d in enumerate(det_boxes)),
        reverse=True,
    )
    used_t, used_d = set(), set()
    for v, i, j in pairs:
        if v < IOU_MIN:
            break
        if i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
    return used_t


def test_yunet_recall_on_camera_frames(benchmark, context, generator, detector):
    """Recall of YuNet on >= 500 rendered faces of >= 48 px at "good" quality (IoU >= 0.5)."""
    sc = load_scenario("classroom").with_overrides(
        population=PopulationSpec(RECALL_PEOPLE), days=RECALL_DAYS
    )
    world = build_world(sc)
    cams = [i for i, c in enumerate(sc.cameras) if c.fr and c.quality == "good"]
    renderer = camera.CameraRenderer(sc, world, generator)

    def run():
        frames = detections = false_detections = 0
        by_size: dict[str, list[int]] = {}  # face-box bin -> [found, total]
        for day in range(sc.days):
            for cam in cams:
                for frame in renderer.frames(cam, day):
                    det = detector.detect(frame.image)
                    frames += 1
                    detections += len(det)
                    boxes = [f.box for f in frame.faces]
                    matched = _match(boxes, list(det.boxes))
                    false_detections += sum(
                        max((iou(t, d) for t in boxes), default=0.0) < IOU_MIN for d in det.boxes
                    )
                    for k, (_, _, w, h) in enumerate(boxes):
                        side = min(w, h)
                        key = (
                            f"<{MIN_FACE_PX}" if side < MIN_FACE_PX
                            else f"{MIN_FACE_PX}-79" if side < 80 else "80+"
                        )  # fmt: skip
                        cell = by_size.setdefault(key, [0, 0])
                        cell[0] += k in matched
                        cell[1] += 1
        return frames, detections, false_detections, by_size

    frames, detections, false_det, by_size = benchmark.pedantic(run, rounds=1, iterations=1)
    small = by_size.get(f"<{MIN_FACE_PX}", [0, 0])
    found = sum(v[0] for v in by_size.values()) - small[0]
    faces = sum(v[1] for v in by_size.values()) - small[1]
    context.update(
        scenario=f"classroom, population {RECALL_PEOPLE}, days {RECALL_DAYS}, seed {sc.seed}",
        cameras=[sc.cameras[i].id for i in cams],
        min_face_px=f"face box min(w, h) >= {MIN_FACE_PX}",
        frames=frames,
        faces=faces,
        found=found,
        recall=round(found / faces, 4) if faces else None,
        recall_by_face_box_px={k: f"{v[0]}/{v[1]}" for k, v in sorted(by_size.items())},
        detections=detections,
        false_detections_iou_below_0_5=int(false_det),
        duplicate_detections=detections - found - small[0] - int(false_det),
    )
    assert faces > 0


def test_sface_genuine_impostor(benchmark, context, generator, detector, embedder):
    """SFace genuine/impostor statistics on 100 identities x 4 sighting portraits."""
    res = benchmark.pedantic(
        calibration.genuine_impostor_scores,
        args=(STATS_IDENTITIES, STATS_SIGHTINGS, STATS_SEED),
        kwargs={"generator": generator, "detector": detector, "embedder": embedder},
        rounds=1,
        iterations=1,
    )
    s = res.summary()
    context.update(
        identities=STATS_IDENTITIES,
        sightings=STATS_SIGHTINGS,
        seed=STATS_SEED,
        sigma=res.sigma,
        degradation=s["degradation"],
        faces=res.faces,
        detected=res.detected,
        genuine={k: round(v, 4) if isinstance(v, float) else v for k, v in s["genuine"].items()},
        impostor={k: round(v, 4) if isinstance(v, float) else v for k, v in s["impostor"].items()},
        operating_points=[
            {
                "percent": op.percent,
                "cosine": round(op.cosine, 4),
                "fmr": f"{op.fmr.count}/{op.fmr.total}",
                "fmr_value": op.fmr.value,
                "fmr_ci95": [op.fmr.lo, op.fmr.hi],
                "fnmr": f"{op.fnmr.count}/{op.fnmr.total}",
                "fnmr_value": op.fnmr.value,
                "fnmr_ci95": [op.fnmr.lo, op.fnmr.hi],
            }
            for op in res.operating_points()
        ],
    )
    assert res.genuine.size > 0


_ALIGNED: list[np.ndarray] = []


def _aligned_faces(generator, detector) -> np.ndarray:
    if not _ALIGNED:
        from facelab.vision.embed import align

        images, _, _ = calibration.sighting_portraits(
            generator, THROUGHPUT_SEED, range(THROUGHPUT_FACES), 1
        )
        for img in images:
            d = detector.detect(img)
            if len(d):
                _ALIGNED.append(align(img, d.landmarks[d.largest()]))
    faces = np.stack(_ALIGNED)
    reps = -(-THROUGHPUT_FACES // len(faces))
    return np.concatenate([faces] * reps)[:THROUGHPUT_FACES]


def _throughput(benchmark, context, generator, detector, batch: int) -> None:
    faces = _aligned_faces(generator, detector)
    emb = Embedder(batch_size=batch)
    emb.embed(faces[:batch])  # warm up the session at this batch size
    benchmark.pedantic(emb.embed, args=(faces,), rounds=3, iterations=1)
    best = benchmark.stats.stats.min
    median = benchmark.stats.stats.median
    context.update(
        batch=batch,
        faces=len(faces),
        providers=list(emb.providers),
        faces_per_s_best=round(len(faces) / best, 1),
        faces_per_s_median=round(len(faces) / median, 1),
    )


@pytest.mark.parametrize("batch", [1, 8, 32])
def test_embedder_throughput(benchmark, context, generator, detector, batch):
    """SFace faces/s on the CPU at batch 1, 8 and 32 (64 aligned faces per round)."""
    _throughput(benchmark, context, generator, detector, batch)
