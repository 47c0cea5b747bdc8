"""A day's search results carried onto an emulated system's score scale (``--system``).

The pipeline searches the twin's embeddings as always; with a
:class:`~facelab.search.transfer.ScoreTransfer` (built from a system profile by
:mod:`facelab.profiles.emulate`) each candidate's cosine is mapped within its class, mated or
not, and each sighting's candidates are re-ranked by the mapped score. Whether a candidate is
mated comes from the simulation itself: the person behind each sighting (the day's
:data:`~facelab.run.sinks.SIGHTING_TRUTH` rows, which the run writes and never reads back) and
the identity behind each watchlist entry (the world's watchlist, joined on the entry's label).
"""

from __future__ import annotations

import numpy as np

from facelab.run import schema
from facelab.search.transfer import ScoreTransfer
from facelab.search.watchlist import SearchResult


def watch_identities(store, world) -> np.ndarray:
    """Identity of each watchlist id (index = watch id; -1 for ids of no scenario entry)."""
    by_label = {e.label: e.identity for e in world.watchlist}
    entries = schema.watchlist_entries(store.db, include_removed=True)
    out = np.full(max((e.id for e in entries), default=0) + 1, -1, np.int64)
    for e in entries:
        out[e.id] = by_label.get(e.label, -1)
    return out


def rescore(
    transfer: ScoreTransfer,
    res: SearchResult,
    sighting_truth: np.ndarray,
    sighting_ids: np.ndarray,
    cameras: np.ndarray,
    identity: np.ndarray,
) -> SearchResult:
    """``res`` (rows in ``sighting_ids`` order) with scores on the system's scale, re-ranked.

    Parameters
    ----------
    sighting_truth : structured ndarray of SIGHTING_TRUTH
        The day's rows (any order); a sighting of no one (person -1) is never mated.
    sighting_ids, cameras : int64 ndarray, shape (m,)
        Each result row's sighting and camera index.
    identity : int64 ndarray
        :func:`watch_identities`.
    """
    order = np.argsort(sighting_truth["sighting"])
    pos = np.searchsorted(sighting_truth["sighting"], sighting_ids, sorter=order)
    person = sighting_truth["person"][order[np.minimum(pos, len(order) - 1)]]
    ids = res.ids
    known = (ids >= 0) & (ids < len(identity))
    ident = np.where(known, identity[np.clip(ids, 0, len(identity) - 1)], -1)
    mated = (ident == person[:, None]) & (person[:, None] >= 0)
    new_ids, scores = transfer.rerank(ids, res.scores, mated, cameras)
    return SearchResult(scores=scores, ids=new_ids)
