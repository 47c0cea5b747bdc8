"""Audited operations that happen whole or not at all, even when the process is killed.

An operation that changes a run and is recorded in its audit log (enrol, remove, review,
close-case) is written in this order:

1. :func:`begin` — one transaction writes the operation's rows and a ``pending_ops`` row naming
   it (an op id and the data needed to finish or undo it). A new watchlist entry is written
   inactive, so nothing acts on it yet.
2. the operation's files that can be undone (the watchlist index with a new vector, the
   enrolled photo) and its ground truth.
3. the audit record, carrying the op id as ``details["op"]``.
4. the rest (removing a vector and a photo, which cannot be undone), then :func:`finish`: one
   transaction makes the change visible and deletes the ``pending_ops`` row.

:func:`recover`, run before each audited operation, settles every pending row: when the audit
log holds a record with its op id the operation is finished (every step after the audit record
is idempotent), otherwise it is undone. A kill between any two writes therefore leaves, once
the next audited operation (or :func:`recover`) has run, either the whole operation with its
audit record or none of it. Until then, the listings of watchlist entries and alerts show
pending operations as they will be settled (:func:`pending_view`), so read-only commands see
the same. Operations on one run take turns (:func:`exclusive`). Ground truth written for an undone enrolment stays, keyed by a
watchlist id that is never given out again (``meta`` key ``next_watch_id``).

Each operation calls ``on_step(label, None)`` after each of its writes when given one (the kill
tests stop the process there; the signature is the run pipeline's).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

try:  # POSIX; without it operations are not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from facelab.run import schema
from facelab.run.store import RunStore, Transaction

log = logging.getLogger(__name__)

OnStep = Callable[[str, int | None], None] | None

_HANDLERS: dict[str, tuple[Callable, Callable]] = {}


@contextmanager
def exclusive(store: RunStore) -> Iterator[None]:
    """Hold the run's operation lock (an exclusive ``flock`` on the run directory itself, so no
    file is made): audited operations of one run, in any process or thread, take turns, and
    :func:`recover` under it never mistakes an operation in flight for an interrupted one."""
    fd = os.open(store.path, os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def settled_on_error(store: RunStore) -> Iterator[None]:
    """Around the writes of an operation after :func:`begin`: if one of them fails (an error,
    not a kill), the operation is settled at once (:func:`recover`), so that no pending row is
    left behind; the error is raised again."""
    try:
        yield
    except Exception:
        try:
            recover(store)
        except Exception:  # the original error is the one to report
            log.exception("could not settle an operation after an error")
        raise


def register(action: str, finish: Callable, undo: Callable) -> None:
    """Say how to settle a pending ``action``: ``finish(store, op, data)`` completes one whose
    audit record was written, ``undo(store, op, data)`` removes every trace of one whose record
    was not. Both end by deleting the pending row (:func:`finish`) and must be idempotent."""
    _HANDLERS[action] = (finish, undo)


def step(on_step: OnStep, label: str) -> None:
    """Report that the write ``label`` is durable (to the kill tests' callback)."""
    if on_step is not None:
        on_step(label, None)


def new_op() -> str:
    """A fresh operation id."""
    return uuid.uuid4().hex


def begin(store: RunStore, op: str, action: str, data: dict[str, Any], rows: Callable) -> None:
    """Write ``rows(db)`` and the pending row of ``op`` in one transaction; a dict ``rows``
    returns (read under the write lock) is added to ``data``."""
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")
    with Transaction(store.db) as db:
        more = rows(db)
        data = {**data, **(more or {})}
        schema.insert_pending(db, op, action, json.dumps(data, sort_keys=True), now)


def finish(store: RunStore, op: str, rows: Callable | None = None) -> None:
    """Make ``op`` done: ``rows(db)`` and the deletion of its pending row, in one transaction."""
    with Transaction(store.db) as db:
        if rows is not None:
            rows(db)
        schema.delete_pending(db, op)


def audited_ops(store: RunStore) -> set[str]:
    """Op ids named by the records of the run's audit log."""
    return {
        str(r.details["op"])
        for r in store.audit.records()
        if isinstance(r.details, dict) and "op" in r.details
    }


def pending_view(store: RunStore) -> list[tuple[str, dict[str, Any], bool]]:
    """``(action, data, audited)`` of every pending operation, for readers that cannot settle
    them (a read-only store): they show an audited one as done and any other as never begun.
    Empty (one query) when nothing is pending."""
    todo = schema.pending(store.db)
    if not todo:
        return []
    done = audited_ops(store)
    return [(action, json.loads(data), op in done) for op, action, data in todo]


def recover(store: RunStore) -> list[tuple[str, str, str]]:
    """Settle every pending operation of ``store``: finish the audited ones, undo the others.

    Call it holding :func:`exclusive` (the audited operations do), so that no operation is
    in flight.

    Returns
    -------
    list of (op, action, outcome)
        ``outcome`` is ``"finished"`` or ``"undone"``; empty when nothing was pending.
    """
    import facelab.run.cases
    import facelab.run.review
    import facelab.run.watchlist  # noqa: F401  (they register their handlers)

    todo = schema.pending(store.db)
    if not todo:
        return []
    done = audited_ops(store)
    out = []
    for op, action, data in todo:
        finish_fn, undo_fn = _HANDLERS[action]
        args = json.loads(data)
        if op in done:
            finish_fn(store, op, args)
            outcome = "finished"
        else:
            undo_fn(store, op, args)
            outcome = "undone"
        log.warning("interrupted %s operation %s %s", action, op, outcome)
        out.append((op, action, outcome))
    return out
