"""What purges removed from a run, and which days' searches it still holds.

Per-day and per-camera-day figures (``facelab sweep``, the report, ``facelab case``) divide by
the days whose searches are still held: every completed day when nothing was purged; after a
purge, the completed days that still hold at least one search (a purged day's searches are
gone, so counting it would understate false alerts per day). :func:`purge_summary` says what
was purged, for the sweep header and the report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from facelab.run import schema
from facelab.run.store import RunStore


@dataclass(frozen=True)
class PurgeSummary:
    """The purges recorded in a run.

    Attributes
    ----------
    purges : int
        Purges recorded.
    purged_days : tuple of int
        Completed days that no longer hold any search.
    held_days : tuple of int
        Completed days that still hold searches (the per-day denominator).
    deleted : dict of str to int
        Items deleted over all purges, per kind (``sightings``, ``alerts``, ...), non-zero only.
    """

    purges: int
    purged_days: tuple[int, ...]
    held_days: tuple[int, ...]
    deleted: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a reader, e.g. ``2 purges removed 3 day(s) (days 0-2): 812 searches``."""
        if not self.purges:
            return "nothing purged"
        days = self.purged_days
        span = f" (days {days[0]}–{days[-1]})" if days else ""
        what = ", ".join(f"{n:,} {k}" for k, n in self.deleted.items() if k in _SHOWN)
        return (
            f"{self.purges} purge(s) removed {len(days)} day(s) of searches{span}"
            f"{': ' + what if what else ''}; per-day figures use the "
            f"{len(self.held_days)} day(s) still held"
        )


_SHOWN = ("sightings", "candidates", "alerts", "frames")


def held_days(store: RunStore, sighting_days: Sequence[int] | np.ndarray) -> list[int]:
    """The completed days whose searches are still held.

    Parameters
    ----------
    store : RunStore
    sighting_days : array_like of int
        The day of each search still held (``RunScores.day``).
    """
    done = store.days_done()
    if not schema.purges(store.db):
        return list(done)
    present = set(np.asarray(sighting_days, np.int64).tolist())
    return [d for d in done if d in present]


def purge_summary(store: RunStore, sighting_days: Sequence[int] | np.ndarray) -> PurgeSummary:
    """What the run's purges removed (see :class:`PurgeSummary`)."""
    rows = schema.purges(store.db)
    held = held_days(store, sighting_days)
    deleted: dict[str, int] = {}
    for row in rows:
        try:
            counts = json.loads(row.report or "{}").get("counts", {}) or {}
        except (ValueError, AttributeError):
            counts = {}
        for k, n in counts.items():
            if isinstance(n, int) and n:
                deleted[k] = deleted.get(k, 0) + n
    purged = tuple(d for d in store.days_done() if d not in set(held))
    return PurgeSummary(len(rows), purged, tuple(held), deleted)
