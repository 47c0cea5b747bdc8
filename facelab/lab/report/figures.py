"""matplotlib figures of a run: each plot function draws on the ``Axes`` it is given.

- :func:`plot_rates_vs_threshold` — FPIR and FNIR against the percent threshold;
- :func:`plot_det` — the DET curve on probit axes, with the swept thresholds marked;
- :func:`plot_false_alerts_per_day` — false (and true) alerts per day against the threshold;
- :func:`plot_fpir_vs_watchlist_size` — FPIR against the size of the watchlist;
- :func:`plot_review_queue` — alerts to review and review hours per threshold.

:func:`figure_png` draws one of them on a new Agg figure and returns PNG bytes. matplotlib is
imported only there, so the plot functions can equally draw in a notebook or a composed figure.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from facelab.lab.metrics import Rate, det_curve, fmr_fnmr, mated_scores, nonmated_scores
from facelab.lab.report.rates import (
    CURVE_GRID,
    HIGHLIGHT_PERCENTS,
    curves,
    fpir_by_watchlist_size,
    probit,
    watchlist_sizes,
)
from facelab.lab.report.text import duration
from facelab.lab.scores import RunScores
from facelab.lab.sweep import SweepTable, cosines_for
from facelab.search.percent import PercentMapping

#: Percent range of the false-alerts-per-day figure (below it the counts dwarf the 50–80 band).
ALERT_RANGE = (30.0, 90.0)

_RED, _BLUE, _GREEN, _GREY, _ORANGE = "#c0392b", "#2166ac", "#1a9850", "#7f7f7f", "#e08214"


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
    band: tuple[float, float] = (50.0, 80.0), empty: str = "no search in this run",
) -> None:  # fmt: skip
    """FPIR and FNIR (rank ``rank``) against the percent threshold, with 95 % bands.

    ``empty`` is the note drawn when there is no search (a purged run says so).

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
    c = curves(scores, mapping, rank)
    if scores.searches.n_searches == 0:
        _no_data(ax, empty)
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
    ax: Any, scores: RunScores, table: SweepTable, *, rank: int = 1, published=(),
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
    published : sequence of dict
        The run's system profile's published (FPIR, FNIR) pairs
        (:func:`facelab.lab.system.det_points`), drawn as diamonds with their 95 % intervals:
        filled where the profile was fitted to them, hollow where held out.
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
    for k, p in enumerate(published):
        px, py = z(np.array([p["fpir"]]))[0], z(np.array([p["fnir"]]))[0]
        xerr = [[px - z(np.array([p["fpir_lo"]]))[0]], [z(np.array([p["fpir_hi"]]))[0] - px]]
        yerr = [[py - z(np.array([p["fnir_lo"]]))[0]], [z(np.array([p["fnir_hi"]]))[0] - py]]
        ax.errorbar(px, py, xerr=xerr, yerr=yerr, fmt="D", color=_BLUE, markersize=7,
                    markerfacecolor=_BLUE if p["fitted"] else "white", zorder=6,
                    label="published (profile; 95 % interval)" if k == 0 else None)  # fmt: skip
        ax.annotate(p["label"], (px, py), textcoords="offset points", xytext=(6, -12),
                    fontsize=8, color=_BLUE)  # fmt: skip
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
    c = curves(scores, mapping, rank)
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
    published=(),
) -> None:  # fmt: skip
    """FPIR against watchlist size at a few thresholds.

    Solid lines with dots: measured on the run's own non-mated searches, re-scored against
    random sub-watchlists (:func:`fpir_by_watchlist_size`). Dashed lines: the extrapolation
    ``1 - (1 - FMR)^N`` from the 1:1 false match rate, as if every comparison were independent
    (only when the run's 1:1 impostor scores are complete;
    :func:`~facelab.lab.report.rates.extrapolated_fpir` gives its 95 % range).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    scores : RunScores
    mapping : PercentMapping
    percents : sequence of float
        Percent thresholds, one line each.
    extrapolate_to : int
        Largest watchlist size of the extrapolation.
    published : sequence of dict
        The run's system profile's published points
        (:func:`facelab.lab.system.published_points`); its FPIR points are drawn as diamonds
        at their watchlist size with their 95 % intervals (filled: fitted, hollow: held out),
        labelled with their threshold.
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
    fpir_points = [p for p in published if p["metric"] == "fpir" and p.get("percent") is not None]
    for k, p in enumerate(fpir_points):
        y = 100 * p["published"]
        ax.errorbar(p["gallery"], y, yerr=[[y - 100 * p["lo"]], [100 * p["hi"] - y]], fmt="D",
                    color=_BLUE, markersize=6, markerfacecolor=_BLUE if p["fitted"] else "white",
                    zorder=6, label="published (profile)" if k == 0 else None)  # fmt: skip
        ax.annotate(f"{p['percent']:g} %: {_small(p['published'])}", (p["gallery"], y),
                    textcoords="offset points", xytext=(6, 4 + 9 * (k % 3)), fontsize=7,
                    color=_BLUE)  # fmt: skip
    extrapolate_to = max([extrapolate_to] + [int(p["gallery"]) for p in fpir_points])
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


def _small(x: float) -> str:
    """A small rate as ``1 in N`` (``0`` for none)."""
    return "0" if x <= 0 else f"1 in {1 / x:,.0f}"


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
        ax.annotate(f"{r.alerts}\n{duration(r.review_hours)}", (x[i], r.alerts),
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
