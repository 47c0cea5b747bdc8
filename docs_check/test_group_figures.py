"""docs/groups.md's figures are what its commands print: the generator's faces per ITA band
(`facelab synth groups`) and the `classroom-groups` preset's per-group rates, differentials and
reviewer stops (`facelab run classroom-groups`, then `facelab sweep --by group` / `--review`).
"""

from __future__ import annotations

import json

import pytest
from conftest import facelab
from docfig import NUMBER, check, doc, find, number, table_row

DOC = "docs/groups.md"


@pytest.fixture(scope="module")
def synth_groups(model_env) -> dict:
    text = doc(DOC)
    m = find(r"`facelab synth groups --identities (\d+) --sightings (\d+) --seed (\d+)`", text,
             "groups.md synth command")  # fmt: skip
    args = ["--identities", m.group(1), "--sightings", m.group(2), "--seed", m.group(3)]
    return json.loads(facelab("synth", "groups", *args, "--format", "json", env=model_env))


@pytest.fixture(scope="module")
def groups_run(work, model_env) -> str:
    run = work / "classroom-groups"
    if not (run / "run.json").exists():
        facelab("run", "classroom-groups", "--out", str(run), env=model_env)
    return str(run)


def test_faces_per_band(synth_groups):
    for group, count in synth_groups["counts"].items():
        cells = table_row(DOC, group)
        assert number(cells[1]) == count, f"{group}: doc {cells[1]}, command {count}"
        check(cells[2].rstrip(" %"), 100 * synth_groups["shares"][group], f"{group} share")


def test_ita_percentiles_and_band_stability(synth_groups):
    text = doc(DOC)
    for key, value in synth_groups["ita_percentiles"].items():
        printed = find(rf"{key} (−?{NUMBER})°", text, f"ITA {key}").group(1)
        check(printed.replace("−", "-").lstrip("-"), abs(value), f"ITA {key}")
        assert printed.startswith("−") == (value < 0), f"ITA {key}: sign"
    share = find(rf"({NUMBER}) % of sightings", text, "band stability").group(1)
    check(share, 100 * synth_groups["sighting_agreement"], "sightings in their band")


def test_classroom_groups_differential_table(groups_run, model_env):
    text = doc(DOC)
    spec = find(r"`facelab sweep runs/g1 --by group --thresholds (\S+)`", text, "by-group command")
    sw = json.loads(facelab("sweep", groups_run, "--by", "group", "--thresholds", spec.group(1),
                            "--format", "json", env=model_env))  # fmt: skip
    diffs = {d["percent"]: d for d in sw["differential"]}
    for i, row in enumerate(sw["groups"]["light"]):
        p = row["percent"]
        cells = table_row(DOC, f"{p:g} %")
        for cell, group in ((cells[1], "light"), (cells[2], "dark")):
            rate = sw["groups"][group][i]["fmr_within"]
            m = find(rf"({NUMBER}) % \((\d+)/(\d+)\)", cell, f"{group} at {p:g} %")
            check(m.group(1), 100 * rate["value"], f"{group} FMR within at {p:g} %")
            assert (int(m.group(2)), int(m.group(3))) == (rate["count"], rate["total"])
        d = diffs[p]
        if d["fmr_ratio"] is None:
            assert "no ratio" in cells[3]
            continue
        m = find(rf"(\w[\w-]*) / (\w[\w-]*) = ({NUMBER}) \(({NUMBER})–({NUMBER})\), (\w+)",
                 cells[3], f"differential at {p:g} %")  # fmt: skip
        assert (m.group(1), m.group(2)) == (d["high_group"], d["low_group"])
        for printed, value in zip(m.groups()[2:5], (d["fmr_ratio"], d["lo"], d["hi"]), strict=True):
            check(printed, value, f"differential at {p:g} %")
        assert (m.group(6) == "significant") == d["significant"]


def test_classroom_groups_reviewer_stops(groups_run, model_env):
    text = doc(DOC)
    m = find(rf"at (\d+) %, ({NUMBER}) alerts over the two days, ({NUMBER}) innocent stops "
             rf"\(({NUMBER}) of `light` people, ({NUMBER}) of `dark`\) and no wanted person "
             rf"missed; at (\d+) %, ({NUMBER}) alerts, no innocent stop", text,
             "groups.md reviewer sentence")  # fmt: skip
    out = json.loads(facelab("sweep", groups_run, "--review", "--thresholds",
                             f"{m.group(1)},{m.group(6)}", "--format", "json", env=model_env))  # fmt: skip
    low, high = out["review"]["thresholds"]
    assert low["days"] == 2
    assert number(m.group(2)) == low["alerts"] and number(m.group(3)) == low["innocent_stops"]
    assert number(m.group(4)) == low["by_group"]["light"]["innocent_stops"]
    assert number(m.group(5)) == low["by_group"]["dark"]["innocent_stops"]
    assert low["wanted_missed"] == 0
    assert number(m.group(7)) == high["alerts"] and high["innocent_stops"] == 0
