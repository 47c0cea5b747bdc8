"""Per-day figures after a purge divide by the days still held; sweep and report say what went."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from facelab.cli.sweep_cmd import sweep_output
from facelab.governance import retention
from facelab.lab.report.html import write_report


@pytest.fixture(scope="module")
def purged_run(classroom_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("purged") / "run"
    shutil.copytree(classroom_run, run, ignore=shutil.ignore_patterns("*.html"))
    retention.purge(run, now_day=2, retention_days=1, actor="test", reason="test",
                    always_record=True)  # fmt: skip
    return run


def test_sweep_divides_by_the_days_still_held(purged_run):
    doc = json.loads(sweep_output(purged_run, "50:70:10", fmt="json"))
    db = sqlite3.connect(purged_run / "facelab.sqlite")
    held = {r[0] for r in db.execute("SELECT DISTINCT day FROM sightings")}
    done = {r[0] for r in db.execute("SELECT day FROM days")}
    fr = db.execute("SELECT COUNT(*) FROM cameras WHERE fr=1").fetchone()[0]
    db.close()
    assert held < done  # the purge removed a whole day of searches
    run = doc["run"]
    assert run["days"] == len(done) and run["held_days"] == len(held)
    assert run["camera_days"] == fr * len(held)
    assert run["purged"]["purges"] == 1
    assert run["purged"]["days"] == sorted(done - held)
    assert run["purged"]["deleted"]["sightings"] > 0
    for row in doc["rows"]:
        assert row["false_alerts_per_camera_day"] == pytest.approx(
            row["false_alerts"] / (fr * len(held)), rel=1e-5
        )
    text = sweep_output(purged_run, "50:70:10")
    assert "purged     1 purge(s) removed" in text
    assert f"{len(held)} day(s) held" in text


def test_report_states_the_purge(purged_run, tmp_path):
    text = write_report(purged_run, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "1 purge(s) removed" in text
    assert "no search in this run" not in text
