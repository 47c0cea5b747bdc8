"""Fitting a twin to image-mode embeddings (:func:`fit_twin`).

The fit estimates the means and covariances from moments, then tunes the other parameters by
bisection on a :class:`~facelab.twin.simulation.Simulation` with common random numbers: one
parameter per image-mode statistic, in the order of the tables :data:`HUB_TUNING` (the hub,
kind 0) and :data:`CAMERA_TUNING` (every other kind), each row a (parameter, statistic, pairs,
bounds). Sweeps repeat the tables until every fitted mean is within :data:`FIT_TOLERANCE` of
image mode (at least :data:`FIT_MIN_SWEEPS`, at most :data:`FIT_SWEEPS`). A statistic image
mode does not have (a kind with one face per person; a goat spread from too few people; an
impostor skewness from fewer than :data:`MIN_SKEW_PEOPLE` people) leaves its parameter as it
is: 0, or its moment estimate.

Known limits (measured on 150 fresh people, ``facelab calibrate --check 150``; see
benchmarks/README.md, which ``make docs-check`` keeps equal to the command): 48 of 48 FMR / FNMR
rates at 50–80 % inside image mode's intervals (10 of them only inside the wider
clustering-aware one), where the fitted image sample itself (other people, same cameras) puts
43 — two image samples of 150 people put 35–47 of 48 inside each other's intervals
(``benchmarks/experiments/twin_seeds.py``), and a twin carries the sampling error of the sample
it was fitted on: twins fitted on each of four seeds put 32–46 of 48 inside the others'. ``ν`` comes out 0 for fair and poor (the twin already has image mode's goat spread
there) and for a photo hub with < 4 photos per person (not fitted). Camera-vs-camera pairs of
*different* qualities (e.g. good vs fair) are not fitted; photo-vs-poor genuine scores are
narrower than in image mode (sd 0.12 vs 0.13, KS ≈ 0.10), and poor-vs-poor genuine scores a
little low (mean 0.39 vs 0.42 on the fresh people; 0.39 in the fitted sample, a sample
difference at ~100 people).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from facelab.config.defaults import DEFAULT_ENROL_SIGMA, DEFAULT_LATENT_SIGMA
from facelab.errors import ConfigError, DataError
from facelab.twin.model import DIM, N_STATS, PHOTO, REFERENCE, Stat, TwinModel
from facelab.twin.pairs import class_means, pair_stats
from facelab.twin.simulation import KindState, Simulation

log = logging.getLogger(__name__)

FIT_SWEEPS = 16  # at most; the fit stops when every fitted mean is within tolerance
FIT_MIN_SWEEPS = 2  # at least, even when the first sweep meets the tolerance
FIT_FULL_SWEEPS = 2  # sweeps that take each bisection's answer; later ones go FIT_DAMPING of it
FIT_DAMPING = 0.5
FIT_TOLERANCE = 0.003
FIT_BISECT_STEPS = 14
#: Statistics whose misses decide when the fit has converged (spreads can sit at a bound).
CONVERGED_ON = (Stat.GENUINE_MEAN, Stat.IMPOSTOR_MEAN)

#: Largest norm N of a face's unnormalised vector the fit may use.
MAX_NORM = 4.0
#: Largest spectral exponent γ of the identity and the noise covariances.
MAX_POWER = 3.0
#: Largest retention coefficient c of exp(−c z²): within a kind (τ), of the link to the hub (κ).
MAX_RETENTION = 0.3
MAX_LINK_RETENTION = 0.6
#: Largest identity skew β and per-person identity-strength spread ν the fit may use.
MAX_IDENTITY_SKEW = 1.0
MAX_SPREAD = 0.8
#: Largest noise skew η of a camera kind (the default fit's are 0.52–0.65).
MAX_NOISE_SKEW = 1.0
#: Largest typicality σ (spread of people's mean component).
MAX_TYPICALITY = 0.5
#: Fewest people of a kind whose impostor skewness is fitted (at 30 people it is noise: +0.13
#: where 150 people give −0.03, and β at its bound then inflates the far impostor tail).
MIN_SKEW_PEOPLE = 50

# --------------------------------------------------------------------------- the table

#: Pairs a statistic is measured on: faces of the kind against each other; against the hub's
#: faces; within the kind when image mode measured it there, else against the hub.
WITHIN, HUB, WITHIN_ELSE_HUB = "within", "hub", "within, else hub"
#: Bounds that follow the kind's current state: the smallest norm that leaves room for the
#: identity part, and ± the largest ``|L[k, j]|`` the norm leaves room for.
MIN_NORM, ROOM, MINUS_ROOM = "min norm", "room", "-room"


@dataclass(frozen=True)
class Tuning:
    """One row of the fit: a parameter, the image-mode statistic it is tuned to, its bounds.

    Attributes
    ----------
    parameter : what is tuned: an attribute of :class:`~facelab.twin.simulation.KindState`
        (``norm``, ``tau`` τ, ``kappa`` κ, ``power`` the noise's γ, ``typical`` σ,
        ``noise_skew`` η, ``spread`` ν), ``mix_hub`` ``L[k, 0]``, ``mix_own`` ``L[k, k]``, or,
        for the hub, ``identity_power`` (γ of the identity basis every kind shares) and
        ``identity_skew`` (β of the shared identity factor).
    statistic : the image-mode statistic it moves.
    pairs : :data:`WITHIN`, :data:`HUB` or :data:`WITHIN_ELSE_HUB`.
    lo, hi : the range searched: numbers, or :data:`MIN_NORM`, :data:`ROOM`,
        :data:`MINUS_ROOM`.
    increasing : whether the statistic grows with the parameter.
    damped : whether later sweeps go only :data:`FIT_DAMPING` of the way to the bisection's
        answer (coordinate-wise bisection can cycle between two states when a parameter sits
        at a bound in one of them; half steps settle it).
    """

    parameter: str
    statistic: Stat
    pairs: str
    lo: float | str
    hi: float | str
    increasing: bool = True
    damped: bool = True


#: The hub (kind 0; its identity part is the template), in the order tuned.
HUB_TUNING = (
    Tuning("norm", Stat.IMPOSTOR_MEAN, WITHIN, MIN_NORM, MAX_NORM, increasing=False),
    Tuning("mix_own", Stat.GENUINE_MEAN, WITHIN, 0.0, ROOM),
    Tuning("tau", Stat.GENUINE_SD, WITHIN, 0.0, MAX_RETENTION),
    Tuning("identity_power", Stat.IMPOSTOR_SD, WITHIN, 0.0, MAX_POWER, damped=False),
    Tuning("identity_skew", Stat.IMPOSTOR_SKEWNESS, WITHIN, 0.0, MAX_IDENTITY_SKEW),
    Tuning("typical", Stat.ZOO_SD, WITHIN, 0.0, MAX_TYPICALITY),
    Tuning("spread", Stat.GOAT_SD, WITHIN, 0.0, MAX_SPREAD),
)  # fmt: skip
#: Every other kind, in the order tuned. A camera kind's own identity factor is too small a
#: part of its faces to carry its impostor skewness: the noise skew η does, and its β stays 0.
CAMERA_TUNING = (
    Tuning("norm", Stat.IMPOSTOR_MEAN, WITHIN_ELSE_HUB, MIN_NORM, MAX_NORM, increasing=False),
    Tuning("mix_hub", Stat.GENUINE_MEAN, HUB, MINUS_ROOM, ROOM),
    Tuning("mix_own", Stat.GENUINE_MEAN, WITHIN, 0.0, ROOM),
    Tuning("kappa", Stat.GENUINE_SD, HUB, 0.0, MAX_LINK_RETENTION),
    Tuning("tau", Stat.GENUINE_SD, WITHIN, 0.0, MAX_RETENTION),
    Tuning("power", Stat.IMPOSTOR_SD, WITHIN, 0.0, MAX_POWER),
    Tuning("typical", Stat.ZOO_SD, WITHIN, 0.0, MAX_TYPICALITY),
    Tuning("noise_skew", Stat.IMPOSTOR_SKEWNESS, WITHIN, 0.0, MAX_NOISE_SKEW),
    Tuning("spread", Stat.GOAT_SD, WITHIN_ELSE_HUB, 0.0, MAX_SPREAD),
)  # fmt: skip


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


class _Tuner:
    """Applies the tables to the kinds: targets, parameters and simulated statistics by name."""

    def __init__(self, kinds: list[KindState], target: np.ndarray, sim: Simulation, t_b: float):
        self.kinds, self.target, self.sim, self.t_b = kinds, target, sim, t_b
        self.step = 1.0  # share of the way to each bisection's answer
        self.identity_power = 1.0
        sim.set_identity_power(self.identity_power)

    def table(self, i: int) -> tuple[Tuning, ...]:
        return HUB_TUNING if i == 0 else CAMERA_TUNING

    def _pairs(self, row: Tuning, i: int) -> str:
        if row.pairs == WITHIN_ELSE_HUB:
            return WITHIN if math.isfinite(self.target[i, i, row.statistic]) else HUB
        return row.pairs

    def cell(self, row: Tuning, i: int) -> tuple[int, int, Stat]:
        """Where the row's statistic lies in ``image_stats`` / ``twin_stats``."""
        return (i, i if self._pairs(row, i) == WITHIN else 0, row.statistic)

    def goal(self, row: Tuning, i: int) -> float:
        """The image-mode value aimed at; NaN (not tuned) where image mode lacks it or an
        impostor skewness comes from fewer than :data:`MIN_SKEW_PEOPLE` people."""
        if row.statistic == Stat.IMPOSTOR_SKEWNESS:
            if len(np.unique(self.kinds[i].labels)) < MIN_SKEW_PEOPLE:
                return math.nan
        return float(self.target[self.cell(row, i)])

    def _bound(self, value: float | str, row: Tuning, i: int) -> float:
        k = self.kinds[i]
        if value == MIN_NORM:
            return k.min_norm(self.t_b, i)
        if value in (ROOM, MINUS_ROOM):
            room = k.room(self.t_b, i, 0 if row.parameter == "mix_hub" else i)
            return room if value == ROOM else -room
        return float(value)

    def parameter(self, name: str, i: int) -> tuple[Callable[[], float], Callable[[float], None]]:
        """(get, set) of a parameter of kind ``i``."""
        k, sim = self.kinds[i], self.sim
        if name in ("mix_hub", "mix_own"):
            j = 0 if name == "mix_hub" else i
            return (lambda: k.mix[j]), (lambda x: k.mix.__setitem__(j, x))
        if name == "identity_power":

            def set_power(x: float) -> None:
                self.identity_power = x
                sim.set_identity_power(x)

            return (lambda: self.identity_power), set_power
        if name == "identity_skew":
            return (lambda: sim.skews[i]), (lambda x: sim.set_identity_skew(i, x))
        return (lambda: getattr(k, name)), (lambda x: setattr(k, name, x))

    def simulated(self, row: Tuning, i: int) -> float:
        """The row's statistic on a fresh simulated draw of kind ``i``."""
        sim, k = self.sim, self.kinds[i]
        x = sim.draw(i, k)
        if self._pairs(row, i) == WITHIN:
            return float(sim.within(x)[row.statistic])
        return float(sim.cross(x, k.single, sim.faces[0])[row.statistic])

    def tune(self, row: Tuning, i: int) -> None:
        """Bisect the row's parameter to its goal (skipped where the goal is NaN)."""
        goal = self.goal(row, i)
        if not math.isfinite(goal):
            return
        lo, hi = self._bound(row.lo, row, i), self._bound(row.hi, row, i)
        get, put = self.parameter(row.parameter, i)
        old = float(get())

        def f(x: float) -> float:
            put(x)
            return self.simulated(row, i)

        new = _bisect(f, goal, lo, hi, row.increasing)
        if row.damped and self.step < 1:
            new = min(max(old + self.step * (new - old), lo), hi)
        put(new)
        self.sim.draw(i, self.kinds[i])

    def converged_on(self) -> np.ndarray:
        """bool mask of the fitted means (:data:`CONVERGED_ON`) over ``image_stats``."""
        mask = np.zeros(self.target.shape, dtype=bool)
        for i in range(len(self.kinds)):
            for row in self.table(i):
                if row.statistic in CONVERGED_ON and math.isfinite(self.goal(row, i)):
                    mask[self.cell(row, i)] = True
        return mask

    def sweep(self, n: int) -> np.ndarray:
        """One pass over every kind's table (``n`` counts from 0); the twin's statistics after."""
        self.step = 1.0 if n < FIT_FULL_SWEEPS else FIT_DAMPING
        for i in range(len(self.kinds)):
            for row in self.table(i):
                self.tune(row, i)
        for i, k in enumerate(self.kinds):
            self.sim.draw(i, k)
        return self.sim.all_stats(self.kinds)


# --------------------------------------------------------------------------- moments


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


def _repeated(labels) -> bool:
    """Whether several identities have ≥ 2 faces (so within-kind statistics exist)."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    return bool((counts >= 2).sum() >= 2)


def _kinds(samples, quality, detect_rates, latent_sigmas) -> list[KindState]:
    """The kinds in fit order (photo first when it has repeated faces: the hub), checked."""
    photo_hub = PHOTO in samples and _repeated(samples[PHOTO][1])
    names = [
        *([PHOTO] if photo_hub else []), quality,
        *(n for n in samples if n not in (quality, PHOTO)),
        *([PHOTO] if PHOTO in samples and not photo_hub else []),
    ]  # fmt: skip
    kinds = []
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
        default_sigma = DEFAULT_ENROL_SIGMA if name == PHOTO else DEFAULT_LATENT_SIGMA
        kinds.append(KindState(
            name=name, emb=e, labels=lab, mean=class_means(e, lab)[3].mean(axis=0),
            mix=np.zeros(len(names)),
            detect_rate=float(detect_rates.get(name, 1.0)),
            latent_sigma=float(latent_sigmas.get(name, default_sigma)),
            within=_repeated(lab),
        ))  # fmt: skip
    if not kinds[0].within:
        raise DataError(
            f"fit_twin: the {kinds[0].name} sample needs ≥ 2 faces for several identities"
        )
    return kinds


def _estimate(kinds: list[KindState]) -> tuple[np.ndarray, float]:
    """Moment estimates: each kind's noise axes, the hub's norm and ``L[0, 0]``; returns the
    between-person covariance ``Σ_b`` of the hub's sample and its trace."""
    ref = kinds[0]
    r_ids, r_inv, r_counts, r_cm = class_means(ref.emb, ref.labels)
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
        ids_k, inv_k, _, cm_k = class_means(k.emb, k.labels)
        if len(np.intersect1d(ids_k, r_ids)) < 2:
            raise DataError(
                f"fit_twin: {k.name} shares fewer than 2 identities with {ref.name}; "
                "draw every kind with the same seed"
            )
        if k.within:
            k.set_noise(_ledoit_wolf(k.emb - cm_k[inv_k], len(k.emb) - len(ids_k))[0])
        else:
            k.noise_eig = ref.noise_eig
        k.norm = 1.0  # the data are unit vectors; the bisections set everything else
    return sb, t_b


def _targets(kinds: list[KindState], seed: int) -> np.ndarray:
    """float64 (K, K, N_STATS) image-mode statistics (NaN between two single-face kinds)."""
    nk = len(kinds)
    target = np.full((nk, nk, N_STATS), np.nan)
    for i, a in enumerate(kinds):
        for j in range(i + 1):
            b = kinds[j]
            if a.single and b.single:
                continue
            if i == j:
                target[i, i] = pair_stats(a.emb, a.labels, seed)
            else:
                target[i, j] = target[j, i] = pair_stats(a.emb, a.labels, seed, b.emb, b.labels)
    return target


# --------------------------------------------------------------------------- the fit


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
    latent_sigmas : latent sigma per kind (recorded; default
        :data:`facelab.config.defaults.DEFAULT_LATENT_SIGMA`, 0.15 for photo).
    n_identities : people rendered (recorded; default: people in the ``emb`` sample).
    n_per_identity : faces rendered per person (recorded; default: the largest count there).
    embedder_sha256 : recorded source model (default: the manifest's SFace hash).

    Returns
    -------
    TwinModel
        Kinds in the order: reference, the other qualities as given, photo (photo first, as
        the hub, when it has ≥ 2 photos for several people).

    Raises
    ------
    DataError
        Wrong shapes, non-finite values, fewer than 2 identities, no repeated identity in the
        reference sample, or a kind that shares fewer than 2 identities with the reference.
    ConfigError
        The reference is ``photo``, or is also given in ``others``.
    """
    others = dict(others or {})
    if quality == PHOTO:
        raise ConfigError("the reference kind must be a camera quality, not 'photo'")
    if quality in others:
        raise ConfigError(f"{quality!r} given both as the reference and in others")
    with _single_blas_thread():
        kinds = _kinds({quality: (emb, labels), **others}, quality, dict(detect_rates or {}),
                       dict(latent_sigmas or {}))  # fmt: skip
        sb, t_b = _estimate(kinds)
        target = _targets(kinds, seed)
        tuner = _Tuner(kinds, target, Simulation(seed, kinds, sb, t_b), t_b)
        converged_on = tuner.converged_on()
        for sweep in range(FIT_SWEEPS):
            twin_stats = tuner.sweep(sweep)
            miss = float(np.nanmax(np.abs(twin_stats - target)[converged_on]))
            log.debug("twin fit sweep %d: largest miss on a fitted mean %.4f", sweep + 1, miss)
            log.debug("  parameters (norm, L[k, 0], L[k, k], τ, κ, γ_noise, η): %s", [
                (k.name, *(round(float(v), 3) for v in (k.norm, k.mix[0], k.mix[i], k.tau,
                                                          k.kappa, k.power, k.noise_skew)))
                for i, k in enumerate(kinds)])  # fmt: skip
            if miss < FIT_TOLERANCE and sweep + 1 >= FIT_MIN_SWEEPS:
                break
    if embedder_sha256 is None:
        from facelab.vision import models

        embedder_sha256 = models.model_sha256("embedder")
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    sim = tuner.sim
    model = TwinModel(
        kinds=tuple(k.name for k in kinds),
        reference=kinds[0].name,
        identity_basis=sim.identity_basis(tuner.identity_power).astype(np.float32),
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
        identity_power=float(tuner.identity_power),
        seed=int(seed),
        n_identities=int(n_identities or len(counts)),
        n_per_identity=int(n_per_identity or counts.max()),
        embedder_sha256=str(embedder_sha256),
    )
    log.info("twin fitted: %s", json.dumps(model.metadata()["params"]))
    return model


def _single_blas_thread():
    """One BLAS thread for the fit's many small products (threads only add overhead there,
    and spin badly on a busy machine); a no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
