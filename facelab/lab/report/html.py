"""One run as a self-contained HTML page: figures, tables and plain-language captions.

:func:`write_report` reads a run's stored scores (:func:`facelab.lab.scores.load_scores`; nothing
is re-embedded), sweeps the percent thresholds, and writes one HTML file with every figure
embedded as a base64 PNG ``data:`` URI, so that it can be mailed or opened offline: no script,
no style sheet and no image is fetched from anywhere. The figures come from
:mod:`facelab.lab.report.figures`, the sections from :mod:`facelab.lab.report.sections`, the
threshold slider (an inline script over the sweep embedded as JSON) from
:mod:`facelab.lab.report.slider`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facelab import __version__
from facelab.errors import ConfigError
from facelab.fileio import write_atomic
from facelab.lab.metrics import SECONDS_PER_CANDIDATE
from facelab.lab.passes import load_passes
from facelab.lab.report.facts import run_facts
from facelab.lab.report.figures import (
    figure_png,
    plot_det,
    plot_false_alerts_per_day,
    plot_fpir_vs_watchlist_size,
    plot_rates_vs_threshold,
    plot_review_queue,
)
from facelab.lab.report.flagged import who_is_flagged_section
from facelab.lab.report.rates import HIGHLIGHT_PERCENTS
from facelab.lab.report.sections import (
    GLOSSARY,
    by_kind_section,
    cards_section,
    data_uri,
    differs_section,
    errors_table,
    esc,
    facts_section,
    mapping_section,
    sheets_section,
    watchlist_table,
    workload_table,
)
from facelab.lab.report.slider import slider_section
from facelab.lab.scores import load_scores
from facelab.lab.sweep import DEFAULT_THRESHOLDS, run_mapping, sweep_run
from facelab.lab.system import det_points, published_points
from facelab.run.store import RunStore
from facelab.search.percent import PercentMapping, parse_thresholds

log = logging.getLogger(__name__)

#: File name of the report inside the run directory.
REPORT_NAME = "report.html"


def _figure(png: bytes, alt: str, caption: str) -> str:
    """A ``<figure>``: the PNG embedded, ``alt`` escaped, ``caption`` as given (HTML)."""
    return (
        f'<figure><img src="{data_uri(png)}" alt="{esc(alt)}">'
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
    kw = dict(rank=rank, seconds_per_candidate=seconds_per_candidate,
              passes=load_passes(store, scores))  # fmt: skip
    table = sweep_run(scores, percents, m, **kw)
    band = (float(min(HIGHLIGHT_PERCENTS)), float(max(HIGHLIGHT_PERCENTS)))
    published = published_points(store.meta)
    pub_note = (
        f" Blue diamonds: the figures published for the system this run emulates "
        f"({esc(facts.system)}), with their 95 % intervals; filled where the profile was "
        "fitted to them, hollow where it was not."
        if published
        else ""
    )

    figs = []
    figs.append(_figure(
        figure_png(lambda ax: plot_rates_vs_threshold(ax, scores, m, rank=rank, band=band,
                                                      empty=_empty_note(facts))),  # fmt: skip
        "innocent people flagged and wanted people missed against the threshold",
        "<b class='q'>Out of 100 people who are NOT on the watchlist walking past a camera, how "
        "many would the system flag at this threshold?</b> (red) <b class='q'>And out of 100 "
        "passes by wanted people, how many would it miss?</b> (blue). Moving the threshold "
        "trades one error for the other: a lower percent flags more innocent people, a higher "
        "one misses more of the people searched for. Shaded bands are 95 % intervals.",
    ))  # fmt: skip
    figs_alerts = _figure(
        figure_png(
            lambda ax: plot_false_alerts_per_day(
                ax, scores, m, facts.held_days, band=band, rank=rank
            )
        ),  # fmt: skip
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
        figure_png(lambda ax: plot_fpir_vs_watchlist_size(ax, scores, m, published=published)),
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
        "10,000." + pub_note,
    )  # fmt: skip
    figs_det = _figure(
        figure_png(
            lambda ax: plot_det(ax, scores, table, rank=rank, published=det_points(published)),
            size=(7.0, 6.0),
        ),
        "DET curve on probit axes",
        "<b class='q'>The whole trade-off in one picture.</b> Each point of the curve is one "
        "threshold: how many innocent people it flags (across) against how many wanted people "
        "it misses (up). Lower and further left is better. The black dots are the thresholds "
        "of the table below (50, 65 and 80 % labelled). Both axes are stretched (probit "
        "scale) so that small rates such as "
        "0.1 % and 1 % can be told apart; a point on the edge means none was observed. With few "
        "searches the curve is a staircase, and a curve hugging the bottom and left edges means "
        "that in this run the scores of wanted people and of others barely overlapped." + pub_note,
    )

    by_kind = ""
    if len(facts.fr_cameras_by_kind) > 1:
        by_kind = by_kind_section({
            k: (n, sweep_run(scores, HIGHLIGHT_PERCENTS, m, camera_kind=k,
                             camera_days=n * facts.held_days, **kw))
            for k, n in facts.fr_cameras_by_kind.items()
        })  # fmt: skip

    subtitle = (
        "A simulated face-search system, run on synthetic people. "
        "<b>Nobody in this report exists.</b>"
    )
    body = [
        f"<h1>Face search report: {esc(facts.scenario)}</h1>",
        f'<p class="lead">{subtitle} It shows how many innocent people a face-search system '
        "flags at each percent threshold, how many of the people it looks for it misses, what "
        "share of its alerts is false, and how much work the alerts make for the people who "
        "review them.</p>",
        _NAV,
        facts_section(facts),
        cards_section(facts, table, scores),
        slider_section(
            scores,
            m,
            store.scenario().thresholds.alert_percent,
            rank=rank,
            seconds_per_candidate=seconds_per_candidate,
        ),
        '<h2 id="tradeoff">Who gets flagged, and who is missed</h2>',
        *figs,
        '<h2 id="alerts">False alerts per day</h2>',
        figs_alerts,
        '<h2 id="queue">The review queue</h2>',
        figs_queue,
        '<h2 id="watchlist">Bigger watchlists flag more innocent people</h2>',
        figs_n,
        watchlist_table(scores, m),
        '<h2 id="det">The trade-off curve (DET)</h2>',
        figs_det,
        sheets_section(store, scores, facts, m),
        '<h2 id="table">All thresholds, with counts and 95 % intervals</h2>',
        "<p>Each rate is shown in bold, with its count (events / trials) and its 95 % "
        f"interval below. Alerts are counted over the {facts.held_days} simulated day(s) whose "
        "searches the run still holds. The cosine is the similarity the threshold stands for.</p>",
        errors_table(table),
        workload_table(table, facts.held_days),
        who_is_flagged_section(store, m, HIGHLIGHT_PERCENTS),
        by_kind,
        mapping_section(scores, m, rank, table),
        differs_section(facts, seconds_per_candidate),
        GLOSSARY,
        f"<footer>Made by facelab {esc(__version__)} from the run in {esc(facts.path.name)} "
        f"({esc(facts.scenario)}, {facts.mode} mode"
        + (f", models on {esc(facts.inference)}" if facts.inference else "")
        + f"). Percent scale: {esc(m.name)}. System: {esc(facts.system)}. "
        "Self-contained: this file loads nothing from anywhere.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>facelab report: {esc(facts.scenario)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _empty_note(facts) -> str:
    """What a figure without searches says: a purged run never claims it had none."""
    if facts.purge is not None:
        return "no search left: purged (see the run's facts)"
    return "no search in this run"


def _check_destination(run: Path, out: Path) -> None:
    """Refuse (ConfigError) a destination that is not an ``.html`` file name, or that lies in
    one of the run's folders: inside RUN a report goes directly in RUN, never over or among
    the run's own files, even with ``force``."""
    if out.suffix.lower() not in (".html", ".htm") or out.is_dir():
        raise ConfigError(f"{out}: the report is an HTML file; give --out a file name ending "
                          f"in .html")  # fmt: skip
    home, where = run.resolve(), out.resolve()
    if home in where.parents and where.parent != home:
        raise ConfigError(f"{out} is inside a folder of the run {run}; write the report to "
                          f"{run / REPORT_NAME} or outside the run")  # fmt: skip


def write_report(
    store_or_path: RunStore | str | Path,
    out_html: str | Path | None = None,
    *,
    thresholds: str | Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    mapping: str | PercentMapping = "linear",
    rank: int = 1,
    seconds_per_candidate: float = SECONDS_PER_CANDIDATE,
    force: bool = False,
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
    force : bool
        Overwrite an existing file at the destination; without it that is a ConfigError.

    Returns
    -------
    Path
        The report file.

    Raises
    ------
    RunError
        Not a run directory, or no completed day.
    ConfigError
        Bad thresholds or mapping, the destination exists and ``force`` is false, or it is not
        an ``.html`` file name or lies in a folder of the run (``force`` or not).
    """
    own = not isinstance(store_or_path, RunStore)
    store = RunStore(store_or_path, readonly=True) if own else store_or_path
    try:
        out = Path(out_html) if out_html is not None else store.path / REPORT_NAME
        _check_destination(store.path, out)
        if out.exists() and not force:
            raise ConfigError(f"{out} exists; pass --force to overwrite it")
        text = build_report(
            store, thresholds=thresholds, mapping=mapping, rank=rank,
            seconds_per_candidate=seconds_per_candidate,
        )  # fmt: skip
    finally:
        if own:
            store.close()
    write_atomic(out, text)
    log.info("wrote report %s", out)
    return out
