"""The watchlist search: enrolled identities, exact (``flat``) or IVF search, batched alerting.

:class:`WatchlistIndex` wraps one FAISS inner-product index keyed by external (watchlist) ids.
A candidate matches when ``score >= threshold`` under the one rule of
:mod:`facelab.search.percent` (the threshold rounded *up* to float32,
:func:`~facelab.search.percent.threshold32`), so an alert's percent always reaches the percent
threshold it was raised at.

Result types are frozen dataclasses of numpy arrays: :class:`SearchResult` (top-k) and
:class:`AlertCandidates` (flat arrays of every candidate at or above a threshold).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from facelab.errors import ConfigError, DataError, RunError
from facelab.search.index import (
    EMBEDDING_DIM,
    IVF_MIN_TRAIN,
    PAD_ID,
    PAD_SCORE,
    RANGE_CHUNK,
    as_unit_rows,
    check_embeddings,
    check_ids,
    check_k,
    ivf_nlist,
    lims_to_rows,
    pad_results,
    read_index,
    split_ranges,
    stored_ids,
    write_index_atomic,
)
from facelab.search.percent import at_or_above, faiss_ip_radius, threshold32

log = logging.getLogger(__name__)

WATCHLIST_KINDS = ("flat", "ivf")
"""Index kinds of a watchlist: exact inner product, or IVF (see :class:`WatchlistIndex`)."""

WATCHLIST_IVF_THRESHOLD = 1_000_000
"""``WatchlistIndex.build(kind="auto")`` picks ``"ivf"`` from this many enrolled vectors up.

Exact (``flat``) below, so that watchlists of 100,000 entries are searched exactly: there, IVF
with 16 probes raised only 45 % of the exact alerts, and probing enough lists to raise >= 95 %
of them was slower than exact search (one sgemm; IVF scans lists query by query): 0.11 M
events/min against 0.31 M exact at 120,000 twin entries (benchmarks/README.md, "Alert events
per minute"). A flat index of 10^6 entries takes 520 MB."""

WATCHLIST_PROBE_FRACTION = 0.3
"""Share of an IVF watchlist's lists probed per query unless an ``nprobe`` is given.

Measured as the share of the exact alerts IVF raises too, with twin photos as entries and twin
sightings as events (threshold cosine 0.6, top 5): at 10,000 entries 25 / 30 / 35 % of the
lists raised 95.5 / 97.1 / 98.3 % (a smaller sample: 92.7 % at 25 %); at 120,000, 20 / 25 /
35 % raised 95.1 / 97.0 / 98.8 %."""

ALERT_TOP_K = 5
"""Candidates per query that :meth:`WatchlistIndex.alert_batch` keeps before thresholding."""

ALERT_CHUNK = 65_536
"""Queries per faiss call in :meth:`WatchlistIndex.alert_batch` (bounds the temporary memory)."""


def watchlist_nprobe(nlist: int) -> int:
    """Lists an IVF watchlist of ``nlist`` lists probes by default
    (:data:`WATCHLIST_PROBE_FRACTION` of them)."""
    return max(1, min(nlist, math.ceil(WATCHLIST_PROBE_FRACTION * nlist)))


@dataclass(frozen=True)
class SearchResult:
    """Top-k candidates per query, best first.

    Attributes
    ----------
    scores : numpy.ndarray, shape (m, k), dtype float32
        Cosine scores, descending along each row; empty slots hold ``-inf``.
    ids : numpy.ndarray, shape (m, k), dtype int64
        External ids; empty slots hold ``-1``.
    """

    scores: np.ndarray
    ids: np.ndarray


@dataclass(frozen=True)
class AlertCandidates:
    """Every (query, watchlist entry) pair within a query's top-k that scores at or above T.

    Rows are ordered by query row, then rank. All arrays have shape ``(n,)``.

    Attributes
    ----------
    query_row : numpy.ndarray, dtype int64
        Row of the query batch.
    watch_id : numpy.ndarray, dtype int64
        Id of the watchlist entry.
    score : numpy.ndarray, dtype float32
        Cosine score, ``>= threshold``.
    rank : numpy.ndarray, dtype int32
        0 for the query's best candidate, 1 for the next, ...
    """

    query_row: np.ndarray
    watch_id: np.ndarray
    score: np.ndarray
    rank: np.ndarray

    def __len__(self) -> int:
        return int(self.query_row.shape[0])


class WatchlistIndex:
    """The enrolled watchlist: exact or IVF inner-product search keyed by external ids.

    ``kind="flat"`` wraps ``IndexIDMap2(IndexFlatIP(d))``: exact scores. ``kind="ivf"`` is an
    ``IndexIVFFlat`` (inner product, spherical k-means) trained on the first enrolment batch,
    with about ``4 sqrt(n)`` lists, holding the external ids natively. It is *not* wrapped in
    ``IndexIDMap2``: ``IndexIDMap*.remove_ids`` assumes the inner index renumbers its rows the
    way a flat index does, which IVF does not, so ids returned after a removal would be wrong.
    Worth it, if at all, from about :data:`WATCHLIST_IVF_THRESHOLD` entries; recall then
    depends on ``nprobe`` (default :data:`WATCHLIST_PROBE_FRACTION` of the lists).

    Inputs are validated (:func:`~facelab.search.index.check_embeddings`) and rows not already unit length are
    L2-normalised. Not thread-safe for concurrent writes; faiss parallelises each call itself.

    Parameters
    ----------
    d : int
        Embedding width.
    kind : {"flat", "ivf"}
    nlist : int, optional
        Inverted lists for ``kind="ivf"``; default :func:`~facelab.search.index.ivf_nlist` of the first
        batch.
    nprobe : int, optional
        Lists visited per query for ``kind="ivf"``; default :func:`watchlist_nprobe` of the
        lists.
    """

    def __init__(
        self,
        d: int = EMBEDDING_DIM,
        kind: str = "flat",
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
    ) -> None:
        if kind not in WATCHLIST_KINDS:
            raise ConfigError(
                f"unknown watchlist index kind {kind!r}; choose one of {WATCHLIST_KINDS}"
            )
        if not isinstance(d, (int, np.integer)) or d < 1:
            raise ConfigError(f"embedding width d must be a positive integer, got {d!r}")
        self.d = int(d)
        self.kind = kind
        if nprobe is not None and (not isinstance(nprobe, (int, np.integer)) or nprobe < 1):
            raise ConfigError(f"nprobe must be an integer >= 1, got {nprobe!r}")
        self._nlist = nlist
        self._nprobe = None if nprobe is None else int(nprobe)
        self._ids = np.empty(0, np.int64)
        self._gpu: faiss.Index | None = None  # search-only GPU copy (see use_device)
        self._index: faiss.Index | None = (
            faiss.IndexIDMap2(faiss.IndexFlatIP(self.d)) if kind == "flat" else None
        )

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        ids,
        emb,
        *,
        kind: str = "auto",
        d: int = EMBEDDING_DIM,
        nprobe: int | None = None,
    ) -> WatchlistIndex:
        """Create and fill a watchlist in one go.

        Parameters
        ----------
        ids : array_like, shape (n,), int64
        emb : array_like, shape (n, d), float32
        kind : {"auto", "flat", "ivf"}
            ``"auto"``: ``"ivf"`` from :data:`WATCHLIST_IVF_THRESHOLD` entries up, else ``"flat"``.
        d : int
        nprobe : int, optional
            Lists probed by an IVF watchlist; default :func:`watchlist_nprobe`.

        Returns
        -------
        WatchlistIndex
        """
        if kind == "auto":
            n = np.shape(emb)[0] if np.ndim(emb) >= 1 else 0
            kind = "ivf" if n >= WATCHLIST_IVF_THRESHOLD else "flat"
            log.info("watchlist of %d entries: %s index", n, kind)
        wl = cls(d=d, kind=kind, nprobe=nprobe)
        wl.add(ids, emb)
        return wl

    def _train_ivf(self, emb: np.ndarray) -> None:
        n = emb.shape[0]
        if n < IVF_MIN_TRAIN:
            raise DataError(
                f"an ivf watchlist is trained on its first enrolment batch, which needs at least "
                f"{IVF_MIN_TRAIN} vectors (got {n}); use kind='flat' below "
                f"{WATCHLIST_IVF_THRESHOLD} entries"
            )
        nlist = self._nlist or ivf_nlist(n)
        ivf = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(self.d), self.d, nlist, faiss.METRIC_INNER_PRODUCT
        )
        ivf.cp.spherical = True
        ivf.cp.min_points_per_centroid = 1  # we size nlist ourselves; keep faiss quiet
        ivf.train(emb)
        ivf.nprobe = min(self._nprobe or watchlist_nprobe(nlist), nlist)
        self._index = ivf
        log.info("trained ivf watchlist: %d lists on %d vectors, nprobe %d", nlist, n, ivf.nprobe)

    # ---- contents ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"WatchlistIndex(d={self.d}, kind={self.kind!r}, n={len(self)})"

    @property
    def faiss_index(self) -> faiss.Index | None:
        """The wrapped faiss index (``None`` for an IVF watchlist before its first add)."""
        return self._index

    @property
    def nprobe(self) -> int | None:
        """Inverted lists visited per query (``kind="ivf"``; ignored by ``"flat"``); ``None``
        until an IVF watchlist without an explicit ``nprobe`` is trained."""
        if self.kind == "ivf" and self._index is not None:
            return int(self._index.nprobe)
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"nprobe must be an integer >= 1, got {value!r}")
        self._nprobe = int(value)
        if self.kind == "ivf" and self._index is not None:
            self._index.nprobe = min(self._nprobe, self._index.nlist)

    def ids(self) -> np.ndarray:
        """Enrolled ids, shape (n,), int64 (a copy, in storage order)."""
        return self._ids.copy()

    def add(self, ids, emb) -> None:
        """Enrol vectors under external ids.

        Parameters
        ----------
        ids : array_like, shape (n,), int64
            Non-negative, unique, and not enrolled yet.
        emb : array_like, shape (n, d), float32

        Raises
        ------
        DataError
            Invalid embeddings or ids, or ids already enrolled.
        """
        emb = as_unit_rows(emb, self.d, "watchlist embeddings")
        ids = check_ids(ids, emb.shape[0], "watchlist ids")
        if ids.size == 0:
            return
        present = np.isin(ids, self._ids)
        if present.any():
            dup = ids[present]
            raise DataError(
                f"watchlist ids: {dup.size} already enrolled (e.g. {dup[0]}); remove them first"
            )
        if self._index is None:
            self._train_ivf(emb)
        self._index.add_with_ids(emb, ids)
        self._ids = np.concatenate([self._ids, ids])
        self._gpu = None

    def remove(self, ids) -> int:
        """Remove entries by id; ids not enrolled are ignored.

        Parameters
        ----------
        ids : array_like, shape (r,), int64

        Returns
        -------
        int
            How many entries were removed.
        """
        arr = np.unique(np.asarray(ids, dtype=np.int64).ravel())
        if arr.size == 0 or self._index is None:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(arr)))
        self._gpu = None
        self._ids = self._ids[~np.isin(self._ids, arr)]
        if self._index.ntotal != self._ids.size:  # pragma: no cover - would be a faiss bug
            raise RunError("watchlist index out of step with its ids after remove")
        return removed

    # ---- search -----------------------------------------------------------------------------

    def _empty(self, m: int, k: int) -> SearchResult:
        return SearchResult(
            scores=np.full((m, k), PAD_SCORE, np.float32), ids=np.full((m, k), PAD_ID, np.int64)
        )

    def use_device(self, device: str) -> None:
        """Run :meth:`search` and :meth:`alert_batch` on ``device`` from now on.

        ``"cuda"`` searches a GPU copy (faiss-gpu, the ``gpu`` extra; :class:`DeviceError` when
        it cannot be had); adds, removals and saves keep working on the CPU index, and drop the
        GPU copy, so call this again after changing the watchlist.
        """
        from facelab.vision.device import index_to_device

        self._gpu = None
        if self._index is not None:
            moved = index_to_device(self._index, device)
            self._gpu = moved if moved is not self._index else None

    def search(self, q, k: int) -> SearchResult:
        """Top-k watchlist entries per query.

        Parameters
        ----------
        q : array_like, shape (m, d), float32
        k : int

        Returns
        -------
        SearchResult
            ``scores`` (m, k) float32 descending, ``ids`` (m, k) int64; ``-inf``/``-1`` padded
            when fewer than ``k`` entries are enrolled (or reached by IVF probing).
        """
        k = check_k(k)
        q = as_unit_rows(q, self.d, "queries")
        if len(self) == 0 or q.shape[0] == 0:
            return self._empty(q.shape[0], k)
        scores, ids = (self._gpu or self._index).search(q, k)
        pad_results(scores, ids)
        return SearchResult(scores=scores, ids=ids)

    def range_search(self, q, min_score: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every entry scoring ``>= min_score`` for each query.

        Parameters
        ----------
        q : array_like, shape (m, d), float32
        min_score : float
            Cosine threshold (any float; ``-inf`` matches every entry); a score matches when
            :func:`~facelab.search.percent.at_or_above` it (``>=``, the threshold rounded up
            to float32).

        Returns
        -------
        list of (scores, ids), length m
            Per query: ``scores`` (r,) float32 descending (ties by ascending id), ``ids`` (r,)
            int64.
        """
        t = threshold32(min_score)
        q = as_unit_rows(q, self.d, "queries")
        m = q.shape[0]
        empty = (np.empty(0, np.float32), np.empty(0, np.int64))
        if len(self) == 0:
            return [empty] * m
        out: list[tuple[np.ndarray, np.ndarray]] = []
        radius = faiss_ip_radius(t)
        for start in range(0, m, RANGE_CHUNK):
            block = q[start : start + RANGE_CHUNK]
            lims, scores, ids = self._index.range_search(block, radius)
            qrow = lims_to_rows(lims)
            out.extend(split_ranges(qrow, scores, ids, t, block.shape[0]))
        return out

    def alert_batch(
        self,
        q,
        min_score: float,
        k: int = ALERT_TOP_K,
        *,
        chunk: int = ALERT_CHUNK,
    ) -> AlertCandidates:
        """Batched alerting: candidates within each query's top-k that score ``>= min_score``.

        The hot path for a high event rate: one faiss call per ``chunk`` queries (faiss
        parallelises across queries with OpenMP); no Python loop over queries. A query with
        more than ``k`` entries above the threshold reports its best ``k``.

        Parameters
        ----------
        q : array_like, shape (m, d), float32
        min_score : float
            Cosine threshold (any float; ``-inf`` matches every entry); a score matches when
            :func:`~facelab.search.percent.at_or_above` it (``>=``, the threshold rounded up
            to float32).
        k : int
            Candidates per query considered.
        chunk : int
            Queries per faiss call.

        Returns
        -------
        AlertCandidates
        """
        t = threshold32(min_score)
        k = check_k(k)
        if not isinstance(chunk, (int, np.integer)) or chunk < 1:
            raise ConfigError(f"chunk must be an integer >= 1, got {chunk!r}")
        q = check_embeddings(q, self.d, "queries")
        m = q.shape[0]
        rows, wids, scores, ranks = [], [], [], []
        if len(self):
            for start in range(0, m, chunk):
                block = as_unit_rows(q[start : start + chunk], self.d, "queries")
                dist, lab = (self._gpu or self._index).search(block, k)
                hit = at_or_above(dist, t) & (lab >= 0)
                r, c = np.nonzero(hit)
                rows.append(r.astype(np.int64) + start)
                wids.append(lab[r, c])
                scores.append(dist[r, c])
                ranks.append(c.astype(np.int32))
        if not rows:
            return AlertCandidates(
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty(0, np.float32),
                np.empty(0, np.int32),
            )
        return AlertCandidates(
            query_row=np.concatenate(rows),
            watch_id=np.concatenate(wids),
            score=np.concatenate(scores).astype(np.float32, copy=False),
            rank=np.concatenate(ranks),
        )

    # ---- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the index atomically (see :func:`~facelab.search.index.write_index_atomic`).

        Raises
        ------
        RunError
            Nothing enrolled in an IVF watchlist yet, or the file cannot be written.
        """
        if self._index is None:
            raise RunError(
                f"cannot save {path}: an ivf watchlist holds nothing before its first add"
            )
        return write_index_atomic(self._index, path)

    @classmethod
    def load(cls, path: str | Path, *, nprobe: int | None = None) -> WatchlistIndex:
        """Read a watchlist written by :meth:`save`.

        Parameters
        ----------
        path : str or Path
        nprobe : int, optional
            Override the saved ``nprobe`` of an IVF watchlist.

        Raises
        ------
        RunError
            Missing, corrupt, or not a facelab watchlist (names the file).
        """
        index = read_index(path)
        if isinstance(index, faiss.IndexIDMap2):
            inner = faiss.downcast_index(index.index)
            if not isinstance(inner, faiss.IndexFlat):
                raise RunError(f"{path} is not a facelab watchlist index ({type(inner).__name__})")
            kind, ids = "flat", stored_ids(index)
        elif isinstance(index, faiss.IndexIVFFlat):
            kind, ids = "ivf", stored_ids(index)
        else:
            raise RunError(f"{path} is not a facelab watchlist index ({type(index).__name__})")
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise RunError(f"{path} is not an inner-product index")
        wl = cls(d=index.d, kind=kind)
        wl._index = index
        wl._ids = ids
        if kind == "ivf":
            wl._nprobe = int(index.nprobe)
            if nprobe is not None:
                wl.nprobe = nprobe
        return wl
