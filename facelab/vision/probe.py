"""A user's photo → checked, verified, one face embedding (the "pre-loaded frame" of enrolment and search)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab import imageio
from facelab.errors import FacelabError, ImageError
from facelab.governance import provenance
from facelab.vision import faces
from facelab.vision.faces import FaceModels

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
    image: np.ndarray, models: FaceModels, *, name: str, largest: bool = False
) -> ProbeFace:
    """Detect, align and embed the one face of a photo.

    Raises
    ------
    ImageError
        When the photo holds no face, or several and ``largest`` is false.
    """
    found = faces.find_faces(models.detector, image)
    if len(found) == 0:
        raise ImageError(
            f"{name}: no face found (detector threshold {models.detector.score_threshold:.2f})"
        )
    try:
        face = faces.select(found, faces.LARGEST if largest else faces.ONE)
    except faces.FaceCountError as exc:
        raise ImageError(
            f"{name}: {exc.n} faces found; crop the photo to one person, "
            "or pass --largest to use the largest face"
        ) from None
    if len(found) > 1:
        log.warning("%s: %d faces found, using the largest", name, len(found))
    vec = faces.embed_faces(models.embedder, faces.align_faces(image, face))[0]
    box = tuple(float(v) for v in face.boxes[0])
    return ProbeFace(vec, box, float(face.scores[0]), len(found))


@dataclass(frozen=True, eq=False)
class Probe:
    """A verified photo: the image, its provenance record, the file's SHA-256 and name."""

    image: np.ndarray
    record: dict
    sha256: str
    name: str


def load_probe(source: str | Path | bytes) -> Probe:
    """Read a user's photo through every check: file, image format, then provenance.

    The format checks come first, so a corrupt, truncated, 16-bit, grayscale or non-image file
    is named as such; then the synthetic-only guard refuses anything facelab did not make.

    Raises
    ------
    ImageError
        Missing, empty, corrupt, truncated, 16-bit, grayscale, alpha, too small or too large.
    ProvenanceError
        No valid facelab provenance record.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<image bytes>"
        imageio.decode_image(data, name)
        verified = provenance.load_verified(data)
    else:
        name = str(source)
        data = imageio.read_bytes(source)
        imageio.decode_image(data, name)
        try:  # verify the very bytes that are hashed, but name the file in messages
            verified = provenance.load_verified(data)
        except FacelabError as exc:
            raise type(exc)(str(exc).replace("<image bytes>", name)) from None
    return Probe(verified.image, verified.record, hashlib.sha256(data).hexdigest(), name)
