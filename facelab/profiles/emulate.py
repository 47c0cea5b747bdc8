"""A system profile driving a real run, and the profile facts the lab and console show.

How a profile drives ``facelab run SCENARIO --system PROFILE`` (embedding mode): the twin
simulates the city, its sightings and the watchlist exactly as without a profile, and the
watchlist search runs on the twin's embeddings. Each candidate's cosine is then carried onto
the profile's own score scale within its class (:mod:`facelab.search.transfer`):

- a non-mated (impostor) comparison by the quantile map of the per-search maximum impostor
  score: a twin search whose top impostor cosine has exceedance ``p`` among non-mated twin
  searches against the run's enrolled watchlist becomes the profile's score whose model FPIR
  at the run's watchlist size is ``p`` (:func:`threshold_at_fpir` on the profile's
  :class:`~facelab.profiles.model.ScoreModel`), per capture condition; the run measures the
  twin's side once the watchlist is enrolled (:mod:`facelab.run.emulated`), so the run's FPIR
  is the profile's at its own watchlist size, up to sampling;
- a mated (genuine) one by the Gaussian-moment map from the twin's genuine distribution (that
  of the default profile, ``sface-synthetic``, the twin's own score model) to the profile's.

The run stores the mapped scores and alerts on the profile's percent scale (``scale.percent``:
NeoFace's 0.60 is 60 %), so alerts, sweep, report and the console work unchanged on them, and
``run.json`` records the profile's name, version and scale (:func:`system_record`) and the
impostor map's knots and tail fit (``system.impostor_map``).

Why this and not a twin re-fitted per profile: a profile publishes operating points, not
embeddings; the score model is what those points determine, and the mapping changes only what
they speak about (how high genuine and impostor scores run on the vendor's scale), leaving to
the twin what it models and the profiles do not (who passes which camera, how often, capture
quality, the correlation of one probe's comparisons, top-k search and the archive).

What it does not do: the twin's capture-quality effects pass through the genuine map (a poor
camera's genuine cosine is low, so is its mapped score) rather than being the profile's own
per-quality figures; the impostor map is matched on the search-level maximum, so the run's
1:1 impostor scores below each search's top (ranks 2–10) follow the twin's shape, not the
profile's; a profile without an operator percent (``scale.percent = "none"``, NIST's latent scale)
cannot drive a run — its figures come from the model (``facelab profile predict``); and
retrospective searches of the archive return the twin's cosines, not mapped scores.
"""

from __future__ import annotations

import numpy as np

from facelab.errors import ConfigError
from facelab.profiles.profile import DEFAULT, Profile, get_profile, shipped
from facelab.search.transfer import ScoreTransfer


def system_record(profile: Profile, points: bool = False) -> dict:
    """What ``run.json`` (``"system"``) records of the profile a run used; with ``points``,
    also its published points (:func:`published_points`) for the report's plots."""
    out = {
        "name": profile.name,
        "version": profile.version,
        "title": profile.title,
        "scale": profile.scale.name,
        "unit": profile.scale.unit,
        "percent": profile.scale.percent,
        "description": profile.scale.description,
    }
    if points:
        out["points"] = published_points(profile)
    return out


def published_points(profile: Profile) -> list[dict]:
    """The profile's published points as plain data: ``name``, ``metric``, ``gallery``,
    ``percent`` (the threshold as the operator's percent; None for a point set by FPIR),
    ``fpir_target``, ``published``, ``lo``, ``hi`` (its Wilson 95 % interval), ``count``,
    ``n``, ``fitted``, ``group`` (None for a point on all searches)."""
    from facelab.lab.metrics import wilson_interval

    out = []
    for p in profile.points:
        lo, hi = wilson_interval(p.count, p.n)
        pct = None if p.threshold is None else profile.scale.to_percent(p.threshold)
        out.append(
            {
                "name": p.name, "metric": p.metric, "gallery": p.gallery, "percent": pct,
                "fpir_target": p.fpir_target, "published": p.published, "lo": float(lo),
                "hi": float(hi), "count": p.count, "n": p.n, "fitted": p.fitted,
                "group": p.group,
            }
        )  # fmt: skip
    return out


def runnable(profile: Profile) -> Profile:
    """``profile`` if it can drive a run (it has an operator percent), else ConfigError."""
    if profile.scale.percent == "none":
        raise ConfigError(
            f"system profile {profile.name!r} has no operator percent (scale.percent = none): "
            f"it cannot drive a run; use `facelab profile predict {profile.name}`"
        )
    return profile


def _moments(profile: Profile, condition: str | None) -> tuple[tuple, tuple]:
    """``((impostor mean, sd), (genuine mean, sd))`` of a condition (its first if unknown)."""
    m = profile.model
    cond = condition if condition in m.genuine else next(iter(m.genuine))
    g = m.genuine[cond]
    imp = (m.impostor_mu + g.impostor_shift * m.impostor_sigma, m.impostor_sigma)
    gen = (m.impostor_mu + g.dprime * m.impostor_sigma, g.spread * m.impostor_sigma)
    return imp, gen


def build_transfer(profile: Profile, camera_quality) -> ScoreTransfer:
    """The score transfer from the twin (``sface-synthetic``) to ``profile``, its impostor map
    still to be built by the run (:meth:`~facelab.search.transfer.ScoreTransfer.with_impostor_map`,
    against the run's enrolled watchlist: :mod:`facelab.run.emulated`).

    Parameters
    ----------
    profile : Profile
        A profile with an operator percent (:func:`runnable`).
    camera_quality : sequence of str
        Each camera's quality name, in camera-index order: a camera uses the condition of that
        name where a profile has one, else the profile's first condition (the twin's side:
        ``sface-synthetic``'s ``good``, the street captures its figures come from).

    Notes
    -----
    The genuine map is the Gaussian-moment map between the two profiles' genuine distributions
    (``_moments``); the impostor map is the quantile map of the per-search maximum impostor
    score onto the profile's FPIR at the run's watchlist size, through
    :func:`threshold_at_fpir` (``profile_threshold``); its slope beyond the knots is that of
    the impostor moments.
    """
    runnable(profile)
    twin = get_profile(DEFAULT)
    rows, conditions = [], []
    for q in camera_quality:
        t_imp, t_gen = _moments(twin, q if q in twin.model.genuine else "good")
        p_imp, p_gen = _moments(profile, q)
        rows.append((t_imp, p_imp, t_gen, p_gen))
        conditions.append(q if q in profile.model.genuine else next(iter(profile.model.genuine)))
    arr = np.array(rows, np.float64).reshape(len(rows), 4, 2)
    model = profile.model
    return ScoreTransfer(
        system_record(profile, points=True),
        impostor_from=arr[:, 0],
        impostor_to=arr[:, 1],
        genuine_from=arr[:, 2],
        genuine_to=arr[:, 3],
        conditions=tuple(conditions),
        profile_threshold=lambda cond, n, p: threshold_at_fpir(model, cond, n, p),
    )


def threshold_at_fpir(model, condition: str, n: int, fpir) -> np.ndarray:
    """The scores ``T`` at which ``model.fpir(n, T, condition)`` equals each of ``fpir``
    (values in (0, 1)); vectorised bisection to 1e-9 impostor spreads (FPIR falls with T)."""
    p = np.asarray(fpir, np.float64)
    lo = np.full(p.shape, model.impostor_mu - 10 * model.impostor_sigma)
    hi = np.full(p.shape, model.impostor_mu + 40 * model.impostor_sigma)
    while np.max(hi - lo) > 1e-9 * model.impostor_sigma:
        mid = 0.5 * (lo + hi)
        above = model.fpir(n, mid, condition) > p
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return 0.5 * (lo + hi)


# -- for the console and the lab -----------------------------------------------------------


def list_profiles() -> list[dict]:
    """Every shipped profile: :func:`system_record` plus ``default``, ``runnable``, ``fitted``,
    ``held_out`` (counts), for a profile selector."""
    out = []
    for name in shipped():
        p = get_profile(name)
        out.append(
            {
                **system_record(p),
                "default": p.default,
                "runnable": p.scale.percent != "none",
                "fitted": len(p.fitted_points),
                "held_out": len(p.held_out),
            }
        )
    return out


def threshold_on_scale(
    name: str, percent: float, gallery: int | None = None, condition: str | None = None
) -> dict:
    """A percent threshold on a profile's own scale, with the model's rates there.

    Returns ``{"profile", "version", "percent", "score", "unit", "meaning", "fmr"}`` and,
    with ``gallery`` (a watchlist size), ``"gallery"``, ``"fpir"`` and ``"tpir"`` (the
    profile's score model at that threshold; ``condition`` as in :func:`build_transfer`).
    ConfigError for an unknown profile or one without an operator percent.
    """
    from facelab.search import percent as pct

    p = runnable(get_profile(name))
    score = float(pct.get_mapping(p.scale.percent).to_cosine(float(percent)))
    m = p.model
    cond = condition if condition in m.genuine else next(iter(m.genuine))
    out = {
        "profile": p.name,
        "version": p.version,
        "percent": float(percent),
        "score": score,
        "unit": p.scale.unit,
        "meaning": p.scale.description,
        "fmr": float(m.fmr(score, cond)),
    }
    if gallery is not None:
        out["gallery"] = int(gallery)
        out["fpir"] = float(m.fpir(int(gallery), score, cond))
        out["tpir"] = float(m.tpir(int(gallery), score, cond))
    return out
