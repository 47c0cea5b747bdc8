"""Motion regions: where a fixed camera's frame differs from the camera's other frames.

A fixed camera sees the same scene in every frame; the people passing are what changes. Video
management systems use this to run face detection only where something moved, and so does
facelab's pipeline (``[detection] regions = "motion"``, the default): for the frames of one
camera in a chunk, each frame is compared with the per-pixel median of the others (with one
other frame: that frame), at an eighth of the resolution, in gray, after dividing out the
frame's overall brightness (exposure varies frame to frame). Pixels that differ by more than
:data:`THRESHOLD` form connected blobs; each blob's box, widened by :data:`MARGIN` pixels and
snapped outwards to the detector's stride grid, is a region to detect in, and overlapping
regions are merged.

Everything else falls back to the whole frame (``None``): a camera with a single frame in the
chunk (nothing to compare with), or regions covering more than :data:`MAX_AREA` of the frame (a
crowd, a change of light, heavy noise). Nothing here reads the renderer's scene or the ground
truth: only the frames' pixels, as a real system would. The price is that of motion gating in
deployed systems: a face that stays in the same place in most of a camera's frames of a chunk
becomes part of its background and is not searched there (``[detection] regions = "full"``
searches every whole frame).

Measured on the ``classroom`` preset (seed 7, 200 people, 200 frames;
``benchmarks/experiments/detect_cheaper.py``): YuNet in the motion regions, the regions
included, costs 1.8 ms a frame against 8.1 for the whole frame and finds nearly the same faces
(197 vs 198 of 200); the embeddings of the faces both find have a median cosine of 0.993 to
each other and the same genuine-score mean (0.666 vs 0.667). With every camera ``poor`` it
finds more faces than the whole frame (61 vs 57 of 200).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

SCALE = 8  # frames are compared at 1/SCALE of their resolution
THRESHOLD = 15.0  # gray levels (frame brightness normalised to a median of 128)
MARGIN = 32  # pixels of context added around a changed blob, on each side
MAX_AREA = 0.5  # regions covering more of the frame than this: detect in the whole frame
REFERENCE_GRAY = 128.0


@dataclass(frozen=True)
class Region:
    """A rectangle of a frame, ``[x0, x1) × [y0, y1)`` in pixels."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def area(self) -> int:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    def overlaps(self, other: Region) -> bool:
        return (
            self.x0 < other.x1 and other.x0 < self.x1 and self.y0 < other.y1 and other.y0 < self.y1
        )

    def union(self, other: Region) -> Region:
        return Region(min(self.x0, other.x0), min(self.y0, other.y0),
                      max(self.x1, other.x1), max(self.y1, other.y1))  # fmt: skip


def _gray(image: np.ndarray) -> np.ndarray:
    """Gray image at 1/:data:`SCALE` of the resolution, brightness normalised (float32)."""
    h, w = image.shape[:2]
    g = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (w // SCALE, h // SCALE),
                   interpolation=cv2.INTER_AREA).astype(np.float32)  # fmt: skip
    return g * np.float32(REFERENCE_GRAY / max(float(np.median(g)), 1.0))


def _merge(regions: list[Region]) -> list[Region]:
    """Merge overlapping regions until none overlap."""
    out: list[Region] = []
    for r in regions:
        while True:
            hit = next((i for i, o in enumerate(out) if o.overlaps(r)), None)
            if hit is None:
                break
            r = r.union(out.pop(hit))
        out.append(r)
    return out


def _regions(mask: np.ndarray, width: int, height: int, grid: int) -> list[Region]:
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    for x, y, w, h, _ in stats[1:n]:
        x0, y0 = (int(x) * SCALE - MARGIN) // grid * grid, (int(y) * SCALE - MARGIN) // grid * grid
        x1 = -(-((int(x) + int(w)) * SCALE + MARGIN) // grid) * grid
        y1 = -(-((int(y) + int(h)) * SCALE + MARGIN) // grid) * grid
        boxes.append(Region(max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)))
    return _merge(boxes)


def changed_regions(
    images: Sequence[np.ndarray], grid: int = 32
) -> list[tuple[Region, ...] | None]:
    """Regions to detect faces in, for frames of one fixed camera (same size, any order).

    Parameters
    ----------
    images : uint8 (H, W, 3) BGR frames of one camera.
    grid : region corners are multiples of this (the detector's largest stride), clipped to
        the frame.

    Returns
    -------
    One entry per frame: a tuple of :class:`Region` (possibly empty: nothing changed), or
    ``None``: detect in the whole frame.
    """
    if len(images) < 2 or len({im.shape for im in images}) > 1:
        return [None] * len(images)
    h, w = images[0].shape[:2]
    gray = np.stack([_gray(im) for im in images])
    background = np.median(gray, axis=0) if len(images) > 2 else None
    out: list[tuple[Region, ...] | None] = []
    for k in range(len(images)):
        reference = background if background is not None else gray[1 - k]
        mask = (np.abs(gray[k] - reference) > THRESHOLD).astype(np.uint8)
        regions = _regions(mask, w, h, grid)
        out.append(tuple(regions) if sum(r.area for r in regions) <= MAX_AREA * w * h else None)
    return out


def frame_regions(frames: Sequence, grid: int = 32) -> list[tuple[Region, ...] | None]:
    """:func:`changed_regions` for a mixed list of frames (:class:`facelab.world.camera.Frame`, or
    anything with ``camera`` and ``image``), each compared with the others of its camera."""
    out: list[tuple[Region, ...] | None] = [None] * len(frames)
    by_camera: dict[int, list[int]] = {}
    for i, f in enumerate(frames):
        by_camera.setdefault(f.camera, []).append(i)
    for idx in by_camera.values():
        for i, regions in zip(idx, changed_regions([frames[i].image for i in idx], grid)):
            out[i] = regions
    return out
