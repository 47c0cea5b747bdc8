"""The manual review queue: list alerts, record a human decision.

During a run, every sighting's top watchlist candidates are kept (``candidates`` table) and
those at or above their camera's threshold become alerts (``alerts`` table, status
``pending``). An operator works through the queue and confirms or rejects each alert
(:func:`review_alert`); every decision is written to the alert's row and the audit log.

Lowering the percent below the run's threshold shows "a lot more that comes up": the
candidates that never became alerts. :func:`list_alerts` returns them too, marked
``in_queue=False`` with status :data:`BELOW_THRESHOLD`; they have an id (the id they would have
had as an alert) but cannot be reviewed, because no alert was raised for them.

Nothing here reads ground truth: whether an alert is a true match is for the reviewer to say.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
from dataclasses import asdict, dataclass

from facelab.errors import ConfigError, ConflictError, DataError
from facelab.governance import audit
from facelab.run import journal, schema
from facelab.run.store import RunStore
from facelab.search import percent

log = logging.getLogger(__name__)

BELOW_THRESHOLD = "below-threshold"
"""Status of a candidate under the run's threshold: shown on request, not in the queue."""
DECISIONS = ("confirmed", "rejected")
STATUSES = ("pending", *DECISIONS, BELOW_THRESHOLD)
_DECISION_WORDS = {"confirmed": "confirmed", "confirm": "confirmed",
                   "rejected": "rejected", "reject": "rejected"}  # fmt: skip


@dataclass(frozen=True)
class Alert:
    """One row of the review queue (or a candidate below the run's threshold).

    Attributes
    ----------
    id : int
        Alert id (:func:`facelab.run.schema.alert_id` of sighting and rank); a below-threshold
        candidate gets the id it would have had.
    watch_label : str
        Watchlist entry matched.
    camera : str
        Camera id.
    time : str
        Simulated wall-clock time, ISO 8601 (scenario start + ``t`` seconds).
    percent : float
        Under the run's mapping.
    rank : int
        1 for the sighting's best watchlist candidate.
    status : str
        ``pending``, ``confirmed``, ``rejected`` or ``below-threshold``.
    frame : str or None
        Frame image (signed JPEG) relative to the run directory (the "clip").
    in_queue : bool
        False for candidates below the run's threshold (never alerted).
    watch_id, sighting, t, day : int
    score : float
        Cosine similarity.
    reviewed_by, reviewed_at, case_id, note : str or None
    """

    id: int
    watch_label: str
    camera: str
    time: str
    percent: float
    rank: int
    status: str
    frame: str | None
    in_queue: bool
    watch_id: int
    sighting: int
    t: int
    day: int
    score: float
    reviewed_by: str | None = None
    reviewed_at: str | None = None
    case_id: str | None = None
    note: str | None = None


ALERT_FIELDS = tuple(Alert.__dataclass_fields__)
"""Keys of one alert in the JSON form (:func:`alert_dict`), in this order."""


def alert_dict(a: Alert) -> dict:
    """One alert as a JSON-ready dict (keys :data:`ALERT_FIELDS`; percent and score unrounded);
    :func:`facelab.lab.jsonview.alert` builds ``facelab alerts --format json`` on it."""
    return asdict(a)


def _mapping(store: RunStore) -> percent.PercentMapping:
    name = store.scenario_dict().get("thresholds", {}).get("mapping", percent.DEFAULT_MAPPING)
    return percent.get_mapping(name)


def _start(store: RunStore) -> _dt.datetime:
    start = store.scenario_dict().get("start")
    try:
        return _dt.datetime.combine(_dt.date.fromisoformat(str(start)), _dt.time())
    except ValueError:
        raise ConfigError(
            f"{store.path / 'run.json'}: scenario start {start!r} is not a date"
        ) from None


def list_alerts(
    store: RunStore,
    min_percent: float | None = None,
    status: str | None = None,
    camera: str | None = None,
    limit: int | None = None,
) -> list[Alert]:
    """The review queue, oldest first (then by rank).

    Parameters
    ----------
    store : RunStore
    min_percent : float, optional
        Show candidates at or above this percent (run's mapping). Default: the queue as raised
        (each camera's threshold). Below a camera's threshold, the candidates that never became
        alerts are added, with status ``below-threshold``.
    status : str, optional
        ``pending``, ``confirmed``, ``rejected`` or ``below-threshold``. ``pending`` also keeps
        below-threshold candidates (nobody has looked at them either).
    camera : str, optional
        Camera id.
    limit : int, optional
        At most this many rows.

    Raises
    ------
    ConfigError
        Percent outside [0, 100], unknown status or camera, limit < 1.
    """
    if status is not None and status not in STATUSES:
        raise ConfigError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
    if limit is not None and (isinstance(limit, bool) or int(limit) != limit or limit < 1):
        raise ConfigError(f"--limit must be an integer >= 1, got {limit!r}")
    cam_idx = None
    cameras = schema.cameras(store.db)
    if camera is not None:
        idx = {c.id: c.idx for c in cameras}
        if camera not in idx:
            known = ", ".join(c.id for c in cameras)
            raise ConfigError(f"unknown camera {camera!r} in {store.path}; cameras: {known}")
        cam_idx = int(idx[camera])
    mapping = _mapping(store)
    cos_t = None
    if min_percent is not None:
        p = float(min_percent)
        if not 0.0 <= p <= 100.0:
            raise ConfigError(f"--min-percent must lie in [0, 100], got {p:g}")
        cos_t = float(mapping.to_cosine(p))
    start = _start(store)
    cams = {c.idx: c.id for c in cameras}
    labels = _labels(store)

    rows = []
    if status != BELOW_THRESHOLD:
        views = schema.alert_views(
            store.db, min_score=cos_t, camera=cam_idx,
            status=status if status in (*DECISIONS, "pending") else None,
        )  # fmt: skip
        rows = [_alert(v, start, cams, labels) for v in views]
    if cos_t is not None and status in (None, "pending", BELOW_THRESHOLD):
        for v in schema.unalerted_candidates(store.db, cos_t, cam_idx):
            c, s = v.candidate, v.sighting
            score = float(c.score)
            rows.append(Alert(
                id=int(schema.alert_id(c.sighting, c.rank)),
                watch_label=labels.get(c.watch, f"#{c.watch}"),
                camera=cams.get(s.camera, f"#{s.camera}"), time=_iso(start, s.t),
                percent=float(mapping.to_percent(score)), rank=int(c.rank) + 1,
                status=BELOW_THRESHOLD, frame=v.frame_path, in_queue=False, watch_id=int(c.watch),
                sighting=int(c.sighting), t=int(s.t), day=int(s.day), score=score,
            ))  # fmt: skip
    rows = _as_settled(store, rows)
    rows.sort(key=lambda a: (a.t, a.sighting, a.rank))
    return rows[: int(limit)] if limit is not None else rows


def _as_settled(store: RunStore, rows: list[Alert]) -> list[Alert]:
    """``rows`` with each decision still pending (:func:`facelab.run.journal.pending_view`)
    shown as it will be settled: one without its audit record as never made."""
    undo = {
        int(data["alert_id"]): data
        for action, data, audited in journal.pending_view(store)
        if action == "review" and not audited
    }
    if not undo:
        return rows
    keys = ("status", "reviewed_by", "reviewed_at", "case_id", "note")
    return [
        dataclasses.replace(a, **{k: undo[a.id][k] for k in keys})
        if a.in_queue and a.id in undo
        else a
        for a in rows
    ]


def _labels(store: RunStore) -> dict[int, str]:
    """Label of every watchlist entry, removed ones too."""
    return {e.id: e.label for e in schema.watchlist_entries(store.db, include_removed=True)}


def _alert(v: schema.AlertView, start: _dt.datetime, cams: dict, labels: dict) -> Alert:
    a = v.alert
    return Alert(
        id=int(a.id), watch_label=labels.get(a.watch, f"#{a.watch}"),
        camera=cams.get(a.camera, f"#{a.camera}"), time=_iso(start, a.t), percent=float(a.percent),
        rank=int(a.rank) + 1, status=a.status, frame=v.frame_path, in_queue=True,
        watch_id=int(a.watch), sighting=int(a.sighting), t=int(a.t), day=int(a.day),
        score=float(a.score), reviewed_by=a.reviewed_by, reviewed_at=a.reviewed_at,
        case_id=a.case_id, note=a.note,
    )  # fmt: skip


def _iso(start: _dt.datetime, t) -> str:
    return (start + _dt.timedelta(seconds=int(t))).isoformat()


def get_alert(store: RunStore, alert_id: int) -> Alert:
    """One alert of the queue by id.

    Raises
    ------
    DataError
        No such alert (a below-threshold candidate is named as such).
    """
    if not 0 <= int(alert_id) < 1 << 63:  # past the database's integers (a URL's id, say)
        raise DataError(f"no alert {alert_id} in {store.path} (see `facelab alerts {store.path}`)")
    for a in _by_id(store, alert_id):
        return a
    if schema.candidate_exists(store.db, *schema.split_alert_id(alert_id)):
        raise DataError(
            f"{alert_id} is a candidate below the run's alert threshold, not an alert in the "
            "review queue; it cannot be reviewed"
        )
    raise DataError(f"no alert {alert_id} in {store.path} (see `facelab alerts {store.path}`)")


def _by_id(store: RunStore, alert_id: int) -> list[Alert]:
    start, labels = _start(store), _labels(store)
    cams = {c.idx: c.id for c in schema.cameras(store.db)}
    views = schema.alert_views(store.db, alert_id=int(alert_id))
    return [_alert(v, start, cams, labels) for v in views]


def review_alert(
    store: RunStore,
    alert_id: int,
    decision: str,
    *,
    actor: str,
    reason: str | None,
    case: str | None = None,
    note: str | None = None,
    expect: str | None = None,
    on_step=None,
) -> Alert:
    """Record a reviewer's decision on an alert: the row is updated and the audit log appended.

    Parameters
    ----------
    alert_id : int
    decision : {"confirmed", "rejected"}
        (``"confirm"`` and ``"reject"`` are accepted too.)
    actor : str
    reason, case : str
        A stated reason or a case id is required unless the run's policy allows neither.
    note : str, optional
        Free text kept on the alert.
    expect : str, optional
        The status the reviewer saw (``"pending"``...): the decision is recorded only if the
        alert still has it when the write lock is held, so two reviewers deciding at once
        cannot both record a decision on what they saw (the second gets a
        :class:`~facelab.errors.ConflictError`).
    on_step : callable, optional
        ``on_step(label, None)`` after each write (:mod:`facelab.run.journal`).

    Returns
    -------
    Alert
        The alert as it is now.

    Raises
    ------
    ConfigError
        Unknown decision.
    AuditError
        Neither reason nor case id while the policy requires one.
    DataError
        Unknown alert id, or a below-threshold candidate.
    ConflictError
        ``expect`` given and the alert's status is no longer ``expect``.

    The decision and a pending row are written in one transaction, then the audit record, then
    the pending row is deleted (:mod:`facelab.run.journal`: a kill in between is settled by the
    next audited operation). A decision can be changed by reviewing again; the audit log keeps
    every decision. The
    alert is read again inside the write transaction, so the ``previous`` status recorded is
    the one the decision replaced, even with several reviewers at once.
    """
    d = _DECISION_WORDS.get(str(decision).strip().lower())
    if d is None:
        raise ConfigError(f"unknown decision {decision!r}; choose confirmed or rejected")
    policy = bool(store.scenario_dict().get("policy", {}).get("require_reason", True))
    case = case.strip() if case and case.strip() else None
    reason = audit.require_reason(
        reason, policy and case is None, "a review decision (or a --case id)"
    )
    with journal.exclusive(store):
        journal.recover(store)
        get_alert(store, alert_id)  # unknown ids and below-threshold candidates: refused now
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        op = journal.new_op()
        seen: list[Alert] = []

        def rows(db):
            before = get_alert(store, alert_id)
            if expect is not None and before.status != expect:
                by = (
                    f" by {before.reviewed_by} at {before.reviewed_at}"
                    if before.reviewed_by
                    else ""
                )
                raise ConflictError(
                    f"alert {alert_id} is {before.status}{by}, not {expect}; nothing was recorded"
                )
            schema.set_review(
                db, alert_id, status=d, reviewed_by=actor, reviewed_at=now, case_id=case, note=note
            )
            seen.append(before)
            return {"status": before.status, "reviewed_by": before.reviewed_by,
                    "reviewed_at": before.reviewed_at, "case_id": before.case_id,
                    "note": before.note}  # fmt: skip

        journal.begin(store, op, "review", {"alert_id": int(alert_id)}, rows)
        with journal.settled_on_error(store):
            before = seen[0]
            journal.step(on_step, "review-begun")
            store.audit.append(
                actor, "review", reason=reason, case=case or before.case_id,
                details={
                    "alert_id": int(alert_id), "decision": d, "previous": before.status,
                    "watch_label": before.watch_label, "sighting": before.sighting,
                    "camera": before.camera, "percent": round(before.percent, 4), "note": note,
                    "op": op,
                },
            )  # fmt: skip
            journal.step(on_step, "review-audit")
            journal.finish(store, op)
            journal.step(on_step, "review-done")
    log.info("alert %d %s by %s", alert_id, d, actor)
    return get_alert(store, alert_id)


def _finish_review(store: RunStore, op: str, data: dict) -> None:
    journal.finish(store, op)


def _undo_review(store: RunStore, op: str, data: dict) -> None:
    journal.finish(store, op, lambda db: schema.restore_review(
        db, data["alert_id"], status=data["status"], reviewed_by=data["reviewed_by"],
        reviewed_at=data["reviewed_at"], case_id=data["case_id"], note=data["note"],
    ))  # fmt: skip


journal.register("review", _finish_review, _undo_review)
