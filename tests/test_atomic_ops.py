"""Enrol, remove, review and close-case happen whole or not at all, even when SIGKILLed.

Each case copies the session's classroom run, runs one command through tests/op_crash_driver.py
(which kills the process right after a named write of the operation), then checks that the
killed run's audit log verifies, that the next audited operation settles what was pending
(:func:`facelab.run.journal.recover`), and that the run then shows the whole operation with
its audit record, or none of it; ``retention verify`` accepts it either way, and the read-only
listings show the same before and after it is settled. A handful of kill
points cover each gap: before the audit record (undone) and after it (finished).
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from facelab import api
from facelab.errors import RunError
from facelab.governance import retention
from facelab.governance.audit import AuditLog
from facelab.run import journal
from facelab.run.store import RunStore

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("op_crash_driver.py")


def _rows(run: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{run / 'facelab.sqlite'}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def state(run: Path) -> dict:
    """What a user can see of the watchlist, the review queue and the audit log."""
    with RunStore(run, readonly=True) as s:
        ids = sorted(s.load_watchlist().ids().tolist()) if s.watchlist_path.exists() else []
    return {
        "watchlist": _rows(run, "SELECT id, label, active, photo FROM watchlist ORDER BY id"),
        "alerts": _rows(run, "SELECT id, status, reviewed_by, case_id, note FROM alerts"),
        "index": ids,
        "photos": sorted(p.name for p in (run / "watchlist").iterdir()),
        "cases": _rows(run, "SELECT id, status, opened_at, closed_at FROM cases ORDER BY id"),
        "audit": len(AuditLog(run / "audit.jsonl").records()),
    }


def killed(run: Path, point: str, *args) -> None:
    """Run ``facelab ARGS`` on ``run``, SIGKILLed right after step ``point``."""
    proc = subprocess.run(
        [sys.executable, str(DRIVER), point, *[str(a) for a in args]],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, proc.stderr[-2000:])


def shown(run: Path) -> tuple:
    """What the read-only listings show (``facelab watchlist --all``, ``facelab alerts``,
    ``facelab retention cases``)."""
    lab = api.open_run(run, actor="reader")
    return (
        [(e.id, e.label, e.active, e.photo) for e in lab.watchlist(include_removed=True)],
        [(a.id, a.status, a.reviewed_by, a.case_id, a.note) for a in lab.alerts()],
        lab.retention_cases(),
    )


def settle(run: Path) -> list:
    """Check the killed run's audit log, then settle the pending operation as the next audited
    operation would; read-only listings show the same before and after."""
    assert AuditLog(run / "audit.jsonl").verify().ok
    seen = shown(run)
    with RunStore(run) as s:
        out = journal.recover(s)
        assert journal.recover(s) == []  # settled once and for all
    assert not _rows(run, "SELECT * FROM pending_ops")
    # the watchlist history agrees with the active entries (searches are scored by it)
    assert _rows(run, "SELECT watch FROM watchlist_spans WHERE removed IS NULL ORDER BY watch") == (
        _rows(run, "SELECT id FROM watchlist WHERE active=1 ORDER BY id")
    )
    assert AuditLog(run / "audit.jsonl").verify().ok
    assert retention.verify(run).ok
    assert shown(run) == seen
    return out


@pytest.fixture
def fresh(classroom_run, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(classroom_run, run)
    return run


ENROL_POINTS = [("enrol-truth", False), ("enrol-audit", True)]
"""After the row, photo, index and truth (undone), and after the audit record (finished)."""


@pytest.mark.parametrize(("point", "whole"), ENROL_POINTS, ids=[p for p, _ in ENROL_POINTS])
def test_enrol_killed_between_writes(fresh, tmp_path, point, whole):
    probe = tmp_path / "probe.png"
    shutil.copyfile(sorted((fresh / "watchlist").glob("*.png"))[1], probe)
    before = state(fresh)
    killed(fresh, point, "enroll", fresh, probe, "--label", "NEW-1", "--reason", "kill test")
    [(_op, action, outcome)] = settle(fresh)
    assert action == "enrol" and outcome == ("finished" if whole else "undone")
    after = state(fresh)
    if not whole:
        assert after == before
        # the label is free again and the enrolment can be made in full
        lab = api.open_run(fresh, actor="tester")
        entry = lab.enroll(probe, label="NEW-1", reason="again")
        assert entry.id not in before["index"]
        after = state(fresh)
    new = [w for w in after["watchlist"] if w[1] == "NEW-1"]
    assert len(new) == 1 and new[0][2] == 1, after["watchlist"]
    wid = new[0][0]
    assert wid in after["index"] and "NEW-1.png" in after["photos"]
    assert after["audit"] == before["audit"] + 1
    rec = AuditLog(fresh / "audit.jsonl").records()[-1]
    assert (rec.action, rec.details["watch_id"], rec.details["label"]) == ("enrol", wid, "NEW-1")


REMOVE_POINTS = [("remove-begun", False), ("remove-audit", True)]


@pytest.mark.parametrize(("point", "whole"), REMOVE_POINTS, ids=[p for p, _ in REMOVE_POINTS])
def test_remove_killed_between_writes(fresh, point, whole):
    before = state(fresh)
    wid, label, _, photo = before["watchlist"][0]
    killed(fresh, point, "watchlist", fresh, "--remove", label, "--reason", "kill test")
    [(_op, action, outcome)] = settle(fresh)
    assert action == "remove" and outcome == ("finished" if whole else "undone")
    after = state(fresh)
    if not whole:
        assert after == before
        return
    assert after["watchlist"][0] == (wid, label, 0, None)
    assert wid not in after["index"] and Path(photo).name not in after["photos"]
    assert after["audit"] == before["audit"] + 1
    rec = AuditLog(fresh / "audit.jsonl").records()[-1]
    assert (rec.action, rec.details["watch_id"]) == ("remove", wid)


REVIEW_POINTS = [("review-begun", False), ("review-audit", True)]


@pytest.mark.parametrize(("point", "whole"), REVIEW_POINTS, ids=[p for p, _ in REVIEW_POINTS])
def test_review_killed_between_writes(fresh, point, whole):
    before = state(fresh)
    alert = before["alerts"][0][0]
    killed(fresh, point, "review", fresh, alert, "--confirm", "--reason", "kill test",
           "--note", "same person")  # fmt: skip
    [(_op, action, outcome)] = settle(fresh)
    assert action == "review" and outcome == ("finished" if whole else "undone")
    after = state(fresh)
    if not whole:
        assert after == before
        return
    row = next(a for a in after["alerts"] if a[0] == alert)
    assert (row[1], row[4]) == ("confirmed", "same person")
    rec = AuditLog(fresh / "audit.jsonl").records()[-1]
    assert (rec.action, rec.details["alert_id"], rec.details["decision"]) == (
        "review", alert, "confirmed",
    )  # fmt: skip
    assert json.dumps(rec.details["previous"]) == '"pending"'


CASE_POINTS = [("case-close-begun", False), ("case-close-audit", True)]
"""After the closed row (undone: the case is open again), and after the audit record."""


def _open_case(run: Path, case: str) -> int:
    """Confirm the run's first alert into ``case``; its id."""
    from facelab.run import review

    with RunStore(run) as s:
        alert = review.list_alerts(s)[0].id
        review.review_alert(s, alert, "confirmed", actor="tester", reason="setup", case=case)
    return alert


@pytest.mark.parametrize(("point", "whole"), CASE_POINTS, ids=[p for p, _ in CASE_POINTS])
def test_close_case_killed_between_writes(fresh, point, whole):
    _open_case(fresh, "C-9")
    before = state(fresh)
    assert before["cases"] == []
    killed(fresh, point, "retention", "close-case", fresh, "C-9", "--reason", "kill test")
    with RunStore(fresh, readonly=True) as s:  # as the next operation will settle it
        assert retention.cases(s) == [("C-9", "closed" if whole else "open", 1)]
    [(_op, action, outcome)] = settle(fresh)
    assert action == "case-close" and outcome == ("finished" if whole else "undone")
    after = state(fresh)
    if not whole:
        assert after == before
        # the closing can be made in full
        assert api.open_run(fresh, actor="tester").retention_close_case("C-9", reason="again") == 1
        after = state(fresh)
    [(case, status, _opened, closed)] = after["cases"]
    assert (case, status) == ("C-9", "closed") and closed
    assert after["audit"] == before["audit"] + 1
    rec = AuditLog(fresh / "audit.jsonl").records()[-1]
    assert (rec.action, rec.case, rec.details["confirmed_alerts"]) == ("case-close", "C-9", 1)


class Failure(Exception):
    """An error raised between two writes (a full disk, say), not a kill."""


def fail_at(point: str):
    def on_step(label: str, day: int | None) -> None:
        if label == point:
            raise Failure(point)

    return on_step


@pytest.mark.parametrize(("point", "whole"), REMOVE_POINTS, ids=[p for p, _ in REMOVE_POINTS])
def test_an_error_between_writes_is_settled_at_once(fresh, point, whole):
    from facelab.run import watchlist

    before = state(fresh)
    wid, label, _, _ = before["watchlist"][0]
    with RunStore(fresh) as s, pytest.raises(Failure):
        watchlist.remove(s, label, reason="error test", actor="tester", on_step=fail_at(point))
    assert not _rows(fresh, "SELECT * FROM pending_ops")
    after = state(fresh)
    if whole:
        assert after["watchlist"][0][2] == 0 and wid not in after["index"]
        assert after["audit"] == before["audit"] + 1
    else:
        assert after == before


def test_enrol_into_a_run_without_truth_is_refused_before_any_write(fresh, tmp_path):
    probe = tmp_path / "probe.png"
    shutil.copyfile(sorted((fresh / "watchlist").glob("*.png"))[1], probe)
    (fresh / "truth.sqlite").unlink()
    before = {p: p.read_bytes() for p in fresh.rglob("*") if p.is_file()}
    lab = api.open_run(fresh, actor="tester")
    with pytest.raises(RunError, match="truth.sqlite is missing"):
        lab.enroll(probe, label="NEW-1", reason="test")
    assert {p: p.read_bytes() for p in fresh.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(("point", "whole"), CASE_POINTS, ids=[p for p, _ in CASE_POINTS])
def test_an_error_closing_a_closed_case_is_settled_at_once(fresh, point, whole):
    """Closing again a case closed before: an error before the audit record puts back the row
    (with its first closing time) as it was."""
    from facelab.run import cases

    _open_case(fresh, "C-9")
    with RunStore(fresh) as s:
        cases.close_case(s, "C-9", actor="tester", reason="first")
    con = sqlite3.connect(fresh / "facelab.sqlite", isolation_level=None)
    con.execute("UPDATE cases SET opened_at='2000-01-01', closed_at='2000-01-02' WHERE id='C-9'")
    con.close()  # times no second closing could write
    before = state(fresh)
    with RunStore(fresh) as s, pytest.raises(Failure):
        cases.close_case(s, "C-9", actor="tester", reason="again", on_step=fail_at(point))
    assert not _rows(fresh, "SELECT * FROM pending_ops")
    after = state(fresh)
    if whole:
        assert after["cases"][0][:3] == ("C-9", "closed", "2000-01-01")
        assert after["cases"][0][3] != "2000-01-02"
        assert after["audit"] == before["audit"] + 1
    else:
        assert after == before
