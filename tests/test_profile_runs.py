"""System profiles driving runs (`facelab run --system`, `[system]`), the lab showing them,
and the city figures of `facelab profile city`.

The runs are tiny embedding-mode cities on the tests' small twin; the checks are exact
relations (a profile run's scores are the plain run's cosines mapped class by class, alerts are
the mapped scores at or above the threshold), not the published rates, which a tiny city cannot
measure.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facelab import api
from facelab.config.scenario import parse_scenario
from facelab.errors import ConfigError
from facelab.lab import jsonview
from facelab.lab.system import det_points, published_points
from facelab.profiles.city import CityCounts, city_figures
from facelab.profiles.emulate import build_transfer, list_profiles, threshold_on_scale
from facelab.profiles.profile import get_profile

ROOT = Path(__file__).resolve().parents[1]


def _city(profile: str | None = None, mode: str = "embedding") -> dict:
    data = {
        "name": "tiny-lfr", "seed": 11, "start": "2026-03-02", "days": 1, "mode": mode,
        "population": {"size": 400},
        "movement": {"passes_per_day": [1, 2], "active_hours": [8, 20], "commuter_share": 0.0,
                     "presence": 1.0},
        "camera_groups": [{"prefix": "van", "count": 2, "kind": "street", "stations": 1,
                           "fr_fraction": 1.0, "quality": "good"}],
        "watchlist": {"size": 60, "in_city": 30},
        "thresholds": {"mapping": "linear", "alert_percent": 60.0},
    }  # fmt: skip
    if profile is not None:
        data["system"] = {"profile": profile}
    return data


def _toml(data: dict) -> str:
    """TOML text of :func:`_city`'s tables (strings, numbers, lists, one level of tables)."""
    top = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict | list)]
    for k, v in data.items():
        if isinstance(v, dict):
            top += [f"[{k}]"] + [f"{a} = {json.dumps(b)}" for a, b in v.items()]
        elif isinstance(v, list):
            for t in v:
                top += [f"[[{k}]]"] + [f"{a} = {json.dumps(b)}" for a, b in t.items()]
    return "\n".join(top) + "\n"


def _candidates(run: Path) -> dict[tuple[int, int], float]:
    with sqlite3.connect(run / "facelab.sqlite") as c:
        rows = c.execute("SELECT sighting, watch, score FROM candidates").fetchall()
    return {(s, w): sc for s, w, sc in rows}


@pytest.fixture(scope="module")
def runs(twin_model_dir, tmp_path_factory):
    """The same tiny city run plainly and under npl-neoface-v4 (via the [system] table)."""
    out = tmp_path_factory.mktemp("profile-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACELAB_MODEL_DIR", str(twin_model_dir))
        api.run(parse_scenario(_city(), "tiny.toml"), out / "plain")
        api.run(parse_scenario(_city("npl-neoface-v4"), "tiny.toml"), out / "npl")
    return out / "plain", out / "npl"


def test_profile_run_scores_are_the_twin_cosines_mapped_class_by_class(runs):
    plain, npl = runs
    meta = json.loads((npl / "run.json").read_text())
    assert (
        meta["system"]["name"] == "npl-neoface-v4"
        and meta["system"]["version"] == get_profile("npl-neoface-v4").version
    )
    assert meta["scenario"]["system"] == {"profile": "npl-neoface-v4"}
    assert "system" not in json.loads((plain / "run.json").read_text())
    a, b = _candidates(plain), _candidates(npl)
    assert a.keys() == b.keys() and len(a) > 100
    with sqlite3.connect(npl / "truth.sqlite") as t:
        person = dict(t.execute("SELECT sighting, person FROM sighting_truth"))
        ident = dict(t.execute("SELECT watch, identity FROM watch_truth"))
    keys = sorted(a)
    mated = np.array([person[s] == ident[w] for s, w in keys])
    assert 0 < mated.sum() < len(keys)
    sc = parse_scenario(_city("npl-neoface-v4"), "tiny.toml")
    tr = build_transfer(get_profile("npl-neoface-v4"), [c.quality for c in sc.cameras])
    tr = tr.with_record(meta["system"]["impostor_map"])  # the map the run built and recorded
    want = tr.apply(np.array([a[k] for k in keys], np.float32), mated, 0)
    np.testing.assert_allclose([b[k] for k in keys], want, rtol=0, atol=2e-6)
    got = np.array([b[k] for k in keys])
    assert got[mated].mean() > np.median(got[~mated])


def test_profile_run_alerts_are_the_mapped_scores_at_the_vendor_threshold(runs):
    _, npl = runs
    with sqlite3.connect(npl / "facelab.sqlite") as c:
        alerts = c.execute("SELECT score, percent FROM alerts").fetchall()
        n_over = c.execute("SELECT COUNT(*) FROM candidates WHERE score >= 0.6").fetchone()[0]
    assert len(alerts) == n_over > 0
    assert all(abs(p - 100 * s) < 1e-3 for s, p in alerts)


def test_sweep_and_report_say_which_system_the_run_emulates(runs):
    plain, npl = runs
    facts = api.open_run(npl).facts()
    assert (
        facts.system.startswith(f"npl-neoface-v4 v{get_profile('npl-neoface-v4').version} (")
        and "percent = 100" in facts.system
    )
    assert api.open_run(plain).facts().system.startswith("none")
    view = jsonview.run_system(json.loads((npl / "run.json").read_text()))
    assert view["profile"] == "npl-neoface-v4" and "percent" in view["percent_means"]


def test_report_draws_the_published_points(runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facelab.lab.report.figures import plot_det, plot_fpir_vs_watchlist_size
    from facelab.lab.scores import load_scores
    from facelab.lab.sweep import run_mapping, sweep_run
    from facelab.run.store import RunStore

    _, npl = runs
    meta = json.loads((npl / "run.json").read_text())
    points = published_points(meta)
    assert {p["name"] for p in points} >= {"fpir-wl10000-060", "tpir-060", "fpir-wl1000-060"}
    det = det_points(points)
    assert [d["label"] for d in det] == ["60 %, N = 10,000"]
    assert det[0]["fnir"] == pytest.approx(0.11) and det[0]["fitted"]
    with RunStore(npl, readonly=True) as s:
        scores = load_scores(s)
    m = run_mapping(scores, "linear")
    table = sweep_run(scores, [50, 60, 70], m)
    for draw in (lambda ax: plot_det(ax, scores, table, published=det),
                 lambda ax: plot_fpir_vs_watchlist_size(ax, scores, m, published=points)):  # fmt: skip
        fig, ax = plt.subplots()
        draw(ax)
        labels = ax.get_legend_handles_labels()[1]
        assert any(lab.startswith("published") for lab in labels), labels
        plt.close(fig)


def test_system_key_is_checked_at_load_in_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    for profile, mode, key, text in [
        ("nope", "embedding", "system.profile", "unknown system profile 'nope'"),
        ("nist-frte-mugshot", "embedding", "system.profile", "no operator percent"),
        ("npl-neoface-v4", "image", "system.profile", "embedding-mode run"),
    ]:
        path.write_text(_toml(_city(profile, mode)), encoding="utf-8")
        with pytest.raises(ConfigError) as exc:
            api.load_scenario(str(path))
        msg = str(exc.value)
        assert msg.startswith(f"bad.toml: {key}: ") and text in msg and "\n" not in msg
    r = subprocess.run(
        [sys.executable, "-m", "facelab", "run", "npl-lfr", "--system", "nope", "--out",
         str(tmp_path / "r")], capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert "system.profile: unknown system profile 'nope'" in r.stderr
    assert not (tmp_path / "r").exists()


def test_console_helpers_list_profiles_and_map_a_threshold():
    rows = {r["name"]: r for r in list_profiles()}
    assert rows["npl-neoface-v4"]["runnable"] and not rows["nist-frte-mugshot"]["runnable"]
    t = threshold_on_scale("npl-neoface-v4", 60, gallery=10000)
    assert t["score"] == pytest.approx(0.6) and t["fpir"] == pytest.approx(1 / 6000, rel=0.01)
    assert t["tpir"] == pytest.approx(0.89, abs=0.005)
    with pytest.raises(ConfigError, match="no operator percent"):
        threshold_on_scale("nist-frte-mugshot", 60)


def test_city_figures_scale_with_searches_and_carry_intervals():
    """A few parameter draws (the README's figures use 2,000: docs_check)."""
    p = get_profile("npl-neoface-v4")
    counts = CityCounts("c", searches=100_000.0, mated=1_000.0, watchlist=10_000,
                        fr_cameras=10, days=1)  # fmt: skip
    out = city_figures(p, counts, percent=60, draws=40, seed=1)
    f = out["figures"]
    # at the fitted point the model's FPIR is NPL's 1 in 6,000
    assert f["fpir"]["value"] == pytest.approx(1 / 6000, rel=0.01)
    assert f["false_alerts_per_day"]["value"] == pytest.approx(99_000 / 6000, rel=0.01)
    for k, v in f.items():
        assert v["lo"] <= v["value"] * (1 + 1e-9) and v["value"] <= v["hi"] * (1 + 1e-9), k
    nist = city_figures(get_profile("nist-frte-mugshot"), counts, fpir=0.003, draws=20)
    assert nist["figures"]["false_alerts_per_day"]["value"] == pytest.approx(99_000 * 0.003)
    with pytest.raises(ConfigError, match="no operator percent"):
        city_figures(get_profile("nist-frte-mugshot"), counts, percent=60, draws=2)
