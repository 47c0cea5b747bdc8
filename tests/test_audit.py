"""audit: the hash chain verifies untouched and catches every tampering."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from facelab.cli import app
from facelab.errors import AuditError, RunError
from facelab.governance.audit import ZERO_HASH, AuditLog, AuditReport, default_actor, require_reason
from facelab.run.store import RUN_FORMAT, RUN_VERSION

N_RECORDS = 12


def _make_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"format": RUN_FORMAT, "version": RUN_VERSION}))
    return run


def _fill(log: AuditLog, n: int = N_RECORDS) -> None:
    actions = ["run", "enrol", "search", "review", "purge", "export", "remove"]
    for i in range(n):
        log.append(
            "ana" if i % 2 else "bo",
            actions[i % len(actions)],
            reason=None if i % 3 == 0 else f"reason {i}",
            case=f"C-{i}" if i % 4 == 0 else None,
            details={"i": i, "ids": list(range(i % 5)), "score": 0.5 + i / 100, "name": "Zoë"},
        )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """(log bytes, anchor bytes) of an untouched log of N_RECORDS records."""
    log = AuditLog(tmp_path_factory.mktemp("pristine") / "audit.jsonl")
    _fill(log)
    return log.path.read_bytes(), log.head_path.read_bytes()


def test_append_and_records(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    first = log.append("ana", "enrol", reason="watchlist update", details={"identity": 4})
    second = log.append("ana", "search", case="C-9")
    assert (first.seq, first.prev) == (1, ZERO_HASH)
    assert (second.seq, second.prev) == (2, first.hash)
    assert first.time.endswith("Z") and first.hash == first.compute_hash()
    assert log.records() == [first, second]
    assert log.verify().ok


def test_untouched_log_verifies(tmp_path, pristine):
    log = AuditLog(tmp_path / "audit.jsonl")
    assert log.verify() == AuditReport(True, 0)  # absent log: empty and fine
    log.path.write_bytes(pristine[0])
    log.head_path.write_bytes(pristine[1])
    report = log.verify()
    assert report.ok and report.count == N_RECORDS and report.first_bad is None
    assert report.problem == ""


def _flip(data: bytes, rng: np.random.Generator) -> tuple[bytes, int]:
    pos = int(rng.integers(len(data)))
    new = int(rng.integers(255))
    new = new + 1 if new >= data[pos] else new  # any byte but the old one
    line = data[:pos].count(b"\n") + 1
    return data[:pos] + bytes([new]) + data[pos + 1 :], line


def _tamper(data: bytes, kind: str, rng: np.random.Generator) -> tuple[bytes, int | None]:
    """Return tampered log bytes and the first line that must be reported (None: any)."""
    lines = data.splitlines(keepends=True)
    n = len(lines)
    if kind == "flip":
        return _flip(data, rng)
    if kind == "delete":
        k = int(rng.integers(n))
        return b"".join(lines[:k] + lines[k + 1 :]), k + 1
    if kind == "swap":
        k = int(rng.integers(n - 1))
        lines[k], lines[k + 1] = lines[k + 1], lines[k]
        return b"".join(lines), k + 1
    if kind == "insert":
        src, at = int(rng.integers(n)), int(rng.integers(n + 1))
        return b"".join(lines[:at] + [lines[src]] + lines[at:]), None
    if kind == "edit":
        k = int(rng.integers(n))
        obj = json.loads(lines[k])
        field = ["time", "actor", "action", "reason", "case", "details"][int(rng.integers(6))]
        obj[field] = {"details": {"i": -1}}.get(field, "edited")
        lines[k] = (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()
        return b"".join(lines), k + 1
    raise AssertionError(kind)


def test_random_tamperings_all_detected(tmp_path, pristine):
    rng = np.random.default_rng(20261102)
    log = AuditLog(tmp_path / "audit.jsonl")
    log.head_path.write_bytes(pristine[1])
    kinds = ["flip", "delete", "swap", "insert", "edit"]
    seen = set()
    for trial in range(100):
        kind = kinds[trial % len(kinds)] if trial < 50 else "flip"
        tampered, line = _tamper(pristine[0], kind, rng)
        assert tampered != pristine[0]
        log.path.write_bytes(tampered)
        report = log.verify()
        assert not report.ok, (trial, kind)
        assert report.problem
        if line is not None:
            assert report.first_bad == line, (trial, kind, report)
        seen.add(kind)
    assert seen == set(kinds)


def test_truncation_detected(tmp_path, pristine):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.head_path.write_bytes(pristine[1])
    lines = pristine[0].splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:-2]))  # two whole records cut off the end
    report = log.verify()
    assert not report.ok and report.first_bad == N_RECORDS - 1
    assert "cut from the end" in report.problem
    log.path.write_bytes(pristine[0][:-30])  # torn last line
    report = log.verify()
    assert not report.ok and report.first_bad == N_RECORDS
    assert "incomplete" in report.problem


def test_records_and_append_refuse_damaged_log(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    _fill(log, 3)
    data = log.path.read_bytes()
    log.path.write_bytes(data[:-10])
    with pytest.raises(AuditError, match="does not verify at record 3.*line 3 is incomplete"):
        log.append("ana", "search")
    assert log.path.read_bytes() == data[:-10]
    log.path.write_bytes(data.replace(b'"seq":2', b'"seq":2,,'))
    with pytest.raises(AuditError, match="line 2 is not valid JSON"):
        log.records()


def test_append_refuses_a_chain_that_no_longer_verifies(tmp_path):
    """An edit in the middle, a record cut off the end, or a missing anchor: the append is
    refused and neither the log nor its anchor changes."""
    log = AuditLog(tmp_path / "audit.jsonl")
    _fill(log, 4)
    data, head = log.path.read_bytes(), log.head_path.read_bytes()
    edited = data.replace(b'"actor":"ana"', b'"actor":"eve"', 1)
    assert edited != data
    lines = data.splitlines(keepends=True)
    for bad, match in (
        (edited, "does not verify at record 2"),
        (b"".join(lines[:-1]), "cut from the end"),
    ):
        log.path.write_bytes(bad)
        with pytest.raises(AuditError, match=match):
            log.append("ana", "search")
        assert (log.path.read_bytes(), log.head_path.read_bytes()) == (bad, head)
    log.path.write_bytes(data)
    log.head_path.unlink()
    with pytest.raises(AuditError, match="anchor audit.head is missing"):
        log.append("ana", "search")
    assert log.path.read_bytes() == data
    log.head_path.write_bytes(head)
    assert log.append("ana", "search").seq == 5
    assert log.verify().ok


def test_require_reason_and_actor(monkeypatch):
    assert require_reason("  case 12 ", True, "search") == "case 12"
    assert require_reason(None, False, "search") is None
    with pytest.raises(AuditError, match=r"a stated reason \(--reason\) is required for search"):
        require_reason("   ", True, "search")
    monkeypatch.setenv("FACELAB_ACTOR", "auditor-7")
    assert default_actor() == "auditor-7"
    monkeypatch.delenv("FACELAB_ACTOR")
    assert default_actor()


def test_cli_list_and_verify(tmp_path):
    run = _make_run(tmp_path)
    log = AuditLog(run / "audit.jsonl")
    _fill(log, 3)
    runner = CliRunner()

    listed = runner.invoke(app, ["audit", str(run)])
    assert listed.exit_code == 0, listed.output
    for word in ("seq", "actor", "enrol", "search", "reason 1"):
        assert word in listed.output

    ok = runner.invoke(app, ["audit", "verify", str(run)])
    assert ok.exit_code == 0, ok.output
    assert "audit log OK: 3 records" in ok.output

    data = log.path.read_bytes()
    log.path.write_bytes(data.replace(b'"actor":"ana"', b'"actor":"eve"', 1))
    broken = runner.invoke(app, ["audit", "verify", str(run)])
    assert isinstance(broken.exception, AuditError)
    assert str(broken.exception).startswith("audit log BROKEN at record 2:")
    assert AuditError.exit_code == 7

    missing = runner.invoke(app, ["audit", str(tmp_path / "nowhere")])
    assert isinstance(missing.exception, RunError)
