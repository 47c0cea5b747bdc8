"""Fit a profile's score model to its published points, and check the points it was not fitted to.

The fit maximises the binomial likelihood of the fitted points: a point published as ``k`` of
``n`` contributes ``k log p + (n − k) log(1 − p)`` with ``p`` the model's rate, so a rate
measured on 10^6 searches pulls harder than one measured on 100. Only the parameters named in
the profile's ``model.fit`` move; the model's structure (how FPIR grows with N through ``ρ``,
how TPIR falls with N through the impostor tail) is the same for every point — there is no
per-point term.

Every point, fitted or held out, is then compared with its published value: the published
Wilson 95 % interval (:func:`facelab.lab.metrics.wilson_interval`, from its own ``n``), the
ratio model / published, and a verdict: ``inside`` (the model's rate lies in the interval),
``within 3x`` (outside it, but within a factor 3), or ``miss``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from facelab.lab.metrics import wilson_interval
from facelab.profiles import groups
from facelab.profiles.model import Genuine, ScoreModel
from facelab.profiles.profile import Point, Profile

_EPS = 1e-300


def predict(model: ScoreModel, point: Point) -> float:
    """The model's rate at a point (FPIR, TPIR or FNIR at its gallery size and threshold, of a
    group's searches when it names one; a one-to-one FMR, of a group's comparisons when it names
    one; a group's share of false positives; for an ``imbalance`` point the highest over the
    lowest group's FPIR)."""
    n = point.gallery
    if point.metric == "fmr":
        if point.threshold is None:
            return float(point.fpir_target)  # the threshold is set to give this FMR
        return float(model.fmr(point.threshold, point.condition, point.group))
    if point.metric == "false_share":
        return groups.false_share(model, n, point.threshold, point.group, point.condition)
    if point.metric == "imbalance":
        return groups.imbalance(model, n, point.threshold, point.n, point.condition).ratio
    if point.threshold is not None:
        t = point.threshold
    else:
        if point.metric == "fpir":
            return float(point.fpir_target)
        t = model.threshold_at_fpir(n, point.fpir_target, point.condition)
    if point.metric == "fpir":
        return float(model.fpir(n, t, point.condition, point.group))
    tpir = float(model.tpir(n, t, point.condition))
    return tpir if point.metric == "tpir" else 1.0 - tpir


# -- parameters ------------------------------------------------------------------------------


def get_param(model: ScoreModel, name: str) -> float:
    if name.startswith("groups."):
        _, g, field = name.split(".")
        return getattr(model.groups[g], field)
    if name.startswith("genuine."):
        _, cond, field = name.split(".")
        return getattr(model.genuine[cond], field)
    return getattr(model, name)


def set_params(model: ScoreModel, values: dict[str, float]) -> ScoreModel:
    """A copy of ``model`` with named parameters replaced."""
    top = {k: val for k, val in values.items() if "." not in k}
    genuine, grps = dict(model.genuine), dict(model.groups)
    for k, val in values.items():
        if k.startswith("genuine."):
            _, cond, field = k.split(".")
            genuine[cond] = dataclasses.replace(genuine[cond], **{field: val})
        elif k.startswith("groups."):
            _, g, field = k.split(".")
            grps[g] = dataclasses.replace(grps[g], **{field: val})
    grps = groups.derive(grps)  # shifts tied to others by shift_from follow them
    return dataclasses.replace(model, genuine=genuine, groups=grps, **top)


def _to_free(name: str, x: float) -> float:
    if name == "rho":
        x = min(max(x, 1e-6), 0.98)
        return math.log(x / (1 - x))
    if name.endswith("sigma") or name.endswith("spread"):
        return math.log(x)
    return x


def _from_free(name: str, u: float) -> float:
    if name == "rho":
        return min(1.0 / (1.0 + math.exp(-u)), 0.98)
    if name.endswith("sigma") or name.endswith("spread"):
        return math.exp(min(u, 50.0))
    return u


# -- likelihood and fit ------------------------------------------------------------------------


def neg_log_likelihood(model: ScoreModel, points) -> float:
    """``−Σ [k log p + (n − k) log(1 − p)]`` over ``points``."""
    total = 0.0
    for p in points:
        if p.metric == "imbalance":
            continue  # a verdict, not a count: checked, never fitted
        q = min(max(predict(model, p), _EPS), 1.0 - 1e-16)
        total -= p.count * math.log(q) + (p.n - p.count) * math.log1p(-q)
    return total


@dataclass(frozen=True)
class Residual:
    """A point beside the model's rate."""

    point: Point
    model: float
    lo: float
    hi: float
    ratio: float
    verdict: str  # inside | within 3x | miss


@dataclass(frozen=True)
class FitResult:
    """Fitted parameters, the model, the likelihood and the residuals of every point."""

    params: dict[str, float]
    model: ScoreModel
    nll: float
    residuals: tuple[Residual, ...]

    @property
    def misses(self) -> tuple[Residual, ...]:
        return tuple(r for r in self.residuals if r.verdict == "miss")


def residual(model: ScoreModel, point: Point) -> Residual:
    """Compare the model's rate with a point's published rate and its Wilson 95 % interval.

    An ``imbalance`` point compares verdicts: ``model``, ``lo`` and ``hi`` are the model's
    ratio and its Katz interval at the expected counts, and the verdict is ``inside`` when the
    model's significance (``lo > 1``) is the published one, ``miss`` otherwise."""
    if point.metric == "imbalance":
        im = groups.imbalance(model, point.gallery, point.threshold, point.n, point.condition)
        ok = im.significant == bool(point.significant)
        return Residual(point, im.ratio, im.lo, im.hi, math.nan, "inside" if ok else "miss")
    m = predict(model, point)
    lo, hi = wilson_interval(point.count, point.n)
    pub = point.published
    ratio = m / pub if pub > 0 else math.inf if m > 0 else 1.0
    if lo <= m <= hi:
        verdict = "inside"
    elif pub > 0 and 1 / 3 <= ratio <= 3:
        verdict = "within 3x"
    else:
        verdict = "miss"
    return Residual(point, m, float(lo), float(hi), ratio, verdict)


def residuals(model: ScoreModel, points) -> tuple[Residual, ...]:
    return tuple(residual(model, p) for p in points)


def fit_model(
    model: ScoreModel, names: tuple[str, ...], points, starts: int = 3, seed: int = 0
) -> tuple[ScoreModel, float]:
    """Maximum-likelihood values of parameters ``names`` on ``points`` (Nelder–Mead, restarts).

    Starts from ``model``'s values and ``starts − 1`` perturbations of them (seeded); returns
    the best model and its negative log-likelihood.
    """
    points = tuple(points)
    if not names:
        return model, neg_log_likelihood(model, points)
    u0 = np.array([_to_free(k, get_param(model, k)) for k in names])

    def nll(u: np.ndarray) -> float:
        try:
            m = set_params(model, {k: _from_free(k, x) for k, x in zip(names, u)})
            return neg_log_likelihood(m, points)
        except (ValueError, ZeroDivisionError, OverflowError, FloatingPointError):
            return 1e300

    rng = np.random.default_rng(seed)
    best = None
    for i in range(starts):
        start = u0 if i == 0 else u0 + rng.normal(0.0, 0.5, len(u0))
        res = optimize.minimize(
            nll, start, method="Nelder-Mead",
            options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 3000, "maxfev": 3000},
        )  # fmt: skip
        if best is None or res.fun < best.fun:
            best = res
    fitted = set_params(model, {k: _from_free(k, x) for k, x in zip(names, best.x)})
    return fitted, float(best.fun)


def likelihood_points(profile: Profile) -> tuple[Point, ...]:
    """The fitted points that enter the likelihood: all but ``imbalance`` verdicts, and
    ``false_share`` points only when the profile fits a group parameter (a share informs the
    groups' shifts, and only through the threshold's position the overall scores)."""
    fits_groups = any(k.startswith("groups.") for k in profile.fit)
    return tuple(
        p for p in profile.fitted_points
        if p.metric != "imbalance" and (p.metric != "false_share" or fits_groups)
    )  # fmt: skip


def fit_profile(profile: Profile, starts: int = 3) -> FitResult:
    """Fit ``profile.fit`` to the profile's fitted points (:func:`likelihood_points`);
    residuals for every point."""
    model, nll = fit_model(profile.model, profile.fit, likelihood_points(profile), starts=starts)
    params = {k: get_param(model, k) for k in profile.fit}
    return FitResult(params, model, nll, residuals(model, profile.points))


__all__ = [
    "FitResult", "Genuine", "Residual", "fit_model", "fit_profile", "get_param", "likelihood_points",
    "neg_log_likelihood", "predict", "residual", "residuals", "set_params",
]  # fmt: skip
