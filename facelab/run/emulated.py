"""A day's search results carried onto an emulated system's score scale (``--system``).

The pipeline searches the twin's embeddings as always; with a
:class:`~facelab.search.transfer.ScoreTransfer` (built from a system profile by
:mod:`facelab.profiles.emulate`) each candidate's cosine is mapped within its class, mated or
not, and each sighting's candidates are re-ranked by the mapped score. Whether a candidate is
mated comes from the simulation itself: the person behind each sighting (the day's
:data:`~facelab.run.sinks.SIGHTING_TRUTH` rows, which the run writes and never reads back) and
the identity behind each watchlist entry (the world's watchlist, joined on the entry's label).

The impostor map is matched on the twin's own distribution of a non-mated search's maximum
impostor score against the run's enrolled watchlist (:mod:`facelab.search.transfer`), so it is
built here, once the watchlist is enrolled (:func:`complete_transfer`): :func:`probe_count`
non-mated twin probes per capture quality of the run's cameras, of fresh identities (ids from
:data:`PROBE_ID_BASE`, no resident's and no watchlist entry's), drawn by the run's twin sampler
(seeded by the scenario's seed, so the map is a function of the scenario), are searched against
the watchlist. The map is recorded in ``run.json`` (``system.impostor_map``); a resumed run
reads it back there instead of sampling again, so resume and the Ray engine (whose days are
rescored in the driver, here) give the same scores as one uninterrupted local run.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np

from facelab.run import schema
from facelab.search.transfer import ScoreTransfer
from facelab.search.watchlist import SearchResult

log = logging.getLogger(__name__)

#: First identity id of the map's non-mated probes (far above any world's person ids).
PROBE_ID_BASE = 1 << 40

#: Comparisons (probes × watchlist entries) the map's sample aims at, and the probe bounds.
PROBE_COMPARISONS = 300_000_000
PROBES_MIN, PROBES_MAX = 20_000, 50_000

#: Probes searched per call (bounds the memory of one search).
_CHUNK = 8192


def probe_count(watchlist: int) -> int:
    """Non-mated probes per twin quality for a watchlist of ``watchlist`` entries:
    :data:`PROBE_COMPARISONS` / N, within [:data:`PROBES_MIN`, :data:`PROBES_MAX`]."""
    return int(np.clip(PROBE_COMPARISONS // max(int(watchlist), 1), PROBES_MIN, PROBES_MAX))


def max_impostor_scores(sampler, watch, quality: str, n: int) -> np.ndarray:
    """float64 (n,): the top cosine of each of ``n`` non-mated twin probes of ``quality``
    (identities ``PROBE_ID_BASE + 0 .. n-1``, one sighting each) against ``watch``."""
    ids = PROBE_ID_BASE + np.arange(n, dtype=np.int64)
    out = np.empty(n, np.float64)
    for a in range(0, n, _CHUNK):
        emb = sampler.sightings(ids[a : a + _CHUNK], ids[a : a + _CHUNK], quality)
        out[a : a + _CHUNK] = watch.search(emb, 1).scores[:, 0]
    return out


def complete_transfer(transfer: ScoreTransfer, store, sampler, twin_quality) -> ScoreTransfer:
    """``transfer`` with its impostor map: the one ``run.json`` records (a resumed run), else
    built from sampled maxima against the store's enrolled watchlist and recorded there.

    Parameters
    ----------
    store : RunStore
        The run, its watchlist enrolled.
    sampler : facelab.twin.sampler.TwinSampler
        The run's twin sampler (the scenario's seed).
    twin_quality : sequence of str
        Each camera's twin capture quality.
    """
    rec = store.meta.get("system", {}).get("impostor_map")
    if rec is not None:
        return transfer.with_record(rec)
    watch = store.load_watchlist()
    if len(watch) == 0:  # nothing is ever searched, so nothing is mapped
        return transfer
    n = probe_count(len(watch))
    t0 = time.perf_counter()
    samples = {q: max_impostor_scores(sampler, watch, q, n) for q in sorted(set(twin_quality))}
    seconds = time.perf_counter() - t0
    probes = {"per_quality": n, "id_base": PROBE_ID_BASE, "seed": sampler.seed}
    done = transfer.with_impostor_map(twin_quality, samples, len(watch), probes)
    log.info("impostor map: %d probes x %d qualities against %d entries in %.1f s",
             n, len(samples), len(watch), seconds)  # fmt: skip
    _record(store, done.impostor_record())
    return done


def _record(store, rec: dict) -> None:
    """Write the impostor map into ``run.json``'s ``system`` record (atomically)."""
    from facelab.fileio import write_atomic
    from facelab.run.store import MARKER

    meta = json.loads((store.path / MARKER).read_text())
    meta.setdefault("system", {})["impostor_map"] = rec
    write_atomic(store.path / MARKER, json.dumps(meta, indent=2, sort_keys=True))
    store.meta = meta


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
