"""The face stage: detect → select → align → embed, the one implementation every caller uses.

The run pipeline, the twin's image sample, calibration and the probe (a user's photo) all find
faces with :func:`find_faces`, choose among them with :func:`select` and a named rule, warp the
chosen ones with :func:`align_faces` and embed them with :func:`embed_faces`:

================================  ========================================================
rule                              faces chosen
================================  ========================================================
:data:`ALL`                       every face, strongest first (the run pipeline)
:data:`ONE`                       the only face; :class:`FaceCountError` if there are
                                  none or several (a photo that must show one person)
:data:`LARGEST`                   the face with the largest box, none if there is no face
                                  (calibration portraits, a photo with ``--largest``)
:class:`LargestOverlap`           the largest face overlapping a known box by at least
                                  ``min_iou`` (the twin's image sample)
================================  ========================================================

Ties are broken by detector order (the strongest face first). :func:`match_truth` relates
faces to known boxes (the run pipeline's ground truth), and :func:`aligned_face` is the whole
stage for the callers that take at most one face per image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facelab.errors import DataError, ImageError
from facelab.vision import detect, embed
from facelab.vision.detect import Detections, FaceDetector
from facelab.vision.embed import Embedder


class FaceModels:
    """The detector and embedder, created on first use, so that a refused photo loads no model.

    Parameters
    ----------
    device : "cpu", "cuda" or "auto" (where the detector and the embedder run).
    backend : "onnxruntime", "openvino" or "auto" (:mod:`facelab.vision.backend`).
    """

    def __init__(self, device: str = "cpu", backend: str = "onnxruntime"):
        self.device = device
        self.backend = backend
        self._detector: FaceDetector | None = None
        self._embedder: Embedder | None = None

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector(self.device, backend=self.backend)
        return self._detector

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(self.device, backend=self.backend)
        return self._embedder


class FaceCountError(ImageError):
    """A rule that needs exactly one face (:data:`ONE`) met another number of faces.

    Attributes
    ----------
    n : the number of faces found.
    """

    def __init__(self, n: int):
        super().__init__(f"{n} faces found where exactly one is needed")
        self.n = n


@dataclass(frozen=True)
class Faces:
    """Faces chosen from one image's detections, in detector order.

    Attributes
    ----------
    boxes : float32 (k, 4), x, y, w, h in pixels.
    landmarks : float32 (k, 5, 2), YuNet order (right eye, left eye, nose tip, right and left
        mouth corner), image pixels.
    scores : float32 (k,), detector confidence in [0, 1].
    index : int64 (k,), position of each face in the detections it was chosen from.
    found : how many faces the image held (the detections chosen from).
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray
    index: np.ndarray
    found: int

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def take(cls, found: Detections, index) -> Faces:
        """The faces at positions ``index`` (int, in detector order) of ``found``."""
        index = np.asarray(index, np.int64).reshape(-1)
        return cls(
            found.boxes[index], found.landmarks[index], found.scores[index], index, len(found)
        )


def find_faces(detector: FaceDetector, image: np.ndarray, regions=None) -> Detections:
    """Every face in a uint8 (H, W, 3) BGR image, strongest first.

    ``regions`` (:func:`facelab.world.motion.frame_regions`) limits detection to parts of the
    image; ``None`` is the whole image. Boxes and landmarks are in image coordinates.
    """
    return detector.detect_regions(image, regions)


# -- selection rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class All:
    """Every face."""

    def indices(self, found: Detections) -> np.ndarray:
        return np.arange(len(found), dtype=np.int64)


@dataclass(frozen=True)
class One:
    """The only face; :class:`FaceCountError` when there are none or several."""

    def indices(self, found: Detections) -> np.ndarray:
        if len(found) != 1:
            raise FaceCountError(len(found))
        return np.zeros(1, np.int64)


@dataclass(frozen=True)
class Largest:
    """The face with the largest box area (the first of equals); none when there is no face."""

    def indices(self, found: Detections) -> np.ndarray:
        if len(found) == 0:
            return np.zeros(0, np.int64)
        return np.array([found.largest()], np.int64)


@dataclass(frozen=True)
class LargestOverlap:
    """The largest face whose box overlaps ``box`` by at least ``min_iou`` (IoU); none if no
    face does.

    Parameters
    ----------
    box : (x, y, w, h) in pixels, the face known to be there.
    min_iou : the least overlap of a face with ``box``.
    """

    box: tuple
    min_iou: float

    def indices(self, found: Detections) -> np.ndarray:
        ok = np.array([detect.iou(b, self.box) >= self.min_iou for b in found.boxes], bool)
        if not ok.any():
            return np.zeros(0, np.int64)
        candidates = np.flatnonzero(ok)
        return candidates[[int(np.argmax(found.areas()[candidates]))]].astype(np.int64)


ALL = All()
ONE = One()
LARGEST = Largest()


def select(found: Detections, rule) -> Faces:
    """The faces ``rule`` (:data:`ALL`, :data:`ONE`, :data:`LARGEST`, :class:`LargestOverlap`)
    chooses among ``found``.

    Raises
    ------
    FaceCountError
        :data:`ONE` met no face or several.
    """
    return Faces.take(found, rule.indices(found))


@dataclass(frozen=True)
class TruthMatch:
    """Which known box each face is (:func:`match_truth`).

    Attributes
    ----------
    nearest : int64 (n,), the known box each face overlaps most (the first of equals); -1 when
        there is no known box.
    iou : float64 (n,), that overlap; 0.0 where ``nearest`` is -1.
    index : int64 (n,), ``nearest`` where the overlap is at least ``min_iou``, else -1.
    """

    nearest: np.ndarray
    iou: np.ndarray
    index: np.ndarray


def match_truth(faces: Faces | Detections, boxes, min_iou: float) -> TruthMatch:
    """Match each face to the known box (x, y, w, h) it overlaps most, if by at least
    ``min_iou``; several faces may match the same box."""
    n = len(faces.boxes)
    nearest = np.full(n, -1, np.int64)
    best = np.zeros(n, np.float64)
    boxes = list(boxes)
    for j, box in enumerate(faces.boxes):
        ious = [detect.iou(box, b) for b in boxes]
        if ious:
            k = int(np.argmax(ious))
            nearest[j], best[j] = k, ious[k]
    index = np.where((nearest >= 0) & (best >= min_iou), nearest, -1)
    return TruthMatch(nearest, best, index)


def align_faces(image: np.ndarray, faces: Faces) -> np.ndarray:
    """Warp each face of ``image`` (uint8 (H, W, 3) BGR) to the 112×112 SFace template.

    Returns
    -------
    uint8 (k, 112, 112, 3) BGR

    Raises
    ------
    DataError
        A face's landmarks are degenerate (no similarity transform).
    """
    out = np.empty((len(faces), embed.ALIGNED_SIZE, embed.ALIGNED_SIZE, 3), np.uint8)
    for j, marks in enumerate(faces.landmarks):
        out[j] = embed.align(image, marks)
    return out


def embed_faces(embedder: Embedder, aligned: np.ndarray) -> np.ndarray:
    """SFace embeddings of aligned faces, uint8 (n, 112, 112, 3) BGR → float32 (n, 128),
    L2-normalised (batched by the embedder)."""
    return embedder.embed(aligned)


def aligned_face(detector: FaceDetector, image: np.ndarray, rule) -> np.ndarray | None:
    """The face ``rule`` chooses in ``image`` (a rule that chooses at most one), aligned: uint8
    (112, 112, 3) BGR; ``None`` when it chooses none or the face's landmarks are degenerate."""
    faces = select(find_faces(detector, image), rule)
    if len(faces) == 0:
        return None
    if len(faces) > 1:
        raise ValueError(f"aligned_face: the rule chose {len(faces)} faces, not at most one")
    try:
        return align_faces(image, faces)[0]
    except DataError:
        return None
