"""Closing a case, whole or not at all (:mod:`facelab.run.journal`), and the case statuses as
they will be settled.

A case is named by the confirmed alerts a reviewer attached to it (:mod:`facelab.run.review`)
and is open until closed; :func:`close_case` writes the ``cases`` row and a pending row in one
transaction, then the audit record ``case-close``, then deletes the pending row. A kill in
between is settled by the next audited operation: the row stays when the audit record was
written, otherwise the case's row is put back as it was. The retention layer
(:mod:`facelab.governance.retention.holds`) turns the statuses into case holds.
"""

from __future__ import annotations

import datetime as _dt
import logging

from facelab.errors import DataError
from facelab.run import journal, schema, schema_cases
from facelab.run.store import RunStore

log = logging.getLogger(__name__)

ACTION = "case-close"
"""The journal action and the audit action of a closing."""


def statuses(store: RunStore) -> dict[str, str]:
    """Status of every case with a row, a closing still pending without its audit record shown
    as never made (:func:`facelab.run.journal.pending_view`), so read-only readers see what
    the next audited operation will settle."""
    status = {c.id: c.status for c in schema.cases(store.db)}
    for action, data, audited in journal.pending_view(store):
        if action == ACTION and not audited:
            prev = data["previous"]
            if prev is None:
                status.pop(data["case"], None)
            else:
                status[data["case"]] = prev[0]
    return status


def close_case(
    store: RunStore, case_id: str, *, actor: str, reason: str | None = None, on_step=None
) -> int:
    """Close a case: its row says ``closed`` and the audit log has a ``case-close`` record.

    Parameters
    ----------
    store : RunStore
    case_id : str
    actor : str
    reason : str, optional
        Stated reason (audit log).
    on_step : callable, optional
        ``on_step(label, None)`` after each write (:mod:`facelab.run.journal`).

    Returns
    -------
    int
        The number of confirmed alerts the case held.

    Raises
    ------
    DataError
        No alert and no earlier closing names ``case_id`` (nothing is written).
    """
    with journal.exclusive(store):
        journal.recover(store)
        counts = schema.confirmed_by_case(store.db)
        if case_id not in counts and case_id not in {c.id for c in schema.cases(store.db)}:
            raise DataError(f"no case {case_id[:64]!r} in {store.path} "
                            f"(see `facelab retention cases {store.path}`)")  # fmt: skip
        n = int(counts.get(case_id, 0))
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        op = journal.new_op()

        def rows(db):
            previous = schema_cases.case_row(db, case_id)
            schema.set_case_closed(db, case_id, now)
            return {"previous": previous}

        journal.begin(store, op, ACTION, {"case": case_id}, rows)
        with journal.settled_on_error(store):
            journal.step(on_step, "case-close-begun")
            store.audit.append(actor, ACTION, reason=reason, case=case_id,
                               details={"confirmed_alerts": n, "op": op})  # fmt: skip
            journal.step(on_step, "case-close-audit")
            journal.finish(store, op)
            journal.step(on_step, "case-close-done")
    log.info("case %s closed by %s", case_id, actor)
    return n


def _finish_close(store: RunStore, op: str, data: dict) -> None:
    journal.finish(store, op)


def _undo_close(store: RunStore, op: str, data: dict) -> None:
    journal.finish(
        store, op, lambda db: schema_cases.restore_case(db, data["case"], data["previous"])
    )


journal.register(ACTION, _finish_close, _undo_close)
