"""The run directory: layout, format version and the SQLite databases.

Layout of a run directory::

    RUN/run.json          format marker {"format": "facelab-run", "version": N, ...}
    RUN/facelab.sqlite    search side: cameras, frames, sightings, watchlist, alerts, reviews
    RUN/truth.sqlite      ground truth (read by metrics only, never by the search path)
    RUN/audit.jsonl       hash-chained audit log
    RUN/watchlist.faiss   watchlist index
    RUN/archive/          one FAISS shard per simulated day
    RUN/frames/           rendered frames (PNG with provenance)
"""

from __future__ import annotations

import json
from pathlib import Path

from facelab.errors import RunError

RUN_FORMAT = "facelab-run"
RUN_VERSION = 1
MARKER = "run.json"


def require_run(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is a facelab run directory of this format version.

    Raises
    ------
    RunError
        If the folder is missing, is not a facelab run, or was written by another format version.
    """
    run = Path(path)
    if not run.is_dir():
        raise RunError(f"run directory not found: {run}")
    marker = run / MARKER
    if not marker.is_file():
        raise RunError(f"not a facelab run directory (no {MARKER}): {run}")
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"unreadable {marker}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise RunError(f"not a facelab run directory (foreign {MARKER}): {run}")
    if meta.get("version") != RUN_VERSION:
        raise RunError(
            f"run directory {run} has format version {meta.get('version')}, "
            f"this facelab reads version {RUN_VERSION}; re-create it with `facelab run`"
        )
    return run
