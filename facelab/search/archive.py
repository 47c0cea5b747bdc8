"""The day-sharded sighting archive: one FAISS file per simulated day.

``root/day-0007.faiss`` holds every archived embedding of day 7, keyed by external (sighting)
ids. Retention drops whole days: :meth:`DayShardArchive.drop_day` unlinks the file, so no byte
of a purged embedding stays in the archive. Files are written atomically
(:func:`facelab.search.index.write_index_atomic`); a stale temporary file left by a crash (it holds
embeddings too) is removed when the archive is opened, which assumes a single writer.

Shard kinds (all inner product on L2-normalised vectors, i.e. cosine):

- ``flat``: ``IndexIDMap2(IndexFlatIP)``; exact scores.
- ``sq8``: ``IndexIDMap2(IndexScalarQuantizer(QT_8bit))``; 8-bit codes, scores off by up to ~0.01.
- ``ivf-flat``: ``IndexIVFFlat`` holding the ids itself; exact scores, recall set by ``nprobe``.
- ``ivf-sq8``: ``IndexIVFScalarQuantizer(QT_8bit)`` (residuals to the list centroid, 8 bits a
  dimension) holding the ids itself; 136 bytes a vector like ``sq8`` but without
  ``IndexIDMap2``'s in-memory id maps, and only the probed lists are scanned.
- ``ivf-pq``: ``IndexIVFPQ`` (``pq_m`` = 16 or 32 bytes a vector) holding the ids itself; PQ
  score estimates. With ``refine=True``: ``IndexIDMap2(IndexRefineFlat(IndexIVFPQ))``, which
  keeps the full vectors too and re-ranks ``k * k_factor`` candidates with exact scores.

IVF shards are trained on their own day's vectors when :meth:`~DayShardArchive.add_day`
builds them, so they are built in one go; ``flat`` and ``sq8`` shards can also be extended
with :meth:`~DayShardArchive.append`. The ``sq8`` quantiser covers the fixed range [-1, 1] of a
unit vector's components (no training data needed, nothing appended is ever clipped). A day
with too few vectors to train an IVF shard is stored ``flat`` (``sq8`` for ``ivf-sq8``; logged).
IVF training is capped (:data:`IVF_TRAIN_POINTS_PER_LIST` points a list, drawn with a fixed
seed; :data:`IVF_TRAIN_NITER` k-means iterations): a 333,333-vector ``ivf-sq8`` shard built
in 19 s instead of 64 s with faiss' defaults, with the same recall (2 cores, seed 31).

IVF shards probe :data:`ARCHIVE_PROBE_FRACTION` of their lists unless an ``nprobe`` is given:
a photo and a camera sighting of one person score only about 0.6, so their nearest lists often
differ and recall@10 >= 0.95 needs about a third of the lists (measured, see the constant).

IVF indexes hold the ids themselves rather than sitting under ``IndexIDMap2``, because
``IndexIDMap2.remove_ids`` over an IVF index silently returns wrong ids afterwards (IVF does not
renumber its rows the way the flat storage does). HNSW is never used: it cannot ``remove_ids``,
so nothing built on it could ever be purged of one person's vectors.

Searching and threads: a small query batch (one photo: the retrospective search) is searched
over the day shards concurrently by a pool of :data:`SEARCH_THREADS` threads (faiss releases
the GIL), each worker limited to one OpenMP thread (``omp_set_num_threads`` is per calling
thread in the OpenMP runtime faiss ships, libgomp), so the pool never oversubscribes the
cores. Larger batches are searched shard after shard, each faiss call using every core across
its queries. Either way the result is the same, byte for byte: the per-shard results are
merged in day order. The shard cache is shared by the threads and guarded by a lock; a shard
is loaded at most once at a time.

Memory of the cache (:data:`DEFAULT_CACHE_SHARDS` shards, the retention window): with
``mmap=True`` (the default) faiss maps the codes of ``flat`` and ``sq8`` shards and the inverted
lists (codes and ids) of IVF shards, so they live in the page cache (counted in RSS once
touched, but given back under memory pressure); ``IndexIDMap2``'s id maps (~47 bytes a vector,
``flat`` and ``sq8``) and IVF centroids are heap. RSS growth of a fresh process after opening
one mapped 4 x 10^5-vector shard and searching it once: 8 bytes a vector for ``ivf-sq8`` (only
the probed lists are touched), 193 for ``sq8`` (id maps plus every code, as a full scan reads
them). At 10^8 sightings a fully cached 30-day window is about 13.6 GB of codes either way,
plus ~4.7 GB of id maps for ``sq8``.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from facelab.errors import ConfigError, DataError, RunError
from facelab.fileio import fsync_dir
from facelab.search.index import (
    EMBEDDING_DIM,
    IVF_MIN_TRAIN,
    PAD_ID,
    PAD_SCORE,
    RANGE_CHUNK,
    as_unit_rows,
    check_ids,
    check_k,
    ivf_nlist,
    lims_to_rows,
    pad_results,
    range_radius,
    read_index,
    split_ranges,
    stored_ids,
    threshold32,
    write_index_atomic,
)
from facelab.config.scenario import ARCHIVE_KINDS, DEFAULT_RETENTION_DAYS

log = logging.getLogger(__name__)

__all__ = [
    "ARCHIVE_KINDS",
    "ArchiveResult",
    "DayShardArchive",
    "ShardInfo",
    "bytes_per_vector",
    "default_nprobe",
    "shard_kind",
]

APPENDABLE_KINDS = ("flat", "sq8")
"""Shard kinds that :meth:`DayShardArchive.append` can extend (no per-day training)."""

SMALL_DAY_KIND = {"ivf-flat": "flat", "ivf-pq": "flat", "ivf-sq8": "sq8"}
"""What a day with too few vectors to train its IVF kind is stored as: ``flat`` for
``ivf-flat`` and ``ivf-pq`` (as ever), ``sq8`` for ``ivf-sq8`` (the same 8-bit codes a vector)."""

SHARD_NAME = "day-{day:04d}.faiss"
_SHARD_RE = re.compile(r"^day-(\d{4,})\.faiss$")
_TMP_RE = re.compile(r"^\.day-\d{4,}\.faiss\..+\.tmp$")

DEFAULT_CACHE_SHARDS = DEFAULT_RETENTION_DAYS
"""Loaded shards kept in memory (least recently used evicted); ``None`` keeps all.

At least the default retention window (30 days), so that searching the whole window does not
cycle the cache (with 8, a 30-day search re-opened most shards every time: 2-20x slower at
10^6 sightings). :meth:`facelab.run.store.RunStore.archive` raises it to a longer window. Memory:
see the module docstring."""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


SEARCH_THREADS = usable_cpus()
"""Default size of the pool that searches day shards concurrently (the usable CPUs)."""

PARALLEL_MAX_QUERIES = 16
"""Query batches up to this size are searched over the shards concurrently, one OpenMP thread
per shard; larger ones shard after shard, faiss parallelising over the queries. Below faiss'
``distance_compute_blas_threshold`` (20), so a pool worker never enters BLAS."""

ARCHIVE_PROBE_FRACTION = 0.35
"""Share of an IVF shard's lists probed per query when no ``nprobe`` is given.

Measured with twin sightings and photos (the archive benchmark's data, seed 31, 100 photos;
recall@10 against exact search; 2026-11-22): ``ivf-sq8`` needed 32 of 85 lists (38 %, recall
0.960) for 10^5 sightings in 30 day shards; 256 of 730 lists (35 %) gave 0.962 over 4 day
shards of a 10^6 archive (0.982 over all 30 in the benchmark's raw-faiss run), and 25 % gave
0.960 (35 %: 0.974) for one shard of 333,333 (2,309 lists, a day of a 10^7 archive): the share
needed falls slowly as shards grow. 16 lists (the faiss habit) found 62 % of the exact top-10
at 10^6. See also :data:`ARCHIVE_MIN_NPROBE`."""

ARCHIVE_MIN_NPROBE = 32
"""Fewest lists the fractional default probes: small shards need a larger share (10^5
sightings, 85 lists a shard: recall@10 0.956 at 30 lists, 0.960 at 32)."""

IVF_TRAIN_POINTS_PER_LIST = 64
"""IVF k-means trains on at most this many vectors a list (faiss' default is 256)."""

IVF_TRAIN_NITER = 10
"""k-means iterations of IVF training (faiss' default is 25)."""

IVF_TRAIN_SEED = 20_261_122
"""Seed of the training subsample, combined with the day (deterministic shards)."""

PQ_M_CHOICES = (16, 32)
"""Sub-quantizers allowed for ``ivf-pq`` (16 or 32 bytes per code at 8 bits each)."""

PQ_NBITS = 8
"""Bits per PQ sub-quantizer code."""

PQ_MIN_TRAIN = 2_560
"""Fewest vectors a day needs for an ``ivf-pq`` shard (10 per PQ centroid); fewer go ``flat``."""

REFINE_K_FACTOR = 8
"""``ivf-pq`` with refine re-ranks ``k * REFINE_K_FACTOR`` PQ candidates with exact scores."""

SQ_RANGE = 1.0
"""``sq8`` codes cover [-SQ_RANGE, SQ_RANGE] in every dimension (a unit vector's components)."""


def bytes_per_vector(
    kind: str, d: int = EMBEDDING_DIM, *, pq_m: int = 16, refine: bool = False
) -> int:
    """Bytes one archived vector takes in a shard file, and about as much in memory.

    Codes plus ids; per-shard constants (IVF centroids, PQ codebooks, SQ ranges) are left out,
    and so is ``IndexIDMap2``'s in-memory reverse hash map (tens of bytes per vector, not on
    disk).

    Parameters
    ----------
    kind : {"flat", "ivf-flat", "ivf-pq", "sq8", "ivf-sq8"}
    d : int
    pq_m : int
        Sub-quantizers of ``ivf-pq``.
    refine : bool
        ``ivf-pq`` with a flat refine (keeps every full vector as well).

    Returns
    -------
    int
    """
    if kind not in ARCHIVE_KINDS:
        raise ConfigError(f"unknown archive kind {kind!r}; choose one of {ARCHIVE_KINDS}")
    ids = 8
    if kind in ("flat", "ivf-flat"):
        return 4 * d + ids
    if kind in ("sq8", "ivf-sq8"):
        return d + ids
    per = pq_m * PQ_NBITS // 8 + ids
    return per + 4 * d + ids if refine else per


def default_nprobe(nlist: int) -> int:
    """Lists an IVF shard of ``nlist`` lists probes by default (:data:`ARCHIVE_PROBE_FRACTION`)."""
    want = max(ARCHIVE_MIN_NPROBE, math.ceil(ARCHIVE_PROBE_FRACTION * nlist))
    return max(1, min(int(nlist), want))


def train_sample(emb: np.ndarray, nlist: int, day: int) -> np.ndarray:
    """At most :data:`IVF_TRAIN_POINTS_PER_LIST` ``* nlist`` rows of ``emb``, drawn with a fixed
    seed per day (in storage order); all of them when there are no more."""
    cap = IVF_TRAIN_POINTS_PER_LIST * int(nlist)
    n = emb.shape[0]
    if n <= cap:
        return emb
    rng = np.random.default_rng(np.random.SeedSequence([IVF_TRAIN_SEED, int(day)]))
    rows = np.sort(rng.choice(n, size=cap, replace=False))
    return emb[rows]


@dataclass(frozen=True)
class ArchiveResult:
    """Top-k archived sightings per query, merged across days, best first.

    Attributes
    ----------
    scores : numpy.ndarray, shape (m, k), dtype float32
        Cosine scores (PQ / SQ estimates for those kinds), descending; empty slots ``-inf``.
    ids : numpy.ndarray, shape (m, k), dtype int64
        Sighting ids; empty slots ``-1``.
    days : numpy.ndarray, shape (m, k), dtype int32
        Day of the shard each candidate came from; empty slots ``-1``.
    """

    scores: np.ndarray
    ids: np.ndarray
    days: np.ndarray


@dataclass(frozen=True)
class ShardInfo:
    """One day's shard file.

    Attributes
    ----------
    day : int
    path : Path
    kind : str
        ``"flat"``, ``"sq8"``, ``"ivf-flat"``, ``"ivf-sq8"``, ``"ivf-pq"`` or ``"ivf-pq+refine"``.
    ntotal : int
        Vectors stored.
    nbytes : int
        File size.
    """

    day: int
    path: Path
    kind: str
    ntotal: int
    nbytes: int


def shard_kind(index: faiss.Index) -> str:
    """Name the kind of a shard index (see :class:`ShardInfo`); ``"?"`` if it is none of ours."""
    if isinstance(index, faiss.IndexIDMap2):
        inner = faiss.downcast_index(index.index)
        if isinstance(inner, faiss.IndexFlat):
            return "flat"
        if isinstance(inner, faiss.IndexScalarQuantizer):
            return "sq8"
        if isinstance(inner, faiss.IndexRefine):
            return "ivf-pq+refine"
        return "?"
    if isinstance(index, faiss.IndexIVFFlat):
        return "ivf-flat"
    if isinstance(index, faiss.IndexIVFPQ):
        return "ivf-pq"
    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return "ivf-sq8" if index.sq.qtype == faiss.ScalarQuantizer.QT_8bit else "?"
    return "?"


def _ivf_of(index: faiss.Index) -> faiss.IndexIVF | None:
    """The IVF index inside a shard, if any."""
    if isinstance(index, faiss.IndexIDMap2):
        index = faiss.downcast_index(index.index)
    if isinstance(index, faiss.IndexRefine):
        index = faiss.downcast_index(index.base_index)
    return index if isinstance(index, faiss.IndexIVF) else None


def _ivf_vectors(ivf: faiss.IndexIVF) -> np.ndarray:
    """Decoded vectors of an IVF index in storage order (list by list, as :func:`stored_ids`).

    Reads list offsets directly, so the (possibly shared, cached) index is not modified.
    """
    out = np.empty((int(ivf.ntotal), ivf.d), np.float32)
    row = 0
    for lst in range(ivf.nlist):
        for off in range(ivf.invlists.list_size(lst)):
            ivf.reconstruct_from_offset(lst, off, faiss.swig_ptr(out[row]))
            row += 1
    return out


def _refine_without(index: faiss.IndexIDMap2, ids: np.ndarray) -> tuple[faiss.Index, int]:
    """A refined ivf-pq shard rebuilt without ``ids`` (same trained quantizers), and the count."""
    refine = faiss.downcast_index(index.index)
    flat = faiss.downcast_index(refine.refine_index)
    all_ids = stored_ids(index)
    keep = ~np.isin(all_ids, ids)
    removed = int(all_ids.size - keep.sum())
    if removed == 0:
        return index, 0
    vecs = flat.reconstruct_n(0, flat.ntotal)[keep]
    base = faiss.clone_index(faiss.downcast_index(refine.base_index))
    base.reset()
    new_refine = faiss.IndexRefineFlat(base)
    new_refine.k_factor = refine.k_factor
    new = faiss.IndexIDMap2(new_refine)
    if keep.any():
        new.add_with_ids(vecs, all_ids[keep])
    return new, removed


def _check_day(day) -> int:
    if isinstance(day, (bool, np.bool_)) or not isinstance(day, (int, np.integer)) or day < 0:
        raise DataError(f"day must be an integer >= 0, got {day!r}")
    return int(day)


def _check_positive(name: str, value, *, optional: bool = False) -> int | None:
    """``value`` as an int >= 1 (or ``None`` when ``optional``), else :class:`ConfigError`."""
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


# ---- the search pool --------------------------------------------------------------------------

_POOLS: dict[int, tuple[int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()


def _one_omp_thread() -> None:
    """Pool worker initialiser: faiss calls in this thread use one OpenMP thread (per-thread
    setting in libgomp; the caller's own OpenMP thread count is left alone)."""
    faiss.omp_set_num_threads(1)


def _search_pool(threads: int) -> ThreadPoolExecutor:
    """The process' shard-search pool of ``threads`` workers (made anew after a fork)."""
    with _POOLS_LOCK:
        pid, pool = _POOLS.get(threads, (None, None))
        if pool is None or pid != os.getpid():
            pool = ThreadPoolExecutor(
                threads, thread_name_prefix="facelab-shard", initializer=_one_omp_thread
            )
            _POOLS[threads] = (os.getpid(), pool)
        return pool


class DayShardArchive:
    """A folder of per-day FAISS shards searched as one archive.

    Thread-safe for searching (:meth:`search`, :meth:`range_search`, :meth:`ids`,
    :meth:`vectors`, :meth:`shard_info` from several threads); writes (:meth:`add_day`,
    :meth:`append`, :meth:`remove`, :meth:`drop_day`) assume a single writer.

    Parameters
    ----------
    root : str or Path
        Folder of the shards; created if missing.
    kind : {"flat", "ivf-flat", "ivf-pq", "sq8", "ivf-sq8"}
        Kind of the shards this archive builds (existing shards of any kind are searched).
    d : int
        Embedding width.
    nlist : int, optional
        Inverted lists of IVF shards; default about ``4 sqrt(n)`` for an n-vector day.
    nprobe : int, optional
        Lists visited per query in IVF shards (overridable per search); default
        :func:`default_nprobe` of each shard's lists (:data:`ARCHIVE_PROBE_FRACTION`).
    pq_m : {16, 32}
        Sub-quantizers of ``ivf-pq`` (8 bits each).
    refine : bool
        ``ivf-pq`` only: keep the full vectors too and re-rank exactly (no memory saving over
        ``flat``, but exact scores at IVF-PQ speed).
    k_factor : int
        Candidates per result re-ranked by the refine.
    cache_shards : int or None
        Loaded shards kept (LRU); ``None`` keeps every shard once loaded; 0 keeps none.
    mmap : bool
        Map shard files read-only instead of reading them (``faiss.IO_FLAG_MMAP_IFC``).
    threads : int, optional
        Threads that search shards concurrently for small query batches (at most
        :data:`PARALLEL_MAX_QUERIES` queries); default :data:`SEARCH_THREADS`; 1 searches
        shard after shard.
    """

    def __init__(
        self,
        root: str | Path,
        kind: str = "flat",
        d: int = EMBEDDING_DIM,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        pq_m: int = 16,
        refine: bool = False,
        k_factor: int = REFINE_K_FACTOR,
        cache_shards: int | None = DEFAULT_CACHE_SHARDS,
        mmap: bool = True,
        threads: int | None = None,
    ) -> None:
        if kind not in ARCHIVE_KINDS:
            raise ConfigError(f"unknown archive kind {kind!r}; choose one of {ARCHIVE_KINDS}")
        if pq_m not in PQ_M_CHOICES or d % pq_m:
            raise ConfigError(f"pq_m must be one of {PQ_M_CHOICES} and divide d={d}, got {pq_m!r}")
        if refine and kind != "ivf-pq":
            raise ConfigError("refine applies to kind='ivf-pq' only")
        if cache_shards is not None and cache_shards < 0:
            raise ConfigError(f"cache_shards must be >= 0 or None, got {cache_shards!r}")
        self.root = Path(root)
        self.kind = kind
        self.d = int(d)
        self.nlist = _check_positive("nlist", nlist, optional=True)
        self.nprobe = _check_positive("nprobe", nprobe, optional=True)
        self.pq_m = int(pq_m)
        self.refine = bool(refine)
        self.k_factor = _check_positive("k_factor", k_factor)
        self.cache_shards = cache_shards
        self.mmap = bool(mmap)
        self.threads = _check_positive("threads", SEARCH_THREADS if threads is None else threads)
        self._cache: OrderedDict[int, tuple[tuple, faiss.Index]] = OrderedDict()
        self._counts: dict[int, tuple[tuple, int]] = {}
        self._lock = threading.Lock()  # guards _cache, _counts and _loading
        self._loading: dict[int, threading.Lock] = {}  # one loader per day at a time
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create archive folder {self.root}: {exc.strerror or exc}") from None
        self.remove_stale_temps()

    def __repr__(self) -> str:
        return f"DayShardArchive({str(self.root)!r}, kind={self.kind!r}, days={len(self.days())})"

    # ---- files ------------------------------------------------------------------------------

    def path(self, day: int) -> Path:
        """File of ``day``'s shard (whether or not it exists)."""
        return self.root / SHARD_NAME.format(day=_check_day(day))

    def days(self) -> list[int]:
        """Days that have a shard, ascending."""
        out = []
        try:
            entries = list(self.root.iterdir())
        except OSError as exc:
            raise RunError(f"cannot list archive folder {self.root}: {exc.strerror or exc}") from None
        for p in entries:
            m = _SHARD_RE.match(p.name)
            if m and p.is_file():
                out.append(int(m.group(1)))
        return sorted(out)

    def remove_stale_temps(self) -> None:
        """Delete temporary shard files an interrupted write left (they hold embeddings too).
        Done when the archive is opened; assumes a single writer."""
        for p in self.root.iterdir():
            if _TMP_RE.match(p.name):
                log.warning("removing stale temporary shard file %s (an interrupted write)", p)
                p.unlink(missing_ok=True)

    @staticmethod
    def _signature(path: Path) -> tuple:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise RunError(f"archive shard not found: {path}") from None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self, day: int, *, mmap: bool) -> faiss.Index:
        path = self.path(day)
        index = read_index(path, mmap=mmap)
        if shard_kind(index) == "?":
            raise RunError(f"{path} is not a facelab archive shard ({type(index).__name__})")
        if index.d != self.d or index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise RunError(
                f"{path} holds {index.d}-d vectors (metric {index.metric_type}); "
                f"this archive expects {self.d}-d inner product"
            )
        return index

    # ---- the shard cache (thread-safe) ------------------------------------------------------

    def _cached(self, day: int, sig: tuple) -> faiss.Index | None:
        """The cached shard of ``day`` if it is the current file (marks it recently used).
        Call with the lock held."""
        hit = self._cache.get(day)
        if hit is None or hit[0] != sig:
            return None
        self._cache.move_to_end(day)
        return hit[1]

    def _remember(self, day: int, sig: tuple, index: faiss.Index) -> None:
        """Record a freshly read shard (count, and the cache with LRU eviction). Lock held."""
        self._counts[day] = (sig, int(index.ntotal))
        if self.cache_shards == 0:
            return
        self._cache[day] = (sig, index)
        self._cache.move_to_end(day)
        while self.cache_shards is not None and len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)

    def _shard(self, day: int) -> faiss.Index:
        """Day's shard for searching (cached, possibly memory-mapped: never add to it).

        Safe from several threads: the cache is read and changed under a lock; a shard is
        read outside it, by one thread at a time per day (others wait and take its result).
        """
        sig = self._signature(self.path(day))
        with self._lock:
            index = self._cached(day, sig)
            if index is not None:
                return index
            gate = self._loading.setdefault(day, threading.Lock())
        with gate:
            with self._lock:
                index = self._cached(day, sig)
            if index is not None:
                return index
            index = self._read(day, mmap=self.mmap)
            with self._lock:
                self._remember(day, sig, index)
        return index

    def _forget(self, day: int) -> None:
        with self._lock:
            self._cache.pop(day, None)
            self._counts.pop(day, None)

    def _prune(self, present: Iterable[int]) -> None:
        """Unload cached shards of days that no longer have a file (another process purged
        them), so no mapping keeps a deleted shard's bytes alive."""
        keep = set(present)
        with self._lock:
            for day in [d for d in self._cache if d not in keep]:
                del self._cache[day]
                self._counts.pop(day, None)

    def clear_cache(self) -> None:
        """Unload every cached shard (unmapping mapped files)."""
        with self._lock:
            self._cache.clear()

    def cached_days(self) -> list[int]:
        """Days whose shard is loaded, least recently used first."""
        with self._lock:
            return list(self._cache)

    def _count(self, day: int) -> int:
        sig = self._signature(self.path(day))
        with self._lock:
            hit = self._counts.get(day)
        if hit is not None and hit[0] == sig:
            return hit[1]
        n = int(self._read(day, mmap=True).ntotal)  # mapped: cheap, and not kept
        with self._lock:
            self._counts[day] = (sig, n)
        return n

    @property
    def ntotal(self) -> int:
        """Vectors stored over all days."""
        return sum(self._count(day) for day in self.days())

    def __len__(self) -> int:
        return self.ntotal

    def shard_info(self, day: int) -> ShardInfo:
        """Kind, size and count of ``day``'s shard.

        Raises
        ------
        RunError
            No shard for that day, or it cannot be read.
        """
        path = self.path(day)
        index = self._shard(day)
        return ShardInfo(int(day), path, shard_kind(index), int(index.ntotal), path.stat().st_size)

    def bytes_per_vector(self) -> int:
        """:func:`bytes_per_vector` for the kind of shard this archive builds."""
        return bytes_per_vector(self.kind, self.d, pq_m=self.pq_m, refine=self.refine)

    # ---- building ---------------------------------------------------------------------------

    def _kind_for(self, day: int, n: int) -> str:
        """The kind ``day``'s shard is built as: this archive's, unless too few to train."""
        floor = {"ivf-flat": IVF_MIN_TRAIN, "ivf-sq8": IVF_MIN_TRAIN, "ivf-pq": PQ_MIN_TRAIN}
        if self.kind in floor and n < floor[self.kind]:
            small = SMALL_DAY_KIND[self.kind]
            log.info("day %d: %d vectors are too few to train %s; storing it %s",
                     day, n, self.kind, small)  # fmt: skip
            return small
        return self.kind

    def _new_ivf(self, kind: str, nlist: int) -> faiss.IndexIVF:
        """An untrained IVF index of ``kind`` with capped, spherical k-means."""
        d = self.d
        quantizer = faiss.IndexFlatIP(d)
        ip = faiss.METRIC_INNER_PRODUCT
        if kind == "ivf-flat":
            ivf = faiss.IndexIVFFlat(quantizer, d, nlist, ip)
        elif kind == "ivf-sq8":
            qt = faiss.ScalarQuantizer.QT_8bit
            ivf = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, qt, ip)
        else:
            ivf = faiss.IndexIVFPQ(quantizer, d, nlist, self.pq_m, PQ_NBITS, ip)
            ivf.pq.cp.min_points_per_centroid = 1  # PQ_MIN_TRAIN is our floor; keep faiss quiet
        ivf.cp.spherical = True
        ivf.cp.min_points_per_centroid = 1
        ivf.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
        ivf.cp.niter = IVF_TRAIN_NITER
        return ivf

    def _build(self, day: int, ids: np.ndarray, emb: np.ndarray) -> faiss.Index:
        n, d = emb.shape
        kind = self._kind_for(day, n)
        if kind == "flat":
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(d))
        elif kind == "sq8":
            sq = faiss.IndexScalarQuantizer(
                d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            box = np.stack([np.full(d, -SQ_RANGE, np.float32), np.full(d, SQ_RANGE, np.float32)])
            sq.train(box)  # per-dimension min/max = the fixed range [-1, 1]
            index = faiss.IndexIDMap2(sq)
        else:
            nlist = self.nlist or ivf_nlist(n)
            ivf = self._new_ivf(kind, nlist)
            sample = train_sample(emb, nlist, day)
            ivf.train(sample)
            ivf.nprobe = min(nlist, self.nprobe or default_nprobe(nlist))  # saved in the file
            if kind == "ivf-pq" and self.refine:
                refine = faiss.IndexRefineFlat(ivf)
                refine.k_factor = self.k_factor
                index = faiss.IndexIDMap2(refine)
            else:
                index = ivf
            log.info("day %d: trained %s shard, %d lists on %d of %d vectors",
                     day, kind, nlist, sample.shape[0], n)  # fmt: skip
        index.add_with_ids(emb, ids)
        return index

    def add_day(self, day: int, ids, emb, *, replace: bool = False) -> ShardInfo:
        """Build ``day``'s shard from all its vectors and write it atomically.

        Parameters
        ----------
        day : int
        ids : array_like, shape (n,), int64
            Sighting ids, non-negative and unique.
        emb : array_like, shape (n, d), float32
        replace : bool
            Overwrite an existing shard of that day.

        Returns
        -------
        ShardInfo

        Raises
        ------
        DataError
            Invalid input, an empty day, or the day exists and ``replace`` is false.
        RunError
            The file cannot be written.
        """
        day = _check_day(day)
        emb = as_unit_rows(emb, self.d, f"day {day} embeddings")
        ids = check_ids(ids, emb.shape[0], f"day {day} ids")
        if emb.shape[0] == 0:
            raise DataError(f"day {day}: no vectors to archive")
        path = self.path(day)
        if path.exists() and not replace:
            raise DataError(
                f"day {day} already has a shard ({path.name}); use append() or replace=True"
            )
        index = self._build(day, ids, emb)
        self._forget(day)
        write_index_atomic(index, path)
        return ShardInfo(day, path, shard_kind(index), int(index.ntotal), path.stat().st_size)

    def append(self, day: int, ids, emb, *, skip_existing: bool = False) -> ShardInfo:
        """Add vectors to ``day``'s flat or sq8 shard (building it if missing), atomically.

        The shard is read into memory (never through a mapping), extended, and rewritten with
        :func:`~facelab.search.index.write_index_atomic`.

        Parameters
        ----------
        day : int
        ids : array_like, shape (n,), int64
            Not yet present in that day's shard.
        emb : array_like, shape (n, d), float32
        skip_existing : bool
            Leave out rows whose id the shard already holds instead of raising (makes
            re-ingesting a batch after a crash idempotent).

        Returns
        -------
        ShardInfo

        Raises
        ------
        ConfigError
            The day's shard is an IVF shard (trained on its day; rebuild with ``add_day``).
        DataError
            Invalid input, or ids already in the shard and ``skip_existing`` is false.
        """
        day = _check_day(day)
        if not self.path(day).exists():
            if self.kind not in APPENDABLE_KINDS:
                raise ConfigError(
                    f"append works on {' and '.join(APPENDABLE_KINDS)} shards; "
                    f"{self.kind} shards are trained per day and built once with add_day()"
                )
            return self.add_day(day, ids, emb)
        emb = as_unit_rows(emb, self.d, f"day {day} embeddings")
        ids = check_ids(ids, emb.shape[0], f"day {day} ids")
        path = self.path(day)
        index = self._read(day, mmap=False)
        kind = shard_kind(index)
        if kind not in APPENDABLE_KINDS:
            raise ConfigError(
                f"day {day} is a {kind} shard, which is trained on its day and built once; "
                f"append works on {' and '.join(APPENDABLE_KINDS)} shards"
            )
        present = np.isin(ids, stored_ids(index))
        if present.any():
            if not skip_existing:
                raise DataError(
                    f"day {day} ids: {int(present.sum())} already archived (e.g. {ids[present][0]})"
                )
            log.info("day %d: skipping %d rows already archived", day, int(present.sum()))
            ids, emb = ids[~present], emb[~present]
        if ids.size:
            index.add_with_ids(emb, ids)
            self._forget(day)
            write_index_atomic(index, path)
        return ShardInfo(day, path, kind, int(index.ntotal), path.stat().st_size)

    def ids(self, day: int) -> np.ndarray:
        """Sighting ids in ``day``'s shard, shape (n,), int64 (storage order).

        Raises
        ------
        RunError
            No shard for that day, or it cannot be read.
        """
        return stored_ids(self._shard(_check_day(day)))

    def vectors(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Sighting ids and stored vectors of ``day``'s shard (storage order).

        Returns
        -------
        ids : int64 (n,)
        vectors : float32 (n, d), exact for flat shards, decoded approximations for sq8 / PQ.
        """
        index = self._shard(_check_day(day))
        ids = stored_ids(index)
        inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
        if isinstance(inner, faiss.IndexIVF):
            vecs = _ivf_vectors(inner)
        else:
            vecs = inner.reconstruct_n(0, inner.ntotal)
        return ids, vecs.reshape(-1, self.d)

    # ---- retention --------------------------------------------------------------------------

    def remove(self, day: int, ids) -> int:
        """Remove sightings from ``day``'s shard and rewrite it atomically.

        Works on every kind: flat, sq8 and IVF shards use faiss ``remove_ids``; a refined
        ``ivf-pq`` shard (whose ``IndexRefine`` cannot remove) is rebuilt from its stored full
        vectors on its trained quantizers. The new file holds no byte of the removed vectors.
        A shard left empty is deleted.

        Parameters
        ----------
        day : int
        ids : array_like, shape (r,), int64
            Ids not in the shard are ignored.

        Returns
        -------
        int
            How many vectors were removed.
        """
        day = _check_day(day)
        path = self.path(day)
        arr = np.unique(np.asarray(ids, dtype=np.int64).ravel())
        if arr.size == 0 or not path.exists():
            return 0
        index = self._read(day, mmap=False)
        if shard_kind(index) == "ivf-pq+refine":
            index, removed = _refine_without(index, arr)
        else:
            removed = int(index.remove_ids(faiss.IDSelectorBatch(arr)))
        if removed == 0:
            return 0
        self._forget(day)
        if index.ntotal == 0:
            self.drop_day(day)
        else:
            write_index_atomic(index, path)
        log.info("day %d: removed %d vectors", day, removed)
        return removed

    def drop_day(self, day: int) -> int:
        """Delete ``day``'s shard file.

        Returns
        -------
        int
            Bytes freed (the file's size); 0 if the day had no shard.
        """
        path = self.path(day)
        self._forget(int(day))
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise RunError(f"cannot delete archive shard {path}: {exc.strerror or exc}") from None
        fsync_dir(self.root)
        log.info("dropped archive day %d (%s, %d bytes)", day, path.name, size)
        return size

    def drop_before(self, day: int) -> list[int]:
        """Delete every shard of a day ``< day``; return those days, ascending."""
        day = _check_day(day)
        dropped = [d for d in self.days() if d < day]
        for d in dropped:
            self.drop_day(d)
        return dropped

    # ---- search -----------------------------------------------------------------------------

    def _window(self, days: Iterable[int] | None) -> list[int]:
        have = self.days()
        self._prune(have)
        if days is None:
            return have
        if isinstance(days, (int, np.integer)):
            days = [days]
        want = {_check_day(d) for d in days}
        return [d for d in have if d in want]

    def _params(self, index: faiss.Index, nprobe: int | None) -> faiss.SearchParameters | None:
        """Per-call search parameters of a shard: its ``nprobe`` (no shared state is changed,
        so threads may search one cached shard with different ``nprobe`` at once)."""
        ivf = _ivf_of(index)
        if ivf is None:
            return None
        want = nprobe or self.nprobe or default_nprobe(ivf.nlist)
        ivf_params = faiss.SearchParametersIVF(nprobe=min(int(want), int(ivf.nlist)))
        if isinstance(index, faiss.IndexIDMap2):  # ivf-pq + refine
            refine = faiss.downcast_index(index.index)
            return faiss.IndexRefineSearchParameters(
                k_factor=float(refine.k_factor), base_index_params=ivf_params
            )
        return ivf_params

    def _map_days(self, window: list[int], m: int, fn: Callable[[int], object]) -> list:
        """``[fn(day) for day in window]``, concurrently over the days for small batches.

        The window is cut into one contiguous run of days per thread (one task each, so small
        shards do not pay a hand-over per shard). Results come back in window order whatever
        the threads did, so merging them gives the serial result byte for byte. Exceptions
        (an unreadable shard) propagate.
        """
        if self.threads < 2 or len(window) < 2 or m > PARALLEL_MAX_QUERIES:
            return [fn(day) for day in window]
        runs = [list(r) for r in np.array_split(np.asarray(window), min(self.threads, len(window)))]
        parts = _search_pool(self.threads).map(lambda days: [fn(int(d)) for d in days], runs)
        return [res for part in parts for res in part]

    def _search_shard(self, day: int, q: np.ndarray, k: int, nprobe: int | None):
        """One shard's top-k: (scores, ids, days), each (m, k)."""
        index = self._shard(day)
        params = self._params(index, nprobe)
        scores, ids = index.search(q, k, params=params)
        return scores, ids, np.full(ids.shape, day, np.int32)

    def search(
        self,
        q,
        k: int,
        *,
        days: Iterable[int] | None = None,
        min_score: float | None = None,
        nprobe: int | None = None,
    ) -> ArchiveResult:
        """Top-k sightings per query over the days in the window.

        Each shard returns its own top-k (concurrently for up to :data:`PARALLEL_MAX_QUERIES`
        queries); the candidates are merged by score (ties keep day order, then each shard's
        order).

        Parameters
        ----------
        q : array_like, shape (m, d), float32
        k : int
        days : iterable of int, optional
            Days to search (days without a shard are skipped); default all.
        min_score : float, optional
            Blank out candidates scoring below this (rounded to float32; equal matches).
        nprobe : int, optional
            Lists visited in IVF shards; default the archive's ``nprobe``, else
            :func:`default_nprobe` of each shard.

        Returns
        -------
        ArchiveResult
        """
        k = check_k(k)
        q = as_unit_rows(q, self.d, "queries")
        nprobe = _check_positive("nprobe", nprobe, optional=True)
        m = q.shape[0]
        window = self._window(days)
        if not window or m == 0:
            return ArchiveResult(
                np.full((m, k), PAD_SCORE, np.float32),
                np.full((m, k), PAD_ID, np.int64),
                np.full((m, k), -1, np.int32),
            )
        parts = self._map_days(window, m, lambda day: self._search_shard(day, q, k, nprobe))
        scores = np.concatenate([p[0] for p in parts], axis=1)
        ids = np.concatenate([p[1] for p in parts], axis=1)
        dys = np.concatenate([p[2] for p in parts], axis=1)
        pad_results(scores, ids)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(scores, order, axis=1)
        ids = np.take_along_axis(ids, order, axis=1)
        dys = np.take_along_axis(dys, order, axis=1)
        empty = ids < 0
        if min_score is not None:
            empty |= scores < threshold32(min_score)
        scores[empty] = PAD_SCORE
        ids[empty] = PAD_ID
        dys[empty] = -1
        return ArchiveResult(scores=scores, ids=ids, days=dys)

    def _range_shard(self, index: faiss.Index, block: np.ndarray, t: np.float32, nprobe):
        """(query row, score, id) arrays of one shard's candidates for one query block."""
        if shard_kind(index) == "ivf-pq+refine":
            # IndexRefine.range_search does not re-rank (it misses matches); the refine keeps
            # every full vector in a flat index, so scan that exactly instead.
            flat = faiss.downcast_index(faiss.downcast_index(index.index).refine_index)
            lims, scores, pos = flat.range_search(block, range_radius(t))
            ids = faiss.vector_to_array(index.id_map)[pos]
            return lims_to_rows(lims), scores, ids
        params = self._params(index, nprobe)
        lims, scores, ids = index.range_search(block, range_radius(t), params=params)
        return lims_to_rows(lims), scores, ids

    def _range_day(self, day: int, q: np.ndarray, t: np.float32, nprobe: int | None):
        """One shard's range-search candidates for every query: (rows, scores, ids, days)."""
        index = self._shard(day)
        rows, scores, ids = [], [], []
        for start in range(0, q.shape[0], RANGE_CHUNK):
            r, s, i = self._range_shard(index, q[start : start + RANGE_CHUNK], t, nprobe)
            rows.append(r + start)
            scores.append(s)
            ids.append(i)
        ids_all = np.concatenate(ids)
        return (np.concatenate(rows), np.concatenate(scores), ids_all,
                np.full(ids_all.shape, day, np.int32))  # fmt: skip

    def range_search(
        self,
        q,
        min_score: float,
        *,
        days: Iterable[int] | None = None,
        nprobe: int | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every archived sighting scoring ``>= min_score`` for each query.

        Exact for ``flat`` and refined ``ivf-pq`` (which scans its stored full vectors, as
        faiss' ``IndexRefine.range_search`` does not re-rank); ``ivf-flat`` and ``ivf-sq8``
        only look in ``nprobe`` lists; ``sq8``, ``ivf-sq8`` and plain ``ivf-pq`` compare score
        estimates with the threshold. Shards are searched concurrently for up to
        :data:`PARALLEL_MAX_QUERIES` queries.

        Parameters
        ----------
        q : array_like, shape (m, d), float32
        min_score : float
            Rounded to float32; a score equal to it matches.
        days : iterable of int, optional
        nprobe : int, optional

        Returns
        -------
        list of (scores, ids, days), length m
            Per query: ``scores`` (r,) float32 descending (ties by ascending id), ``ids`` (r,)
            int64, ``days`` (r,) int32.
        """
        t = threshold32(min_score)
        q = as_unit_rows(q, self.d, "queries")
        nprobe = _check_positive("nprobe", nprobe, optional=True)
        m = q.shape[0]
        window = self._window(days)
        if not window or m == 0:
            e = (np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int32))
            return [e] * m
        parts = self._map_days(window, m, lambda day: self._range_day(day, q, t, nprobe))
        return split_ranges(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
            t,
            m,
            extra=np.concatenate([p[3] for p in parts]),
        )
