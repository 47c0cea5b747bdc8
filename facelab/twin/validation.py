"""Validation: how close the twin's scores are to image mode's (:func:`compare`).

:func:`compare` draws a twin sample and scores it the way image mode's sample is scored
(sighting vs sighting within a quality, or enrolment photo vs sighting), and reports
two-sample KS statistics and FMR / FNMR at percent thresholds (linear mapping) with their
intervals. Pairs that share a person are not independent, so the image-mode intervals the
twin's rates are checked against are the hull of the Wilson interval and an identity (cluster)
bootstrap interval (:func:`cluster_bootstrap`). :func:`image_rates` scores a second image
sample the same way: the yardstick (two image samples of other people disagree too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facelab.errors import DataError
from facelab.lab import metrics
from facelab.search import percent
from facelab.twin.model import PHOTO, TwinModel
from facelab.twin.pairs import MAX_IMPOSTOR, cross_pairs, dots, moments, within_pairs
from facelab.twin.sampler import TwinSampler

#: Percent thresholds of the comparison table (the "usually 50–80 %" band).
DEFAULT_PERCENTS: tuple[float, ...] = (50.0, 60.0, 70.0, 80.0)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic ``sup |F_a − F_b|`` (numpy only)."""
    a = np.sort(np.asarray(a, np.float64).ravel())
    b = np.sort(np.asarray(b, np.float64).ravel())
    if a.size == 0 or b.size == 0:
        raise DataError("ks_statistic needs two non-empty samples")
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / a.size
    fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.abs(fa - fb).max())


def ks_critical(n: int, m: int, alpha: float = 0.05) -> float:
    """Asymptotic two-sample KS critical value ``c(α) √((n + m) / (n m))`` (independent draws)."""
    c = math.sqrt(-0.5 * math.log(alpha / 2.0))
    return c * math.sqrt((n + m) / (n * m))


@dataclass(frozen=True)
class TwinReport:
    """Twin vs image mode on one kind of comparison.

    Attributes
    ----------
    pairs : what was compared, e.g. ``"good vs good"`` (two camera sightings) or
        ``"photo vs good"`` (an enrolment photo against a camera sighting).
    seed : seed of the twin sample.
    n_image_identities, n_twin_identities : people in each sample.
    n_image_genuine, n_image_impostor, n_twin_genuine, n_twin_impostor : scores compared.
    ks_genuine, ks_impostor : two-sample Kolmogorov–Smirnov statistics, twin vs image.
    ks_genuine_crit, ks_impostor_crit : the 5 % critical values for independent draws (pairs
        sharing a face are not independent, so these are a guide, not a test).
    image_genuine, twin_genuine, image_impostor, twin_impostor : (mean, sd) of the scores.
    percents, thresholds : percent thresholds and their cosines (linear mapping).
    image_fmr, twin_fmr, image_fnmr, twin_fnmr : :class:`facelab.lab.metrics.Rate` per threshold
        (with Wilson 95 % intervals).
    fmr_inside, fnmr_inside : whether the twin's rate lies in the image-mode Wilson interval.
    image_fmr_ci, image_fnmr_ci : (lo, hi) per threshold: the image-mode 95 % interval that
        allows for pairs sharing a person — the hull of the Wilson interval and an identity
        (cluster) bootstrap percentile interval. Wilson intervals treat every pair as an
        independent trial; with many pairs per person they are too narrow, so narrow that two
        image-mode samples of 150 people fall outside each other's intervals at most
        thresholds.
    fmr_inside_clustered, fnmr_inside_clustered : whether the twin's rate lies in those.
    """

    pairs: str
    seed: int
    n_image_identities: int
    n_twin_identities: int
    n_image_genuine: int
    n_image_impostor: int
    n_twin_genuine: int
    n_twin_impostor: int
    ks_genuine: float
    ks_impostor: float
    ks_genuine_crit: float
    ks_impostor_crit: float
    image_genuine: tuple[float, float]
    twin_genuine: tuple[float, float]
    image_impostor: tuple[float, float]
    twin_impostor: tuple[float, float]
    percents: tuple[float, ...]
    thresholds: tuple[float, ...]
    image_fmr: tuple[metrics.Rate, ...]
    twin_fmr: tuple[metrics.Rate, ...]
    image_fnmr: tuple[metrics.Rate, ...]
    twin_fnmr: tuple[metrics.Rate, ...]
    fmr_inside: tuple[bool, ...]
    fnmr_inside: tuple[bool, ...]
    image_fmr_ci: tuple[tuple[float, float], ...]
    image_fnmr_ci: tuple[tuple[float, float], ...]
    fmr_inside_clustered: tuple[bool, ...]
    fnmr_inside_clustered: tuple[bool, ...]

    @property
    def all_inside(self) -> bool:
        """Every twin FMR and FNMR lies inside its image-mode Wilson 95 % interval."""
        return all(self.fmr_inside) and all(self.fnmr_inside)

    @property
    def all_inside_clustered(self) -> bool:
        """Every twin FMR and FNMR lies inside its clustering-aware image-mode interval."""
        return all(self.fmr_inside_clustered) and all(self.fnmr_inside_clustered)

    def inside(self, fmr: Sequence[metrics.Rate], fnmr: Sequence[metrics.Rate]):
        """Whether other rates at :attr:`percents` (e.g. a second image sample's, from
        :func:`image_rates`) lie in this report's clustering-aware image-mode intervals:
        ``(fmr_inside, fnmr_inside)``, tuples of bool. The yardstick for the twin: two image
        samples of other people disagree too."""
        return _within(fmr, self.image_fmr_ci), _within(fnmr, self.image_fnmr_ci)


def _inside(twin_rate: metrics.Rate, image_rate: metrics.Rate) -> bool:
    return bool(image_rate.lo <= twin_rate.value <= image_rate.hi)


def _within(rates: Sequence[metrics.Rate], intervals) -> tuple[bool, ...]:
    """Whether each rate's value lies in its (lo, hi) interval."""
    return tuple(bool(lo <= r.value <= hi) for r, (lo, hi) in zip(rates, intervals, strict=True))


#: Identity-bootstrap replicates of the clustering-aware intervals.
BOOTSTRAP = 400


def image_rates(
    image_emb: np.ndarray,
    image_labels: np.ndarray,
    seed: int,
    *,
    photo_emb: np.ndarray | None = None,
    photo_labels: np.ndarray | None = None,
    percents: Sequence[float] = DEFAULT_PERCENTS,
    max_impostor: int = MAX_IMPOSTOR,
) -> tuple[tuple[metrics.Rate, ...], tuple[metrics.Rate, ...]]:
    """FMR and FNMR of an image sample at ``percents`` (linear mapping), scored the way
    :func:`compare` scores image mode (sighting vs sighting, or photo vs sighting).

    Returns
    -------
    (fmr, fnmr) : one :class:`facelab.lab.metrics.Rate` per percent each.
    """
    g, i, _, _ = _image_scores(image_emb, image_labels, photo_emb, photo_labels, max_impostor, seed)
    rates = metrics.fmr_fnmr(g, i, np.array(_thresholds(percents), np.float64))
    return tuple(r[0] for r in rates), tuple(r[1] for r in rates)


def _thresholds(percents: Sequence[float]) -> list[float]:
    mapping = percent.get_mapping("linear")
    return [mapping.to_cosine(p) for p in percents]


def _image_scores(image_emb, image_labels, photo_emb, photo_labels, max_impostor, seed):
    image_emb = np.asarray(image_emb, np.float32)
    image_labels = np.asarray(image_labels, np.int64)
    if photo_emb is None:
        return _scores(image_emb, image_labels, max_impostor=max_impostor, seed=seed)
    return _scores(np.asarray(photo_emb, np.float32), np.asarray(photo_labels, np.int64),
                   image_emb, image_labels, max_impostor, seed)  # fmt: skip


def _scores(a, la, b=None, lb=None, max_impostor: int = MAX_IMPOSTOR, seed: int = 0):
    """Genuine and impostor scores, with the identities of each pair's two faces."""
    if b is None:
        gi, gj, ii, ij = within_pairs(la, max_impostor, seed)
        b, lb = a, la
    else:
        gi, gj, ii, ij = cross_pairs(la, lb, max_impostor, seed)
    return (
        dots(a, b, gi, gj), dots(a, b, ii, ij),
        (la[gi], lb[gj]), (la[ii], lb[ij]),
    )  # fmt: skip


def cluster_bootstrap(
    hits: np.ndarray, who: tuple[np.ndarray, np.ndarray], seed: int, n_boot: int = BOOTSTRAP
) -> np.ndarray:
    """Identity-bootstrap 95 % percentile intervals of pair rates.

    People are resampled with replacement; a pair of faces of persons (a, b) then counts
    ``w_a · w_b`` times (``w``: how often each person was drawn; a genuine pair, a = b, counts
    ``w_a`` times).

    Parameters
    ----------
    hits : bool (P, T), the event (e.g. score ≥ threshold) per pair and threshold.
    who : two int64 (P,) arrays, the persons of each pair's faces.

    Returns
    -------
    float64 (T, 2): lower and upper bound per threshold.
    """
    a, b = (np.asarray(x, np.int64) for x in who)
    people, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = inv[: len(a)], inv[len(a) :]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 409]))
    draws = rng.integers(0, len(people), size=(n_boot, len(people)))
    w = np.stack([np.bincount(d, minlength=len(people)) for d in draws]).astype(np.float32)
    same = ia == ib
    num = np.zeros((n_boot, hits.shape[1]))
    den = np.zeros(n_boot)
    h = hits.astype(np.float32)
    for s in range(0, len(a), 20000):
        sl = slice(s, s + 20000)
        wp = np.where(same[sl], w[:, ia[sl]], w[:, ia[sl]] * w[:, ib[sl]])
        num += wp @ h[sl]
        den += wp.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = num / den[:, None]
    rates = rates[np.isfinite(rates).all(axis=1)]
    if len(rates) == 0:
        return np.full((hits.shape[1], 2), np.nan)
    return np.quantile(rates, [0.025, 0.975], axis=0).T


def compare(
    model: TwinModel,
    image_emb: np.ndarray,
    image_labels: np.ndarray,
    seed: int,
    quality: str | None = None,
    *,
    photo_emb: np.ndarray | None = None,
    photo_labels: np.ndarray | None = None,
    percents: Sequence[float] = DEFAULT_PERCENTS,
    twin_identities: int | None = None,
    max_impostor: int = MAX_IMPOSTOR,
) -> TwinReport:
    """Compare the twin's genuine and impostor scores with image mode.

    Parameters
    ----------
    model : the twin.
    image_emb, image_labels : float32 (n, 128) and int64 (n,): image-mode faces of ``quality``
        (best from a seed the twin was *not* fitted on).
    seed : seed of the twin sample (its identities are fresh people, ``0..N-1``).
    quality : kind of ``image_emb`` (default: the model's first camera quality).
    photo_emb, photo_labels : optional image-mode enrolment photos of the same people; then the
        comparison is photo vs sighting (what a watchlist search scores), else sighting vs
        sighting within ``quality``.
    percents : percent thresholds (linear mapping, ``facelab.search.percent``).
    twin_identities : people in the twin sample (default: 4 × the image sample, ≥ 400), each
        with as many faces as the image sample's people have at most.
    max_impostor : impostor scores kept per side (seeded uniform subsample beyond).

    Returns
    -------
    TwinReport
    """
    if quality is None:
        quality = next(k for k in model.kinds if k != PHOTO)
    k = model.index(quality)
    image_emb = np.asarray(image_emb, np.float32)
    image_labels = np.asarray(image_labels, np.int64)
    ids, counts = np.unique(image_labels, return_counts=True)
    per = int(counts.max())
    n_twin = int(twin_identities or max(4 * len(ids), 400))
    sampler = TwinSampler(model, seed)
    t_labels = np.repeat(np.arange(n_twin, dtype=np.int64), per)
    t_keys = np.tile(np.arange(per, dtype=np.int64), n_twin)
    if model.kinds[k] == PHOTO:
        t_emb = sampler.photos(t_labels, t_keys)
    else:
        t_emb = sampler.sightings(t_labels, t_keys, quality)
    img_g, img_i, who_g, who_i = _image_scores(
        image_emb, image_labels, photo_emb, photo_labels, max_impostor, seed
    )
    if photo_emb is None:
        tw_g, tw_i, _, _ = _scores(t_emb, t_labels, max_impostor=max_impostor, seed=seed)
        pairs = f"{quality} vs {quality}"
    else:
        t_ids = np.arange(n_twin, dtype=np.int64)
        t_photo = sampler.photos(t_ids, np.zeros(n_twin, np.int64))
        tw_g, tw_i, _, _ = _scores(t_photo, t_ids, t_emb, t_labels, max_impostor, seed)
        pairs = f"{PHOTO} vs {quality}"
    if min(len(img_g), len(img_i), len(tw_g), len(tw_i)) == 0:
        raise DataError(f"compare {pairs}: no genuine or no impostor pairs in a sample")
    thresholds = _thresholds(percents)
    t_arr = np.array(thresholds, np.float64)
    img_rates = metrics.fmr_fnmr(img_g, img_i, t_arr)
    tw_rates = metrics.fmr_fnmr(tw_g, tw_i, t_arr)
    boot_fmr = cluster_bootstrap(img_i.astype(np.float64)[:, None] >= t_arr, who_i, seed)
    boot_fnmr = cluster_bootstrap(img_g.astype(np.float64)[:, None] < t_arr, who_g, seed)

    def hull(rate: metrics.Rate, boot: np.ndarray) -> tuple[float, float]:
        return (float(np.nanmin([rate.lo, boot[0]])), float(np.nanmax([rate.hi, boot[1]])))

    fmr_ci = tuple(hull(r[0], bt) for r, bt in zip(img_rates, boot_fmr, strict=True))
    fnmr_ci = tuple(hull(r[1], bt) for r, bt in zip(img_rates, boot_fnmr, strict=True))
    return TwinReport(
        pairs=pairs, seed=int(seed),
        n_image_identities=len(ids), n_twin_identities=n_twin,
        n_image_genuine=len(img_g), n_image_impostor=len(img_i),
        n_twin_genuine=len(tw_g), n_twin_impostor=len(tw_i),
        ks_genuine=ks_statistic(img_g, tw_g), ks_impostor=ks_statistic(img_i, tw_i),
        ks_genuine_crit=ks_critical(len(img_g), len(tw_g)),
        ks_impostor_crit=ks_critical(len(img_i), len(tw_i)),
        image_genuine=moments(img_g), twin_genuine=moments(tw_g),
        image_impostor=moments(img_i), twin_impostor=moments(tw_i),
        percents=tuple(float(p) for p in percents),
        thresholds=tuple(float(t) for t in thresholds),
        image_fmr=tuple(r[0] for r in img_rates), twin_fmr=tuple(r[0] for r in tw_rates),
        image_fnmr=tuple(r[1] for r in img_rates), twin_fnmr=tuple(r[1] for r in tw_rates),
        fmr_inside=tuple(_inside(t[0], i[0]) for t, i in zip(tw_rates, img_rates, strict=True)),
        fnmr_inside=tuple(_inside(t[1], i[1]) for t, i in zip(tw_rates, img_rates, strict=True)),
        image_fmr_ci=fmr_ci, image_fnmr_ci=fnmr_ci,
        fmr_inside_clustered=_within([r[0] for r in tw_rates], fmr_ci),
        fnmr_inside_clustered=_within([r[1] for r in tw_rates], fnmr_ci),
    )  # fmt: skip
