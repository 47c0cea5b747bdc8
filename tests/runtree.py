"""The bytes of a run directory, for tests that a command left it unchanged, and read-only
queries of its databases."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path


def tree_hash(root: Path) -> dict[str, str]:
    """relative path → SHA-256 of every file (and '/' for every folder) under ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root) + "/"] = "/"
        for name in filenames:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def query(run: Path, sql: str, db: str = "facelab.sqlite") -> list:
    """The rows of ``sql`` on the run's database ``db``, opened read-only."""
    conn = sqlite3.connect(f"file:{run / db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
