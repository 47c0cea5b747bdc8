"""Damaged run directories and read-only commands.

* A missing, empty, truncated or foreign ``facelab.sqlite``, ``truth.sqlite``, ``run.json``,
  watchlist index or day shard is a :class:`~facelab.errors.RunError` (exit 6) naming the
  file, and the damaged file is left as it was (never given a fresh schema).
* A day shard of the archive window that is missing or unreadable makes ``facelab search`` fail
  naming the day, unless ``--allow-missing`` (then a warning names the days not searched and
  the result and its audit record list them).
* Read-only commands leave every file of the run byte for byte as it was (``search`` appends
  its audit record: only ``audit.jsonl`` and ``audit.head`` change).
* A deletion proof that cannot be read is a parameter error (2), not a failed proof (10).

Works on one module copy of the session's classroom run, damaging one file at a time and
putting it back.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest
from runtree import tree_hash
from typer.testing import CliRunner

from facelab.cli import app
from facelab.errors import RetentionError, RunError
from facelab.governance.audit import AuditLog
from facelab.run.store import RunStore

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(run_copy):
    return run_copy


@pytest.fixture(scope="module")
def probe(run_dir, tmp_path_factory) -> Path:
    """A photo of a watchlisted person (the run's own enrolled photo, copied out of the run)."""
    photos = sorted((run_dir / "watchlist").glob("*.png"))
    out = tmp_path_factory.mktemp("probe") / "probe.png"
    shutil.copyfile(photos[0], out)
    return out


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------- read-only commands


def test_read_only_commands_leave_the_run_unchanged(run_dir, probe, tmp_path):
    commands = [
        ["alerts", run_dir],
        ["alerts", run_dir, "--min-percent", "40"],
        ["watchlist", run_dir, "--all"],
        ["audit", run_dir],
        ["audit", "verify", run_dir],
        ["sweep", run_dir],
        ["report", run_dir, "--out", tmp_path / "report.html"],
        ["retention", "verify", run_dir],
        ["retention", "window", run_dir],
        ["retention", "cases", run_dir],
    ]
    for args in commands:
        before = tree_hash(run_dir)
        r = invoke(*args)
        assert r.exit_code == 0, (args, r.output, r.exception)
        assert tree_hash(run_dir) == before, f"{args} changed the run directory"
    before = tree_hash(run_dir)
    r = invoke("search", run_dir, probe, "--reason", "read-only check")
    assert r.exit_code == 0, (r.output, r.exception)
    after = tree_hash(run_dir)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == {"audit.jsonl", "audit.head"}, changed  # the search's audit record only
    assert AuditLog(run_dir / "audit.jsonl").verify().ok


def test_read_only_store_writes_nothing_even_while_open(run_dir):
    before = tree_hash(run_dir)
    with RunStore(run_dir, readonly=True) as store:
        assert store.days_done()
        q = np.ones((1, 128), np.float32) / np.sqrt(128)
        assert store.archive().search(q, 3).ids.shape == (1, 3)  # shards read, nothing written
        assert not [p for p in run_dir.iterdir() if p.name.endswith(("-wal", "-shm"))]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.set("touched", 1)
    assert tree_hash(run_dir) == before


# --------------------------------------------------------------------------- damaged files


def _foreign_sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes(x)")
    con.commit()
    con.close()


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2 + 7])
    elif how == "foreign":
        path.unlink()
        if path.suffix == ".sqlite":
            _foreign_sqlite(path)
        elif path.suffix == ".json":
            path.write_text(json.dumps({"format": "someone-elses-tool", "version": 2}))
        else:  # a faiss index of another kind
            faiss.write_index(faiss.IndexFlatL2(128), str(path))


DAMAGE = ["missing", "empty", "truncated", "foreign"]


def _commands(target: str, run: Path, probe: Path) -> list[list]:
    return {
        "facelab.sqlite": [["alerts", run], ["retention", "verify", run]],
        "truth.sqlite": [["sweep", run], ["retention", "verify", run]],
        "run.json": [["alerts", run]],
        "watchlist.faiss": [["watchlist", run, "--remove", "WL-0001", "--reason", "x"]],
        "archive/day-0001.faiss": [["search", run, probe, "--reason", "x"]],
    }[target]


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize(
    "target",
    ["facelab.sqlite", "truth.sqlite", "run.json", "watchlist.faiss", "archive/day-0001.faiss"],
)
def test_damaged_file_is_reported_by_name_and_left_alone(run_dir, probe, target, how):
    path = run_dir / target
    saved = path.read_bytes()
    try:
        _damage(path, how)
        before = tree_hash(run_dir)
        for args in _commands(target, run_dir, probe):
            r = invoke(*args)
            exc = r.exception
            assert isinstance(exc, RunError), (target, how, args, r.output, exc)
            assert exc.exit_code == 6
            message = str(exc)
            assert "\n" not in message
            assert Path(target).name in message, message
            assert tree_hash(run_dir) == before, f"{args}: {target} ({how}) changed or repaired"
    finally:
        path.unlink(missing_ok=True)
        path.write_bytes(saved)
    assert invoke("alerts", run_dir).exit_code == 0


def test_missing_shard_fails_unless_allow_missing(run_dir, probe):
    shard = run_dir / "archive" / "day-0000.faiss"
    saved = shard.read_bytes()
    log = AuditLog(run_dir / "audit.jsonl")
    try:
        shard.unlink()
        n = len(log.records())
        r = invoke("search", run_dir, probe, "--reason", "x")
        assert isinstance(r.exception, RunError), r.output
        assert "day 0 (2026-03-02)" in str(r.exception) and "--allow-missing" in str(r.exception)
        assert len(log.records()) == n  # a refused search writes no audit record
        r = invoke("search", run_dir, probe, "--reason", "x", "--allow-missing", "--format", "json")
        assert r.exit_code == 0, (r.output, r.exception)
        err = r.output + (r.stderr if r.stderr_bytes is not None else "")
        assert "warning: NOT SEARCHED: 1 day(s)" in err and "2026-03-02" in err
        assert json.loads(r.stdout)["missing_days"] == ["2026-03-02"]
        rec = log.records()[-1]
        assert rec.action == "search" and rec.details["days_not_searched"] == ["2026-03-02"]
        assert rec.details["days_searched"] == 1
    finally:
        shard.write_bytes(saved)


def test_unreadable_proof_is_a_parameter_error(run_dir, tmp_path):
    for content in (None, b"", b"{}", b"\xff\xfe"):
        proof = tmp_path / "proof.json"
        proof.unlink(missing_ok=True)
        if content is not None:
            proof.write_bytes(content)
        r = invoke("retention", "verify", run_dir, "--proof", proof)
        assert isinstance(r.exception, RetentionError), r.output
        assert r.exception.exit_code == 2, (content, r.exception)
