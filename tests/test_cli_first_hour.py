"""The first hour on the command line: photo → enroll → search → alerts → review with short
ids, ``--format json|csv`` built by facelab.lab.jsonview, ``run --threshold``, tables that are
never cut to "…", and help text wrapped once."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from facelab import api
from facelab.cli import app
from facelab.errors import ConfigError
from facelab.lab import jsonview
from facelab.run import schema

runner = CliRunner()


def cli(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_photo_command_writes_a_signed_photo(run_copy, tmp_path):
    out = tmp_path / "wl1.png"
    r = cli("photo", run_copy, "WL-0001", "--out", out)
    assert r.exit_code == 0, r.output
    assert "WL-0001" in r.output and str(out) in r.output
    r = cli("photo", run_copy, "WL-0001", "--out", tmp_path / "j.png", "--format", "json")
    doc = json.loads(r.output)
    assert doc["label"] == "WL-0001" and doc["take"] == 1
    assert out.read_bytes() == (tmp_path / "j.png").read_bytes()
    r = cli("search", run_copy, out, "--reason", "first hour", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["count"] == len(doc["hits"]) > 0
    r = cli("search", run_copy, out, "--reason", "first hour", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [int(x["rank"]) for x in rows] == [h["rank"] for h in doc["hits"]]


def test_world_people_lists_ids_worth_a_photo():
    r = cli("world", "classroom", "--people")
    assert r.exit_code == 0, r.output
    assert "people worth a photo" in r.output and "WL-0001" in r.output
    doc = json.loads(cli("world", "classroom", "--people", "--format", "json").output)
    assert doc["people"] == api.people("classroom")


def test_alerts_show_short_ids_and_review_accepts_them(run_copy):
    queue = api.open_run(run_copy).alerts(status="pending")
    short = schema.display_alert_id(queue[0].id)
    r = cli("alerts", run_copy)
    assert r.exit_code == 0, r.output
    assert short in r.output
    r = cli("review", run_copy, short, "--reject", "--reason", "not him")
    assert r.exit_code == 0, r.output
    assert f"alert {short}: pending → rejected" in r.output
    assert api.open_run(run_copy).alerts(status="rejected")[0].id == queue[0].id


def test_json_formats_are_the_library_serializers(run_copy):
    lab = api.open_run(run_copy)
    r = cli("watchlist", run_copy, "--format", "json")
    assert json.loads(r.output) == json.loads(jsonview.dumps(lab.watchlist()))
    r = cli("audit", run_copy, "--format", "json")
    assert json.loads(r.output) == json.loads(jsonview.dumps(lab.audit()))
    r = cli("audit", run_copy, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert [int(x["seq"]) for x in rows] == [rec.seq for rec in lab.audit()]
    r = cli("watchlist", run_copy, "--format", "yaml")
    assert isinstance(r.exception, ConfigError)


def test_tables_are_never_cut(run_copy):
    r = cli("audit", run_copy, env={"COLUMNS": "50"})
    assert r.exit_code == 0, r.output
    assert "…" not in r.output
    for rec in api.open_run(run_copy).audit():
        assert rec.action in r.output


def test_help_is_wrapped_once():
    r = cli("enroll", "--help", env={"COLUMNS": "200"})
    assert "show one face; the face is detected, aligned, embedded" in r.output


def test_run_threshold_overrides_the_alert_threshold(tmp_path):
    bad = cli("run", "classroom", "--out", tmp_path / "bad", "--threshold", "150")
    assert isinstance(bad.exception, ConfigError)
    assert "thresholds.alert_percent" in str(bad.exception)
    assert not (tmp_path / "bad").exists()
    out = tmp_path / "t70"
    r = cli("run", "classroom", "--out", out, "--days", "1", "--threshold", "70")
    assert r.exit_code == 0, r.output
    lab = api.open_run(out)
    with lab.store() as s:
        assert s.scenario().thresholds.alert_percent == 70
    assert all(a.percent >= 70 for a in lab.alerts())


@pytest.mark.parametrize("fmt", ["json"])
def test_case_list_as_json(fmt):
    r = cli("case", "--format", fmt)
    assert r.exit_code == 0, r.output
    assert "aclu-congress" in {c["name"] for c in json.loads(r.output)}


def test_unbreakable_columns_are_printed_whole(capsys, monkeypatch):
    """A table of no-wrap cells (calibrate's rates) wider than the terminal is not cut."""
    from rich.table import Table

    from facelab.cli.formats import print_table

    monkeypatch.setenv("COLUMNS", "40")
    t = Table(box=None)
    for col in ("pairs", "%", "FMR image", "FNMR image"):
        t.add_column(col, no_wrap=True, justify="right")
    t.add_row("photo vs poor", "5", "2.2e-04 [1.9e-05–6.3e-04]", "0.9502 [0.9184–0.9754]")
    print_table(t)
    out = capsys.readouterr().out
    for cell in ("photo vs poor", "2.2e-04 [1.9e-05–6.3e-04]", "0.9502 [0.9184–0.9754]"):
        assert cell in out
    assert "…" not in out
