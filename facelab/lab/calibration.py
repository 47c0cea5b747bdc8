"""Genuine-vs-impostor statistics of SFace on facelab's own synthetic faces.

How far apart are two photos of one synthetic person, and how close are two different people?
:func:`genuine_impostor_scores` answers it with the full image path the lab uses: each identity
is drawn as ``K`` *sighting portraits* (latent variation ``sigma``, photo degradation, the
"pre-loaded frame" of :func:`facelab.world.synth.portrait`), every portrait goes through YuNet
(largest face), 5-point alignment and SFace, and every pair of embeddings is scored by cosine:

- *genuine* pairs: two sightings of the same identity, all ``I · K(K-1)/2`` of them;
- *impostor* pairs: sightings of two different identities, all of them, or a deterministic
  uniform subsample of ``max_impostor`` when there are more.

The result (:class:`GenuineImpostorScores`) keeps the score arrays, the embeddings and their
identity labels, so the benchmark, the CLI (``facelab synth stats``) and the embedding twin can
reuse one computation; :meth:`GenuineImpostorScores.operating_points` gives FMR / FNMR with
counts and Wilson 95 % intervals at percent thresholds under a named mapping
(:mod:`facelab.search.percent`, :mod:`facelab.lab.metrics`).

Random streams: sighting ``k`` of identity ``i`` has the latent
``z_i + sigma · ε`` with ``ε`` from ``SeedSequence([seed, PORTRAIT_SIGHTING_STREAM,
sighting_id(i, k)])`` and its photo (backdrop, degradation noise) from
``SeedSequence([seed, synth.PHOTO_STREAM, i, k])`` — the same portraits
``facelab synth faces --sightings K --identity i`` draws.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facelab.errors import DataError
from facelab.lab import metrics
from facelab.search import percent
from facelab.vision import detect, embed, faces
from facelab.world import synth

log = logging.getLogger(__name__)

#: Seed stream of the latent noise of portrait sightings (camera passes use
#: :data:`facelab.world.synth.SIGHTING_STREAM` keyed by pass id; this keeps the two apart).
PORTRAIT_SIGHTING_STREAM = 301
#: Seed stream of the impostor-pair subsample.
PAIR_STREAM = 302
#: Sighting ids are ``identity * SIGHTING_SPAN + k``: unique for ``k < SIGHTING_SPAN``.
SIGHTING_SPAN = 1 << 20

#: Percent thresholds reported by default (the "usually 50–80 %" band quoted for deployed systems).
DEFAULT_PERCENTS: tuple[float, ...] = (50.0, 60.0, 70.0, 80.0)
#: Largest number of impostor scores kept; more pairs are subsampled uniformly.
DEFAULT_MAX_IMPOSTOR = 500_000
#: Portraits rendered, detected and embedded per chunk (bounds memory).
CHUNK = 256
#: Up to this many embeddings, all pairs are scored from one similarity matrix.
FULL_MATRIX_MAX = 3000


def sighting_id(identity: int, k: int) -> int:
    """Unique sighting id of the ``k``-th portrait sighting of ``identity``."""
    if not 0 <= k < SIGHTING_SPAN:
        raise DataError(f"sighting index {k} out of range 0..{SIGHTING_SPAN - 1}")
    return int(identity) * SIGHTING_SPAN + int(k)


def sighting_portraits(
    generator: synth.FaceGenerator,
    seed: int,
    identities: Sequence[int] | np.ndarray,
    sightings: int,
    sigma: float = synth.DEFAULT_LATENT_SIGMA,
    degradation: synth.Degradation = synth.DEFAULT_PHOTO_DEGRADATION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render ``sightings`` portraits of each identity.

    Parameters
    ----------
    generator : the DCGAN face generator.
    seed : world seed.
    identities : int array-like (n,) of identity ids.
    sightings : portraits per identity, K >= 1.
    sigma : latent variation of each sighting.
    degradation : photo degradation of each portrait.

    Returns
    -------
    images : uint8 (n·K, 192, 192, 3) BGR, identity-major (all sightings of the first identity,
        then the next).
    labels : int64 (n·K,), the identity of each portrait.
    ks : int64 (n·K,), the sighting index ``0..K-1`` of each portrait.
    """
    ids = np.atleast_1d(np.asarray(identities, dtype=np.int64))
    if sightings < 1:
        raise DataError(f"sightings must be >= 1, got {sightings}")
    labels = np.repeat(ids, sightings)
    ks = np.tile(np.arange(sightings, dtype=np.int64), len(ids))
    sids = [sighting_id(i, k) for i, k in zip(labels, ks, strict=True)]
    images = synth.photos(
        generator, seed, labels, sids, sigma, stream=PORTRAIT_SIGHTING_STREAM,
        degradation=degradation,
    )  # fmt: skip
    return images, labels, ks


def embed_images(images: np.ndarray, detector, embedder) -> tuple[np.ndarray, np.ndarray]:
    """Detect, choose the largest face (:data:`facelab.vision.faces.LARGEST`), align and embed
    each image.

    Parameters
    ----------
    images : uint8 (n, H, W, 3) BGR, or a list of such images.
    detector : :class:`facelab.vision.detect.FaceDetector`
    embedder : :class:`facelab.vision.embed.Embedder` (batches internally).

    Returns
    -------
    embeddings : float32 (m, 128), L2-normalised, one per image where a face was found.
    found : bool (n,), which images gave a face (and so an embedding, in order).
    """
    aligned, found = [], np.zeros(len(images), dtype=bool)
    for i, img in enumerate(images):
        crop = faces.aligned_face(detector, img, faces.LARGEST)
        if crop is None:
            continue
        aligned.append(crop)
        found[i] = True
    if not aligned:
        return np.zeros((0, embed.EMBED_DIM), np.float32), found
    return faces.embed_faces(embedder, np.stack(aligned)), found


@dataclass(frozen=True)
class OperatingPoint:
    """FMR and FNMR at one percent threshold.

    Attributes
    ----------
    percent : the operator's threshold in percent.
    cosine : the equivalent cosine threshold under the mapping (score >= cosine matches).
    fmr : impostor pairs >= threshold, with count and Wilson 95 % interval.
    fnmr : genuine pairs < threshold, with count and Wilson 95 % interval.
    """

    percent: float
    cosine: float
    fmr: metrics.Rate
    fnmr: metrics.Rate

    def to_dict(self) -> dict:
        return {
            "percent": self.percent,
            "cosine": self.cosine,
            **metrics.rate_fields(self.fmr, "fmr"),
            **metrics.rate_fields(self.fnmr, "fnmr"),
        }


def _stats(x: np.ndarray) -> dict:
    if x.size == 0:
        return {"count": 0, "mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan}
    x = x.astype(np.float64)
    return {
        "count": int(x.size),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
        "min": float(x.min()),
        "max": float(x.max()),
    }


@dataclass(frozen=True, eq=False)
class GenuineImpostorScores:
    """SFace cosine scores of genuine and impostor pairs of synthetic portraits.

    Attributes
    ----------
    seed, identities, sightings, sigma, degradation : what was rendered (identity ids are
        ``0..identities-1`` under ``seed``).
    faces : portraits rendered (``identities · sightings``).
    detected : portraits in which YuNet found a face (the rest take part in no pair).
    embeddings : float32 (detected, 128), L2-normalised.
    labels : int64 (detected,), identity of each embedding.
    genuine : float32 (g,), cosine of every same-identity pair.
    impostor : float32 (i,), cosine of impostor pairs (all, or a uniform subsample).
    impostor_total : impostor pairs that exist (``i`` when nothing was subsampled).
    """

    seed: int
    identities: int
    sightings: int
    sigma: float
    degradation: synth.Degradation
    faces: int
    detected: int
    embeddings: np.ndarray
    labels: np.ndarray
    genuine: np.ndarray
    impostor: np.ndarray
    impostor_total: int

    def operating_points(
        self, percents: Sequence[float] = DEFAULT_PERCENTS, mapping: str = percent.DEFAULT_MAPPING
    ) -> tuple[OperatingPoint, ...]:
        """FMR / FNMR at each percent threshold under the named mapping.

        ``log-fmr`` is calibrated on these impostor scores.
        """
        m = percent.get_mapping(mapping, self.impostor if mapping == "log-fmr" else None)
        cos = np.array([m.to_cosine(p) for p in percents], dtype=np.float64)
        rates = metrics.fmr_fnmr(self.genuine, self.impostor, cos)
        return tuple(
            OperatingPoint(float(p), float(c), fmr, fnmr)
            for p, c, (fmr, fnmr) in zip(percents, cos, rates, strict=True)
        )

    def summary(
        self, percents: Sequence[float] = DEFAULT_PERCENTS, mapping: str = percent.DEFAULT_MAPPING
    ) -> dict:
        """Headline figures as a JSON-serialisable dict."""
        return {
            "seed": self.seed,
            "identities": self.identities,
            "sightings": self.sightings,
            "sigma": self.sigma,
            "degradation": self.degradation.to_dict(),
            "faces": self.faces,
            "detected": self.detected,
            "genuine": _stats(self.genuine),
            "impostor": {**_stats(self.impostor), "total_pairs": self.impostor_total},
            "mapping": mapping,
            "operating_points": [op.to_dict() for op in self.operating_points(percents, mapping)],
        }


def pair_scores(
    embeddings: np.ndarray,
    labels: np.ndarray,
    max_impostor: int = DEFAULT_MAX_IMPOSTOR,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Cosine scores of all genuine pairs and of (up to ``max_impostor``) impostor pairs.

    Parameters
    ----------
    embeddings : float32 (m, d), L2-normalised.
    labels : int (m,), identity of each row.
    max_impostor : keep at most this many impostor scores; above it a uniform subsample is drawn
        from ``SeedSequence([seed, PAIR_STREAM])`` (without replacement when every pair is
        enumerated, with replacement beyond :data:`FULL_MATRIX_MAX` embeddings).
    seed : seed of the subsample.

    Returns
    -------
    genuine : float32 (g,), pairs in row-major upper-triangle order.
    impostor : float32 (i,).
    impostor_total : number of impostor pairs that exist.
    """
    e = np.ascontiguousarray(embeddings, dtype=np.float32)
    lab = np.asarray(labels, dtype=np.int64)
    if e.ndim != 2 or lab.shape != (e.shape[0],):
        raise DataError(f"pair_scores: embeddings {e.shape} and labels {lab.shape} disagree")
    if max_impostor < 1:
        raise DataError(f"max_impostor must be >= 1, got {max_impostor}")
    m = e.shape[0]
    _, counts = np.unique(lab, return_counts=True)
    n_gen = int((counts * (counts - 1) // 2).sum())
    total = m * (m - 1) // 2 - n_gen
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), PAIR_STREAM]))
    if m <= FULL_MATRIX_MAX:
        s = e @ e.T
        i, j = np.triu_indices(m, 1)
        scores = s[i, j]
        same = lab[i] == lab[j]
        genuine, impostor = scores[same], scores[~same]
        if impostor.size > max_impostor:
            keep = np.sort(rng.choice(impostor.size, size=max_impostor, replace=False))
            impostor = impostor[keep]
        return genuine.astype(np.float32), impostor.astype(np.float32), int(total)
    # Large sets: genuine pairs per identity, impostor pairs sampled uniformly.
    order = np.argsort(lab, kind="stable")
    bounds = np.flatnonzero(np.diff(lab[order])) + 1
    genuine = []
    for group in np.split(order, bounds):
        if len(group) > 1:
            g = e[group] @ e[group].T
            genuine.append(g[np.triu_indices(len(group), 1)])
    genuine_arr = np.concatenate(genuine) if genuine else np.zeros(0, np.float32)
    want = min(max_impostor, total)
    got: list[np.ndarray] = []
    have = 0
    while have < want:
        a = rng.integers(0, m, size=2 * (want - have) + 16)
        b = rng.integers(0, m, size=a.size)
        ok = lab[a] != lab[b]
        a, b = a[ok][: want - have], b[ok][: want - have]
        got.append(np.einsum("ij,ij->i", e[a], e[b]))
        have += a.size
    impostor_arr = np.concatenate(got) if got else np.zeros(0, np.float32)
    return genuine_arr.astype(np.float32), impostor_arr.astype(np.float32), int(total)


def genuine_impostor_scores(
    identities: int = 100,
    sightings: int = 4,
    seed: int = 0,
    *,
    sigma: float = synth.DEFAULT_LATENT_SIGMA,
    degradation: synth.Degradation = synth.DEFAULT_PHOTO_DEGRADATION,
    max_impostor: int = DEFAULT_MAX_IMPOSTOR,
    generator: synth.FaceGenerator | None = None,
    detector=None,
    embedder=None,
    device: str = "cpu",
    backend: str = "onnxruntime",
) -> GenuineImpostorScores:
    """SFace genuine and impostor scores on ``identities × sightings`` synthetic portraits.

    Parameters
    ----------
    identities : number of identities (ids ``0..identities-1``), >= 2.
    sightings : portraits per identity, >= 2.
    seed : world seed of the identities, sightings and the impostor subsample.
    sigma : latent variation of each sighting (:data:`facelab.world.synth.DEFAULT_LATENT_SIGMA`).
    degradation : photo degradation (:data:`facelab.world.synth.DEFAULT_PHOTO_DEGRADATION`).
    max_impostor : impostor scores kept at most (see :func:`pair_scores`).
    generator, detector, embedder : reuse already opened models; opened on ``device`` if omitted.
    device : "cpu", "cuda" or "auto", for the models opened here.
    backend : "onnxruntime", "openvino" or "auto", for the models opened here.

    Returns
    -------
    GenuineImpostorScores
    """
    if identities < 2:
        raise DataError(f"need at least 2 identities for impostor pairs, got {identities}")
    if sightings < 2:
        raise DataError(f"need at least 2 sightings per identity (genuine pairs), got {sightings}")
    generator = generator or synth.FaceGenerator(device, backend=backend)
    detector = detector or detect.FaceDetector(backend=backend)
    embedder = embedder or embed.Embedder(device, backend=backend)
    per_chunk = max(1, CHUNK // sightings)
    embs, labs = [], []
    for start in range(0, identities, per_chunk):
        ids = np.arange(start, min(start + per_chunk, identities))
        images, labels, _ = sighting_portraits(generator, seed, ids, sightings, sigma, degradation)
        e, found = embed_images(images, detector, embedder)
        embs.append(e)
        labs.append(labels[found])
    embeddings = np.concatenate(embs)
    labels = np.concatenate(labs)
    faces = identities * sightings
    if len(labels) < faces:
        log.warning("YuNet found no face in %d of %d portraits", faces - len(labels), faces)
    genuine, impostor, total = pair_scores(embeddings, labels, max_impostor, seed)
    log.info(
        "calibration: %d genuine pairs (mean %.3f), %d of %d impostor pairs (mean %.3f)",
        genuine.size, genuine.mean() if genuine.size else math.nan,
        impostor.size, total, impostor.mean() if impostor.size else math.nan,
    )  # fmt: skip
    for a in (embeddings, labels, genuine, impostor):
        a.flags.writeable = False
    return GenuineImpostorScores(
        seed=int(seed),
        identities=int(identities),
        sightings=int(sightings),
        sigma=float(sigma),
        degradation=degradation,
        faces=faces,
        detected=int(len(labels)),
        embeddings=embeddings,
        labels=labels,
        genuine=genuine,
        impostor=impostor,
        impostor_total=total,
    )
