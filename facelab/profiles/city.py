"""What a deployed system would mean in a city: a scenario's daily searches under a profile.

``facelab profile city PROFILE --scenario metro --threshold 60`` answers "if this city ran a
system as accurate as the one the profile describes, at this threshold, how many innocent
people would be flagged each day?" without a run: the counts come from the scenario's world,
the rates from the profile's fitted score model.

- **Searches a day**: passes at face-recognition cameras over the scenario's days, divided by
  its days (each pass one face searched: the twin's detection losses are left out, so this
  slightly overcounts); of them *mated*, the passes of watchlisted people.
- **Rates**: FPIR(N, T) and TPIR(N, T) of the profile's model at the scenario's watchlist size
  ``N``, with ``T`` the operator's percent on the profile's scale (``--threshold``) or set so
  that FPIR(N, T) equals a target (``--fpir``, as NIST reports its figures).
- **Figures**: false alerts a day (non-mated searches × FPIR), true alerts a day (mated × TPIR),
  the share of alerts that are false, and review hours a day (alerts × seconds per alert).
  At a given event rate (``--events-per-minute``, the seed articles' "1 million+ events per
  minute") the same rates give the false alerts and review hours a day of that rate, with the
  scenario's share of mated searches (so the share of alerts that are false is the same).
- **95 % intervals**: from the uncertainty of the fit, which honours the published points'
  sample sizes: the free parameters (on the fit's unconstrained scale) are drawn from the
  Laplace approximation ``N(θ̂, H⁻¹)``, ``H`` the Hessian of the binomial negative
  log-likelihood of the fitted points, re-weighted by the likelihood itself (importance
  sampling: the posterior under a flat prior on that scale), and every figure is recomputed
  per draw (seeded); the interval is the weighted 2.5 and 97.5 percentiles. The count of
  searches is the scenario's and carries no interval. An FPIR set by target has no interval
  of its own (it is the target); its FNIR does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from facelab.errors import ConfigError
from facelab.lab.metrics import SECONDS_PER_CANDIDATE
from facelab.profiles.fit import (
    _from_free,
    _to_free,
    get_param,
    likelihood_points,
    neg_log_likelihood,
    set_params,
)  # fmt: skip
from facelab.profiles.model import ScoreModel
from facelab.profiles.profile import Profile

DRAWS = 1000
SEED_EVENTS_PER_MINUTE = 1_000_000


@dataclass(frozen=True)
class CityCounts:
    """A scenario's daily searches: ``searches`` (all), ``mated`` (of watchlisted people),
    ``watchlist`` (N), ``fr_cameras``, ``days`` (they are averaged over); ``innocent_days``
    and ``wanted_days``: how many person-days had ``k`` passes at FR cameras (``{k: count}``,
    people not on the watchlist and on it), for distinct people stopped or missed a day."""

    scenario: str
    searches: float
    mated: float
    watchlist: int
    fr_cameras: int
    days: int
    innocent_days: dict[int, int] = field(default_factory=dict)
    wanted_days: dict[int, int] = field(default_factory=dict)


def city_counts(scenario) -> CityCounts:
    """Searches a day at the scenario's face-recognition cameras (a Scenario or its name)."""
    from facelab.world.world import build_world

    if isinstance(scenario, str):
        from facelab.config.scenario import load_scenario

        scenario = load_scenario(scenario)
    w = build_world(scenario)
    p = w.passes[w.camera_is_fr[w.passes["camera"]]]
    mated = int(w.watchlisted[p["person"]].sum())
    keys, per_day = np.unique(
        p["day"].astype(np.int64) * w.n_people + p["person"], return_counts=True
    )  # one entry per person-day at FR cameras, with its passes
    wanted = w.watchlisted[keys % w.n_people]

    def hist(k: np.ndarray) -> dict[int, int]:
        ks, c = np.unique(k, return_counts=True)
        return {int(a): int(b) for a, b in zip(ks, c)}

    return CityCounts(
        scenario.name, len(p) / scenario.days, mated / scenario.days, scenario.watchlist.size,
        int(w.camera_is_fr.sum()), scenario.days, hist(per_day[~wanted]), hist(per_day[wanted]),
    )  # fmt: skip


def _hessian(f, u: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``u`` (steps ``h``)."""
    k = len(u)
    h = 1e-3 * np.maximum(np.abs(u), 1.0) if h is None else h
    out = np.empty((k, k))
    f0 = f(u)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                e = np.zeros(k)
                e[i] = h[i]
                out[i, i] = (f(u + e) - 2 * f0 + f(u - e)) / h[i] ** 2
            else:
                ei, ej = np.zeros(k), np.zeros(k)
                ei[i], ej[j] = h[i], h[j]
                out[i, j] = out[j, i] = (
                    f(u + ei + ej) - f(u + ei - ej) - f(u - ei + ej) + f(u - ei - ej)
                ) / (4 * h[i] * h[j])
    return out


def _covariance(nll, u0: np.ndarray) -> np.ndarray:
    """``H⁻¹`` at the optimum. A first Hessian gives the curvature's axes; the second is taken
    along them, in steps of a tenth of a standard deviation, so that a direction thousands of
    times flatter than the others (two thresholds 0.02 apart tell mean from spread only
    loosely) is measured as accurately as the steep ones."""
    vals, vecs = np.linalg.eigh(_hessian(nll, u0))
    a = vecs / np.sqrt(np.maximum(np.abs(vals), 1e-12))  # u = u0 + a v: v roughly white

    def g(v: np.ndarray) -> float:
        return nll(u0 + a @ v)

    hv = _hessian(g, np.zeros(len(u0)), np.full(len(u0), 0.1))
    wv, qv = np.linalg.eigh((hv + hv.T) / 2)
    wv = np.maximum(wv, 1e-6 * max(wv.max(), 1e-12))  # a flat direction: wide, not NaN
    return a @ ((qv / wv) @ qv.T) @ a.T


def parameter_draws(
    profile: Profile, draws: int = DRAWS, seed: int = 0
) -> tuple[list[ScoreModel], np.ndarray]:
    """Models drawn from the fit's posterior, and their weights (the stored model first,
    weight 0).

    The draws come from the Laplace approximation ``N(θ̂, H⁻¹)`` on the fit's unconstrained
    scale and are re-weighted by ``exp(−NLL) / q`` (self-normalised importance sampling, flat
    prior on that scale), so that a draw the published points rule out counts for nothing
    even where the likelihood is far from Gaussian.
    """
    names = profile.fit
    if not names:
        return [profile.model], np.array([1.0])
    u0 = np.array([_to_free(k, get_param(profile.model, k)) for k in names])
    points = likelihood_points(profile)

    def model(u: np.ndarray) -> ScoreModel:
        return set_params(profile.model, {k: _from_free(k, x) for k, x in zip(names, u)})

    def nll(u: np.ndarray) -> float:
        return neg_log_likelihood(model(u), points)

    cov = _covariance(nll, u0)
    prec = np.linalg.inv(cov)
    rng = np.random.default_rng(seed)
    us = rng.multivariate_normal(u0, cov, size=draws, method="eigh")
    models, logw = [profile.model], [-np.inf]
    base = nll(u0)
    for u in us:
        try:
            m = model(u)
            lw = -(neg_log_likelihood(m, points) - base) + 0.5 * (u - u0) @ prec @ (u - u0)
        except ConfigError:  # a draw outside the model's domain (e.g. rho >= 1): dropped
            continue
        models.append(m)
        logw.append(lw)
    lw = np.array(logw)
    w = np.exp(lw - lw[1:].max())
    w[0] = 0.0
    return models, w / w.sum()


def weighted_interval(x: np.ndarray, w: np.ndarray, q=(0.025, 0.975)) -> tuple[float, float]:
    """Weighted quantiles ``q`` of ``x`` (NaN values dropped)."""
    ok = np.isfinite(x) & (w > 0)
    if not ok.any():
        return math.nan, math.nan
    order = np.argsort(x[ok])
    xs, cw = x[ok][order], np.cumsum(w[ok][order])
    cw = cw / cw[-1]
    return tuple(float(xs[min(np.searchsorted(cw, p), len(xs) - 1)]) for p in q)


def _rates(m: ScoreModel, n: int, cond: str, threshold: float | None, fpir: float | None):
    t = threshold if threshold is not None else m.threshold_at_fpir(n, fpir, cond)
    return float(m.fpir(n, t, cond)), float(m.tpir(n, t, cond)), float(t)


def city_figures(
    profile: Profile,
    counts: CityCounts,
    *,
    percent: float | None = None,
    fpir: float | None = None,
    condition: str | None = None,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
    events_per_minute: float = SEED_EVENTS_PER_MINUTE,
    draws: int = DRAWS,
    seed: int = 0,
    shares: dict[str, float] | None = None,
    review=None,
    group_map: str | None = None,
) -> dict:
    """The city's daily figures under ``profile``, each ``{"value", "lo", "hi"}``.

    Give exactly one of ``percent`` (the operator's threshold on the profile's percent scale)
    and ``fpir`` (a target FPIR, the threshold set per the watchlist size). With ``shares``
    (scenario group → share) and ``review`` (a :class:`~facelab.config.sections.ReviewSpec`),
    ``"by_group"`` holds the figures per group and the reviewer's stops
    (:func:`facelab.profiles.city_groups.group_figures`, through ``group_map``).

    Raises
    ------
    ConfigError
        Neither or both of ``percent`` and ``fpir``; a percent on a profile without one.
    """
    from facelab.search import percent as pct

    if (percent is None) == (fpir is None):
        raise ConfigError("give exactly one of a threshold (percent) and a target FPIR")
    threshold = None
    if percent is not None:
        if profile.scale.percent == "none":
            raise ConfigError(
                f"profile {profile.name!r} has no operator percent; set the threshold by --fpir"
            )
        threshold = float(pct.get_mapping(profile.scale.percent).to_cosine(float(percent)))
    if fpir is not None and not 0 < fpir < 1:
        raise ConfigError(f"--fpir must be in (0, 1), got {fpir}")
    cond = condition or next(iter(profile.model.genuine))
    profile.model.condition(cond)
    n = counts.watchlist
    non_mated = counts.searches - counts.mated
    mated_share = counts.mated / counts.searches if counts.searches else 0.0
    per_day_at_rate = events_per_minute * 60 * 24
    rows = []
    models, weights = parameter_draws(profile, draws, seed)
    for m in models:
        f, t, thr = _rates(m, n, cond, threshold, fpir)
        fa, ta = non_mated * f, counts.mated * t
        alerts = fa + ta
        at_rate = per_day_at_rate * ((1 - mated_share) * f + mated_share * t)
        rows.append(
            (f, 1 - t, thr, fa, ta, fa / alerts if alerts > 0 else math.nan,
             alerts * seconds_per_candidate / 3600, per_day_at_rate * (1 - mated_share) * f,
             at_rate * seconds_per_candidate / 3600)
        )  # fmt: skip
    arr = np.array(rows)
    names = ("fpir", "fnir", "threshold", "false_alerts_per_day", "true_alerts_per_day",
             "false_share", "review_hours_per_day", "false_alerts_per_day_at_rate",
             "review_hours_per_day_at_rate")  # fmt: skip
    figures = {}
    for i, k in enumerate(names):
        lo, hi = weighted_interval(arr[:, i], weights)
        figures[k] = {"value": float(arr[0, i]), "lo": lo, "hi": hi}
    if fpir is not None:
        figures["fpir"] = {"value": fpir, "lo": fpir, "hi": fpir}
    by_group = None
    if shares:
        from facelab.config.sections import ReviewSpec
        from facelab.profiles.city_groups import group_figures

        by_group = group_figures(
            profile, counts, models, weights, arr[:, 2], cond, shares,
            review or ReviewSpec(), group_map,
        )  # fmt: skip
    return {
        "profile": profile.name,
        "version": profile.version,
        "scenario": counts.scenario,
        "condition": cond,
        "percent": percent,
        "fpir_target": fpir,
        "watchlist": n,
        "searches_per_day": counts.searches,
        "mated_per_day": counts.mated,
        "fr_cameras": counts.fr_cameras,
        "days": counts.days,
        "seconds_per_candidate": seconds_per_candidate,
        "events_per_minute": events_per_minute,
        "draws": len(arr) - 1,
        "effective_draws": float(1.0 / np.sum(weights**2)),
        "seed": seed,
        "figures": figures,
        "by_group": by_group,
    }
