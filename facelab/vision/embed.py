"""Alignment and embedding: 5-point similarity warp to 112×112, then SFace via onnxruntime.

Embeddings are float32 (n, 128), L2-normalised, so cosine similarity is an inner product.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from facelab.errors import DataError
from facelab.vision.backend import open_model

log = logging.getLogger(__name__)

ALIGNED_SIZE = 112
EMBED_DIM = 128
DEFAULT_BATCH = 32

# The ArcFace / SFace 112×112 template (right eye, left eye, nose, right and left mouth corner),
# the same points OpenCV's FaceRecognizerSF.alignCrop uses with YuNet landmarks.
TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    np.float32,
)


def align(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Warp one face to the 112×112 template.

    Parameters
    ----------
    image : uint8 (H, W, 3) BGR
    landmarks : float (5, 2) in image pixels, YuNet order.

    Returns
    -------
    uint8 (112, 112, 3) BGR
    """
    m, _ = cv2.estimateAffinePartial2D(
        np.asarray(landmarks, np.float32), TEMPLATE, method=cv2.LMEDS
    )
    if m is None:
        raise DataError("alignment failed: degenerate landmarks")
    return cv2.warpAffine(image, m, (ALIGNED_SIZE, ALIGNED_SIZE), flags=cv2.INTER_LINEAR)


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation of float32 (n, d), refusing non-finite or zero rows."""
    x = np.asarray(x, np.float32)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise DataError(f"embeddings contain NaN or infinite values in {int(bad.sum())} row(s)")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise DataError("embeddings contain a zero vector")
    return (x / norms).astype(np.float32)


class Embedder:
    """SFace run by onnxruntime, batched. Picklable: the session is reopened on unpickle.

    Parameters
    ----------
    device : "cpu", "cuda" or "auto".
    batch_size : faces per onnxruntime call.
    threads : intra-op threads (default: one per core).
    backend : "onnxruntime", "openvino" or "auto" (:mod:`facelab.vision.backend`).
    """

    def __init__(
        self,
        device: str = "cpu",
        batch_size: int = DEFAULT_BATCH,
        threads: int | None = None,
        backend: str = "onnxruntime",
    ):
        self.device = device
        self.backend = backend
        self.batch_size = batch_size
        self.threads = threads
        self._open()

    def _open(self) -> None:
        self._session = open_model("embedder", self.device, self.backend, threads=self.threads)
        self.providers = self._session.providers
        self.precision = self._session.precision

    def __getstate__(self):
        return {"device": self.device, "batch_size": self.batch_size, "threads": self.threads,
                "backend": self.backend}  # fmt: skip

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        """Embeddings of aligned faces.

        Parameters
        ----------
        aligned : uint8 (n, 112, 112, 3) BGR

        Returns
        -------
        float32 (n, 128), L2-normalised
        """
        aligned = np.asarray(aligned)
        if aligned.ndim != 4 or aligned.shape[1:] != (ALIGNED_SIZE, ALIGNED_SIZE, 3):
            raise DataError(f"embed: expected (n, 112, 112, 3) faces, got {aligned.shape}")
        out = np.empty((len(aligned), EMBED_DIM), np.float32)
        for s in range(0, len(aligned), self.batch_size):
            x = aligned[s : s + self.batch_size].transpose(0, 3, 1, 2).astype(np.float32)
            out[s : s + self.batch_size] = self._session.run({"data": x})[0]
        return normalize(out) if len(out) else out
