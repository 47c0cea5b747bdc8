"""Test support: a run's ground truth read straight from ``truth.sqlite`` (the search path
never reads it; tests compare what it found against it)."""

from __future__ import annotations

import sqlite3


def truth_tables(run_dir):
    """(sighting → person, watch id → identity) from a run's truth.sqlite."""
    con = sqlite3.connect(run_dir / "truth.sqlite")
    try:
        person = dict(con.execute("SELECT sighting, person FROM sighting_truth"))
        watch = dict(con.execute("SELECT watch, identity FROM watch_truth"))
    finally:
        con.close()
    return person, watch
