"""Groups measured on rendered faces (ITA), error rates by group against an SQL count, and the
human reviewer model against a brute-force loop.

One tiny image-mode run with ``[population] groups`` (10 people, 1 day, ≈15 s on two cores) is
made per module.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facelab import api
from facelab.cli import app
from facelab.config.limits import ITA_GROUPS
from facelab.config.scenario import load_scenario, parse_scenario
from facelab.config.sections import ReviewSpec
from facelab.errors import ConfigError, RunError
from facelab.lab.groups import ratio_interval
from facelab.lab.reviewer import decision_uniforms, queue_lengths
from facelab.run.store import RunStore
from facelab.world import groups, synth
from facelab.world.world import build_world

TINY = """
name = "tiny-groups"
seed = 3
start = 2026-03-02
days = 1
mode = "image"

[population]
size = 10
{groups}

[movement]
passes_per_day = [1, 2]
active_hours = [7, 20]
commuter_share = 0.75
presence = 1.0

[[cameras]]
id = "gate"
kind = "metro_gate"
station = "North"
fr = true
resolution = [640, 480]
quality = "good"

[[cameras]]
id = "south"
kind = "entrance"
station = "South"
fr = true
resolution = [640, 480]
quality = "good"

[variation]
latent_sigma = 0.25
enrol_sigma = 0.15

[watchlist]
size = 6
in_city = 4
"""
SHARES = "groups = { brown = 0.5, dark = 0.5 }"


def _scenario(tmp_path: Path, groups_line: str = SHARES, extra: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(groups=groups_line) + extra)
    return path


@pytest.fixture(scope="module")
def groups_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("groups")
    run = folder / "run"
    api.run(_scenario(folder), run)
    return run


# --------------------------------------------------------------------------- the scenario key


def test_groups_are_read_and_round_trip(tmp_path):
    sc = load_scenario(_scenario(tmp_path))
    assert sc.population.groups == (("brown", 0.5), ("dark", 0.5))
    assert parse_scenario(sc.to_dict(), sc.source) == sc
    plain = load_scenario(_scenario(tmp_path, ""))
    assert plain.population.groups is None
    assert "groups" not in plain.to_dict()["population"]  # old fingerprints unchanged


@pytest.mark.parametrize(
    "line, message",
    [
        ("groups = { pale = 1.0 }", "unknown group 'pale'"),
        ("groups = { light = 0.5, dark = 0.4 }", "shares must sum to 1"),
        ("groups = { light = 1.5, dark = -0.5 }", "probability"),
        ("groups = 3", "must be a table of group = share"),
    ],
)
def test_bad_groups_are_refused(tmp_path, line, message):
    with pytest.raises(ConfigError, match=message):
        load_scenario(_scenario(tmp_path, line))


def test_groups_need_image_mode(tmp_path):
    text = _scenario(tmp_path).read_text().replace('mode = "image"', 'mode = "embedding"')
    (tmp_path / "emb.toml").write_text(text)
    with pytest.raises(ConfigError, match="population.groups.*image"):
        load_scenario(tmp_path / "emb.toml")


# --------------------------------------------------------------------------- the measure


def test_wanted_groups_have_exact_counts_and_depend_on_seed():
    shares = (("light", 0.25), ("brown", 0.35), ("dark", 0.4))
    w = groups.wanted_groups(5, 101, shares)
    counts = {ITA_GROUPS[i]: int((w == i).sum()) for i in np.unique(w)}
    assert counts == {"light": 25, "brown": 35, "dark": 41}  # largest remainder: 40.4 → 41
    assert np.array_equal(w, groups.wanted_groups(5, 101, shares))
    assert not np.array_equal(w, groups.wanted_groups(6, 101, shares))


def test_group_bands_are_the_ita_bands():
    ita = np.array([80, 55.01, 55, 41, 40.9, 28, 10, 9.9, -30, -30.1, -89])
    assert groups.group_names(groups.group_index(ita)) == [
        "very-light", "very-light", "light", "intermediate", "intermediate", "tan", "brown",
        "brown", "dark", "dark", "dark",
    ]  # fmt: skip


def test_ita_of_flat_colours():
    """A flat face of a known CIELAB colour has the ITA of the formula."""
    import cv2

    lab = np.zeros((2, 64, 64, 3), np.uint8)
    lab[0] = (round(70 * 255 / 100), 128 + 10, 128 + 20)  # L*=70, a*=10, b*=20 → 45°
    lab[1] = (round(30 * 255 / 100), 128 + 10, 128 + 20)  # L*=30 → −45°
    bgr = np.stack([cv2.cvtColor(x, cv2.COLOR_LAB2BGR) for x in lab])
    got = groups.ita(bgr)
    want = np.degrees(np.arctan((np.array([70, 30]) - 50) / 20))
    assert np.allclose(got, want, atol=2.5)  # 8-bit round trip


def test_without_groups_the_latents_are_unchanged(tmp_path):
    ids = np.arange(5)
    assert np.array_equal(synth.identity_latents(7, ids),
                          synth.identity_latents(7, ids, np.zeros(5, int)))  # fmt: skip
    assert not np.array_equal(synth.identity_latents(7, ids),
                              synth.identity_latents(7, ids, np.ones(5, int)))  # fmt: skip
    world = build_world(load_scenario(_scenario(tmp_path, "")))
    assert world.latent_attempts(ids) is None and world.identity_groups is None


# --------------------------------------------------------------------------- a run with groups


def _truth_groups(run: Path) -> dict[int, tuple[str, float, int]]:
    with sqlite3.connect(run / "truth.sqlite") as c:
        rows = c.execute("SELECT identity, grp, ita, attempt FROM identity_truth")
        return {i: (g, a, k) for i, g, a, k in rows}


def test_ita_recomputed_from_rendered_faces_recovers_each_group(groups_run):
    truth = _truth_groups(groups_run)
    with RunStore(groups_run, readonly=True) as store:
        sc = store.scenario()
    ids = np.array(sorted(truth))
    n = sc.population.size
    assert len(ids) == n + 2  # residents and the two out-of-city entries
    gen = synth.FaceGenerator()
    measured = groups.ita(gen.identities(sc.seed, ids, [truth[i][2] for i in ids]))
    assert groups.group_names(groups.group_index(measured)) == [truth[i][0] for i in ids]
    assert np.allclose(measured, [truth[i][1] for i in ids], atol=1e-9)
    residents = [truth[i][0] for i in ids[:n]]
    assert residents.count("brown") == residents.count("dark") == 5  # the shares, exactly
    # the faces were chosen, not drawn: without groups other bands turn up
    plain = groups.group_index(groups.ita(gen.identities(sc.seed, ids)))
    assert (plain != groups.group_index(measured)).any()


def _entry_view(c: sqlite3.Connection, which: str = "as-searched") -> None:
    """Temp view ``entry(day, watch, identity, grp)``: the entries each day's searches are
    scored against: the watchlist version the day ran against (``as-searched``, from the
    spans) or today's active entries (``current``)."""
    if which == "as-searched":
        held = """FROM day_watchlist dw JOIN watchlist_spans sp ON sp.added <= dw.version
                  AND (sp.removed IS NULL OR sp.removed > dw.version)"""
        watch = "sp.watch"
    else:
        held = "FROM day_watchlist dw JOIN watchlist w ON w.active = 1"
        watch = "w.id"
    c.execute(f"""CREATE TEMP VIEW entry AS SELECT dw.day, {watch} AS watch, wt.identity, it.grp
                 {held} JOIN t.watch_truth wt ON wt.watch = {watch}
                 JOIN t.identity_truth it ON it.identity = wt.identity""")


def _sql_counts(run: Path, g: str, t: float, which: str = "as-searched") -> dict:
    """FMR within group ``g``, FPIR and FNMR of probes of group ``g`` at cosine ``t``, by SQL,
    each search scored against the entries of :func:`_entry_view`."""
    c = sqlite3.connect(run / "facelab.sqlite")
    c.execute(f"ATTACH '{run / 'truth.sqlite'}' AS t")
    c.execute("""CREATE TEMP VIEW probe AS SELECT st.sighting, st.person, st.day, it.grp
                 FROM t.sighting_truth st JOIN t.identity_truth it ON it.identity = st.person""")
    _entry_view(c, which)
    fmr_k = c.execute("""SELECT COUNT(*) FROM candidates c JOIN probe p ON p.sighting = c.sighting
        JOIN entry e ON e.watch = c.watch AND e.day = p.day
        WHERE p.grp = ? AND e.grp = ? AND e.identity != p.person AND c.score >= ?""",
                      (g, g, t)).fetchone()[0]  # fmt: skip
    fmr_n = c.execute(
        """SELECT COUNT(*) FROM probe p JOIN entry e ON e.day = p.day
        WHERE p.grp = ? AND e.grp = ? AND e.identity != p.person""",
        (g, g),
    ).fetchone()[0]
    nonmated = "p.person NOT IN (SELECT identity FROM entry e WHERE e.day = p.day)"
    fpir_n = c.execute(f"SELECT COUNT(*) FROM probe p WHERE p.grp = ? AND {nonmated}",
                       (g,)).fetchone()[0]  # fmt: skip
    fpir_k = c.execute(f"""SELECT COUNT(*) FROM probe p WHERE p.grp = ? AND {nonmated} AND
        (SELECT MAX(score) FROM candidates c JOIN entry e ON e.watch = c.watch AND e.day = p.day
         WHERE c.sighting = p.sighting) >= ?""", (g, t)).fetchone()[0]  # fmt: skip
    gen_n = c.execute(
        """SELECT COUNT(*) FROM probe p JOIN entry e ON e.identity = p.person AND e.day = p.day
        WHERE p.grp = ?""",
        (g,),
    ).fetchone()[0]
    gen_ok = c.execute(
        """SELECT COUNT(*) FROM candidates c JOIN probe p ON p.sighting = c.sighting
        JOIN entry e ON e.watch = c.watch AND e.day = p.day
        WHERE p.grp = ? AND e.identity = p.person AND c.score >= ?""",
        (g, t),
    ).fetchone()[0]
    c.close()
    return {"fmr_within": (fmr_k, fmr_n), "fpir": (fpir_k, fpir_n), "fnmr": (gen_n - gen_ok, gen_n)}


def _check_groups_against_sql(run: Path, gsw, which: str = "as-searched") -> int:
    """Every group's counts equal :func:`_sql_counts`; returns the false matches counted."""
    checked = 0
    for g in gsw.groups:
        for p, cos, row in zip(gsw.percents, gsw.cosines, gsw.rows[g], strict=True):
            want = _sql_counts(run, g, float(cos), which)
            for name, (k, n) in want.items():
                assert (row[name].count, row[name].total) == (k, n), (g, p, name, which)
                checked += k
    return checked


def test_rates_by_group_equal_an_independent_sql_count(groups_run):
    gsw = api.open_run(groups_run).sweep_groups("20:60:10")
    assert gsw.complete and set(gsw.groups) == {"brown", "dark"}
    assert _check_groups_against_sql(groups_run, gsw) > 0  # false matches counted, not only 0s


def test_sweep_by_group_json_has_rows_per_group_and_a_differential(groups_run):
    res = CliRunner().invoke(app, ["sweep", str(groups_run), "--by", "group",
                                   "--thresholds", "20,30,40", "--format", "json"])  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc["groups"]) == {"brown", "dark"}
    assert all(len(rows) == 3 for rows in doc["groups"].values())
    assert [d["percent"] for d in doc["differential"]] == [20.0, 30.0, 40.0]
    d = doc["differential"][0]
    fmr = {g: doc["groups"][g][0]["fmr_within"] for g in doc["groups"]}
    hi = max(fmr, key=lambda g: fmr[g]["value"])
    assert d["high_group"] == hi and d["fmr_ratio"] == pytest.approx(
        fmr[hi]["value"] / min(f["value"] for f in fmr.values()), rel=1e-5
    )
    assert d["lo"] <= d["fmr_ratio"] <= d["hi"]
    assert "not ethnicities" in doc["what_groups_are"]
    text = CliRunner().invoke(app, ["sweep", str(groups_run), "--by", "group"])
    assert text.exit_code == 0 and "=== group brown ===" in text.stdout
    assert "Differential" in text.stdout


def test_ratio_interval():
    r, lo, hi = ratio_interval(40, 100, 10, 100)
    assert r == pytest.approx(4.0)
    se = math.sqrt(1 / 40 - 1 / 100 + 1 / 10 - 1 / 100)
    assert lo == pytest.approx(4 * math.exp(-1.959964 * se))
    assert lo > 1 < hi  # significant
    r, lo, hi = ratio_interval(3, 100, 2, 100)
    assert lo < 1 < hi  # not
    assert math.isnan(ratio_interval(1, 0, 1, 10)[0])
    assert math.isfinite(ratio_interval(5, 50, 0, 50)[0])  # zero count: 0.5 added


def test_synth_groups_cli_counts_every_face():
    res = CliRunner().invoke(app, ["synth", "groups", "--identities", "12", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert sum(doc["counts"].values()) == 12 and list(doc["counts"]) == list(ITA_GROUPS)
    assert doc == api.synth_groups(12).to_dict()


# --------------------------------------------------------------------------- the reviewer


REVIEW_SPECS = [
    ReviewSpec(),
    ReviewSpec(
        seconds_per_alert=900,
        p_confirm_true=0.8,
        p_confirm_false=0.3,
        automation_bias=1.5,
        queue_effect=2.0,
    ),  # fmt: skip
]


def _brute_force(run: Path, spec: ReviewSpec, pct: float) -> dict:
    """Stops, innocent stops and wanted people missed at ``pct`` (linear mapping), from SQL
    rows and a plain loop: one reviewer, alerts in arrival order; each day scored against the
    watchlist version its searches ran against."""
    c = sqlite3.connect(run / "facelab.sqlite")
    c.execute(f"ATTACH '{run / 'truth.sqlite'}' AS t")
    _entry_view(c)
    seed = json.loads((run / "run.json").read_text())["scenario"]["seed"]
    rows = c.execute("""SELECT s.id, c.watch, c.score, s.day, s.frame_id, st.person, e.identity
        FROM candidates c JOIN sightings s ON s.id = c.sighting
        JOIN t.sighting_truth st ON st.sighting = s.id
        JOIN entry e ON e.watch = c.watch AND e.day = s.day""").fetchall()
    wanted = set(c.execute("SELECT identity, day FROM entry"))
    seen = {(p, d) for p, d in c.execute("SELECT person, day FROM t.pass_truth")
            if (p, d) in wanted}  # fmt: skip
    c.close()
    alerts = []
    for sid, watch, score, day, frame, person, ident in rows:
        if score >= pct / 100:
            t = day * 86400 + int(frame.rsplit("-", 1)[1])
            alerts.append((day, t, sid, -score, watch, person, ident))
    alerts.sort()
    stops = innocent = 0
    caught = set()
    finish: dict[int, list[float]] = {}
    for day, t, sid, neg, watch, person, ident in alerts:
        done = finish.setdefault(day, [])
        waiting = sum(f > t for f in done)
        done.append(max(t, done[-1] if done else t) + spec.seconds_per_alert)
        p = spec.p_confirm_true if person == ident else spec.p_confirm_false
        logit = math.log(p / (1 - p)) + spec.automation_bias * (-neg * 100 - pct) / 10 \
            + spec.queue_effect * waiting / 10  # fmt: skip
        u = decision_uniforms(seed, np.array([sid]), np.array([watch]))[0]
        if u < 1 / (1 + math.exp(-logit)):
            stops += 1
            if person == ident:
                caught.add((person, day))
            else:
                innocent += 1
    return {"alerts": len(alerts), "stops": stops, "innocent_stops": innocent,
            "wanted_missed": len(seen - caught), "wanted_seen": len(seen)}  # fmt: skip


@pytest.mark.parametrize("spec", REVIEW_SPECS, ids=["default", "biased"])
def test_reviewer_outcomes_reconcile_and_match_brute_force(groups_run, spec):
    run = api.open_run(groups_run)
    outcomes = run.review_outcomes("30:70:10", spec=spec)
    sweep = {r.percent: r for r in run.sweep("30:70:10").rows}
    for o in outcomes:
        assert o.stops == o.true_stops + o.innocent_stops  # stops = confirmed alerts
        assert o.innocent_stops <= o.false_alerts and o.true_stops <= o.true_alerts
        assert (o.alerts, o.false_alerts) == (sweep[o.percent].alerts,
                                              sweep[o.percent].false_alerts)  # fmt: skip
        assert o.reviewer_hours == pytest.approx(o.alerts * spec.seconds_per_alert / 3600)
        g = o.by_group.values()
        assert sum(v["wanted_missed"] for v in g) == o.wanted_missed
        assert sum(v["innocent_stops"] for v in g) <= o.innocent_stops
        want = _brute_force(groups_run, spec, o.percent)
        got = {k: getattr(o, k) for k in want}
        assert got == want, o.percent
    assert any(o.innocent_stops for o in outcomes) or spec == REVIEW_SPECS[0]
    assert outcomes == run.review_outcomes("30:70:10", spec=spec)  # deterministic


def test_reviewer_extremes_and_automation_bias(groups_run):
    run = api.open_run(groups_run)
    perfect = run.review_outcomes("40", spec=ReviewSpec(p_confirm_true=1, p_confirm_false=0))[0]
    assert perfect.stops == perfect.true_stops == perfect.true_alerts
    assert perfect.innocent_stops == 0
    stamp = run.review_outcomes("40", spec=ReviewSpec(p_confirm_true=1, p_confirm_false=1))[0]
    assert stamp.stops == stamp.alerts and stamp.innocent_stops == stamp.false_alerts
    base = run.review_outcomes("30:50:10", spec=ReviewSpec(p_confirm_false=0.3))
    bias = run.review_outcomes("30:50:10",
                               spec=ReviewSpec(p_confirm_false=0.3, automation_bias=3))  # fmt: skip
    assert all(b.stops >= a.stops for a, b in zip(base, bias, strict=True))  # same draws


def test_queue_lengths_against_a_loop():
    rng = np.random.default_rng(0)
    day = np.sort(rng.integers(0, 3, 200))
    t = day * 86400 + np.concatenate([np.sort(rng.integers(0, 3000, (day == d).sum()))
                                      for d in range(3)])  # fmt: skip
    got = queue_lengths(t, day, 45.0)
    for d in range(3):
        finish: list[float] = []
        for i in np.flatnonzero(day == d):
            assert got[i] == sum(f > t[i] for f in finish)
            finish.append(max(t[i], finish[-1] if finish else t[i]) + 45.0)


def test_review_table_is_read_and_checked(tmp_path):
    extra = "\n[review]\nseconds_per_alert = 30\np_confirm_false = 0.2\nautomation_bias = 1\n"
    sc = load_scenario(_scenario(tmp_path, extra=extra))
    assert sc.review == ReviewSpec(seconds_per_alert=30, p_confirm_false=0.2, automation_bias=1)
    assert parse_scenario(sc.to_dict(), sc.source) == sc
    assert "review" not in load_scenario(_scenario(tmp_path)).to_dict()
    for bad, msg in [
        ("p_confirm_true = 1.2", "probability"),
        ("queue_effect = 50", "must lie"),
        ("seconds_per_alert = 0", "positive"),
        ("reviewers = 2", "reviewers"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            load_scenario(_scenario(tmp_path, extra=f"\n[review]\n{bad}\n"))


def test_report_section_who_is_flagged(groups_run):
    from facelab.lab.report.flagged import who_is_flagged_section
    from facelab.search.percent import get_mapping

    with RunStore(groups_run, readonly=True) as store:
        html = who_is_flagged_section(store, get_mapping("linear"), [40.0, 60.0])
    assert 'id="flagged"' in html and "Errors and stops by group" in html
    assert "not ethnicities" in html and "White et al. 2014" in html
    assert html.count("<td>brown</td>") == 2 and html.count("<td>dark</td>") == 2


def test_groups_refused_in_embedding_mode_before_the_run_exists(tmp_path):
    with pytest.raises(ConfigError, match="population.groups.*image mode"):
        api.run(_scenario(tmp_path), tmp_path / "run", mode="embedding")
    assert not (tmp_path / "run").exists()


def test_classroom_groups_preset_scores_every_entry():
    from facelab.run.schema import TOP_K

    sc = load_scenario("classroom-groups")
    assert sc.population.groups == (("light", 0.5), ("dark", 0.5)) and sc.mode == "image"
    assert sc.watchlist.size <= TOP_K  # complete impostor scores: FMR per group is shown


def test_watchlist_changes_after_the_run_leave_groups_and_review_unchanged(groups_run, tmp_path):
    """Each search is scored against the watchlist it ran against (facelab.lab.watchlists), for
    ``--by group`` and ``--review`` as for the sweep; ``--watchlist current`` follows today's."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(groups_run, run)
    args = ["sweep", str(run), "--by", "group", "--review", "--thresholds", "20,40", "--format",
            "json"]  # fmt: skip

    def cli(*extra: str) -> str:
        res = CliRunner().invoke(app, args + list(extra))
        assert res.exit_code == 0, res.output
        return res.stdout

    before = cli()
    assert {"groups", "differential", "review"} <= set(json.loads(before))
    lab = api.open_run(run, actor="tester")
    spec = ReviewSpec(p_confirm_false=0.4)
    review_before = lab.review_outcomes("30:50:10", spec=spec)
    then = lab.sweep_groups("20,40")
    groups_before = then.to_json()
    # remove an entry whose person was searched: a search of them stays mated as searched
    c = sqlite3.connect(run / "truth.sqlite")
    ident = dict(c.execute("SELECT watch, identity FROM watch_truth"))
    seen = {p for (p,) in c.execute("SELECT DISTINCT person FROM sighting_truth")}
    c.close()
    gone = next(e for e in lab.watchlist() if ident[e.id] in seen)
    lab.remove(gone.label, reason="test")
    assert lab.sweep_groups("20,40").to_json() == groups_before
    assert lab.review_outcomes("30:50:10", spec=spec) == review_before
    now = lab.sweep_groups("20,40", watchlist="current")
    assert json.loads(now.to_json())["watchlist"]["scored_against"] == "current"
    _check_groups_against_sql(run, now, "current")
    moved = sum(r[0]["fpir"].total for r in now.rows.values()) - sum(
        r[0]["fpir"].total for r in then.rows.values())  # fmt: skip
    assert moved > 0  # the removed person's searches became non-mated
    doc = json.loads(cli("--watchlist", "current"))
    assert doc["groups"] == json.loads(now.to_json())["groups"]
    assert doc["review"]["watchlist"]["scored_against"] == "current"
    cur = lab.review_outcomes("30:50:10", spec=spec, watchlist="current")
    assert sum(o.wanted_seen for o in cur) < sum(o.wanted_seen for o in review_before)
    # enrol a person seen by the cameras who was not on the watchlist
    late = next(p for p in sorted(seen) if p >= 0 and p not in set(ident.values()))
    photo = tmp_path / "late.png"
    lab.photo(late, photo)
    lab.enroll(photo, label="LATE", reason="test")
    assert cli() == before
    assert lab.review_outcomes("30:50:10", spec=spec) == review_before
    _check_groups_against_sql(run, lab.sweep_groups("20:60:10"))
    for o in review_before:
        want = _brute_force(run, spec, o.percent)
        assert {k: getattr(o, k) for k in want} == want
    with pytest.raises(RunError, match="cannot re-score"):
        lab.sweep_groups("20,40", watchlist="current")


def _agreement_brute_force(run: Path, spec: ReviewSpec) -> dict:
    """People's decisions and the model's on the stored alert queue, from SQL rows and a plain
    loop: one reviewer per day taking the ``alerts`` table in arrival order, each alert's
    displayed percent against its camera's threshold."""
    c = sqlite3.connect(run / "facelab.sqlite")
    c.execute(f"ATTACH '{run / 'truth.sqlite'}' AS t")
    seed = json.loads((run / "run.json").read_text())["scenario"]["seed"]
    rows = c.execute("""SELECT a.day, s.frame_id, a.sighting, a.score, a.watch, a.percent,
        cam.threshold, a.status, st.person, wt.identity FROM alerts a
        JOIN sightings s ON s.id = a.sighting JOIN cameras cam ON cam.idx = a.camera
        JOIN t.sighting_truth st ON st.sighting = a.sighting
        JOIN t.watch_truth wt ON wt.watch = a.watch""").fetchall()
    c.close()
    queue = sorted((d, d * 86400 + int(f.rsplit("-", 1)[1]), s, -sc, w, pc, th, st, p, i)
                   for d, f, s, sc, w, pc, th, st, p, i in rows)  # fmt: skip
    finish: dict[int, list[float]] = {}
    tally = {who: {"confirmed": 0, "confirmed_false": 0, "rejected_true": 0}
             for who in ("people", "model")}  # fmt: skip
    agree = compared = 0
    for day, t, sid, _, watch, shown, thr, status, person, ident in queue:
        done = finish.setdefault(day, [])
        waiting = sum(f > t for f in done)
        done.append(max(t, done[-1] if done else t) + spec.seconds_per_alert)
        p = spec.p_confirm_true if person == ident else spec.p_confirm_false
        logit = math.log(p / (1 - p)) + spec.automation_bias * (shown - thr) / 10 \
            + spec.queue_effect * waiting / 10  # fmt: skip
        model = decision_uniforms(seed, np.array([sid]), np.array([watch]))[0] < 1 / (
            1 + math.exp(-logit))  # fmt: skip
        if status not in ("confirmed", "rejected"):
            continue
        compared += 1
        agree += model == (status == "confirmed")
        for who, conf in (("people", status == "confirmed"), ("model", model)):
            tally[who]["confirmed"] += conf
            tally[who]["confirmed_false"] += conf and person != ident
            tally[who]["rejected_true"] += not conf and person == ident
    return {"compared": compared, "agree": agree, **tally}


def test_console_compares_people_with_the_reviewer_model_and_shows_groups(groups_run, tmp_path):
    import shutil
    import urllib.request

    from facelab.lab.reviewer import student_agreement
    from facelab.serve.app import create_app
    from facelab.serve.server import Background

    run = tmp_path / "run"
    shutil.copytree(groups_run, run)
    lab = api.open_run(run, actor="student")
    queue = lab.alerts()
    assert len(queue) >= 4
    for a, d in zip(queue[:4], ("confirmed", "rejected", "confirmed", "rejected"), strict=False):
        lab.review(a.id, d, reason="class")

    with Background(create_app(run)) as addr:

        def get(path: str) -> dict:
            with urllib.request.urlopen(addr.base + path, timeout=60) as res:
                return json.loads(res.read())

        hidden, shown = get("/api/review-agreement"), get("/api/review-agreement?reveal=1")
        g_hidden, g = get("/api/groups?percent=40"), get("/api/groups?percent=40&reveal=1")
    assert hidden == {"revealed": False, "decided": 4}  # no truth unasked
    want = _agreement_brute_force(run, ReviewSpec())
    assert {k: shown[k] for k in want} == want and shown["decided"] == 4
    assert shown["both_confirmed"] + shown["both_rejected"] == shown["agree"]
    biased = ReviewSpec(seconds_per_alert=900, p_confirm_false=0.3, automation_bias=2,
                        queue_effect=3)  # fmt: skip
    with RunStore(run, readonly=True) as s:
        got = student_agreement(s, biased)
    assert {k: got[k] for k in want} == _agreement_brute_force(run, biased)
    # per-group figures at the slider's threshold: the sweep's and the reviewer model's
    assert g_hidden["has_groups"] and "rows" not in g_hidden
    gsw = lab.sweep_groups("40").to_dict()
    stops = lab.review_outcomes("40")[0].by_group
    assert [r["group"] for r in g["rows"]] == list(gsw["groups"])
    for r in g["rows"]:
        row = gsw["groups"][r["group"]][0]
        assert (r["fpir"], r["fmr_within"], r["fnir"]) == (
            row["fpir"],
            row["fmr_within"],
            row["fnir"],
        )
        assert r["innocent_stops"] == stops[r["group"]]["innocent_stops"]
        assert (r["wanted_missed"], r["wanted_seen"]) == (stops[r["group"]]["wanted_missed"],
                                                          stops[r["group"]]["wanted_seen"])  # fmt: skip
    assert g["differential"] == gsw["differential"][0]


def test_npl_case_shows_the_differential_between_groups_at_its_thresholds(groups_run):
    from facelab.lab import cases

    case = cases.CASES["npl-lfr"]
    assert "0.58 and 0.56" in case.published and "Black subjects" in case.published
    groups_variant = next(v for v in case.variants if v.label == "groups")
    assert load_scenario(groups_variant.preset).population.groups is not None
    with RunStore(groups_run, readonly=True) as s:
        npl = cases.npl_groups(s)
        low = cases.npl_groups(s, (20.0, 30.0))
    assert [ln.split(":")[0].strip() for ln in npl[1:]] == ["0.56", "0.58", "0.60"]
    assert "not ethnicities" in npl[0]
    gsw = api.open_run(groups_run).sweep_groups("20,30")
    for line, d in zip(low[1:], gsw.differential, strict=True):
        for g in gsw.groups:
            r = gsw.rows[g][list(gsw.percents).index(d.percent)]["fmr_within"]
            assert f"{g} {r.count}/{r.total}" in line
        if not math.isnan(d.ratio):
            assert f"{d.high_group} / {d.low_group} = {d.ratio:.3g}" in line
    assert any(" = " in ln for ln in low[1:])  # a ratio was computed at a low threshold
