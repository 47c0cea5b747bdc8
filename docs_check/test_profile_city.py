"""README's "What a deployed system would mean in a city" and "Runs under a profile" figures
are what their commands print (`facelab profile city … --draws 2000 --seed 0`; a run of the
npl-lfr preset under npl-neoface-v4 and its sweep). Issue #16; kept apart from the other
documentation checks."""

from __future__ import annotations

import json
import re

import pytest
from conftest import facelab
from docfig import NUMBER, check, doc, find, table_row

COMMANDS = {
    "`npl-neoface-v4` at 0.60 (60 %)": ("npl-neoface-v4", "--threshold", "60"),
    "`npl-neoface-v4` at 0.64 (64 %)": ("npl-neoface-v4", "--threshold", "64"),
    "`nist-frte-mugshot` at FPIR 0.003": ("nist-frte-mugshot", "--fpir", "0.003"),
}
COLUMNS = (  # README column → (figure, multiplier)
    ("false_alerts_per_day", 1),
    ("false_share", 100),
    ("review_hours_per_day", 1),
    ("false_alerts_per_day_at_rate", 1),
)
CELL = re.compile(rf"({NUMBER}) \((?:({NUMBER}) – ({NUMBER})|exact: FPIR is the target)\)")


@pytest.mark.parametrize("label", list(COMMANDS))
def test_readme_city_figures_are_what_profile_city_prints(label, model_env):
    name, flag, value = COMMANDS[label]
    text = facelab("profile", "city", name, "--scenario", "metro", flag, value, "--draws",
                   "2000", "--seed", "0", "--format", "json", env=model_env)  # fmt: skip
    out = json.loads(text)
    assert f"--scenario metro {flag} {value} --draws 2000 --seed 0" in doc("README.md")
    cells = table_row("README.md", label)[1:]
    assert len(cells) == len(COLUMNS)
    for cell, (key, mult) in zip(cells, COLUMNS, strict=True):
        m = CELL.fullmatch(cell)
        assert m, f"{label}: cell {cell!r} is not 'value (lo – hi)'"
        fig = out["figures"][key]
        check(m.group(1), fig["value"] * mult, f"{label} {key}")
        if m.group(2) is None:
            assert fig["lo"] == fig["hi"] == fig["value"], f"{label} {key}: has an interval"
        else:
            check(m.group(2), fig["lo"] * mult, f"{label} {key} low")
            check(m.group(3), fig["hi"] * mult, f"{label} {key} high")
    city = doc("README.md")
    check(find(rf"makes ({NUMBER}) searches a day", city, "searches").group(1),
          out["searches_per_day"], "metro searches a day")  # fmt: skip
    check(find(rf"({NUMBER}) of them of watchlisted people", city, "mated").group(1),
          out["mated_per_day"], "metro mated searches a day")  # fmt: skip


def test_readme_run_under_the_profile_figures(work, twin_env):
    from facelab.profiles.emulate import threshold_on_scale

    run = work / "npl-neo"
    if not (run / "run.json").exists():
        facelab("run", "npl-lfr", "--system", "npl-neoface-v4", "--out", str(run), env=twin_env)
    thresholds = ("56", "58", "60", "62", "64")
    rows = json.loads(facelab("sweep", str(run), "--thresholds", ",".join(thresholds),
                              "--format", "json", env=twin_env))["rows"]  # fmt: skip
    text = doc("README.md")
    assert f"--thresholds {','.join(thresholds)}` gives, over" in text
    m = find(rf"over ({NUMBER}) non-mated searches against ({NUMBER}) entries", text, "searches")
    check(m.group(1), rows[0]["fpir_total"], "non-mated searches")
    gallery = int(float(m.group(2).replace(",", "")))
    cell = re.compile(rf"({NUMBER}) % \(({NUMBER})–({NUMBER}) %\)")
    model = re.compile(rf"({NUMBER}) % \(({NUMBER})\)")
    for t, row in zip(thresholds, rows, strict=True):
        cells = table_row("README.md", f"0.{t}")
        fpir, count, expected = cell.fullmatch(cells[1]), cells[2], model.fullmatch(cells[3])
        assert fpir and expected, cells
        check(fpir.group(1), 100 * row["fpir"], f"FPIR at {t}")
        check(fpir.group(2), 100 * row["fpir_lo"], f"FPIR low at {t}")
        check(fpir.group(3), 100 * row["fpir_hi"], f"FPIR high at {t}")
        check(count, row["fpir_count"], f"false positives at {t}")
        want = threshold_on_scale("npl-neoface-v4", float(t), gallery=gallery)["fpir"]
        check(expected.group(1), 100 * want, f"model FPIR at {t}")
        check(expected.group(2), want * row["fpir_total"], f"expected count at {t}")
    row = rows[thresholds.index("60")]
    m = find(rf"At 0.60 that is ({NUMBER})× the published 1 in 6,000 and the interval holds it; "
             rf"TPIR at 0.60 is ({NUMBER}) % \(({NUMBER})–({NUMBER}) %, (\d+) of (\d+); published "
             rf"89 %: inside\)", text, "README run under a profile")  # fmt: skip
    check(m.group(1), row["fpir"] * 6000, "ratio to 1 in 6,000")
    assert row["fpir_lo"] <= 1 / 6000 <= row["fpir_hi"]
    check(m.group(2), 100 * (1 - row["fnir"]), "TPIR")
    check(m.group(3), 100 * (1 - row["fnir_hi"]), "TPIR low")
    check(m.group(4), 100 * (1 - row["fnir_lo"]), "TPIR high")
    assert int(m.group(6)) - int(m.group(5)) == row["fnir_count"]
    assert int(m.group(6)) == row["fnir_total"]
