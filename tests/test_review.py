"""Alerts and the manual review queue (facelab.run.review, `facelab alerts`, `facelab review`).

Uses the session's shared classroom run (see test_search) on a module copy. Ground truth is
joined here, in the test (alerts → sighting_truth, watchlist → watch_truth), never by the
library's alert or search path.
"""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest
from groundtruth import truth_tables
from typer.testing import CliRunner

from facelab import api
from facelab.cli import app
from facelab.config.scenario import load_scenario
from facelab.errors import AuditError, ConfigError, DataError
from facelab.run import pipeline, review, schema
from facelab.run.store import RunStore
from facelab.search.watchlist import WatchlistIndex
from facelab.truth import TruthStore

# --------------------------------------------------------------------------- shared run


@pytest.fixture(scope="module")
def run_dir(run_copy):
    return run_copy


@pytest.fixture(scope="module")
def lab(run_dir):
    return api.open_run(run_dir, actor="reviewer")


runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def audit_records(run_dir):
    with RunStore(run_dir) as s:
        return s.audit.records()


# --------------------------------------------------------------------------- acceptance


def _outcome(lab, run_dir, min_percent):
    """(alerts, true alerts, target sightings missed, in-city people alerted) at a percent."""
    person, watch = truth_tables(run_dir)
    population = 40
    in_city = {i for i in watch.values() if i < population}
    targets = {s for s, p in person.items() if p in in_city}  # watchlisted faces at FR cameras
    rows = lab.alerts(min_percent=min_percent)
    true = [a for a in rows if person.get(a.sighting) == watch[a.watch_id]]
    missed = targets - {a.sighting for a in true}
    return rows, true, missed, {watch[a.watch_id] for a in true}, in_city


def test_alerts_at_50_vs_80_percent_against_truth(lab, run_dir):
    rows50, true50, missed50, people50, in_city = _outcome(lab, run_dir, 50)
    rows80, true80, missed80, people80, _ = _outcome(lab, run_dir, 80)
    # Watchlisted people who pass FR cameras raise alerts at 50 % ...
    assert people50 == in_city
    assert true50
    # ... at 80 % there are fewer alerts and more missed targets.
    assert len(rows80) < len(rows50)
    assert len(missed80) > len(missed50)
    assert {a.id for a in rows80} <= {a.id for a in rows50}
    assert all(a.percent >= 80 for a in rows80) and all(a.percent >= 50 for a in rows50)


def test_default_queue_is_the_alerts_table_and_lowering_shows_more(lab, run_dir):
    with RunStore(run_dir) as s:
        table = {r[0]: r[1] for r in s.db.execute("SELECT id, percent FROM alerts")}
        thr = {r[0] for r in s.db.execute("SELECT threshold FROM cameras")}
    with RunStore(run_dir) as s:
        assert thr == {s.scenario_dict()["thresholds"]["alert_percent"]}
    queue = lab.alerts()
    assert {a.id: a.percent for a in queue} == table and all(a.in_queue for a in queue)
    assert all(a.status == "pending" for a in queue)
    assert [a.t for a in queue] == sorted(a.t for a in queue)
    lower = lab.alerts(min_percent=50)
    extra = [a for a in lower if not a.in_queue]
    assert extra, "lowering the percent below the run's threshold shows more candidates"
    assert all(a.status == review.BELOW_THRESHOLD and 50 <= a.percent < 60 for a in extra)
    assert {a.id for a in lower if a.in_queue} == set(table)
    higher = lab.alerts(min_percent=75)
    assert all(a.in_queue and a.percent >= 75 for a in higher) and len(higher) < len(queue)
    a = queue[0]
    assert a.frame.startswith("frames/day-") and (run_dir / a.frame).is_file()
    assert a.time.startswith("2026-03-0") and a.rank >= 1 and a.watch_label.startswith("WL-")
    assert lab.alerts(camera="north-gate") == [x for x in queue if x.camera == "north-gate"]
    assert lab.alerts(limit=2) == queue[:2]
    assert lab.alerts(min_percent=50, status=review.BELOW_THRESHOLD) == extra


def test_cli_alerts_lists_queue_and_marks_below_threshold(run_dir):
    r = cli("alerts", run_dir)
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0].split() == [
        "id",
        "watch",
        "camera",
        "time",
        "percent",
        "rank",
        "status",
        "frame",
    ]
    assert "below-threshold" not in r.output
    assert "alert(s) in the queue" in r.output.splitlines()[-1]
    r = cli("alerts", run_dir, "--min-percent", "50")
    assert r.exit_code == 0, r.output
    assert "below-threshold" in r.output
    assert "below the run's threshold, not in the queue" in r.output.splitlines()[-1]
    r = cli("alerts", run_dir, "--status", "nonsense")
    assert isinstance(r.exception, ConfigError)


# --------------------------------------------------------------------------- review


def test_confirm_and_reject_change_status_and_append_audit(lab, run_dir):
    queue = lab.alerts(status="pending")
    first, second = queue[0], queue[1]
    n = len(audit_records(run_dir))
    a = lab.review(first.id, "confirmed", reason="same person on the frame", case="C-1")
    assert (a.status, a.reviewed_by, a.case_id) == ("confirmed", "reviewer", "C-1")
    r = cli("review", run_dir, second.id, "--reject", "--reason", "different person",
            "--note", "glasses differ", "--actor", "bo")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"alert {schema.display_alert_id(second.id)}: pending → rejected by bo" in r.output
    after = {x.id: x for x in lab.alerts()}
    assert after[first.id].status == "confirmed"
    assert (after[second.id].status, after[second.id].note) == ("rejected", "glasses differ")
    assert lab.alerts(status="confirmed") == [after[first.id]]
    recs = audit_records(run_dir)
    assert len(recs) == n + 2
    assert [
        (x.action, x.actor, x.reason, x.details["decision"], x.details["alert_id"])
        for x in recs[-2:]
    ] == [  # fmt: skip
        ("review", "reviewer", "same person on the frame", "confirmed", first.id),
        ("review", "bo", "different person", "rejected", second.id),
    ]
    assert recs[-2].case == "C-1" and recs[-1].details["previous"] == "pending"
    # changing one's mind is allowed, and logged
    a = lab.review(second.id, "confirm", reason="second look")
    assert a.status == "confirmed"
    assert audit_records(run_dir)[-1].details["previous"] == "rejected"
    with RunStore(run_dir) as s:
        assert s.audit.verify().ok


def _snapshot(run_dir):
    con = sqlite3.connect(run_dir / "facelab.sqlite")
    try:
        rows = con.execute("SELECT * FROM alerts ORDER BY id").fetchall()
    finally:
        con.close()
    return rows, (run_dir / "audit.jsonl").read_bytes()


def test_unknown_alert_and_refusals_write_nothing(lab, run_dir):
    before = _snapshot(run_dir)
    with pytest.raises(DataError, match="no alert 999999999999"):
        lab.review(999_999_999_999, "confirmed", reason="x")
    r = cli("review", run_dir, 999_999_999_999, "--confirm", "--reason", "x")
    assert isinstance(r.exception, DataError) and r.exception.exit_code == 9
    assert "\n" not in str(r.exception)
    below = lab.alerts(min_percent=50, status=review.BELOW_THRESHOLD)[0]
    with pytest.raises(DataError, match="below the run's alert threshold"):
        lab.review(below.id, "confirmed", reason="x")
    pending = lab.alerts(status="pending")[0]
    with pytest.raises(AuditError, match="reason"):
        lab.review(pending.id, "rejected", reason=None)
    with pytest.raises(ConfigError, match="unknown decision"):
        lab.review(pending.id, "maybe", reason="x")
    r = cli("review", run_dir, pending.id, "--confirm", "--reject", "--reason", "x")
    assert r.exit_code == 2
    r = cli("review", run_dir, pending.id, "--reason", "x")
    assert r.exit_code == 2
    assert _snapshot(run_dir) == before
    # a case id stands in for a reason
    a = lab.review(pending.id, "rejected", reason=None, case="C-7")
    assert a.status == "rejected" and audit_records(run_dir)[-1].case == "C-7"


# --------------------------------------------------------------------------- alert ids


def test_every_candidate_of_a_sighting_keeps_its_own_alert(tmp_path):
    """Two consecutive sightings (ids s and s + 1) each score above the threshold against all
    TOP_K watchlist entries: the day's commit stores all 2 × TOP_K alerts, each under its own id
    (rank 8 of s and rank 0 of s + 1 included), and review finds every one of them."""
    top_k = schema.TOP_K
    assert top_k >= 9
    sc = load_scenario("classroom").with_overrides(days=1)
    rng = np.random.default_rng(3)
    base = rng.standard_normal(128).astype(np.float32)
    base /= np.linalg.norm(base)
    entries = base + 0.05 * rng.standard_normal((top_k + 2, 128)).astype(np.float32)
    entries /= np.linalg.norm(entries, axis=1, keepdims=True)
    queries = np.stack([base, base])
    sids = pipeline.sighting_ids(0, 2)
    truth = TruthStore(tmp_path / "run", create=True)
    runner = pipeline.Runner(sc, tmp_path / "run", truth=truth, mode="image")
    try:
        assert float((queries @ entries.T).min()) > float(runner.cos_thr.max())
        batch = pipeline.DayBatch(
            day=0,
            sightings=[
                schema.SightingRow(id=int(s), frame_id=None, camera=0, t=i, day=0)
                for i, s in enumerate(sids)
            ],
            embeddings=[queries],
        )
        watch = WatchlistIndex.build(np.arange(1, top_k + 3), entries, kind="flat")
        day = runner._commit(batch, watch, time.perf_counter())
    finally:
        runner.close()
        truth.close()
    assert day.alerts == 2 * top_k
    want = {(int(s), k) for s in sids for k in range(top_k)}
    with RunStore(tmp_path / "run") as store:
        alerts = [v.alert for v in schema.alert_views(store.db)]
        assert len(alerts) == len({a.id for a in alerts}) == 2 * top_k
        assert {(a.sighting, a.rank) for a in alerts} == want
        assert all(schema.split_alert_id(a.id) == (a.sighting, a.rank) for a in alerts)
        assert schema.alert_id(int(sids[0]), 8) != schema.alert_id(int(sids[1]), 0)
        queue = review.list_alerts(store)
        assert {(a.sighting, a.rank - 1) for a in queue} == want
        assert len({a.id for a in queue}) == 2 * top_k
        eighth = review.get_alert(store, schema.alert_id(int(sids[0]), 8))
        assert (eighth.sighting, eighth.rank) == (int(sids[0]), 9)
