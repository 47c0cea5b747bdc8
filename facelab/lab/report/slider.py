"""The report's threshold slider: the sweep at every whole percent, embedded as JSON.

The section holds a range input (0–100 %), the figures at the chosen threshold (alerts, review
time, alerts on innocent people, innocent passers-by flagged, wanted sightings missed) and a
short inline script that reads them from a ``<script type="application/json">`` block, so the
slider works in a mailed file opened from ``file://``, with nothing fetched. Without script,
the figures at the run's alert threshold are shown as rendered. The numbers are the rows of
:func:`facelab.lab.sweep.sweep_run` at ``0:100:1``, the same as ``facelab sweep`` and the
console's threshold view.
"""

from __future__ import annotations

import json

from facelab.lab.scores import RunScores
from facelab.lab.sweep import sweep_run
from facelab.search.percent import PercentMapping

SLIDER_THRESHOLDS = "0:100:1"

_SCRIPT = """
(function () {
  var d = JSON.parse(document.getElementById("slider-data").textContent);
  var input = document.getElementById("slider");
  function hours(h) { return h < 1 ? (h * 60).toFixed(1) + " min" : h.toFixed(2) + " h"; }
  function pct(x) { var v = 100 * x; return v === 0 ? "0 %" : (v < 0.001 ? v.toExponential(1) : String(Number(v.toPrecision(3)))) + " %"; }
  function rate(r) { return r[1] ? r[0] + " of " + r[1] + " (" + pct(r[0] / r[1]) + ")" : "n/a"; }
  function show() {
    var i = d.percent.indexOf(Number(input.value));
    if (i < 0) return;
    document.getElementById("slider-out").textContent = input.value + " %";
    document.getElementById("s-alerts").textContent = d.alerts[i];
    document.getElementById("s-review").textContent = hours(d.review_hours[i]);
    document.getElementById("s-false").textContent = d.false_alerts[i] + " of " + d.alerts[i];
    document.getElementById("s-fpir").textContent = rate(d.fpir[i]);
    document.getElementById("s-fnir").textContent = rate(d.fnir[i]);
  }
  input.addEventListener("input", show);
  show();
})();
"""


def slider_data(
    scores: RunScores, mapping: PercentMapping, *, rank: int = 1, seconds_per_candidate: float
) -> dict:
    """The slider's table: lists over ``percent`` 0..100 of ``alerts``, ``review_hours``,
    ``false_alerts`` and ``[count, total]`` pairs ``fpir`` and ``fnir``."""
    table = sweep_run(scores, SLIDER_THRESHOLDS, mapping, rank=rank,
                      seconds_per_candidate=seconds_per_candidate)  # fmt: skip
    rows = table.rows
    return {
        "mapping": table.mapping,
        "percent": [int(r.percent) for r in rows],
        "alerts": [int(r.alerts) for r in rows],
        "review_hours": [float(r.review_hours) for r in rows],
        "false_alerts": [int(r.false_alerts) for r in rows],
        "fpir": [[int(r.fpir.count), int(r.fpir.total)] for r in rows],
        "fnir": [[int(r.fnir.count), int(r.fnir.total)] for r in rows],
    }


def slider_section(
    scores: RunScores,
    mapping: PercentMapping,
    start_percent: float,
    *,
    rank: int = 1,
    seconds_per_candidate: float,
) -> str:
    """The ``<section id="slider">`` of the report (HTML text, script inline)."""
    data = slider_data(scores, mapping, rank=rank, seconds_per_candidate=seconds_per_candidate)
    start = min(100, max(0, round(start_percent)))
    i = data["percent"].index(start)
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")

    def pair(r):
        return f"{r[0]} of {r[1]}" if r[1] else "n/a"

    cells = (
        ("s-alerts", "Alerts", data["alerts"][i]),
        ("s-review", "Review time", f"{data['review_hours'][i]:.2f} h"),
        ("s-false", "Alerts on innocent people", f"{data['false_alerts'][i]} of {data['alerts'][i]}"),
        ("s-fpir", "Innocent passers-by flagged (FPIR)", pair(data["fpir"][i])),
        ("s-fnir", f"Wanted sightings missed (FNIR@{rank})", pair(data["fnir"][i])),
    )  # fmt: skip
    dl = "".join(f"<div><dt>{label}</dt><dd id='{key}'>{value}</dd></div>"
                 for key, label, value in cells)  # fmt: skip
    return (
        '<h2 id="slider-h">Move the threshold</h2><section id="slider-section">'
        f'<p><label for="slider">Threshold ({mapping.name} percent) '
        f'<output id="slider-out" for="slider">{start} %</output></label><br>'
        f'<input type="range" id="slider" min="0" max="100" step="1" value="{start}"></p>'
        f'<dl class="slider-figures">{dl}</dl>'
        "<p>Each position is one row of <code>facelab sweep --thresholds 0:100:1</code>; "
        "the run alerted at the position the slider starts from.</p>"
        f'<script type="application/json" id="slider-data">{blob}</script>'
        f"<script>{_SCRIPT}</script></section>"
    )
