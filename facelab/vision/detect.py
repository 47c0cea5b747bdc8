"""Face detection with YuNet (OpenCV Zoo), run by onnxruntime.

The graph's raw outputs (per anchor at strides 8, 16 and 32: class and objectness scores, box
offsets, five landmark offsets) are decoded here and de-duplicated with OpenCV's NMS, exactly as
``cv2.FaceDetectorYN`` decodes them (the tests compare the two). Running the graph on
onnxruntime rather than OpenCV's DNN module costs less than half the CPU time per frame on this
project's 2-core machine (7.5 vs 18.5 ms for a 640×480 frame on one core), and lets
``--device cuda`` put detection on the GPU too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facelab.vision.backend import open_model

# Named detector settings (the operator-facing threshold lives in the scenario, not here).
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3
TOP_K = 5000
THREADS = 1  # onnxruntime intra-op threads (the embedder has the other cores)
STRIDES = (8, 16, 32)  # YuNet's anchor strides
STRIDE_MULTIPLE = 32  # input height and width are padded to a multiple of this


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

    def areas(self) -> np.ndarray:
        """Box areas, float32 (n,), in square pixels."""
        return self.boxes[:, 2] * self.boxes[:, 3]

    def largest(self) -> int:
        """Index of the face with the largest box area (the first of equals)."""
        return int(np.argmax(self.areas()))


class FaceDetector:
    """YuNet on onnxruntime, decoded in numpy. Picklable: the session is reopened on unpickle.

    Parameters
    ----------
    device : "cpu", "cuda" or "auto".
    score_threshold, nms_threshold : detector confidence to keep a face; overlap (IoU) above
        which the weaker of two boxes is dropped.
    threads : intra-op threads; one by default, because detection runs beside the
        embedder (which takes the other cores) in the pipeline.
    backend : "onnxruntime", "openvino" or "auto" (:mod:`facelab.vision.backend`).
    """

    def __init__(
        self,
        device: str = "cpu",
        score_threshold: float = SCORE_THRESHOLD,
        nms_threshold: float = NMS_THRESHOLD,
        threads: int = THREADS,
        backend: str = "onnxruntime",
    ):
        self.device = device
        self.backend = backend
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.threads = threads
        self._open()

    def _open(self) -> None:
        self._session = open_model("detector", self.device, self.backend, threads=self.threads)
        self._outputs = self._session.output_names
        self.providers = self._session.providers
        self.precision = self._session.precision

    def __getstate__(self):
        return {
            k: getattr(self, k)
            for k in ("device", "score_threshold", "nms_threshold", "threads", "backend")
        }

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def detect(self, image: np.ndarray) -> Detections:
        """Detect faces in a uint8 (H, W, 3) BGR image; strongest first."""
        h, w = image.shape[:2]
        ph, pw = (
            -(-h // STRIDE_MULTIPLE) * STRIDE_MULTIPLE,
            -(-w // STRIDE_MULTIPLE) * STRIDE_MULTIPLE,
        )
        if (ph, pw) != (h, w):
            image = cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w, cv2.BORDER_CONSTANT, value=0)
        x = image.transpose(2, 0, 1)[None].astype(np.float32)
        out = dict(zip(self._outputs, self._session.run({"input": x})))
        return self._decode(out, pw)

    def _decode(self, out: dict[str, np.ndarray], width: int) -> Detections:
        boxes, marks, scores = [], [], []
        for stride in STRIDES:
            score = np.sqrt(
                np.clip(out[f"cls_{stride}"].reshape(-1), 0, 1)
                * np.clip(out[f"obj_{stride}"].reshape(-1), 0, 1)
            )
            keep = np.flatnonzero(score >= self.score_threshold)
            if not len(keep):
                continue
            row, col = np.divmod(keep, width // stride)
            b = out[f"bbox_{stride}"].reshape(-1, 4)[keep]
            k = out[f"kps_{stride}"].reshape(-1, 10)[keep]
            bw, bh = np.exp(b[:, 2]) * stride, np.exp(b[:, 3]) * stride
            cx, cy = (col + b[:, 0]) * stride, (row + b[:, 1]) * stride
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1))
            marks.append(np.stack([(k[:, 0::2] + col[:, None]) * stride,
                                   (k[:, 1::2] + row[:, None]) * stride], 2))  # fmt: skip
            scores.append(score[keep])
        return self._nms(boxes, marks, scores)

    def _nms(self, boxes: list, marks: list, scores: list) -> Detections:
        """Concatenate candidate parts and keep the strongest of overlapping boxes."""
        if not boxes:
            empty = np.zeros((0,), np.float32)
            return Detections(empty.reshape(0, 4), empty.reshape(0, 5, 2), empty)
        boxes_a, marks_a, scores_a = (
            np.concatenate(a).astype(np.float32) for a in (boxes, marks, scores)
        )
        order = np.asarray(cv2.dnn.NMSBoxes(
            boxes_a.tolist(), scores_a.tolist(), self.score_threshold, self.nms_threshold, top_k=TOP_K,
        ), np.int64).reshape(-1)  # fmt: skip
        return Detections(boxes_a[order], marks_a[order], scores_a[order])

    def detect_regions(self, image: np.ndarray, regions) -> Detections:
        """Detect faces in parts of an image only (:func:`facelab.world.motion.changed_regions`);
        ``regions=None`` is the whole image. Boxes and landmarks are in image coordinates."""
        if regions is None:
            return self.detect(image)
        boxes, marks, scores = [], [], []
        for r in regions:
            d = self.detect(np.ascontiguousarray(image[r.y0 : r.y1, r.x0 : r.x1]))
            boxes.append(d.boxes + np.float32([r.x0, r.y0, 0, 0]))
            marks.append(d.landmarks + np.float32([r.x0, r.y0]))
            scores.append(d.scores)
        return self._nms(boxes, marks, scores)


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0
