"""README's "Who is stopped" table and docs/groups.md's copy of it are what
`facelab profile city npl-neoface-v4 --scenario metro --threshold T --groups light=0.5,dark=0.5
--draws 2000 --seed 0` prints, at 0.56, 0.60 and 0.64 (issue #20, item 5)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import facelab
from docfig import NUMBER, check, doc, table_row

THRESHOLDS = ("56", "60", "64")
COMMAND = "--scenario metro --threshold {t} --groups light=0.5,dark=0.5 --draws 2000 --seed 0"
COLUMNS = (
    "false_alerts_per_day",
    "innocent_people_per_day",
    "wanted_missed_per_day",
    "reviewer_hours_per_day",
)
CELL = re.compile(rf"({NUMBER}) \(({NUMBER}) – ({NUMBER})\)")


@pytest.fixture(scope="module")
def city(model_env) -> dict:
    out = {}
    for t in THRESHOLDS:
        args = COMMAND.format(t=t).split()
        text = facelab("profile", "city", "npl-neoface-v4", *args, "--format", "json",
                       env=model_env)  # fmt: skip
        out[t] = json.loads(text)["by_group"]
    return out


@pytest.mark.parametrize("name", ["README.md", "docs/groups.md"])
@pytest.mark.parametrize("t", THRESHOLDS)
def test_per_group_city_figures_are_what_profile_city_prints(city, name, t):
    assert COMMAND.format(t=t) in doc(name)
    for group in ("light", "dark", "total"):
        cells = table_row(name, f"0.{t} {group}")[1:]
        assert len(cells) == len(COLUMNS), (name, t, group)
        fig = city[t]["total"] if group == "total" else city[t]["groups"][group]
        for cell, key in zip(cells, COLUMNS, strict=True):
            m = CELL.fullmatch(cell)
            assert m, f"{name} 0.{t} {group}: cell {cell!r} is not 'value (lo – hi)'"
            for printed, k in zip(m.groups(), ("value", "lo", "hi")):
                check(printed, fig[key][k], f"{name} 0.{t} {group} {key} {k}")
