"""Test support for ground truth: runs whose truth goes to the run's ``truth.sqlite``
(:func:`run_with_truth`), and that truth read straight from the file (the search path never reads
it; tests compare what it found against it)."""

from __future__ import annotations

import sqlite3

from facelab.run.pipeline import run_scenario
from facelab.truth import TruthStore


def run_with_truth(scenario, out, **kw):
    """:func:`facelab.run.pipeline.run_scenario` with the run's own
    :class:`~facelab.truth.TruthStore` as its truth sink (as :func:`facelab.api.run` does,
    without the retention purges)."""
    with TruthStore(out, create=True) as truth:
        return run_scenario(scenario, out, truth=truth, **kw)


def truth_tables(run_dir):
    """(sighting → person, watch id → identity) from a run's truth.sqlite."""
    con = sqlite3.connect(run_dir / "truth.sqlite")
    try:
        person = dict(con.execute("SELECT sighting, person FROM sighting_truth"))
        watch = dict(con.execute("SELECT watch, identity FROM watch_truth"))
    finally:
        con.close()
    return person, watch
