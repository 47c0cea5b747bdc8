"""The purge plan: which rows the policy says must go at a simulated now.

The plan is read from the search-side database (``facelab.sqlite``) only, which a purge changes
last: a purge killed at any moment and run again computes the same plan and finishes the job.
:func:`facelab.governance.retention.verify.verify` computes it too, and fails where anything in
it is still present.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from facelab.governance.retention.holds import held_sightings
from facelab.governance.retention.policy import Cutoffs, RetentionPolicy


@dataclass
class PurgePlan:
    """What must go (and what stays past the window) at ``cut.now_day``."""

    cut: Cutoffs
    expired: dict[int, int] = field(default_factory=dict)  # sighting id -> day
    rows: set[int] = field(default_factory=set)  # every sighting row of a day < cut.scan
    keep_old: dict[int, int] = field(default_factory=dict)  # retained, day < window -> held
    case_held: int = 0  # retained only because of a case hold
    frames: list[tuple[str, int, str | None]] = field(default_factory=list)  # rows to delete
    kept_frame_paths: set[str] = field(default_factory=set)  # frames below cut.frames kept
    alerts: list[int] = field(default_factory=list)  # alert ids to delete
    candidate_sightings: set[int] = field(default_factory=set)  # delete their candidates

    def truth_stale(self, sid: int) -> bool:
        """A ground-truth row of a day < cut.scan whose sighting expired or has no row."""
        return sid in self.expired or sid not in self.rows


def purge_plan(db: sqlite3.Connection, policy: RetentionPolicy, now_day: int) -> PurgePlan:
    """What ``policy`` says must go at ``now_day``, from the search-side rows of ``db``."""
    cut = Cutoffs.of(policy, now_day)
    plan = PurgePlan(cut)
    scan = cut.scan
    if scan <= 0:
        return plan
    rows = db.execute("SELECT id, day, frame_id FROM sightings WHERE day < ?", (scan,)).fetchall()
    matched = {
        r[0] for r in db.execute("SELECT DISTINCT sighting FROM alerts WHERE day < ?", (scan,))
    }
    held = held_sightings(db, scan) if policy.case_hold else set()
    all_ids = plan.rows
    kept_frames: set[str] = set()
    for sid, day, frame_id in rows:
        all_ids.add(sid)
        limit = cut.matched if sid in matched else cut.unmatched
        if day < limit and sid not in held:
            plan.expired[sid] = day
            continue
        if day < limit:
            plan.case_held += 1
        if day < cut.window:
            plan.keep_old[sid] = day
        if frame_id is not None:
            kept_frames.add(frame_id)
    if cut.frames > 0:
        for fid, day, path in db.execute(
            "SELECT id, day, path FROM frames WHERE day < ?", (cut.frames,)
        ).fetchall():
            if fid in kept_frames:
                if path:
                    plan.kept_frame_paths.add(path)
            else:
                plan.frames.append((fid, day, path))
    for aid, sid in db.execute("SELECT id, sighting FROM alerts WHERE day < ?", (scan,)).fetchall():
        if sid in plan.expired or sid not in all_ids:
            plan.alerts.append(aid)
    for (sid,) in db.execute(
        "SELECT DISTINCT sighting FROM candidates WHERE day < ?", (scan,)
    ).fetchall():
        if sid in plan.expired or sid not in all_ids:
            plan.candidate_sightings.add(sid)
    return plan
