"""What a killed purge leaves for the purge that finishes it: a journal of counts and a marker.

A purge deletes files before it deletes rows and records its report. The counts of the files it
had deleted wait in ``RUN/.purge-journal.json`` (counts only, never names or bytes) with the
purge's token, so that the purge that finishes the job reports them exactly once. Between
recording its report and compacting the databases, the ``purge_pending`` key in table ``meta``
names the purge to finish.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
from pathlib import Path

from facelab.fileio import write_atomic
from facelab.run import schema
from facelab.run.store import RunStore

log = logging.getLogger(__name__)

PENDING_KEY = "purge_pending"
"""``meta`` key naming a purge whose rows are gone but whose databases are not compacted yet."""
JOURNAL = ".purge-journal.json"
"""Counts of files a purge deleted before recording its report (only between those two)."""


def journal_resume(store: RunStore, counts: dict, freed: dict) -> str:
    """Counts of a purge killed after deleting files (added to ``counts``/``freed``) and the
    journal token of this purge: the killed one's, so that its files are reported once."""
    path = store.path / JOURNAL
    try:
        data = json.loads(path.read_text())
        token = str(data["token"])
        done = schema.purge_with_journal(store.db, token)
    except FileNotFoundError:
        return secrets.token_hex(8)
    except (OSError, ValueError, KeyError, TypeError, sqlite3.Error):
        log.warning("ignoring an unreadable purge journal %s", path)
        path.unlink(missing_ok=True)
        return secrets.token_hex(8)
    if done:  # recorded already; the crash came before the journal was removed
        path.unlink(missing_ok=True)
        return secrets.token_hex(8)
    for k, v in data.get("counts", {}).items():
        if k in counts:
            counts[k] += int(v)
    for k, v in data.get("bytes", {}).items():
        if k in freed:
            freed[k] += int(v)
    return token


def journal_save(run: Path, token: str, counts: dict, freed: dict) -> None:
    """Write the counts so far (atomically)."""
    write_atomic(run / JOURNAL, json.dumps({"token": token, "counts": counts, "bytes": freed}))
