"""The calibrated embedding twin: SFace-like embeddings without images, for scale.

Image mode renders a face, detects, aligns and embeds it: about 30–50 faces/s on two CPU cores.
Embedding mode draws each sighting's embedding from a small statistical model fitted to image
mode, so that millions of sightings take seconds while their genuine (same person) and impostor
(different people) cosine distributions stay close to those of the real models.

The model
---------
Every embedding is of a *kind*: a camera quality (``good``, ``fair``, ``poor``: the profiles
of :data:`facelab.config.scenario.BUILTIN_QUALITY`) or ``photo`` (the watchlist's "pre-loaded frame":
a portrait at the enrolment latent sigma 0.15). Kind 0 is the *hub* (``photo`` when calibrated
with photos, else the reference quality). For person ``i`` and a face of kind ``k``::

    identity  = π_k(i) (ω_s · L[k, 0] A h_0(i)  +  L[k, k] A h_k(i))   h_j(i): skewed, per person
    d         = ω_a · identity  +  s_k B_k h_e                        h_e: skewed (η_k), per face
    x         = normalize(m_k (1 + σ_k ζ(i))  +  R_k d / |d|)          ζ(i) ~ N(0, 1) per person
    ω_a = exp(−τ_k z_1²),  ω_s = exp(−κ_k z_2²)                       z ~ N(0, 1) per face
    π_k(i) = exp(ν_k ξ(i) − ν_k²)                                     ξ(i) ~ N(0, 1) per person
    h_j = (exp(β_j g) − e^{β_j²/2}) / √(e^{2β_j²} − e^{β_j²})          g ~ N(0, I) per person
    h_e = |B_k e| / |B_k h'| · h',  h' the same standardised log-normal (skew η_k) of e ~ N(0, I)

- ``m_k``: the kind's mean embedding. Degraded faces share a *quality direction* (image mode:
  good-vs-poor impostor pairs score 0.12 on average, good-vs-good and poor-vs-poor pairs 0.21
  and 0.23), so every kind has its own mean.
- ``A = V diag(√w)``: a square root of the between-person covariance (measured on the
  reference quality) along its principal axes, its spectrum raised to a power ``γ`` (γ < 1
  shrinks towards isotropy, γ > 1 sharpens) so that it is well conditioned from a few hundred
  people; ``B_k``: the same for the kind's within-person (residual) covariance, of unit trace,
  also along its principal axes (its own exponent).
- ``L``: factor 0 is shared by all kinds (the person "as on the photo"); ``L[k, k]`` is a
  person-specific part that only faces of kind ``k`` share (two poor sightings of one person
  agree on features a good sighting does not show).
- ``h_j``: the identity factors are standardised log-normal, not Gaussian (``β_j`` = 0 is
  Gaussian). Image-mode impostor scores, once the component along the mean face is taken out,
  are skewed to the right (skewness ≈ +0.15 in every kind; the person-level part carries it,
  the within-person residuals do not): two people agree strongly on a few features more often
  than they disagree. With Gaussian factors the twin's impostor scores were skewed to the left
  (−0.08 to −0.14, from the normalisation) and FMR at 50 % was half of image mode's.
- ``h_e``: the noise of a camera face is skewed too (``η_k``; 0 for the hub): two faces of
  *different* people that share a strong nuisance feature (pose, light, blur) score high more
  often than two that disagree on it. Image mode shows it: with the part along the mean face
  taken out, impostor scores are skewed right by +0.12–0.16 in good, fair and poor alike, and in
  poor, where two faces of the same two people agree little (correlation 0.1–0.2 against
  0.3–0.45 in good and fair), that skew is the faces', not the people's. The skewed vector is
  scaled to the length its Gaussian draw had, so the skew turns where the noise points, not
  how long it is (the log-normal's heavy fourth moment otherwise spread the noisy kinds'
  genuine scores: 7 fewer rates inside over four fits). Format 2 skewed the camera kinds' own
  identity factors instead (``β_k``); that part of a face is small, ``β_k`` sat at its bound,
  and the twin under-stated FMR at 50–60 % by 0.5–0.7× on average (0.3–0.6× in fair and
  poor). ``β_k`` of a camera kind is now 0; ``β_0`` (the hub's, shared) is fitted as before.
- ``π``: identity strength, one normal ``ξ(i)`` per person shared by all kinds (image mode:
  people's mean genuine scores correlate 0.6–0.9 between good, fair and photo-vs-good): some
  people are seen consistently ("sheep"), others much less ("goats"); it spreads genuine
  scores per person without widening each person's own.
- ``ω``: how much identity a face keeps, ≤ 1, mostly near 1, sometimes much less (blur, a
  small face, occlusion): image-mode genuine scores have a ceiling and a long lower tail
  (skewness ≈ −0.7 to −1).
- ``R_k``: the deviation from the mean has a fixed length, so the impostor distribution keeps
  image mode's near-Gaussian shape; ``σ_k`` spreads people's mean impostor score (some people
  resemble everyone more, "Doddington's zoo").

Fitting (:func:`fit_twin`) estimates the means and covariances from moments, then tunes by
bisection, on simulations with common random numbers, one parameter per image-mode statistic:
the norm (impostor mean), ``L[k, 0]`` (genuine mean against the hub), ``L[k, k]`` (within-kind
genuine mean), ``κ_k`` (genuine sd against the hub), ``τ_k`` (within-kind genuine sd), ``γ``
(impostor sd), ``β_0`` (the hub's impostor skewness), ``η_k`` (kind k's impostor skewness;
both only from ≥ :data:`MIN_SKEW_PEOPLE` people, else 0),
``σ_k`` (spread of people's mean impostor score) and ``ν_k`` (spread of people's expected
genuine score, estimated without within-person noise from pairs of genuine pairs that share no
face: within a kind with ≥ 4 faces per person, else against the hub), in at least two sweeps.
:func:`compare` checks the result with two-sample KS statistics and FMR / FNMR at 50–80 %.

Known limits (measured on 150 fresh people, ``facelab calibrate --check 150``; see
benchmarks/README.md): 46 of 48 FMR / FNMR rates at 50–80 % inside image mode's intervals,
every FMR among them, where the fitted image sample itself (other people, same cameras) puts
43 — two image samples of 150 people put 35–47 of 48 inside each other's intervals
(``benchmarks/experiments/twin_seeds.py``), and a twin carries the sampling error of the sample
it was fitted on: twins fitted on each of four seeds put 32–46 of 48 inside the others'.
Outside, just: FNMR at 70 % of fair and photo-vs-fair (0.918 vs at most 0.916; 0.864 vs at most
0.864). ``ν`` comes out 0 for fair and poor (the twin already has image mode's goat spread
there) and for a photo hub with < 4 photos per person (not fitted). Camera-vs-camera pairs of
*different* qualities (e.g. good vs fair) are not fitted; photo-vs-poor genuine scores are
narrower than in image mode (sd 0.12 vs 0.13, KS ≈ 0.10), and poor-vs-poor genuine scores a
little low (mean 0.39 vs 0.42 on the fresh people; 0.39 in the fitted sample, a sample
difference at ~100 people).

Random numbers at scale
-----------------------
:class:`TwinSampler` draws every random vector from a counter-based generator: a 64-bit key is
mixed from (seed, stream, person[, pass id]) with the SplitMix64 finaliser, the key plus
``j · γ`` (``j`` = 1…65, the golden-ratio increment) is mixed again to give 65 × 64 random bits,
and Box–Muller turns them into up to 130 standard normals. A row therefore depends only on its
own (seed, person, pass id): a person's template is the same alone or in a batch, and a pass
gives the same vector whatever else is drawn with it, in any order or batch size — up to
float32 rounding in the matrix products (≤ 1e-6; the same call is bit-identical, whatever the
number of workers) — and no per-row generator object is created.

Arrays: embeddings are float32 ``(n, 128)``, L2-normalised; person and pass ids int64 ``(n,)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import sys
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab import __version__, paths
from facelab.lab import metrics
from facelab.search import percent
from facelab.world import synth
from facelab.errors import ConfigError, DataError, ModelError
from facelab.fileio import write_atomic

log = logging.getLogger(__name__)

DIM = 128
PHOTO = "photo"
REFERENCE = "good"
TWIN_FILE = "twin.npz"
FORMAT_VERSION = 3

#: Percent thresholds of the comparison table (the "usually 50–80 %" band, DESIGN §5).
DEFAULT_PERCENTS: tuple[float, ...] = (50.0, 60.0, 70.0, 80.0)

# --------------------------------------------------------------------------- image sampling

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
        return len(self.labels) / self.rendered if self.rendered else math.nan


def _profile(kind: str):
    from facelab.config.scenario import BUILTIN_QUALITY

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
    :data:`facelab.world.synth.DEFAULT_LATENT_SIGMA`) is pasted at a size drawn from the profile's
    ``face_px`` into a 320×240 procedural scene (:func:`facelab.world.camera.background`), the face is
    occluded and the frame blurred, noised, re-lit and JPEG-compressed by
    :func:`facelab.world.synth.sample_degradation` / :func:`facelab.world.synth.degrade`. A ``photo`` is
    the watchlist's pre-loaded frame: :func:`facelab.world.synth.portrait` with its default
    degradation at the enrolment sigma (0.15), as the pipeline enrols it. YuNet runs on the
    whole image; the largest detection overlapping the true face box (IoU ≥ 0.5) is aligned
    and embedded; faces it misses are dropped and counted.

    Parameters
    ----------
    n_identities : people (ids ``0..n-1`` under ``seed``: the same people for every kind).
    per_identity : faces per person.
    seed : seed of identities, latent noise, frames and degradations (deterministic).
    kind : ``good``, ``fair``, ``poor`` or ``photo``.
    latent_sigma : latent variation (default 0.3 for sightings, 0.15 for photos).
    device : device of the generator and embedder ("cpu", "cuda", "auto").
    models : ``(generator, detector, embedder)`` already opened, to reuse them.
    progress : called with the number of faces just processed (for a progress bar).

    Returns
    -------
    ImageSample
    """
    from facelab.world import camera
    from facelab.vision import detect, embed
    from facelab.config.scenario import DEFAULT_ENROL_SIGMA

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
        faces = generator.sightings(
            seed, labels[chunk], sids[chunk], latent_sigma, stream=latent_stream
        )
        aligned = []
        for j, face in enumerate(faces):
            sid = int(sids[s + j])
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), image_stream, sid]))
            if is_photo:
                image = synth.portrait(face, rng)
                off = (synth.PORTRAIT_SIZE - synth.PORTRAIT_FACE_PX) // 2
                truth = synth.face_box(off, off, synth.PORTRAIT_FACE_PX)
            else:
                bg = backgrounds[sid % SAMPLE_BACKGROUNDS]
                image, truth = _camera_face(face, profile, rng, bg)
            found = detector.detect(image)
            best, best_area = -1, -1.0
            for d in range(len(found)):
                area = float(found.boxes[d, 2] * found.boxes[d, 3])
                if detect.iou(found.boxes[d], truth) >= SAMPLE_MATCH_IOU and area > best_area:
                    best, best_area = d, area
            if best < 0:
                continue
            try:
                aligned.append(embed.align(image, found.landmarks[best]))
            except DataError:
                continue
            keep.append(s + j)
        if aligned:
            embs.append(embedder.embed(np.stack(aligned)))
        if progress is not None:
            progress(len(faces))
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


# --------------------------------------------------------------------------- counter-based RNG

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_GAMMA2 = 0xD1B54A32D192ED03
_U64 = np.uint64
_M1, _M2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_S30, _S27, _S31 = _U64(30), _U64(27), _U64(31)
_LITTLE = sys.byteorder == "little"
_COLUMNS = np.arange(1, 66, dtype=np.uint64) * _U64(_GAMMA)  # 65 × 64 bits → 130 normals

#: Hash streams of the sampler (never reorder: they fix every draw).
_H_IDENTITY = 1
_H_SPECIFIC = 2  # + 16 · kind index
_H_SIGHTING = 3
_H_PHOTO = 4
_H_TYPICAL = 5


def _mix_int(x: int) -> int:
    """SplitMix64 finaliser on a Python int."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, in place on a uint64 array (returns it)."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


def _row_keys(seed: int, stream: int, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """uint64 (n,) keys, one per row, from (seed, stream, a[, b])."""
    k0 = _U64(_mix_int(_mix_int(int(seed) * _GAMMA + int(stream)) + _GAMMA2))
    h = np.asarray(a, dtype=np.int64).astype(np.uint64) * _U64(_GAMMA)
    h += k0
    _mix(h)
    if b is not None:
        h += np.asarray(b, dtype=np.int64).astype(np.uint64) * _U64(_GAMMA2)
        _mix(h)
    return h


def _normals(keys: np.ndarray, n: int = DIM) -> np.ndarray:
    """float32 (len(keys), n) standard normals, each row a function of its key only (n ≤ 130).

    Each 64-bit hash gives two 23-bit uniforms (its two 32-bit halves, as float32 mantissas in
    [1, 2)) and so, by Box–Muller, two normals (tails cut at |z| ≈ 5.6).
    """
    cols = (n + 1) // 2
    x = keys[:, None] + _COLUMNS[None, :cols]
    _mix(x)
    bits = x.view(np.uint32)  # (m, 2·cols): low and high half of each hash
    bits >>= np.uint32(9)
    bits |= np.uint32(0x3F800000)
    f = bits.view(np.float32)  # uniform in [1, 2)
    lo, hi = (f[:, 0::2], f[:, 1::2]) if _LITTLE else (f[:, 1::2], f[:, 0::2])
    r = np.subtract(np.float32(2.0), hi)  # (0, 1]
    np.log(r, out=r)
    r *= np.float32(-2.0)
    np.sqrt(r, out=r)
    theta = np.subtract(lo, np.float32(1.0))
    theta *= np.float32(2.0 * np.pi)
    out = np.empty((len(keys), 2 * cols), np.float32)
    np.multiply(r, np.cos(theta), out=out[:, 0::2])
    np.multiply(r, np.sin(theta), out=out[:, 1::2])
    return out[:, :n] if n != 2 * cols else out


def _retention(z: np.ndarray, c) -> np.ndarray:
    """Per-face share of an identity signal kept, ``exp(−c z²)`` ∈ (0, 1]: most faces keep
    nearly all of it, a few (blurred, small, occluded) lose much — so genuine scores have a
    ceiling and a long lower tail, as in image mode."""
    c = np.float32(c)
    return np.exp(-c * z * z)


def _skewed(h: np.ndarray, beta: float) -> np.ndarray:
    """Skewed identity variables from standard normals, elementwise and in place: the
    standardised log-normal ``(exp(β h) − e^{β²/2}) / √(e^{2β²} − e^{β²})`` — mean 0,
    variance 1, skewness ``(e^{β²} + 2) √(e^{β²} − 1)`` (β = 0: ``h`` itself). Two people's
    identities then agree strongly on a few features more often than they disagree, so
    impostor scores get image mode's heavier upper tail."""
    if beta == 0:
        return h
    b2 = beta * beta
    h *= np.float32(beta)
    np.exp(h, out=h)
    h -= np.float32(math.exp(b2 / 2))
    h *= np.float32(1.0 / math.sqrt(math.exp(2 * b2) - math.exp(b2)))
    return h


def _noise(g: np.ndarray, basis_t: np.ndarray, eta: float) -> np.ndarray:
    """A face's noise ``B h_e`` from standard normals ``g`` (n, 128), overwritten, and ``Bᵀ``
    (rows orthogonal: ``B``'s columns are principal axes). With skew ``η`` the variables are
    skewed (:func:`_skewed`) and the vector is scaled to the length ``B g`` has, so that the
    skew turns where the noise points, not how long it is (the log-normal's heavy fourth moment
    would otherwise spread a noisy kind's genuine scores). Lengths need no product with ``B``:
    ``|B g|² = Σ_a w_a g_a²``, ``w_a`` the squared norm of row ``a`` of ``Bᵀ``."""
    if eta == 0:
        return g @ basis_t
    w = np.einsum("ij,ij->i", basis_t, basis_t)
    length = np.sqrt((g * g) @ w)
    h = _skewed(g, eta)
    h *= (length / np.sqrt((h * h) @ w))[:, None]
    return h @ basis_t


def _strength(xi: np.ndarray, nu) -> np.ndarray:
    """Per-person identity strength ``exp(ν ξ − ν²)`` (mean square 1): some people are seen
    consistently (high genuine scores, every sighting alike), others much less."""
    nu = np.float32(nu)
    if nu == 0:
        return np.ones(len(xi), np.float32)
    return np.exp(nu * xi - nu * nu)


def _retention_sq_mean(c: float) -> float:
    """``E[exp(−c z²)²] = (1 + 4c)^(−1/2)`` for ``z ~ N(0, 1)``."""
    return 1.0 / math.sqrt(1.0 + 4.0 * c)


def _normalize_rows(y: np.ndarray) -> np.ndarray:
    y /= np.sqrt(np.einsum("ij,ij->i", y, y))[:, None]
    return y


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, eq=False)
class TwinModel:
    """A fitted embedding twin (see the module docstring for the model).

    Attributes
    ----------
    kinds : names of the calibrated kinds, hub first, e.g. ``("photo", "good", "fair",
        "poor")``.
    reference : the hub kind (its identity part is the template).
    identity_basis : float32 (128, 128) ``A``.
    identity_mix : float64 (K, K) lower-triangular ``L`` (only column 0 and the diagonal are
        fitted).
    means : float32 (K, 128) ``m_k``.
    noise_scale, retention, link_retention : float64 (K,) ``s_k``, ``τ_k``, ``κ_k``.
    deviation_norm : float64 (K,) ``R_k``, the fixed length of a face's deviation from its mean.
    noise_basis : float32 (K, 128, 128) ``B_k`` (unit-trace covariance square roots whose
        columns are the principal axes, ``V diag(√w)``).
    detect_rate : float64 (K,) share of image-mode faces YuNet found (embedding mode does not
        drop sightings; a caller may, with this rate).
    latent_sigma : float64 (K,) latent sigma the kind was calibrated at.
    typicality : float64 (K,) ``σ_k``: a person's mean component is ``m_k (1 + σ_k ζ_i)``,
        ``ζ_i ~ N(0, 1)`` per person: some people resemble everyone more than others do.
    identity_skew : float64 (K,) ``β_j``: identity factor ``j`` (0: shared, k: kind k's own) is
        ``(exp(β_j g) − e^{β_j²/2}) / √(e^{2β_j²} − e^{β_j²})``, ``g ~ N(0, 1)`` per person and
        axis (a standardised log-normal; β = 0: Gaussian).
    identity_spread : float64 (K,) ``ν_k``: a person's identity part is scaled by
        ``exp(ν_k ξ_i − ν_k²)``, ``ξ_i ~ N(0, 1)`` per person and shared by all kinds (goats
        and sheep).
    image_stats, twin_stats : float64 (K, K, 7) image-mode targets and the fitted twin's
        values for faces of kind ``k`` against kind ``l`` (:data:`STAT_NAMES`): genuine mean,
        sd, impostor mean, sd, (on the diagonal) the sd over people of their mean impostor score
        ("zoo" spread), impostor skewness, and the sd over people of their expected genuine
        score ("goat" spread, :func:`_goat_sd`); ``k == l``: pairs within a kind; NaN where not
        measurable (e.g. between two kinds with one face per person).
    identity_power, noise_power : spectral exponents γ (float; float64 (K,)) of the identity
        and noise covariances: eigenvalues ``w^γ`` rescaled to the fitted trace (γ = 1: the
        sample covariance, γ < 1 shrinks towards isotropy, γ > 1 sharpens the spectrum).
    noise_skew : float64 (K,) ``η_k``: a face's noise variables (one per principal axis of
        ``B_k``) are standardised log-normal with this skew, as the identity factors are with
        ``β``; 0 (Gaussian) for the hub.
    seed, n_identities, n_per_identity : the image sample fitted on.
    embedder_sha256 : SHA-256 of the SFace model that made the image sample.
    facelab_version : version that fitted it.
    """

    kinds: tuple[str, ...]
    reference: str
    identity_basis: np.ndarray
    identity_mix: np.ndarray
    means: np.ndarray
    noise_basis: np.ndarray
    noise_scale: np.ndarray
    retention: np.ndarray
    link_retention: np.ndarray
    deviation_norm: np.ndarray
    typicality: np.ndarray
    identity_skew: np.ndarray
    identity_spread: np.ndarray
    noise_power: np.ndarray
    noise_skew: np.ndarray
    detect_rate: np.ndarray
    latent_sigma: np.ndarray
    image_stats: np.ndarray
    twin_stats: np.ndarray
    identity_power: float
    seed: int
    n_identities: int
    n_per_identity: int
    embedder_sha256: str
    facelab_version: str = __version__

    def __post_init__(self) -> None:
        k = len(self.kinds)
        shapes = {
            "identity_basis": (DIM, DIM), "identity_mix": (k, k), "means": (k, DIM),
            "noise_basis": (k, DIM, DIM), "noise_scale": (k,), "retention": (k,),
            "link_retention": (k,), "deviation_norm": (k,), "typicality": (k,),
            "identity_skew": (k,), "identity_spread": (k,), "noise_power": (k,), "noise_skew": (k,),
            "detect_rate": (k,), "latent_sigma": (k,), "image_stats": (k, k, N_STATS),
            "twin_stats": (k, k, N_STATS),
        }  # fmt: skip
        if not self.kinds or self.kinds[0] != self.reference:
            raise DataError(f"twin: the reference kind {self.reference!r} must come first")
        if len(set(self.kinds)) != k:
            raise DataError(f"twin: duplicate kinds {self.kinds}")
        for name, shape in shapes.items():
            arr = np.asarray(getattr(self, name))
            if arr.shape != shape:
                raise DataError(f"twin: {name} has shape {arr.shape}, expected {shape}")
            if name not in ("image_stats", "twin_stats") and not np.isfinite(arr).all():
                raise DataError(f"twin: {name} holds non-finite values")
            arr = arr.astype(np.float32 if arr.dtype == np.float32 else np.float64, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if np.any(np.triu(self.identity_mix, 1) != 0):
            raise DataError("twin: identity_mix must be lower-triangular")
        gram = np.einsum("kij,kil->kjl", self.noise_basis, self.noise_basis)
        off = gram - np.einsum("kjj->kj", gram)[:, :, None] * np.eye(DIM)
        if np.abs(off).max() > 1e-4 * max(float(np.abs(gram).max()), 1e-12):
            raise DataError("twin: noise_basis columns must be orthogonal (principal axes)")

    def index(self, kind: str) -> int:
        """Position of a kind; ConfigError naming the calibrated ones if unknown."""
        try:
            return self.kinds.index(kind)
        except ValueError:
            raise ConfigError(
                f"the twin is not calibrated for {kind!r} (calibrated: {', '.join(self.kinds)}); "
                "run `facelab calibrate`"
            ) from None

    # ------------------------------------------------------------------ persistence

    _ARRAYS = (
        "identity_basis", "identity_mix", "means", "noise_basis", "noise_scale",
        "retention", "link_retention", "deviation_norm", "typicality", "identity_skew",
        "identity_spread", "noise_power", "noise_skew", "detect_rate", "latent_sigma", "image_stats",
        "twin_stats",
    )  # fmt: skip

    def metadata(self) -> dict:
        """JSON-able description: kinds, source of the fit, per-kind parameters."""
        return {
            "format": "facelab-twin",
            "format_version": FORMAT_VERSION,
            "kinds": list(self.kinds),
            "reference": self.reference,
            "identity_power": self.identity_power,
            "source": {
                "seed": self.seed,
                "n_identities": self.n_identities,
                "n_per_identity": self.n_per_identity,
                "embedder_sha256": self.embedder_sha256,
                "facelab_version": self.facelab_version,
            },
            "params": {
                k: {
                    "identity_mix": [float(x) for x in self.identity_mix[i, : i + 1]],
                    "noise_scale": float(self.noise_scale[i]),
                    "retention": float(self.retention[i]),
                    "link_retention": float(self.link_retention[i]),
                    "deviation_norm": float(self.deviation_norm[i]),
                    "typicality": float(self.typicality[i]),
                    "identity_skew": float(self.identity_skew[i]),
                    "identity_spread": float(self.identity_spread[i]),
                    "noise_power": float(self.noise_power[i]),
                    "noise_skew": float(self.noise_skew[i]),
                    "detect_rate": float(self.detect_rate[i]),
                    "latent_sigma": float(self.latent_sigma[i]),
                }
                for i, k in enumerate(self.kinds)
            },
        }

    def _digest(self) -> str:
        h = hashlib.sha256()
        for name in self._ARRAYS:
            arr = np.ascontiguousarray(getattr(self, name))
            h.update(name.encode() + str(arr.dtype).encode() + str(arr.shape).encode())
            h.update(arr.tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write the model as ``.npz`` (arrays + JSON metadata with a content hash), atomically.

        Returns the path written.
        """
        path = Path(path)
        meta = self.metadata()
        meta["sha256"] = self._digest()
        buf = io.BytesIO()
        np.savez(buf, meta=np.array(json.dumps(meta, sort_keys=True)),
                 **{n: getattr(self, n) for n in self._ARRAYS})  # fmt: skip
        write_atomic(path, buf.getvalue())
        log.info("wrote twin model %s", path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TwinModel:
        """Read and verify a saved model.

        Raises
        ------
        ModelError
            Naming the file, when it is missing, not a twin model, of another format version,
            or corrupt (unreadable, truncated, altered arrays).
        """
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"twin model file missing: {path}; run `facelab calibrate`")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"][()]))
                # the format first: an older file lacks arrays, and is not corrupt
                if not isinstance(meta, dict) or meta.get("format") != "facelab-twin":
                    raise ModelError(f"{path} is not a facelab twin model")
                if meta.get("format_version") != FORMAT_VERSION:
                    raise ModelError(
                        f"{path}: twin format version {meta.get('format_version')} is not "
                        f"{FORMAT_VERSION} (an older facelab); run `facelab calibrate`"
                    )
                arrays = {n: z[n] for n in cls._ARRAYS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelError(f"corrupt twin model {path}: {exc}; run `facelab calibrate`") from None
        try:
            src = meta["source"]
            model = cls(
                kinds=tuple(meta["kinds"]), reference=meta["reference"],
                identity_power=float(meta["identity_power"]), seed=int(src["seed"]),
                n_identities=int(src["n_identities"]),
                n_per_identity=int(src["n_per_identity"]),
                embedder_sha256=str(src["embedder_sha256"]),
                facelab_version=str(src["facelab_version"]), **arrays,
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, DataError) as exc:
            raise ModelError(f"corrupt twin model {path}: {exc}") from None
        if model._digest() != meta.get("sha256"):
            raise ModelError(f"corrupt twin model {path}: arrays do not match their recorded hash")
        return model


DEFAULT_QUALITIES = ("good", "fair", "poor")


def sample_all(n_identities, sightings, photos, seed, qualities=DEFAULT_QUALITIES, *,
               models=None, progress=None) -> dict[str, ImageSample]:  # fmt: skip
    """Image samples of every camera quality plus enrolment photos of the same people."""
    return {
        kind: sample_image(n_identities, per, seed, kind, models=models, progress=progress)
        for kind, per in [*((q, sightings) for q in qualities), (PHOTO, photos)]
    }


def calibrate(
    identities: int = 150,
    sightings: int = 4,
    photos: int = 2,
    seed: int = 0,
    qualities=DEFAULT_QUALITIES,
    *,
    device: str = "cpu",
    models=None,
    progress=None,
) -> tuple[TwinModel, dict[str, ImageSample]]:
    """Render, detect and embed an image sample with the real models and fit the twin to it.

    ``models`` is ``(FaceGenerator, FaceDetector, Embedder)`` to reuse; ``progress(n)`` is called
    as faces are done. Returns the model (not yet saved) and the samples it was fitted on.
    """
    from facelab.vision import detect, embed
    from facelab.world import synth
    from facelab.vision import models as model_files

    models = models or (synth.FaceGenerator(device), detect.FaceDetector(device), embed.Embedder(device))
    quals = list(qualities)
    samples = sample_all(identities, sightings, photos, seed, quals, models=models, progress=progress)
    ref = samples[quals[0]]
    model = fit_twin(
        ref.embeddings, ref.labels, quals[0], seed,
        others={k: (v.embeddings, v.labels) for k, v in samples.items() if k != quals[0]},
        detect_rates={k: v.detect_rate for k, v in samples.items()},
        latent_sigmas={k: v.latent_sigma for k, v in samples.items()},
        n_identities=identities, n_per_identity=sightings,
        embedder_sha256=model_files.model_sha256("embedder"),
    )  # fmt: skip
    return model, samples


def default_path() -> Path:
    """``facelab.paths.model_dir() / "twin.npz"``."""
    return paths.model_dir() / TWIN_FILE


def load_default() -> TwinModel:
    """The calibrated twin under the model folder.

    Raises
    ------
    ModelError
        ``no calibrated twin at …; run `facelab calibrate``` when it is missing; naming the
        file when it is corrupt.
    """
    path = default_path()
    if not path.exists():
        raise ModelError(f"no calibrated twin at {path}; run `facelab calibrate`")
    model = TwinModel.load(path)
    try:
        from facelab.vision import models

        current = models.read_manifest().get("embedder", {}).get("sha256")
    except Exception:  # noqa: BLE001 - the manifest is advisory here
        current = None
    if current and current != model.embedder_sha256:
        log.warning(
            "twin %s was calibrated with another embedder (%s…, now %s…); run `facelab calibrate`",
            path, model.embedder_sha256[:12], current[:12],
        )  # fmt: skip
    return model


# --------------------------------------------------------------------------- sampling


class TwinSampler:
    """Deterministic, vectorised draws from a :class:`TwinModel`.

    Every row is a function of (seed, identity[, pass or photo id]) only — not of the batch it
    is drawn in — so results agree however the ids are split, ordered or repeated (to float32
    rounding in BLAS products, ≤ 1e-6; the same call gives the same bytes).

    Parameters
    ----------
    model : the fitted twin.
    seed : seed of every draw (a scenario's seed).
    block : rows generated per vectorised block (memory: about 2 KB per row and worker).
    workers : threads drawing blocks in parallel (numpy releases the GIL in its loops); default
        ``min(2, os.cpu_count())``. With more than one, BLAS is held to one thread per call
        (needs ``threadpoolctl``; without it the sampler uses one worker).
    """

    def __init__(self, model: TwinModel, seed: int, block: int = 16384, workers: int | None = None):
        self.model = model
        self.seed = int(seed)
        self.block = int(block)
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        self.workers = max(1, int(workers)) if _threadpoolctl() else 1
        m = model
        self._a = np.asarray(m.identity_basis, np.float32).T.copy()  # g @ A.T
        self._b = np.ascontiguousarray(np.transpose(m.noise_basis, (0, 2, 1)), np.float32)

    # ---------------------------------------------------------------- components

    def _factor(self, j: int, ids: np.ndarray) -> np.ndarray:
        """float32 (n, 128) unit-variance variables ``h_j`` of identity factor ``j``: skewed
        standard normals (:func:`_skewed`, skew ``β_j``)."""
        stream = _H_IDENTITY if j == 0 else _H_SPECIFIC + 16 * j
        return _skewed(_normals(_row_keys(self.seed, stream, ids)), self.model.identity_skew[j])

    def _person(self, uniq: np.ndarray) -> np.ndarray:
        """float32 (n, 2): per-person normals (ζ_i, ξ_i): typicality and identity strength."""
        return _normals(_row_keys(self.seed, _H_TYPICAL, uniq), 2)

    def _draw(self, k: int, ids: np.ndarray, keys: np.ndarray, sigma_scale=1.0) -> np.ndarray:
        """Rows of kind ``k`` for identities ``ids`` with per-row noise keys (one block)."""
        m = self.model
        uniq, inv = np.unique(ids, return_inverse=True)
        person = self._person(uniq)
        strength = _strength(person[:, 1], m.identity_spread[k])[:, None]
        z = _normals(keys, DIM + 2)
        y = np.zeros((len(ids), DIM), np.float32)
        shared = None  # the links to the factors of kinds before k (the hub's) ...
        for j in range(k):
            w = np.float32(m.identity_mix[k, j])
            if w != 0:
                term = self._factor(j, uniq) * w
                shared = term if shared is None else shared + term
        if shared is not None:
            shared = (shared @ self._a) * strength
            y += shared[inv] * _retention(z[:, DIM + 1], m.link_retention[k])[:, None]
        own = np.float32(m.identity_mix[k, k])  # ... plus the kind's own identity factor
        if own != 0:
            y += (((self._factor(k, uniq) * own) @ self._a) * strength)[inv]
        if m.retention[k] > 0:
            y *= _retention(z[:, DIM], m.retention[k])[:, None]
        scale = np.float32(m.noise_scale[k]) * np.asarray(sigma_scale, np.float32)
        y += _noise(z[:, :DIM], self._b[k], m.noise_skew[k]) * scale  # ... plus the noise
        y *= (np.float32(m.deviation_norm[k]) / np.sqrt(np.einsum("ij,ij->i", y, y)))[:, None]
        y += self._mean_part(k, person[:, 0])[inv]
        return _normalize_rows(y)

    def _mean_part(self, k: int, zeta: np.ndarray) -> np.ndarray:
        """float32 (n, 128): each person's mean component ``m_k (1 + σ_k ζ_i)``."""
        sigma = np.float32(self.model.typicality[k])
        return (np.float32(1.0) + sigma * zeta)[:, None] * self.model.means[k][None, :]

    def _blocks(self, n: int):
        for s in range(0, n, self.block):
            yield slice(s, min(s + self.block, n))

    # ---------------------------------------------------------------- public

    def templates(self, identity_ids) -> np.ndarray:
        """Each person's noise-free embedding of the hub kind (the template).

        Parameters
        ----------
        identity_ids : int64 (n,)

        Returns
        -------
        float32 (n, 128), L2-normalised: the person's face of the reference (hub) kind without
        noise, ``normalize(m_0 (1 + σ_0 ζ_i) + L[0, 0] A h_0)`` (the hub is ``photo`` when the
        twin was calibrated with photos); row ``i`` depends only on (seed, identity_ids[i]).
        """
        ids = np.atleast_1d(np.asarray(identity_ids, np.int64))
        out = np.empty((len(ids), DIM), np.float32)
        for sl in self._blocks(len(ids)):
            person = self._person(ids[sl])
            y = (self._factor(0, ids[sl]) * np.float32(self.model.identity_mix[0, 0])) @ self._a
            y *= _strength(person[:, 1], self.model.identity_spread[0])[:, None]
            y += self._mean_part(0, person[:, 0])
            out[sl] = _normalize_rows(y)
        return out

    def sightings(self, identity_ids, pass_ids, quality) -> np.ndarray:
        """Embeddings of camera sightings.

        Parameters
        ----------
        identity_ids : int64 (n,) who passes.
        pass_ids : int64 (n,) the pass (unique per sighting); noise is keyed by
            (seed, identity, pass), so a pass gives the same vector in any batch.
        quality : a calibrated quality name for every row, or an array (n,) of names.

        Returns
        -------
        float32 (n, 128), L2-normalised.
        """
        ids = np.atleast_1d(np.asarray(identity_ids, np.int64))
        pids = np.atleast_1d(np.asarray(pass_ids, np.int64))
        if ids.shape != pids.shape or ids.ndim != 1:
            raise DataError(f"sightings: identity_ids {ids.shape} and pass_ids {pids.shape} differ")
        out = np.empty((len(ids), DIM), np.float32)
        if isinstance(quality, str):
            groups = [(self.model.index(quality), None)]
        else:
            q = np.asarray(quality)
            if q.shape != ids.shape:
                raise DataError(f"sightings: quality has shape {q.shape}, expected {ids.shape}")
            names = np.unique(q)
            groups = [(self.model.index(str(name)), np.flatnonzero(q == name)) for name in names]
        for k, rows in groups:
            if self.model.kinds[k] == PHOTO:
                raise ConfigError("sightings: 'photo' is not a camera quality; use photos()")
            if rows is None:
                rows = np.arange(len(ids))
            self._fill(out, k, _H_SIGHTING, ids, pids, rows)
        return out

    def _fill(self, out, k: int, stream: int, ids, keys2, rows, sigma_scale=1.0) -> None:
        """Draw ``out[rows]`` block by block, rows sorted by identity so that each block
        computes few identity factors (rows do not depend on their block)."""
        rows = rows[np.argsort(ids[rows], kind="stable")]

        def one(sl: slice) -> None:
            r = rows[sl]
            keys = _row_keys(self.seed, stream, ids[r], keys2[r])
            out[r] = self._draw(k, ids[r], keys, sigma_scale)

        blocks = list(self._blocks(len(rows)))
        if self.workers == 1 or len(blocks) == 1:
            for sl in blocks:
                one(sl)
            return
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(self.workers) as ex:
            for _ in ex.map(one, blocks):
                pass

    def photos(self, identity_ids, photo_ids, sigma_scale: float = 1.0) -> np.ndarray:
        """Embeddings of enrolment photos (the watchlist's pre-loaded frames).

        Parameters
        ----------
        identity_ids : int64 (n,)
        photo_ids : int64 (n,) which photo of the person (noise keyed by seed, identity, id).
        sigma_scale : multiplies the photo noise scale; 1 = as calibrated (a portrait at the
            model's ``latent_sigma`` for ``photo``, 0.15). Noise only: the identity signal is
            kept as calibrated, so values far from 1 are an extrapolation.

        Returns
        -------
        float32 (n, 128), L2-normalised.
        """
        ids = np.atleast_1d(np.asarray(identity_ids, np.int64))
        pids = np.atleast_1d(np.asarray(photo_ids, np.int64))
        if ids.shape != pids.shape or ids.ndim != 1:
            raise DataError(f"photos: identity_ids {ids.shape} and photo_ids {pids.shape} differ")
        if not (math.isfinite(sigma_scale) and sigma_scale >= 0):
            raise ConfigError(f"photos: sigma_scale must be finite and >= 0, got {sigma_scale}")
        k = self.model.index(PHOTO)
        out = np.empty((len(ids), DIM), np.float32)
        self._fill(out, k, _H_PHOTO, ids, pids, np.arange(len(ids)), sigma_scale)
        return out


# --------------------------------------------------------------------------- statistics


def within_pairs(labels: np.ndarray, max_impostor: int, seed: int):
    """Genuine pairs (all) and impostor pairs (all, or a seeded uniform subsample) of one set.

    Returns
    -------
    (gi, gj, ii, ij) : int64 index arrays of genuine and impostor pairs.
    """
    labels = np.asarray(labels)
    n = len(labels)
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    ends = np.r_[starts[1:], n]
    gi, gj = [], []
    for a, b in zip(starts, ends, strict=True):
        if b - a > 1:
            x, y = np.triu_indices(b - a, 1)
            gi.append(order[a + x])
            gj.append(order[a + y])
    gi = np.concatenate(gi) if gi else np.zeros(0, np.int64)
    gj = np.concatenate(gj) if gj else np.zeros(0, np.int64)
    total = n * (n - 1) // 2 - len(gi)
    if total <= max_impostor:
        x, y = np.triu_indices(n, 1)
        diff = labels[x] != labels[y]
        return gi, gj, x[diff], y[diff]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 405]))
    x = rng.integers(0, n, size=int(max_impostor * 1.3) + 16)
    y = rng.integers(0, n, size=x.size)
    ok = labels[x] != labels[y]
    return gi, gj, x[ok][:max_impostor], y[ok][:max_impostor]


def cross_pairs(la: np.ndarray, lb: np.ndarray, max_impostor: int, seed: int):
    """Genuine (same label) and impostor pairs between two sets (rows of a × rows of b)."""
    la, lb = np.asarray(la), np.asarray(lb)
    same = la[:, None] == lb[None, :]
    gi, gj = np.nonzero(same)
    total = same.size - len(gi)
    if total <= max_impostor:
        ii, ij = np.nonzero(~same)
        return gi, gj, ii, ij
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 406]))
    x = rng.integers(0, len(la), size=int(max_impostor * 1.3) + 16)
    y = rng.integers(0, len(lb), size=x.size)
    ok = la[x] != lb[y]
    return gi, gj, x[ok][:max_impostor], y[ok][:max_impostor]


def _dots(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a[i], b[j]) if len(i) else np.zeros(0, np.float32)


def _moments(x: np.ndarray) -> tuple[float, float]:
    return (float(x.mean()), float(x.std())) if len(x) else (math.nan, math.nan)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic ``sup |F_a − F_b|`` (numpy only)."""
    a = np.sort(np.asarray(a, np.float64).ravel())
    b = np.sort(np.asarray(b, np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise DataError("ks_statistic needs two non-empty samples")
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / a.size
    fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.abs(fa - fb).max())


def ks_critical(n: int, m: int, alpha: float = 0.05) -> float:
    """Asymptotic two-sample KS critical value ``c(α) √((n + m) / (n m))`` (independent draws)."""
    c = math.sqrt(-0.5 * math.log(alpha / 2.0))
    return c * math.sqrt((n + m) / (n * m))


# --------------------------------------------------------------------------- fitting

#: Statistics of a pair of kinds (last axis of ``image_stats`` / ``twin_stats``).
STAT_NAMES = ("genuine mean", "genuine sd", "impostor mean", "impostor sd", "zoo sd",
              "impostor skewness", "goat sd")  # fmt: skip
N_STATS = len(STAT_NAMES)
#: Identities, faces per identity and impostor pairs of the fit's internal simulations.
FIT_SIM_IDENTITIES = 800
FIT_SIM_PER_IDENTITY = 4
FIT_SWEEPS = 16  # at most; the fit stops when every fitted statistic is within tolerance
FIT_FULL_SWEEPS = 2  # sweeps that take each bisection's answer; later ones go FIT_DAMPING of it
FIT_DAMPING = 0.5
FIT_TOLERANCE = 0.003
FIT_BISECT_STEPS = 14
#: Largest retention coefficient c of exp(−c z²) the fit may use.
MAX_RETENTION = 0.3
MAX_LINK_RETENTION = 0.6
#: Largest identity skew β and per-person identity-strength spread ν the fit may use.
MAX_IDENTITY_SKEW = 1.0
MAX_SPREAD = 0.8
#: Largest noise skew η of a camera kind (the default fit's are 0.52–0.65).
MAX_NOISE_SKEW = 1.0
#: Fewest people of a kind whose impostor skewness is fitted (at 30 people it is noise: +0.13
#: where 150 people give −0.03, and β at its bound then inflates the far impostor tail).
MIN_SKEW_PEOPLE = 50
FIT_MIN_SWEEPS = 2  # the hub's goat spread is fitted against kind 1, tuned after it
MAX_IMPOSTOR = 200_000


def _ledoit_wolf(x: np.ndarray, dof: int | None = None) -> tuple[np.ndarray, float]:
    """Sample covariance of centred rows ``x`` and its Ledoit–Wolf shrinkage weight towards
    ``tr(S)/p · I`` (the shrunk estimate is ``(1 − λ) S + λ tr(S)/p I``)."""
    n, p = x.shape
    dof = dof or n
    s = x.T @ x / dof
    mu = np.trace(s) / p
    d2 = np.sum((s - mu * np.eye(p)) ** 2)
    x2 = x**2
    b2 = np.sum((x2.T @ x2) / dof**2 - s**2 / n) if n > 1 else d2
    lam = float(np.clip(b2 / d2, 0.0, 1.0)) if d2 > 0 else 1.0
    return s, lam


def _shrunk(s: np.ndarray, lam: float) -> np.ndarray:
    return (1 - lam) * s + lam * np.trace(s) / len(s) * np.eye(len(s))


def _powered(w: np.ndarray, power: float) -> np.ndarray:
    """Eigenvalues ``w`` (≥ 0) raised to ``power`` and rescaled to the same sum; a floor of
    1e-4 · max keeps ``power → 0`` continuous (all equal: isotropic)."""
    wc = np.maximum(w, 1e-4 * max(float(w.max()), 1e-30))
    x = wc**power
    return x * (float(w.sum()) / float(x.sum()))


def _sqrtm(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix (negative eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _class_means(emb: np.ndarray, labels: np.ndarray):
    ids, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    means = np.zeros((len(ids), emb.shape[1]), np.float64)
    np.add.at(means, inv, emb.astype(np.float64))
    means /= counts[:, None]
    return ids, inv, counts, means


@dataclass
class _Kind:
    """Working state of one kind during the fit.

    Parameters act on separate statistics: ``norm`` is the expected norm N of the unnormalised
    vector (it sets the impostor mean); row ``mix`` of ``L`` the identity part (``L[k, l]``, l < k,
    the genuine mean against kind l; ``L[k, k]`` the within-kind genuine mean); ``tau`` the
    spread of the noise scale (the genuine sd). The noise scale follows from the norm:
    ``s² = N² − |m|² − |L[k]|² tr Σ_b`` (``B`` has unit trace).
    """

    name: str
    emb: np.ndarray
    labels: np.ndarray
    mean: np.ndarray
    mix: np.ndarray
    noise_eig: tuple[np.ndarray, np.ndarray] = (np.full(DIM, 1.0 / DIM), np.eye(DIM))
    power: float = 1.0  # spectral exponent of the unit-trace within covariance
    noise_skew: float = 0.0  # η: skew of the noise variables along the noise's principal axes
    norm: float = 1.0
    tau: float = 0.0
    kappa: float = 0.0
    typical: float = 0.0
    spread: float = 0.0  # ν: per-person identity strength exp(ν ξ − ν²)
    detect_rate: float = 1.0
    latent_sigma: float = math.nan
    within: bool = True  # ≥ 2 faces for several identities: within-kind statistics exist

    def basis(self) -> np.ndarray:
        """``B = V diag(√w^γ)``: a square root of the unit-trace within covariance (spectrum to
        the ``power``) whose columns are its principal axes, so that each skewed noise variable
        drives one axis."""
        w, v = self.noise_eig
        return v * np.sqrt(_powered(w, self.power))

    def set_noise(self, cov: np.ndarray) -> None:
        w, v = np.linalg.eigh((cov + cov.T) / 2 / np.trace(cov))
        self.noise_eig = (np.clip(w, 0, None), v)

    @property
    def single(self) -> bool:
        """One face per identity: no within-kind statistics."""
        return not self.within

    def _weights(self, t_b: float, k: int) -> np.ndarray:
        """Expected variance each ``L[k, j]²`` adds (the retentions shrink it on average)."""
        e_all = _retention_sq_mean(self.tau)
        w = np.full(len(self.mix), e_all * _retention_sq_mean(self.kappa) * t_b)
        w[k] = e_all * t_b
        return w

    def identity_var(self, t_b: float, k: int) -> float:
        return float(self._weights(t_b, k) @ self.mix**2)

    def room(self, t_b: float, k: int, j: int) -> float:
        """Largest |L[k, j]| the norm leaves room for, the rest of the row as it is."""
        w = self._weights(t_b, k)
        rest = self.identity_var(t_b, k) - w[j] * float(self.mix[j]) ** 2
        free = self.norm**2 - float(self.mean @ self.mean) - 1e-4 - rest
        return math.sqrt(max(free, 0.0) / w[j])

    def min_norm(self, t_b: float, k: int) -> float:
        return math.sqrt(float(self.mean @ self.mean) + self.identity_var(t_b, k)) + 1e-3

    def deviation(self) -> float:
        """Length R of the deviation from the mean: ``R² = N² − |m|²``."""
        return math.sqrt(max(self.norm**2 - float(self.mean @ self.mean), 1e-8))

    def scale(self, t_b: float, k: int) -> float:
        s2 = self.norm**2 - float(self.mean @ self.mean) - self.identity_var(t_b, k)
        return math.sqrt(max(s2, 1e-8))


def _pair_stats(a: _Kind, b: _Kind, seed: int) -> np.ndarray:
    """Image-mode statistics of kind a against kind b (a may be b): genuine mean, sd,
    impostor mean, sd, zoo sd, impostor skewness, goat sd (see :data:`STAT_NAMES`)."""
    if a is b:
        if not a.within:
            return np.full(N_STATS, np.nan)
        gi, gj, ii, ij = within_pairs(a.labels, MAX_IMPOSTOR, seed)
        zoo = _zoo_sd(a.emb, a.labels)
        goat = _goat_sd(a.emb, a.labels)
    else:
        gi, gj, ii, ij = cross_pairs(a.labels, b.labels, MAX_IMPOSTOR, seed)
        zoo = math.nan
        goat = _goat_sd(a.emb, a.labels, b.emb, b.labels)
    imp = _dots(a.emb, b.emb, ii, ij)
    return np.array([
        *_moments(_dots(a.emb, b.emb, gi, gj)), *_moments(imp), zoo, _skewness(imp), goat,
    ])  # fmt: skip


def _skewness(x: np.ndarray) -> float:
    if len(x) < 3:
        return math.nan
    x = np.asarray(x, np.float64)
    d = x - x.mean()
    sd = math.sqrt(float(d @ d) / len(d))
    return float((d**3).mean() / sd**3) if sd > 0 else math.nan


#: People with enough faces (4 of one kind, or 2 + 2 of two kinds) for a goat estimate.
MIN_GOAT_PEOPLE = 20


def _disjoint_products(c: np.ndarray, within: bool) -> tuple[float, int]:
    """Sum and count of ``c[i, p] · c[j, q]`` over ordered pairs of genuine pairs that share
    no face: ``i ≠ j, p ≠ q`` between two kinds; all four faces distinct within one kind
    (``c`` symmetric, pairs ``i < p``)."""
    if not within:
        na, nb = c.shape
        total = c.sum() ** 2 - (c.sum(1) ** 2).sum() - (c.sum(0) ** 2).sum() + (c * c).sum()
        return float(total), na * (na - 1) * nb * (nb - 1)
    n = len(c)
    iu = np.triu_indices(n, 1)
    v = c[iu]
    share = (iu[0][:, None] == iu[0][None, :]) | (iu[0][:, None] == iu[1][None, :]) | (
        iu[1][:, None] == iu[0][None, :]) | (iu[1][:, None] == iu[1][None, :])  # fmt: skip
    return float(v @ (~share).astype(np.float64) @ v), int((~share).sum())


def _goat_sd(emb, labels, emb_b=None, labels_b=None) -> float:
    """sd over people of their expected genuine score ("goats" score low, "sheep" high):
    ``√(E_p[E(s₁ s₂ | p)] − E_p[E(s | p)]²)`` from products of two genuine scores of the same
    person that share no face (independent given the person, so the within-person noise
    cancels). Within one kind (``emb_b`` None) people need ≥ 4 faces; between two kinds ≥ 2
    of each. NaN with fewer than :data:`MIN_GOAT_PEOPLE` such people."""
    emb = np.asarray(emb, np.float64)
    within = emb_b is None
    emb_b = emb if within else np.asarray(emb_b, np.float64)
    labels_b = labels if within else labels_b
    need = 4 if within else 2
    ids_a, ca = np.unique(labels, return_counts=True)
    ids_b, cb = np.unique(labels_b, return_counts=True)
    ok = np.intersect1d(ids_a[ca >= need], ids_b[cb >= need])
    if len(ok) < MIN_GOAT_PEOPLE:
        return math.nan
    prods, means = [], []
    for p in ok:
        c = emb[labels == p] @ emb_b[labels_b == p].T
        total, count = _disjoint_products(c, within)
        prods.append(total / count)
        means.append(c[np.triu_indices(len(c), 1)].mean() if within else c.mean())
    var = float(np.mean(prods)) - float(np.mean(means)) ** 2
    return math.sqrt(max(var, 0.0))


def _zoo_sd(emb: np.ndarray, labels: np.ndarray) -> float:
    """sd over people of their mean impostor score (all faces of a person against all faces
    of everyone else): how much more some people resemble everyone ("Doddington's zoo")."""
    _, _, counts, means = _class_means(emb, labels)
    total = means.T @ counts.astype(np.float64)
    per = np.einsum("ij,ij->i", means, total[None, :] - counts[:, None] * means)
    per /= len(labels) - counts
    return float(per.std())


class _Sim:
    """Simulated faces with common random numbers: the same normals for every parameter tried,
    so that each statistic is a smooth, deterministic function of the parameters."""

    def __init__(self, seed: int, kinds: list[_Kind], sb: np.ndarray, t_b: float):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 407]))
        n, k, nk = FIT_SIM_IDENTITIES, FIT_SIM_PER_IDENTITY, len(kinds)
        self.n, self.k = n, k
        self.h = rng.standard_normal((nk, n, DIM)).astype(np.float32)
        self.e = rng.standard_normal((nk, n * k, DIM)).astype(np.float32)
        self.noise = np.zeros_like(self.e)
        self._noise_shape = [(math.nan, math.nan)] * nk
        self.z = rng.standard_normal((nk, n * k)).astype(np.float32)
        self.z2 = rng.standard_normal((nk, n * k)).astype(np.float32)
        self.zeta = rng.standard_normal(n).astype(np.float32)
        self.xi = rng.standard_normal(n).astype(np.float32)
        self.skews = np.zeros(nk)  # β_j of each identity factor
        self._power = 1.0
        self.labels = np.repeat(np.arange(n), k)
        self.tri = np.triu_indices(k, 1)
        w, v = np.linalg.eigh((sb + sb.T) / 2)
        self._w, self._v = np.clip(w, 0, None), v
        self.t_b = t_b
        self.u = np.zeros_like(self.h)
        self.faces: dict[int, np.ndarray] = {}  # last draw of each kind

    def identity_basis(self, power: float) -> np.ndarray:
        """``A(γ) = V diag(√w^γ)``: a square root of ``Σ_b`` (``A Aᵀ``, its spectrum raised to
        ``γ``, same trace) whose columns are the principal axes, so that each skewed identity
        variable drives one axis."""
        return self._v * np.sqrt(_powered(self._w, power))

    def set_identity_power(self, power: float, hub_only: bool = False) -> None:
        """Identity components under spectral exponent ``γ`` (only the hub's if ``hub_only``)."""
        at = self.identity_basis(power).T.astype(np.float32)
        self._power = power
        for j in range(1 if hub_only else len(self.h)):
            self.u[j] = _skewed(self.h[j].copy(), self.skews[j]) @ at

    def set_identity_skew(self, j: int, beta: float) -> None:
        """Identity factor ``j`` with skew ``β`` (under the current ``γ``)."""
        self.skews[j] = beta
        at = self.identity_basis(self._power).T.astype(np.float32)
        self.u[j] = _skewed(self.h[j].copy(), beta) @ at

    def draw(self, i: int, kind: _Kind) -> np.ndarray:
        """(n·k, 128) normalised faces of kind ``i`` (single-face kinds use every k-th row)."""
        shared = None
        for j in range(i):
            if kind.mix[j] != 0:
                term = np.float32(kind.mix[j]) * self.u[j]
                shared = term if shared is None else shared + term
        y = np.zeros((self.n * self.k, DIM), np.float32)
        strength = _strength(self.xi, kind.spread)[:, None]
        if shared is not None:
            y += (shared * strength)[self.labels] * _retention(self.z2[i], kind.kappa)[:, None]
        if kind.mix[i] != 0:
            y += (np.float32(kind.mix[i]) * self.u[i] * strength)[self.labels]
        if kind.tau > 0:
            y *= _retention(self.z[i], kind.tau)[:, None]
        if self._noise_shape[i] != (kind.power, kind.noise_skew):
            self.noise[i] = _noise(self.e[i].copy(), kind.basis().T.astype(np.float32), kind.noise_skew)
            self._noise_shape[i] = (kind.power, kind.noise_skew)
        y += np.float32(kind.scale(self.t_b, i)) * self.noise[i]
        y *= (np.float32(kind.deviation()) / np.sqrt(np.einsum("ij,ij->i", y, y)))[:, None]
        typ = (1.0 + np.float32(kind.typical) * self.zeta)[self.labels]
        y += typ[:, None] * kind.mean.astype(np.float32)
        x = _normalize_rows(y)
        self.faces[i] = x
        return x

    @staticmethod
    def _offdiag(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
        """Mean, sd and skewness of the scores of rows of ``a`` against rows of ``b`` of
        *other* identities (both (n, 128), row r = identity r): the off-diagonal of ``a @ b.T``."""
        s = (a @ b.T).astype(np.float64)
        d = np.einsum("ij,ij->i", a, b).astype(np.float64)
        m = s.size - len(d)
        s2 = s * s
        p1, p2 = (s.sum() - d.sum()) / m, (s2.sum() - d @ d) / m
        p3 = (np.einsum("ij,ij->", s2, s) - (d * d) @ d) / m
        var = max(p2 - p1 * p1, 0.0)
        third = p3 - 3 * p1 * p2 + 2 * p1**3
        skew = third / var**1.5 if var > 0 else math.nan
        return float(p1), math.sqrt(var), float(skew)

    @staticmethod
    def _goat(c: np.ndarray, within: bool) -> float:
        """Goat sd (see :func:`_goat_sd`) from per-person score blocks ``c`` (n, k, l)."""
        if within:  # the three ways to split four faces into two pairs
            prod = (c[:, 0, 1] * c[:, 2, 3] + c[:, 0, 2] * c[:, 1, 3] + c[:, 0, 3] * c[:, 1, 2]) / 3
            tri = np.triu_indices(c.shape[1], 1)
            mean = c[:, tri[0], tri[1]].mean(axis=1)
        else:
            na, nb = c.shape[1:]
            total = (c.sum((1, 2)) ** 2 - (c.sum(2) ** 2).sum(1) - (c.sum(1) ** 2).sum(1)
                     + (c * c).sum((1, 2)))  # fmt: skip
            prod = total / (na * (na - 1) * nb * (nb - 1))
            mean = c.mean(axis=(1, 2))
        var = float(prod.astype(np.float64).mean()) - float(mean.astype(np.float64).mean()) ** 2
        return math.sqrt(max(var, 0.0))

    def within(self, x: np.ndarray) -> np.ndarray:
        """Within-kind statistics (:data:`STAT_NAMES`)."""
        xs = x.reshape(self.n, self.k, DIM)
        c = np.einsum("nkd,nld->nkl", xs, xs)
        gen = c[:, self.tri[0], self.tri[1]].ravel()
        mean, sd, skew = self._offdiag(xs[:, 0], xs[:, 1])
        return np.array([*_moments(gen), mean, sd, self.zoo(xs), skew, self._goat(c, True)])

    def zoo(self, xs: np.ndarray) -> float:
        means = xs.mean(axis=1).astype(np.float64)
        total = means.sum(axis=0) * self.k
        per = means @ total - self.k * np.einsum("ij,ij->i", means, means)
        return float((per / (self.k * (self.n - 1))).std())

    def cross(self, x: np.ndarray, single: bool, other: np.ndarray) -> np.ndarray:
        """Genuine mean, sd, impostor mean, sd of faces ``x`` against another kind's faces
        (``single``: ``x`` has one face per identity, every k-th row)."""
        rs = other.reshape(self.n, self.k, DIM)
        xs = x.reshape(self.n, self.k, DIM)
        if single:
            gen = np.einsum("nd,nld->nl", xs[:, 0], rs).ravel()
            goat = math.nan
        else:
            c = np.einsum("nkd,nld->nkl", xs, rs)
            gen = c.ravel()
            goat = self._goat(c, False)
        mean, sd, skew = self._offdiag(xs[:, 0], rs[:, 1])
        return np.array([*_moments(gen), mean, sd, math.nan, skew, goat])

    def all_stats(self, kinds: list[_Kind]) -> np.ndarray:
        """(K, K, 5) statistics of the current draws (NaN between two single-face kinds)."""
        nk = len(kinds)
        out = np.full((nk, nk, N_STATS), np.nan)
        for i, a in enumerate(kinds):
            if not a.single:
                out[i, i] = self.within(self.faces[i])
            for j in range(i):
                if a.single and kinds[j].single:
                    continue
                if kinds[j].single:
                    out[i, j] = out[j, i] = self.cross(self.faces[j], True, self.faces[i])
                else:
                    out[i, j] = out[j, i] = self.cross(self.faces[i], a.single, self.faces[j])
        return out


def _bisect(f: Callable[[float], float], target: float, lo: float, hi: float,
            increasing: bool, steps: int = FIT_BISECT_STEPS) -> float:  # fmt: skip
    """The x in [lo, hi] where the monotone f(x) crosses target (an end if it never does)."""
    sign = 1.0 if increasing else -1.0
    if hi <= lo or sign * (f(lo) - target) >= 0:
        return lo
    if sign * (f(hi) - target) <= 0:
        return hi
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if sign * (f(mid) - target) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _repeated(labels) -> bool:
    """Whether several identities have ≥ 2 faces (so within-kind statistics exist)."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    return bool((counts >= 2).sum() >= 2)


def fit_twin(
    emb: np.ndarray,
    labels: np.ndarray,
    quality: str = REFERENCE,
    seed: int = 0,
    *,
    others: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    detect_rates: Mapping[str, float] | None = None,
    latent_sigmas: Mapping[str, float] | None = None,
    n_identities: int | None = None,
    n_per_identity: int | None = None,
    embedder_sha256: str | None = None,
) -> TwinModel:
    """Fit a twin to image-mode embeddings.

    Parameters
    ----------
    emb, labels : float32 (n, 128) L2-normalised and int64 (n,): the reference sample
        (camera sightings of quality ``quality``, ≥ 2 per identity for most identities).
    quality : the reference sample's quality; it defines the template (identity factor 0).
    seed : the seed the image sample was drawn with (recorded) and of the fit's simulations.
    others : more kinds, ``{"fair": (emb, labels), "poor": …, "photo": …}``, drawn with the
        **same seed** so that equal labels are the same people (the cross-kind statistics,
        e.g. photo vs camera, need it). Without ``"photo"`` the twin cannot draw photos.
    detect_rates : share of faces YuNet found per kind (recorded; default 1).
    latent_sigmas : latent sigma per kind (recorded; default 0.3, 0.15 for photo).
    n_identities : people rendered (recorded; default: people in the ``emb`` sample).
    n_per_identity : faces rendered per person (recorded; default: the largest count there).
    embedder_sha256 : recorded source model (default: the manifest's SFace hash).

    Returns
    -------
    TwinModel
        Kinds in the order: reference, the other qualities as given, photo.

    Raises
    ------
    DataError
        Wrong shapes, non-finite values, fewer than 2 identities, no repeated identity in the
        reference sample, or a kind that shares fewer than 2 identities with the reference.
    """
    with _single_blas_thread():
        return _fit_twin(
            emb, labels, quality, seed, others=others, detect_rates=detect_rates,
            latent_sigmas=latent_sigmas, n_identities=n_identities, n_per_identity=n_per_identity,
            embedder_sha256=embedder_sha256,
        )  # fmt: skip


def _threadpoolctl() -> bool:
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:  # pragma: no cover - optional
        return False
    return True


def _single_blas_thread():
    """One BLAS thread for the fit's many small products (threads only add overhead there,
    and spin badly on a busy machine); a no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fit_twin(emb, labels, quality, seed, *, others, detect_rates, latent_sigmas,
              n_identities, n_per_identity, embedder_sha256) -> TwinModel:  # fmt: skip
    from facelab.config.scenario import DEFAULT_ENROL_SIGMA

    others = dict(others or {})
    detect_rates = dict(detect_rates or {})
    latent_sigmas = dict(latent_sigmas or {})
    if quality == PHOTO:
        raise ConfigError("the reference kind must be a camera quality, not 'photo'")
    if quality in others:
        raise ConfigError(f"{quality!r} given both as the reference and in others")
    samples = {quality: (emb, labels), **others}
    photo_hub = PHOTO in others and _repeated(others[PHOTO][1])
    names = [
        *([PHOTO] if photo_hub else []), quality, *(n for n in others if n != PHOTO),
        *([PHOTO] if PHOTO in others and not photo_hub else []),
    ]  # fmt: skip
    nk = len(names)
    kinds: list[_Kind] = []
    for name in names:
        e = np.asarray(samples[name][0], np.float32)
        lab = np.asarray(samples[name][1], np.int64)
        if e.ndim != 2 or e.shape[1] != DIM or lab.shape != (len(e),):
            raise DataError(
                f"fit_twin: {name}: expected (n, 128) and (n,), got {e.shape} and {lab.shape}"
            )
        if not np.isfinite(e).all():
            raise DataError(f"fit_twin: {name}: embeddings contain NaN or infinite values")
        counts = np.unique(lab, return_counts=True)[1]
        if len(counts) < 2:
            raise DataError(f"fit_twin: {name}: need at least 2 identities")
        default_sigma = DEFAULT_ENROL_SIGMA if name == PHOTO else synth.DEFAULT_LATENT_SIGMA
        kinds.append(_Kind(
            name=name, emb=e, labels=lab, mean=_class_means(e, lab)[3].mean(axis=0),
            mix=np.zeros(nk),
            detect_rate=float(detect_rates.get(name, 1.0)),
            latent_sigma=float(latent_sigmas.get(name, default_sigma)),
            within=_repeated(lab),
        ))  # fmt: skip
    ref = kinds[0]
    if not ref.within:
        raise DataError(f"fit_twin: the {ref.name} sample needs ≥ 2 faces for several identities")

    # Moment estimates ------------------------------------------------------------------------
    r_ids, r_inv, r_counts, r_cm = _class_means(ref.emb, ref.labels)
    r_s, r_lam = _ledoit_wolf(ref.emb - r_cm[r_inv], len(ref.emb) - len(r_ids))
    r_sw = _shrunk(r_s, r_lam)
    centred = r_cm - r_cm.mean(axis=0)
    sb = centred.T @ centred / (len(r_ids) - 1) - r_sw * float(np.mean(1.0 / r_counts))
    w, v = np.linalg.eigh((sb + sb.T) / 2)
    sb = (v * np.clip(w, 0, None)) @ v.T
    t_b = max(float(np.trace(sb)), 1e-6)
    ref.set_noise(r_s)
    ref.mix[0] = 1.0
    ref.norm = math.sqrt(float(ref.mean @ ref.mean) + t_b + float(np.trace(r_sw)))
    for k in kinds[1:]:
        ids_k, inv_k, _, cm_k = _class_means(k.emb, k.labels)
        if len(np.intersect1d(ids_k, r_ids)) < 2:
            raise DataError(
                f"fit_twin: {k.name} shares fewer than 2 identities with {ref.name}; "
                "draw every kind with the same seed"
            )
        if k.within:
            k.set_noise(_ledoit_wolf(k.emb - cm_k[inv_k], len(k.emb) - len(ids_k))[0])
        else:
            k.noise_eig = ref.noise_eig
        k.norm = 1.0  # the data are unit vectors; the bisections below set everything else
    target = np.full((nk, nk, N_STATS), np.nan)
    for i in range(nk):
        for j in range(i + 1):
            if not (kinds[i].single and kinds[j].single):
                target[i, j] = target[j, i] = _pair_stats(kinds[i], kinds[j], seed)

    # Tuning by bisection on simulations --------------------------------------------------------
    sim = _Sim(seed, kinds, sb, t_b)

    step = 1.0  # share of the way to each bisection's answer (damped after the first sweeps)

    def tune(i: int, param: tuple[Callable[[], float], Callable[[float], None]],
             stat: Callable[[np.ndarray], float], goal: float, lo: float, hi: float,
             inc: bool) -> None:  # fmt: skip
        if not math.isfinite(goal):
            return
        get, setter = param
        old = float(get())

        def f(x: float) -> float:
            setter(x)
            return stat(sim.draw(i, kinds[i]))

        new = _bisect(f, goal, lo, hi, inc)
        setter(min(max(old + step * (new - old), lo), hi) if step < 1 else new)
        sim.draw(i, kinds[i])

    def set_attr(k: _Kind, attr: str):
        return (lambda: getattr(k, attr)), (lambda x: setattr(k, attr, x))

    def set_mix(k: _Kind, j: int):
        return (lambda: k.mix[j]), (lambda x: k.mix.__setitem__(j, x))

    # the means the bisections aim at (convergence test; spreads can hit a parameter bound,
    # and pairs of two different camera qualities are only reported)
    tuned = np.zeros(target.shape, dtype=bool)
    for i, k in enumerate(kinds):
        if k.within:
            tuned[i, i, [0, 2]] = True
        if i > 0:
            tuned[i, 0, 0] = True
            tuned[i, 0, 2] = k.single
    gamma = 1.0
    sim.set_identity_power(gamma)

    def skew_target(i: int) -> float:
        """Impostor skewness of kind i; NaN (the skews stay 0) from too few people to trust."""
        people = len(np.unique(kinds[i].labels))
        return float(target[i, i, 5]) if people >= MIN_SKEW_PEOPLE else math.nan
    for _sweep in range(FIT_SWEEPS):
        # coordinate-wise bisection can cycle between two states when a parameter sits at a
        # bound in one of them (poor's τ and L[k, k], fitted on 300 people): half steps after
        # the first sweeps settle it
        step = 1.0 if _sweep < FIT_FULL_SWEEPS else FIT_DAMPING
        # the hub (its identity part is the template): norm ↔ impostor mean, L[0, 0] ↔ genuine
        # mean, τ ↔ genuine sd, shrinkage of the identity covariance ↔ impostor sd
        tune(0, set_attr(ref, "norm"), lambda x: sim.within(x)[2], target[0, 0, 2],
             ref.min_norm(t_b, 0), 4.0, False)  # fmt: skip
        tune(0, set_mix(ref, 0), lambda x: sim.within(x)[0], target[0, 0, 0],
             0.0, ref.room(t_b, 0, 0), True)  # fmt: skip
        tune(0, set_attr(ref, "tau"), lambda x: sim.within(x)[1], target[0, 0, 1], 0.0, MAX_RETENTION, True)

        def ref_impostor_sd(x: float) -> float:
            sim.set_identity_power(x, hub_only=True)
            return float(sim.within(sim.draw(0, ref))[3])

        gamma = _bisect(ref_impostor_sd, float(target[0, 0, 3]), 0.0, 3.0, increasing=True)
        sim.set_identity_power(gamma)
        # skew of the shared identity factor ↔ the hub's impostor skewness
        tune(0, ((lambda: sim.skews[0]), (lambda x: sim.set_identity_skew(0, x))),
             lambda x: sim.within(x)[5],
             skew_target(0), 0.0, MAX_IDENTITY_SKEW, True)  # fmt: skip
        tune(0, set_attr(ref, "typical"), lambda x: sim.within(x)[4], target[0, 0, 4],
             0.0, 0.5, True)  # fmt: skip
        for i in range(nk):
            sim.draw(i, kinds[i])
        tune(0, set_attr(ref, "spread"), lambda x: sim.within(x)[6], target[0, 0, 6],
             0.0, MAX_SPREAD, True)  # fmt: skip
        for i, k in enumerate(kinds[1:], start=1):
            one = k.single
            # norm ↔ impostor mean (within the kind; a single-face kind against the hub)
            if one:
                tune(i, set_attr(k, "norm"), lambda x: sim.cross(x, True, sim.faces[0])[2],
                     target[i, 0, 2], k.min_norm(t_b, i), 4.0, False)  # fmt: skip
            else:
                tune(i, set_attr(k, "norm"), lambda x: sim.within(x)[2], target[i, i, 2],
                     k.min_norm(t_b, i), 4.0, False)  # fmt: skip
            # L[k, 0] ↔ genuine mean against the hub; L[k, k] ↔ within-kind genuine mean
            r = k.room(t_b, i, 0)
            tune(i, set_mix(k, 0), lambda x, one=one: sim.cross(x, one, sim.faces[0])[0],
                 target[i, 0, 0], -r, r, True)  # fmt: skip
            if not one:
                tune(i, set_mix(k, i), lambda x: sim.within(x)[0], target[i, i, 0],
                     0.0, k.room(t_b, i, i), True)  # fmt: skip
            # κ ↔ genuine sd against the hub; τ ↔ within-kind genuine sd
            tune(i, set_attr(k, "kappa"), lambda x, one=one: sim.cross(x, one, sim.faces[0])[1],
                 target[i, 0, 1], 0.0, MAX_LINK_RETENTION, True)  # fmt: skip
            if not one:
                tune(i, set_attr(k, "tau"), lambda x: sim.within(x)[1], target[i, i, 1],
                     0.0, MAX_RETENTION, True)  # fmt: skip
                # noise covariance shrinkage ↔ within-kind impostor sd
                tune(i, set_attr(k, "power"), lambda x: sim.within(x)[3], target[i, i, 3],
                     0.0, 3.0, True)  # fmt: skip
                # typicality ↔ spread of people's mean impostor scores
                tune(i, set_attr(k, "typical"), lambda x: sim.within(x)[4], target[i, i, 4],
                     0.0, 0.5, True)  # fmt: skip
            # noise skew η ↔ within-kind impostor skewness (a camera kind's own identity factor
            # is too small a part to carry it: its β stays 0)
            if not one:
                tune(i, set_attr(k, "noise_skew"), lambda x: sim.within(x)[5],
                     skew_target(i), 0.0, MAX_NOISE_SKEW, True)  # fmt: skip
            # identity strength spread ↔ goat sd (within the kind, else against the hub)
            if math.isfinite(target[i, i, 6]):
                tune(i, set_attr(k, "spread"), lambda x: sim.within(x)[6], target[i, i, 6],
                     0.0, MAX_SPREAD, True)  # fmt: skip
            else:
                tune(i, set_attr(k, "spread"),
                     lambda x, one=one: sim.cross(x, one, sim.faces[0])[6],
                     target[i, 0, 6], 0.0, MAX_SPREAD, True)  # fmt: skip
        for i in range(nk):
            sim.draw(i, kinds[i])
        twin_stats = sim.all_stats(kinds)
        miss = float(np.nanmax(np.abs(twin_stats - target)[tuned]))
        log.debug("twin fit sweep %d: largest miss on a fitted statistic %.4f", _sweep + 1, miss)
        log.debug("  parameters (norm, L[k, 0], L[k, k], τ, κ, γ_noise, η): %s", [
            (k.name, *(round(float(v), 3) for v in (k.norm, k.mix[0], k.mix[i], k.tau, k.kappa,
                                                      k.power, k.noise_skew)))
            for i, k in enumerate(kinds)])  # fmt: skip
        if miss < FIT_TOLERANCE and _sweep + 1 >= FIT_MIN_SWEEPS:
            break
    if embedder_sha256 is None:
        from facelab.vision import models

        embedder_sha256 = models.model_sha256("embedder")
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    model = TwinModel(
        kinds=tuple(names),
        reference=ref.name,
        identity_basis=sim.identity_basis(gamma).astype(np.float32),
        identity_mix=np.stack([k.mix for k in kinds]),
        means=np.stack([k.mean for k in kinds]).astype(np.float32),
        noise_basis=np.stack([k.basis() for k in kinds]).astype(np.float32),
        noise_scale=np.array([k.scale(t_b, i) for i, k in enumerate(kinds)]),
        retention=np.array([k.tau for k in kinds]),
        link_retention=np.array([k.kappa for k in kinds]),
        deviation_norm=np.array([k.deviation() for k in kinds]),
        typicality=np.array([k.typical for k in kinds]),
        identity_skew=sim.skews.copy(),
        identity_spread=np.array([k.spread for k in kinds]),
        noise_power=np.array([k.power for k in kinds]),
        noise_skew=np.array([k.noise_skew for k in kinds]),
        detect_rate=np.array([k.detect_rate for k in kinds]),
        latent_sigma=np.array([k.latent_sigma for k in kinds]),
        image_stats=target,
        twin_stats=twin_stats,
        identity_power=float(gamma),
        seed=int(seed),
        n_identities=int(n_identities or len(counts)),
        n_per_identity=int(n_per_identity or counts.max()),
        embedder_sha256=str(embedder_sha256),
    )
    log.info("twin fitted: %s", json.dumps(model.metadata()["params"]))
    return model


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class TwinReport:
    """Twin vs image mode on one kind of comparison.

    Attributes
    ----------
    pairs : what was compared, e.g. ``"good vs good"`` (two camera sightings) or
        ``"photo vs good"`` (an enrolment photo against a camera sighting).
    seed : seed of the twin sample.
    n_image_identities, n_twin_identities : people in each sample.
    n_image_genuine, n_image_impostor, n_twin_genuine, n_twin_impostor : scores compared.
    ks_genuine, ks_impostor : two-sample Kolmogorov–Smirnov statistics, twin vs image.
    ks_genuine_crit, ks_impostor_crit : the 5 % critical values for independent draws (pairs
        sharing a face are not independent, so these are a guide, not a test).
    image_genuine, twin_genuine, image_impostor, twin_impostor : (mean, sd) of the scores.
    percents, thresholds : percent thresholds and their cosines (linear mapping).
    image_fmr, twin_fmr, image_fnmr, twin_fnmr : :class:`facelab.lab.metrics.Rate` per threshold
        (with Wilson 95 % intervals).
    fmr_inside, fnmr_inside : whether the twin's rate lies in the image-mode Wilson interval.
    image_fmr_ci, image_fnmr_ci : (lo, hi) per threshold: the image-mode 95 % interval that
        allows for pairs sharing a person — the hull of the Wilson interval and an identity
        (cluster) bootstrap percentile interval. Wilson intervals treat every pair as an
        independent trial; with many pairs per person they are too narrow, so narrow that two
        image-mode samples of 150 people fall outside each other's intervals at most
        thresholds.
    fmr_inside_clustered, fnmr_inside_clustered : whether the twin's rate lies in those.
    """

    pairs: str
    seed: int
    n_image_identities: int
    n_twin_identities: int
    n_image_genuine: int
    n_image_impostor: int
    n_twin_genuine: int
    n_twin_impostor: int
    ks_genuine: float
    ks_impostor: float
    ks_genuine_crit: float
    ks_impostor_crit: float
    image_genuine: tuple[float, float]
    twin_genuine: tuple[float, float]
    image_impostor: tuple[float, float]
    twin_impostor: tuple[float, float]
    percents: tuple[float, ...]
    thresholds: tuple[float, ...]
    image_fmr: tuple[metrics.Rate, ...]
    twin_fmr: tuple[metrics.Rate, ...]
    image_fnmr: tuple[metrics.Rate, ...]
    twin_fnmr: tuple[metrics.Rate, ...]
    fmr_inside: tuple[bool, ...]
    fnmr_inside: tuple[bool, ...]
    image_fmr_ci: tuple[tuple[float, float], ...]
    image_fnmr_ci: tuple[tuple[float, float], ...]
    fmr_inside_clustered: tuple[bool, ...]
    fnmr_inside_clustered: tuple[bool, ...]

    @property
    def all_inside(self) -> bool:
        """Every twin FMR and FNMR lies inside its image-mode Wilson 95 % interval."""
        return all(self.fmr_inside) and all(self.fnmr_inside)

    @property
    def all_inside_clustered(self) -> bool:
        """Every twin FMR and FNMR lies inside its clustering-aware image-mode interval."""
        return all(self.fmr_inside_clustered) and all(self.fnmr_inside_clustered)

    def inside(self, fmr: Sequence[metrics.Rate], fnmr: Sequence[metrics.Rate]):
        """Whether other rates at :attr:`percents` (e.g. a second image sample's, from
        :func:`image_rates`) lie in this report's clustering-aware image-mode intervals:
        ``(fmr_inside, fnmr_inside)``, tuples of bool. The yardstick for the twin: two image
        samples of other people disagree too."""
        return (
            tuple(bool(lo <= r.value <= hi) for r, (lo, hi) in zip(fmr, self.image_fmr_ci, strict=True)),
            tuple(bool(lo <= r.value <= hi) for r, (lo, hi) in zip(fnmr, self.image_fnmr_ci, strict=True)),
        )  # fmt: skip


def _inside(twin_rate: metrics.Rate, image_rate: metrics.Rate) -> bool:
    return bool(image_rate.lo <= twin_rate.value <= image_rate.hi)


#: Identity-bootstrap replicates of the clustering-aware intervals.
BOOTSTRAP = 400


def image_rates(
    image_emb: np.ndarray,
    image_labels: np.ndarray,
    seed: int,
    *,
    photo_emb: np.ndarray | None = None,
    photo_labels: np.ndarray | None = None,
    percents: Sequence[float] = DEFAULT_PERCENTS,
    max_impostor: int = MAX_IMPOSTOR,
) -> tuple[tuple[metrics.Rate, ...], tuple[metrics.Rate, ...]]:
    """FMR and FNMR of an image sample at ``percents`` (linear mapping), scored the way
    :func:`compare` scores image mode (sighting vs sighting, or photo vs sighting).

    Returns
    -------
    (fmr, fnmr) : one :class:`facelab.lab.metrics.Rate` per percent each.
    """
    g, i, _, _ = _image_scores(image_emb, image_labels, photo_emb, photo_labels, max_impostor, seed)
    rates = metrics.fmr_fnmr(g, i, np.array(_thresholds(percents), np.float64))
    return tuple(r[0] for r in rates), tuple(r[1] for r in rates)


def _thresholds(percents: Sequence[float]) -> list[float]:
    mapping = percent.get_mapping("linear")
    return [mapping.to_cosine(p) for p in percents]


def _image_scores(image_emb, image_labels, photo_emb, photo_labels, max_impostor, seed):
    image_emb = np.asarray(image_emb, np.float32)
    image_labels = np.asarray(image_labels, np.int64)
    if photo_emb is None:
        return _scores(image_emb, image_labels, max_impostor=max_impostor, seed=seed)
    return _scores(np.asarray(photo_emb, np.float32), np.asarray(photo_labels, np.int64),
                   image_emb, image_labels, max_impostor, seed)  # fmt: skip


def _scores(a, la, b=None, lb=None, max_impostor: int = MAX_IMPOSTOR, seed: int = 0):
    """Genuine and impostor scores, with the identities of each pair's two faces."""
    if b is None:
        gi, gj, ii, ij = within_pairs(la, max_impostor, seed)
        b, lb = a, la
    else:
        gi, gj, ii, ij = cross_pairs(la, lb, max_impostor, seed)
    return (
        _dots(a, b, gi, gj), _dots(a, b, ii, ij),
        (la[gi], lb[gj]), (la[ii], lb[ij]),
    )  # fmt: skip


def cluster_bootstrap(
    hits: np.ndarray, who: tuple[np.ndarray, np.ndarray], seed: int, n_boot: int = BOOTSTRAP
) -> np.ndarray:
    """Identity-bootstrap 95 % percentile intervals of pair rates.

    People are resampled with replacement; a pair of faces of persons (a, b) then counts
    ``w_a · w_b`` times (``w``: how often each person was drawn; a genuine pair, a = b, counts
    ``w_a`` times).

    Parameters
    ----------
    hits : bool (P, T), the event (e.g. score ≥ threshold) per pair and threshold.
    who : two int64 (P,) arrays, the persons of each pair's faces.

    Returns
    -------
    float64 (T, 2): lower and upper bound per threshold.
    """
    a, b = (np.asarray(x, np.int64) for x in who)
    people, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = inv[: len(a)], inv[len(a):]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 409]))
    draws = rng.integers(0, len(people), size=(n_boot, len(people)))
    w = np.stack([np.bincount(d, minlength=len(people)) for d in draws]).astype(np.float32)
    same = ia == ib
    num = np.zeros((n_boot, hits.shape[1]))
    den = np.zeros(n_boot)
    h = hits.astype(np.float32)
    for s in range(0, len(a), 20000):
        sl = slice(s, s + 20000)
        wp = np.where(same[sl], w[:, ia[sl]], w[:, ia[sl]] * w[:, ib[sl]])
        num += wp @ h[sl]
        den += wp.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = num / den[:, None]
    rates = rates[np.isfinite(rates).all(axis=1)]
    if len(rates) == 0:
        return np.full((hits.shape[1], 2), np.nan)
    return np.quantile(rates, [0.025, 0.975], axis=0).T


def compare(
    model: TwinModel,
    image_emb: np.ndarray,
    image_labels: np.ndarray,
    seed: int,
    quality: str | None = None,
    *,
    photo_emb: np.ndarray | None = None,
    photo_labels: np.ndarray | None = None,
    percents: Sequence[float] = DEFAULT_PERCENTS,
    twin_identities: int | None = None,
    max_impostor: int = MAX_IMPOSTOR,
) -> TwinReport:
    """Compare the twin's genuine and impostor scores with image mode.

    Parameters
    ----------
    model : the twin.
    image_emb, image_labels : float32 (n, 128) and int64 (n,): image-mode faces of ``quality``
        (best from a seed the twin was *not* fitted on).
    seed : seed of the twin sample (its identities are fresh people, ``0..N-1``).
    quality : kind of ``image_emb`` (default: the model's first camera quality).
    photo_emb, photo_labels : optional image-mode enrolment photos of the same people; then the
        comparison is photo vs sighting (what a watchlist search scores), else sighting vs
        sighting within ``quality``.
    percents : percent thresholds (linear mapping, ``facelab.search.percent``).
    twin_identities : people in the twin sample (default: 4 × the image sample, ≥ 400), each
        with as many faces as the image sample's people have at most.
    max_impostor : impostor scores kept per side (seeded uniform subsample beyond).

    Returns
    -------
    TwinReport
    """
    if quality is None:
        quality = next(k for k in model.kinds if k != PHOTO)
    k = model.index(quality)
    image_emb = np.asarray(image_emb, np.float32)
    image_labels = np.asarray(image_labels, np.int64)
    ids, counts = np.unique(image_labels, return_counts=True)
    per = int(counts.max())
    n_twin = int(twin_identities or max(4 * len(ids), 400))
    sampler = TwinSampler(model, seed)
    t_labels = np.repeat(np.arange(n_twin, dtype=np.int64), per)
    t_keys = np.tile(np.arange(per, dtype=np.int64), n_twin)
    if model.kinds[k] == PHOTO:
        t_emb = sampler.photos(t_labels, t_keys)
    else:
        t_emb = sampler.sightings(t_labels, t_keys, quality)
    img_g, img_i, who_g, who_i = _image_scores(
        image_emb, image_labels, photo_emb, photo_labels, max_impostor, seed
    )
    if photo_emb is None:
        tw_g, tw_i, _, _ = _scores(t_emb, t_labels, max_impostor=max_impostor, seed=seed)
        pairs = f"{quality} vs {quality}"
    else:
        t_ids = np.arange(n_twin, dtype=np.int64)
        t_photo = sampler.photos(t_ids, np.zeros(n_twin, np.int64))
        tw_g, tw_i, _, _ = _scores(t_photo, t_ids, t_emb, t_labels, max_impostor, seed)
        pairs = f"{PHOTO} vs {quality}"
    if min(len(img_g), len(img_i), len(tw_g), len(tw_i)) == 0:
        raise DataError(f"compare {pairs}: no genuine or no impostor pairs in a sample")
    thresholds = _thresholds(percents)
    t_arr = np.array(thresholds, np.float64)
    img_rates = metrics.fmr_fnmr(img_g, img_i, t_arr)
    tw_rates = metrics.fmr_fnmr(tw_g, tw_i, t_arr)
    boot_fmr = cluster_bootstrap(img_i.astype(np.float64)[:, None] >= t_arr, who_i, seed)
    boot_fnmr = cluster_bootstrap(img_g.astype(np.float64)[:, None] < t_arr, who_g, seed)

    def hull(rate: metrics.Rate, boot: np.ndarray) -> tuple[float, float]:
        return (float(np.nanmin([rate.lo, boot[0]])), float(np.nanmax([rate.hi, boot[1]])))

    fmr_ci = tuple(hull(r[0], bt) for r, bt in zip(img_rates, boot_fmr, strict=True))
    fnmr_ci = tuple(hull(r[1], bt) for r, bt in zip(img_rates, boot_fnmr, strict=True))
    return TwinReport(
        pairs=pairs, seed=int(seed),
        n_image_identities=len(ids), n_twin_identities=n_twin,
        n_image_genuine=len(img_g), n_image_impostor=len(img_i),
        n_twin_genuine=len(tw_g), n_twin_impostor=len(tw_i),
        ks_genuine=ks_statistic(img_g, tw_g), ks_impostor=ks_statistic(img_i, tw_i),
        ks_genuine_crit=ks_critical(len(img_g), len(tw_g)),
        ks_impostor_crit=ks_critical(len(img_i), len(tw_i)),
        image_genuine=_moments(img_g), twin_genuine=_moments(tw_g),
        image_impostor=_moments(img_i), twin_impostor=_moments(tw_i),
        percents=tuple(float(p) for p in percents),
        thresholds=tuple(float(t) for t in thresholds),
        image_fmr=tuple(r[0] for r in img_rates), twin_fmr=tuple(r[0] for r in tw_rates),
        image_fnmr=tuple(r[1] for r in img_rates), twin_fnmr=tuple(r[1] for r in tw_rates),
        fmr_inside=tuple(_inside(t[0], i[0]) for t, i in zip(tw_rates, img_rates, strict=True)),
        fnmr_inside=tuple(_inside(t[1], i[1]) for t, i in zip(tw_rates, img_rates, strict=True)),
        image_fmr_ci=fmr_ci, image_fnmr_ci=fnmr_ci,
        fmr_inside_clustered=tuple(
            bool(lo <= t[0].value <= hi) for t, (lo, hi) in zip(tw_rates, fmr_ci, strict=True)
        ),
        fnmr_inside_clustered=tuple(
            bool(lo <= t[1].value <= hi) for t, (lo, hi) in zip(tw_rates, fnmr_ci, strict=True)
        ),
    )  # fmt: skip
