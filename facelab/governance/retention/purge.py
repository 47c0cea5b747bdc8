"""The purge: delete everything the retention policy says must go, crash-safe and idempotent.

A purge is one logical operation. Its plan (:mod:`~facelab.governance.retention.plan`) is
computed from the database, which is changed last, so a purge killed at any moment and run again
finds the same rows and finishes the job; the counts of the files it had already deleted wait in
a journal (:mod:`~facelab.governance.retention.journal`) for the report of the purge that
finishes. It first settles the run's interrupted audited operations
(:func:`facelab.run.journal.recover`): a killed close-case or review decides what a case holds.
In order:

1. ``BEGIN IMMEDIATE`` on ``facelab.sqlite`` (no other writer until the end) and the plan;
2. embeddings retained past the window are copied into ``held.faiss`` (written atomically) and
   released ones are removed from it;
3. day shards past the window are unlinked
   (:meth:`~facelab.search.archive.DayShardArchive.drop_day`), shards inside it that hold expired
   vectors are rewritten without them (atomically, so the old file is unlinked), frame and clip
   files are unlinked (stale ``*.tmp`` files beside them too) and emptied day folders removed;
4. the ground-truth rows are deleted (and their counts journalled);
5. the rows are deleted and the report recorded in table ``purges`` in the same transaction,
   which also sets the ``purge_pending`` marker;
6. ``VACUUM`` of both databases (:mod:`~facelab.governance.retention.database`), the audit
   record, the marker cleared and ``PRAGMA wal_checkpoint(TRUNCATE)``.

A purge that finds the marker set (killed before step 6) finishes that step first; when
nothing more is due after that, the finished purge's report is its result (no second, empty
record). A purge killed before step 5 leaves its rows, and the next purge (of any command:
``facelab purge``, or ``facelab run`` resuming) deletes the same rows and reports the files the
killed one had deleted; until then ``facelab retention verify`` names the unfinished purge.

During ``facelab run`` :func:`purge_after_day` runs at every simulated day boundary; it records a
report only when something was deleted, moved or compacted. ``facelab purge`` always records one
(an operator's action is always audited). ``on_step(label, day)``, when given, is called after
steps 2 (``purge-held``), 3 (``purge-files``), 4 (``purge-truth``), 5 (``purge-rows``) and, in
step 6, after compacting (``purge-compacted``) and after the audit record (``purge-audit``),
``day`` being the last simulated day before the purge's now.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facelab.errors import RetentionError
from facelab.fileio import fsync_dir
from facelab.governance.retention import faiss_bytes as fb
from facelab.governance.retention.database import checkpoint, compact, freelist
from facelab.governance.retention.files import (
    HELD_INDEX,
    clip_files,
    db_bytes,
    file_size,
    frame_day_dirs,
    held_temp_files,
    unlink,
)
from facelab.governance.retention.holds import utcnow
from facelab.governance.retention.journal import (
    JOURNAL,
    PENDING_KEY,
    journal_resume,
    journal_save,
)
from facelab.governance.retention.plan import PurgePlan, purge_plan
from facelab.governance.retention.policy import RetentionPolicy, iso_time, parse_now
from facelab.governance.retention.proof import DeletionProof, run_identity
from facelab.governance.retention.report import BYTE_KINDS, COUNT_KINDS, PurgeReport
from facelab.run import journal, schema
from facelab.run.store import FRAMES_DIR, SEARCH_DB, RunStore, Transaction
from facelab.run.window import day_date, run_now
from facelab.truth import TRUTH_DB, TruthStore

log = logging.getLogger(__name__)

RUN_ACTOR = "facelab-run"  # the pipeline's actor (not imported: the pipeline loads the models)
AUTO_REASON = "retention policy (simulated day boundary)"

OnStep = Callable[[str, int | None], None]
"""``on_step(label, day)``: called after each durable step of a purge."""


def purge(
    run: str | Path | RunStore,
    *,
    now_day: int | None = None,
    now=None,
    retention_days: int | None = None,
    actor: str | None = None,
    reason: str | None = None,
    proof: DeletionProof | None = None,
    always_record: bool = True,
    on_step: OnStep | None = None,
) -> PurgeReport:
    """Delete everything the retention policy says must go as of ``now_day`` (or date ``now``).

    Parameters
    ----------
    run : path or RunStore
    now_day : int, optional
        Simulated now (start of this day); default the run's simulated now.
    now : date or "YYYY-MM-DD", optional
        The same as a date (``--now``).
    retention_days : int, optional
        Override of ``retention.days`` (``--retention-days``), capping the other two limits.
    actor, reason : str, optional
        For the audit record (default ``$FACELAB_ACTOR`` or the login, "retention policy").
    proof : DeletionProof, optional
        Receives the fingerprints of every purged embedding and frame.
    always_record : bool
        Record a report even when nothing was due (``facelab purge``); the day-boundary purge
        records one only when it deleted, moved or compacted something.
    on_step : callable, optional
        ``on_step(label, day)`` after each durable step (see the module docstring).

    Returns
    -------
    PurgeReport

    Raises
    ------
    RetentionError
        Bad ``now``/``retention_days``, or a file that cannot be deleted.
    """
    from facelab.governance.audit import default_actor

    own = not isinstance(run, RunStore)
    store = RunStore(run) if own else run
    truth = None
    try:
        truth = TruthStore(store.path).open()  # an incomplete run is refused before any deletion
        actor = actor or default_actor()
        reason = reason or "retention policy"
        scenario = store.scenario()
        start = scenario.start
        if now is not None:
            if now_day is not None:
                raise RetentionError("give now or now_day, not both")
            now_day = parse_now(now, start)
        if now_day is None:
            now_day = run_now(store)
        if now_day < 0:
            raise RetentionError(f"now_day must be >= 0, got {now_day}")
        policy = RetentionPolicy.of(scenario).with_days(retention_days)
        if proof is not None:
            if proof.run_id is None:
                proof.run_id = run_identity(store)
            elif proof.run_id != run_identity(store):
                raise RetentionError(
                    f"the deletion proof given belongs to another run ({proof.run_id})"
                )
        with journal.exclusive(store):  # a killed review or close-case decides what is held
            journal.recover(store)
        pending = store.get(PENDING_KEY)
        finished = None
        if pending is not None:  # a purge was killed before compacting: finish it first
            finished = _finish(store, truth, int(pending), actor, reason)
        report = _purge(store, truth, start, policy, int(now_day), actor, reason, proof,
                        always_record and finished is None, on_step or _no_step)  # fmt: skip
        return finished if finished is not None and report.purge_id is None else report
    finally:
        if truth is not None:
            truth.close()
        if own:
            store.close()


def purge_after_day(out: str | Path, day: int | None = None, *,
                    proof: DeletionProof | None = None,
                    on_step: OnStep | None = None) -> PurgeReport | None:  # fmt: skip
    """The automatic purge of ``facelab run`` at the boundary after simulated ``day``.

    ``now_day = day + 1``. With ``day=None``, after the run's last completed day (``facelab run``
    calls that once more at the end, which completes a purge a crash interrupted). Idempotent;
    returns ``None`` when no day is done yet.
    """
    with RunStore(out) as store:
        if day is None:
            done = store.days_done()
            if not done:
                return None
            day = max(done)
        return purge(store, now_day=int(day) + 1, actor=RUN_ACTOR, reason=AUTO_REASON,
                     proof=proof, always_record=False, on_step=on_step)  # fmt: skip


def _no_step(label: str, day: int | None) -> None:
    pass


def _purge(
    store: RunStore,
    truth: TruthStore,
    start: _dt.date,
    policy: RetentionPolicy,
    now_day: int,
    actor: str,
    reason: str,
    proof: DeletionProof | None,
    always_record: bool,
    on_step: OnStep,
) -> PurgeReport:
    """Steps 1 to 5 (see the module docstring), then :func:`_finish`."""
    day_label = now_day - 1
    run = store.path
    counts = dict.fromkeys(COUNT_KINDS, 0)
    freed = dict.fromkeys(BYTE_KINDS, 0)
    token = journal_resume(store, counts, freed)
    db_before = db_bytes(run / SEARCH_DB) + db_bytes(run / TRUTH_DB)
    db = store.db
    with Transaction(db):
        plan = purge_plan(db, policy, now_day)
        archive = store.archive()
        shard_days = [d for d in archive.days() if d < now_day]
        for p in held_temp_files(run):  # a crash while writing held.faiss leaves its temporary file
            unlink(p, None, p.name)

        if _update_held(run, archive, plan, shard_days, proof, counts, freed):
            journal_save(run, token, counts, freed)
        on_step("purge-held", day_label)

        _delete_shards(archive, plan, shard_days, proof, counts, freed)
        _delete_frame_files(run, plan, proof, counts, freed)
        if any(counts.values()):
            journal_save(run, token, counts, freed)
        on_step("purge-files", day_label)

        _delete_truth(truth, plan, counts)
        if counts["truth_sightings"] or counts["truth_passes"]:  # committed in truth.sqlite
            journal_save(run, token, counts, freed)
        on_step("purge-truth", day_label)
        _delete_rows(db, plan, counts)
        did = any(counts.values()) or freelist(db) + freelist(truth.conn) > 0
        report = PurgeReport(
            purge_id=None,
            now_day=now_day,
            now=_dt.datetime.combine(day_date(start, now_day), _dt.time()).isoformat(),
            window_start_day=plan.cut.window,
            window_start=day_date(start, plan.cut.window).isoformat(),
            policy=policy.to_dict(),
            counts=counts,
            bytes_freed=freed,
            retained_past_window=len(plan.keep_old),
            case_held=plan.case_held,
            oldest_remaining=_oldest(db, start),
            actor=actor,
            reason=reason,
            at=utcnow(),
        )
        if not (did or always_record):
            return report
        row = {**report.to_dict(), "db_bytes_before": db_before, "journal": token}
        purge_id = schema.insert_purge(db, report.at, now_day, json.dumps(row))
        store.set(PENDING_KEY, purge_id)
    (run / JOURNAL).unlink(missing_ok=True)  # its counts are in the report just committed
    on_step("purge-rows", day_label)
    return _finish(store, truth, purge_id, actor, reason,
                   lambda label: on_step(label, day_label))  # fmt: skip


def _update_held(run: Path, archive, plan: PurgePlan, shard_days: list[int],
                 proof: DeletionProof | None, counts: dict, freed: dict) -> bool:  # fmt: skip
    """Step 2: move into ``held.faiss`` what stays past the window, remove what no longer does.
    Returns whether ``held.faiss`` changed."""
    from facelab.search.index import read_index, write_index_atomic

    held_path = run / HELD_INDEX
    held = read_index(held_path) if held_path.exists() else None
    held_ids = set(fb.index_ids(held).tolist()) if held is not None else set()
    release = {i for i in held_ids if i not in plan.keep_old}
    move_in: dict[int, list[int]] = {}
    for sid, day in plan.keep_old.items():
        if sid not in held_ids:
            move_in.setdefault(day, []).append(sid)
    if not (release or move_in):
        return False
    size0 = file_size(held_path)
    if held is None:
        held = fb.new_held(archive.d)
    if release:
        if proof is not None:
            for sid, data in fb.stored_bytes(held, release).items():
                proof.add_embedding(data, f"sighting {sid}")
        held.remove_ids(np.array(sorted(release), np.int64))
        counts["released_from_held"] += len(release)
        counts["embeddings"] += len(release)
    for day, sids in sorted(move_in.items()):
        if day not in shard_days:
            log.error("day %d: %d retained embedding(s) have no shard left", day, len(sids))
            continue
        shard = read_index(archive.path(day))
        present = set(fb.index_ids(shard).tolist())
        sids = sorted(s for s in sids if s in present)
        if sids:
            held.add_with_ids(fb.reconstruct(shard, sids), np.array(sids, np.int64))
            counts["moved_to_held"] += len(sids)
    if held.ntotal:
        write_index_atomic(held, held_path)
    else:
        held_path.unlink(missing_ok=True)
        fsync_dir(run)
    freed["held"] += size0 - file_size(held_path)
    return True


def _delete_shards(archive, plan: PurgePlan, shard_days: list[int],
                   proof: DeletionProof | None, counts: dict, freed: dict) -> None:  # fmt: skip
    """Step 3, embeddings: drop the day shards past the window, rewrite those inside it that
    hold expired vectors."""
    from facelab.search.index import read_index, write_index_atomic

    cut = plan.cut
    for day in [d for d in shard_days if d < cut.window]:
        path = archive.path(day)
        size = file_size(path)
        shard = read_index(path)
        gone = {i for i in fb.index_ids(shard).tolist() if i not in plan.keep_old}
        if proof is not None:
            for sid, data in fb.stored_bytes(shard, gone).items():
                proof.add_embedding(data, f"sighting {sid}")
        del shard
        archive.drop_day(day)
        counts["embeddings"] += len(gone)
        counts["shards_dropped"] += 1
        freed["shards"] += size
    trim_days = sorted({d for d in plan.expired.values() if cut.window <= d} & set(shard_days))
    for day in trim_days:
        path = archive.path(day)
        size = file_size(path)
        shard = read_index(path)
        gone = {i for i in fb.index_ids(shard).tolist() if i in plan.expired}
        if not gone:
            continue
        if proof is not None:
            for sid, data in fb.stored_bytes(shard, gone).items():
                proof.add_embedding(data, f"sighting {sid}")
        shard.remove_ids(np.array(sorted(gone), np.int64))
        counts["embeddings"] += len(gone)
        if shard.ntotal:
            write_index_atomic(shard, path)
            counts["shards_rewritten"] += 1
        else:
            archive.drop_day(day)
            counts["shards_dropped"] += 1
        freed["shards"] += size - file_size(path)
    archive.clear_cache()


def _delete_frame_files(run: Path, plan: PurgePlan, proof: DeletionProof | None,
                        counts: dict, freed: dict) -> None:  # fmt: skip
    """Step 3, files: frames no retained sighting is in, clips, emptied day folders."""
    cut = plan.cut
    frame_ref = {f.path: f.id for f in plan.frames if f.path}
    for day, folder in frame_day_dirs(run / FRAMES_DIR):
        if day >= cut.frames:
            continue
        for p in sorted(folder.iterdir()):
            rel = str(p.relative_to(run))
            if p.is_file() and rel not in plan.kept_frame_paths:
                freed["frames"] += unlink(p, proof, frame_ref.get(rel, rel))
                counts["frame_files"] += 1
        if not any(folder.iterdir()):
            folder.rmdir()
        fsync_dir(folder.parent)
    for day, p in clip_files(run):
        if day < cut.frames:
            freed["clips"] += unlink(p, proof, str(p.relative_to(run)))
            counts["clips"] += 1
    if proof is not None:
        for f in plan.frames:
            proof.add_frame_id(f.id)


def _delete_truth(truth: TruthStore, plan: PurgePlan, counts: dict) -> None:
    """Step 4: the ground-truth rows of purged sightings and passes past retention."""
    stale = [s for s in truth.sightings_before(plan.cut.scan).tolist() if plan.truth_stale(s)]
    deleted = truth.delete(stale, passes_before=plan.cut.passes)
    counts["truth_sightings"] += deleted.sightings
    counts["truth_passes"] += deleted.passes


def _delete_rows(db: sqlite3.Connection, plan: PurgePlan, counts: dict) -> None:
    """Step 5, rows (inside the purge's transaction): candidates, alerts, sightings, frames."""
    counts["candidates"] += schema.delete_candidates(db, sorted(plan.candidate_sightings))
    schema.delete_alerts(db, plan.alerts)
    counts["alerts"] += len(plan.alerts)
    schema.delete_sightings(db, sorted(plan.expired))
    counts["sightings"] += len(plan.expired)
    schema.delete_frames(db, [f.id for f in plan.frames])
    counts["frames"] += len(plan.frames)


def _oldest(db: sqlite3.Connection, start: _dt.date) -> str | None:
    """ISO date-time of the oldest sighting or frame left, ``None`` when none is."""
    t = schema.oldest_time(db)
    return iso_time(start, t) if t is not None else None


def _finish(store: RunStore, truth: TruthStore, purge_id: int, actor: str,
            reason: str | None, step: Callable[[str], None] = lambda label: None,
            ) -> PurgeReport:  # fmt: skip
    """Step 6: compact both databases, complete the report, audit it, clear the marker."""
    run = store.path
    compact(truth.conn, TRUTH_DB)
    compact(store.db, SEARCH_DB)
    step("purge-compacted")
    row = schema.purge_row(store.db, purge_id)
    if row is None:  # the marker outlived its row (cannot happen: same transaction); clear it
        with Transaction(store.db) as db:
            schema.meta_delete(db, PENDING_KEY)
        checkpoint(store.db, SEARCH_DB)
        raise RetentionError(f"{run}: unfinished purge #{purge_id} has no report; run it again")
    data = json.loads(row.report)
    before = int(data.pop("db_bytes_before", 0))
    after = db_bytes(run / SEARCH_DB) + db_bytes(run / TRUTH_DB)
    data["bytes_freed"]["databases"] = max(before - after, 0) if before else 0
    data["purge_id"] = purge_id
    report = PurgeReport.from_dict(data)
    if not _audited(store, purge_id):
        store.audit.append(
            report.actor or actor, "purge", reason=report.reason or reason,
            details={
                "purge_id": purge_id, "now": report.now, "window_start": report.window_start,
                "policy": report.policy, "counts": report.counts,
                "bytes_freed": report.total_bytes, "oldest_remaining": report.oldest_remaining,
            },
        )  # fmt: skip
        step("purge-audit")
    with Transaction(store.db) as db:
        schema.set_purge_report(db, purge_id, json.dumps(report.to_dict()))
        schema.meta_delete(db, PENDING_KEY)
    checkpoint(store.db, SEARCH_DB)
    checkpoint(truth.conn, TRUTH_DB)
    log.info("purge #%d: %s", purge_id, report.counts)
    return report


def _audited(store: RunStore, purge_id: int) -> bool:
    """Whether the audit log already has the record of this purge (a crash after appending)."""
    try:
        records = store.audit.records()
    except Exception:  # a damaged log is `facelab audit verify`'s business
        return False
    for rec in reversed(records):
        if rec.action == "purge":
            return rec.details.get("purge_id") == purge_id
    return False
