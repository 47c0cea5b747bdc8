"""Face detection with YuNet (OpenCV Zoo), run by OpenCV's DNN module on the CPU.

YuNet is tiny (about 1 ms per 640×480 frame on one core); embedding is the expensive stage,
so detection stays on the CPU even when embedding runs on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facelab import models

# Named detector settings (the operator-facing threshold lives in the scenario, not here).
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
TOP_K = 5000


@dataclass(frozen=True)
class Detections:
    """Faces found in one image.

    Attributes
    ----------
    boxes : float32 (n, 4), x, y, w, h in pixels.
    landmarks : float32 (n, 5, 2), right eye, left eye, nose tip, right and left mouth corner.
    scores : float32 (n,), detector confidence in [0, 1].
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def largest(self) -> int:
        """Index of the face with the largest box area."""
        return int(np.argmax(self.boxes[:, 2] * self.boxes[:, 3]))


class FaceDetector:
    """YuNet wrapper. Picklable: the OpenCV object is rebuilt on unpickle."""

    def __init__(self, score_threshold: float = SCORE_THRESHOLD, nms_threshold: float = NMS_THRESHOLD):
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._open()

    def _open(self) -> None:
        # errors only: OpenCV 5 warns about DNN targets on every create
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self._det = cv2.FaceDetectorYN.create(
            str(models.model_path("detector")), "", (320, 320),
            self.score_threshold, self.nms_threshold, TOP_K,
        )  # fmt: skip
        self._size = (320, 320)

    def __getstate__(self):
        return {"score_threshold": self.score_threshold, "nms_threshold": self.nms_threshold}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def detect(self, image: np.ndarray) -> Detections:
        """Detect faces in a uint8 (H, W, 3) BGR image."""
        h, w = image.shape[:2]
        if (w, h) != self._size:
            self._det.setInputSize((w, h))
            self._size = (w, h)
        _, faces = self._det.detect(image)
        if faces is None or len(faces) == 0:
            empty = np.zeros((0,), np.float32)
            return Detections(empty.reshape(0, 4), empty.reshape(0, 5, 2), empty)
        faces = faces.astype(np.float32)
        return Detections(faces[:, :4], faces[:, 4:14].reshape(-1, 5, 2), faces[:, 14])


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0
