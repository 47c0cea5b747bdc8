"""The numbers behind the report's figures that are not plain sweep rows.

- :func:`probit` — the axis transform of the DET curve;
- :func:`fpir_by_watchlist_size`, :func:`extrapolated_fpir`, :func:`watchlist_sizes` — FPIR
  against the size of the watchlist, measured on random sub-watchlists and extrapolated from
  the 1:1 false match rate;
- :func:`curves` — FPIR, FNIR and alerts on a fine percent grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from facelab.lab.metrics import Rate, SearchScores, fnir, fpir, operational_figures
from facelab.lab.scores import RunScores
from facelab.lab.sweep import cosines_for
from facelab.search.percent import PercentMapping

#: Thresholds the report singles out (summary cards, contact sheets, FPIR vs watchlist size).
HIGHLIGHT_PERCENTS = (50.0, 65.0, 80.0)

#: Fine percent grid (start, stop, step) for the curves against the threshold.
CURVE_GRID = (0.0, 100.0, 1.0)


def probit(p: np.ndarray | float) -> np.ndarray:
    """Inverse of the standard normal CDF, vectorised (no scipy).

    Parameters
    ----------
    p : array_like
        Probabilities in (0, 1); 0 and 1 give ``-inf`` and ``+inf``, NaN stays NaN.

    Returns
    -------
    np.ndarray
        float64 of the shape of ``p``.
    """
    arr = np.asarray(p, dtype=np.float64)
    out = np.full(arr.shape, np.nan)
    inner = (arr > 0) & (arr < 1)
    values, where = np.unique(arr[inner], return_inverse=True)  # rates repeat: invert each once
    out[inner] = np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])(values)[where]
    out[arr == 0] = -np.inf
    out[arr == 1] = np.inf
    return out


def _log_choose(n: np.ndarray, k: int) -> np.ndarray:
    """``log C(n, k)`` for an int array ``n >= k >= 0``."""
    lg = np.vectorize(math.lgamma, otypes=[np.float64])
    return lg(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0)


def fpir_by_watchlist_size(
    searches: SearchScores,
    watchlist_size: int,
    cosines: Sequence[float] | np.ndarray,
    sizes: Sequence[int] | np.ndarray,
) -> np.ndarray:
    """Expected FPIR of the run's non-mated searches against random smaller watchlists.

    For a non-mated search with ``m`` watchlist entries scoring ≥ T, a watchlist of ``N``
    entries drawn at random (without replacement) from the run's ``W`` flags it unless none of
    the ``m`` is drawn, which happens with probability ``C(W - m, N) / C(W, N)``. The value is
    the mean over searches of ``1 - C(W - m, N) / C(W, N)``: the average over every way of
    choosing the N entries, without any sampling noise.

    Exact when the run kept every entry as a candidate (``K >= W``). Otherwise ``m`` is known
    only up to ``K``; when all K stored candidates score ≥ T the true ``m`` may be larger, and
    the value is a lower bound.

    Parameters
    ----------
    searches : SearchScores
        ``(n, K)`` candidate lists; only the non-mated rows are used.
    watchlist_size : int
        ``W``, entries the searches were run against.
    cosines : array_like
        ``(t,)`` cosine thresholds.
    sizes : array_like of int
        ``(s,)`` watchlist sizes ``1 <= N <= W``.

    Returns
    -------
    np.ndarray
        ``(t, s)`` float64 expected FPIR; NaN where there is no non-mated search.
    """
    top = searches.scores[~searches.mated]
    w = int(watchlist_size)
    sizes = np.asarray(sizes, dtype=np.int64)
    out = np.full((len(cosines), sizes.size), np.nan)
    if top.shape[0] == 0 or w <= 0:
        return out
    finite = np.isfinite(top)
    for i, c in enumerate(np.asarray(cosines, np.float64)):
        m = np.minimum((finite & (top >= c)).sum(axis=1), w)
        values, counts = np.unique(m, return_counts=True)
        for j, n in enumerate(sizes.tolist()):
            n = min(max(n, 1), w)
            rest = w - values
            p_none = np.zeros(values.size)
            ok = rest >= n
            if ok.any():
                p_none[ok] = np.exp(_log_choose(rest[ok], n) - _log_choose(np.array([w]), n)[0])
            out[i, j] = float(np.sum((1.0 - p_none) * counts) / top.shape[0])
    return out


def extrapolated_fpir(fmr: Rate, size: int) -> tuple[float, float, float]:
    """FPIR against ``size`` entries if each comparison were an independent ``FMR`` trial.

    Returns
    -------
    (value, lo, hi) : floats
        ``1 - (1 - p)^size`` for the FMR's value and the ends of its 95 % interval.
    """
    v, lo, hi = (1.0 - (1.0 - p) ** int(size) for p in (fmr.value, fmr.lo, fmr.hi))
    return v, lo, hi


def watchlist_sizes(w: int) -> list[int]:
    """Sizes 1, 2, 5, 10, 20, 50, … below ``w``, and ``w`` itself."""
    out, base = [], 1
    while base < w:
        out += [n for n in (base, 2 * base, 5 * base) if n < w]
        base *= 10
    return sorted(set(out + [w])) if w >= 1 else []


@dataclass(frozen=True)
class Curves:
    """Rates on the fine percent grid :data:`CURVE_GRID`, for the curves against the threshold.

    Attributes
    ----------
    percents, cosines : np.ndarray
        ``(g,)`` float64 percent thresholds and their cosine equivalents.
    fpir, fnir : list of Rate
        ``g`` rates each (FNIR at the rank asked for).
    false_alerts, true_alerts : np.ndarray
        ``(g,)`` float64 alert counts over the whole run.
    """

    percents: np.ndarray
    cosines: np.ndarray
    fpir: list[Rate]
    fnir: list[Rate]
    false_alerts: np.ndarray
    true_alerts: np.ndarray


def curves(scores: RunScores, mapping: PercentMapping, rank: int) -> Curves:
    """FPIR, FNIR (rank ``rank``) and alert counts of a run on the :data:`CURVE_GRID` percents."""
    start, stop, step = CURVE_GRID
    percents = np.round(np.arange(start, stop + step / 2, step), 9)
    cos = cosines_for(mapping, percents)
    ops = operational_figures(
        scores.cand_mate, scores.cand_score, scores.searches.n_searches, scores.camera_days, cos
    )
    return Curves(
        percents,
        cos,
        fpir(scores.searches, cos),
        fnir(scores.searches, cos, rank=rank),
        np.array([o.false_alerts for o in ops], np.float64),
        np.array([o.true_alerts for o in ops], np.float64),
    )
