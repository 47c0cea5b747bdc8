"""A purge SIGKILLed between any two of its writes is finished, whole, by the next purge.

Each case copies a small run (the session's classroom run with one day-0 alert confirmed into
an open case, so that the purge moves an embedding into ``held.faiss`` as well as dropping a
day shard, frames, rows and ground truth), runs ``facelab purge RUN --retention-days 1``
through tests/crash_driver.py, which kills the process right after the named step
(:mod:`facelab.governance.retention.purge`), and checks:

- the killed run's audit log verifies, and its rows show none of the purge (killed before the
  rows' transaction) or all of it (after); ``retention verify`` fails naming the unfinished
  purge and telling the user to run ``facelab purge RUN``;
- the same purge run again finishes it: the run then equals one purged without a kill (rows,
  ground truth, frame files, shards, held vectors), with exactly one purge record in the audit
  log carrying the uninterrupted purge's counts, and ``audit verify`` and ``retention verify``
  accept it.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from runtree import query as _q

from facelab import api
from facelab.governance import retention
from facelab.governance.audit import AuditLog
from facelab.governance.retention.faiss_bytes import flat_codes
from facelab.search.index import read_index

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("crash_driver.py")
PURGE = ("--retention-days", "1", "--reason", "kill test")
POINTS = [
    ("purge-held", False),  # held.faiss written, nothing else
    ("purge-files", False),  # day shard and frame files unlinked, rows still there
    ("purge-truth", False),  # ground truth deleted, the rows' transaction not committed
    ("purge-rows", True),  # rows deleted and the report recorded, not compacted or audited
    ("purge-compacted", True),  # both databases compacted, no audit record yet
    ("purge-audit", True),  # audit record written, the pending marker not cleared
]
"""Every step of a purge, and whether its rows are gone when the process dies there."""


def rows(run: Path) -> dict:
    """What the search side shows: the rows a purge deletes."""
    return {
        t: _q(run, f"SELECT * FROM {t} ORDER BY 1")
        for t in ("sightings", "frames", "alerts", "candidates")
    }


def snapshot(run: Path) -> dict:
    """Rows, ground truth, frame files and index contents (not timestamps or the audit log)."""
    snap = rows(run)
    for t in ("sighting_truth", "pass_truth"):
        snap[t] = _q(run, f"SELECT * FROM {t} ORDER BY 1", "truth.sqlite")
    snap["files"] = {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((run / "frames").rglob("*"))
        if p.is_file()
    }
    indexes = {}
    for p in sorted(run.rglob("*.faiss")):
        ids, codes = flat_codes(read_index(p))
        order = ids.argsort()
        indexes[str(p.relative_to(run))] = (ids[order].tolist(), codes[order].tobytes())
    snap["indexes"] = indexes
    return snap


def purge_records(run: Path) -> list:
    return [r for r in AuditLog(run / "audit.jsonl").records() if r.action == "purge"]


@pytest.fixture(scope="module")
def base(classroom_run, tmp_path_factory) -> dict:
    """The run before the purge, and the same run purged without a kill."""
    run = tmp_path_factory.mktemp("purge-kill") / "base"
    shutil.copytree(classroom_run, run)
    day0 = _q(run, "SELECT a.id FROM alerts a JOIN sightings s ON s.id = a.sighting "
                   "WHERE s.day = 0 ORDER BY a.id LIMIT 1")[0][0]  # fmt: skip
    api.open_run(run, actor="tester").review(day0, "confirm", reason="kill test", case="C-1")
    ref = run.with_name("reference")
    shutil.copytree(run, ref)
    report = api.open_run(ref, actor="tester").purge(retention_days=1, reason="kill test")
    c = report.counts
    assert c["shards_dropped"] == 1 and c["moved_to_held"] == 1 and c["frame_files"] > 0
    assert c["sightings"] > 0 and c["truth_sightings"] > 0  # every kind of write happens
    return {"run": run, "reference": ref, "counts": report.counts}


@pytest.mark.parametrize(("point", "rows_gone"), POINTS, ids=[p for p, _ in POINTS])
def test_purge_killed_between_writes_is_finished_whole(base, tmp_path, point, rows_gone):
    run = tmp_path / "run"
    shutil.copytree(base["run"], run)
    before = rows(run)
    proc = subprocess.run(
        [sys.executable, str(DRIVER), point, "purge", str(run), *PURGE],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])
    assert f"crash point {point}" in proc.stderr

    assert AuditLog(run / "audit.jsonl").verify().ok
    assert rows(run) == (rows(base["reference"]) if rows_gone else before)
    killed = retention.verify(run)
    assert not killed.ok
    failed = {c.name: c.detail for c in killed.checks if not c.ok}
    assert "unfinished purge" in failed, failed  # (and what it had not deleted yet)
    assert all("facelab purge RUN" in d for d in failed.values()), failed

    report = api.open_run(run, actor="tester").purge(retention_days=1, reason="kill test")
    assert report.counts == base["counts"]
    assert snapshot(run) == snapshot(base["reference"])
    [rec] = purge_records(run)
    assert rec.details["counts"] == base["counts"]
    assert AuditLog(run / "audit.jsonl").verify().ok
    assert retention.verify(run).ok
    assert not (run / retention.JOURNAL).exists()
