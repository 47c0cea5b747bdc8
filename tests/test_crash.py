"""Crash safety: `facelab run` SIGKILLed right after a named step and started again with the same
command ends with exactly the rows, frames and index contents of an uninterrupted run, nothing
lost, nothing doubled. The kills come from tests/crash_driver.py, which runs the command with an
``on_step`` callback in :class:`facelab.run.pipeline.Runner` and in the retention purge.

One run directory is killed at each point in turn: each restart resumes the previous crash and
runs on to the next point, so every recovery path (redo a day, finish an interrupted purge at
the next day boundary or at the end of the run) is exercised, then the result is compared with
a reference run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from runtree import query as _q
from tiny import tiny_scenario

from facelab.governance import provenance, retention
from facelab.governance.retention.faiss_bytes import flat_codes
from facelab.search.index import read_index

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("crash_driver.py")

SCENARIO = tiny_scenario(
    "crash",
    4,
    """[thresholds]
alert_percent = 50.0
[retention]
days = 2
""",
)

# (crash point, what must be true of the run directory right after the kill)
KILLS = (
    ("after-enrol", lambda r: _watch_rows(r) == 3 and _meta(r, "watchlist_enrolled") is None),
    ("after-frames@0", lambda r: _frame_files(r, 0) > 0 and _days(r) == []),
    ("after-shard@1", lambda r: _shard(r, 1) and _days(r) == [0]),
    ("after-truth@1", lambda r: _truth_days(r) == [0, 1] and _days(r) == [0]),
    ("purge-files@2", lambda r: not _shard(r, 0) and 0 in _sighting_days(r)),  # purges day 0
    ("after-commit@3", lambda r: _days(r) == [0, 1, 2, 3] and _shard(r, 1)),
    ("purge-rows@3", lambda r: _meta(r, retention.PENDING_KEY) is not None
        and _sighting_days(r) == [2, 3]),  # rows gone, VACUUM not yet run
)  # fmt: skip


def _days(run: Path) -> list[int]:
    return [r[0] for r in _q(run, "SELECT day FROM days ORDER BY day")]


def _truth_days(run: Path) -> list[int]:
    rows = _q(run, "SELECT DISTINCT day FROM pass_truth ORDER BY day", "truth.sqlite")
    return [r[0] for r in rows]


def _sighting_days(run: Path) -> list[int]:
    return [r[0] for r in _q(run, "SELECT DISTINCT day FROM sightings ORDER BY day")]


def _watch_rows(run: Path) -> int:
    return _q(run, "SELECT COUNT(*) FROM watchlist")[0][0]


def _meta(run: Path, key: str):
    row = _q(run, f"SELECT value FROM meta WHERE key = '{key}'")
    return row[0][0] if row else None


def _shard(run: Path, day: int) -> bool:
    return (run / "archive" / f"day-{day:04d}.faiss").exists()


def _frame_files(run: Path, day: int) -> int:
    folder = run / "frames" / f"day-{day:03d}"
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def _facelab(args: list[str], env: dict, crash: str | None, timeout: int):
    """``facelab ARGS``; with ``crash``, killed at that step (``label`` or ``label@day``)."""
    cmd = [sys.executable, str(DRIVER), crash] if crash else [sys.executable, "-m", "facelab"]
    return subprocess.run(cmd + args, env=env, capture_output=True, text=True, timeout=timeout)


def _launch(toml: Path, out: Path, env: dict, crash: str | None = None):
    return _facelab(["run", str(toml), "--out", str(out)], env, crash, 300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("crash")
    toml = base / "crash.toml"
    toml.write_text(SCENARIO)
    env = {**os.environ, provenance.KEY_ENV: str(base / "keys" / "provenance.key")}
    ref = base / "reference"
    done = _launch(toml, ref, env)
    assert done.returncode == 0, done.stderr
    crashed = base / "crashed"
    kills = []
    for label, state_ok in KILLS:
        proc = _launch(toml, crashed, env, label)
        kills.append((label, proc.returncode, proc.stderr, bool(state_ok(crashed))))
    final = _launch(toml, crashed, env)
    assert final.returncode == 0, final.stderr
    return {"reference": ref, "crashed": crashed, "kills": kills}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _vectors(path: Path) -> tuple[list[int], str]:
    ids, codes = flat_codes(read_index(path))
    order = ids.argsort()
    return ids[order].tolist(), hashlib.sha256(codes[order].tobytes()).hexdigest()


def snapshot(run: Path) -> dict:
    """Everything a run holds, minus wall-clock columns and the audit log."""
    snap = {}
    tables = {
        "cameras": "*", "frames": "*", "sightings": "*", "candidates": "*", "alerts": "*",
        "watchlist": "id, label, case_id, reason, photo, photo_sha256, actor, active",
        "days": "day, frames, sightings, alerts",
        "watchlist_versions": "version, change", "watchlist_spans": "*", "day_watchlist": "*",
    }  # fmt: skip
    for table, cols in tables.items():
        snap[table] = _q(run, f"SELECT {cols} FROM {table} ORDER BY 1, 2")
    for table in ("sighting_truth", "pass_truth", "watch_truth"):
        snap[table] = _q(run, f"SELECT * FROM {table} ORDER BY 1", "truth.sqlite")
    snap["indexes"] = {
        str(p.relative_to(run)): _vectors(p)
        for p in sorted(run.rglob("*.faiss"))
    }  # fmt: skip
    snap["files"] = {
        str(p.relative_to(run)): _sha(p)
        for p in sorted((run / "frames").rglob("*")) + sorted((run / "watchlist").rglob("*"))
        if p.is_file()
    }  # fmt: skip
    return snap


def test_every_crash_point_killed_the_run_where_it_should(runs):
    assert len(runs["kills"]) >= 5
    for label, rc, stderr, state_ok in runs["kills"]:
        assert rc == -signal.SIGKILL, (label, rc, stderr[-2000:])
        assert f"crash point {label.split('@')[0]}" in stderr, label
        assert state_ok, f"{label}: the run directory is not in the state expected at that point"


def test_resumed_run_is_identical_to_an_uninterrupted_one(runs):
    ref, got = snapshot(runs["reference"]), snapshot(runs["crashed"])
    assert ref["days"] == [(d, *ref["days"][i][1:]) for i, d in enumerate(range(4))]
    assert ref["sightings"] and ref["alerts"] and ref["candidates"]  # the check means something
    assert sorted(ref["indexes"]) == ["archive/day-0002.faiss", "archive/day-0003.faiss",
                                      "watchlist.faiss"]  # fmt: skip
    for key in ref:
        assert got[key] == ref[key], key


def test_resumed_run_passes_retention_verify(runs):
    for run in (runs["reference"], runs["crashed"]):
        rep = retention.verify(run)
        assert rep.ok, [c for c in rep.checks if not c.ok]
    # the purge killed after deleting files at the boundary after day 2 recorded nothing; the
    # next one finished its work and reports it too (from the purge journal), exactly once
    ref, got = (
        [(now, json.loads(rep)) for now, rep in _q(r, "SELECT now_day, report FROM purges")]
        for r in (runs["reference"], runs["crashed"])
    )  # fmt: skip
    assert [p[0] for p in ref] == [3, 4] and [p[0] for p in got] == [4]
    for kind in retention.COUNT_KINDS:
        assert sum(r["counts"][kind] for _, r in ref) == got[0][1]["counts"][kind], kind
    for kind in ("frames", "shards"):
        assert sum(r["bytes_freed"][kind] for _, r in ref) == got[0][1]["bytes_freed"][kind] > 0
    assert not (runs["crashed"] / retention.JOURNAL).exists()


def _purge(run: Path, env: dict, crash: str | None = None):
    return _facelab(["purge", str(run), "--now", "2026-03-07"], env, crash, 120)


def test_killed_purge_with_a_case_hold_resumes_to_the_same_result(runs, tmp_path):
    """`facelab purge` killed while moving a held embedding, then after deleting files, then
    before compacting: run again, it ends as one uninterrupted purge (held.faiss included)."""
    env = {**os.environ, provenance.KEY_ENV: str(tmp_path / "key")}
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for run in (clean, killed):
        shutil.copytree(runs["reference"], run)
        conn = sqlite3.connect(run / "facelab.sqlite", isolation_level=None)
        n = conn.execute("UPDATE alerts SET status='confirmed', case_id='C-1' WHERE id = "
                         "(SELECT MIN(id) FROM alerts WHERE day = 2)").rowcount  # fmt: skip
        conn.close()
        assert n == 1
    assert _purge(clean, env).returncode == 0
    for label in ("purge-held", "purge-files", "purge-rows"):
        proc = _purge(killed, env, label)
        assert proc.returncode == -signal.SIGKILL, (label, proc.stderr[-2000:])
    done = _purge(killed, env)
    assert done.returncode == 0, done.stderr
    ref, got = snapshot(clean), snapshot(killed)
    assert "held.faiss" in ref["indexes"] and len(ref["indexes"]["held.faiss"][0]) == 1
    for key in ref:
        assert got[key] == ref[key], key
    # the killed purge's report (finished by the last command) has the clean one's counts: the
    # files its killed attempts deleted were counted once; the last command had nothing more
    # to do, so the purge it finished is its result (one purge, one record, as without a kill)
    sql = "SELECT report FROM purges WHERE now_day = 5 ORDER BY id"
    ref_counts, got_counts = ([json.loads(r[0])["counts"] for r in _q(run, sql)]
                              for run in (clean, killed))  # fmt: skip
    assert len(ref_counts) == 1 and got_counts == ref_counts
    [(pid,)] = _q(killed, "SELECT id FROM purges WHERE now_day = 5")
    assert f"purge #{pid} (table purges, audit log)" in done.stdout  # the purge it finished
    assert ref_counts[0]["moved_to_held"] == 1 and ref_counts[0]["embeddings"] > 0
    assert retention.verify(killed).ok
