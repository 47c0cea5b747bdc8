"""The report of one purge: what it deleted, moved and freed (table ``purges``, audit log)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

COUNT_KINDS = (
    "sightings", "candidates", "alerts", "frames", "frame_files", "clips", "embeddings",
    "shards_dropped", "shards_rewritten", "moved_to_held", "released_from_held",
    "truth_sightings", "truth_passes",
)  # fmt: skip
"""What a purge counts, each deleted (or moved) item once."""
BYTE_KINDS = ("frames", "clips", "shards", "held", "databases")
"""Where a purge frees bytes."""


@dataclass(frozen=True)
class PurgeReport:
    """What one purge did (recorded as JSON in table ``purges`` and in the audit log).

    Attributes
    ----------
    purge_id : int or None
        Row in ``purges``; ``None`` when nothing was due and nothing was recorded.
    now_day : int
        Simulated "now": the start of this day.
    now : str
        Its ISO date-time.
    window_start_day : int
        First day of the archive window (may be negative early in a run).
    window_start : str
        Its date.
    policy : dict
        The :class:`~facelab.governance.retention.policy.RetentionPolicy` applied.
    counts : dict
        Deleted (or moved) per kind, see :data:`COUNT_KINDS`.
    bytes_freed : dict
        Per kind, see :data:`BYTE_KINDS` (``held`` is negative when vectors moved in).
    retained_past_window : int
        Sightings kept past the window (case holds, longer matched retention).
    case_held : int
        Of those and others, sightings kept only by a case hold.
    oldest_remaining : str or None
        ISO date-time of the oldest sighting or frame left in the run.
    actor, reason, at : str
        Who, why, and the wall-clock time (UTC).
    """

    purge_id: int | None
    now_day: int
    now: str
    window_start_day: int
    window_start: str
    policy: dict
    counts: dict = field(default_factory=dict)
    bytes_freed: dict = field(default_factory=dict)
    retained_past_window: int = 0
    case_held: int = 0
    oldest_remaining: str | None = None
    actor: str = ""
    reason: str | None = None
    at: str = ""

    @property
    def total_bytes(self) -> int:
        return int(sum(self.bytes_freed.values()))

    @property
    def deleted(self) -> int:
        return int(sum(self.counts.values()))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PurgeReport:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})

    def lines(self) -> list[str]:
        """The report as printed by ``facelab purge``."""
        p = self.policy
        out = [
            f"purge as of      {self.now}  (simulated day {self.now_day})",
            f"archive window   from {self.window_start} ({p['days']} days); unmatched sightings "
            f"{p['unmatched_days']} d, matched {p['matched_days']} d, case hold "
            f"{'on' if p['case_hold'] else 'off'}",
        ]
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.counts.items() if v)
        out.append(f"deleted          {counts or 'nothing was due'}")
        mib = self.total_bytes / 2**20
        parts = ", ".join(f"{k} {v:,}" for k, v in self.bytes_freed.items() if v)
        extra = f"  [{parts}]" if parts else ""
        out.append(f"bytes freed      {self.total_bytes:,} ({mib:.2f} MiB){extra}")
        out.append(f"kept past window {self.retained_past_window} sighting(s) "
                   f"({self.case_held} by an open case)")  # fmt: skip
        out.append(f"oldest remaining {self.oldest_remaining or '(nothing left)'}")
        if self.purge_id is not None:
            out.append(f"recorded         purge #{self.purge_id} (table purges, audit log)")
        return out
