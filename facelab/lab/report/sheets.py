"""Contact sheets of false matches: which innocent people a threshold flags, and their faces.

:func:`false_matches` finds the highest-scoring candidates that were not the person in the
sighting (ground truth); :func:`pair_images` gives, as PNG bytes, the face as the camera saw it
(:func:`face_crop`) and the watchlist photo it was matched to. Images are shown only when
their provenance verifies (:func:`load_own_image`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facelab.errors import FacelabError
from facelab.lab.scores import RunScores
from facelab.run import schema
from facelab.run.store import RunStore
from facelab.truth import TruthStore

log = logging.getLogger(__name__)

#: Most false-match pairs shown per contact sheet.
SHEET_PAIRS = 8

#: Side, in pixels, of each face shown in a contact sheet.
SHEET_FACE_PX = 128


@dataclass(frozen=True)
class FalseMatch:
    """A watchlist candidate that was not the person in the sighting.

    Attributes
    ----------
    sighting, watch : int
        Ids of the sighting and of the wrongly matched watchlist entry.
    score : float
        Cosine score.
    label : str
        The entry's label.
    camera : str
        Camera id.
    day, t : int
        Simulated day and seconds since the start of day 0.
    box : tuple of float or None
        Sighting's face box (x, y, w, h) in its frame; None in embedding mode.
    frame : Path or None
        The frame the sighting was found in.
    photo : Path or None
        The entry's enrolment photo.
    """

    sighting: int
    watch: int
    score: float
    label: str
    camera: str
    day: int
    t: int
    box: tuple[float, float, float, float] | None
    frame: Path | None
    photo: Path | None


def false_matches(
    store: RunStore,
    scores: RunScores,
    cos_lo: float,
    cos_hi: float = math.inf,
    limit: int = SHEET_PAIRS,
) -> list[FalseMatch]:
    """Highest-scoring false matches with ``cos_lo <= score < cos_hi``, best first.

    A candidate is false when the watchlist entry is not the identity really in the sighting
    (ground truth; the same rule as :func:`facelab.lab.scores.load_scores`).
    """
    person = dict(zip(scores.sighting.tolist(), scores.person.tolist(), strict=True))
    with TruthStore(store.path, readonly=True) as truth:
        wt = truth.watch_identities()
    identity = dict(zip(wt["watch"].tolist(), wt["identity"].tolist(), strict=True))
    entries = {e.id: e for e in schema.watchlist_entries(store.db)}
    cams = {c.idx: c.id for c in schema.cameras(store.db)}
    out: list[FalseMatch] = []
    for v in schema.active_candidates_between(store.db, cos_lo, cos_hi):
        c, s = v.candidate, v.sighting
        if c.sighting not in person:
            continue
        if identity.get(c.watch, -2) == person[c.sighting]:
            continue
        xywh = (s.x, s.y, s.w, s.h)
        box = None if None in xywh else tuple(float(a) for a in xywh)
        entry = entries[c.watch]
        out.append(FalseMatch(
            int(c.sighting), int(c.watch), float(c.score), str(entry.label), str(cams[s.camera]),
            int(s.day), int(s.t), box, store.path / v.frame_path if v.frame_path else None,
            store.path / entry.photo if entry.photo else None,
        ))  # fmt: skip
        if len(out) >= limit:
            break
    return out


def load_own_image(path: Path | None, cache: dict) -> np.ndarray | None:
    """A PNG the run wrote, only if its provenance verifies; None if missing or refused."""
    if path is None:
        return None
    if path not in cache:
        from facelab.governance import provenance

        try:
            cache[path] = provenance.load_verified(path).image
        except FacelabError as exc:
            log.warning("report: not showing %s: %s", path, exc)
            cache[path] = None
    return cache[path]


def face_crop(frame: np.ndarray, box: tuple[float, float, float, float],
              size: int = SHEET_FACE_PX, margin: float = 0.3) -> np.ndarray:  # fmt: skip
    """A square crop around a face box (with ``margin`` × side on each side), resized.

    Parameters
    ----------
    frame : np.ndarray
        uint8 (H, W, 3) BGR.
    box : (x, y, w, h)
    size : int
        Side of the result.

    Returns
    -------
    np.ndarray
        uint8 (size, size, 3) BGR; parts outside the frame are grey.
    """
    x, y, w, h = box
    side = max(int(round(max(w, h) * (1 + 2 * margin))), 2)
    x0 = int(round(x + w / 2 - side / 2))
    y0 = int(round(y + h / 2 - side / 2))
    padded = cv2.copyMakeBorder(frame, side, side, side, side, cv2.BORDER_CONSTANT,
                                value=(128, 128, 128))  # fmt: skip
    crop = padded[y0 + side : y0 + 2 * side, x0 + side : x0 + 2 * side]
    interp = cv2.INTER_CUBIC if side < size else cv2.INTER_AREA
    return cv2.resize(crop, (size, size), interpolation=interp)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 BGR (or grey) image."""
    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def pair_images(fm: FalseMatch, cache: dict) -> tuple[bytes | None, bytes | None]:
    """PNG bytes of a false match's two faces, each None when not available.

    Parameters
    ----------
    fm : FalseMatch
    cache : dict
        Images already loaded (path → image or None), shared across calls.

    Returns
    -------
    (camera, watchlist) : bytes or None
        The face cropped from the sighting's frame (:func:`face_crop`), and the entry's photo
        resized to ``SHEET_FACE_PX`` square.
    """
    frame = load_own_image(fm.frame, cache)
    photo = load_own_image(fm.photo, cache)
    crop = small = None
    if frame is not None and fm.box is not None:
        crop = png_bytes(face_crop(frame, fm.box))
    if photo is not None:
        side = (SHEET_FACE_PX, SHEET_FACE_PX)
        small = png_bytes(cv2.resize(photo, side, interpolation=cv2.INTER_AREA))
    return crop, small
