"""A user's photo → one face embedding (the "pre-loaded frame" of enrolment and search)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facelab import detect, embed
from facelab.errors import ImageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeFace:
    """The face taken from a photo.

    Attributes
    ----------
    embedding : float32 (128,), L2-normalised
    box : (x, y, w, h) in pixels
    score : detector confidence
    n_faces : how many faces the photo holds (1 unless ``largest`` picked one of several)
    """

    embedding: np.ndarray
    box: tuple[float, float, float, float]
    score: float
    n_faces: int


def face_embedding(
    image: np.ndarray,
    detector: detect.FaceDetector,
    embedder: embed.Embedder,
    *,
    name: str,
    largest: bool = False,
) -> ProbeFace:
    """Detect, align and embed the one face of a photo.

    Raises
    ------
    ImageError
        When the photo holds no face, or several and ``largest`` is false.
    """
    found = detector.detect(image)
    if len(found) == 0:
        raise ImageError(
            f"{name}: no face found (detector threshold {detector.score_threshold:.2f})"
        )
    if len(found) > 1 and not largest:
        raise ImageError(
            f"{name}: {len(found)} faces found; crop the photo to one person, "
            "or pass --largest to use the largest face"
        )
    i = found.largest()
    if len(found) > 1:
        log.warning("%s: %d faces found, using the largest", name, len(found))
    vec = embedder.embed(embed.align(image, found.landmarks[i])[None])[0]
    box = tuple(float(v) for v in found.boxes[i])
    return ProbeFace(vec, box, float(found.scores[i]), len(found))
