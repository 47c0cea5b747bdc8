"""The sections of the HTML report, each a function of the run's facts, scores and sweeps.

Every function returns an HTML fragment (text; the page is assembled by
:func:`facelab.lab.report.html.build_report`). All text from the run is escaped with
:func:`esc`; images are embedded as ``data:`` URIs (:func:`data_uri`).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
from typing import Any

import numpy as np

from facelab.errors import FacelabError
from facelab.lab.metrics import Rate, fmr_fnmr, fnir, fpir, targets_found
from facelab.lab.passes import PASS_LEVEL, SEARCH_LEVEL
from facelab.lab.report.facts import RunFacts
from facelab.lab.report.rates import HIGHLIGHT_PERCENTS, extrapolated_fpir
from facelab.lab.report.sheets import SHEET_PAIRS, false_matches, pair_images
from facelab.lab.report.text import duration, num, pct
from facelab.lab.scores import RunScores
from facelab.lab.sweep import SweepTable, cosines_for, run_mapping
from facelab.run.store import RunStore
from facelab.search.percent import MAPPINGS, PercentMapping
from facelab.search.percent import shown as shown_percent


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,…`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def esc(text: Any) -> str:
    """``str(text)`` escaped for HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def rate_cell(r: Rate | None) -> str:
    """A table cell: the rate in bold, its count and 95 % interval below; ``–`` for None."""
    if r is None:
        return "<td>–</td>"
    return (
        f'<td><b>{pct(r.value)}</b><br><span class="small">{r.count:,}/{r.total:,} · '
        f"{pct(r.lo)}–{pct(r.hi)}</span></td>"
    )


def _when(facts: RunFacts, day: int, t: int) -> str:
    """Simulated date (or day number) and clock time of ``t`` seconds since day 0 began."""
    clock = t % 86400
    hhmm = f"{clock // 3600:02d}:{clock % 3600 // 60:02d}"
    if facts.start is not None:
        date = facts.start + _dt.timedelta(days=int(day))
        return f"{date.isoformat()} {hhmm}"
    return f"day {day + 1} {hhmm}"


def facts_section(facts: RunFacts) -> str:
    """Section "The simulated city": the run's facts as a two-column table."""
    kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in facts.fr_cameras_by_kind.items())
    rows = [
        ("scenario", f"{facts.scenario} ({facts.mode} mode)"),
        ("simulated days", facts.days),
        ("cameras with face recognition", f"{facts.fr_cameras} ({kinds})" if kinds else "0"),
        *([("purged", facts.purge.describe())] if facts.purge is not None else []),
        ("camera-days", f"{facts.camera_days:,} (cameras × days whose searches are held)"),
        ("watchlist", f"{facts.watchlist_size:,} entries; "
         + ("RE-SCORED against today's watchlist" if facts.watchlist_basis == "current"
            else "each search scored against the watchlist it ran against")
         + f" (version {', '.join(map(str, facts.watchlist_versions)) or 'none'})"),
        ("faces searched", f"{facts.n_searches:,} sightings"),
        ("… of people on the watchlist", f"{facts.n_mated:,} (could give a true alert)"),
        ("… of everybody else", f"{facts.n_nonmated:,} (any alert on them is false)"),
        ("wanted people seen by an FR camera", f"{facts.n_targets:,}"),
        ("candidates kept per search", f"{facts.top_k} "
         + ("(every entry: all scores known)" if facts.complete
            else "(fewer than the watchlist: some figures are bounds)")),
    ]  # fmt: skip
    body = "".join(
        f'<tr><th class="l">{esc(k)}</th><td class="l">{esc(v)}</td></tr>' for k, v in rows
    )
    return f'<h2 id="run">The simulated city</h2><table>{body}</table>'


def cards_section(facts: RunFacts, table: SweepTable, scores: RunScores) -> str:
    """Section "In short": a card per :data:`HIGHLIGHT_PERCENTS` threshold in ``table``."""
    rows = {r.percent: r for r in table.rows}
    found = targets_found(scores.best_true_score, [r.cosine for r in table.rows])
    found_by = {r.percent: f for r, f in zip(table.rows, found, strict=True)}
    cards = []
    for p, r in rows.items():
        if p not in HIGHLIGHT_PERCENTS:
            continue
        items = [
            f"<b>{r.fpir.count:,} of {r.fpir.total:,}</b> searches of people <i>not</i> on the "
            f"watchlist were flagged ({pct(r.fpir.value)}; 95 % interval "
            f"{pct(r.fpir.lo)}–{pct(r.fpir.hi)}; search-level FPIR).",
            f"<b>{r.fnir.count:,} of {r.fnir.total:,}</b> searches of wanted people were missed "
            f"({pct(r.fnir.value)}; search-level FNIR).",
        ]
        if r.pass_fnir is not None and r.pass_fnir.total:
            items.append(
                f"<b>{r.pass_fnir.count:,} of {r.pass_fnir.total:,}</b> passes by wanted people "
                f"were missed, undetected passes included ({pct(r.pass_fnir.value)}; pass-level "
                "FNIR)."
            )
        f = found_by[p]
        if f.total:
            items.append(f"<b>{f.count} of {f.total}</b> wanted people were found at least once.")
        if r.alerts:
            items.append(
                f"<b>{r.false_alerts:,} of {r.alerts:,}</b> alerts named the wrong person "
                f"({pct(r.false_alert_share.value)} of alerts were false)."
            )
        else:
            items.append("No alert at all.")
        items.append(
            f"Review: <b>{r.alerts:,}</b> alert(s) ≈ <b>{duration(r.review_hours)}</b> of a "
            f"person's time over {facts.held_days} day(s); "
            f"{num(r.false_alerts_per_camera_day)} false alerts per camera per day."
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
    cap = f"<h3>{esc(title)}</h3>" if title else ""
    ths = "".join(f"<th>{h}</th>" for h in head)
    trs = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f'{cap}<div class="scroll"><table class="data"><tr>{ths}</tr>{trs}</table></div>'


def errors_table(table: SweepTable) -> str:
    """FPIR, FNIR per search and per pass (and FMR, FNMR when present) per threshold."""
    has_11 = any(r.fmr is not None for r in table.rows)
    has_pass = any(r.pass_fnir is not None for r in table.rows)
    head = ["threshold", "cosine", "innocent people flagged<br>(FPIR, search-level)",
            f"wanted people missed<br>(FNIR, rank {table.rank}, search-level)"]  # fmt: skip
    if has_pass:
        head += ["innocent passes flagged<br>(FPIR, pass-level)",
                 f"wanted passes missed<br>(FNIR, rank {table.rank}, pass-level)"]  # fmt: skip
    if has_11:
        head += ["one-to-one false match<br>(FMR)", "one-to-one false non-match<br>(FNMR)"]
    rows = []
    for r in table.rows:
        cells = [f"<td>{r.percent:g} %</td>", f"<td>{r.cosine:.4g}</td>",
                 rate_cell(r.fpir), rate_cell(r.fnir)]  # fmt: skip
        if has_pass:
            cells += [rate_cell(r.pass_fpir), rate_cell(r.pass_fnir)]
        if has_11:
            cells += [rate_cell(r.fmr), rate_cell(r.fnmr)]
        rows.append(cells)
    note = (
        f"<p class='note'>Search-level: {esc(SEARCH_LEVEL.split(': ', 1)[1])}. "
        f"Pass-level: {esc(PASS_LEVEL.split(': ', 1)[1])} "
        "(see <a href='#glossary'>how the numbers are counted</a>).</p>"
        if has_pass
        else ""
    )
    return _table(head, rows, "Errors") + note


def workload_table(table: SweepTable, days: int) -> str:
    """Alerts, false alerts per day and per camera-day, and review time per threshold."""
    head = ["threshold", "alerts", "true", "false", "share of alerts<br>that are false",
            "false alerts<br>per day", "false alerts per<br>camera-day",
            "alerts per<br>search", "review time"]  # fmt: skip
    rows = []
    for r in table.rows:
        per_day = r.false_alerts / days if days else math.nan
        rows.append([
            f"<td>{r.percent:g} %</td>", f"<td>{r.alerts:,}</td>", f"<td>{r.true_alerts:,}</td>",
            f"<td>{r.false_alerts:,}</td>", rate_cell(r.false_alert_share),
            f"<td>{num(per_day)}</td>", f"<td>{num(r.false_alerts_per_camera_day)}</td>",
            f"<td>{num(r.candidates_per_search)}</td>", f"<td>{duration(r.review_hours)}</td>",
        ])  # fmt: skip
    return _table(head, rows, "Alerts and review work")


def by_kind_section(tables: dict[str, tuple[int, SweepTable]]) -> str:
    """The highlighted thresholds per camera kind; ``tables`` maps kind → (cameras, sweep)."""
    head = ["camera kind", "threshold", "innocent people flagged<br>(FPIR)",
            "wanted people missed<br>(FNIR)", "alerts", "share of alerts<br>that are false",
            "false alerts per<br>camera-day"]  # fmt: skip
    rows = []
    for kind, (n, t) in tables.items():
        for r in t.rows:
            if r.percent not in HIGHLIGHT_PERCENTS:
                continue
            rows.append([
                f'<td class="l">{esc(kind.replace("_", " "))} ({n})</td>',
                f"<td>{r.percent:g} %</td>", rate_cell(r.fpir), rate_cell(r.fnir),
                f"<td>{r.alerts:,}</td>", rate_cell(r.false_alert_share),
                f"<td>{num(r.false_alerts_per_camera_day)}</td>",
            ])  # fmt: skip
    return (
        "<h2 id='bykind'>By kind of camera</h2><p>The same figures for each kind of "
        "face-recognition camera (number of cameras in brackets). Cameras differ in where they "
        "look and how good their pictures are; with few searches per kind, the intervals are "
        "wide.</p>" + _table(head, rows)
    )


def watchlist_table(scores: RunScores, mapping: PercentMapping) -> str:
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
        cells = [f"<td>{p:g} %</td>", rate_cell(m), rate_cell(f)]
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


def mapping_section(
    scores: RunScores, mapping: PercentMapping, rank: int, table: SweepTable
) -> str:
    """Section "What a percent means": the highlighted percents under every mapping."""
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
            f'<tr><td class="l"><b>{esc(name)}</b>{used}<br><span class="small">'
            f"{esc(m.description)}</span></td>{cells}</tr>"
        )
    head = "".join(f"<th>“{p:g} %”</th>" for p in HIGHLIGHT_PERCENTS)
    return f"""
<h2 id="percent">What a percent means</h2>
<div class="note"><b>A percent is not a probability.</b> “80 %” next to a candidate does
<i>not</i> mean an 80 % chance that this is the person searched for. It is a display scale
for a similarity score between two face templates. Whether an alert is right depends on
things the percent cannot know: how many people are on the watchlist, how many people walk
past the cameras, and how rare wanted people are among them. {esc(_alerts_sentence(table))}</div>
<p>facelab measures the similarity of two faces as the cosine of their templates (1 = the
same direction, 0 = unrelated) and shows it as a percent through a named <i>mapping</i>. This
report uses the <b>{esc(mapping.name)}</b> mapping: {esc(mapping.description)}. Vendors use
different scales, so the same pair of faces can be shown as 40 % by one system and 95 % by
another. The table shows that “50 %”, “65 %” and “80 %” are different operating points
under each scale: a different similarity (cosine) is needed, and a different share of innocent
people is flagged.</p>
<div class="scroll"><table><tr><th class="l">mapping</th>{head}</tr>{"".join(rows)}</table></div>
<p class="small">Score ≥ threshold counts as a match everywhere (ties match). “flags” is the
FPIR and “misses” the FNIR (rank {rank}) of this run at that threshold.</p>
"""


def differs_section(facts: RunFacts, seconds_per_candidate: float) -> str:
    """Section "What differs from real deployments", with this run's scale."""
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


#: "How the numbers are counted": the definitions behind every figure.
GLOSSARY = """
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
<dt>Search-level and pass-level</dt><dd>FPIR and FNIR above are <b>search-level</b>: they count
only the faces the detector found. The <b>pass-level</b> figures count each time a person walked
past a face-recognition camera: a wanted person's pass is found only if one of its searches
has their entry within the first R candidates at or above the threshold, and a pass the detector
never found counts as a miss (and, for an innocent person, as no alert), as ISO/IEC 19795-1 and
NIST count a failure to acquire.</dd>
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


def sheets_section(
    store: RunStore, scores: RunScores, facts: RunFacts, mapping: PercentMapping
) -> str:
    """Section "Someone similar in the passage": contact sheets of the highest-scoring false
    matches per band between the :data:`HIGHLIGHT_PERCENTS` (a note in embedding mode)."""
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
        parts.append(f"<h3>{esc(title)}</h3>")
        if not matches:
            parts.append(
                f"<p>No false match in this band in this run (0 of "
                f"{facts.n_nonmated:,} searches of people not on the watchlist).</p>"
            )
            continue
        pairs = []
        for fm in matches:
            crop, photo = pair_images(fm, cache)
            if crop is not None:
                left = f'<img src="{data_uri(crop)}" alt="face seen by camera {esc(fm.camera)}">'
            else:
                left = '<div class="missing">frame not available</div>'
            if photo is not None:
                right = f'<img src="{data_uri(photo)}" alt="watchlist photo {esc(fm.label)}">'
            else:
                right = '<div class="missing">photo not available</div>'
            shown = shown_percent(float(mapping.to_percent(fm.score)))
            pairs.append(
                '<div class="pair"><div class="faces">'
                f"<div>{left}camera</div><div>{right}watchlist</div></div>"
                f"<p><b>{shown}</b> match with {esc(fm.label)} · "
                f"{esc(fm.camera)}, {esc(_when(facts, fm.day, fm.t))}<br>"
                '<span class="small">not the same person</span></p></div>'
            )
        parts.append(f'<div class="sheet">{"".join(pairs)}</div>')
    return "".join(parts)
