"""Camera quality profiles: how a camera degrades the faces it sees.

The built-in profiles ``good``, ``fair`` and ``poor`` (:data:`BUILTIN_QUALITY`) exist in every
scenario; a scenario's ``[quality.NAME]`` tables override their fields or add profiles based on
them (:func:`facelab.config.tables.read_quality`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BUILTIN_QUALITY", "QualityProfile"]


@dataclass(frozen=True)
class QualityProfile:
    """How a camera degrades the faces it sees.

    Attributes
    ----------
    name : str
    face_px : tuple[int, int]
        Inclusive range of the face box side in pixels.
    blur_sigma : float
        Gaussian blur sigma in pixels (0 = none).
    noise_sd : float
        Standard deviation of additive sensor noise, in 0–255 grey levels.
    jpeg_quality : int
        JPEG quality 1–100 the frame is compressed at.
    brightness : tuple[float, float]
        Range of the multiplicative brightness factor.
    occlusion_prob : float
        Probability that a face is partly occluded.
    """

    name: str
    face_px: tuple[int, int]
    blur_sigma: float
    noise_sd: float
    jpeg_quality: int
    brightness: tuple[float, float]
    occlusion_prob: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "face_px": list(self.face_px),
            "blur_sigma": self.blur_sigma,
            "noise_sd": self.noise_sd,
            "jpeg_quality": self.jpeg_quality,
            "brightness": list(self.brightness),
            "occlusion_prob": self.occlusion_prob,
        }


#: Built-in quality profiles; a scenario's ``[quality.NAME]`` tables override their fields.
BUILTIN_QUALITY: dict[str, QualityProfile] = {
    "good": QualityProfile("good", (64, 120), 0.4, 2.0, 92, (0.9, 1.1), 0.0),
    "fair": QualityProfile("fair", (40, 80), 0.9, 5.0, 80, (0.75, 1.2), 0.1),
    "poor": QualityProfile("poor", (24, 48), 1.6, 9.0, 60, (0.55, 1.35), 0.25),
}
