"""The NIST IR 8280 Annex 15 profile: one-to-one FMR points by group, shifts tied by an additive
structure (``shift_from``), fitted cells reproduced, held-out cells predicted and reported."""

from __future__ import annotations

import dataclasses
import json

import pytest
from profile_edits import assert_edit_refused
from scipy.stats import norm
from typer.testing import CliRunner

from facelab.cli import app
from facelab.profiles.fit import fit_profile, get_param, residuals, set_params
from facelab.profiles.profile import get_profile, shipped

NAME = "nist-ir8280-realnetworks-003"
runner = CliRunner()

#: realnetworks-003's FMR cells as the annex's digitisation gives them (see the profile's sources)
ANNEX = {
    "F-AmIndian": 0.000398107170553497, "F-Asian": 3.98107170553497e-05,
    "F-Black": 7.94328234724282e-05, "F-White": 2.51188643150958e-05,
    "M-AmIndian": 0.000158489319246111, "M-Asian": 3.16227766016838e-05,
    "M-Black": 7.94328234724282e-05, "M-White": 1.58489319246111e-05,
}  # fmt: skip
HELD_OUT = {"fmr-F-Black": "within 3x", "fmr-F-AmIndian": "within 3x"}


def test_profile_loads_with_eight_groups_fmr_points_and_two_derived_shifts():
    p = get_profile(NAME)
    assert NAME in shipped() and p.version == 1 and p.scale.percent == "none"
    assert set(p.model.groups) == set(ANNEX)
    assert all(g.share == pytest.approx(1 / 8) for g in p.model.groups.values())
    assert {pt.metric for pt in p.points} == {"fmr"} and all(pt.gallery == 1 for pt in p.points)
    assert {pt.name for pt in p.held_out} == set(HELD_OUT)
    # published rates are the annex's to the precision of count / n
    for pt in p.points:
        assert pt.published == pytest.approx(ANNEX[pt.group], rel=1e-5)
    # the women of Black and American Indian people are their men plus the mean sex difference
    g = {k: x.impostor_shift for k, x in p.model.groups.items()}
    sex = 0.5 * (g["F-White"] - g["M-White"] + g["F-Asian"] - g["M-Asian"])
    assert g["F-Black"] == pytest.approx(g["M-Black"] + sex, abs=1e-12)
    assert g["F-AmIndian"] == pytest.approx(g["M-AmIndian"] + sex, abs=1e-12)
    assert not any(k.startswith(("groups.F-Black", "groups.F-AmIndian")) for k in p.fit)


def test_stored_shifts_reproduce_the_fitted_cells_and_the_fit_finds_them_again():
    p = get_profile(NAME)
    t = p.points[0].threshold
    for r in residuals(p.model, p.fitted_points):
        assert r.model == pytest.approx(r.point.published, rel=1e-4) and r.verdict == "inside"
        # the Gaussian form: the shift is the threshold minus the cell's FMR quantile
        shift = p.model.groups[r.point.group].impostor_shift
        assert shift == pytest.approx(t - norm.isf(r.point.published), abs=1e-5)
    moved = get_profile(NAME)
    start = set_params(moved.model, {k: 0.0 for k in moved.fit})
    res = fit_profile(dataclasses.replace(moved, model=start), starts=1)
    for k in p.fit:
        assert res.params[k] == pytest.approx(get_param(p.model, k), abs=1e-4)
    # the fit moves the tied shifts with the fitted ones
    assert get_param(res.model, "groups.F-Black.impostor_shift") == pytest.approx(
        get_param(p.model, "groups.F-Black.impostor_shift"), abs=2e-4
    )


def test_held_out_verdicts_are_what_profile_fit_prints():
    p = get_profile(NAME)
    verdicts = {r.point.name: r.verdict for r in residuals(p.model, p.held_out)}
    assert verdicts == HELD_OUT
    out = runner.invoke(app, ["profile", "fit", NAME, "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = {x["name"]: x for x in json.loads(out.output)["points"]}
    assert {k: rows[k]["verdict"] for k in HELD_OUT} == HELD_OUT
    assert rows["fmr-F-Black"]["model"] == pytest.approx(1.094e-4, rel=2e-3)
    assert rows["fmr-F-AmIndian"]["model"] == pytest.approx(2.154e-4, rel=2e-3)
    text = runner.invoke(app, ["profile", "fit", NAME]).output
    assert "fmr-F-AmIndian         held out" in text and "within 3x" in text
    listing = runner.invoke(app, ["profiles"]).output
    assert f"{NAME} v1" in listing and "6 points fitted, 2 held out" in listing


def _text() -> str:
    return shipped()[NAME].read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("share = 0.125\nshift_from", "share = 0.125\nimpostor_shift = 0.1\nshift_from",
         'model.groups."F-Black"'),
        ("{ M-Black = 1.0,", "{ M-Blak = 1.0,", 'model.groups."F-Black".shift_from."M-Blak"'),
        ("{ M-Black = 1.0,", '{ M-Black = "one",', 'model.groups."F-Black".shift_from'),
        ("{ M-Black = 1.0,", "{ F-AmIndian = 1.0,", 'shift_from."F-AmIndian"'),
        ("{ M-Black = 1.0,", "{ M-Black = 1000.0,", "shift_from"),
        ("shift_from = { M-Black = 1.0, F-White = 0.5, M-White = -0.5, F-Asian = 0.5, "
         "M-Asian = -0.5 }", "shift_from = {}", 'model.groups."F-Black".shift_from'),
        ('"groups.M-Black.impostor_shift",', '"groups.F-Black.impostor_shift",', "model.fit"),
        ('group = "M-Asian"\n', 'group = "M-Asain"\n', "points[1].group"),
        ('metric = "fmr"\ngroup = "M-Asian"\n', 'metric = "fmr"\ngroup = "M-Asian"\ngallery = 10\n',
         "points[1].gallery"),
        ('metric = "fmr"\ngroup = "M-Asian"\n', 'metric = "fmr "\ngroup = "M-Asian"\n',
         "points[1].metric"),
    ],
)  # fmt: skip
def test_malformed_shift_from_and_fmr_points_are_refused_in_one_line(tmp_path, old, new, key):
    assert_edit_refused(tmp_path, _text(), old, new, key)
