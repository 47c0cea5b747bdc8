"""One run as a self-contained HTML report: figures, tables and plain-language captions.

:func:`write_report` reads a run's stored scores (:func:`facelab.lab.scores.load_scores`; nothing
is re-embedded), sweeps the percent thresholds, and writes one HTML file with every figure
embedded as a base64 PNG ``data:`` URI, so that it can be mailed or opened offline: no script,
no style sheet and no image is fetched from anywhere.

The figures are drawn with matplotlib's Agg backend by plot functions that each draw on an
:class:`matplotlib.axes.Axes` they are given (the bob.bio style), so they can be reused in a
notebook or composed into other figures:

- :func:`plot_rates_vs_threshold` — FPIR and FNIR against the percent threshold;
- :func:`plot_det` — the DET curve on probit axes, with the swept thresholds marked;
- :func:`plot_false_alerts_per_day` — false (and true) alerts per day against the threshold;
- :func:`plot_fpir_vs_watchlist_size` — FPIR against the size of the watchlist;
- :func:`plot_review_queue` — alerts to review and review hours per threshold.

The sweep helpers :func:`run_mapping` and :func:`sweep_run` (a run's scores → a
:class:`~facelab.lab.sweep.SweepTable`) and :func:`run_facts` are shared with ``facelab sweep`` and
``facelab demo``. matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np

from facelab import __version__
from facelab.errors import FacelabError
from facelab.fileio import write_atomic
from facelab.lab.metrics import (
    SECONDS_PER_CANDIDATE,
    Rate,
    SearchScores,
    det_curve,
    fmr_fnmr,
    fnir,
    fpir,
    mated_scores,
    nonmated_scores,
    operational_figures,
    targets_found,
)
from facelab.search.percent import MAPPINGS, PercentMapping, get_mapping, parse_thresholds
from facelab.lab.scores import RunScores, load_scores
from facelab.run.store import RunStore
from facelab.lab.sweep import SweepTable, sweep

log = logging.getLogger(__name__)

#: Percent thresholds swept by default (the "usually 50–80 %" band of the seed articles).
DEFAULT_THRESHOLDS = "50:80:5"

#: Thresholds the report singles out (summary cards, contact sheets, FPIR vs watchlist size).
HIGHLIGHT_PERCENTS = (50.0, 65.0, 80.0)

#: File name of the report inside the run directory.
REPORT_NAME = "report.html"

#: Most false-match pairs shown per contact sheet.
SHEET_PAIRS = 8

#: Side, in pixels, of each face shown in a contact sheet.
SHEET_FACE_PX = 128

#: Fine percent grid (start, stop, step) for the curves against the threshold.
CURVE_GRID = (0.0, 100.0, 1.0)

#: Percent range of the false-alerts-per-day figure (below it the counts dwarf the 50–80 band).
ALERT_RANGE = (30.0, 90.0)

_RED, _BLUE, _GREEN, _GREY, _ORANGE = "#c0392b", "#2166ac", "#1a9850", "#7f7f7f", "#e08214"


# ---------------------------------------------------------------------------------------------
# Run facts and sweeps over a run's stored scores


@dataclass(frozen=True)
class RunFacts:
    """What a reader needs to know about a run before reading its error rates.

    Attributes
    ----------
    path : Path
        The run directory.
    scenario, mode : str
        Scenario name and ``"image"`` or ``"embedding"``.
    start : datetime.date or None
        Simulated date of day 0.
    days : int
        Simulated days completed.
    fr_cameras : int
        Cameras configured for face recognition.
    fr_cameras_by_kind : dict of str to int
        The same, per camera kind (sorted by kind).
    camera_days : int
        ``fr_cameras × days``.
    watchlist_size : int
        Active watchlist entries.
    n_searches, n_mated, n_nonmated : int
        Sightings searched; of people on the watchlist; of everybody else.
    n_targets : int
        Watchlisted people seen at least once by an FR camera.
    top_k : int
        Candidates kept per search.
    complete : bool
        Whether every search was scored against every entry (``top_k >= watchlist_size``), so
        that the 1:1 impostor scores are all there.
    """

    path: Path
    scenario: str
    mode: str
    start: _dt.date | None
    days: int
    fr_cameras: int
    fr_cameras_by_kind: dict[str, int]
    camera_days: int
    watchlist_size: int
    n_searches: int
    n_mated: int
    n_nonmated: int
    n_targets: int
    top_k: int
    complete: bool


def run_facts(store: RunStore, scores: RunScores) -> RunFacts:
    """Collect :class:`RunFacts` from an open run and its loaded scores."""
    by_kind = dict(
        store.db.execute(
            "SELECT kind, COUNT(*) FROM cameras WHERE fr=1 GROUP BY kind ORDER BY kind"
        ).fetchall()
    )
    start = None
    raw = store.scenario_dict().get("start")
    if raw:
        try:
            start = _dt.date.fromisoformat(str(raw))
        except ValueError:
            start = None
    mated = scores.searches.mated
    return RunFacts(
        path=store.path,
        scenario=str(store.meta.get("scenario_name", store.path.name)),
        mode=str(store.meta.get("mode", "image")),
        start=start,
        days=len(store.days_done()),
        fr_cameras=int(sum(by_kind.values())),
        fr_cameras_by_kind={str(k): int(v) for k, v in by_kind.items()},
        camera_days=int(scores.camera_days),
        watchlist_size=int(scores.watchlist_size),
        n_searches=int(scores.searches.n_searches),
        n_mated=int(mated.sum()),
        n_nonmated=int((~mated).sum()),
        n_targets=int(scores.best_true_score.size),
        top_k=int(scores.searches.scores.shape[1]),
        complete=bool(scores.complete),
    )


def run_mapping(scores: RunScores, name: str | PercentMapping) -> PercentMapping:
    """The named percent mapping; ``"log-fmr"`` is calibrated on the run's impostor scores.

    Raises
    ------
    ConfigError
        Unknown name, or ``log-fmr`` on a run with no impostor score.
    """
    if isinstance(name, PercentMapping):
        return name
    return get_mapping(name, impostor_scores=scores.impostor if name == "log-fmr" else None)


def sweep_run(
    scores: RunScores,
    thresholds: str | Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    mapping: str | PercentMapping = "linear",
    *,
    rank: int = 1,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
    camera_kind: str | None = None,
    camera_days: int | None = None,
) -> SweepTable:
    """Sweep percent thresholds over a run's stored scores (never re-embedding).

    Every stored candidate is a potential alert (the pipeline raises one for each candidate at
    or above the camera's threshold), so the alert columns count candidates ≥ T. FMR and FNMR
    are included only when the 1:1 impostor scores are complete (``scores.complete``); on a run
    that kept fewer candidates than the watchlist holds they would be biased.

    Parameters
    ----------
    scores : RunScores
        From :func:`facelab.lab.scores.load_scores`.
    thresholds : str or array_like
        Percent thresholds or a spec such as ``"50:80:5"``.
    mapping : str or PercentMapping
        Percent mapping (see :func:`run_mapping`). The same mapping must be used for every
        group of a breakdown, so pass the object when sweeping a subset.
    rank : int
        Rank for FNIR.
    seconds_per_candidate : float
        Human review time per alert.
    camera_kind : str, optional
        Restrict to the searches made at cameras of this kind.
    camera_days : int, optional
        Camera-days behind those searches; required with ``camera_kind``.

    Returns
    -------
    SweepTable
    """
    m = run_mapping(scores, mapping)
    s = scores.searches
    if camera_kind is None:
        alert_true, alert_score = scores.cand_mate, scores.cand_score
        genuine, impostor = scores.genuine, scores.impostor
        days = scores.camera_days
    else:
        s = s.subset(np.asarray(scores.camera_kind == camera_kind, bool))
        finite = np.isfinite(s.scores)
        alert_true, alert_score = s.is_mate[finite], s.scores[finite]
        genuine, impostor = s.scores[s.is_mate], s.scores[finite & ~s.is_mate]
        days = int(camera_days or 0)
    one_to_one = scores.complete
    return sweep(
        thresholds,
        m,
        genuine=genuine if one_to_one else None,
        impostor=impostor if one_to_one else None,
        searches=s,
        rank=rank,
        alert_true=alert_true,
        alert_score=alert_score,
        n_searches=s.n_searches,
        camera_days=days,
        seconds_per_candidate=seconds_per_candidate,
    )


def cosines_for(mapping: PercentMapping, percents: Sequence[float] | np.ndarray) -> np.ndarray:
    """``(m,)`` float64 cosine thresholds equivalent to percent thresholds under ``mapping``."""
    return np.array([mapping.to_cosine(p) for p in np.asarray(percents, float)], np.float64)


# ---------------------------------------------------------------------------------------------
# Numbers for the figures


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
class _Curves:
    """Rates on a fine percent grid (for the curves against the threshold)."""

    percents: np.ndarray
    cosines: np.ndarray
    fpir: list[Rate]
    fnir: list[Rate]
    false_alerts: np.ndarray
    true_alerts: np.ndarray


def _curves(scores: RunScores, mapping: PercentMapping, rank: int) -> _Curves:
    start, stop, step = CURVE_GRID
    percents = np.round(np.arange(start, stop + step / 2, step), 9)
    cos = cosines_for(mapping, percents)
    ops = operational_figures(
        scores.cand_mate, scores.cand_score, scores.searches.n_searches, scores.camera_days, cos
    )
    return _Curves(
        percents,
        cos,
        fpir(scores.searches, cos),
        fnir(scores.searches, cos, rank=rank),
        np.array([o.false_alerts for o in ops], np.float64),
        np.array([o.true_alerts for o in ops], np.float64),
    )


# ---------------------------------------------------------------------------------------------
# Plot functions: each draws on the Axes it is given


def _no_data(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=_GREY,
            wrap=True)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])


def _band(ax: Any, lo: float, hi: float) -> None:
    ax.axvspan(lo, hi, color="#f2f2f2", zorder=0)
    ax.text((lo + hi) / 2, 1.01, f"usual operator range {lo:g}–{hi:g} %", ha="center",
            va="bottom", fontsize=8, color=_GREY, transform=ax.get_xaxis_transform())  # fmt: skip


def _percent_axis(ax: Any, mapping: PercentMapping) -> None:
    ax.set_xlabel(f"threshold (percent shown to the operator, '{mapping.name}' scale)")
    ax.set_xlim(CURVE_GRID[0], CURVE_GRID[1])
    ax.grid(True, alpha=0.3)


def _values_pct(rates: list[Rate]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    v = np.array([r.value for r in rates]) * 100
    lo = np.array([r.lo for r in rates]) * 100
    hi = np.array([r.hi for r in rates]) * 100
    return v, lo, hi


def plot_rates_vs_threshold(
    ax: Any, scores: RunScores, mapping: PercentMapping, *, rank: int = 1,
    band: tuple[float, float] = (50.0, 80.0),
) -> None:  # fmt: skip
    """FPIR and FNIR (rank ``rank``) against the percent threshold, with 95 % bands.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Where to draw.
    scores : RunScores
        The run's scores.
    mapping : PercentMapping
        Scale of the x axis.
    rank : int
        Rank for FNIR.
    band : (float, float)
        Percent range shaded as the usual operator range.
    """
    c = _curves(scores, mapping, rank)
    if scores.searches.n_searches == 0:
        _no_data(ax, "no search in this run")
        return
    _band(ax, *band)
    for rates, colour, label in (
        (c.fpir, _RED, "innocent people flagged (FPIR)"),
        (c.fnir, _BLUE, f"wanted people missed (FNIR, rank {rank})"),
    ):
        v, lo, hi = _values_pct(rates)
        if np.isnan(v).all():
            continue
        ax.fill_between(c.percents, lo, hi, color=colour, alpha=0.15, linewidth=0)
        ax.plot(c.percents, v, color=colour, linewidth=2, label=label)
    _percent_axis(ax, mapping)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("share of passes (%)")
    ax.legend(loc="center left", frameon=True)


def _probit_ticks(lo_p: float, hi_p: float) -> tuple[list[float], list[str]]:
    ticks = [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99]
    keep = [t for t in ticks if lo_p <= t <= hi_p]
    return keep, [f"{100 * t:g}%" for t in keep]


def plot_det(
    ax: Any, scores: RunScores, table: SweepTable, *, rank: int = 1,
) -> None:  # fmt: skip
    """DET curve on probit axes: FNIR against FPIR over every threshold (1:N, rank ``rank``),
    the 1:1 FNMR against FMR when the impostor scores are complete, and the thresholds of
    ``table`` marked and labelled with their percent.

    Zero and one lie at infinity on probit axes; observed zeros (none of n) are drawn on the
    axis edge.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    scores : RunScores
    table : SweepTable
        Its rows' FPIR / FNIR are the marked points.
    rank : int
        Rank for FNIR.
    """
    s = scores.searches
    pos, neg = mated_scores(s, rank), nonmated_scores(s)
    if pos.size == 0 or neg.size == 0:
        _no_data(ax, "a DET curve needs searches both of wanted people and of others")
        return
    n_max = max(pos.size, neg.size, scores.genuine.size, scores.impostor.size)
    lo_p = max(min(0.5 / n_max, 0.01), 1e-6)
    hi_p = 0.99
    lo_z, hi_z = probit(lo_p * 0.8)[()], probit(hi_p)[()]

    def z(p: np.ndarray) -> np.ndarray:
        return np.clip(probit(np.clip(p, 0.0, 1.0)), lo_z, hi_z)

    def thin(zx: np.ndarray, zy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drop points that would land on the same spot (10^6 scores → a few thousand)."""
        qx, qy = np.round(zx / 0.004), np.round(zy / 0.004)
        keep = np.r_[True, (np.diff(qx) != 0) | (np.diff(qy) != 0)]
        keep[-1] = True
        return zx[keep], zy[keep]

    _, x, y = det_curve(pos, neg)
    ax.plot(*thin(z(x), z(y)), color=_RED, linewidth=2, drawstyle="steps-post",
            label=f"1:N search (rank {rank})")  # fmt: skip
    if scores.complete and scores.genuine.size and scores.impostor.size:
        _, x1, y1 = det_curve(scores.genuine, scores.impostor)
        ax.plot(*thin(z(x1), z(y1)), color=_GREY, linewidth=1.2, linestyle="--",
                drawstyle="steps-post", label="1:1 comparisons")  # fmt: skip
    marks: dict[tuple[float, float], list[str]] = {}
    for row in table.rows:
        if row.fpir is None or math.isnan(row.fpir.value) or math.isnan(row.fnir.value):
            continue
        point = (float(z(np.array([row.fpir.value]))[0]), float(z(np.array([row.fnir.value]))[0]))
        marks.setdefault(point, []).append(f"{row.percent:g}")
    highlights = {f"{p:g}" for p in HIGHLIGHT_PERCENTS}
    for (px, py), labels in marks.items():  # thresholds with identical rates share one dot
        named = [lab for lab in labels if lab in highlights]
        ax.plot(px, py, "o", color="black", markersize=5 if named else 3, zorder=5)
        if named:  # label 50, 65 and 80 % only: neighbouring thresholds would overprint
            text = named[0] if len(labels) == 1 else f"{labels[0]}–{labels[-1]}"
            ax.annotate(f"{text}%", (px, py), textcoords="offset points", xytext=(5, 5),
                        fontsize=9, fontweight="bold")  # fmt: skip
    ticks, labels = _probit_ticks(lo_p, hi_p)
    ax.set_xticks(z(np.array(ticks)), labels, fontsize=8, rotation=45 if lo_p < 1e-3 else 0)
    ax.set_yticks(z(np.array(ticks)), labels, fontsize=8)
    ax.set_xlim(lo_z - 0.1, hi_z + 0.1)
    ax.set_ylim(lo_z - 0.1, hi_z + 0.1)
    ax.set_xlabel("innocent people flagged (FPIR; 1:1: FMR)")
    ax.set_ylabel("wanted people missed (FNIR; 1:1: FNMR)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")


def plot_false_alerts_per_day(
    ax: Any, scores: RunScores, mapping: PercentMapping, days: int, *,
    band: tuple[float, float] = (50.0, 80.0), rank: int = 1,
) -> None:  # fmt: skip
    """False and true alerts per simulated day (all FR cameras together) against the threshold.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    scores : RunScores
    mapping : PercentMapping
    days : int
        Simulated days behind the scores.
    band : (float, float)
        Percent range shaded as the usual operator range.
    """
    if days <= 0 or scores.cand_score.size == 0:
        _no_data(ax, "no alert could be raised in this run")
        return
    c = _curves(scores, mapping, rank)
    _band(ax, *band)
    ax.plot(c.percents, c.false_alerts / days, color=_RED, linewidth=2,
            label="false alerts per day (innocent people)")  # fmt: skip
    ax.plot(c.percents, c.true_alerts / days, color=_GREEN, linewidth=2,
            label="true alerts per day (wanted people)")  # fmt: skip
    for p in HIGHLIGHT_PERCENTS:
        i = int(np.argmin(np.abs(c.percents - p)))
        if abs(c.percents[i] - p) < 1e-9:
            v = c.false_alerts[i] / days
            ax.plot(p, v, "o", color=_RED, markersize=4)
            ax.annotate(f"{v:.3g} a day", (p, v), textcoords="offset points", xytext=(4, 6),
                        fontsize=8)  # fmt: skip
    _percent_axis(ax, mapping)
    ax.set_xlim(*ALERT_RANGE)
    shown = (c.percents >= ALERT_RANGE[0]) & (c.percents <= ALERT_RANGE[1])
    ax.set_ylim(0, max(float((c.false_alerts[shown] / days).max(initial=0)) * 1.08, 1.0))
    ax.set_ylabel("alerts per day, all FR cameras")
    ax.legend(loc="upper right")


def plot_fpir_vs_watchlist_size(
    ax: Any, scores: RunScores, mapping: PercentMapping,
    percents: Sequence[float] = HIGHLIGHT_PERCENTS, *, extrapolate_to: int = 10_000,
) -> None:  # fmt: skip
    """FPIR against watchlist size at a few thresholds.

    Solid lines with dots: measured on the run's own non-mated searches, re-scored against
    random sub-watchlists (:func:`fpir_by_watchlist_size`). Dashed lines: the extrapolation
    ``1 - (1 - FMR)^N`` from the 1:1 false match rate, as if every comparison were independent
    (only when the run's 1:1 impostor scores are complete; :func:`extrapolated_fpir` gives its
    95 % range).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    scores : RunScores
    mapping : PercentMapping
    percents : sequence of float
        Percent thresholds, one line each.
    extrapolate_to : int
        Largest watchlist size of the extrapolation.
    """
    w = scores.watchlist_size
    if w <= 0 or scores.searches.n_searches == 0 or scores.searches.mated.all():
        _no_data(ax, "needs a watchlist and searches of people who are not on it")
        return
    cos = cosines_for(mapping, percents)
    sizes = watchlist_sizes(w)
    measured = fpir_by_watchlist_size(scores.searches, w, cos, sizes)
    colours = [_ORANGE, _RED, "#67001f", _BLUE, _GREEN]
    big = np.unique(np.round(np.logspace(0, math.log10(max(extrapolate_to, w)), 60)))
    for i, p in enumerate(percents):
        col = colours[i % len(colours)]
        ax.plot(sizes, measured[i] * 100, "o-", color=col, linewidth=2, markersize=4,
                label=f"{p:g} %: measured")  # fmt: skip
        if scores.complete and scores.impostor.size:
            fmr = fmr_fnmr(np.empty(0), scores.impostor, cos[i])[0][0]
            line = 1 - (1 - fmr.value) ** big
            ax.plot(big, line * 100, "--", color=col, linewidth=1,
                    label=f"{p:g} %: extrapolated")  # fmt: skip
    ax.axvline(w, color=_GREY, linewidth=0.8, linestyle=":")
    ax.text(w, 1.01, f"this run: {w}", ha="center", va="bottom", fontsize=8, color=_GREY,
            transform=ax.get_xaxis_transform())  # fmt: skip
    ax.set_xscale("log")
    extrapolated = scores.complete and scores.impostor.size
    ax.set_xlim(0.8, (max(extrapolate_to, w) if extrapolated else w) * 1.5)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("watchlist size (entries)")
    ax.set_ylabel("innocent people flagged, FPIR (%)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=len(percents))


def plot_review_queue(ax: Any, table: SweepTable) -> None:
    """Alerts to review per threshold (false and true stacked), annotated with review hours.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    table : SweepTable
        With alert columns.
    """
    rows = [r for r in table.rows if r.alerts is not None]
    if not rows:
        _no_data(ax, "no alert figures")
        return
    x = np.arange(len(rows))
    false = np.array([r.false_alerts for r in rows], np.float64)
    true = np.array([r.true_alerts for r in rows], np.float64)
    ax.bar(x, false, color=_RED, label="false alerts (innocent people)")
    ax.bar(x, true, bottom=false, color=_GREEN, label="true alerts (wanted people)")
    top = float((false + true).max()) if len(rows) else 0.0
    for i, r in enumerate(rows):
        ax.annotate(f"{r.alerts}\n{_duration(r.review_hours)}", (x[i], r.alerts),
                    textcoords="offset points", xytext=(0, 3), ha="center", va="bottom",
                    fontsize=8)  # fmt: skip
    ax.set_xticks(x, [f"{r.percent:g}%" for r in rows])
    ax.set_xlabel(f"threshold ('{table.mapping}' scale)")
    ax.set_ylabel("alerts to review")
    ax.set_ylim(0, max(top * 1.3, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper right")


def figure_png(draw: Any, size: tuple[float, float] = (9.0, 4.6), dpi: int = 100) -> bytes:
    """Draw ``draw(ax)`` on a new Agg figure and return it as PNG bytes (no timestamp)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    draw(ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Contact sheets of false matches


@dataclass(frozen=True)
class FalseMatch:
    """A watchlist candidate that was not the person in the sighting.

    Attributes
    ----------
    sighting, watch : int
        Ids of the sighting and of the wrongly matched watchlist entry.
    score : float
        Cosine score.
    label : str
        The entry's label.
    camera : str
        Camera id.
    day, t : int
        Simulated day and seconds since the start of day 0.
    box : tuple of float or None
        Sighting's face box (x, y, w, h) in its frame; None in embedding mode.
    frame : Path or None
        The frame the sighting was found in.
    photo : Path or None
        The entry's enrolment photo.
    """

    sighting: int
    watch: int
    score: float
    label: str
    camera: str
    day: int
    t: int
    box: tuple[float, float, float, float] | None
    frame: Path | None
    photo: Path | None


def false_matches(
    store: RunStore, scores: RunScores, cos_lo: float, cos_hi: float = math.inf, limit: int = 8
) -> list[FalseMatch]:
    """Highest-scoring false matches with ``cos_lo <= score < cos_hi``, best first.

    A candidate is false when the watchlist entry is not the identity really in the sighting
    (ground truth; the same rule as :func:`facelab.lab.scores.load_scores`).
    """
    person = dict(zip(scores.sighting.tolist(), scores.person.tolist(), strict=True))
    identity = dict(store.truth.execute("SELECT watch, identity FROM watch_truth").fetchall())
    rows = store.db.execute(
        "SELECT c.sighting, c.watch, c.score, w.label, w.photo, cam.id, s.day, s.t, "
        "s.x, s.y, s.w, s.h, f.path FROM candidates c "
        "JOIN watchlist w ON w.id = c.watch AND w.active = 1 "
        "JOIN sightings s ON s.id = c.sighting JOIN cameras cam ON cam.idx = s.camera "
        "LEFT JOIN frames f ON f.id = s.frame_id "
        "WHERE c.score >= ? AND c.score < ? ORDER BY c.score DESC, c.sighting, c.rank",
        (float(cos_lo), float(cos_hi)),
    )
    out: list[FalseMatch] = []
    for sid, watch, score, label, photo, cam, day, t, x, y, w, h, frame in rows:
        if sid not in person:
            continue
        if identity.get(watch, -2) == person[sid]:
            continue
        box = None if None in (x, y, w, h) else (float(x), float(y), float(w), float(h))
        out.append(FalseMatch(
            int(sid), int(watch), float(score), str(label), str(cam), int(day), int(t), box,
            store.path / frame if frame else None, store.path / photo if photo else None,
        ))  # fmt: skip
        if len(out) >= limit:
            break
    return out


def _load_own_image(path: Path | None, cache: dict) -> np.ndarray | None:
    """A PNG the run wrote, only if its provenance verifies; None if missing or refused."""
    if path is None:
        return None
    if path not in cache:
        from facelab.governance import provenance

        try:
            cache[path] = provenance.load_verified(path).image
        except FacelabError as exc:
            log.warning("report: not showing %s: %s", path, exc)
            cache[path] = None
    return cache[path]


def face_crop(frame: np.ndarray, box: tuple[float, float, float, float],
              size: int = SHEET_FACE_PX, margin: float = 0.3) -> np.ndarray:  # fmt: skip
    """A square crop around a face box (with ``margin`` × side on each side), resized.

    Parameters
    ----------
    frame : np.ndarray
        uint8 (H, W, 3) BGR.
    box : (x, y, w, h)
    size : int
        Side of the result.

    Returns
    -------
    np.ndarray
        uint8 (size, size, 3) BGR; parts outside the frame are grey.
    """
    x, y, w, h = box
    side = max(int(round(max(w, h) * (1 + 2 * margin))), 2)
    x0 = int(round(x + w / 2 - side / 2))
    y0 = int(round(y + h / 2 - side / 2))
    padded = cv2.copyMakeBorder(frame, side, side, side, side, cv2.BORDER_CONSTANT,
                                value=(128, 128, 128))  # fmt: skip
    crop = padded[y0 + side : y0 + 2 * side, x0 + side : x0 + 2 * side]
    interp = cv2.INTER_CUBIC if side < size else cv2.INTER_AREA
    return cv2.resize(crop, (size, size), interpolation=interp)


# ---------------------------------------------------------------------------------------------
# HTML helpers


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def pct(x: float, sep: str = " ") -> str:
    """A proportion as a short percent string: ``0.0935 → "9.35 %"``, NaN → ``"n/a"``;
    ``sep`` goes between the number and the sign (the terminal tables use none)."""
    if x is None or math.isnan(x):
        return "n/a"
    v = 100.0 * x
    if v == 0:
        return f"0{sep}%"
    if v < 0.001:
        return f"{v:.1e}{sep}%"
    return f"{v:.3g}{sep}%"


def _rate_cell(r: Rate | None) -> str:
    if r is None:
        return "<td>–</td>"
    return (
        f'<td><b>{pct(r.value)}</b><br><span class="small">{r.count:,}/{r.total:,} · '
        f"{pct(r.lo)}–{pct(r.hi)}</span></td>"
    )


def _duration(hours: float | None) -> str:
    if hours is None or math.isnan(hours):
        return "n/a"
    if hours == 0:
        return "0 min"
    if hours < 1:
        return f"{hours * 60:.3g} min"
    return f"{hours:.3g} h"


def _num(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:.3g}"


def _figure(png: bytes, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{_data_uri(png)}" alt="{_e(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
  color:#222;background:#fff;margin:0;line-height:1.5}
main{max-width:960px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.9em;margin:.2em 0}
h2{font-size:1.35em;margin:1.8em 0 .4em;border-bottom:2px solid #eee;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .3em}
p.lead{font-size:1.08em;color:#444}
.note{background:#fff8e1;border-left:4px solid #e0a800;padding:.6em 1em;margin:1em 0}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin:.8em 0}
.card{flex:1 1 270px;border:1px solid #ddd;border-radius:8px;padding:.6em 1em;background:#fafafa}
.card h3{margin:.2em 0 .4em;font-size:1.2em}
.card ul{margin:0;padding-left:1.1em}
.card li{margin:.25em 0}
figure{margin:1em 0 1.6em}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.95em;color:#333;margin-top:.4em}
figcaption b.q{color:#000}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f4f4f4;text-align:center}
td.l,th.l{text-align:left}
table.data td,.nw{white-space:nowrap}
nav{font-size:.92em;margin:.8em 0;padding:.5em 1em;background:#f6f6f6;border-radius:6px}
nav a{margin-right:1em;color:#2166ac;text-decoration:none;white-space:nowrap}
.small{font-size:.82em;color:#555}
.scroll{overflow-x:auto}
.sheet{display:flex;flex-wrap:wrap;gap:12px}
.pair{border:1px solid #ddd;border-radius:6px;padding:6px;background:#fafafa;width:272px}
.pair .faces{display:flex;gap:4px}
.pair .faces div{text-align:center;font-size:.75em;color:#555}
.pair img{width:128px;height:128px;display:block;image-rendering:auto}
.pair p{margin:.3em 0 0;font-size:.82em}
.missing{width:128px;height:128px;display:flex;align-items:center;justify-content:center;
  background:#eee;color:#777;font-size:.8em;text-align:center}
dl dt{font-weight:bold;margin-top:.5em}
dl dd{margin-left:1.2em}
footer{margin-top:3em;font-size:.85em;color:#666}
"""


# ---------------------------------------------------------------------------------------------
# Sections


def _when(facts: RunFacts, day: int, t: int) -> str:
    clock = t % 86400
    hhmm = f"{clock // 3600:02d}:{clock % 3600 // 60:02d}"
    if facts.start is not None:
        date = facts.start + _dt.timedelta(days=int(day))
        return f"{date.isoformat()} {hhmm}"
    return f"day {day + 1} {hhmm}"


def _facts_section(facts: RunFacts) -> str:
    kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in facts.fr_cameras_by_kind.items())
    rows = [
        ("scenario", f"{facts.scenario} ({facts.mode} mode)"),
        ("simulated days", facts.days),
        ("cameras with face recognition", f"{facts.fr_cameras} ({kinds})" if kinds else "0"),
        ("camera-days", f"{facts.camera_days:,} (cameras × days)"),
        ("watchlist", f"{facts.watchlist_size:,} entries"),
        ("faces searched", f"{facts.n_searches:,} sightings"),
        ("… of people on the watchlist", f"{facts.n_mated:,} (could give a true alert)"),
        ("… of everybody else", f"{facts.n_nonmated:,} (any alert on them is false)"),
        ("wanted people seen by an FR camera", f"{facts.n_targets:,}"),
        ("candidates kept per search", f"{facts.top_k} "
         + ("(every entry: all scores known)" if facts.complete
            else "(fewer than the watchlist: some figures are bounds)")),
    ]  # fmt: skip
    body = "".join(
        f'<tr><th class="l">{_e(k)}</th><td class="l">{_e(v)}</td></tr>' for k, v in rows
    )
    return f'<h2 id="run">The simulated city</h2><table>{body}</table>'


def _cards(facts: RunFacts, table: SweepTable, scores: RunScores) -> str:
    rows = {r.percent: r for r in table.rows}
    found = targets_found(scores.best_true_score, [r.cosine for r in table.rows])
    found_by = {r.percent: f for r, f in zip(table.rows, found, strict=True)}
    cards = []
    for p, r in rows.items():
        if p not in HIGHLIGHT_PERCENTS:
            continue
        items = [
            f"<b>{r.fpir.count:,} of {r.fpir.total:,}</b> passes by people <i>not</i> on the "
            f"watchlist were flagged ({pct(r.fpir.value)}; 95 % interval "
            f"{pct(r.fpir.lo)}–{pct(r.fpir.hi)}).",
            f"<b>{r.fnir.count:,} of {r.fnir.total:,}</b> passes by wanted people were missed "
            f"({pct(r.fnir.value)}).",
        ]
        f = found_by[p]
        if f.total:
            items.append(
                f"<b>{f.count} of {f.total}</b> wanted people were found at least once."
            )
        if r.alerts:
            items.append(
                f"<b>{r.false_alerts:,} of {r.alerts:,}</b> alerts named the wrong person "
                f"({pct(r.false_alert_share.value)} of alerts were false)."
            )
        else:
            items.append("No alert at all.")
        items.append(
            f"Review: <b>{r.alerts:,}</b> alert(s) ≈ <b>{_duration(r.review_hours)}</b> of a "
            f"person's time over {facts.days} day(s); "
            f"{_num(r.false_alerts_per_camera_day)} false alerts per camera per day."
        )
        lis = "".join(f"<li>{i}</li>" for i in items)
        cards.append(f'<div class="card"><h3>At {p:g} %</h3><ul>{lis}</ul></div>')
    if not cards:
        return ""
    return (
        '<h2 id="short">In short</h2><p>What the system would have done in this simulated '
        f"city at three thresholds an operator might choose ({table.mapping} percent scale). "
        "Every figure is counted against the lab's ground truth, which a real system never "
        "has.</p>"
        f'<div class="cards">{"".join(cards)}</div>'
    )


def _table(head: list[str], rows: list[list[str]], title: str | None = None) -> str:
    cap = f"<h3>{_e(title)}</h3>" if title else ""
    ths = "".join(f"<th>{h}</th>" for h in head)
    trs = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f'{cap}<div class="scroll"><table class="data"><tr>{ths}</tr>{trs}</table></div>'


def _errors_table_html(table: SweepTable) -> str:
    has_11 = any(r.fmr is not None for r in table.rows)
    head = ["threshold", "cosine", "innocent people flagged<br>(FPIR)",
            f"wanted people missed<br>(FNIR, rank {table.rank})"]  # fmt: skip
    if has_11:
        head += ["one-to-one false match<br>(FMR)", "one-to-one false non-match<br>(FNMR)"]
    rows = []
    for r in table.rows:
        cells = [f"<td>{r.percent:g} %</td>", f"<td>{r.cosine:.4g}</td>",
                 _rate_cell(r.fpir), _rate_cell(r.fnir)]  # fmt: skip
        if has_11:
            cells += [_rate_cell(r.fmr), _rate_cell(r.fnmr)]
        rows.append(cells)
    return _table(head, rows, "Errors")


def _workload_table_html(table: SweepTable, days: int) -> str:
    head = ["threshold", "alerts", "true", "false", "share of alerts<br>that are false",
            "false alerts<br>per day", "false alerts per<br>camera-day",
            "alerts per<br>search", "review time"]  # fmt: skip
    rows = []
    for r in table.rows:
        per_day = r.false_alerts / days if days else math.nan
        rows.append([
            f"<td>{r.percent:g} %</td>", f"<td>{r.alerts:,}</td>", f"<td>{r.true_alerts:,}</td>",
            f"<td>{r.false_alerts:,}</td>", _rate_cell(r.false_alert_share),
            f"<td>{_num(per_day)}</td>", f"<td>{_num(r.false_alerts_per_camera_day)}</td>",
            f"<td>{_num(r.candidates_per_search)}</td>", f"<td>{_duration(r.review_hours)}</td>",
        ])  # fmt: skip
    return _table(head, rows, "Alerts and review work")


def _by_kind_html(tables: dict[str, tuple[int, SweepTable]]) -> str:
    head = ["camera kind", "threshold", "innocent people flagged<br>(FPIR)",
            "wanted people missed<br>(FNIR)", "alerts", "share of alerts<br>that are false",
            "false alerts per<br>camera-day"]  # fmt: skip
    rows = []
    for kind, (n, t) in tables.items():
        for r in t.rows:
            if r.percent not in HIGHLIGHT_PERCENTS:
                continue
            rows.append([
                f'<td class="l">{_e(kind.replace("_", " "))} ({n})</td>',
                f"<td>{r.percent:g} %</td>", _rate_cell(r.fpir), _rate_cell(r.fnir),
                f"<td>{r.alerts:,}</td>", _rate_cell(r.false_alert_share),
                f"<td>{_num(r.false_alerts_per_camera_day)}</td>",
            ])  # fmt: skip
    return (
        "<h2 id='bykind'>By kind of camera</h2><p>The same figures for each kind of "
        "face-recognition camera (number of cameras in brackets). Cameras differ in where they "
        "look and how good their pictures are; with few searches per kind, the intervals are "
        "wide.</p>" + _table(head, rows)
    )


def _watchlist_table_html(scores: RunScores, mapping: PercentMapping) -> str:
    """Measured FPIR at the run's watchlist size, the 1:1 FMR, and the extrapolation."""
    if not scores.complete or scores.impostor.size == 0 or scores.watchlist_size == 0:
        return ""
    cos = cosines_for(mapping, HIGHLIGHT_PERCENTS)
    measured = fpir(scores.searches, cos)
    fmrs = [p[0] for p in fmr_fnmr(np.empty(0), scores.impostor, cos)]
    sizes = [n for n in (100, 1_000, 10_000) if n > scores.watchlist_size]
    head = ["threshold", f"measured, {scores.watchlist_size:,} entries (FPIR)",
            "one comparison (FMR)"]  # fmt: skip
    head += [f"extrapolated,<br>{n:,} entries" for n in sizes]
    rows = []
    for p, m, f in zip(HIGHLIGHT_PERCENTS, measured, fmrs, strict=True):
        cells = [f"<td>{p:g} %</td>", _rate_cell(m), _rate_cell(f)]
        for n in sizes:
            v, lo, hi = extrapolated_fpir(f, n)
            cells.append(
                f'<td><b>{pct(v)}</b><br><span class="small">{pct(lo)}–{pct(hi)}</span></td>'
            )
        rows.append(cells)
    return _table(head, rows) + (
        '<p class="small">The extrapolation ranges come from the 95 % interval of the '
        "one-to-one false match rate. When no false match was seen, the best guess is 0, but "
        "the range shows how large the rate could still be.</p>"
    )


def _alerts_sentence(table: SweepTable) -> str:
    """One sentence on false alerts above a 'high' percent, from this run's own counts."""
    rows = [r for r in table.rows if r.percent in HIGHLIGHT_PERCENTS and r.alerts]
    wrong = [r for r in rows if r.false_alerts]
    if wrong:
        r = wrong[-1]
        return (
            f"In this run, {r.false_alerts:,} of the {r.alerts:,} alerts at or above "
            f"{r.percent:g} % named the wrong person."
        )
    if rows:
        return (
            f"In this run no alert at or above {rows[0].percent:g} % was false, but that is a "
            "property of this small simulated city, not a promise of the percent."
        )
    return ""


def _mapping_section(
    scores: RunScores, mapping: PercentMapping, rank: int, table: SweepTable
) -> str:
    rows = []
    for name in MAPPINGS:
        try:
            m = run_mapping(scores, name)
        except FacelabError:
            continue
        cos = cosines_for(m, HIGHLIGHT_PERCENTS)
        fp = fpir(scores.searches, cos)
        fn = fnir(scores.searches, cos, rank=rank)
        cells = "".join(
            f"<td>cos ≥ {c:.3g}<br><span class='small nw'>flags {pct(a.value)}</span><br>"
            f"<span class='small nw'>misses {pct(b.value)}</span></td>"
            for c, a, b in zip(cos, fp, fn, strict=True)
        )
        used = " (used here)" if name == mapping.name else ""
        rows.append(
            f'<tr><td class="l"><b>{_e(name)}</b>{used}<br><span class="small">'
            f"{_e(m.description)}</span></td>{cells}</tr>"
        )
    head = "".join(f"<th>“{p:g} %”</th>" for p in HIGHLIGHT_PERCENTS)
    return f"""
<h2 id="percent">What a percent means</h2>
<div class="note"><b>A percent is not a probability.</b> “80 %” next to a candidate does
<i>not</i> mean an 80 % chance that this is the person searched for. It is a display scale
for a similarity score between two face templates. Whether an alert is right depends on
things the percent cannot know: how many people are on the watchlist, how many people walk
past the cameras, and how rare wanted people are among them. {_e(_alerts_sentence(table))}</div>
<p>facelab measures the similarity of two faces as the cosine of their templates (1 = the
same direction, 0 = unrelated) and shows it as a percent through a named <i>mapping</i>. This
report uses the <b>{_e(mapping.name)}</b> mapping: {_e(mapping.description)}. Vendors use
different scales, so the same pair of faces can be shown as 40 % by one system and 95 % by
another. The table shows that “50 %”, “65 %” and “80 %” are different operating points
under each scale: a different similarity (cosine) is needed, and a different share of innocent
people is flagged.</p>
<div class="scroll"><table><tr><th class="l">mapping</th>{head}</tr>{"".join(rows)}</table></div>
<p class="small">Score ≥ threshold counts as a match everywhere (ties match). “flags” is the
FPIR and “misses” the FNIR (rank {rank}) of this run at that threshold.</p>
"""


def _differs_section(facts: RunFacts, seconds_per_candidate: float) -> str:
    twin = (
        "<li><b>No images in this run.</b> It ran in embedding mode: face templates were drawn "
        "from a model of SFace's scores on synthetic faces (the calibrated twin), which is what "
        "makes large runs possible on a laptop, but is one more step away from real faces.</li>"
        if facts.mode == "embedding"
        else ""
    )
    return _DIFFERS.format(facts=facts, spc=seconds_per_candidate, twin=twin)


_DIFFERS = """
<h2 id="differs">What differs from real deployments</h2>
<ul>{twin}
<li><b>Synthetic faces.</b> Every face here was drawn by a small image generator (a DCGAN
trained on DigiFace-1M, itself rendered from consented 3-D scans), at 64 × 64 pixels. Nobody
in this report exists. Synthetic faces differ from real ones: how much two strangers resemble
each other, and how much one person varies between photos, are not those of a real
population.</li>
<li><b>One open model.</b> Faces were found by YuNet and compared by SFace (2021, a 128-number
template), both from the OpenCV model zoo. Commercial systems are usually more accurate, so
the absolute error rates here are not those of any deployed system. The <i>effects</i> carry
over: lowering the threshold floods the review queue, a bigger watchlist flags more innocent
people, and when wanted people are rare most alerts are false.</li>
<li><b>Small scale.</b> This run searched {facts.n_searches:,} faces against
{facts.watchlist_size:,} watchlist entries over {facts.camera_days:,} camera-days. Real
deployments search millions of faces against watchlists of thousands to millions; with so few
events the 95 % intervals here are wide, and rare errors may not show up at all (0 of n is not
“never”).</li>
<li><b>Simple people and cameras.</b> Movement, lighting, pose and image quality follow a
handful of named parameters. Demographic groups are not modelled, so the differences in error
rates between groups that studies of real systems report (for example NIST FRVT part 3, or
NPL's 2023 study for the Met) cannot be measured here.</li>
<li><b>Simple review.</b> Review time is counted as a fixed {spc:g} seconds per alert; real reviewers tire, disagree, and make mistakes of their own.</li>
</ul>
"""


_NAV = (
    "<nav>"
    + " ".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("run", "The city"), ("short", "In short"), ("tradeoff", "Flagged and missed"),
            ("alerts", "False alerts per day"), ("queue", "Review queue"),
            ("watchlist", "Watchlist size"), ("det", "DET curve"),
            ("similar", "Someone similar"), ("table", "All thresholds"),
            ("percent", "What a percent means"), ("differs", "Real deployments"),
            ("glossary", "Definitions"),
        )
    )
    + "</nav>"
)  # fmt: skip

_GLOSSARY = """
<h2 id="glossary">How the numbers are counted</h2>
<dl>
<dt>Search, pass, sighting</dt><dd>Each face found in a frame of a face-recognition camera is
searched against the whole watchlist; the system keeps the best-scoring entries (candidates).</dd>
<dt>FPIR — false positive identification rate</dt><dd>Of the searches of people <i>not</i> on
the watchlist, the share whose best candidate scores at or above the threshold: innocent people
flagged.</dd>
<dt>FNIR — false negative identification rate</dt><dd>Of the searches of people on the
watchlist, the share whose own entry is not among the first R candidates at or above the
threshold: wanted people missed.</dd>
<dt>FMR / FNMR</dt><dd>The same two errors for single one-to-one comparisons of two faces
(false match rate, false non-match rate).</dd>
<dt>Share of alerts that are false</dt><dd>False alerts divided by all alerts — the figure
behind “92 % of alerts were false” (South Wales Police, Cardiff, 2017).</dd>
<dt>Alert</dt><dd>Every candidate at or above the threshold is an alert for a person to
review.</dd>
<dt>95 % interval</dt><dd>The range within which the true rate probably lies, given how few
events were counted (Wilson score interval). “3/107” is the count behind a rate.</dd>
<dt>Camera-day</dt><dd>One face-recognition camera working for one day.</dd>
</dl>
<p class="small">Definitions follow ISO/IEC 19795-1 as used by NIST. A score at or above the
threshold is a match everywhere. All figures come from the scores stored during the run;
nothing is recomputed from images.</p>
"""


def _sheets_section(
    store: RunStore, scores: RunScores, facts: RunFacts, mapping: PercentMapping
) -> str:
    intro = (
        '<h2 id="similar">Someone similar in the passage</h2>'
        "<p>The innocent people the system would have flagged: on the left the face as the "
        "camera saw it, on the right the watchlist photo it was wrongly matched to. These are "
        "the highest-scoring false matches, grouped by the threshold at which they would first "
        "appear. None of these people exist.</p>"
    )
    if facts.mode == "embedding":
        return intro + (
            '<p class="note">This run was made in <b>embedding mode</b>: faces were drawn '
            "directly as templates (for scale), so there are no images to show. Run a scenario "
            "in image mode to see the faces.</p>"
        )
    percents = sorted(HIGHLIGHT_PERCENTS, reverse=True)
    cos = cosines_for(mapping, percents)
    parts, cache = [intro], {}
    for i, (p, c) in enumerate(zip(percents, cos, strict=True)):
        upper = math.inf if i == 0 else float(cos[i - 1])
        matches = false_matches(store, scores, float(c), upper, SHEET_PAIRS)
        if i == 0:
            title = f"Flagged even at {p:g} %"
        else:
            title = f"Flagged at {p:g} % (but not at {percents[i - 1]:g} %)"
        parts.append(f"<h3>{_e(title)}</h3>")
        if not matches:
            parts.append(
                f"<p>No false match in this band in this run (0 of "
                f"{facts.n_nonmated:,} searches of people not on the watchlist).</p>"
            )
            continue
        pairs = []
        side = (SHEET_FACE_PX, SHEET_FACE_PX)
        for fm in matches:
            frame = _load_own_image(fm.frame, cache)
            photo = _load_own_image(fm.photo, cache)
            if frame is not None and fm.box is not None:
                crop = _data_uri(_png(face_crop(frame, fm.box)))
                left = f'<img src="{crop}" alt="face seen by camera {_e(fm.camera)}">'
            else:
                left = '<div class="missing">frame not available</div>'
            if photo is not None:
                small = _data_uri(_png(cv2.resize(photo, side, interpolation=cv2.INTER_AREA)))
                right = f'<img src="{small}" alt="watchlist photo {_e(fm.label)}">'
            else:
                right = '<div class="missing">photo not available</div>'
            shown = math.floor(float(mapping.to_percent(fm.score)) * 10) / 10  # never round up
            pairs.append(
                '<div class="pair"><div class="faces">'
                f"<div>{left}camera</div><div>{right}watchlist</div></div>"
                f"<p><b>{shown:g} %</b> match with {_e(fm.label)} · "
                f"{_e(fm.camera)}, {_e(_when(facts, fm.day, fm.t))}<br>"
                '<span class="small">not the same person</span></p></div>'
            )
        parts.append(f'<div class="sheet">{"".join(pairs)}</div>')
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# The report


def build_report(
    store: RunStore,
    *,
    thresholds: str | Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    mapping: str | PercentMapping = "linear",
    rank: int = 1,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
) -> str:
    """The report of an open run as HTML text (see :func:`write_report`)."""
    scores = load_scores(store)
    facts = run_facts(store, scores)
    m = run_mapping(scores, mapping)
    percents = parse_thresholds(thresholds) if isinstance(thresholds, str) else thresholds
    percents = np.unique(np.r_[np.asarray(percents, np.float64), HIGHLIGHT_PERCENTS])
    kw = dict(rank=rank, seconds_per_candidate=seconds_per_candidate)
    table = sweep_run(scores, percents, m, **kw)
    band = (float(min(HIGHLIGHT_PERCENTS)), float(max(HIGHLIGHT_PERCENTS)))

    figs = []
    figs.append(_figure(
        figure_png(lambda ax: plot_rates_vs_threshold(ax, scores, m, rank=rank, band=band)),
        "innocent people flagged and wanted people missed against the threshold",
        "<b class='q'>Out of 100 people who are NOT on the watchlist walking past a camera, how "
        "many would the system flag at this threshold?</b> (red) <b class='q'>And out of 100 "
        "passes by wanted people, how many would it miss?</b> (blue). Moving the threshold "
        "trades one error for the other: a lower percent flags more innocent people, a higher "
        "one misses more of the people searched for. Shaded bands are 95 % intervals.",
    ))  # fmt: skip
    figs_alerts = _figure(
        figure_png(lambda ax: plot_false_alerts_per_day(ax, scores, m, facts.days, band=band,
                                                        rank=rank)),  # fmt: skip
        "false and true alerts per day against the threshold",
        f"<b class='q'>How many times a day would an operator be told “this could be your "
        f"suspect” about someone innocent?</b> Alerts per day over all {facts.fr_cameras} "
        f"face-recognition camera(s) together; divide by {facts.fr_cameras} for one camera. "
        "The red line counts alerts naming the wrong person, the green line alerts naming the "
        "right one.",
    )
    figs_queue = _figure(
        figure_png(lambda ax: plot_review_queue(ax, table)),
        "alerts to review per threshold",
        f"<b class='q'>How much work lands on the people who check the alerts?</b> Bars: "
        f"alerts raised over the {facts.days} simulated day(s), red for innocent people, green "
        f"for wanted people; above each bar the number of alerts and the review time at "
        f"{seconds_per_candidate:g} seconds per alert. Lowering the threshold “gives much more "
        "to view manually”.",
    )
    figs_n = _figure(
        figure_png(lambda ax: plot_fpir_vs_watchlist_size(ax, scores, m)),
        "innocent people flagged against watchlist size",
        "<b class='q'>Does a bigger watchlist flag more innocent people?</b> Yes: every extra "
        "entry is one more chance for a stranger to look similar enough. Dots: this run's "
        "searches of people not on the watchlist, re-scored against smaller watchlists drawn "
        "at random from this run's"
        + (" (exact average over every possible draw)." if facts.complete else
           " (a lower bound: the run kept only the top candidates of each search).")
        + " Dashed lines: extrapolation to larger watchlists, as if every one-to-one "
        "comparison were independent (their 95 % ranges are in the table below). This is "
        "the effect NPL measured for "
        "the Met in 2023: 1 false alert in 60,000 searches with 1,000 entries, 1 in 6,000 with "
        "10,000.",
    )  # fmt: skip
    figs_det = _figure(
        figure_png(lambda ax: plot_det(ax, scores, table, rank=rank), size=(7.0, 6.0)),
        "DET curve on probit axes",
        "<b class='q'>The whole trade-off in one picture.</b> Each point of the curve is one "
        "threshold: how many innocent people it flags (across) against how many wanted people "
        "it misses (up). Lower and further left is better. The black dots are the thresholds "
        "of the table below (50, 65 and 80 % labelled). Both axes are stretched (probit "
        "scale) so that small rates such as "
        "0.1 % and 1 % can be told apart; a point on the edge means none was observed. With few "
        "searches the curve is a staircase, and a curve hugging the bottom and left edges means "
        "that in this run the scores of wanted people and of others barely overlapped.",
    )

    by_kind = ""
    if len(facts.fr_cameras_by_kind) > 1:
        by_kind = _by_kind_html({
            k: (n, sweep_run(scores, HIGHLIGHT_PERCENTS, m, camera_kind=k,
                             camera_days=n * facts.days, **kw))
            for k, n in facts.fr_cameras_by_kind.items()
        })  # fmt: skip

    subtitle = (
        "A simulated face-search system, run on synthetic people. "
        "<b>Nobody in this report exists.</b>"
    )
    body = [
        f"<h1>Face search report: {_e(facts.scenario)}</h1>",
        f'<p class="lead">{subtitle} It shows how many innocent people a face-search system '
        "flags at each percent threshold, how many of the people it looks for it misses, what "
        "share of its alerts is false, and how much work the alerts make for the people who "
        "review them.</p>",
        _NAV,
        _facts_section(facts),
        _cards(facts, table, scores),
        '<h2 id="tradeoff">Who gets flagged, and who is missed</h2>',
        *figs,
        '<h2 id="alerts">False alerts per day</h2>',
        figs_alerts,
        '<h2 id="queue">The review queue</h2>',
        figs_queue,
        '<h2 id="watchlist">Bigger watchlists flag more innocent people</h2>',
        figs_n,
        _watchlist_table_html(scores, m),
        '<h2 id="det">The trade-off curve (DET)</h2>',
        figs_det,
        _sheets_section(store, scores, facts, m),
        '<h2 id="table">All thresholds, with counts and 95 % intervals</h2>',
        "<p>Each rate is shown in bold, with its count (events / trials) and its 95 % "
        f"interval below. Alerts are counted over the whole run, {facts.days} simulated "
        "day(s). The cosine is the similarity the threshold stands for.</p>",
        _errors_table_html(table),
        _workload_table_html(table, facts.days),
        by_kind,
        _mapping_section(scores, m, rank, table),
        _differs_section(facts, seconds_per_candidate),
        _GLOSSARY,
        f"<footer>Made by facelab {_e(__version__)} from the run in {_e(facts.path.name)} "
        f"({_e(facts.scenario)}, {facts.mode} mode). Percent scale: {_e(m.name)}. "
        "Self-contained: this file loads nothing from anywhere.</footer>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>facelab report: {_e(facts.scenario)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def write_report(
    store_or_path: RunStore | str | Path,
    out_html: str | Path | None = None,
    *,
    thresholds: str | Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    mapping: str | PercentMapping = "linear",
    rank: int = 1,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
) -> Path:
    """Write a run's self-contained HTML report.

    Parameters
    ----------
    store_or_path : RunStore, str or Path
        An open run, or its directory (opened and closed here).
    out_html : str or Path, optional
        Where to write; default ``RUN/report.html``. Written atomically.
    thresholds : str or array_like
        Percent thresholds of the tables (50, 65 and 80 are always added).
    mapping : str or PercentMapping
        Percent mapping (``linear``, ``sigmoid``, ``log-fmr``).
    rank : int
        Rank for FNIR.
    seconds_per_candidate : float
        Human review time per alert.

    Returns
    -------
    Path
        The report file.

    Raises
    ------
    RunError
        Not a run directory, or no completed day.
    ConfigError
        Bad thresholds or mapping.
    """
    own = not isinstance(store_or_path, RunStore)
    store = RunStore(store_or_path) if own else store_or_path
    try:
        text = build_report(
            store, thresholds=thresholds, mapping=mapping, rank=rank,
            seconds_per_candidate=seconds_per_candidate,
        )  # fmt: skip
        out = Path(out_html) if out_html is not None else store.path / REPORT_NAME
    finally:
        if own:
            store.close()
    write_atomic(out, text)
    log.info("wrote report %s", out)
    return out
