"""The twin model: its parameters, its file, and the calibrated twin under the model folder.

Every embedding is of a *kind*: a camera quality (``good``, ``fair``, ``poor``: the profiles
of :data:`facelab.config.quality.BUILTIN_QUALITY`) or ``photo`` (the watchlist's "pre-loaded
frame": a portrait at the enrolment latent sigma 0.15). Kind 0 is the *hub* (``photo`` when
calibrated with photos, else the reference quality). For person ``i`` and a face of kind
``k``::

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
  than they disagree. Gaussian factors give left-skewed impostor scores (from the
  normalisation) and too few false matches at 50 %. Only ``β_0`` (the hub's, shared) is
  fitted; a camera kind's own factor is too small a part of its faces to carry a skew.
- ``h_e``: the noise of a camera face is skewed too (``η_k``; 0 for the hub): two faces of
  *different* people that share a strong nuisance feature (pose, light, blur) score high more
  often than two that disagree on it. Image mode shows it: with the part along the mean face
  taken out, impostor scores are skewed right by +0.12–0.16 in good, fair and poor alike, and in
  poor, where two faces of the same two people agree little (correlation 0.1–0.2 against
  0.3–0.45 in good and fair), that skew is the faces', not the people's. The skewed vector is
  scaled to the length its Gaussian draw had, so the skew turns where the noise points, not
  how long it is (the log-normal's heavy fourth moment would otherwise spread the noisy kinds'
  genuine scores).
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

:mod:`facelab.twin.fit` estimates the parameters from an image sample;
:class:`facelab.twin.sampler.TwinSampler` draws from them.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab import __version__, paths
from facelab.errors import ConfigError, DataError, ModelError
from facelab.fileio import write_atomic

log = logging.getLogger(__name__)

DIM = 128
PHOTO = "photo"
REFERENCE = "good"
TWIN_FILE = "twin.npz"
FORMAT_VERSION = 3


class Stat(enum.IntEnum):
    """Statistics of the scores of one kind against another: the positions on the last axis of
    :attr:`TwinModel.image_stats` / :attr:`TwinModel.twin_stats`."""

    GENUINE_MEAN = 0
    GENUINE_SD = 1
    IMPOSTOR_MEAN = 2
    IMPOSTOR_SD = 3
    ZOO_SD = 4  # sd over people of their mean impostor score (within one kind only)
    IMPOSTOR_SKEWNESS = 5
    GOAT_SD = 6  # sd over people of their expected genuine score


#: Names of the statistics, in :class:`Stat` order ("genuine mean", …, "goat sd").
STAT_NAMES = tuple(s.name.lower().replace("_", " ") for s in Stat)
N_STATS = len(STAT_NAMES)


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
        values for faces of kind ``k`` against kind ``l``, indexed by :class:`Stat`
        (:data:`STAT_NAMES`): genuine mean, sd, impostor mean, sd, (on the diagonal) the sd over
        people of their mean impostor score ("zoo" spread), impostor skewness, and the sd over
        people of their expected genuine score ("goat" spread,
        :func:`facelab.twin.pairs.goat_sd`); ``k == l``: pairs within a kind; NaN where not
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
        "identity_spread", "noise_power", "noise_skew", "detect_rate", "latent_sigma",
        "image_stats", "twin_stats",
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
