"""Transaction-level (per pass) FPIR and FNIR against an independent count from the SQLite files."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

import numpy as np
import pytest

from facelab.cli.sweep_cmd import sweep_output
from facelab.lab.metrics import SearchScores, pass_fnir, pass_fpir
from facelab.lab.passes import load_passes
from facelab.lab.scores import load_scores
from facelab.lab.sweep import sweep_run
from facelab.run.store import RunStore


def _brute_force(run, rank: int):
    """Per wanted pass its best mate score within ``rank``; per innocent pass its best top
    score (-inf when no search); read with plain sqlite3, not through facelab."""
    fl = sqlite3.connect(run / "facelab.sqlite")
    tr = sqlite3.connect(run / "truth.sqlite")
    active = {r[0] for r in fl.execute("SELECT id FROM watchlist WHERE active=1")}
    identity = {w: i for w, i in tr.execute("SELECT watch, identity FROM watch_truth")}
    watched = {identity[w] for w in active if identity.get(w) is not None}
    cands = defaultdict(list)
    for s, w, score in fl.execute("SELECT sighting, watch, score FROM candidates"):
        if w in active:
            cands[s].append((score, w))
    held = {r[0] for r in fl.execute("SELECT id FROM sightings")}
    of_pass = defaultdict(list)
    for s, pid, person in tr.execute("SELECT sighting, pid, person FROM sighting_truth"):
        if s in held and pid >= 0:
            of_pass[(pid, person)].append(s)
    wanted, innocent = {}, {}
    for pid, person in tr.execute("SELECT pid, person FROM pass_truth"):
        best = -np.inf
        for s in of_pass[(pid, person)]:
            ranked = sorted(cands[s], reverse=True)
            if person in watched:
                for score, w in ranked[:rank]:
                    if identity.get(w) == person:
                        best = max(best, score)
            elif ranked:
                best = max(best, ranked[0][0])
        (wanted if person in watched else innocent)[pid] = best
    fl.close()
    tr.close()
    return np.array(list(wanted.values())), np.array(list(innocent.values()))


@pytest.mark.parametrize("rank", [1, 3])
def test_pass_level_rates_equal_a_count_from_truth(classroom_run, rank):
    with RunStore(classroom_run, readonly=True) as store:
        scores = load_scores(store)
        passes = load_passes(store, scores)
    table = sweep_run(scores, "30:90:10", rank=rank, passes=passes)
    wanted, innocent = _brute_force(classroom_run, rank)
    assert wanted.size > 0 and innocent.size > 0
    for row in table.rows:
        misses = int((wanted < row.cosine).sum())
        flagged = int((innocent >= row.cosine).sum())
        assert (row.pass_fnir.count, row.pass_fnir.total) == (misses, wanted.size)
        assert (row.pass_fpir.count, row.pass_fpir.total) == (flagged, innocent.size)
    doc = json.loads(sweep_output(classroom_run, "30:90:10", rank=rank, fmt="json"))
    assert [r["pass_fnir_count"] for r in doc["rows"]] == [r.pass_fnir.count for r in table.rows]
    assert "pass-level" in doc["definitions"]["pass FPIR, pass FNIR"]
    assert "search-level" in doc["definitions"]["FPIR, FNIR"]


def test_sweep_table_labels_search_and_pass_level(classroom_run):
    text = sweep_output(classroom_run, "50:70:10")
    assert "pass FNIR@1" in text and "FPIR, FNIR: search-level" in text
    assert "pass FPIR, pass FNIR: pass-level" in text
    assert max(len(line) for line in text.splitlines()) <= 120
    header = sweep_output(classroom_run, "50:70:10", fmt="csv").splitlines()[0].split(",")
    assert {"pass_fnir", "pass_fnir_count", "pass_fpir_total", "fnir", "fpir"} <= set(header)


def test_pass_rates_count_undetected_passes():
    # two searches of pass 7 (wanted) and one of pass 9 (innocent); passes 8 (wanted) and 10
    # (innocent) were never detected
    s = SearchScores(
        scores=np.array([[0.9, 0.2], [0.4, 0.3], [0.7, -np.inf]]),
        is_mate=np.array([[False, True], [True, False], [False, False]]),
        mated=np.array([True, True, False]),
    )
    search_pass = np.array([7, 7, 9])
    fn = pass_fnir(s, search_pass, np.array([7, 8]), [0.3, 0.5], rank=2)
    assert [(r.count, r.total) for r in fn] == [(1, 2), (2, 2)]
    fn1 = pass_fnir(s, search_pass, np.array([7, 8]), [0.3], rank=1)
    assert [(r.count, r.total) for r in fn1] == [(1, 2)]  # search 2 has its mate at rank 1
    fp = pass_fpir(s, search_pass, np.array([9, 10]), [0.5, 0.8])
    assert [(r.count, r.total) for r in fp] == [(1, 2), (0, 2)]
