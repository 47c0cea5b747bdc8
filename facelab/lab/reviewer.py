"""The human who reviews each alert: who is stopped, who is missed, and the reviewer's hours.

An alert is not yet a stop: a person looks at it and confirms or dismisses it. The reviewer
model of a scenario's ``[review]`` table (:class:`facelab.config.sections.ReviewSpec`) decides
each alert of a run at each threshold:

    logit P(confirm) = logit(p) + automation_bias · (displayed % − threshold %) / 10
                                + queue_effect · (alerts waiting) / 10

with ``p`` = ``p_confirm_true`` for an alert on the person really in the sighting and
``p_confirm_false`` otherwise. One reviewer takes the alerts of a day in arrival order (the
sighting's frame time), ``seconds_per_alert`` each; *alerts waiting* is how many earlier alerts
of the day are unfinished when an alert arrives (a FIFO queue, the Lindley recursion).

Every stored candidate at or above the threshold is an alert, as in the sweep. The decision
uses one uniform number per alert, a hash of ``(scenario seed, sighting, watchlist entry)``:
the same run gives the same decisions, and an alert that exists at two thresholds meets the
same draw at both (common random numbers, so a lower threshold changes outcomes only by the
alerts it adds and by the queue).

Outcomes (per threshold; per day = divided by the days whose searches are held):

- ``stops`` = confirmed alerts = ``true_stops + innocent_stops``;
- ``innocent_stops`` = confirmed false alerts (the sighting is not of the entry's person;
  a sighting of no one counts here too), ``innocent_people`` the distinct (person, day) pairs
  among them with a person;
- ``wanted_missed``: (watchlisted person, day) pairs with a pass at a face-recognition camera
  that day but no confirmed true alert that day (a face never detected is missed too);
- ``reviewer_hours`` = alerts × ``seconds_per_alert`` / 3600.

With measured groups (:mod:`facelab.lab.groups`), each outcome is also given per group of the
person in the sighting (innocent stops) or of the wanted person (missed).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facelab.config.sections import ReviewSpec
from facelab.lab.purged import held_days
from facelab.lab.scores import RunScores, load_scores
from facelab.lab.sweep import cosines_for, run_mapping
from facelab.lab.watchlists import AS_SEARCHED, DESCRIPTIONS
from facelab.run import schema
from facelab.run.store import RunStore
from facelab.search.percent import PercentMapping, parse_thresholds
from facelab.truth import TruthStore

SECONDS_PER_DAY = 86_400
REVIEW_STREAM = 0x52455601
_M64 = (1 << 64) - 1


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 (wrapping arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def decision_uniforms(seed: int, sighting: np.ndarray, watch: np.ndarray) -> np.ndarray:
    """One uniform in [0, 1) per alert: a hash of ``(seed, REVIEW_STREAM, sighting, watch)``.

    Returns
    -------
    float64 (n,)
    """
    h = _mix(np.full(len(sighting), (int(seed) * 0x9E3779B97F4A7C15 + REVIEW_STREAM) & _M64,
                     np.uint64))  # fmt: skip
    with np.errstate(over="ignore"):
        h = _mix(h ^ np.asarray(sighting, np.int64).astype(np.uint64))
        h = _mix(h ^ np.asarray(watch, np.int64).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def queue_lengths(t: np.ndarray, day: np.ndarray, seconds: float) -> np.ndarray:
    """Alerts waiting when each alert arrives, one FIFO reviewer per day.

    Parameters
    ----------
    t : int64 (n,), arrival times, sorted ascending within each day; ``day`` sorted ascending.
    seconds : service time per alert.

    Returns
    -------
    int64 (n,)
    """
    out = np.zeros(len(t), np.int64)
    for d in np.unique(day):
        lo, hi = np.searchsorted(day, [d, d + 1])
        tt = t[lo:hi].astype(np.float64)
        i = np.arange(hi - lo, dtype=np.float64)
        # Lindley: finish_i = s (i + 1) + max_{j <= i} (t_j − s j)
        finish = seconds * (i + 1) + np.maximum.accumulate(tt - seconds * i)
        done = np.searchsorted(finish, tt, side="right")  # finish is non-decreasing
        out[lo:hi] = np.arange(hi - lo) - np.minimum(done, np.arange(hi - lo))
    return out


def p_confirm(spec: ReviewSpec, mate: np.ndarray, excess_percent: np.ndarray,
              waiting: np.ndarray) -> np.ndarray:  # fmt: skip
    """P(confirm) of each alert under ``spec`` (float64, shape of ``mate``)."""
    p = np.where(mate, spec.p_confirm_true, spec.p_confirm_false).astype(np.float64)
    if spec.automation_bias == 0 and spec.queue_effect == 0:
        return p
    with np.errstate(divide="ignore"):
        logit = np.log(p) - np.log1p(-p)
    logit = logit + spec.automation_bias * excess_percent / 10 + spec.queue_effect * waiting / 10
    return 1.0 / (1.0 + np.exp(-logit))


@dataclass(frozen=True)
class RunAlerts:
    """Every stored candidate of a run as a potential alert, with what review needs.

    Arrays are in arrival order ``(day, t, sighting, score descending)``.
    """

    seed: int
    sighting: np.ndarray
    watch: np.ndarray
    score: np.ndarray
    mate: np.ndarray
    person: np.ndarray
    day: np.ndarray
    t: np.ndarray
    u: np.ndarray
    target_person: np.ndarray
    target_day: np.ndarray
    held_days: int
    group_of: dict[int, str] | None = field(default=None, repr=False)
    watchlist: str = AS_SEARCHED


def _frame_time(frame_id: object, day: int) -> int:
    tod = int(str(frame_id).rsplit("-", 1)[1]) if frame_id is not None else 0
    return day * SECONDS_PER_DAY + tod


def load_alerts(store: RunStore, watchlist: str = AS_SEARCHED,
                scores: RunScores | None = None) -> RunAlerts:  # fmt: skip
    """Read a run's candidates, their sightings' times, the truth and the groups, if any.

    The candidates, and whether each is on the sighting's person, are exactly those of
    :func:`facelab.lab.scores.load_scores` with the same ``watchlist``
    (:mod:`facelab.lab.watchlists`; by default the version each search ran against), so the
    alerts are the sweep's. A (person, day) is wanted when the person is on the watchlist
    that day is scored against (:meth:`~facelab.lab.watchlists.Basis.wanted`), counting the
    passes of days whose searches are held, as :func:`facelab.lab.passes.load_passes` does.
    ``scores``: that ``load_scores`` result, when already read.
    """
    scores = scores if scores is not None else load_scores(store, watchlist)
    db = store.db
    keys = schema.sighting_keys(db)
    t_of = {int(i): _frame_time(f, int(d))
            for i, d, f in zip(keys["id"], keys["day"], keys["frame_id"], strict=True)}  # fmt: skip
    with TruthStore(store.path, readonly=True) as truth:
        wt, passes, ig = truth.watch_identities(), truth.passes(), truth.identity_groups()
    row, watch_all = scores.cand_row, scores.cand_watch
    sighting_all = scores.sighting[row]
    person = scores.person[row]
    mate = scores.cand_mate
    day = scores.day[row]
    t = np.array([t_of[s] for s in sighting_all.tolist()], np.int64)
    score = scores.cand_score.astype(np.float64)
    order = np.lexsort((-score, sighting_all, t, day))
    passes = passes[np.isin(passes[:, 1], np.unique(scores.day))] if len(passes) else passes
    wanted = (scores.basis.wanted(passes[:, 1], passes[:, 3], wt) if len(passes)
              else np.zeros(0, bool))  # fmt: skip
    pairs = np.unique(passes[wanted][:, [3, 1]], axis=0) if wanted.any() else np.zeros((0, 2))
    seed = store.scenario().seed
    sighting, watch = sighting_all[order], watch_all[order]
    return RunAlerts(
        seed=seed, sighting=sighting, watch=watch, score=score[order], mate=mate[order],
        person=person[order], day=day[order], t=t[order],
        u=decision_uniforms(seed, sighting, watch),
        target_person=pairs[:, 0].astype(np.int64), target_day=pairs[:, 1].astype(np.int64),
        held_days=max(1, len(held_days(store, scores.day))),
        group_of=None if ig is None else {i: g for i, (g, _) in ig.items()},
        watchlist=scores.basis.name,
    )  # fmt: skip


def decide(alerts: RunAlerts, spec: ReviewSpec, on: np.ndarray,
           excess_percent: np.ndarray) -> np.ndarray:  # fmt: skip
    """The model's decision on each alert of ``alerts`` selected by the bool mask ``on``, when
    exactly those alerts reach the reviewer: True where confirmed.

    ``excess_percent`` is each selected alert's displayed percent minus its threshold's. The
    queue is that of the selected alerts (one FIFO reviewer per day, in arrival order).
    """
    waiting = queue_lengths(alerts.t[on], alerts.day[on], spec.seconds_per_alert)
    return alerts.u[on] < p_confirm(spec, alerts.mate[on], excess_percent, waiting)


@dataclass(frozen=True)
class ReviewOutcome:
    """What review made of the alerts at one threshold (counts over the held days)."""

    percent: float
    cosine: float
    alerts: int
    true_alerts: int
    false_alerts: int
    stops: int
    true_stops: int
    innocent_stops: int
    innocent_people: int
    wanted_seen: int
    wanted_missed: int
    reviewer_hours: float
    days: int
    by_group: dict[str, dict[str, int]] | None = None

    def per_day(self, name: str) -> float:
        return getattr(self, name) / self.days

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: getattr(self, k)
            for k in ("percent", "alerts", "true_alerts", "false_alerts", "stops", "true_stops",
                      "innocent_stops", "innocent_people", "wanted_seen", "wanted_missed",
                      "days")
        }  # fmt: skip
        out["cosine"] = round(self.cosine, 6)
        out["reviewer_hours"] = round(self.reviewer_hours, 6)
        out["per_day"] = {k: round(self.per_day(k), 6) for k in
                          ("stops", "innocent_stops", "wanted_missed", "reviewer_hours")}  # fmt: skip
        if self.by_group is not None:
            out["by_group"] = self.by_group
        return out


def review_outcomes(
    alerts: RunAlerts,
    spec: ReviewSpec,
    thresholds: str | Any = "50:80:5",
    mapping: PercentMapping | None = None,
) -> list[ReviewOutcome]:
    """The reviewer model's outcomes at each percent threshold (``mapping``: the run's, default
    linear)."""
    from facelab.search.percent import get_mapping

    m = mapping or get_mapping("linear")
    percents = parse_thresholds(thresholds) if isinstance(thresholds, str) else np.sort(
        np.asarray(thresholds, float))  # fmt: skip
    out = []
    shown = np.asarray(m.to_percent(alerts.score), np.float64)
    for pct, cos in zip(percents, cosines_for(m, percents), strict=True):
        on = alerts.score >= cos
        day = alerts.day[on]
        mate = alerts.mate[on]
        confirm = decide(alerts, spec, on, shown[on] - pct)
        person = alerts.person[on]
        innocent = confirm & ~mate
        caught = {(int(p), int(d)) for p, d in zip(person[confirm & mate], day[confirm & mate],
                                                   strict=True)}  # fmt: skip
        targets = list(zip(alerts.target_person.tolist(), alerts.target_day.tolist(), strict=True))
        missed = [pd for pd in targets if pd not in caught]
        stopped = {(int(p), int(d)) for p, d in zip(person[innocent], day[innocent], strict=True)
                   if p >= 0}  # fmt: skip
        by_group = None
        if alerts.group_of is not None:
            by_group = _by_group(alerts.group_of, person, innocent, confirm, mate, targets, missed)
        out.append(ReviewOutcome(
            percent=float(pct), cosine=float(cos), alerts=int(on.sum()),
            true_alerts=int(mate.sum()), false_alerts=int((~mate).sum()),
            stops=int(confirm.sum()), true_stops=int((confirm & mate).sum()),
            innocent_stops=int(innocent.sum()), innocent_people=len(stopped),
            wanted_seen=len(targets), wanted_missed=len(missed),
            reviewer_hours=float(on.sum()) * spec.seconds_per_alert / 3600.0,
            days=alerts.held_days, by_group=by_group,
        ))  # fmt: skip
    return out


def _by_group(group_of, person, innocent, confirm, mate, targets, missed) -> dict:
    groups = sorted(set(group_of.values()))
    g_person = np.array([group_of.get(int(p), "") for p in person.tolist()], dtype=object)
    res = {}
    for g in groups:
        mine = g_person == g
        res[g] = {
            "alerts": int(mine.sum()),
            "false_alerts": int((mine & ~mate).sum()),
            "innocent_stops": int((mine & innocent).sum()),
            "true_stops": int((mine & confirm & mate).sum()),
            "wanted_seen": sum(group_of.get(p) == g for p, _ in targets),
            "wanted_missed": sum(group_of.get(p) == g for p, _ in missed),
        }
    return res


def review_run(store: RunStore, thresholds: str = "50:80:5", mapping: str = "linear",
               spec: ReviewSpec | None = None,
               watchlist: str = AS_SEARCHED) -> list[ReviewOutcome]:  # fmt: skip
    """:func:`review_outcomes` of a run under its scenario's ``[review]`` (or ``spec``), each
    search scored against ``watchlist`` (:mod:`facelab.lab.watchlists`)."""
    scores = load_scores(store, watchlist)
    alerts = load_alerts(store, watchlist, scores)
    m = run_mapping(scores, mapping)
    return review_outcomes(alerts, spec or store.scenario().review, thresholds, m)


def review_json(outcomes: list[ReviewOutcome], spec: ReviewSpec,
                watchlist: str = AS_SEARCHED) -> str:  # fmt: skip
    """Outcomes as JSON, with the model's parameters and the watchlist scored against."""
    doc = {"review": spec.to_dict(),
           "watchlist": {"scored_against": watchlist, "description": DESCRIPTIONS[watchlist]},
           "thresholds": [o.to_dict() for o in outcomes]}  # fmt: skip
    return json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def review_text(outcomes: list[ReviewOutcome], spec: ReviewSpec) -> str:
    """Outcomes as a plain-text table (per day), then per group when there are groups."""
    lines = [
        f"reviewer model: {spec.seconds_per_alert:g} s per alert; P(confirm | right person) "
        f"{spec.p_confirm_true:g}, P(confirm | someone else) {spec.p_confirm_false:g}; "
        f"automation bias {spec.automation_bias:g}, queue effect {spec.queue_effect:g} "
        "(log-odds per 10)",
        f"{'thresh.':>8} {'alerts':>8} {'stops':>7} {'innocent':>9} {'people':>7} "
        f"{'wanted':>7} {'missed':>7} {'hours':>8}   per day: {'stops':>7} {'innocent':>8} "
        f"{'missed':>7} {'hours':>7}",
    ]  # fmt: skip
    for o in outcomes:
        lines.append(
            f"{o.percent:>7g}% {o.alerts:>8,} {o.stops:>7,} {o.innocent_stops:>9,} "
            f"{o.innocent_people:>7,} {o.wanted_seen:>7,} {o.wanted_missed:>7,} "
            f"{o.reviewer_hours:>8.3g}            {_d(o.per_day('stops')):>7} "
            f"{_d(o.per_day('innocent_stops')):>8} {_d(o.per_day('wanted_missed')):>7} "
            f"{_d(o.per_day('reviewer_hours')):>7}"
        )  # fmt: skip
    if outcomes and outcomes[0].by_group is not None:
        lines.append("")
        lines.append("by group of the person in the alert (innocent stops) or wanted (missed):")
        for o in outcomes:
            parts = [f"{g} {v['innocent_stops']} innocent stopped, {v['wanted_missed']}/"
                     f"{v['wanted_seen']} wanted missed" for g, v in o.by_group.items()]  # fmt: skip
            lines.append(f"{o.percent:>7g}%  " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def _d(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    return f"{x:.3g}"


DECISIONS = ("confirmed", "rejected")
"""The review decisions students record (``facelab review``; the console's operator view)."""


def student_agreement(store: RunStore, spec: ReviewSpec | None = None) -> dict[str, Any]:
    """People's own review decisions beside the reviewer model's on the same alerts.

    The model reviews the run's stored alert queue (the ``alerts`` table: every alert the
    students could decide, each at its camera's threshold, shown with its stored percent),
    one FIFO reviewer per day, with the draws of :func:`decision_uniforms`; each alert
    someone confirmed or rejected is then compared with the model's decision on it. Each
    search is scored against the watchlist it ran against (:mod:`facelab.lab.watchlists`).
    Alerts of purged days are not compared (their searches are gone).

    Returns
    -------
    dict
        ``review`` (the model's parameters), ``alerts`` (stored alerts the model reviewed),
        ``decided`` (alerts people decided), ``compared`` (those also reviewed by the model),
        ``agree``, ``both_confirmed``, ``both_rejected``, ``people_only_confirmed``,
        ``model_only_confirmed``; ``people`` and ``model``: on the compared alerts,
        ``confirmed``, ``confirmed_false`` (innocent people stopped) and ``rejected_true``
        (wanted people let go); ``model_all``: the same over every stored alert.
    """
    spec = spec or store.scenario().review
    threshold = {c.idx: c.threshold for c in schema.cameras(store.db)}
    rows = [v.alert for v in schema.alert_views(store.db)]
    alerts = load_alerts(store)
    n = len(alerts.sighting)
    where = {k: i for i, k in enumerate(zip(alerts.sighting.tolist(), alerts.watch.tolist()))}
    pos = np.array([where.get((a.sighting, a.watch), -1) for a in rows], np.int64)
    on = np.zeros(n, bool)
    on[pos[pos >= 0]] = True
    excess = np.zeros(n)
    for a, i in zip(rows, pos.tolist(), strict=True):
        if i >= 0:
            excess[i] = a.percent - (threshold[a.camera] or 0.0)
    model = np.zeros(n, bool)
    model[on] = decide(alerts, spec, on, excess[on])
    people = [(a.status == "confirmed", int(i)) for a, i in zip(rows, pos.tolist(), strict=True)
              if a.status in DECISIONS and i >= 0]  # fmt: skip
    p_conf = np.array([c for c, _ in people], bool)
    idx = np.array([i for _, i in people], np.int64)
    m_conf, mate = model[idx], alerts.mate[idx]

    def tally(confirmed: np.ndarray, true: np.ndarray) -> dict[str, int]:
        return {"confirmed": int(confirmed.sum()), "confirmed_false": int((confirmed & ~true).sum()),
                "rejected_true": int((~confirmed & true).sum())}  # fmt: skip

    decided = sum(a.status in DECISIONS for a in rows)
    return {
        "review": spec.to_dict(),
        "alerts": int(on.sum()),
        "decided": int(decided),
        "compared": len(idx),
        "agree": int((p_conf == m_conf).sum()),
        "both_confirmed": int((p_conf & m_conf).sum()),
        "both_rejected": int((~p_conf & ~m_conf).sum()),
        "people_only_confirmed": int((p_conf & ~m_conf).sum()),
        "model_only_confirmed": int((~p_conf & m_conf).sum()),
        "people": tally(p_conf, mate),
        "model": tally(m_conf, mate),
        "model_all": tally(model[on], alerts.mate[on]),
    }
