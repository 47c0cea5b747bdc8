"""A score-level model of a deployed 1:N system: impostor and genuine score distributions.

A deployed system publishes a handful of operating points (FPIR and TPIR at a threshold and a
watchlist size), not its embeddings. Where only those are known, a model of the *scores* is
more honest than a 128-d twin tuned to them: it has few parameters, each of which the published
points can inform, and 1:N rates follow from it by the same mechanics as facelab's searches.

Scores (on the system's own scale, e.g. NeoFace's 0–1 "face-match" score, or SFace's cosine):

- Impostor: ``s = μ_i + σ_i (√ρ · a + √(1 − ρ) · e)`` with ``a ~ N(0, 1)`` per probe and
  ``e ~ N(0, 1)`` per (probe, gallery entry). ``ρ`` is the share of impostor variance that a
  probe carries into every comparison (a face that resembles many people, a capture that
  looks like many captures): the correlation structure the embedding twin has (its ``σ_k``
  and the quality direction), which makes FPIR grow more slowly than ``1 − (1 − FMR)^N``.
  ``ρ = 0`` is the textbook independent-impostor case.
- Per capture condition ``c``: impostor mean ``μ_i + δ_c σ_i`` (``δ_c`` = 0 for the base), and
  genuine (mated) score ``N(μ_i + d'_c σ_i, (r_c σ_i)²)``: a separation ``d'_c`` and a spread
  ratio ``r_c``, all in units of the impostor spread.
- Per group of people ``g`` (optional, where a source publishes figures by group): the
  impostor scores of *searches of that group's people* have mean ``μ_i + (δ_c + γ_g) σ_i``,
  a shift ``γ_g`` in units of the impostor spread relative to the study population as a whole
  (the population the points without a group were measured on), and ``share_g`` is the
  group's share of that population. A shift multiplies FMR by a factor that grows with the
  threshold (``≈ exp(γ_g z)`` at ``z`` impostor spreads), the Gaussian form of "false-match
  rates differ between groups at a fixed threshold".

Rates, with ``Q(t | a) = P(e-part ≥ t)`` (score ≥ T is a match, as everywhere in facelab):

- ``FMR(T) = Φ̄((T − μ_i) / σ_i)``.
- ``FPIR(N, T) = E_a[1 − (1 − Q(T | a))^N]``: a non-mated search alerts if any of its N
  comparisons reaches T.
- ``TPIR(N, T) = E_a ∫_T^∞ g(s) (1 − Q(s | a))^(N − 1) ds``: the mate scores ≥ T and above all
  N − 1 impostors (rank 1); ``FNIR = 1 − TPIR``.

Expectations over ``a`` use Gauss–Hermite quadrature (probabilists' nodes); tails use
``scipy.special.log_ndtr`` so that FMR of 1e-12 keeps its digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from facelab.errors import ConfigError

#: Gauss–Hermite nodes (probabilists') for expectations over the probe effect.
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(32)
_GH_W = _GH_W / _GH_W.sum()

#: Points of the genuine-score integral (trapezoid over ±8 spreads).
_GRID = 321


@dataclass(frozen=True)
class Genuine:
    """Score distributions of one capture condition, in units of the base impostor spread.

    Attributes
    ----------
    dprime : separation of the genuine mean from the base impostor mean, in ``σ_i``.
    spread : genuine standard deviation over ``σ_i``.
    impostor_shift : shift of this condition's impostor mean, in ``σ_i`` (0: the base
        impostor distribution; degraded captures share a quality direction and resemble each
        other more, so their impostors score higher).
    """

    dprime: float
    spread: float
    impostor_shift: float = 0.0


@dataclass(frozen=True)
class Group:
    """A group of people the source published figures for (see the module docstring).

    Attributes
    ----------
    share : the group's share of the study population.
    impostor_shift : shift of the impostor mean of searches of the group's people, in ``σ_i``.
    shift_from : ``((group, weight), ...)``: when given, ``impostor_shift`` is not a parameter
        of its own but ``Σ weight × shift`` of the named groups (a structural assumption such
        as additive race and sex effects; :func:`facelab.profiles.groups.derive`).
    """

    share: float
    impostor_shift: float = 0.0
    shift_from: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ScoreModel:
    """Impostor and genuine score distributions of one system (see the module docstring).

    Attributes
    ----------
    impostor_mu, impostor_sigma : impostor score mean and standard deviation (system scale).
    rho : share of impostor variance carried by the probe, in [0, 1).
    genuine : capture condition name → :class:`Genuine`.
    groups : group name → :class:`Group` (empty: no figures by group).
    """

    impostor_mu: float
    impostor_sigma: float
    rho: float
    genuine: dict[str, Genuine] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.impostor_sigma > 0 and math.isfinite(self.impostor_sigma)):
            raise ConfigError(f"impostor_sigma must be > 0, got {self.impostor_sigma}")
        if not 0.0 <= self.rho < 1.0:
            raise ConfigError(f"rho must be in [0, 1), got {self.rho}")

    # -- building blocks -----------------------------------------------------------------

    def _z(self, t: np.ndarray, delta: float) -> np.ndarray:
        """``(t − μ_i − δ σ_i − σ_i √ρ a) / (σ_i √(1 − ρ))`` per node ``a``: (nodes, len(t))."""
        t = np.atleast_1d(np.asarray(t, np.float64))
        shift = self.impostor_sigma * (delta + math.sqrt(self.rho) * _GH_X[:, None])
        return (t[None, :] - self.impostor_mu - shift) / (
            self.impostor_sigma * math.sqrt(1.0 - self.rho)
        )

    def _log_miss(self, t: np.ndarray, n: float, delta: float) -> np.ndarray:
        """``log (1 − Q(t | a))^n`` for every node and threshold: (nodes, len(t))."""
        q = np.exp(special.log_ndtr(-self._z(t, delta)))
        return n * np.log1p(-np.minimum(q, 1.0 - 1e-16))

    def _delta(self, condition: str | None, group: str | None = None) -> float:
        d = 0.0 if condition is None else self.condition(condition).impostor_shift
        return d if group is None else d + self.group(group).impostor_shift

    def group(self, name: str) -> Group:
        """A group's shift and share; ConfigError naming the known groups."""
        if name not in self.groups:
            known = ", ".join(self.groups) or "none"
            raise ConfigError(f"unknown group {name!r} (known: {known})")
        return self.groups[name]

    def condition(self, name: str) -> Genuine:
        """The genuine distribution of a capture condition; ConfigError naming the known ones."""
        if name not in self.genuine:
            known = ", ".join(self.genuine) or "none"
            raise ConfigError(f"unknown capture condition {name!r} (known: {known})")
        return self.genuine[name]

    # -- rates -------------------------------------------------------------------------------

    def fmr(self, t, condition: str | None = None, group: str | None = None) -> np.ndarray:
        """One-to-one false match rate at thresholds ``t`` (base impostors, or a condition's,
        of searches of a group's people)."""
        z = (np.asarray(t, np.float64) - self.impostor_mu) / self.impostor_sigma
        return np.exp(special.log_ndtr(-(z - self._delta(condition, group))))

    def fpir(
        self, n: float, t, condition: str | None = None, group: str | None = None
    ) -> np.ndarray:
        """FPIR of a gallery of ``n`` entries at thresholds ``t`` (array like ``t``), of
        searches of ``group``'s people when given."""
        shape = np.shape(t)
        miss = self._log_miss(t, float(n), self._delta(condition, group))
        return (_GH_W @ -np.expm1(miss)).reshape(shape)

    def tpir(self, n: float, t, condition: str, group: str | None = None) -> np.ndarray:
        """Rank-1 TPIR of mated searches of ``condition`` against ``n`` entries (mate included);
        a group shifts the impostors the mate must outscore, not the mate's score."""
        g = self.condition(condition)
        delta = self._delta(condition, group)
        mu = self.impostor_mu + g.dprime * self.impostor_sigma
        sd = g.spread * self.impostor_sigma
        ts = np.atleast_1d(np.asarray(t, np.float64))
        out = np.empty(len(ts))
        for j, tj in enumerate(ts):
            lo = max(tj, mu - 8 * sd)
            hi = mu + 8 * sd
            if lo >= hi:
                out[j] = 0.0
                continue
            s = np.linspace(lo, hi, _GRID)
            dens = np.exp(-0.5 * ((s - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
            alone = np.exp(self._log_miss(s, max(float(n) - 1.0, 0.0), delta))
            inner = np.trapezoid(dens[None, :] * alone, s, axis=1)
            # mass above the grid's upper end is < 1e-15; below mu − 8 sd the same
            out[j] = float(_GH_W @ inner)
        return out.reshape(np.shape(t))

    def fnir(self, n: float, t, condition: str, group: str | None = None) -> np.ndarray:
        """``1 − tpir``."""
        return 1.0 - self.tpir(n, t, condition, group)

    def threshold_at_fpir(self, n: float, target: float, condition: str | None = None) -> float:
        """The threshold at which FPIR(n, T) equals ``target`` (bisection; FPIR falls with T)."""
        if not 0.0 < target < 1.0:
            raise ConfigError(f"FPIR target must be in (0, 1), got {target}")
        lo = self.impostor_mu - 10 * self.impostor_sigma
        hi = self.impostor_mu + 40 * self.impostor_sigma
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if self.fpir(n, mid, condition) > target:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-9 * self.impostor_sigma:
                break
        return 0.5 * (lo + hi)
