"""Error rates of 1:1 comparison and 1:N search, with counts and 95 % intervals.

Definitions follow ISO/IEC 19795-1 as NIST FRTE uses them. Score ≥ threshold is a match,
everywhere (ties match):

- ``FMR(T)``  = impostor comparisons with score ≥ T / impostor comparisons.
- ``FNMR(T)`` = genuine comparisons with score < T / genuine comparisons.
- ``FPIR(N, T)`` = non-mated searches whose top candidate scores ≥ T / non-mated searches.
- ``FNIR(N, R, T)`` = mated searches whose mate is not among the first R candidates with a
  score ≥ T / mated searches.
- Transaction level (:func:`pass_fpir`, :func:`pass_fnir`): the same per *pass* of a person at
  a face-recognition camera, a pass with no search (failure to acquire) counting as a
  non-alert / a miss.

A score of ``-inf`` means "no score" (a padded, missing candidate; a mate not returned within
the rank; a target never scored) and never counts as a match, not even at ``T = -inf``.

Every rate is a :class:`Rate`: count, total, value and a Wilson 95 % interval. The operational
figures people actually feel (share of alerts that are false, false alerts per camera-day,
candidates a human must review) come from :func:`operational_figures`.

All rates are computed with :func:`numpy.searchsorted` on sorted scores, so a sweep over many
thresholds costs one sort plus ``O(m log n)``; 10^6+ scores are fine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from facelab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Two-sided 95 % normal quantile used for every interval.
Z95 = 1.959964

#: Default human review time per candidate shown to an operator, in seconds.
SECONDS_PER_CANDIDATE = 10.0


# ---------------------------------------------------------------------------------------------
# Intervals and the Rate record


def wilson_interval(
    k: np.ndarray | int, n: np.ndarray | int, z: float = Z95
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Wilson score interval for a binomial proportion ``k / n``.

    Parameters
    ----------
    k, n : array_like of int
        Successes and trials, broadcastable to one shape; ``0 <= k <= n``.
    z : float
        Normal quantile (1.959964 for 95 %).

    Returns
    -------
    (lo, hi)
        float64 arrays of the broadcast shape, or Python floats for scalar input. ``(nan,
        nan)`` where ``n == 0``; ``lo == 0`` exactly when ``k == 0`` and ``hi == 1`` exactly
        when ``k == n``.

    Raises
    ------
    DataError
        If some ``k < 0``, ``k > n`` or ``n < 0``.
    """
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k, np.float64), np.asarray(n, np.float64))
    if ((k_arr < 0) | (k_arr > n_arr) | (n_arr < 0)).any():
        raise DataError("wilson_interval needs 0 <= k <= n")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_arr / n_arr
        z2 = z * z
        denom = 1.0 + z2 / n_arr
        centre = (p + z2 / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z2 / (4.0 * n_arr * n_arr)) / denom
        lo = np.clip(centre - half, 0.0, 1.0)
        hi = np.clip(centre + half, 0.0, 1.0)
    lo = np.where(k_arr == 0, 0.0, lo)
    hi = np.where(k_arr == n_arr, 1.0, hi)
    empty = n_arr == 0
    lo = np.where(empty, np.nan, lo)
    hi = np.where(empty, np.nan, hi)
    if scalar:
        return float(lo), float(hi)
    return lo, hi


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if x == 0 or abs(x) >= 1e-3:
        return f"{x:.4f}"
    return f"{x:.2e}"


@dataclass(frozen=True)
class Rate:
    """An error rate with its evidence.

    Attributes
    ----------
    count : int
        Events (e.g. impostor comparisons ≥ T).
    total : int
        Trials (e.g. impostor comparisons).
    value : float
        ``count / total``; NaN when ``total == 0``.
    lo, hi : float
        Wilson 95 % interval; NaN when ``total == 0``.
    """

    count: int
    total: int
    value: float
    lo: float
    hi: float

    @classmethod
    def of(cls, count: int, total: int) -> Rate:
        """Build a Rate from a count and a total (value and 95 % interval computed)."""
        lo, hi = wilson_interval(int(count), int(total))
        value = count / total if total else math.nan
        return cls(int(count), int(total), float(value), float(lo), float(hi))

    def __str__(self) -> str:
        return (
            f"{_fmt(self.value)} ({self.count}/{self.total}, "
            f"95% CI {_fmt(self.lo)}–{_fmt(self.hi)})"
        )


def _rates(counts: np.ndarray, total: int) -> list[Rate]:
    """Vectorised :meth:`Rate.of` for ``(m,)`` counts over one total."""
    counts = np.asarray(counts, dtype=np.int64)
    lo, hi = wilson_interval(counts, np.full(counts.shape, total))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = counts / total if total else np.full(counts.shape, np.nan)
    return [
        Rate(int(c), int(total), float(v), float(a), float(b))
        for c, v, a, b in zip(counts, values, lo, hi, strict=True)
    ]


# ---------------------------------------------------------------------------------------------
# Input validation and counting


def _scores(name: str, x: Any) -> np.ndarray:
    """Return ``x`` as a ``(n,)`` float64 array, or raise DataError naming ``name``."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise DataError(f"{name} contains NaN ({n_nan} of {arr.size} values)")
    return arr


def _bools(name: str, x: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise DataError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iu" or ((arr != 0) & (arr != 1)).any():
            raise DataError(f"{name} must be boolean, got dtype {arr.dtype}")
        arr = arr.astype(bool)
    if n is not None and arr.size != n:
        raise DataError(f"{name} has {arr.size} entries, expected {n}")
    return arr


def _thresholds(thresholds: Any) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if t.ndim != 1:
        raise DataError(f"thresholds must be a scalar or 1-D, got shape {t.shape}")
    if np.isnan(t).any():
        raise DataError("thresholds contain NaN")
    return t


def _count_ge(sorted_scores: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(m,)`` int64: how many of the ascending ``sorted_scores`` are ≥ each threshold.

    ``-inf`` means "no score" (a missing candidate, a mate not returned) and never counts as a
    match, not even at ``T = -inf``.
    """
    n_missing = np.searchsorted(sorted_scores, -np.inf, side="right")
    ge = sorted_scores.size - np.searchsorted(sorted_scores, t, side="left")
    return np.minimum(ge, sorted_scores.size - n_missing)


def _count_lt(sorted_scores: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``(m,)`` int64: how many of the ascending ``sorted_scores`` are not ≥ each threshold."""
    return sorted_scores.size - _count_ge(sorted_scores, t)


# ---------------------------------------------------------------------------------------------
# 1:1 comparison


def fmr_fnmr(
    genuine: np.ndarray, impostor: np.ndarray, thresholds: np.ndarray | float
) -> list[tuple[Rate, Rate]]:
    """False match and false non-match rates at each threshold.

    Parameters
    ----------
    genuine : np.ndarray
        ``(g,)`` float scores of same-identity comparisons.
    impostor : np.ndarray
        ``(i,)`` float scores of different-identity comparisons.
    thresholds : array_like
        ``(m,)`` float cosine thresholds (a scalar counts as one).

    Returns
    -------
    list of (Rate, Rate)
        ``(FMR, FNMR)`` per threshold, in the order given. FMR counts impostors ≥ T,
        FNMR counts genuines < T.

    Raises
    ------
    DataError
        NaN in any array, or an array that is not 1-D.
    """
    gen = np.sort(_scores("genuine", genuine))
    imp = np.sort(_scores("impostor", impostor))
    t = _thresholds(thresholds)
    fmr = _rates(_count_ge(imp, t), imp.size)
    fnmr = _rates(_count_lt(gen, t), gen.size)
    return list(zip(fmr, fnmr, strict=True))


# ---------------------------------------------------------------------------------------------
# 1:N search


@dataclass(frozen=True)
class SearchScores:
    """Candidate lists of ``n`` 1:N searches, each cut to ``k`` candidates.

    Attributes
    ----------
    scores : np.ndarray
        ``(n, k)`` float32 or float64; candidate scores sorted descending within each row,
        missing candidates padded with ``-inf``. No NaN.
    is_mate : np.ndarray
        ``(n, k)`` bool; True where the candidate is the searched subject's true mate (never on
        a ``-inf`` padding slot).
    mated : np.ndarray
        ``(n,)`` bool; True where the searched subject is enrolled in the gallery. A row with a
        mate candidate must be mated.
    camera : np.ndarray, optional
        ``(n,)`` str or int camera (or camera kind) of each search, for breakdowns.
    quality : np.ndarray, optional
        ``(n,)`` quality value or bin of each search's probe, for breakdowns.

    Raises
    ------
    DataError
        On NaN scores, wrong shapes or dtypes, unsorted rows, or a mate in a non-mated search.
    """

    scores: np.ndarray
    is_mate: np.ndarray
    mated: np.ndarray
    camera: np.ndarray | None = None
    quality: np.ndarray | None = None

    def __post_init__(self) -> None:
        scores = np.asarray(self.scores)
        if scores.ndim != 2:
            raise DataError(f"scores must be 2-D (n, k), got shape {scores.shape}")
        if scores.dtype.kind != "f":
            scores = scores.astype(np.float64)
        if np.isnan(scores).any():
            raise DataError(f"scores contains NaN ({int(np.isnan(scores).sum())} values)")
        if scores.shape[1] > 1 and (scores[:, 1:] > scores[:, :-1]).any():
            raise DataError("scores must be sorted descending within each search (row)")
        is_mate = np.asarray(self.is_mate)
        if is_mate.shape != scores.shape:
            raise DataError(f"is_mate has shape {is_mate.shape}, expected {scores.shape}")
        if is_mate.dtype != np.bool_:
            raise DataError(f"is_mate must be boolean, got dtype {is_mate.dtype}")
        if (is_mate & np.isneginf(scores)).any():
            raise DataError("is_mate marks a padded (-inf) candidate as a mate")
        n = scores.shape[0]
        mated = _bools("mated", self.mated, n)
        if (is_mate.any(axis=1) & ~mated).any():
            raise DataError("is_mate marks a mate in a search whose subject is not enrolled")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "is_mate", is_mate)
        object.__setattr__(self, "mated", mated)
        for name in ("camera", "quality"):
            value = getattr(self, name)
            if value is not None:
                arr = np.asarray(value)
                if arr.shape != (n,):
                    raise DataError(f"{name} has shape {arr.shape}, expected ({n},)")
                object.__setattr__(self, name, arr)

    @property
    def n_searches(self) -> int:
        """Number of searches ``n``."""
        return int(self.scores.shape[0])

    def subset(self, mask: np.ndarray) -> SearchScores:
        """The searches selected by a ``(n,)`` bool mask (or an index array)."""
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return SearchScores(
            self.scores[mask],
            self.is_mate[mask],
            self.mated[mask],
            pick(self.camera),
            pick(self.quality),
        )


def _check_rank(rank: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or rank < 1:
        raise ConfigError(f"rank must be an integer >= 1, got {rank!r}")
    return int(rank)


def mated_scores(s: SearchScores, rank: int = 1) -> np.ndarray:
    """Best mate score within the first ``rank`` candidates of each mated search.

    Returns
    -------
    np.ndarray
        ``(n_mated,)`` float64; ``-inf`` where the mate is not within rank ``rank``.
    """
    r = _check_rank(rank)
    sc = s.scores[s.mated, :r].astype(np.float64, copy=False)
    hit = s.is_mate[s.mated, :r]
    if sc.shape[1] == 0:
        return np.full(sc.shape[0], -np.inf)
    return np.where(hit, sc, -np.inf).max(axis=1)


def nonmated_scores(s: SearchScores) -> np.ndarray:
    """Top candidate score of each non-mated search.

    Returns
    -------
    np.ndarray
        ``(n_nonmated,)`` float64; ``-inf`` for a search with no candidate.
    """
    sc = s.scores[~s.mated]
    if sc.shape[1] == 0:
        return np.full(sc.shape[0], -np.inf)
    return sc[:, 0].astype(np.float64)


def fpir(s: SearchScores, thresholds: np.ndarray | float) -> list[Rate]:
    """False positive identification rate per threshold.

    Non-mated searches whose top candidate scores ≥ T, over non-mated searches.

    Returns
    -------
    list of Rate
        One per threshold, in the order given.
    """
    top = np.sort(nonmated_scores(s))
    return _rates(_count_ge(top, _thresholds(thresholds)), top.size)


def fnir(s: SearchScores, thresholds: np.ndarray | float, rank: int = 1) -> list[Rate]:
    """False negative identification rate per threshold.

    Mated searches whose mate is not among the first ``rank`` candidates with score ≥ T,
    over mated searches.

    Returns
    -------
    list of Rate
        One per threshold, in the order given.

    Raises
    ------
    ConfigError
        If ``rank`` is not an integer ≥ 1.
    """
    best = np.sort(mated_scores(s, rank))
    return _rates(_count_lt(best, _thresholds(thresholds)), best.size)


def _best_per_pass(value: np.ndarray, search_pass: np.ndarray, passes: np.ndarray) -> np.ndarray:
    """Max of ``value`` (one per search) over the searches of each pass; ``-inf`` for none."""
    passes = np.asarray(passes, np.int64).reshape(-1)
    search_pass = np.asarray(search_pass, np.int64).reshape(-1)
    if search_pass.shape != value.shape:
        raise DataError(f"search_pass has shape {search_pass.shape}, expected {value.shape}")
    order = np.argsort(passes, kind="stable")
    sorted_passes = passes[order]
    pos = np.searchsorted(sorted_passes, search_pass)
    pos = np.minimum(pos, max(len(passes) - 1, 0))
    hit = (sorted_passes[pos] == search_pass) if len(passes) else np.zeros(len(value), bool)
    best = np.full(len(passes), -np.inf)
    np.maximum.at(best, order[pos[hit]], value[hit])
    return best


def pass_fpir(
    s: SearchScores, search_pass: np.ndarray, passes: np.ndarray, thresholds: np.ndarray | float
) -> list[Rate]:
    """Transaction-level (per pass) false positive identification rate per threshold.

    Non-mated passes (people not on the watchlist passing a face-recognition camera) with at
    least one search whose top candidate scores ≥ T, over non-mated passes. A pass no search
    came from (a failure to acquire) counts as a non-alert.

    Parameters
    ----------
    s : SearchScores
    search_pass : np.ndarray
        ``(n,)`` int; the pass each search came from (a value in no pass: none).
    passes : np.ndarray
        ``(p,)`` int; ids of the non-mated passes (the denominator).
    thresholds : array_like

    Returns
    -------
    list of Rate
        One per threshold, in the order given.
    """
    top = s.scores[:, 0].astype(np.float64) if s.scores.shape[1] else np.full(s.n_searches, -np.inf)
    best = np.sort(_best_per_pass(top, search_pass, passes))
    return _rates(_count_ge(best, _thresholds(thresholds)), best.size)


def pass_fnir(
    s: SearchScores,
    search_pass: np.ndarray,
    passes: np.ndarray,
    thresholds: np.ndarray | float,
    rank: int = 1,
) -> list[Rate]:
    """Transaction-level (per pass) false negative identification rate per threshold.

    Mated passes (watchlisted people passing a face-recognition camera) none of whose searches
    has the mate among the first ``rank`` candidates with score ≥ T, over mated passes. A pass
    no search came from (a failure to acquire) counts as a miss (ISO/IEC 19795-1).

    Parameters
    ----------
    s : SearchScores
    search_pass : np.ndarray
        ``(n,)`` int; the pass each search came from (a value in no pass: none).
    passes : np.ndarray
        ``(p,)`` int; ids of the mated passes (the denominator).
    thresholds : array_like
    rank : int

    Returns
    -------
    list of Rate
        One per threshold, in the order given.
    """
    r = _check_rank(rank)
    hit = s.is_mate[:, :r] & s.mated[:, None]
    sc = np.where(hit, s.scores[:, :r], -np.inf).max(axis=1, initial=-np.inf)
    best = np.sort(_best_per_pass(sc, search_pass, passes))
    return _rates(_count_lt(best, _thresholds(thresholds)), best.size)


# ---------------------------------------------------------------------------------------------
# DET and EER


def _sorted_pair(positive, negative, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Both score arrays validated and sorted; DataError if either is empty."""
    pos = np.sort(_scores("positive", positive))
    neg = np.sort(_scores("negative", negative))
    if pos.size == 0 or neg.size == 0:
        raise DataError(f"{what} needs at least one positive and one negative score")
    return pos, neg


def det_curve(
    positive: np.ndarray, negative: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detection error trade-off over every distinct score value.

    Parameters
    ----------
    positive : np.ndarray
        ``(g,)`` genuine scores (1:1) or :func:`mated_scores` (1:N).
    negative : np.ndarray
        ``(i,)`` impostor scores (1:1) or :func:`nonmated_scores` (1:N).

    Returns
    -------
    thresholds, fmr, fnmr : np.ndarray
        ``(d,)`` float64 each: the distinct values of both arrays ascending, the fraction of
        negatives ≥ each (FMR / FPIR) and the fraction of positives < each (FNMR / FNIR).

    Raises
    ------
    DataError
        NaN, or an empty array.
    """
    pos, neg = _sorted_pair(positive, negative, "det_curve")
    t = np.unique(np.concatenate([pos, neg]))
    return t, _count_ge(neg, t) / neg.size, _count_lt(pos, t) / pos.size


def eer(positive: np.ndarray, negative: np.ndarray) -> tuple[float, float]:
    """Equal error rate and the threshold where it is reached.

    The DET is evaluated at every distinct score and at ``+inf``; the lowest threshold where
    ``|FMR - FNMR|`` is smallest is chosen, and the EER reported as the mean of FMR and FNMR
    there.

    Parameters
    ----------
    positive, negative : np.ndarray
        As for :func:`det_curve`.

    Returns
    -------
    (eer, threshold) : (float, float)

    Raises
    ------
    DataError
        NaN, or an empty array.
    """
    pos, neg = _sorted_pair(positive, negative, "eer")
    t = np.append(np.unique(np.concatenate([pos, neg])), np.inf)
    fmr = _count_ge(neg, t) / neg.size
    fnmr = _count_lt(pos, t) / pos.size
    i = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[i] + fnmr[i]) / 2.0), float(t[i])


# ---------------------------------------------------------------------------------------------
# Operational figures


@dataclass(frozen=True)
class OperationalFigures:
    """What a deployment feels at one threshold.

    Attributes
    ----------
    threshold : float
        Cosine threshold (alerts are candidates with score ≥ threshold).
    alerts, true_alerts, false_alerts : int
        Alerts raised, those naming the sighting's true identity, and the rest.
    false_alert_share : Rate
        ``false_alerts / alerts`` (the South Wales "92 % of alerts were false" figure).
    false_alerts_per_camera_day : float
        NaN when ``camera_days == 0``.
    candidates_per_search : float
        Alerts a human must look at per search; NaN when ``n_searches == 0``.
    review_hours : float
        ``alerts × seconds_per_candidate / 3600``.
    """

    threshold: float
    alerts: int
    true_alerts: int
    false_alerts: int
    false_alert_share: Rate
    false_alerts_per_camera_day: float
    candidates_per_search: float
    review_hours: float


def operational_figures(
    alert_true: np.ndarray,
    alert_score: np.ndarray,
    n_searches: int,
    camera_days: int,
    thresholds: np.ndarray | float,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
) -> list[OperationalFigures]:
    """Alerts, false alerts and review load at each threshold.

    Parameters
    ----------
    alert_true : np.ndarray
        ``(m,)`` bool; whether each potential alert's candidate is the sighting's true identity.
    alert_score : np.ndarray
        ``(m,)`` float; each potential alert's score. An alert is raised at T when score ≥ T,
        so pass every candidate scored at the lowest threshold of interest.
    n_searches : int
        Searches (sightings searched against the watchlist) behind the alerts.
    camera_days : int
        Cameras × days of operation behind the alerts.
    thresholds : array_like
        ``(t,)`` cosine thresholds.
    seconds_per_candidate : float
        Human review time per alert.

    Returns
    -------
    list of OperationalFigures
        One per threshold, in the order given.

    Raises
    ------
    DataError
        NaN scores, mismatched lengths, or negative counts.
    """
    score = _scores("alert_score", alert_score)
    true = _bools("alert_true", alert_true, score.size)
    if int(n_searches) < 0 or int(camera_days) < 0 or float(seconds_per_candidate) < 0:
        raise DataError("n_searches, camera_days and seconds_per_candidate must be >= 0")
    t = _thresholds(thresholds)
    alerts = _count_ge(np.sort(score), t)
    true_alerts = _count_ge(np.sort(score[true]), t)
    false_alerts = alerts - true_alerts
    out = []
    for i, thr in enumerate(t):
        a, f = int(alerts[i]), int(false_alerts[i])
        out.append(
            OperationalFigures(
                threshold=float(thr),
                alerts=a,
                true_alerts=int(true_alerts[i]),
                false_alerts=f,
                false_alert_share=Rate.of(f, a),
                false_alerts_per_camera_day=f / camera_days if camera_days else math.nan,
                candidates_per_search=a / n_searches if n_searches else math.nan,
                review_hours=a * float(seconds_per_candidate) / 3600.0,
            )
        )
    return out


def targets_found(best_true_score: np.ndarray, thresholds: np.ndarray | float) -> list[Rate]:
    """Fraction of watchlist targets with at least one true alert at each threshold.

    Parameters
    ----------
    best_true_score : np.ndarray
        ``(n_targets,)`` float; each target's best score on a sighting of that target
        (``-inf`` if never scored).

    Returns
    -------
    list of Rate
        Targets with best true score ≥ T, over targets; one per threshold.
    """
    best = np.sort(_scores("best_true_score", best_true_score))
    return _rates(_count_ge(best, _thresholds(thresholds)), best.size)


# ---------------------------------------------------------------------------------------------
# Breakdowns


def breakdown(
    func: Callable[..., Any],
    key: np.ndarray | tuple[np.ndarray, ...],
    data: Any,
    thresholds: np.ndarray | float,
    **kwargs: Any,
) -> dict[Any, Any]:
    """Apply a rate function to each group of items sharing a key value.

    Parameters
    ----------
    func : callable
        A rate function called as ``func(*subsets, thresholds, **kwargs)``, e.g. :func:`fpir`,
        :func:`fnir`, :func:`fmr_fnmr`, :func:`targets_found`.
    key : np.ndarray or tuple of np.ndarray
        ``(n,)`` group labels (camera kind, quality bin) aligned with ``data``; or one key array
        per element of ``data`` when the arrays differ in length (genuine vs impostor).
    data : SearchScores, np.ndarray, or tuple of these
        The function's data arguments; each is cut to the group (``SearchScores.subset`` or
        boolean indexing).
    thresholds : array_like
        Passed to ``func``.
    **kwargs
        Passed to ``func`` (e.g. ``rank=5``).

    Returns
    -------
    dict
        Key value (as a Python scalar, sorted) → ``func``'s result for that group. A group
        absent from one of several arrays gets an empty array there (NaN rates).

    Raises
    ------
    DataError
        If a key's length differs from its data's.
    """
    items = data if isinstance(data, tuple) else (data,)
    keys = key if isinstance(key, tuple) else (key,) * len(items)
    if len(keys) != len(items):
        raise DataError(f"breakdown got {len(keys)} key arrays for {len(items)} data arguments")
    keys = tuple(np.asarray(k) for k in keys)
    for k, item in zip(keys, items, strict=True):
        n = item.n_searches if isinstance(item, SearchScores) else len(item)
        if k.shape != (n,):
            raise DataError(f"breakdown key has shape {k.shape}, data has {n} items")
    groups = np.unique(np.concatenate([np.unique(k) for k in keys]))
    result: dict[Any, Any] = {}
    for g in groups:
        subsets = []
        for k, item in zip(keys, items, strict=True):
            mask = k == g
            if isinstance(item, SearchScores):
                subsets.append(item.subset(mask))
            else:
                subsets.append(np.asarray(item)[mask])
        result[g.item() if hasattr(g, "item") else g] = func(*subsets, thresholds, **kwargs)
    return result


def rate_fields(rate: Rate, prefix: str) -> dict[str, float | int]:
    """Flatten a Rate to ``{prefix: value, prefix_count, prefix_total, prefix_lo, prefix_hi}``."""
    return {
        prefix: rate.value,
        f"{prefix}_count": rate.count,
        f"{prefix}_total": rate.total,
        f"{prefix}_lo": rate.lo,
        f"{prefix}_hi": rate.hi,
    }
