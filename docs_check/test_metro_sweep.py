"""The metro case and `facelab sweep` of its run agree after the run's own retention purges, and
README's metro pass-level figures are what `sweep` prints.

The metro preset keeps 30 days of a 35-day run, so its purges remove days 0–4: per-day figures
must divide by the 30 days still held, in `facelab case metro` as in `facelab sweep`.
"""

from __future__ import annotations

import json

import pytest
from conftest import facelab
from docfig import NUMBER, check, doc, find, number

THRESHOLDS = (50, 60, 70, 80)


@pytest.fixture(scope="module")
def metro_sweep(case, twin_env) -> dict:
    run = case("metro")["runs"]["city"]
    spec = ",".join(str(p) for p in THRESHOLDS)
    return json.loads(facelab("sweep", run, "--thresholds", spec, "--format", "json",
                              env=twin_env))  # fmt: skip


def test_metro_run_was_purged_and_divides_by_held_days(metro_sweep):
    facts = metro_sweep["run"]
    assert facts["purged"] is not None and facts["purged"]["days"] == [0, 1, 2, 3, 4]
    assert facts["held_days"] == 30 and facts["days"] == 35
    assert facts["camera_days"] == facts["fr_cameras"] * facts["held_days"]


def test_case_metro_per_day_figures_equal_sweep(case, metro_sweep):
    out = "\n".join(case("metro")["facelab"])
    days = metro_sweep["run"]["held_days"]
    assert f"in the {days} day(s) still held" in out
    for row in metro_sweep["rows"]:
        p = f"{row['percent']:g}"
        got = find(rf"at {p} %: ({NUMBER}) alerts a day to review, ({NUMBER}) of them false; "
                   rf"false: ({NUMBER}) of ({NUMBER})", out, f"case metro at {p} %")  # fmt: skip
        assert number(got.group(3)) == row["false_alerts"]
        assert number(got.group(4)) == row["alerts"]
        assert got.group(1) == f"{row['alerts'] / days:,.1f}"
        assert got.group(2) == f"{row['false_alerts'] / days:,.1f}"
        per_camera_day = row["false_alerts"] / metro_sweep["run"]["camera_days"]
        assert row["false_alerts_per_camera_day"] == pytest.approx(per_camera_day, rel=1e-5)


def test_readme_metro_pass_level_figures(metro_sweep):
    text = doc("README.md")
    m = find(rf"at (\d+) %, wanted people are missed in ({NUMBER}) of their detected faces "
             rf"\(search-level FNIR\) and ({NUMBER}) of their passes \(pass-level[^)]*\), and "
             rf"innocent people are flagged in ({NUMBER}) of their detected faces and ({NUMBER}) "
             r"of their passes", text, "README metro pass-level sentence")  # fmt: skip
    row = next(r for r in metro_sweep["rows"] if f"{r['percent']:g}" == m.group(1))
    check(m.group(2), row["fnir"], "metro search-level FNIR")
    check(m.group(3), row["pass_fnir"], "metro pass-level FNIR")
    check(m.group(4), row["fpir"], "metro search-level FPIR")
    check(m.group(5), row["pass_fpir"], "metro pass-level FPIR")
    days = find(r"by the same (\d+) days still held", text, "README metro held days").group(1)
    assert int(days) == metro_sweep["run"]["held_days"]
