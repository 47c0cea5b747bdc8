"""The face stage (facelab.vision.faces): its selection rules on real rendered frames with the
real YuNet and SFace, each against a brute-force reference, and its input contracts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facelab.config.scenario import load_scenario
from facelab.config.sections import PopulationSpec
from facelab.errors import DataError, ImageError
from facelab.vision import detect, embed, faces
from facelab.vision.detect import Detections
from facelab.vision.probe import face_embedding
from facelab.world import camera, motion, synth
from facelab.world.world import build_world


@pytest.fixture(scope="module")
def models():
    return faces.FaceModels()


@pytest.fixture(scope="module")
def frames():
    """Twenty-four rendered classroom frames (seed 7), each with its ground truth."""
    sc = load_scenario("classroom").with_overrides(population=PopulationSpec(40), days=1)
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator())
    return renderer.render(list(world.fr_frames(0))[:24])


@pytest.fixture(scope="module")
def images(frames):
    """The frames, side-by-side pairs of them (several faces of different sizes) and a blank."""
    one = [f.image for f in frames]
    pairs = [
        np.hstack([one[i], np.ascontiguousarray(one[i + 1][::2, ::2].repeat(2, 0).repeat(2, 1))])
        for i in range(0, 8, 2)
    ]
    side = [np.hstack([one[i], one[i + 1]]) for i in range(8, 12, 2)]
    return one + pairs + side + [np.full((240, 320, 3), 90, np.uint8)]


def _iou(a, b) -> float:
    """IoU in plain Python floats (the reference)."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - iw * ih
    return iw * ih / union if union > 0 else 0.0


def _largest(boxes, allowed) -> list[int]:
    """Index of the largest allowed box (the first of equals), by a plain loop."""
    best, area = [], -1.0
    for i, b in enumerate(boxes):
        if allowed[i] and float(b[2]) * float(b[3]) > area:
            best, area = [i], float(b[2]) * float(b[3])
    return best


def test_find_faces_is_the_detector(models, frames):
    rendered = list(frames[:16])
    regions = motion.frame_regions(rendered, detect.STRIDE_MULTIPLE)
    for fr, reg in zip(rendered, regions):
        whole, want = faces.find_faces(models.detector, fr.image), models.detector.detect(fr.image)
        np.testing.assert_array_equal(whole.boxes, want.boxes)
        part = faces.find_faces(models.detector, fr.image, reg)
        np.testing.assert_array_equal(
            part.landmarks, models.detector.detect_regions(fr.image, reg).landmarks
        )


def test_rules_against_brute_force(models, images):
    counts, not_first = set(), 0
    for image in images:
        found = faces.find_faces(models.detector, image)
        n = len(found)
        counts.add(min(n, 2))
        every = faces.select(found, faces.ALL)
        assert every.index.tolist() == list(range(n)) and every.found == n
        np.testing.assert_array_equal(every.boxes, found.boxes)
        np.testing.assert_array_equal(every.landmarks, found.landmarks)
        big = faces.select(found, faces.LARGEST)
        assert big.index.tolist() == _largest(found.boxes, [True] * n)
        not_first += n > 1 and big.index[0] != 0
        if n == 1:
            assert faces.select(found, faces.ONE).index.tolist() == [0]
        else:
            with pytest.raises(faces.FaceCountError) as err:
                faces.select(found, faces.ONE)
            assert err.value.n == n and isinstance(err.value, ImageError)
    assert counts == {0, 1, 2}  # blank, single-face and several-face images were all met
    assert not_first  # the largest face is not always the strongest


def _scenes(frames):
    """(image, truth boxes): each frame, and frames side by side (several faces, known boxes)."""
    for fr in frames:
        yield fr.image, [f.box for f in fr.faces]
    for a, b in zip(frames[:12:2], frames[1:12:2]):
        w = a.image.shape[1]
        shifted = [(x + w, y, bw, bh) for x, y, bw, bh in (f.box for f in b.faces)]
        yield np.hstack([a.image, b.image]), [f.box for f in a.faces] + shifted


def test_largest_overlap_and_match_truth(models, frames):
    matched, several = 0, 0
    for image, truth in _scenes(frames):
        found = faces.find_faces(models.detector, image)
        several += len(found) > 1
        m = faces.match_truth(found, truth, 0.5)
        for j, box in enumerate(found.boxes):
            ious = [_iou(box, t) for t in truth]
            k = int(np.argmax(ious)) if ious else -1
            assert m.nearest[j] == k
            assert m.iou[j] == pytest.approx(ious[k] if ious else 0.0, abs=1e-5)  # float32 IoU
            assert m.index[j] == (k if ious and ious[k] >= 0.5 else -1)
        matched += int((m.index >= 0).sum())
        for t in truth:
            got = faces.select(found, faces.LargestOverlap(t, 0.5))
            assert got.index.tolist() == _largest(
                found.boxes, [_iou(b, t) >= 0.5 for b in found.boxes]
            )
    assert matched >= 30  # the detector finds most of the rendered faces
    assert several >= 4  # and the composites hold several


def test_align_and_embed(models, images):
    found = faces.find_faces(models.detector, images[0])
    chosen = faces.select(found, faces.ALL)
    aligned = faces.align_faces(images[0], chosen)
    assert aligned.dtype == np.uint8 and aligned.shape == (len(chosen), 112, 112, 3)
    for j in range(len(chosen)):
        np.testing.assert_array_equal(aligned[j], embed.align(images[0], found.landmarks[j]))
    vecs = faces.embed_faces(models.embedder, aligned)
    assert vecs.dtype == np.float32 and vecs.shape == (len(chosen), 128)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    none = faces.select(found, faces.LargestOverlap((0, 0, 1, 1), 0.5))
    assert faces.align_faces(images[0], none).shape == (0, 112, 112, 3)
    assert faces.embed_faces(models.embedder, np.zeros((0, 112, 112, 3), np.uint8)).shape == (
        0,
        128,
    )
    flat = Detections(
        np.float32([[0, 0, 10, 10]]), np.zeros((1, 5, 2), np.float32), np.float32([0.9])
    )
    with pytest.raises(DataError):
        faces.align_faces(images[0], faces.select(flat, faces.ALL))


def test_aligned_face(models, images):
    for image in images[:4] + images[-3:]:
        found = models.detector.detect(image)
        crop = faces.aligned_face(models.detector, image, faces.LARGEST)
        if len(found) == 0:
            assert crop is None
        else:
            np.testing.assert_array_equal(
                crop, embed.align(image, found.landmarks[_largest(found.boxes, [True] * 99)[0]])
            )
    with pytest.raises(ValueError):
        faces.aligned_face(models.detector, images[-2], faces.ALL)


def test_probe_one_or_largest(models, images):
    several = images[-2]
    found = models.detector.detect(several)
    assert len(found) >= 2
    with pytest.raises(ImageError, match=f"{len(found)} faces found"):
        face_embedding(several, models, name="p")
    with pytest.raises(ImageError, match="no face found"):
        face_embedding(images[-1], models, name="p")
    got = face_embedding(several, models, name="p", largest=True)
    i = _largest(found.boxes, [True] * len(found))[0]
    want = models.embedder.embed(embed.align(several, found.landmarks[i])[None])[0]
    np.testing.assert_array_equal(got.embedding, want)
    assert got.n_faces == len(found) and got.box == tuple(float(v) for v in found.boxes[i])


_side = st.floats(1.0, 60.0, width=32)
_boxes = st.lists(
    st.tuples(st.floats(0, 100, width=32), st.floats(0, 100, width=32), _side, _side),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(_boxes, st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(1, 60)))
def test_rules_on_any_boxes(boxes, truth):
    """Synthetic detections (any boxes, ties included): rules and matching vs brute force."""
    b = np.float32(boxes).reshape(-1, 4)
    found = Detections(b, np.zeros((len(b), 5, 2), np.float32), np.ones(len(b), np.float32))
    tbox = (truth[0], truth[1], truth[2], truth[2])
    assert faces.select(found, faces.LARGEST).index.tolist() == _largest(b, [True] * len(b))
    ok = [detect.iou(x, tbox) >= 0.3 for x in b]
    assert faces.select(found, faces.LargestOverlap(tbox, 0.3)).index.tolist() == _largest(b, ok)
    m = faces.match_truth(found, [tbox, (0, 0, 5, 5)], 0.3)
    for j, x in enumerate(b):
        ious = [detect.iou(x, tbox), detect.iou(x, (0, 0, 5, 5))]
        assert m.nearest[j] == int(np.argmax(ious)) and m.iou[j] == max(ious)
        assert m.index[j] == (int(np.argmax(ious)) if max(ious) >= 0.3 else -1)
    sel = faces.select(found, faces.ALL)
    assert len(sel) == len(b) and sel.index.dtype == np.int64 and sel.boxes.dtype == np.float32
