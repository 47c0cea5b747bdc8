"""Scores of the embedding twin carried onto another system's score scale, class by class.

A run under a system profile (``facelab run SCENARIO --system PROFILE``) searches the twin's
embeddings as every run does, then maps each candidate's cosine ``x`` onto the profile's scale
within its class (mated or not; the class is the simulation's ground truth: the transfer
emulates a system whose genuine and impostor scores are distributed as published, and only a
simulation knows which is which).

**Impostor (non-mated) candidates: a quantile map of the per-search maximum.** What decides a
false alert is the highest impostor score of a search against the whole watchlist, so the map
is matched on that maximum's distribution at the run's own watchlist size ``N``. With
``S_twin(x)`` the twin's probability that a non-mated search's top impostor cosine is ``≥ x``
(measured by searching sampled non-mated twin probes against the run's enrolled watchlist:
:func:`max_exceedance_model`) and ``FPIR_profile(N, y)`` the profile's model
(:mod:`facelab.profiles.model`), a cosine ``x`` becomes

``y = FPIR_profile(N, ·)⁻¹(S_twin(x))``.

The map is increasing and applied to every impostor candidate of a search, so a search's top
impostor maps to its top mapped impostor, and the fraction of non-mated searches whose mapped
maximum reaches ``T`` is ``S_twin(x_T)``, ``x_T`` the cosine that maps to ``T``, which the map
makes ``FPIR_profile(N, T)``: the run reproduces the
profile's FPIR at its watchlist size by construction, up to the sampling of the run and of the
map. It is tabulated as knots ``(x, y)`` per group of cameras that share a twin capture quality
and a profile condition (:meth:`ScoreTransfer.with_impostor_map`), at the exceedance levels
:data:`LEVELS`, and evaluated with linear interpolation; below the lowest knot and above the
highest, it continues with the slope of the Gaussian-moment map ``σ_to / σ_from``.

*Tail model.* ``S_twin`` is the empirical exceedance of the sampled maxima where at least
:data:`TAIL_FRACTION` of them lie above ``x``; beyond, it is a generalised Pareto tail fitted by
maximum likelihood to the top ``k = max(50, TAIL_FRACTION · n)`` maxima over the threshold
``u`` (the ``k + 1``-th largest): ``S(x) = (k/n) (1 + ξ (x − u)/σ)^(−1/ξ)``, with the shape ``ξ``
held to ``[−0.5, 0.5]`` (``ξ < 0``: a bounded tail, as cosines are; ``ξ = 0``: exponential).
The fitted ``(u, ξ, σ, k, n)`` are recorded with the knots. The map inherits the sample's
error: for npl-lfr under npl-neoface-v4 (30,000 probes, a 10,000-entry watchlist) the fitted
exceedance at 1.7 · 10⁻⁴ (NeoFace's 0.60) is 0.51–1.47 times a 100,000-probe reference's
(10th–90th percentiles of 12 subsamples; ``benchmarks/experiments/impostor_tail.py RUN``), so
far in the tail the run's FPIR matches the profile's to that factor, besides its own
binomial error.

**Genuine (mated) candidates: a Gaussian-moment map** ``y = μ_to + σ_to (x − μ_from) / σ_from``
with the twin's (``sface-synthetic``'s) and the profile's genuine mean and spread per camera.

:class:`ScoreTransfer` is plain data (built by :mod:`facelab.profiles.emulate`, its impostor
map completed by the run once the watchlist is enrolled: :mod:`facelab.run.emulated`); the
run layer applies it without knowing profiles. The profile enters only as the callable
``profile_threshold(condition, n, fpir) -> score``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from facelab.errors import DataError

#: Exceedance levels (FPIR at the run's watchlist size) where the impostor map has knots:
#: the bulk of the maximum's distribution, then four per decade from 0.1 down to 1e-12.
LEVELS = np.concatenate(
    [
        [0.999, 0.995, 0.99, 0.98, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15],
        np.logspace(-1, -12, 45),
    ]
)

#: Share of the sampled maxima the generalised Pareto tail is fitted to (and beyond which it
#: replaces the empirical exceedance).
TAIL_FRACTION = 0.01

#: Bounds on the fitted tail shape ξ.
XI_BOUNDS = (-0.5, 0.5)


@dataclass(frozen=True)
class TailModel:
    """Exceedance of a sample of per-search maxima: empirical, with a fitted Pareto tail.

    Attributes
    ----------
    sorted_max : float64 ndarray, ascending, the sampled maxima.
    u, xi, sigma : the generalised Pareto tail above ``u`` (shape, scale).
    k : maxima above ``u``; ``n``: all of them.
    """

    sorted_max: np.ndarray = field(repr=False)
    u: float
    xi: float
    sigma: float
    k: int
    n: int

    @property
    def p_u(self) -> float:
        """Exceedance at the tail threshold ``u``, ``k / n``."""
        return self.k / self.n

    def quantile(self, p) -> np.ndarray:
        """The score ``x`` with exceedance ``S(x) = p`` (increasing as ``p`` falls)."""
        p = np.asarray(p, np.float64)
        emp = np.quantile(self.sorted_max, np.clip(1.0 - p, 0.0, 1.0))
        r = np.minimum(p, self.p_u) / self.p_u
        if abs(self.xi) < 1e-9:
            tail = self.u - self.sigma * np.log(r)
        else:
            tail = self.u + self.sigma / self.xi * (r ** (-self.xi) - 1.0)
        return np.where(p >= self.p_u, emp, tail)

    def sf(self, x) -> np.ndarray:
        """``S(x)``: the empirical exceedance above ``u``'s level, the Pareto tail beyond."""
        x = np.asarray(x, np.float64)
        s = self.sorted_max
        emp = (len(s) - np.searchsorted(s, x, side="left")) / len(s)
        z = np.maximum(x - self.u, 0.0) / self.sigma
        if abs(self.xi) < 1e-9:
            tail = self.p_u * np.exp(-z)
        else:
            base = np.maximum(1.0 + self.xi * z, 0.0)
            with np.errstate(divide="ignore"):
                tail = self.p_u * base ** (-1.0 / self.xi)
        return np.where(x > self.u, tail, emp)

    def record(self) -> dict:
        return {"u": self.u, "xi": self.xi, "sigma": self.sigma, "k": self.k, "n": self.n}


def max_exceedance_model(max_scores) -> TailModel:
    """The :class:`TailModel` of a sample of per-search maximum impostor scores (see the
    module docstring: empirical, with a generalised Pareto tail over the top
    ``max(50, TAIL_FRACTION · n)`` maxima, ``ξ`` held to :data:`XI_BOUNDS`)."""
    from scipy import stats

    s = np.sort(np.asarray(max_scores, np.float64))
    s = s[np.isfinite(s)]
    n = len(s)
    k = max(50, int(TAIL_FRACTION * n))
    if n < 2 * k:
        raise DataError(f"impostor map: {n} sampled maxima are too few for a tail fit")
    u = float(s[n - k - 1])
    exc = s[n - k :] - u
    xi, _, sigma = stats.genpareto.fit(exc, floc=0)
    if not XI_BOUNDS[0] <= xi <= XI_BOUNDS[1]:
        xi = float(np.clip(xi, *XI_BOUNDS))
        _, _, sigma = stats.genpareto.fit(exc, fc=xi, floc=0)
    return TailModel(s, u, float(xi), float(sigma), k, n)


def impostor_knots(
    tail: TailModel, threshold: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``(x, y)`` of the quantile map at :data:`LEVELS`: ``x`` the twin score with
    exceedance ``p``, ``y = threshold(p)`` the profile's score with FPIR ``p`` at the run's
    watchlist size. Both strictly increasing (ties, from repeated sampled maxima or a bounded
    tail's endpoint, are dropped)."""
    x = tail.quantile(LEVELS)
    y = np.asarray(threshold(LEVELS), np.float64)
    keep = np.concatenate([[True], (np.diff(x) > 1e-12) & (np.diff(y) > 1e-12)])
    return x[keep], y[keep]


@dataclass(frozen=True)
class ScoreTransfer:
    """Per-camera class-wise maps from twin cosines to a system's scores.

    Attributes
    ----------
    system : dict
        What ``run.json`` records of the system (``name``, ``version``, ``title``, ``scale``,
        ``unit``, ``percent``, ``description``, ``points``; with the impostor map, also
        ``impostor_map``: :meth:`impostor_record`).
    impostor_from, impostor_to, genuine_from, genuine_to : numpy.ndarray, shape (cameras, 2)
        ``(mean, standard deviation)`` of each class, per camera index, on the twin's scale
        (``from``) and the system's (``to``): the genuine map, and the impostor map's slope
        beyond its knots.
    conditions : tuple of str
        Each camera's capture condition in the profile.
    profile_threshold : callable ``(condition, n, fpir) -> score`` or None
        The profile's score at which its FPIR at watchlist size ``n`` is ``fpir`` (array).
    impostor_x, impostor_y : tuple of float64 ndarrays, one per group, or None
        The impostor map's knots (None until :meth:`with_impostor_map` or
        :meth:`with_record`).
    group : int ndarray (cameras,) or None
        Each camera's group of knots.
    """

    system: dict
    impostor_from: np.ndarray = field(repr=False)
    impostor_to: np.ndarray = field(repr=False)
    genuine_from: np.ndarray = field(repr=False)
    genuine_to: np.ndarray = field(repr=False)
    conditions: tuple[str, ...] = ()
    profile_threshold: Callable | None = field(default=None, repr=False, compare=False)
    impostor_x: tuple | None = field(default=None, repr=False)
    impostor_y: tuple | None = field(default=None, repr=False)
    group: np.ndarray | None = field(default=None, repr=False)

    @property
    def complete(self) -> bool:
        """Whether the impostor map is built (the transfer can be applied)."""
        return self.group is not None

    def with_impostor_map(
        self, twin_quality, max_scores: dict, watchlist: int, probes: dict | None = None
    ) -> ScoreTransfer:
        """This transfer with its impostor map built from sampled maxima.

        Parameters
        ----------
        twin_quality : sequence of str
            Each camera's twin capture quality (the key of its sample in ``max_scores``).
        max_scores : dict str → float ndarray
            Per twin quality, the maximum impostor cosine of each sampled non-mated search
            against the run's watchlist.
        watchlist : int
            The run's watchlist size ``N`` (the profile's FPIR is taken there).
        probes : dict, optional
            How the maxima were sampled (recorded as is: seed, probe ids, cost).
        """
        if self.profile_threshold is None:
            raise DataError("impostor map: the transfer has no profile_threshold")
        pairs = [(str(q), c) for q, c in zip(twin_quality, self.conditions, strict=True)]
        keys = sorted(set(pairs))
        groups = []
        for q, c in keys:
            tail = max_exceedance_model(max_scores[q])
            kx, ky = impostor_knots(tail, lambda p, c=c: self.profile_threshold(c, watchlist, p))
            groups.append((q, c, tail, kx, ky))
        group = np.array([keys.index(p) for p in pairs], np.int64)
        rec = {
            "method": "quantile map of the per-search maximum impostor score "
            "(facelab.search.transfer)",
            "watchlist": int(watchlist),
            "probes": probes or {},
            "camera_group": group.tolist(),
            "groups": [
                {
                    "twin_quality": q,
                    "condition": c,
                    "cameras": int((group == i).sum()),
                    "tail": tail.record(),
                    "x": kx.tolist(),
                    "y": ky.tolist(),
                }
                for i, (q, c, tail, kx, ky) in enumerate(groups)
            ],
        }
        return self.with_record(rec)

    def with_record(self, rec: dict) -> ScoreTransfer:
        """This transfer with the impostor map ``rec`` (:meth:`impostor_record`: as built by
        :meth:`with_impostor_map`, or as ``run.json`` recorded it)."""
        try:
            xs = tuple(np.asarray(g["x"], np.float64) for g in rec["groups"])
            ys = tuple(np.asarray(g["y"], np.float64) for g in rec["groups"])
            group = np.asarray(rec["camera_group"], np.int64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"impostor map record is malformed: {exc}") from None
        ok = (
            len(group) == len(self.impostor_from)
            and all(len(x) == len(y) >= 2 for x, y in zip(xs, ys))
            and (len(group) == 0 or 0 <= group.min() <= group.max() < len(xs))
        )
        if not ok:
            raise DataError("impostor map record does not fit the run's cameras")
        system = {**self.system, "impostor_map": rec}
        return dataclasses.replace(self, system=system, impostor_x=xs, impostor_y=ys, group=group)

    def impostor_record(self) -> dict | None:
        """The impostor map as ``run.json`` records it (None before it is built)."""
        return self.system.get("impostor_map")

    def map_impostor(self, scores: np.ndarray, camera: np.ndarray) -> np.ndarray:
        """Impostor cosines to the system's scale (float64, the shape of ``scores``)."""
        if not self.complete:
            raise DataError("score transfer: the impostor map is not built yet")
        x = np.asarray(scores, np.float64)
        cam = np.broadcast_to(np.asarray(camera, np.int64), x.shape)
        y = np.empty(x.shape, np.float64)
        gid = self.group[cam]
        for g in np.unique(gid):
            at = gid == g
            c = cam[at]
            slope = self.impostor_to[c, 1] / self.impostor_from[c, 1]
            y[at] = _interp(x[at], self.impostor_x[g], self.impostor_y[g], slope)
        return y

    def apply(self, scores: np.ndarray, mated: np.ndarray, camera: np.ndarray) -> np.ndarray:
        """Map cosines to the system's scale.

        Parameters
        ----------
        scores : float array, any shape
            Twin cosines; ``-inf`` (empty candidate slots) stays ``-inf``.
        mated : bool array, broadcastable to ``scores``
            Whether each comparison is of the same person.
        camera : int array, broadcastable to ``scores``
            Camera index of each comparison's sighting.

        Returns
        -------
        numpy.ndarray of float32, the shape of ``scores``
        """
        x = np.asarray(scores, np.float64)
        cam = np.broadcast_to(np.asarray(camera, np.int64), x.shape)
        mated = np.broadcast_to(np.asarray(mated, bool), x.shape)
        src, dst = self.genuine_from[cam], self.genuine_to[cam]
        finite = np.isfinite(x)
        with np.errstate(invalid="ignore"):
            y = dst[..., 0] + dst[..., 1] * (x - src[..., 0]) / src[..., 1]
        imp = ~mated & finite
        if imp.any():
            y[imp] = self.map_impostor(x[imp], cam[imp])
        y = np.where(np.isneginf(x), -np.inf, y)
        return y.astype(np.float32)

    def rerank(self, ids: np.ndarray, scores: np.ndarray, mated: np.ndarray, camera: np.ndarray):
        """Map a top-k result's scores and re-sort each row, best first.

        ``ids`` (int64, ``-1`` for empty slots) and ``scores`` are ``(m, k)``; ``mated`` is
        ``(m, k)`` bool and ``camera`` ``(m,)`` or ``(m, 1)``. Returns ``(ids, scores)``.
        """
        y = self.apply(scores, mated, np.asarray(camera).reshape(-1, 1))
        y = np.where(ids >= 0, y, np.float32(-np.inf))
        order = np.argsort(-y, axis=1, kind="stable")
        return np.take_along_axis(ids, order, 1), np.take_along_axis(y, order, 1)


def _interp(x: np.ndarray, kx: np.ndarray, ky: np.ndarray, slope) -> np.ndarray:
    """Piecewise-linear through the knots ``(kx, ky)``, with ``slope`` (scalar or per element
    of ``x``) beyond either end."""
    y = np.interp(x, kx, ky)
    y = np.where(x < kx[0], ky[0] + slope * (x - kx[0]), y)
    return np.where(x > kx[-1], ky[-1] + slope * (x - kx[-1]), y)
