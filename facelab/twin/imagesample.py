"""The image-mode sample a twin is fitted on and checked against.

:func:`sample_image` renders faces of synthetic people with the real models — generator, YuNet,
SFace — the way image mode sees them: camera sightings of a quality profile pasted into
camera-like frames, or enrolment photos (portraits). :func:`sample_all` draws every kind for
the same people, as :func:`facelab.twin.fit.fit_twin` needs them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facelab.errors import ConfigError, DataError
from facelab.twin.model import DIM, PHOTO, REFERENCE
from facelab.world import synth

log = logging.getLogger(__name__)

#: Seed streams of the image sample (kept apart from camera passes and calibration portraits).
SAMPLE_SIGHTING_STREAM = 401  # latent noise of camera-like sightings
SAMPLE_FRAME_STREAM = 402  # size, position and degradation of a sighting's frame
SAMPLE_PHOTO_STREAM = 403  # latent noise of enrolment photos
SAMPLE_PORTRAIT_STREAM = 404  # backdrop and degradation of a photo
#: Sample ids are ``identity · SAMPLE_SPAN + k`` (k = sighting or photo index).
SAMPLE_SPAN = 1 << 20
#: Camera-like canvas of a sampled sighting (width, height); faces keep their profile size.
SAMPLE_FRAME = (320, 240)
#: Distinct procedural backgrounds the sampled faces are pasted on.
SAMPLE_BACKGROUNDS = 8
#: A detection is the sampled face when it overlaps the face's true box by at least this.
SAMPLE_MATCH_IOU = 0.5
#: Faces generated, composed, detected and embedded per chunk (bounds memory).
SAMPLE_CHUNK = 64


@dataclass(frozen=True, eq=False)
class ImageSample:
    """Image-mode embeddings of ``n_identities`` people, ``per_identity`` faces each.

    Attributes
    ----------
    kind : quality profile name (``good``, ``fair``, ``poor``) or ``"photo"``.
    seed : seed of the identities (ids ``0..n_identities-1``) and of every draw.
    n_identities, per_identity : what was rendered.
    latent_sigma : latent variation of each face.
    embeddings : float32 (n, 128), L2-normalised, one per face YuNet found.
    labels : int64 (n,), identity of each embedding.
    rendered : faces rendered (``n_identities · per_identity``); ``rendered - n`` were not found.
    """

    kind: str
    seed: int
    n_identities: int
    per_identity: int
    latent_sigma: float
    embeddings: np.ndarray
    labels: np.ndarray
    rendered: int

    @property
    def dropped(self) -> int:
        """Faces YuNet did not find (they have no embedding)."""
        return self.rendered - len(self.labels)

    @property
    def detect_rate(self) -> float:
        """Share of rendered faces YuNet found (NaN when none was rendered)."""
        return len(self.labels) / self.rendered if self.rendered else math.nan


def _profile(kind: str):
    from facelab.config.quality import BUILTIN_QUALITY

    if kind not in BUILTIN_QUALITY:
        valid = ", ".join([*BUILTIN_QUALITY, PHOTO])
        raise ConfigError(f"unknown twin kind {kind!r}; choose one of {valid}")
    return BUILTIN_QUALITY[kind]


def _camera_face(face, profile, rng, background) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One face in a camera-like frame, the way :mod:`facelab.world.camera` composes a pass."""
    h, w = background.shape[:2]
    side = int(rng.integers(profile.face_px[0], profile.face_px[1] + 1))
    side = max(16, min(side, w - 4, h - 4))
    x = int(rng.integers(0, w - side + 1))
    y0 = int(h * 0.05)
    y = int(rng.integers(y0, max(y0 + 1, h - side - int(h * 0.1))))
    image = background.copy()
    synth.paste_face(image, face, x, y, side)
    d = synth.sample_degradation(profile, rng)
    box = synth.face_box(x, y, side)
    if d.occlusion > 0:
        image = synth.degrade(image, synth.Degradation(occlusion=d.occlusion), rng, box)
    frame_d = synth.Degradation(
        blur_sigma=d.blur_sigma, noise_sd=d.noise_sd, brightness=d.brightness,
        jpeg_quality=d.jpeg_quality,
    )  # fmt: skip
    return synth.degrade(image, frame_d, rng), box


def sample_image(
    n_identities: int,
    per_identity: int,
    seed: int,
    kind: str = REFERENCE,
    *,
    latent_sigma: float | None = None,
    device: str = "cpu",
    models: tuple | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImageSample:
    """Render, detect, align and embed faces of identities ``0..n_identities-1``.

    A sighting (``kind`` = a quality profile) is a camera pass: the face (latent sigma
    :data:`facelab.world.synth.DEFAULT_LATENT_SIGMA`) is pasted at a size drawn from the
    profile's ``face_px`` into a 320×240 procedural scene
    (:func:`facelab.world.camera.background`), the face is occluded and the frame blurred,
    noised, re-lit and JPEG-compressed by :func:`facelab.world.synth.sample_degradation` /
    :func:`facelab.world.synth.degrade`. A ``photo`` is the watchlist's pre-loaded frame:
    :func:`facelab.world.synth.portrait` with its default degradation at the enrolment sigma
    (0.15), as the pipeline enrols it. YuNet runs on the
    whole image; the largest detection overlapping the true face box (IoU ≥ 0.5,
    :class:`facelab.vision.faces.LargestOverlap`) is aligned and embedded; faces it misses
    are dropped and counted.

    Parameters
    ----------
    n_identities : people (ids ``0..n-1`` under ``seed``: the same people for every kind).
    per_identity : faces per person.
    seed : seed of identities, latent noise, frames and degradations (deterministic).
    kind : ``good``, ``fair``, ``poor`` or ``photo``.
    latent_sigma : latent variation (default: :data:`facelab.world.synth.DEFAULT_LATENT_SIGMA`
        for sightings, the enrolment sigma 0.15 for photos).
    device : device of the generator and embedder ("cpu", "cuda", "auto").
    models : ``(generator, detector, embedder)`` already opened, to reuse them.
    progress : called with the number of faces just processed (for a progress bar).

    Returns
    -------
    ImageSample
    """
    from facelab.config.defaults import DEFAULT_ENROL_SIGMA
    from facelab.vision import detect, embed, faces
    from facelab.world import camera

    if n_identities < 1 or per_identity < 1:
        raise DataError("sample_image needs at least one identity and one face per identity")
    if per_identity >= SAMPLE_SPAN:
        raise DataError(f"per_identity must be < {SAMPLE_SPAN}")
    is_photo = kind == PHOTO
    profile = None if is_photo else _profile(kind)
    if latent_sigma is None:
        latent_sigma = DEFAULT_ENROL_SIGMA if is_photo else synth.DEFAULT_LATENT_SIGMA
    if models is None:
        models = (synth.FaceGenerator(device), detect.FaceDetector(device), embed.Embedder(device))
    generator, detector, embedder = models
    backgrounds = [] if is_photo else [
        camera.background(*SAMPLE_FRAME, seed, b) for b in range(SAMPLE_BACKGROUNDS)
    ]  # fmt: skip
    labels = np.repeat(np.arange(n_identities, dtype=np.int64), per_identity)
    ks = np.tile(np.arange(per_identity, dtype=np.int64), n_identities)
    sids = labels * SAMPLE_SPAN + ks
    latent_stream = SAMPLE_PHOTO_STREAM if is_photo else SAMPLE_SIGHTING_STREAM
    image_stream = SAMPLE_PORTRAIT_STREAM if is_photo else SAMPLE_FRAME_STREAM
    embs, keep = [], []
    for s in range(0, len(sids), SAMPLE_CHUNK):
        chunk = slice(s, s + SAMPLE_CHUNK)
        rendered = generator.sightings(
            seed, labels[chunk], sids[chunk], latent_sigma, stream=latent_stream
        )
        aligned = []
        for j, face in enumerate(rendered):
            sid = int(sids[s + j])
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), image_stream, sid]))
            if is_photo:
                image = synth.portrait(face, rng)
                off = (synth.PORTRAIT_SIZE - synth.PORTRAIT_FACE_PX) // 2
                truth = synth.face_box(off, off, synth.PORTRAIT_FACE_PX)
            else:
                bg = backgrounds[sid % SAMPLE_BACKGROUNDS]
                image, truth = _camera_face(face, profile, rng, bg)
            crop = faces.aligned_face(
                detector, image, faces.LargestOverlap(truth, SAMPLE_MATCH_IOU)
            )
            if crop is None:
                continue
            aligned.append(crop)
            keep.append(s + j)
        if aligned:
            embs.append(faces.embed_faces(embedder, np.stack(aligned)))
        if progress is not None:
            progress(len(rendered))
    emb = np.concatenate(embs) if embs else np.zeros((0, DIM), np.float32)
    sample = ImageSample(
        kind=kind, seed=int(seed), n_identities=int(n_identities),
        per_identity=int(per_identity), latent_sigma=float(latent_sigma), embeddings=emb,
        labels=labels[np.asarray(keep, dtype=np.int64)], rendered=len(sids),
    )  # fmt: skip
    if sample.dropped:
        log.info("%s: YuNet found %d of %d faces", kind, len(sample.labels), sample.rendered)
    return sample


def sample_image_embeddings(
    n_identities: int,
    n_sightings: int,
    seed: int,
    quality: str = REFERENCE,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Image-mode embeddings of camera sightings (see :func:`sample_image`).

    Returns
    -------
    emb : float32 (n, 128), L2-normalised.
    labels : int64 (n,), identity of each row; undetected faces are dropped (logged; use
        :func:`sample_image` for the count).
    """
    s = sample_image(n_identities, n_sightings, seed, quality, device=device)
    if s.dropped:
        log.warning("%s: %d of %d faces not detected (dropped)", quality, s.dropped, s.rendered)
    return s.embeddings, s.labels


#: Camera qualities :func:`sample_all` draws by default.
DEFAULT_QUALITIES = ("good", "fair", "poor")


def sample_all(n_identities, sightings, photos, seed, qualities=DEFAULT_QUALITIES, *,
               models=None, progress=None) -> dict[str, ImageSample]:  # fmt: skip
    """Image samples of every camera quality plus enrolment photos of the same people.

    Parameters
    ----------
    n_identities : people (ids ``0..n-1`` under ``seed``), the same in every kind.
    sightings, photos : faces per person of each camera quality, and photos per person.
    seed : seed of every sample (:func:`sample_image`).
    qualities : camera qualities to draw.
    models, progress : as for :func:`sample_image`.

    Returns
    -------
    dict
        ``{kind: ImageSample}``, the qualities in order, then ``"photo"``.
    """
    return {
        kind: sample_image(n_identities, per, seed, kind, models=models, progress=progress)
        for kind, per in [*((q, sightings) for q in qualities), (PHOTO, photos)]
    }
