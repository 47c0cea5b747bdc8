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
from facelab.run import schema
from facelab.run.schema import FrameRow


@dataclass
class PurgePlan:
    """What must go (and what stays past the window) at ``cut.now_day``."""

    cut: Cutoffs
    expired: dict[int, int] = field(default_factory=dict)  # sighting id -> day
    rows: set[int] = field(default_factory=set)  # every sighting row of a day < cut.scan
    keep_old: dict[int, int] = field(default_factory=dict)  # retained, day < window -> held
    case_held: int = 0  # retained only because of a case hold
    frames: list[FrameRow] = field(default_factory=list)  # rows to delete
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
    keys = schema.sighting_keys(db, scan)
    rows = zip(keys["id"].tolist(), keys["day"].tolist(), keys["frame_id"].tolist())
    matched = schema.alerted_sightings(db, scan)
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
        for f in schema.frames_before(db, cut.frames):
            if f.id in kept_frames:
                if f.path:
                    plan.kept_frame_paths.add(f.path)
            else:
                plan.frames.append(f)
    for a in schema.alerts_before(db, scan):
        if a.sighting in plan.expired or a.sighting not in all_ids:
            plan.alerts.append(a.id)
    for sid in schema.candidate_sightings_before(db, scan):
        if sid in plan.expired or sid not in all_ids:
            plan.candidate_sightings.add(sid)
    return plan
