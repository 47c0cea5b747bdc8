"""Groups in system profiles: per-group score shifts, group points (fitted and held out), the
named map to facelab's ITA bands, and the per-group city figures with the reviewer."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from profile_edits import assert_edit_refused
from typer.testing import CliRunner

from facelab.cli import app
from facelab.config.sections import ReviewSpec
from facelab.errors import ConfigError
from facelab.profiles import groups as G
from facelab.profiles.city import CityCounts, city_figures
from facelab.profiles.city_groups import FIGURES, parse_shares
from facelab.profiles.fit import fit_model, get_param, neg_log_likelihood, predict, residuals
from facelab.profiles.model import Genuine, Group, ScoreModel
from facelab.profiles.profile import Point, get_profile, shipped

runner = CliRunner()


def _point(name, metric, t, count, n, group=None, significant=None, fitted=True) -> Point:
    return Point(
        name=name, source="s", where="w", metric=metric, gallery=1000, threshold=t,
        fpir_target=None, condition=None, count=count, n=n, n_basis="reported", fitted=fitted,
        case=None, note="", group=group, significant=significant,
    )  # fmt: skip


def _model(a: float, b: float) -> ScoreModel:
    return ScoreModel(
        0.2, 0.07, 0.0, {"live": Genuine(6.0, 1.2)}, {"a": Group(0.6, a), "b": Group(0.4, b)}
    )


def test_a_group_shift_moves_fmr_by_the_gaussian_factor():
    m = _model(-0.2, 0.3)
    t = 0.2 + 4 * 0.07
    assert float(m.fmr(t, group="b")) == pytest.approx(float(m.fmr(t + -0.3 * 0.07)), rel=1e-9)
    # the ratio of the groups' FPIR grows with the threshold
    r = [float(m.fpir(1000, x, None, "b") / m.fpir(1000, x, None, "a")) for x in (0.4, 0.5, 0.6)]
    assert r[0] < r[1] < r[2]
    share = G.false_share(m, 1000, 0.5, "b")
    fa, fb = float(m.fpir(1000, 0.5, None, "a")), float(m.fpir(1000, 0.5, None, "b"))
    assert share == pytest.approx(0.4 * fb / (0.6 * fa + 0.4 * fb))


def test_fit_recovers_known_group_shifts_from_points_it_generated():
    truth = _model(-0.2, 0.3)
    rng = np.random.default_rng(5)
    points = []
    for i, (g, t) in enumerate([("a", 0.45), ("a", 0.5), ("b", 0.45), ("b", 0.5), ("b", 0.55)]):
        p = _point(f"p{i}", "fpir", t, 0, 400_000, group=g)
        points.append(dataclasses.replace(p, count=int(rng.binomial(p.n, predict(truth, p)))))
    names = ("groups.a.impostor_shift", "groups.b.impostor_shift")
    fitted, nll = fit_model(_model(0.0, 0.0), names, points, starts=2)
    assert get_param(fitted, names[0]) == pytest.approx(-0.2, abs=0.03)
    assert get_param(fitted, names[1]) == pytest.approx(0.3, abs=0.03)
    assert nll <= neg_log_likelihood(truth, points) + 1e-6


def test_an_imbalance_point_compares_verdicts_and_a_wrong_one_is_a_miss():
    m = _model(0.0, 0.5)
    sig = _point("i", "imbalance", 0.45, 0, 1_000_000, significant=True, fitted=False)
    (r,) = residuals(m, [sig])
    assert r.lo > 1 and r.verdict == "inside"
    (r,) = residuals(m, [dataclasses.replace(sig, significant=False)])
    assert r.verdict == "miss"
    # where a study of these searches would see a handful of false positives, it is not
    few = dataclasses.replace(sig, threshold=0.6, n=20_000, significant=False)
    (r,) = residuals(m, [few])
    assert r.lo <= 1 and r.verdict == "inside"


def test_npl_profile_has_groups_a_named_map_and_held_out_checks_inside():
    p = get_profile("npl-neoface-v4")
    assert p.version == 3
    assert set(p.model.groups) == {"white", "ethnic-minority"}
    assert sum(g.share for g in p.model.groups.values()) == pytest.approx(1.0)
    assert set(p.group_maps["lighter-darker"].bands) == {
        "very-light", "light", "intermediate", "tan", "brown", "dark"
    }  # fmt: skip
    verdicts = {r.point.name: r.verdict for r in residuals(p.model, p.points)}
    assert verdicts["fp-share-minority-060"] == "inside"
    for t in ("056", "058", "060"):
        assert verdicts[f"imbalance-{t}"] == "inside"
    # the groups' mix reproduces the overall FPIR at 0.6, where the shifts were set
    mix = sum(g.share * float(p.model.fpir(10000, 0.6, None, k)) for k, g in p.model.groups.items())
    assert mix == pytest.approx(float(p.model.fpir(10000, 0.6)), rel=1e-3)


def _text() -> str:
    return shipped()["npl-neoface-v4"].read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "old, new, key",
    [
        ("share = 0.7\n", "share = 0.6\n", "model.groups"),
        ("share = 0.7\n", "share = 0\n", "model.groups.white.share"),
        ("share = 0.7\n", "shares = 0.7\n", "model.groups.white"),
        ("impostor_shift = 0.13630", 'impostor_shift = "x"', 'model.groups."ethnic-minority"'),
        ('very-light = "white"', 'very-light = "whyte"', 'group_maps."lighter-darker".bands'),
        ('very-light = "white", ', "", 'group_maps."lighter-darker".bands'),
        ('very-light = "white"', 'pale = "white"', 'group_maps."lighter-darker".bands'),
        ('group = "ethnic-minority"', 'group = "minority"', "points[5].group"),
        ("significant = true\n", "", "points[6].significant"),
        ('metric = "false_share"\ngroup = "ethnic-minority"\n', 'metric = "false_share"\n',
         "points[5].group"),
    ],
)  # fmt: skip
def test_malformed_group_tables_are_refused_in_one_line_naming_file_and_key(
    tmp_path, old, new, key
):
    assert_edit_refused(tmp_path, _text(), old, new, key)


def _counts() -> CityCounts:
    return CityCounts("c", searches=100_000.0, mated=1_000.0, watchlist=10_000, fr_cameras=10,
                      days=2, innocent_days={1: 60_000, 2: 19_000}, wanted_days={1: 600, 2: 200})  # fmt: skip


def test_city_figures_by_group_reconcile_with_the_reviewer_and_the_totals():
    p = get_profile("npl-neoface-v4")
    review = ReviewSpec(seconds_per_alert=20.0, p_confirm_true=0.9, p_confirm_false=0.2)
    shares = {"light": 0.25, "intermediate": 0.25, "dark": 0.5}
    out = city_figures(p, _counts(), percent=56, draws=30, seed=2, shares=shares, review=review)
    bg = out["by_group"]
    assert bg["group_map"] == "lighter-darker"
    assert bg["groups"]["light"]["profile_group"] == "white"
    assert bg["groups"]["dark"]["profile_group"] == "ethnic-minority"
    for g, r in bg["groups"].items():
        v = {k: r[k]["value"] for k in FIGURES}
        true_alerts = v["true_alerts_per_day"]
        # stops = confirmed alerts; innocent stops = confirmed false alerts
        assert v["stops_per_day"] == pytest.approx(0.9 * true_alerts + v["innocent_stops_per_day"])
        assert v["innocent_stops_per_day"] == pytest.approx(0.2 * v["false_alerts_per_day"])
        assert v["innocent_people_per_day"] <= v["innocent_stops_per_day"] * (1 + 1e-9)
        assert v["reviewer_hours_per_day"] == pytest.approx(
            (v["false_alerts_per_day"] + true_alerts) * 20 / 3600
        )
        assert v["searches_per_day"] == pytest.approx(100_000 * shares[g])
        for k in FIGURES:
            assert r[k]["lo"] <= r[k]["value"] * (1 + 1e-9) <= r[k]["hi"] * (1 + 1e-6), (g, k)
    for k in FIGURES:
        total = sum(r[k]["value"] for r in bg["groups"].values())
        assert bg["total"][k]["value"] == pytest.approx(total), k
    # the darker bands borrow the higher FPIR: more innocent people stopped per search
    dark, light = bg["groups"]["dark"], bg["groups"]["light"]
    assert (dark["innocent_stops_per_day"]["value"] / 0.5
            > light["innocent_stops_per_day"]["value"] / 0.25)  # fmt: skip
    # wanted people missed: person-days of wanted people without a confirmed true alert
    tpir = 1 - out["figures"]["fnir"]["value"]
    q = tpir * 0.9
    want = 0.5 * (600 * (1 - q) + 200 * (1 - q) ** 2) / 2
    assert dark["wanted_missed_per_day"]["value"] == pytest.approx(want, rel=0.02)


def test_per_group_city_refusals():
    p = get_profile("npl-neoface-v4")
    with pytest.raises(ConfigError, match="automation_bias"):
        city_figures(p, _counts(), percent=60, draws=2, shares={"light": 1.0},
                     review=ReviewSpec(automation_bias=0.5))  # fmt: skip
    with pytest.raises(ConfigError, match="no groups"):
        city_figures(get_profile("nist-frte-mugshot"), _counts(), fpir=0.003, draws=2,
                     shares={"light": 1.0})  # fmt: skip
    with pytest.raises(ConfigError, match="unknown group map"):
        city_figures(p, _counts(), percent=60, draws=2, shares={"light": 1.0}, group_map="x")
    for bad in ("light=0.5", "pale=1", "light=x", "light=0.5,light=0.5", ""):
        with pytest.raises(ConfigError, match="--groups"):
            parse_shares(bad)
    assert parse_shares("light=0.5, dark=0.5") == {"light": 0.5, "dark": 0.5}


def test_cli_city_by_group_json_and_text():
    args = ["profile", "city", "npl-neoface-v4", "--scenario", "classroom", "--threshold", "56",
            "--groups", "light=0.5,dark=0.5", "--draws", "5"]  # fmt: skip
    r = runner.invoke(app, [*args, "--format", "json"])
    assert r.exit_code == 0, r.output
    bg = json.loads(r.output)["by_group"]
    assert set(bg["groups"]) == {"light", "dark"} and "innocent_people_per_day" in bg["total"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "innocent people stopped a day" in r.output and "[ethnic-minority rates]" in r.output
    r = runner.invoke(app, [*args[:-4], "--groups", "light=2", "--draws", "5"])
    assert isinstance(r.exception, ConfigError) and "--groups" in str(r.exception)


def test_fit_and_case_tables_show_group_points_with_their_verdicts():
    r = runner.invoke(app, ["profile", "fit", "npl-neoface-v4", "--format", "json"])
    assert r.exit_code == 0, r.output
    pts = {p["name"]: p for p in json.loads(r.output)["points"]}
    assert pts["fp-share-minority-060"]["group"] == "ethnic-minority"
    assert pts["imbalance-060"]["significant"] is False and not pts["imbalance-060"]["fitted"]
    r = runner.invoke(app, ["case", "npl-lfr", "--system", "npl-neoface-v4"])
    assert r.exit_code == 0, r.output
    lines = {ln.split()[0]: ln for ln in r.output.splitlines() if ln.startswith("imbalance-")}
    assert set(lines) == {"imbalance-056", "imbalance-058", "imbalance-060"}
    assert "not significant" in lines["imbalance-060"] and "held out" in lines["imbalance-060"]
    assert lines["imbalance-056"].rstrip().endswith("inside")


def test_report_plots_leave_out_group_points():
    from facelab.lab.system import det_points, published_points
    from facelab.profiles.emulate import system_record
    from facelab.profiles.profile import get_profile

    rec = system_record(get_profile("npl-neoface-v4"), points=True)
    assert any(p["group"] is not None for p in rec["points"])
    drawn = published_points({"system": rec})
    assert drawn and all(p["group"] is None for p in drawn)
    assert len(drawn) == sum(p["group"] is None for p in rec["points"])
    assert det_points(drawn)
