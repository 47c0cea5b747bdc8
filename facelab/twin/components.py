"""The twin's random components: shared by the sampler and the fit's simulation.

Each turns standard normals into one part of the model (:mod:`facelab.twin.model`): how much
identity a face keeps (:func:`retention`), skewed identity and noise variables
(:func:`skewed`, :func:`skewed_noise`), a person's identity strength (:func:`strength`). All
work on float32 arrays, in place where they say so.
"""

from __future__ import annotations

import math

import numpy as np


def retention(z: np.ndarray, c) -> np.ndarray:
    """Per-face share of an identity signal kept, ``exp(−c z²)`` ∈ (0, 1]: most faces keep
    nearly all of it, a few (blurred, small, occluded) lose much — so genuine scores have a
    ceiling and a long lower tail, as in image mode."""
    c = np.float32(c)
    return np.exp(-c * z * z)


def retention_sq_mean(c: float) -> float:
    """``E[exp(−c z²)²] = (1 + 4c)^(−1/2)`` for ``z ~ N(0, 1)``."""
    return 1.0 / math.sqrt(1.0 + 4.0 * c)


def skewed(h: np.ndarray, beta: float) -> np.ndarray:
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


def skewed_noise(g: np.ndarray, basis_t: np.ndarray, eta: float) -> np.ndarray:
    """A face's noise ``B h_e`` from standard normals ``g`` (n, 128), overwritten, and ``Bᵀ``
    (rows orthogonal: ``B``'s columns are principal axes). With skew ``η`` the variables are
    skewed (:func:`skewed`) and the vector is scaled to the length ``B g`` has, so that the
    skew turns where the noise points, not how long it is (the log-normal's heavy fourth moment
    would otherwise spread a noisy kind's genuine scores). Lengths need no product with ``B``:
    ``|B g|² = Σ_a w_a g_a²``, ``w_a`` the squared norm of row ``a`` of ``Bᵀ``."""
    if eta == 0:
        return g @ basis_t
    w = np.einsum("ij,ij->i", basis_t, basis_t)
    length = np.sqrt((g * g) @ w)
    h = skewed(g, eta)
    h *= (length / np.sqrt((h * h) @ w))[:, None]
    return h @ basis_t


def strength(xi: np.ndarray, nu) -> np.ndarray:
    """Per-person identity strength ``exp(ν ξ − ν²)`` (mean square 1): some people are seen
    consistently (high genuine scores, every sighting alike), others much less."""
    nu = np.float32(nu)
    if nu == 0:
        return np.ones(len(xi), np.float32)
    return np.exp(nu * xi - nu * nu)


def powered(w: np.ndarray, power: float) -> np.ndarray:
    """Eigenvalues ``w`` (≥ 0) raised to ``power`` and rescaled to the same sum; a floor of
    1e-4 · max keeps ``power → 0`` continuous (all equal: isotropic)."""
    wc = np.maximum(w, 1e-4 * max(float(w.max()), 1e-30))
    x = wc**power
    return x * (float(w.sum()) / float(x.sum()))


def normalize_rows(y: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of ``y`` in place (returns it)."""
    y /= np.sqrt(np.einsum("ij,ij->i", y, y))[:, None]
    return y
