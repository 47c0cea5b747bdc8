"""YuNet on onnxruntime, decoded by facelab, against OpenCV's own FaceDetectorYN (the reference)."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.vision import models
from facelab.vision.detect import FaceDetector
from facelab.world import camera, synth
from facelab.world.world import build_world


@pytest.fixture(scope="module")
def frames():
    """Twenty rendered classroom frames (seed 7) and two crops of odd size (padding path)."""
    sc = load_scenario("classroom").with_overrides(population=PopulationSpec(40), days=1)
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator())
    images = [f.image for f in renderer.render(list(world.fr_frames(0))[:20])]
    return images + [images[0][7:470, 3:601], images[1][:250, :333]]


def _reference(image: np.ndarray) -> np.ndarray:
    ref = cv2.FaceDetectorYN.create(
        str(models.model_path("detector")), "", (image.shape[1], image.shape[0]), 0.6, 0.3, 5000
    )
    _, faces = ref.detect(image)
    return np.zeros((0, 15), np.float32) if faces is None else faces


def test_matches_opencv_face_detector(frames):
    det = FaceDetector()
    total = 0
    for image in frames:
        want = _reference(image)
        got = det.detect(image)
        assert len(got) == len(want)
        total += len(got)
        if len(got):
            flat = np.concatenate(
                [got.boxes, got.landmarks.reshape(-1, 10), got.scores[:, None]], 1
            )
            np.testing.assert_allclose(flat, want, atol=1e-3)
    assert total >= 18  # the frames really hold faces


def test_no_face_and_pickle(frames):
    det = FaceDetector()
    blank = np.full((480, 640, 3), 128, np.uint8)
    assert len(det.detect(blank)) == 0
    clone = pickle.loads(pickle.dumps(det))
    a, b = det.detect(frames[0]), clone.detect(frames[0])
    np.testing.assert_array_equal(a.boxes, b.boxes)


def test_higher_threshold_keeps_fewer(frames):
    loose, strict = FaceDetector(score_threshold=0.3), FaceDetector(score_threshold=0.95)
    n_loose = sum(len(loose.detect(f)) for f in frames)
    n_strict = sum(len(strict.detect(f)) for f in frames)
    assert n_strict < n_loose
