"""Synthetic faces: seeded identities, seeded sightings, camera degradations.

An *identity* is a latent vector ``z ∈ R^100`` drawn from a seed and the identity's id; a
*sighting* of it is ``z + σ·ε`` with ``ε`` drawn from the seed and a sighting id (expression,
pose and lighting change together in the generator's latent space), followed by camera
degradations (blur, noise, brightness, JPEG, partial occlusion) whose strengths are named
parameters. The same (seed, identity, sighting, parameters) always gives the same pixels.

Images are ``uint8`` arrays ``(H, W, 3)`` in BGR order. The generator is the DCGAN converted by
:mod:`facelab.vision.models`; its faces are 64×64, the people in them do not exist.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from facelab.config import defaults
from facelab.errors import DataError
from facelab.vision import models
from facelab.vision.backend import open_model

log = logging.getLogger(__name__)

LATENT_DIM = 100
FACE_SIZE = 64
GENERATOR_BATCH = 64

# Independent random streams: SeedSequence([seed, STREAM, id]) so that adding a stream or an
# identity never shifts the others.
IDENTITY_STREAM = 101
SIGHTING_STREAM = 102
PHOTO_STREAM = 103
DEGRADE_STREAM = 104
PORTRAIT_STREAM = 105  # backdrop and degradation of photos, apart from their latent noise

# Where YuNet puts the face inside a 64×64 DCGAN crop, measured on 200 identities
# (x0, y0, w, h as fractions of the crop side); used for ground-truth face boxes.
FACE_BOX_IN_CROP = (0.155, 0.118, 0.694, 0.904)

# The "pre-loaded frame" an operator enrols or searches with: the face on a plain backdrop.
PORTRAIT_SIZE = 192
PORTRAIT_FACE_PX = 112


@dataclass(frozen=True)
class Degradation:
    """Concrete camera degradations applied to one image (strengths, not ranges).

    Attributes
    ----------
    blur_sigma : Gaussian blur sigma in pixels (0 = none).
    noise_sd : sensor noise standard deviation in grey levels.
    brightness : multiplicative gain (1 = unchanged).
    jpeg_quality : JPEG round trip quality 1–100 (100 = no round trip).
    occlusion : fraction of the face height covered by a band (scarf, mask), 0 = none.
    """

    blur_sigma: float = 0.0
    noise_sd: float = 0.0
    brightness: float = 1.0
    jpeg_quality: int = 100
    occlusion: float = 0.0

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


NO_DEGRADATION = Degradation()

# Default sighting variation for photos (portraits): a good, frontal camera.
DEFAULT_LATENT_SIGMA = defaults.DEFAULT_LATENT_SIGMA
DEFAULT_PHOTO_DEGRADATION = Degradation(blur_sigma=0.5, noise_sd=2.0, jpeg_quality=90)


def _rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream, *map(int, key)]))


def identity_latents(seed: int, identities, attempts=None) -> np.ndarray:
    """Latent vectors of identities.

    Parameters
    ----------
    seed : world seed.
    identities : int array-like (n,) of identity ids.
    attempts : int array-like (n,), optional
        Which candidate latent of each identity (:mod:`facelab.world.groups` chooses one of
        the wanted group): 0 (and ``None``) is ``SeedSequence([seed, IDENTITY_STREAM, id])``,
        ``k > 0`` is ``SeedSequence([seed, IDENTITY_STREAM, id, k])``.

    Returns
    -------
    float32 (n, 100)
    """
    ids = np.atleast_1d(np.asarray(identities, dtype=np.int64))
    tries = np.zeros(len(ids), np.int64) if attempts is None else np.asarray(attempts, np.int64)
    if tries.shape != ids.shape:
        raise DataError("identity_latents: identities and attempts differ in length")
    out = np.empty((len(ids), LATENT_DIM), np.float32)
    for i, (ident, k) in enumerate(zip(ids.tolist(), tries.tolist())):
        key = (ident,) if k == 0 else (ident, k)
        out[i] = _rng(seed, IDENTITY_STREAM, *key).standard_normal(LATENT_DIM)
    return out


def sighting_latents(
    seed: int, identities, sightings, sigma: float, stream=SIGHTING_STREAM, attempts=None
):
    """Latents of sightings: identity latent + sigma × noise keyed by the sighting id.

    Parameters
    ----------
    identities, sightings : int array-like (n,), the identity and a unique sighting id each.
    sigma : latent perturbation strength (SFace genuine cosine on clean 64-px crops: 0.2 → ≈ 0.83,
        0.3 → 0.73, 0.5 → 0.58).
    attempts : int array-like (n,), optional; each identity's latent candidate
        (:func:`identity_latents`).

    Returns
    -------
    float32 (n, 100)
    """
    z = identity_latents(seed, identities, attempts)
    sids = np.atleast_1d(np.asarray(sightings, dtype=np.int64))
    if len(sids) != len(z):
        raise DataError("sighting_latents: identities and sightings differ in length")
    for i, sid in enumerate(sids):
        z[i] += np.float32(sigma) * _rng(seed, stream, sid).standard_normal(LATENT_DIM)
    return z


class FaceGenerator:
    """The DCGAN generator run by onnxruntime. Picklable: it reopens its session on unpickle.

    Parameters
    ----------
    device : "cpu", "cuda" or "auto" (see :mod:`facelab.vision.device`).
    backend : "onnxruntime", "openvino" or "auto" (see :mod:`facelab.vision.backend`).
    """

    def __init__(self, device: str = "cpu", backend: str = "onnxruntime"):
        self.device = device
        self.backend = backend
        self.model_sha256 = models.model_sha256("generator")
        self._open()

    def _open(self) -> None:
        self._session = open_model("generator", self.device, self.backend)
        self.precision = self._session.precision

    def __getstate__(self):
        return {"device": self.device, "model_sha256": self.model_sha256, "backend": self.backend}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def render(self, z: np.ndarray) -> np.ndarray:
        """Faces for latents.

        Parameters
        ----------
        z : float32 (n, 100)

        Returns
        -------
        uint8 (n, 64, 64, 3), BGR
        """
        z = np.ascontiguousarray(z, dtype=np.float32).reshape(-1, LATENT_DIM)
        out = np.empty((len(z), FACE_SIZE, FACE_SIZE, 3), np.uint8)
        for s in range(0, len(z), GENERATOR_BATCH):
            rgb = self._session.run({"z": z[s : s + GENERATOR_BATCH]})[0]
            bgr = rgb.transpose(0, 2, 3, 1)[..., ::-1]
            out[s : s + GENERATOR_BATCH] = np.clip((bgr + 1.0) * 127.5 + 0.5, 0, 255)
        return out

    def identities(self, seed: int, identities, attempts=None) -> np.ndarray:
        """Undisturbed faces of identities, uint8 (n, 64, 64, 3) BGR."""
        return self.render(identity_latents(seed, identities, attempts))

    def sightings(
        self, seed: int, identities, sightings, sigma: float, stream=SIGHTING_STREAM, attempts=None
    ):
        """Faces of sightings (latent variation only), uint8 (n, 64, 64, 3) BGR."""
        return self.render(sighting_latents(seed, identities, sightings, sigma, stream, attempts))


def sample_degradation(profile, rng: np.random.Generator) -> Degradation:
    """Draw concrete degradations from a quality profile.

    ``profile`` has ``blur_sigma``, ``noise_sd``, ``jpeg_quality``, ``brightness`` (lo, hi) and
    ``occlusion_prob`` (a :class:`facelab.config.quality.QualityProfile`). Blur and noise vary by up to
    ±50 % around the profile's value, so that one camera does not give identical faces.
    """
    lo, hi = profile.brightness
    occluded = rng.random() < profile.occlusion_prob
    return Degradation(
        blur_sigma=float(profile.blur_sigma * rng.uniform(0.5, 1.5)),
        noise_sd=float(profile.noise_sd * rng.uniform(0.5, 1.5)),
        brightness=float(rng.uniform(lo, hi)),
        jpeg_quality=int(profile.jpeg_quality),
        occlusion=float(rng.uniform(0.25, 0.45)) if occluded else 0.0,
    )


def degrade(
    img: np.ndarray,
    d: Degradation,
    rng: np.random.Generator,
    face_box: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Apply camera degradations to an image (returns a new uint8 BGR array).

    ``face_box`` (x, y, w, h) is where an occluding band goes (the lower part of the face);
    without it the whole image is taken as the face.
    """
    out = img.astype(np.float32)
    if d.occlusion > 0:
        x, y, w, h = face_box or (0, 0, img.shape[1], img.shape[0])
        band = int(round(h * d.occlusion))
        y0 = y + h - band
        shade = rng.uniform(20, 90, size=3).astype(np.float32)  # a dark scarf / mask
        out[max(y0, 0) : y + h, max(x, 0) : x + w] = shade
    if d.brightness != 1.0:
        out *= d.brightness
    if d.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), d.blur_sigma)
    if d.noise_sd > 0:  # luminance noise, shared by the three channels
        noise = rng.standard_normal(size=(*out.shape[:2], 1), dtype=np.float32)
        out += np.float32(d.noise_sd) * noise
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if d.jpeg_quality < 100:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(d.jpeg_quality)])
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out


def soft_mask(size: int) -> np.ndarray:
    """Elliptical alpha mask (size, size) float32 in [0, 1] that fades a face crop's border."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    c = (size - 1) / 2.0
    r = ((xx - c) / (0.50 * size)) ** 2 + ((yy - c) / (0.56 * size)) ** 2
    mask = np.clip((1.0 - r) / 0.25, 0.0, 1.0)
    return mask.astype(np.float32)


def paste_face(canvas: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> None:
    """Blend a face crop, resized to ``side`` px, into ``canvas`` at (x, y) in place."""
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    alpha = soft_mask(side)[..., None]
    h, w = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    if x1 <= x0 or y1 <= y0:
        return
    sub = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    blended = alpha[sub] * big[sub] + (1.0 - alpha[sub]) * region
    canvas[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def face_box(x: int, y: int, side: int) -> tuple[int, int, int, int]:
    """Ground-truth face box (x, y, w, h) of a crop pasted at (x, y) with ``side`` px."""
    fx, fy, fw, fh = FACE_BOX_IN_CROP
    return (
        int(round(x + fx * side)),
        int(round(y + fy * side)),
        int(round(fw * side)),
        int(round(fh * side)),
    )


def portrait(
    face: np.ndarray,
    rng: np.random.Generator,
    degradation: Degradation = DEFAULT_PHOTO_DEGRADATION,
    size: int = PORTRAIT_SIZE,
    face_px: int = PORTRAIT_FACE_PX,
) -> np.ndarray:
    """A "pre-loaded frame": one face on a plain, softly shaded backdrop, degraded.

    Returns
    -------
    uint8 (size, size, 3) BGR
    """
    base = rng.uniform(90, 200, size=3)
    ramp = np.linspace(0.85, 1.1, size, dtype=np.float32)[:, None, None]
    canvas = np.clip(base[None, None, :] * ramp * np.ones((1, size, 1)), 0, 255).astype(np.uint8)
    off = (size - face_px) // 2
    paste_face(canvas, face, off, off, face_px)
    return degrade(canvas, degradation, rng, face_box(off, off, face_px))


def photos(
    generator: FaceGenerator,
    seed: int,
    identities,
    sightings,
    sigma: float,
    stream: int = PHOTO_STREAM,
    degradation: Degradation = DEFAULT_PHOTO_DEGRADATION,
    attempts=None,
) -> np.ndarray:
    """Photos ("pre-loaded frames") of identities: sighting latents rendered as portraits.

    The latent noise is keyed by ``(seed, stream, sighting)``, the backdrop and degradation by
    ``(seed, PORTRAIT_STREAM, stream, sighting)``, so the two are independent. ``attempts``:
    each identity's latent candidate (:func:`identity_latents`).

    Returns
    -------
    uint8 (n, PORTRAIT_SIZE, PORTRAIT_SIZE, 3) BGR
    """
    sids = np.atleast_1d(np.asarray(sightings, dtype=np.int64))
    faces = generator.sightings(seed, identities, sids, sigma, stream=stream, attempts=attempts)
    out = np.empty((len(faces), PORTRAIT_SIZE, PORTRAIT_SIZE, 3), np.uint8)
    for i, (face, sid) in enumerate(zip(faces, sids)):
        rng = np.random.default_rng(np.random.SeedSequence([seed, PORTRAIT_STREAM, stream, sid]))
        out[i] = portrait(face, rng, degradation)
    return out


def contact_sheet(
    images: list[np.ndarray],
    cols: int = 8,
    cell: int = 96,
    captions: list[str] | None = None,
    pad: int = 4,
) -> np.ndarray:
    """Tile images into one uint8 BGR sheet, with an optional caption under each."""
    if not images:
        raise DataError("contact_sheet: no images")
    rows = -(-len(images) // cols)
    cap_h = 16 if captions else 0
    h, w = rows * (cell + cap_h + pad) + pad, cols * (cell + pad) + pad
    sheet = np.full((h, w, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (cell + cap_h + pad), pad + c * (cell + pad)
        sheet[y : y + cell, x : x + cell] = cv2.resize(img, (cell, cell), cv2.INTER_AREA)
        if captions:
            cv2.putText(
                sheet, captions[i][:18], (x + 1, y + cell + 12), cv2.FONT_HERSHEY_SIMPLEX,
                0.35, (30, 30, 30), 1, cv2.LINE_AA,
            )  # fmt: skip
    return sheet
