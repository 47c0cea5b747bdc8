"""FAISS watchlist index and the helpers every FAISS file of a run shares.

Similarity is cosine on L2-normalised ``float32`` embeddings, computed as an inner product;
a candidate matches when ``score >= threshold`` (ties match), with the threshold rounded to
``float32``, the dtype of the scores.

Contents
--------
- :func:`check_embeddings`, :func:`check_ids`, :func:`l2_normalize`: input validation.
- :func:`write_index_atomic`, :func:`read_index`: crash-safe FAISS files.
- :class:`WatchlistIndex`: enrolled identities, exact (``flat``) or IVF search, batched alerting.

Result types are frozen dataclasses of numpy arrays: :class:`SearchResult` (top-k) and
:class:`AlertCandidates` (flat arrays of every candidate at or above a threshold).
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from facelab.errors import ConfigError, DataError, RunError
from facelab.fileio import fsync_dir

log = logging.getLogger(__name__)

EMBEDDING_DIM = 128
"""Width of SFace embeddings."""

UNIT_TOL = 1e-4
"""Rows whose L2 norm is within this of 1 are used as given (bit for bit); others are normalised."""

PAD_ID = -1
"""Id in a result slot that holds no candidate."""

PAD_SCORE = -np.inf
"""Score in a result slot that holds no candidate (faiss itself writes ``-FLT_MAX``)."""

WATCHLIST_IVF_THRESHOLD = 1_000_000
"""``WatchlistIndex.build(kind="auto")`` picks ``"ivf"`` from this many enrolled vectors up.

Exact (``flat``) below, so that watchlists of 100,000 entries are searched exactly: IVF with
16 probes raised only 45 % of the exact alerts at 100,000 entries (benchmarks/README.md,
"Alert events per minute"), and once it probes enough lists to raise >= 95 % of them it was
*slower* than exact search here: 20 % of the lists (96 % of the alerts) gave 0.11 M events/min
against 0.31 M/min exact at 120,000 twin entries, and half the exact rate at 400,000
(2026-11-22, 2 shared cores, load 3-4, faiss' BLAS on SkylakeX kernels: exact search is one
sgemm, IVF scans lists query by query). A flat index of 10^6 entries takes 520 MB."""

WATCHLIST_PROBE_FRACTION = 0.3
"""Share of an IVF watchlist's lists probed per query unless an ``nprobe`` is given.

Measured with twin photos as entries and twin sightings as events (seed 2020, threshold
cosine 0.6, top 5; 2026-11-22), as the share of the exact alerts IVF raises too. Events of
people drawn from 10^6 (mostly false alerts, the benchmark's workload): at 10,000 entries (256
lists, 65,536 events) 25 / 30 / 35 % of the lists raised 95.5 / 97.1 / 98.3 %; at 120,000
(1,386 lists, 16,384 events) 20 / 25 / 35 % raised 95.1 / 97.0 / 98.8 %. With half the events
of enrolled people: 96.4 % at 20 %, 97.9 % at 25 % (120,000), 96.3 % at 20 % (400,000). The
benchmark's smaller sample at 10,000 (8,192 events) gave 92.7 % at 25 %, hence 30 %."""

IVF_MIN_TRAIN = 1_000
"""An IVF watchlist is trained on its first enrolment batch, which needs at least this many rows."""

IVF_POINTS_PER_LIST = 39
"""Fewest training vectors per inverted list (faiss k-means warns below 39 per centroid)."""

DEFAULT_NPROBE = 16
"""The habitual fixed ``nprobe`` (kept for comparisons). facelab's IVF indexes default to a
share of their lists instead (:data:`WATCHLIST_PROBE_FRACTION`,
:data:`facelab.search.archive.ARCHIVE_PROBE_FRACTION`): 16 lists find too little at scale."""

ALERT_TOP_K = 5
"""Candidates per query that :meth:`WatchlistIndex.alert_batch` keeps before thresholding."""

ALERT_CHUNK = 65_536
"""Queries per faiss call in :meth:`WatchlistIndex.alert_batch` (bounds the temporary memory)."""

RANGE_CHUNK = 16_384
"""Queries per faiss call in the range searches."""


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def check_embeddings(x, d: int | None = EMBEDDING_DIM, name: str = "embeddings") -> np.ndarray:
    """Validate a batch of embeddings and return it as a C-contiguous ``float32`` array.

    Parameters
    ----------
    x : array_like, shape (n, d)
        Real-valued embeddings; ``n`` may be 0.
    d : int or None
        Required width; ``None`` accepts any width >= 1.
    name : str
        What to call the array in error messages.

    Returns
    -------
    numpy.ndarray, shape (n, d), dtype float32, C-contiguous
        ``x`` itself when it already is one, else a converted copy.

    Raises
    ------
    DataError
        Wrong dtype, ndim or width; NaN or infinite values; rows that are all zero.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise DataError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    want = f"(n, {d})" if d is not None else "(n, d)"
    if arr.ndim != 2:
        raise DataError(f"{name}: expected a 2-D array {want}, got shape {arr.shape}")
    if d is not None and arr.shape[1] != d:
        raise DataError(f"{name}: expected shape {want}, got {arr.shape}")
    if arr.shape[1] < 1:
        raise DataError(f"{name}: expected at least one column, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.shape[0] == 0:
        return arr
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{name}: {rows.size} of {arr.shape[0]} rows hold NaN or infinite values "
            f"(first at row {rows[0]})"
        )
    sq = np.einsum("ij,ij->i", arr, arr)
    zero = sq == 0
    if zero.any():
        rows = np.flatnonzero(zero)
        raise DataError(
            f"{name}: {rows.size} of {arr.shape[0]} rows are zero vectors (first at row {rows[0]}); "
            "a zero vector has no direction to compare"
        )
    return arr


def check_ids(ids, n: int, name: str = "ids") -> np.ndarray:
    """Validate external ids and return them as a C-contiguous ``int64`` array.

    Parameters
    ----------
    ids : array_like, shape (n,)
        Non-negative integers, unique within the batch (``-1`` marks empty result slots).
    n : int
        Required length (the number of embedding rows they label).
    name : str
        What to call the array in error messages.

    Returns
    -------
    numpy.ndarray, shape (n,), dtype int64

    Raises
    ------
    DataError
        Wrong dtype, shape, negative or repeated ids.
    """
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise DataError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise DataError(f"{name}: expected shape ({n},) to match the embeddings, got {arr.shape}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise DataError(f"{name}: ids above the int64 range")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise DataError(f"{name}: ids must be >= 0 (-1 marks an empty result slot), got {arr.min()}")
    uniq = np.unique(arr)
    if uniq.size != arr.size:
        srt = np.sort(arr)
        dup = srt[1:][srt[1:] == srt[:-1]]
        raise DataError(f"{name}: {arr.size - uniq.size} repeated ids in the batch (e.g. {dup[0]})")
    return arr


def l2_normalize(x) -> np.ndarray:
    """Return the rows of ``x`` scaled to unit L2 norm.

    Parameters
    ----------
    x : array_like, shape (n, d)
        Finite, non-zero rows.

    Returns
    -------
    numpy.ndarray, shape (n, d), dtype float32
        A new array; ``x`` is left untouched.

    Raises
    ------
    DataError
        As :func:`check_embeddings` (any width).
    """
    arr = check_embeddings(x, d=None, name="embeddings")
    norms = np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64)).astype(np.float32)
    return arr / norms[:, None]


def as_unit_rows(x, d: int = EMBEDDING_DIM, name: str = "embeddings") -> np.ndarray:
    """Validate ``x`` and make its rows unit length, without copying rows that already are.

    Rows whose norm is within :data:`UNIT_TOL` of 1 are passed through bit for bit, so a
    score computed by the caller on the same vectors is the score faiss returns.

    Parameters
    ----------
    x : array_like, shape (n, d)
    d : int
    name : str

    Returns
    -------
    numpy.ndarray, shape (n, d), dtype float32, C-contiguous
    """
    arr = check_embeddings(x, d=d, name=name)
    if arr.shape[0] == 0:
        return arr
    norms = np.sqrt(np.einsum("ij,ij->i", arr, arr, dtype=np.float64))
    off = np.abs(norms - 1.0) > UNIT_TOL
    if not off.any():
        return arr
    out = arr.copy()
    out[off] /= norms[off, None].astype(np.float32)
    return out


def check_k(k) -> int:
    """Return ``k`` as an int >= 1, or raise :class:`DataError`."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise DataError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def threshold32(min_score) -> np.float32:
    """The threshold as the ``float32`` that scores are compared with (``score >= T`` matches)."""
    try:
        t = np.float32(min_score)
    except (TypeError, ValueError):
        raise DataError(f"min_score must be a number, got {min_score!r}") from None
    if not np.isfinite(t):
        raise DataError(f"min_score must be finite, got {min_score!r}")
    return t


def range_radius(t: np.float32) -> float:
    """Radius for faiss' inner-product ``range_search`` that keeps every score ``>= t``.

    faiss keeps ``score > radius`` for inner products; the next float32 below ``t`` makes the
    test inclusive at ``t``. Callers still filter ``score >= t`` so the rule never depends on it.
    """
    return float(np.nextafter(np.float32(t), np.float32(-np.inf)))


def pad_results(scores: np.ndarray, ids: np.ndarray) -> None:
    """In place: give empty slots (``ids < 0``) the score :data:`PAD_SCORE`."""
    scores[ids < 0] = PAD_SCORE


def lims_to_rows(lims: np.ndarray) -> np.ndarray:
    """Query row of each result of a faiss range search, from its ``lims`` (shape (m + 1,))."""
    counts = np.diff(np.asarray(lims, dtype=np.int64))
    return np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)


def watchlist_nprobe(nlist: int) -> int:
    """Lists an IVF watchlist of ``nlist`` lists probes by default
    (:data:`WATCHLIST_PROBE_FRACTION` of them)."""
    return max(1, min(nlist, math.ceil(WATCHLIST_PROBE_FRACTION * nlist)))


def ivf_nlist(n: int) -> int:
    """Inverted lists for ``n`` training vectors: about ``4 sqrt(n)``, with >= 39 vectors per list."""
    return max(1, min(int(round(4 * math.sqrt(n))), n // IVF_POINTS_PER_LIST))


# --------------------------------------------------------------------------------------------
# crash-safe files
# --------------------------------------------------------------------------------------------

TMP_SUFFIX = ".tmp"


def write_index_atomic(index: faiss.Index, path: str | Path) -> Path:
    """Write a CPU faiss index so that ``path`` holds either the old or the new file, whole.

    The index goes to a temporary file in the same folder (``.NAME.XXXX.tmp``), which is
    flushed and fsync'ed, renamed over ``path`` with :func:`os.replace`, and the folder is
    fsync'ed so the rename itself survives a crash. faiss writes the temporary file directly
    (no second in-memory copy of a large shard, as ``serialize_index`` would make).

    Parameters
    ----------
    index : faiss.Index
        A CPU index (move GPU indexes back with ``faiss.index_gpu_to_cpu`` first).
    path : str or Path
        Destination; its folder must exist.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RunError
        The file cannot be written (names the file).
    """
    path = Path(path)
    folder = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise RunError(f"cannot write index file {path}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        _unlink_quietly(Path(tmp))
        reason = _faiss_reason(exc) if isinstance(exc, RuntimeError) else (exc.strerror or str(exc))
        raise RunError(f"cannot write index file {path}: {reason}") from None
    except BaseException:
        _unlink_quietly(Path(tmp))
        raise
    fsync_dir(folder)
    log.debug("wrote %s (%d vectors)", path, index.ntotal)
    return path


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


_FAISS_WHERE = re.compile(r"^Error in .*? at \S+:\d+: (?:Error: )?")


def _faiss_reason(exc: BaseException) -> str:
    """faiss' message without its C++ location prefix, on one line."""
    msg = " ".join(str(exc).split())
    return _FAISS_WHERE.sub("", msg) or type(exc).__name__


def read_index(path: str | Path, *, mmap: bool = False) -> faiss.Index:
    """Read a faiss index file.

    Parameters
    ----------
    path : str or Path
    mmap : bool
        Map the vector data read-only instead of reading it (``faiss.IO_FLAG_MMAP_IFC``).
        A mapped index must never be added to: faiss aborts the process. Use it for search only.

    Returns
    -------
    faiss.Index

    Raises
    ------
    RunError
        The file is missing, unreadable, truncated or not a faiss index (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise RunError(f"index file not found: {path}")
    flags = faiss.IO_FLAG_MMAP_IFC if mmap else 0
    try:
        return faiss.read_index(str(path), flags)
    except (RuntimeError, MemoryError) as exc:  # MemoryError: a garbled size field
        raise RunError(
            f"corrupt or unreadable index file {path}: {_faiss_reason(exc)}"
        ) from None


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# watchlist
# --------------------------------------------------------------------------------------------

WATCHLIST_KINDS = ("flat", "ivf")


def _ivf_list_ids(ivf: faiss.IndexIVF) -> np.ndarray:
    """All ids stored in the inverted lists of ``ivf``, shape (ntotal,), int64."""
    inv = ivf.invlists
    parts = []
    for lst in range(ivf.nlist):
        size = inv.list_size(lst)
        if size:
            ptr = inv.get_ids(lst)
            parts.append(faiss.rev_swig_ptr(ptr, size).copy())
            inv.release_ids(lst, ptr)
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def stored_ids(index: faiss.Index) -> np.ndarray:
    """External ids held by an ``IndexIDMap2`` or an IVF index with its own ids.

    Parameters
    ----------
    index : faiss.Index

    Returns
    -------
    numpy.ndarray, shape (ntotal,), dtype int64
        In storage order.
    """
    if isinstance(index, (faiss.IndexIDMap2, faiss.IndexIDMap)):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIVF):
        return _ivf_list_ids(index).astype(np.int64)
    raise DataError(f"{type(index).__name__} holds no external ids")


class WatchlistIndex:
    """The enrolled watchlist: exact or IVF inner-product search keyed by external ids.

    ``kind="flat"`` wraps ``IndexIDMap2(IndexFlatIP(d))``: exact scores. ``kind="ivf"`` is an
    ``IndexIVFFlat`` (inner product, spherical k-means) trained on the first enrolment batch,
    with about ``4 sqrt(n)`` lists, holding the external ids natively. It is *not* wrapped in
    ``IndexIDMap2``: ``IndexIDMap*.remove_ids`` assumes the inner index renumbers its rows the
    way a flat index does, which IVF does not, so ids returned after a removal would be wrong.
    Worth it, if at all, from about :data:`WATCHLIST_IVF_THRESHOLD` entries; recall then
    depends on ``nprobe`` (default :data:`WATCHLIST_PROBE_FRACTION` of the lists).

    Inputs are validated (:func:`check_embeddings`) and rows not already unit length are
    L2-normalised. Not thread-safe for concurrent writes; faiss parallelises each call itself.

    Parameters
    ----------
    d : int
        Embedding width.
    kind : {"flat", "ivf"}
    nlist : int, optional
        Inverted lists for ``kind="ivf"``; default :func:`ivf_nlist` of the first batch.
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
            raise ConfigError(f"unknown watchlist index kind {kind!r}; choose one of {WATCHLIST_KINDS}")
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
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.d), self.d, nlist, faiss.METRIC_INNER_PRODUCT)
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
            Threshold, rounded to float32; a score equal to it matches.

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
        radius = range_radius(t)
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
            Threshold, rounded to float32; a score equal to it matches.
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
                hit = (dist >= t) & (lab >= 0)
                r, c = np.nonzero(hit)
                rows.append(r.astype(np.int64) + start)
                wids.append(lab[r, c])
                scores.append(dist[r, c])
                ranks.append(c.astype(np.int32))
        if not rows:
            return AlertCandidates(
                np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.int32)
            )
        return AlertCandidates(
            query_row=np.concatenate(rows),
            watch_id=np.concatenate(wids),
            score=np.concatenate(scores).astype(np.float32, copy=False),
            rank=np.concatenate(ranks),
        )

    # ---- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the index atomically (see :func:`write_index_atomic`).

        Raises
        ------
        RunError
            Nothing enrolled in an IVF watchlist yet, or the file cannot be written.
        """
        if self._index is None:
            raise RunError(f"cannot save {path}: an ivf watchlist holds nothing before its first add")
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


def split_ranges(qrow, scores, ids, t, m, extra=None):
    """Group flat range-search results by query, keep ``score >= t``, best first.

    Parameters
    ----------
    qrow : numpy.ndarray, shape (r,), int
        Query row of each result.
    scores : numpy.ndarray, shape (r,), float32
    ids : numpy.ndarray, shape (r,), int64
    t : numpy.float32
        Threshold.
    m : int
        Number of queries.
    extra : numpy.ndarray, shape (r,), optional
        A further per-result array (e.g. the day) carried along.

    Returns
    -------
    list, length m
        Per query ``(scores, ids)`` or ``(scores, ids, extra)``, sorted by score descending,
        ties by ascending id.
    """
    keep = scores >= t
    qrow, scores, ids = qrow[keep], scores[keep], ids[keep]
    if extra is not None:
        extra = extra[keep]
    order = np.lexsort((ids, -scores, qrow))
    qrow, scores, ids = qrow[order], scores[order], ids[order]
    if extra is not None:
        extra = extra[order]
    bounds = np.searchsorted(qrow, np.arange(m + 1))
    out = []
    for i in range(m):
        a, b = bounds[i], bounds[i + 1]
        if extra is None:
            out.append((scores[a:b], ids[a:b]))
        else:
            out.append((scores[a:b], ids[a:b], extra[a:b]))
    return out
