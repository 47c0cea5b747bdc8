"""The report's "who is flagged" section: what the human reviewer makes of the alerts, and,
for runs with measured groups, the error rates per group and the differential between them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from facelab.lab import groups as lab_groups
from facelab.lab.report.sections import esc, rate_cell
from facelab.lab.report.text import duration, num
from facelab.lab.reviewer import load_alerts, review_outcomes
from facelab.run.store import RunStore
from facelab.search.percent import PercentMapping
from facelab.truth import TruthStore


def _table(head: list[str], rows: list[list[str]], title: str) -> str:
    ths = "".join(f"<th>{h}</th>" for h in head)
    trs = "".join("<tr>" + "".join(r) + "</tr>" for r in rows)
    return f'<h3>{esc(title)}</h3><div class="scroll"><table class="data"><tr>{ths}</tr>{trs}</table></div>'


def who_is_flagged_section(
    store: RunStore, mapping: PercentMapping, percents: Sequence[float]
) -> str:
    """HTML: stops, innocent people stopped, wanted people missed and reviewer hours per day at
    ``percents`` under the scenario's ``[review]`` model; per group when the run has groups."""
    spec = store.scenario().review
    outcomes = review_outcomes(load_alerts(store), spec, list(percents), mapping)
    head = ["threshold", "alerts per day", "stops per day", "innocent people stopped<br>per day",
            "wanted people missed<br>per day", "reviewer time<br>per day"]  # fmt: skip
    rows = [[f"<td>{o.percent:g} %</td>", f"<td>{num(o.per_day('alerts'))}</td>",
             f"<td>{num(o.per_day('stops'))}</td>", f"<td>{num(o.per_day('innocent_stops'))}</td>",
             f"<td>{num(o.per_day('wanted_missed'))}</td>",
             f"<td>{duration(o.per_day('reviewer_hours'))}</td>"] for o in outcomes]  # fmt: skip
    out = [
        '<h2 id="flagged">Who is flagged, and who is stopped</h2>',
        "<p><b class='q'>An alert is not yet a stop.</b> A person checks each alert and confirms "
        "or dismisses it. Modelled here: one reviewer, "
        f"{spec.seconds_per_alert:g} seconds per alert, who confirms "
        f"{100 * spec.p_confirm_true:g} % of alerts on the right person and "
        f"{100 * spec.p_confirm_false:g} % of alerts on someone else (the rates passport "
        "officers showed matching photo-ID to people, White et al. 2014, unless the scenario's "
        "<code>[review]</code> says otherwise; see docs/reviewer.md). A confirmed alert on "
        "someone else is an innocent person stopped.</p>",
        _table(head, rows, "The reviewer's decisions"),
    ]
    with TruthStore(store.path, readonly=True) as truth:
        has_groups = truth.identity_groups() is not None
    if has_groups:
        out.append(_groups_part(store, mapping, percents, outcomes))
    return "".join(out)


def _groups_part(store, mapping, percents, outcomes) -> str:
    gsw = lab_groups.sweep_groups(lab_groups.load_group_scores(store), list(percents), mapping)
    head = ["group", "threshold", "innocent people flagged<br>(FPIR)",
            "same-group false match<br>(FMR)", "wanted people missed<br>(FNIR)",
            "innocent stops", "wanted missed / seen"]  # fmt: skip
    rows = []
    for g in gsw.groups:
        for o, row in zip(outcomes, gsw.rows[g], strict=True):
            v = (o.by_group or {}).get(g, {})
            rows.append([f"<td>{esc(g)}</td>", f"<td>{o.percent:g} %</td>",
                         rate_cell(row["fpir"]), rate_cell(row["fmr_within"]),
                         rate_cell(row["fnir"]), f"<td>{v.get('innocent_stops', 0):,}</td>",
                         f"<td>{v.get('wanted_missed', 0):,} / {v.get('wanted_seen', 0):,}</td>"])  # fmt: skip
    diff = []
    for d in gsw.differential:
        if math.isnan(d.ratio):
            diff.append(f"at {d.percent:g} %: no ratio (no false match, or one group)")
        else:
            sig = "significant" if d.significant else "not significant"
            diff.append(f"at {d.percent:g} %: {esc(d.high_group)} / {esc(d.low_group)} = "
                        f"{d.ratio:.3g} (95 % interval {d.lo:.3g}–{d.hi:.3g}, {sig})")  # fmt: skip
    return (
        "<p>The people of this run were given <b>groups measured on their synthetic faces</b> "
        f"({esc(lab_groups.WHAT_GROUPS_ARE)}; see docs/groups.md). Per group:</p>"
        + _table(head, rows, "Errors and stops by group")
        + "<p>Highest over lowest same-group false-match rate (NIST IR 8280's measure): "
        + "; ".join(diff)
        + ".</p>"
    )
