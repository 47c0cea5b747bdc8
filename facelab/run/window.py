"""The run's simulated "now" and the archive window a search may look at.

Day ``d`` of a run is the date ``scenario.start + d days``. "Now" after finishing day ``d`` is
the start of day ``d + 1`` (``now_day = d + 1``). The run's simulated now is the end of its last
completed day, or a later now that a purge was run at (table ``purges``). The archive window is
the last ``retention.days`` days before now; a purge at or after that now may have overridden
``days`` (``facelab purge --retention-days``), and then its recorded policy sets the window.
"""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
from typing import NamedTuple

from facelab.run import schema
from facelab.run.store import RunStore


def day_date(start: _dt.date, day: int) -> _dt.date:
    """The date of simulated day ``day`` of a run that starts on ``start``."""
    return start + _dt.timedelta(days=int(day))


def last_purge(db: sqlite3.Connection) -> dict | None:
    """The report of the purge run at the latest simulated now (the most recent among those),
    with its row id as ``purge_id``; ``None`` before the first purge."""
    row = schema.last_purge(db)
    if row is None:
        return None
    report = json.loads(row.report)
    report["purge_id"] = row.id
    return report


def run_now(store: RunStore, db: sqlite3.Connection | None = None) -> int:
    """The run's simulated now: after its last completed day, or a later purge's now."""
    db = db or store.db
    done = schema.days_done(db)
    now = done[-1] + 1 if done else 0
    last = last_purge(db)
    return max(now, int(last["now_day"])) if last else now


def recorded_policy(
    store: RunStore, now_day: int, db: sqlite3.Connection | None = None
) -> dict | None:
    """The retention policy (as a dict) recorded by the last purge when that purge was at or
    after ``now_day``; ``None`` when the run's own ``[retention]`` applies."""
    last = last_purge(db or store.db)
    if last and int(last["now_day"]) >= now_day and "policy" in last:
        return last["policy"]
    return None


class ArchiveWindow(NamedTuple):
    """The days a search may look at: ``first_day .. last_day`` inclusive, and their dates."""

    first_day: int
    last_day: int
    first_date: _dt.date
    last_date: _dt.date

    @property
    def day_range(self) -> range:
        """``range(first_day, last_day + 1)``: pass it as ``days=`` to the archive search."""
        return range(self.first_day, self.last_day + 1)

    def describe(self) -> str:
        n = self.last_day - self.first_day + 1
        return f"{self.first_date.isoformat()} .. {self.last_date.isoformat()} ({n} day(s))"


def archive_window(store: RunStore, now_day: int | None = None) -> ArchiveWindow | None:
    """The retention window a search must stay in, or ``None`` when it holds no simulated day.

    ``now_day`` defaults to the run's simulated now (:func:`run_now`). The window is
    ``max(0, now_day - days) .. min(now_day - 1, last completed day)``, ``days`` being the
    run's ``retention.days`` (or the override of a purge at that now, :func:`recorded_policy`).
    Search only these days (``days=window.day_range``) and print
    :meth:`ArchiveWindow.describe`: a person last seen before ``first_date`` is not found, and
    the answer says which window was searched. Shards outside it do not exist after a purge;
    embeddings retained past it (``held.faiss``) are never searched.

    Parameters
    ----------
    store : RunStore
        Or any object with ``db``, ``days_done()`` and ``scenario()``.
    now_day : int, optional

    Returns
    -------
    ArchiveWindow or None
        A named tuple ``(first_day, last_day, first_date, last_date)`` (dates as
        :class:`datetime.date`).
    """
    done = store.days_done()
    if not done:
        return None
    now = run_now(store) if now_day is None else int(now_day)
    recorded = recorded_policy(store, now)
    scenario = store.scenario()
    days = int(recorded["days"]) if recorded else int(scenario.retention.days)
    first = max(0, now - days)
    last = min(now - 1, max(done))
    if last < first:
        return None
    return ArchiveWindow(
        first, last, day_date(scenario.start, first), day_date(scenario.start, last)
    )
