"""Motion regions (facelab.world.motion) and detection in regions, against whole-frame detection."""

from __future__ import annotations

import numpy as np
import pytest

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.vision.detect import FaceDetector, iou
from facelab.world import camera, motion, synth
from facelab.world.world import build_world

W, H, GRID = 320, 240, 32
PATCHES = [(20, 30), (150, 120), (240, 40), (60, 160)]  # top-left corners of 40x40 "people"


def _scene(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.repeat(np.repeat(rng.uniform(40, 200, (H // 16, W // 16, 3)), 16, 0), 16, 1)
    return img.astype(np.float32)


def _frames(n: int, *, gain=(0.8, 1.2), noise: float = 3.0, seed: int = 5) -> list[np.ndarray]:
    """A fixed scene, one bright textured 40x40 patch per frame (a different place each), a
    different exposure and sensor noise per frame."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        img = _scene()
        x, y = PATCHES[k]
        img[y : y + 40, x : x + 40] = rng.uniform(150, 255, (40, 40, 3))
        img = img * rng.uniform(*gain) + rng.normal(0, noise, (H, W, 1))
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def _covers(region: motion.Region, x: int, y: int, side: int = 40) -> bool:
    return region.x0 <= x and region.y0 <= y and region.x1 >= x + side and region.y1 >= y + side


@pytest.mark.parametrize("n", [3, 4])
def test_each_frame_gets_a_region_around_its_own_change_only(n):
    found = motion.changed_regions(_frames(n), GRID)
    assert len(found) == n
    for k, regions in enumerate(found):
        assert regions is not None and len(regions) == 1
        (r,) = regions
        assert _covers(r, *PATCHES[k])
        assert not any(_covers(r, *PATCHES[j]) for j in range(n) if j != k)
        assert r.x0 % GRID == 0 and r.y0 % GRID == 0
        assert (r.x1 % GRID == 0 or r.x1 == W) and (r.y1 % GRID == 0 or r.y1 == H)
        assert r.area <= 4 * (40 + 2 * motion.MARGIN) ** 2


def test_two_frames_compare_with_each_other():
    """With one other frame, both frames' changes show in each (and nothing else)."""
    for regions in motion.changed_regions(_frames(2), GRID):
        assert regions is not None
        for k in range(2):
            assert any(_covers(r, *PATCHES[k]) for r in regions)


def test_nothing_changed_gives_no_region():
    same = _frames(1) * 3
    assert motion.changed_regions(same, GRID) == [(), (), ()]


def test_falls_back_to_the_whole_frame():
    frames = _frames(3)
    assert motion.changed_regions(frames[:1], GRID) == [None]  # nothing to compare with
    assert motion.changed_regions([frames[0], frames[1][:200]], GRID) == [None, None]  # sizes
    lit = frames[2].copy()
    lit[:, : W // 2] = 255 - lit[:, : W // 2]  # half the scene changed: a change of light
    assert motion.changed_regions([frames[0], frames[1], lit], GRID)[2] is None


def test_regions_are_merged_when_they_overlap():
    a, b = motion.Region(0, 0, 64, 64), motion.Region(32, 32, 96, 96)
    c = motion.Region(200, 200, 232, 232)
    assert motion._merge([a, c, b]) == [c, motion.Region(0, 0, 96, 96)]


# ------------------------------------------------------------------ real frames, real YuNet


@pytest.fixture(scope="module")
def chunk():
    """The first 48 FR frames of a classroom day (seed 7): three cameras, one face each."""
    sc = load_scenario("classroom").with_overrides(population=PopulationSpec(60), days=1)
    world = build_world(sc)
    return camera.CameraRenderer(sc, world, synth.FaceGenerator()).render(
        list(world.fr_frames(0))[:48]
    )


def test_detection_in_motion_regions_finds_the_whole_frame_faces(chunk):
    det = FaceDetector()
    regions = motion.frame_regions(chunk, GRID)
    assert sum(r is not None for r in regions) >= 40  # most frames are searched in regions
    area = [sum(x.area for x in r) / (640 * 480) for r in regions if r is not None]
    assert np.mean(area) < 0.25
    full_found = in_regions_found = 0
    for f, r in zip(chunk, regions):
        full, part = det.detect(f.image), det.detect_regions(f.image, r)
        for face in f.faces:
            full_hit = any(iou(b, face.box) >= 0.5 for b in full.boxes)
            part_hit = [b for b in part.boxes if iou(b, face.box) >= 0.5]
            full_found += full_hit
            in_regions_found += bool(part_hit)
            if full_hit and part_hit:  # the same face, in the same place
                best = max(full.boxes, key=lambda b: iou(b, face.box))
                assert iou(best, part_hit[0]) > 0.8
    assert full_found >= 40
    assert in_regions_found >= full_found - 1


def test_whole_frame_regions_equal_whole_frame_detection(chunk):
    det = FaceDetector()
    image = chunk[0].image
    full = det.detect(image)
    for regions in (None, (motion.Region(0, 0, 640, 480),)):
        got = det.detect_regions(image, regions)
        np.testing.assert_allclose(got.boxes, full.boxes, atol=1e-4)
        np.testing.assert_allclose(got.landmarks, full.landmarks, atol=1e-4)
    assert len(det.detect_regions(image, ())) == 0


def test_pipeline_detects_in_motion_regions_unless_the_scenario_says_full(chunk):
    from types import SimpleNamespace

    from facelab.config.sections import DetectionSpec
    from facelab.run.pipeline import ImageSource

    sc = load_scenario("classroom")
    motion_regions = ImageSource._regions(SimpleNamespace(scenario=sc), chunk[:16])
    assert sum(r is not None for r in motion_regions) >= 12
    assert all(  # grouped by camera: a frame alone with its camera in the chunk is searched whole
        (r is None) == (sum(f.camera == g.camera for g in chunk[:16]) == 1)
        for f, r in zip(chunk[:16], motion_regions)
    )
    full = sc.with_overrides(detection=DetectionSpec("full"))
    assert ImageSource._regions(SimpleNamespace(scenario=full), chunk[:16]) == [None] * 16
