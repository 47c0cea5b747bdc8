"""Reference cases on the calibrated twin: the effects the published cases are known for."""

from __future__ import annotations

import dataclasses
import re
import sqlite3

import numpy as np
import pytest
from groundtruth import run_with_truth
from typer.testing import CliRunner

from facelab.cli import app
from facelab.config.scenario import load_scenario
from facelab.errors import ConfigError
from facelab.lab import cases
from facelab.run.store import RunStore

runner = CliRunner()


def _run(sc, path):
    return run_with_truth(sc, path)


def _count(line: str) -> int:
    return int(re.search(r": (\d+) of \d+", line).group(1))


def test_aclu_some_innocent_probes_match_at_80_and_far_fewer_at_95(twin_models, tmp_path):
    """The ACLU headline on a tenth of the gallery (2,500 entries); `make docs-check` runs the
    whole case with the calibrated twin and checks the README's figures."""
    case = cases.CASES["aclu-congress"]
    base = load_scenario("aclu-congress")
    sc = base.with_overrides(watchlist=dataclasses.replace(base.watchlist, size=2500))
    _run(sc, tmp_path / "gallery")
    with RunStore(tmp_path / "gallery", readonly=True) as store:
        lines = case.headline(sc, {"gallery": store})
    assert "28 of 535" in cases.CaseResult(case, {}, tuple(lines)).text()  # published, beside
    at = {(ln.split()[0], ln.split()[2]): _count(ln) for ln in lines if " at " in ln}
    assert at["log-fmr", "80"] > 0
    assert at["log-fmr", "95"] <= at["log-fmr", "80"] / 2
    assert at["linear", "95"] <= at["linear", "80"]
    with sqlite3.connect(tmp_path / "gallery" / "truth.sqlite") as t:
        # every probe is non-mated: nobody in the gallery is in the city
        assert t.execute("SELECT COUNT(*) FROM watch_truth").fetchone()[0] == 2500
        assert t.execute("SELECT MAX(identity) FROM watch_truth").fetchone()[0] >= 535


def test_npl_fpir_grows_with_watchlist_size(twin_models, tmp_path):
    # the image-mode groups variant is checked on a tiny run in tests/test_groups.py
    res = cases.run_case("npl-lfr", tmp_path, run=_run, skip=("groups",))
    rows = [re.search(r"= ([\d.]+) % \(95 % CI ([\d.]+) %–([\d.]+) %\)", ln) for ln in res.lines
            if ln.startswith("watchlist")]  # fmt: skip
    fpir, hi = [float(m.group(1)) for m in rows], [float(m.group(3)) for m in rows]
    assert len(fpir) == 2 and fpir[0] > 0
    # roughly proportional to the 10x watchlist: at least 3x, and at most 15x what the small
    # watchlist's FPIR may be (its upper 95 % bound: on the tests' small twin it counts few)
    assert fpir[1] >= 3 * fpir[0]
    assert fpir[1] <= 15 * hi[0]
    assert "1 in 6,000" in res.text()


@pytest.mark.costly
def test_cardiff_reports_share_of_false_alerts_beside_92(twin_models, tmp_path):
    res = cases.run_case("cardiff-2017", tmp_path, run=_run)
    assert "(92 %)" in res.text()
    run_line = next(ln for ln in res.lines if "run threshold" in ln)
    share = float(re.search(r"\(([\d.]+) %;", run_line).group(1))
    assert share > 50  # few true targets: most alerts are false


@pytest.mark.costly
def test_embedding_run_is_deterministic_and_drops_missed_faces(twin_models, tmp_path):
    sc = load_scenario("npl-lfr").with_overrides(seed=3)
    a, b = run_with_truth(sc, tmp_path / "a"), run_with_truth(sc, tmp_path / "b")
    assert a.total("sightings") == b.total("sightings") < a.total("faces_truth")
    for name in ("facelab.sqlite",):
        q = "SELECT sighting, rank, watch, score FROM candidates ORDER BY sighting, rank"
        rows = [sqlite3.connect(tmp_path / d / name).execute(q).fetchall() for d in "ab"]
        assert rows[0] == rows[1]
    s = np.array([r[3] for r in rows[0]])
    assert np.isfinite(s).all() and len(s) > 0


def test_unknown_case_and_cli_listing():
    with pytest.raises(ConfigError, match="unknown case"):
        cases.run_case("nope", None, run=_run)
    r = runner.invoke(app, ["case"])
    assert r.exit_code == 0 and "aclu-congress" in r.output and "npl-lfr" in r.output


def test_metro_headline_divides_by_the_days_sweep_divides_by(run_copy):
    """After a purge, the metro case's alerts a day are `facelab sweep`'s alerts over the days
    still held (the same rule; `make docs-check` compares them on the metro run itself)."""
    import json

    from facelab import api
    from facelab.cli.sweep_cmd import sweep_output

    api.open_run(run_copy).purge(retention_days=1, reason="test")  # the classroom's day 0
    doc = json.loads(sweep_output(run_copy, "50,60,70,80", fmt="json"))
    held = doc["run"]["held_days"]
    assert doc["run"]["purged"]["days"] == [0] and held == 1
    with RunStore(run_copy, readonly=True) as store:
        lines = cases.CASES["metro"].headline(load_scenario("classroom"), {"city": store})
    assert f"in the {held} day(s) still held" in lines[0]
    for row in doc["rows"]:
        line = next(ln for ln in lines if ln.startswith(f"at {row['percent']:g} %:"))
        per_day = re.search(r": ([\d,.]+) alerts a day to review, ([\d,.]+) of them false", line)
        assert per_day.group(1) == f"{row['alerts'] / held:,.1f}"
        assert per_day.group(2) == f"{row['false_alerts'] / held:,.1f}"
        assert f"false: {row['false_alerts']:,} of {row['alerts']:,} " in line
