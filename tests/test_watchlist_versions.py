"""Each search is scored against the watchlist it ran against (issue #15, item 1).

Enrolling or removing entries after a run leaves ``facelab sweep`` of its searches unchanged
(api and CLI, byte for byte); ``--watchlist current`` re-scores against today's list where the
stored top-k covers it, and refuses where it does not. Counts are checked against an
independent count read with plain sqlite3 from ``facelab.sqlite`` and ``truth.sqlite``.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict

import numpy as np
import pytest
from tiny import tiny_scenario
from typer.testing import CliRunner

from facelab import api
from facelab.cli import app
from facelab.cli._app import main
from facelab.errors import ConfigError, RunError
from facelab.lab.watchlists import AS_SEARCHED, Basis, check_covered
from facelab.run import schema_versions

THRESHOLDS = "30:90:10"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _sweep_json(run, *extra: str) -> str:
    code, out = _cli("sweep", run, "--thresholds", THRESHOLDS, "--format", "json", *extra)
    assert code == 0, out
    return out


def _brute_force(run, which: str):
    """Per search (sighting): whether it is mated, its rank-1 score, whether that candidate is
    the mate, under the watchlist of its day's version (``as-searched``) or today's
    (``current``); read with plain sqlite3."""
    fl = sqlite3.connect(f"file:{run / 'facelab.sqlite'}?mode=ro", uri=True)
    tr = sqlite3.connect(f"file:{run / 'truth.sqlite'}?mode=ro", uri=True)
    today = {r[0] for r in fl.execute("SELECT id FROM watchlist WHERE active=1")}
    version = dict(fl.execute("SELECT day, version FROM day_watchlist"))

    def entries(day):
        if which == "current":
            return today
        v = version[day]
        sql = "SELECT watch FROM watchlist_spans WHERE added <= ? AND (removed IS NULL OR removed > ?)"
        return {r[0] for r in fl.execute(sql, (v, v))}

    identity = dict(tr.execute("SELECT watch, identity FROM watch_truth"))
    person = dict(tr.execute("SELECT sighting, person FROM sighting_truth"))
    cands = defaultdict(list)
    for s, rank, w, score in fl.execute("SELECT sighting, rank, watch, score FROM candidates"):
        cands[s].append((rank, w, score))
    out = []
    for s, day in fl.execute("SELECT id, day FROM sightings"):
        ws = entries(day)
        p = person.get(s, -1)
        mated = p >= 0 and p in {identity.get(w) for w in ws}
        ranked = sorted(c for c in cands[s] if c[1] in ws)
        top = ranked[0][2] if ranked else -np.inf
        out.append((mated, top, bool(ranked) and identity.get(ranked[0][1]) == p))
    fl.close()
    tr.close()
    return out


def _check_against_brute_force(table, searches) -> None:
    mated = [s for s in searches if s[0]]
    others = [s for s in searches if not s[0]]
    for row in table.rows:
        hits = sum(1 for _, top, mate in mated if mate and top >= row.cosine)
        flagged = sum(1 for _, top, _ in others if top >= row.cosine)
        assert (row.fnir.count, row.fnir.total) == (len(mated) - hits, len(mated))
        assert (row.fpir.count, row.fpir.total) == (flagged, len(others))


def _passes_of(run, persons) -> int:
    tr = sqlite3.connect(f"file:{run / 'truth.sqlite'}?mode=ro", uri=True)
    n = sum(1 for (p,) in tr.execute("SELECT person FROM pass_truth") if p in persons)
    tr.close()
    return n


def test_enrol_and_remove_after_a_run_leave_its_sweep_unchanged(
    run_copy, tmp_path, capsys, monkeypatch
):
    lab = api.open_run(run_copy, actor="tester")
    before_cli = _sweep_json(run_copy)
    before_api = lab.sweep(THRESHOLDS).to_json()
    doc = json.loads(before_cli)
    assert doc["run"]["watchlist"]["scored_against"] == AS_SEARCHED
    searched = _brute_force(run_copy, "as-searched")
    _check_against_brute_force(lab.sweep(THRESHOLDS), searched)
    # before any change, today's watchlist is the one every search ran against
    same = json.loads(_sweep_json(run_copy, "--watchlist", "current"))
    assert same["rows"] == doc["rows"] and same["run"]["watchlist"]["scored_against"] == "current"

    # remove an entry whose person was seen: the existing searches' figures do not move ...
    removed = lab.watchlist()[3]
    tr = sqlite3.connect(run_copy / "truth.sqlite")
    gone = dict(tr.execute("SELECT watch, identity FROM watch_truth"))[removed.id]
    tr.close()
    lab.remove(removed.label, reason="test")
    assert _sweep_json(run_copy) == before_cli
    assert lab.sweep(THRESHOLDS).to_json() == before_api
    # ... while re-scoring against today's list makes that person's searches non-mated
    now = lab.sweep(THRESHOLDS, watchlist="current")
    current = _brute_force(run_copy, "current")
    _check_against_brute_force(now, current)
    moved = sum(m for m, _, _ in searched) - sum(m for m, _, _ in current)
    assert moved > 0
    then = lab.sweep(THRESHOLDS)
    for a, b in zip(then.rows, now.rows, strict=True):
        assert (b.fnir.total, b.fpir.total) == (a.fnir.total - moved, a.fpir.total + moved)
        assert b.pass_fnir.total == a.pass_fnir.total - _passes_of(run_copy, {gone})
    code, out = _cli("sweep", run_copy, "--thresholds", "60", "--watchlist", "current")
    assert code == 0 and "RE-SCORED against today's watchlist" in out
    code, out = _cli("sweep", run_copy, "--thresholds", "60", "--format", "csv",
                     "--watchlist", "current")  # fmt: skip
    assert out.startswith("watchlist,percent,") and out.splitlines()[1].startswith("current,60.0,")

    # enrol someone seen by the cameras after the run: nothing they were never compared with
    # becomes a miss, and re-scoring against today's list is refused
    tr = sqlite3.connect(run_copy / "truth.sqlite")
    assert tr.execute("SELECT COUNT(*) FROM sighting_truth WHERE person = 12").fetchone()[0] > 0
    tr.close()
    photo = tmp_path / "p.png"
    lab.photo(12, photo)
    code, out = _cli("enroll", run_copy, photo, "--label", "LATE-12", "--reason", "test")
    assert code == 0, out
    assert _sweep_json(run_copy) == before_cli
    assert lab.sweep(THRESHOLDS).to_json() == before_api
    monkeypatch.setattr(sys, "argv", ["facelab", "sweep", str(run_copy), "--watchlist", "current"])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == RunError.exit_code and err.startswith("error: cannot re-score")
    assert "were never compared with it" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(RunError, match="ran before watchlist entry"):
        lab.sweep(THRESHOLDS, watchlist="current")
    with pytest.raises(ConfigError, match="--watchlist"):
        lab.sweep(THRESHOLDS, watchlist="tomorrow")


def test_versions_follow_every_change_of_the_active_set():
    db = sqlite3.connect(":memory:")
    db.executescript(schema_versions.SCHEMA + "CREATE TABLE watchlist(id, active);")
    assert schema_versions.active_ids_and_version(db) == ([], 0)
    v1 = schema_versions.enrolled(db, [1, 2, 3])
    db.executemany("INSERT INTO watchlist VALUES (?, 1)", [(1,), (2,), (3,)])
    v2 = schema_versions.removed(db, 2)
    db.execute("UPDATE watchlist SET active=0 WHERE id=2")
    v3 = schema_versions.restored(db, 2)
    db.execute("UPDATE watchlist SET active=1 WHERE id=2")
    v4 = schema_versions.enrolled(db, [4])
    db.execute("INSERT INTO watchlist VALUES (4, 1)")
    assert (v1, v2, v3, v4) == (1, 2, 3, 4)
    assert schema_versions.active_ids_and_version(db) == ([1, 2, 3, 4], 4)
    spans = schema_versions.spans(db)
    got = [schema_versions.active_at(spans, v).tolist() for v in range(5)]
    assert got == [[], [1, 2, 3], [1, 3], [1, 2, 3], [1, 2, 3, 4]]
    schema_versions.set_day_version(db, 0, 2)
    schema_versions.set_day_version(db, 1, None)  # the current version
    assert schema_versions.day_versions(db).tolist() == [(0, 2), (1, 4)]


def _basis(members: dict[int, list[int]], day_version: dict[int, int], current: int) -> Basis:
    days = np.array(sorted(day_version), np.int64)
    return Basis(
        AS_SEARCHED, current, days, np.array([day_version[d] for d in days.tolist()], np.int64),
        {v: np.array(m, np.int64) for v, m in members.items()},
    )  # fmt: skip


def test_stored_top_k_covers_today_only_when_it_holds_its_ranking(tmp_path):
    # version 1 held entries 1..12; search 0 kept 10 of them (entry 12 among them), search 1
    # kept 10 without entry 12; today entry 12 is removed
    b = _basis({1: list(range(1, 13)), 2: list(range(1, 12))}, {0: 1}, 2)
    row = np.repeat([0, 1], 10)
    watch = np.r_[np.arange(3, 13), np.arange(1, 11)]
    with pytest.raises(RunError, match="1 of 2 searches do not cover it.*since-removed entry"):
        check_covered(tmp_path, b, np.arange(1, 12), np.array([0, 0]), row, watch)
    # without search 0, search 1's stored list is also the top 10 of today's list: covered
    check_covered(tmp_path, b, np.arange(1, 12), np.array([0]), row[10:] - 1, watch[10:])
    # a small watchlist kept whole: any removal is covered; an enrolment never is
    small = _basis({1: [1, 2, 3], 2: [1, 3], 3: [1, 3, 4]}, {0: 1}, 3)
    row, watch = np.zeros(3, np.int64), np.array([2, 1, 3])
    check_covered(tmp_path, small, np.array([1, 3]), np.array([0]), row, watch)
    with pytest.raises(RunError, match="ran before watchlist entry 4 was enrolled"):
        check_covered(tmp_path, small, np.array([1, 3, 4]), np.array([0]), row, watch)


SCENARIO = tiny_scenario("versions", 2)


class _Stop(Exception):
    pass


@pytest.mark.slow
def test_a_run_resumed_after_an_enrolment_scores_each_day_by_its_own_watchlist(tmp_path):
    from facelab.config.scenario import load_scenario
    from facelab.lab.scores import load_scores
    from facelab.run.store import RunStore
    from facelab.world.world import build_world

    toml = tmp_path / "versions.toml"
    toml.write_text(SCENARIO)
    run = tmp_path / "run"
    world = build_world(load_scenario(toml))
    listed = {e.identity for e in world.watchlist}
    late = min({p for f in world.fr_frames(1) for p in f.persons} - listed)

    def stop_on_day_1(day, done, total):
        if day == 1:
            raise _Stop

    with pytest.raises(_Stop):  # day 0 committed, day 1 not: as if the run was stopped
        api.run(toml, run, on_progress=stop_on_day_1)
    lab = api.open_run(run, actor="tester")
    lab.photo(late, tmp_path / "late.png")
    lab.enroll(tmp_path / "late.png", label="LATE", reason="test")
    api.run(toml, run)  # resumes day 1 against the watchlist that now holds LATE

    fl = sqlite3.connect(f"file:{run / 'facelab.sqlite'}?mode=ro", uri=True)
    assert fl.execute("SELECT day, version FROM day_watchlist ORDER BY day").fetchall() == [
        (0, 3),
        (1, 4),
    ]
    fl.close()
    with RunStore(run, readonly=True) as store:
        scores = load_scores(store)
    is_late = scores.person == late
    assert scores.searches.mated[is_late & (scores.day == 1)].all()
    assert not scores.searches.mated[is_late & (scores.day == 0)].any()
    assert (is_late & (scores.day == 1)).any()
    _check_against_brute_force(lab.sweep("0:90:10"), _brute_force(run, "as-searched"))
    assert (scores.day == 0).any()  # searches never compared with LATE: no re-scoring
    with pytest.raises(RunError, match="never compared"):
        lab.sweep(watchlist="current")
