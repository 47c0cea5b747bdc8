"""retention: 40 simulated days with a 30-day window purge everything older at each day boundary,
what remains matches the ground-truth schedule, verify finds no purged byte anywhere (and does
find planted ones), case holds keep evidence until the case closes, ``facelab purge`` works."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from groundtruth import run_with_truth
from typer.testing import CliRunner

from facelab.cli import app
from facelab.config.scenario import parse_scenario
from facelab.errors import RetentionError
from facelab.governance import provenance, retention
from facelab.governance.retention.faiss_bytes import flat_codes, index_ids, ivf_codes
from facelab.governance.retention.proof import FRAME_WINDOW, frame_windows
from facelab.run.store import RunStore
from facelab.run.window import archive_window
from facelab.search.index import read_index
from facelab.world.world import build_world

pytestmark = pytest.mark.slow

DAYS, WINDOW = 40, 30
START = dt.date(2026, 3, 2)


def tiny_scenario(days: int = DAYS, retention_days: int = WINDOW, **retention_kw):
    """8 people, one FR gate and one non-FR street camera, one pass a day, small frames."""
    return parse_scenario({
        "name": "tiny", "seed": 11, "start": START.isoformat(), "days": days, "mode": "image",
        "population": {"size": 8},
        "movement": {"passes_per_day": [1, 1], "active_hours": [8, 18], "presence": 0.8},
        "quality": {"tiny": {"base": "good", "face_px": [56, 72]}},
        "cameras": [
            {"id": "gate", "kind": "metro_gate", "station": "A", "fr": True,
             "resolution": [160, 128], "quality": "tiny"},
            {"id": "street", "kind": "street", "station": "B", "fr": False,
             "resolution": [160, 128], "quality": "tiny"},
        ],
        "watchlist": {"size": 3, "in_city": 2},
        "thresholds": {"alert_percent": 50.0},
        "retention": {"days": retention_days, **retention_kw},
    }, "tiny.toml")  # fmt: skip


@pytest.fixture(scope="module")
def run40(tmp_path_factory):
    """The 40-day run, purged at every day boundary; keeps the proof of every purge and, for the
    negative controls, the raw bytes of one purged embedding and one purged frame (taken just
    before they were purged)."""
    base = tmp_path_factory.mktemp("ret")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(provenance.KEY_ENV, str(base / "keys" / "provenance.key"))
        out = base / "run"
        proof = retention.DeletionProof()
        planted: dict = {}
        reports = []

        def after_day(day: int) -> None:
            if day == WINDOW:  # this purge drops day 0: keep a sample of its bytes first
                shard = read_index(out / "archive" / "day-0000.faiss")
                _ids, codes = flat_codes(shard)
                planted["embedding"] = codes[0].tobytes()
                planted["frame"] = sorted((out / "frames" / "day-000").iterdir())[0].read_bytes()
            reports.append(retention.purge_after_day(out, day, proof=proof))

        sc = tiny_scenario()
        run_with_truth(sc, out, after_day=after_day)
        yield {"out": out, "scenario": sc, "proof": proof, "planted": planted, "reports": reports,
               "base": base}  # fmt: skip


def _rows(run: Path, sql: str, db: str = "facelab.sqlite") -> list:
    conn = sqlite3.connect(run / db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _copy(run40, name: str) -> Path:
    dst = run40["base"] / name
    shutil.copytree(run40["out"], dst)
    return dst


# --------------------------------------------------------------------------- the window


def test_nothing_older_than_the_window_remains(run40):
    out = run40["out"]
    first = DAYS - WINDOW  # after day 39, now is day 40: days 10..39 are kept
    for table in ("sightings", "frames", "alerts", "candidates"):
        assert _rows(out, f"SELECT MIN(day) FROM {table}")[0][0] >= first, table
    assert _rows(out, "SELECT MIN(day) FROM sighting_truth", "truth.sqlite")[0][0] >= first
    assert _rows(out, "SELECT MIN(day) FROM pass_truth", "truth.sqlite")[0][0] >= first
    with RunStore(out) as store:
        assert store.archive().days() == list(range(first, DAYS))
        assert store.days_done() == list(range(DAYS))  # the per-day counts stay (resume)
    day_dirs = sorted(p.name for p in (out / "frames").iterdir())
    assert day_dirs == [f"day-{d:03d}" for d in range(first, DAYS)]
    assert not (out / retention.HELD_INDEX).exists()
    # each boundary past the window purged exactly one day and recorded it
    recorded = [r for r in run40["reports"] if r.purge_id is not None]
    assert [r.now_day for r in recorded] == list(range(WINDOW + 1, DAYS + 1))
    assert all(r.counts["shards_dropped"] == 1 for r in recorded)
    last = recorded[-1]
    assert last.window_start == (START + dt.timedelta(days=first)).isoformat()
    assert last.oldest_remaining.startswith((START + dt.timedelta(days=first)).isoformat())
    assert last.total_bytes > 0
    assert len(_rows(out, "SELECT id FROM purges")) == len(recorded)
    with RunStore(out) as store:
        purges = [r for r in store.audit.records() if r.action == "purge"]
        assert store.audit.verify().ok
    assert [r.details["purge_id"] for r in purges] == [r.purge_id for r in recorded]


def test_remaining_counts_match_the_ground_truth_schedule(run40):
    out, sc = run40["out"], run40["scenario"]
    first = DAYS - WINDOW
    world = build_world(sc)
    p = world.passes
    keep = world.camera_is_fr[p["camera"]] & (p["day"] >= first)
    assert keep.sum() > 100  # enough faces for the check to mean something
    passes = dict(_rows(out, "SELECT pid, detected FROM pass_truth", "truth.sqlite"))
    assert set(passes) == set(p["pid"][keep].tolist())
    detected = {pid for pid, det in passes.items() if det}
    truth = _rows(out, "SELECT sighting, pid FROM sighting_truth", "truth.sqlite")
    assert {pid for _, pid in truth if pid >= 0} == detected
    sightings = {r[0] for r in _rows(out, "SELECT id FROM sightings")}
    assert sightings == {s for s, _ in truth}
    # rows left equal what the pipeline counted for the kept days
    days = _rows(out, "SELECT SUM(frames), SUM(sightings), SUM(alerts) FROM days "
                      f"WHERE day >= {first}")  # fmt: skip
    n_frames = sum(len(world.fr_frame_indices(d)) for d in range(first, DAYS))
    assert days[0] == (n_frames, len(sightings), _rows(out, "SELECT COUNT(*) FROM alerts")[0][0])
    assert _rows(out, "SELECT COUNT(*) FROM frames")[0][0] == n_frames
    assert sum(len(list(d.iterdir())) for d in (out / "frames").iterdir()) == n_frames
    with RunStore(out) as store:
        arch = store.archive()
        archived = np.concatenate([index_ids(read_index(arch.path(d)))
                                   for d in arch.days()])  # fmt: skip
    assert sorted(archived.tolist()) == sorted(sightings)


def test_archive_window_is_the_retention_window(run40):
    with RunStore(run40["out"]) as store:
        win = archive_window(store)
        assert win == (10, 39, dt.date(2026, 3, 12), dt.date(2026, 4, 10))
        assert list(win.day_range) == store.archive().days()
        assert "2026-03-12 .. 2026-04-10" in win.describe()
        # later: 5 more days pass without new data (as of --now)
        assert archive_window(store, now_day=45)[:2] == (15, 39)
        assert archive_window(store, now_day=80) is None


# --------------------------------------------------------------------------- proof of deletion


def test_verify_finds_no_purged_byte_after_the_purge(run40):
    proof = run40["proof"]
    kinds = proof.kinds()
    assert kinds["embedding"] > 20 and kinds["frame"] > 5 * kinds["frame-id"] > 100
    rep = retention.verify(run40["out"], proof)
    assert rep.ok, [c for c in rep.checks if not c.ok] + [f for f in rep.files if f.count]
    assert rep.found == 0 and rep.needles == len(proof)
    names = {f.path for f in rep.files}
    assert {"facelab.sqlite", "truth.sqlite", "audit.jsonl", "archive/day-0010.faiss"} <= names
    assert rep.bytes_scanned == sum(f.size for f in rep.files) > 1_000_000


def test_verify_finds_planted_purged_bytes(run40):
    """Negative control: the same check on a copy holding purged bytes must fail."""
    bad = _copy(run40, "planted")
    emb, frame = run40["planted"]["embedding"], run40["planted"]["frame"]
    assert len(emb) == 512
    rng = np.random.default_rng(0)
    (bad / "archive" / "notes.bin").write_bytes(rng.bytes(1000) + emb + rng.bytes(77))
    kept = sorted((bad / "frames" / "day-020").iterdir())[0]
    kept.write_bytes(kept.read_bytes() + frame[1000 : 1000 + 4096 + 256])  # part of a purged frame
    rep = retention.verify(bad, run40["proof"])
    found = {f.path: f.found for f in rep.files if f.count}
    assert found["archive/notes.bin"] == {"embedding": 1, "embedding-prefix": 1}
    assert found[str(kept.relative_to(bad))].get("frame", 0) >= 1
    assert not rep.ok and len(found) == 2
    res = CliRunner().invoke(app, ["retention", "verify", str(bad), "--proof", str(_save(run40))])
    assert isinstance(res.exception, RetentionError) and RetentionError.exit_code == 10
    assert rep.found >= 3 and f"{rep.found} purged needle(s) found" in str(res.exception)
    assert "FOUND archive/notes.bin" in res.output


def test_deleted_rows_without_secure_delete_and_vacuum_are_found(run40):
    """Negative control for the database part: a naive delete leaves the row bytes in the file."""
    bad = _copy(run40, "naive")
    ids = [r[0] for r in _rows(bad, "SELECT id FROM frames WHERE day = 12")]
    shutil.rmtree(bad / "frames" / "day-012")
    conn = sqlite3.connect(bad / "facelab.sqlite", isolation_level=None)
    conn.execute("PRAGMA secure_delete=OFF")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.executemany("DELETE FROM frames WHERE id=?", [(i,) for i in ids])
    proof = retention.DeletionProof()
    for fid in ids:
        proof.add_frame_id(fid)
    rep = retention.verify(bad, proof)
    conn.close()
    assert rep.found >= len(ids)
    assert {f.path for f in rep.files if f.count} <= {"facelab.sqlite", "facelab.sqlite-wal"}
    # the audit log may name purged frames (references), it is never searched for them
    assert not any(f.count for f in rep.files if f.path == "audit.jsonl")


def test_proof_file_holds_no_purged_bytes(run40, tmp_path):
    path = run40["proof"].save(tmp_path / "proof.json")
    text = path.read_bytes()
    assert run40["planted"]["embedding"][:64] not in text
    assert run40["planted"]["embedding"][:64].hex().encode() not in text
    again = retention.DeletionProof.load(path)
    assert len(again) == len(run40["proof"]) and again.kinds() == run40["proof"].kinds()


def _save(run40) -> Path:
    path = run40["base"] / "proof.json"
    if not path.exists():
        run40["proof"].save(path)
    return path


# --------------------------------------------------------------------------- policy


def test_case_hold_keeps_evidence_until_the_case_closes(run40):
    run = _copy(run40, "hold")
    aid, sid, day, frame_id = _rows(run, "SELECT id, sighting, day, frame_id FROM alerts "
                                         "WHERE day = 12 ORDER BY id LIMIT 1")[0]  # fmt: skip
    conn = sqlite3.connect(run / "facelab.sqlite", isolation_level=None)
    conn.execute("UPDATE alerts SET status='confirmed', case_id='C-17' WHERE id=?", (aid,))
    conn.close()
    proof = retention.DeletionProof()
    rep = retention.purge(run, now_day=45, actor="tester", proof=proof)  # window from day 15
    assert rep.retained_past_window == 1 and rep.case_held == 1
    assert rep.counts["moved_to_held"] == 1 and rep.counts["shards_dropped"] == 5
    assert _rows(run, "SELECT day FROM sightings WHERE day < 15") == [(12,)]
    frame = _rows(run, f"SELECT path FROM frames WHERE id = '{frame_id}'")[0][0]
    assert (run / frame).is_file()
    held = read_index(run / retention.HELD_INDEX)
    assert index_ids(held).tolist() == [sid]
    with RunStore(run) as store:
        assert 12 not in store.archive().days()
        assert archive_window(store).first_day == 15  # held.faiss is never searched
    v = retention.verify(run, proof)
    assert v.ok and v.found == 0, [c for c in v.checks if not c.ok]
    # the held embedding is in held.faiss: it is not a purged needle
    assert proof.scan_file(run / retention.HELD_INDEX) == {}
    # close the case: the next purge deletes what it held, and verify proves it
    with RunStore(run) as store:
        assert retention.cases(store) == [("C-17", "open", 1)]
        retention.close_case(store, "C-17", actor="tester", reason="case closed")
    proof2 = retention.DeletionProof()
    rep2 = retention.purge(run, now_day=45, actor="tester", proof=proof2)
    assert rep2.counts["released_from_held"] == 1 and rep2.counts["sightings"] == 1
    assert rep2.counts["frames"] == 1
    assert not (run / retention.HELD_INDEX).exists() and not (run / frame).exists()
    v2 = retention.verify(run, proof2)
    assert v2.ok and v2.found == 0 and proof2.kinds()["embedding"] == 1


def test_unmatched_sightings_go_before_matched_ones(run40):
    """unmatched_days < matched_days: shards inside the window are rewritten without them."""
    run = _copy(run40, "split")
    matched = {r[0] for r in _rows(run, "SELECT DISTINCT sighting FROM alerts")}
    before = {r[0]: r[1] for r in _rows(run, "SELECT id, day FROM sightings")}
    policy = retention.RetentionPolicy(days=30, unmatched_days=10, matched_days=30, case_hold=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(retention.RetentionPolicy, "of", classmethod(lambda cls, sc: policy))
        proof = retention.DeletionProof()
        rep = retention.purge(run, now_day=40, actor="tester", proof=proof)
        v = retention.verify(run, proof)
    gone = {s for s, d in before.items() if d < 30 and s not in matched}
    assert gone and rep.counts["sightings"] == len(gone) and rep.counts["shards_rewritten"] > 0
    after = {r[0] for r in _rows(run, "SELECT id FROM sightings")}
    assert after == set(before) - gone
    with RunStore(run) as store:
        arch = store.archive()
        ids = set(np.concatenate([index_ids(read_index(arch.path(d)))
                                  for d in arch.days()]).tolist())  # fmt: skip
    assert ids == after
    assert v.ok and v.found == 0 and proof.kinds()["embedding"] == len(gone)


def test_policy_override_caps_the_limits():
    p = retention.RetentionPolicy(30, 7, 60, True).with_days(20)
    assert (p.days, p.unmatched_days, p.matched_days) == (20, 7, 20)
    with pytest.raises(RetentionError):
        p.with_days(0)
    assert retention.parse_now("2026-03-12", START) == 10
    with pytest.raises(RetentionError):
        retention.parse_now("2026-02-01", START)
    with pytest.raises(RetentionError):
        retention.parse_now("yesterday", START)


# --------------------------------------------------------------------------- the commands


def test_purge_cli_with_now_and_proof(run40):
    run = _copy(run40, "cli")
    proof = run40["base"] / "cli-proof.json"
    runner = CliRunner()
    res = runner.invoke(app, ["purge", str(run), "--now", "2026-04-20", "--keep-proof", str(proof),
                              "--reason", "quarterly review"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "purge as of      2026-04-20T00:00:00  (simulated day 49)" in res.output
    assert "archive window   from 2026-03-21 (30 days)" in res.output
    assert "shards dropped 9" in res.output and "bytes freed" in res.output
    assert "oldest remaining 2026-03-21T" in res.output
    assert _rows(run, "SELECT MIN(day) FROM sightings")[0][0] == 19
    res = runner.invoke(app, ["retention", "verify", str(run), "--proof", str(proof)])
    assert res.exit_code == 0, res.output
    assert "0 needle(s) found" in res.output and "retention verify OK" in res.output
    res = runner.invoke(app, ["retention", "window", str(run)])
    assert "2026-03-21 .. 2026-04-10" in res.output, res.output
    # a second purge at the same date: nothing due, still recorded (an operator's action)
    res = runner.invoke(app, ["purge", str(run), "--now", "2026-04-20"])
    assert res.exit_code == 0 and "nothing was due" in res.output, res.output
    assert len(_rows(run, "SELECT id FROM purges")) == (DAYS - WINDOW) + 2
    # --retention-days overrides the window (the proof file gathers both purges)
    res = runner.invoke(app, ["purge", str(run), "--now", "2026-04-20", "--retention-days", "25",
                              "--keep-proof", str(proof)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "archive window   from 2026-03-26 (25 days)" in res.output
    assert _rows(run, "SELECT MIN(day) FROM sightings")[0][0] == 24
    with RunStore(run) as store:
        assert archive_window(store)[:2] == (24, 39)  # the override is the window now
    res = runner.invoke(app, ["retention", "verify", str(run), "--proof", str(proof)])
    assert res.exit_code == 0, res.output
    # a proof may not be kept inside the run it is about
    res = runner.invoke(app, ["purge", str(run), "--keep-proof", str(run / "proof.json")])
    assert isinstance(res.exception, RetentionError) and "outside" in str(res.exception)
    assert not (run / "proof.json").exists()
    res = runner.invoke(app, ["purge", str(run), "--now", "2026-04-31"])
    assert isinstance(res.exception, RetentionError) and "YYYY-MM-DD" in str(res.exception)


def test_verify_without_proof_is_structural_and_fails_on_leftovers(run40):
    run = _copy(run40, "leftover")
    (run / "frames" / "day-003").mkdir()
    (run / "frames" / "day-003" / "gate-d003-030000.png").write_bytes(b"\x89PNG stale")
    res = CliRunner().invoke(app, ["retention", "verify", str(run)])
    assert isinstance(res.exception, RetentionError), res.output
    assert "FAIL frame files" in res.output and "structural checks only" in res.output
    shutil.rmtree(run / "frames" / "day-003")
    res = CliRunner().invoke(app, ["retention", "verify", str(run)])
    assert res.exit_code == 0, res.output


def test_frame_windows_skip_shared_jpeg_headers():
    """Windows of a JPEG frame lie in its scan data: the headers every frame shares (quantisation
    and Huffman tables) would match frames that were never purged."""
    import cv2

    from facelab.imageio import jpeg_segments

    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (5, 5), 1)
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    offsets = frame_windows(data)
    scan = jpeg_segments(data)[-1].end
    assert len(offsets) > 5 and min(offsets) >= scan
    assert max(offsets) + FRAME_WINDOW <= len(data)


# --------------------------------------------------------------------------- an ivf-sq8 archive


def _codes_by_id(index) -> dict[int, bytes]:
    """sighting id -> the 8-bit code bytes an ivf-sq8 shard stores for it."""
    ids, codes = ivf_codes(index)
    return {i: c.tobytes() for i, c in zip(ids.tolist(), codes)}


def test_ivf_sq8_archive_is_built_by_the_pipeline_and_purged(tmp_path, monkeypatch):
    """A run whose scenario says ``[archive] kind = "ivf-sq8"`` builds IVF-SQ8 day shards (no
    pipeline change), and the purge drops expired days and trims unmatched sightings from the
    shards inside the window: their ids and their 8-bit codes leave every file of the run."""
    from facelab.search.archive import kinds as archive  # where shards are built

    monkeypatch.setattr(archive, "IVF_MIN_TRAIN", 1)  # tiny days: train IVF all the same
    monkeypatch.setattr(archive, "ivf_nlist", lambda n: max(1, min(4, n // 2)))
    days, window, unmatched = 6, 3, 2
    sc = tiny_scenario(days, window, unmatched_days=unmatched)
    sc = parse_scenario({**sc.to_dict(), "archive": {"kind": "ivf-sq8"}}, "tiny.toml")
    out = tmp_path / "run"
    codes: dict[int, bytes] = {}
    kinds: set[str] = set()
    proof = retention.DeletionProof()

    def after_day(day: int) -> None:
        with RunStore(out) as store:
            arch = store.archive()
            assert arch.kind == "ivf-sq8"
            for d in arch.days():
                kinds.add(arch.shard_info(d).kind)
                codes.update(_codes_by_id(read_index(arch.path(d))))
        retention.purge_after_day(out, day, proof=proof)

    run_with_truth(sc, out, after_day=after_day)
    assert kinds == {"ivf-sq8"} and len(codes) > 20
    kept = {r[0] for r in _rows(out, "SELECT id FROM sightings")}
    matched = {r[0] for r in _rows(out, "SELECT DISTINCT sighting FROM alerts")}
    with RunStore(out) as store:
        arch = store.archive()
        assert arch.days() == list(range(days - window, days))
        archived = set(np.concatenate([arch.ids(d) for d in arch.days()]).tolist())
    assert archived == kept
    assert any(s >> 32 < days - unmatched and s not in matched for s in codes)  # some trimmed
    gone = set(codes) - kept
    assert gone and all(s >> 32 < days - unmatched for s in gone)
    blobs = [p.read_bytes() for p in out.rglob("*") if p.is_file()]
    assert not any(codes[s] in blob for s in gone for blob in blobs)
    assert all(any(codes[s] in blob for blob in blobs) for s in kept)  # the scan can find codes
    rep = retention.verify(out, proof)
    assert rep.ok, [c for c in rep.checks if not c.ok]
    # the proof's needles are those 8-bit codes: a planted copy of one is found
    (out / "archive" / "copy.bin").write_bytes(b"x" * 100 + codes[min(gone)] + b"y" * 50)
    found = {f.path: f.found for f in retention.verify(out, proof).files if f.count}
    assert found["archive/copy.bin"]["embedding"] == 1
