"""The retention policy, the day limits it sets at a simulated "now", and simulated dates.

Simulated dates
---------------
Day ``d`` of a run is the date ``scenario.start + d days``; simulated second ``t`` is
``t // 86400`` days and ``t % 86400`` seconds after midnight of the start date. "Now" after
finishing day ``d`` is the start of day ``d + 1`` (``now_day = d + 1``); see
:mod:`facelab.run.window` for the run's simulated now.

Policy (the run's ``[retention]``: ``days``, ``unmatched_days``, ``matched_days``, ``case_hold``)
------------------------------------------------------------------------------------------------
* A sighting *expires* when its day is ``< now_day - matched_days`` if it has an alert (a
  "matched" sighting), ``< now_day - unmatched_days`` if not; expired sightings are deleted with
  their candidates, alerts, ground-truth row and embedding.
* A *case hold* (:mod:`~facelab.governance.retention.holds`) keeps a sighting however old it is,
  with its alerts and candidates, its whole frame and its embedding.
* The *archive window* is the last ``days`` days: ``now_day - days <= day < now_day``. Day shards
  exist only inside it, so a search (:func:`facelab.run.window.archive_window`) can never see an
  older sighting. Embeddings retained past the window (held ones, or matched ones when
  ``matched_days > days``) are kept in ``RUN/held.faiss``, which the search never reads.
* A frame is deleted with its row when no retained sighting is in it and its day is
  ``< now_day - min(unmatched_days, matched_days)`` (a frame with no detection counts as
  unmatched). Clips (``RUN/clips/*-dNNN*``) follow the same day limit (they are never held).
  Ground-truth pass rows (``pass_truth``) go when their day is
  ``< now_day - max(unmatched_days, matched_days)``. Per-day counts (table ``days``) stay: they
  hold no personal data and are what a resumed run checks.
* ``--retention-days N`` sets ``days = N`` and caps both other limits at ``N``; the purge records
  the policy it applied, and that policy holds for its now (:func:`effective_policy`).
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from dataclasses import asdict, dataclass

from facelab.errors import RetentionParameterError
from facelab.run.store import RunStore
from facelab.run.window import recorded_policy


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of data is kept, in simulated days (see the module docstring)."""

    days: int
    unmatched_days: int
    matched_days: int
    case_hold: bool

    @classmethod
    def of(cls, scenario) -> RetentionPolicy:
        """The scenario's ``[retention]``."""
        r = scenario.retention
        return cls(int(r.days), int(r.unmatched_days), int(r.matched_days), bool(r.case_hold))

    @classmethod
    def from_dict(cls, d: dict) -> RetentionPolicy:
        return cls(int(d["days"]), int(d["unmatched_days"]), int(d["matched_days"]),
                   bool(d["case_hold"]))  # fmt: skip

    def with_days(self, days: int | None) -> RetentionPolicy:
        """``days`` overridden (``--retention-days``): both other limits capped at it."""
        if days is None:
            return self
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise RetentionParameterError(f"--retention-days must be an integer >= 1, got {days!r}")
        return RetentionPolicy(
            days, min(self.unmatched_days, days), min(self.matched_days, days), self.case_hold
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Cutoffs:
    """First day *kept* by each rule of a policy, for a given ``now_day``."""

    now_day: int
    window: int  # day shards: days < window are dropped
    unmatched: int  # sightings without an alert
    matched: int  # sightings with an alert
    frames: int  # frames with no retained sighting, clips
    passes: int  # pass_truth rows

    @classmethod
    def of(cls, policy: RetentionPolicy, now_day: int) -> Cutoffs:
        u, m = policy.unmatched_days, policy.matched_days
        return cls(now_day, now_day - policy.days, now_day - u, now_day - m,
                   now_day - min(u, m), now_day - max(u, m))  # fmt: skip

    @property
    def scan(self) -> int:
        """Rows of days below this may be due; none at or above it is."""
        return max(self.window, self.unmatched, self.matched, self.frames)


def effective_policy(
    store: RunStore, now_day: int, db: sqlite3.Connection | None = None
) -> RetentionPolicy:
    """The run's policy, or the last purge's (an override) when that purge was at ``now_day``
    or later."""
    recorded = recorded_policy(store, now_day, db)
    if recorded is not None:
        return RetentionPolicy.from_dict(recorded)
    return RetentionPolicy.of(store.scenario())


def iso_time(start: _dt.date, t: int) -> str:
    """ISO date-time of simulated second ``t`` (naive: simulated local time)."""
    return (_dt.datetime.combine(start, _dt.time()) + _dt.timedelta(seconds=int(t))).isoformat()


def parse_now(value, start: _dt.date) -> int:
    """``--now`` (a date, ``YYYY-MM-DD``) as a ``now_day``: days from the start to that date."""
    if isinstance(value, _dt.datetime):
        value = value.date()
    if not isinstance(value, _dt.date):
        try:
            value = _dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise RetentionParameterError(
                f"--now {value!r} is not a date; use YYYY-MM-DD"
            ) from None
    now_day = (value - start).days
    if now_day < 0:
        raise RetentionParameterError(
            f"--now {value.isoformat()} is before the run's start {start}"
        )
    return now_day
