"""Verify: nothing the retention policy says must be gone is left in a run.

:func:`verify` first scans every byte of every file under RUN (the SQLite main files, their WAL
and shared-memory files, index files, frames, the audit log, stale temporary files, anything)
for the needles of a :class:`~facelab.governance.retention.proof.DeletionProof`, when one is
given. In-process (tests) the proof object is passed from
:func:`~facelab.governance.retention.purge.purge` to :func:`verify`; from the command line
``facelab purge RUN --keep-proof PATH`` writes it to a file outside RUN (merging into an existing
proof of the same run) and ``facelab retention verify RUN --proof PATH`` scans for it.

Then, with or without a proof, the structural checks run on read-only connections: nothing the
policy says must be gone is left (rows, frames, shards, held vectors, ground truth, clips), no
stale temporary file, no free SQLite page, no stale WAL frame, no unfinished purge.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from facelab.governance.retention import faiss_bytes as fb
from facelab.governance.retention.database import connect_read_only, freelist, wal_stale_frames
from facelab.governance.retention.files import (
    HELD_INDEX,
    SHARD_RE,
    all_files,
    clip_files,
    file_size,
    frame_day_dirs,
)
from facelab.governance.retention.journal import JOURNAL, PENDING_KEY
from facelab.governance.retention.plan import purge_plan
from facelab.governance.retention.policy import effective_policy
from facelab.governance.retention.proof import AUDIT_FILES, DeletionProof
from facelab.run import schema
from facelab.run.store import (
    ARCHIVE_DIR,
    FRAMES_DIR,
    SEARCH_DB,
    SEARCH_TABLES,
    RunStore,
    check_tables,
    require_run,
)
from facelab.run.window import archive_window, day_date, run_now
from facelab.search.archive.archive import SHARD_NAME
from facelab.truth import TRUTH_DB, TruthStore


@dataclass(frozen=True)
class Check:
    """One structural check of :func:`verify`."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class FileFinding:
    """Needles found in one file (``found`` by kind; empty when clean)."""

    path: str
    size: int
    found: dict

    @property
    def count(self) -> int:
        return int(sum(self.found.values()))


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`.

    Attributes
    ----------
    run : str
    now_day : int
    window : str
        The archive window checked, in words.
    checks : tuple of Check
    files : tuple of FileFinding
        Every file scanned (empty without a proof).
    needles : int
        Needles looked for (0: structural checks only).
    bytes_scanned : int
    """

    run: str
    now_day: int
    window: str
    checks: tuple
    files: tuple = ()
    needles: int = 0
    bytes_scanned: int = 0

    @property
    def found(self) -> int:
        return int(sum(f.count for f in self.files))

    @property
    def ok(self) -> bool:
        return self.found == 0 and all(c.ok for c in self.checks)


def verify(run: str | Path, proof: DeletionProof | str | Path | None = None, *,
           held=None) -> VerifyReport:  # fmt: skip
    """Check that nothing the retention policy says must be gone is left in the run.

    With a proof (a :class:`DeletionProof` or its file), every byte of every file under ``run``
    is first scanned for the purged embeddings and frames (before any database is opened, so
    nothing is checkpointed away); then the structural checks run on read-only connections.

    ``held`` (a :class:`~facelab.run.ray_archive.RayShardArchive`; ``facelab retention verify
    RUN --engine ray``) adds the copies of day shards held on the Ray cluster's nodes: each is
    scanned for the proof's needles on its node (a finding's path names node and day), and the
    check "node shards" fails for a held file that is not a copy of the run's current shard of
    its day.

    Returns
    -------
    VerifyReport
        ``ok`` is false when any needle is found or any check fails.
    """
    run = require_run(run)
    if proof is not None and not isinstance(proof, DeletionProof):
        proof = DeletionProof.load(proof)
    files: list[FileFinding] = []
    scanned = 0
    if proof is not None:
        for p in all_files(run):
            if p.is_symlink() or not p.is_file():
                continue
            rel = str(p.relative_to(run))
            found = proof.scan_file(p, references=rel not in AUDIT_FILES)
            size = file_size(p)
            scanned += size
            files.append(FileFinding(rel, size, dict(found)))
    node_files = (
        held.held_files(proof.scan_file if proof is not None else None) if held is not None else []
    )
    if proof is not None:
        for f in node_files:
            files.append(FileFinding(_held_name(f), f.size, f.found))
            scanned += f.size
    checks, now_day, window = _structural(run)
    if held is not None:
        checks.append(_held_check(run, node_files))
    return VerifyReport(
        run=str(run), now_day=now_day, window=window, checks=tuple(checks), files=tuple(files),
        needles=len(proof) if proof is not None else 0, bytes_scanned=scanned,
    )  # fmt: skip


def _held_name(f) -> str:
    """A held file as a finding names it: node, day and its path on the node."""
    day = f"day {f.day}" if f.day is not None else "no day"
    return f"ray node {f.node[:12]} {day}: {f.path}"


def _held_check(run: Path, node_files: list) -> Check:
    """The check "node shards": every file held on a node is a copy of the run's current shard of its
    day (SHA-256), so no purged or trimmed day's bytes are held."""
    sha: dict[int, str | None] = {}
    bad = []
    for f in node_files:
        if f.day is not None and f.day not in sha:
            path = run / ARCHIVE_DIR / SHARD_NAME.format(day=f.day)
            sha[f.day] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        if f.day is None or sha[f.day] != f.sha256:
            bad.append(_held_name(f))
    if bad:
        return Check("node shards", False, f"{len(bad)} file(s) held on Ray nodes that the run "
                     f"no longer has (e.g. {bad[0]}); run `facelab purge RUN --engine ray`")  # fmt: skip
    nodes = len({f.node for f in node_files})
    return Check("node shards", True,
                 f"{len(node_files)} held file(s) on {nodes} node(s), all current shards")  # fmt: skip


class _ReadOnlyRun:
    """The parts of RunStore the plan and the window need, over read-only connections."""

    def __init__(self, run: Path) -> None:
        self.path = run
        self.meta = json.loads((run / "run.json").read_text())
        self.db = connect_read_only(run / SEARCH_DB)
        check_tables(self.db, run / SEARCH_DB, SEARCH_TABLES)
        self.truth = TruthStore(run, connect=connect_read_only).open()

    def scenario_dict(self) -> dict:
        return self.meta.get("scenario", {})

    scenario = RunStore.scenario  # needs only path and scenario_dict

    def days_done(self) -> list[int]:
        return schema.days_done(self.db)

    def close(self) -> None:
        self.db.close()
        self.truth.close()


def _structural(run: Path) -> tuple[list[Check], int, str]:
    """The structural checks, the now they were made at, and the window in words."""
    from facelab.search.archive import DayShardArchive
    from facelab.search.index import read_index

    st = _ReadOnlyRun(run)
    checks: list = []

    def add(name: str, bad: int | list, what: str, fix: str = "run `facelab purge RUN`") -> None:
        n = len(bad) if isinstance(bad, list) else int(bad)
        if n:
            eg = f" (e.g. {bad[0]})" if isinstance(bad, list) else ""
            checks.append(Check(name, False, f"{n} {what}{eg}; {fix}"))
        else:
            checks.append(Check(name, True, f"no {what}"))

    try:
        db, truth = st.db, st.truth
        now_day = run_now(st, db)  # type: ignore[arg-type]
        policy = effective_policy(st, now_day, db)  # type: ignore[arg-type]
        plan = purge_plan(db, policy, now_day)
        cut = plan.cut
        start = st.scenario().start
        win = archive_window(st, now_day)  # type: ignore[arg-type]
        window = (f"{win.describe()}, now {day_date(start, now_day)}" if win
                  else f"empty (now {day_date(start, now_day)})")  # fmt: skip
        add("sightings", sorted(plan.expired), "sighting row(s) past retention")
        add("frames", [f.id for f in plan.frames], "frame row(s) past retention")
        add("alerts", plan.alerts, "alert row(s) of purged sightings")
        add("candidates", sorted(plan.candidate_sightings), "candidate row(s) of purged sightings")
        files = []
        for day, folder in frame_day_dirs(run / FRAMES_DIR):
            if day < cut.frames:
                files += [str(p.relative_to(run)) for p in sorted(folder.iterdir())
                          if str(p.relative_to(run)) not in plan.kept_frame_paths]  # fmt: skip
        add("frame files", files, "frame file(s) past retention")
        add(
            "clips",
            [str(p.relative_to(run)) for d, p in clip_files(run) if d < cut.frames],
            "clip file(s) past retention",
        )
        archive_dir = run / ARCHIVE_DIR
        shard_days = []
        if archive_dir.is_dir():
            shard_days = sorted(
                int(m.group(1)) for p in archive_dir.iterdir() if (m := SHARD_RE.match(p.name))
            )
        add(
            "archive window",
            [f"day-{d:04d}.faiss" for d in shard_days if d < cut.window],
            "day shard(s) older than the window",
        )
        bad_ids = []
        for d in shard_days:
            if cut.window <= d < cut.scan:
                ids = fb.index_ids(read_index(DayShardArchive(archive_dir).path(d)))
                bad_ids += [f"sighting {i} in day {d}" for i in ids.tolist() if i in plan.expired]
        add("archive contents", bad_ids, "expired vector(s) in day shards")
        held_path = run / HELD_INDEX
        held_ids = (
            set(fb.index_ids(read_index(held_path)).tolist()) if held_path.exists() else set()
        )
        add(
            "held index",
            sorted(held_ids - set(plan.keep_old)),
            f"vector(s) in {HELD_INDEX} no longer retained",
        )
        missing = sorted(set(plan.keep_old) - held_ids)
        checks.append(Check(
            "held coverage", True,
            f"{len(plan.keep_old)} sighting(s) retained past the window, "
            + (f"{len(missing)} without a held embedding" if missing else "all embeddings held"),
        ))  # fmt: skip
        truth_bad = [s for s in truth.sightings_before(cut.scan).tolist() if plan.truth_stale(s)]
        add("ground truth", truth_bad, "sighting_truth row(s) of purged sightings")
        passes = truth.count_passes_before(cut.passes)
        add("ground-truth passes", passes, "pass_truth row(s) past retention")
        temps = [str(p.relative_to(run)) for p in all_files(run)
                 if p.name.startswith(".") and p.name.endswith(".tmp")]  # fmt: skip
        add("temporary files", temps, "stale temporary file(s) of an interrupted write")
        pending = schema.meta_get(db, PENDING_KEY)
        add(
            "unfinished purge",
            int(pending is not None) + int((run / JOURNAL).exists()),
            "unfinished purge (marker or journal)",
        )
        for name, conn in ((SEARCH_DB, db), (TRUTH_DB, truth.conn)):
            add(f"{name} free pages", freelist(conn), f"free page(s) in {name}")
            _frames, stale = wal_stale_frames(run / f"{name}-wal")
            add(f"{name} WAL", stale, f"stale WAL frame(s) in {name}-wal")
    finally:
        st.close()
    return checks, now_day, window
