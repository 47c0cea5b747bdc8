"""The fit's working state: one :class:`KindState` per kind, and the :class:`Simulation` that
draws faces from it with common random numbers and measures their statistics.

The simulation draws :data:`SIM_IDENTITIES` people with :data:`SIM_PER_IDENTITY` faces of every
kind, from normals fixed once: each statistic is then a smooth, deterministic function of the
parameters, which the fit tunes by bisection (:mod:`facelab.twin.fit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from facelab.twin.components import (
    normalize_rows,
    powered,
    retention,
    retention_sq_mean,
    skewed,
    skewed_noise,
    strength,
)
from facelab.twin.model import DIM, N_STATS, Stat
from facelab.twin.pairs import moments

#: Identities and faces per identity of the fit's simulations.
SIM_IDENTITIES = 800
SIM_PER_IDENTITY = 4


@dataclass
class KindState:
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
        return v * np.sqrt(powered(w, self.power))

    def set_noise(self, cov: np.ndarray) -> None:
        """Take the noise's principal axes and unit-trace spectrum from a covariance."""
        w, v = np.linalg.eigh((cov + cov.T) / 2 / np.trace(cov))
        self.noise_eig = (np.clip(w, 0, None), v)

    @property
    def single(self) -> bool:
        """One face per identity: no within-kind statistics."""
        return not self.within

    def _weights(self, t_b: float, k: int) -> np.ndarray:
        """Expected variance each ``L[k, j]²`` adds (the retentions shrink it on average)."""
        e_all = retention_sq_mean(self.tau)
        w = np.full(len(self.mix), e_all * retention_sq_mean(self.kappa) * t_b)
        w[k] = e_all * t_b
        return w

    def identity_var(self, t_b: float, k: int) -> float:
        """Expected squared length of the identity part (``t_b = tr Σ_b``, ``k``: this kind)."""
        return float(self._weights(t_b, k) @ self.mix**2)

    def room(self, t_b: float, k: int, j: int) -> float:
        """Largest |L[k, j]| the norm leaves room for, the rest of the row as it is."""
        w = self._weights(t_b, k)
        rest = self.identity_var(t_b, k) - w[j] * float(self.mix[j]) ** 2
        free = self.norm**2 - float(self.mean @ self.mean) - 1e-4 - rest
        return math.sqrt(max(free, 0.0) / w[j])

    def min_norm(self, t_b: float, k: int) -> float:
        """Smallest norm that leaves the identity part room (a little noise)."""
        return math.sqrt(float(self.mean @ self.mean) + self.identity_var(t_b, k)) + 1e-3

    def deviation(self) -> float:
        """Length R of the deviation from the mean: ``R² = N² − |m|²``."""
        return math.sqrt(max(self.norm**2 - float(self.mean @ self.mean), 1e-8))

    def scale(self, t_b: float, k: int) -> float:
        """Noise scale ``s`` the norm leaves after the mean and the identity part."""
        s2 = self.norm**2 - float(self.mean @ self.mean) - self.identity_var(t_b, k)
        return math.sqrt(max(s2, 1e-8))


class Simulation:
    """Simulated faces with common random numbers: the same normals for every parameter tried,
    so that each statistic is a smooth, deterministic function of the parameters.

    Parameters
    ----------
    seed : seed of the normals.
    kinds : the fit's kinds, hub first.
    sb : float64 (128, 128) between-person covariance ``Σ_b`` of the reference sample.
    t_b : its trace.
    """

    def __init__(self, seed: int, kinds: list[KindState], sb: np.ndarray, t_b: float):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 407]))
        n, k, nk = SIM_IDENTITIES, SIM_PER_IDENTITY, len(kinds)
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
        self.power = 1.0  # γ of the identity basis
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
        return self._v * np.sqrt(powered(self._w, power))

    def set_identity_power(self, power: float) -> None:
        """Identity components of every kind under spectral exponent ``γ``."""
        at = self.identity_basis(power).T.astype(np.float32)
        self.power = power
        for j in range(len(self.h)):
            self.u[j] = skewed(self.h[j].copy(), self.skews[j]) @ at

    def set_identity_skew(self, j: int, beta: float) -> None:
        """Identity factor ``j`` with skew ``β`` (under the current ``γ``)."""
        self.skews[j] = beta
        at = self.identity_basis(self.power).T.astype(np.float32)
        self.u[j] = skewed(self.h[j].copy(), beta) @ at

    def draw(self, i: int, kind: KindState) -> np.ndarray:
        """(n·k, 128) normalised faces of kind ``i`` (single-face kinds use every k-th row)."""
        shared = None
        for j in range(i):
            if kind.mix[j] != 0:
                term = np.float32(kind.mix[j]) * self.u[j]
                shared = term if shared is None else shared + term
        y = np.zeros((self.n * self.k, DIM), np.float32)
        person_strength = strength(self.xi, kind.spread)[:, None]
        if shared is not None:
            link = retention(self.z2[i], kind.kappa)[:, None]
            y += (shared * person_strength)[self.labels] * link
        if kind.mix[i] != 0:
            y += (np.float32(kind.mix[i]) * self.u[i] * person_strength)[self.labels]
        if kind.tau > 0:
            y *= retention(self.z[i], kind.tau)[:, None]
        if self._noise_shape[i] != (kind.power, kind.noise_skew):
            basis_t = kind.basis().T.astype(np.float32)
            self.noise[i] = skewed_noise(self.e[i].copy(), basis_t, kind.noise_skew)
            self._noise_shape[i] = (kind.power, kind.noise_skew)
        y += np.float32(kind.scale(self.t_b, i)) * self.noise[i]
        y *= (np.float32(kind.deviation()) / np.sqrt(np.einsum("ij,ij->i", y, y)))[:, None]
        typ = (1.0 + np.float32(kind.typical) * self.zeta)[self.labels]
        y += typ[:, None] * kind.mean.astype(np.float32)
        x = normalize_rows(y)
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
    def goat(c: np.ndarray, within: bool) -> float:
        """Goat sd (:func:`facelab.twin.pairs.goat_sd`) from per-person score blocks ``c``
        (n, k, l): four faces of one kind (``within``), or faces of two kinds."""
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

    def _stats(self, gen, offdiag, zoo: float, goat: float) -> np.ndarray:
        out = np.empty(N_STATS)
        out[[Stat.GENUINE_MEAN, Stat.GENUINE_SD]] = moments(gen)
        out[[Stat.IMPOSTOR_MEAN, Stat.IMPOSTOR_SD, Stat.IMPOSTOR_SKEWNESS]] = offdiag
        out[Stat.ZOO_SD], out[Stat.GOAT_SD] = zoo, goat
        return out

    def within(self, x: np.ndarray) -> np.ndarray:
        """float64 (N_STATS,) statistics of faces ``x`` of one kind against each other."""
        xs = x.reshape(self.n, self.k, DIM)
        c = np.einsum("nkd,nld->nkl", xs, xs)
        gen = c[:, self.tri[0], self.tri[1]].ravel()
        return self._stats(gen, self._offdiag(xs[:, 0], xs[:, 1]), self.zoo(xs), self.goat(c, True))

    def zoo(self, xs: np.ndarray) -> float:
        """Zoo sd (:func:`facelab.twin.pairs.zoo_sd`) of faces ``xs`` (n, k, 128)."""
        means = xs.mean(axis=1).astype(np.float64)
        total = means.sum(axis=0) * self.k
        per = means @ total - self.k * np.einsum("ij,ij->i", means, means)
        return float((per / (self.k * (self.n - 1))).std())

    def cross(self, x: np.ndarray, single: bool, other: np.ndarray) -> np.ndarray:
        """float64 (N_STATS,) statistics of faces ``x`` against another kind's faces (zoo sd
        NaN; ``single``: ``x`` has one face per identity, every k-th row, and no goat sd)."""
        rs = other.reshape(self.n, self.k, DIM)
        xs = x.reshape(self.n, self.k, DIM)
        if single:
            gen = np.einsum("nd,nld->nl", xs[:, 0], rs).ravel()
            goat = math.nan
        else:
            c = np.einsum("nkd,nld->nkl", xs, rs)
            gen = c.ravel()
            goat = self.goat(c, False)
        return self._stats(gen, self._offdiag(xs[:, 0], rs[:, 1]), math.nan, goat)

    def all_stats(self, kinds: list[KindState]) -> np.ndarray:
        """(K, K, N_STATS) statistics of the current draws (NaN between two single-face kinds)."""
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
