"""The day-sharded sighting archive: one FAISS file per simulated day, searched as one.

``root/day-0007.faiss`` holds every archived embedding of day 7, keyed by external (sighting)
ids. Retention drops whole days: :meth:`DayShardArchive.drop_day` unlinks the file, so no byte
of a purged embedding stays in the archive. Files are written atomically
(:func:`facelab.search.index.write_index_atomic`); a stale temporary file left by a crash (it
holds embeddings too) is removed when the archive is opened, which assumes a single writer.

How each shard kind is built, read and trimmed is :mod:`facelab.search.archive.kinds`; loaded
shards are kept by a :class:`~facelab.search.archive.cache.ShardCache`, the archive's own or
one its owner shares between archive objects.

Searching and threads: a small query batch (one photo: the retrospective search) is searched
over the day shards concurrently by a pool of threads (one per usable CPU by default) (faiss releases
the GIL), each worker limited to one OpenMP thread (``omp_set_num_threads`` is per calling
thread in the OpenMP runtime faiss ships, libgomp), so the pool never oversubscribes the
cores. Larger batches are searched shard after shard, each faiss call using every core across
its queries. Either way the result is the same, byte for byte: the per-shard results are
merged in day order. The pools are shared by the process (one per size, made anew after a
fork); the shard cache is safe to share between the threads.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from facelab.cpus import usable_cpus
from facelab.errors import ConfigError, DataError, RunError
from facelab.fileio import fsync_dir
from facelab.search.archive.cache import DEFAULT_CACHE_SHARDS, ShardCache
from facelab.search.archive.kinds import (
    APPENDABLE_KINDS,
    REFINE_K_FACTOR,
    ShardSpec,
    range_candidates,
    read_shard,
    search_params,
    shard_kind,
    shard_vectors,
    without_ids,
)
from facelab.search.index import (
    EMBEDDING_DIM,
    PAD_ID,
    PAD_SCORE,
    RANGE_CHUNK,
    as_unit_rows,
    check_ids,
    check_k,
    check_positive,
    pad_results,
    split_ranges,
    stored_ids,
    write_index_atomic,
)
from facelab.search.percent import at_or_above, threshold32

log = logging.getLogger(__name__)

SHARD_NAME = "day-{day:04d}.faiss"
_SHARD_RE = re.compile(r"^day-(\d{4,})\.faiss$")
_TMP_RE = re.compile(r"^\.day-\d{4,}\.faiss\..+\.tmp$")


PARALLEL_MAX_QUERIES = 16
"""Query batches up to this size are searched over the shards concurrently, one OpenMP thread
per shard; larger ones shard after shard, faiss parallelising over the queries. Below faiss'
``distance_compute_blas_threshold`` (20), so a pool worker never enters BLAS."""


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


def _check_day(day) -> int:
    if isinstance(day, (bool, np.bool_)) or not isinstance(day, (int, np.integer)) or day < 0:
        raise DataError(f"day must be an integer >= 0, got {day!r}")
    return int(day)


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
    nlist, nprobe, pq_m, refine, k_factor
        How shards are built and searched: see :class:`~facelab.search.archive.kinds.ShardSpec`
        (``nprobe`` can be overridden per search).
    cache_shards : int or None
        Size of the archive's own shard cache (:class:`~facelab.search.archive.cache.ShardCache`):
        loaded shards kept (LRU); ``None`` keeps every shard once loaded; 0 keeps none. Not
        used when ``cache`` is given.
    cache : ShardCache, optional
        Keep loaded shards in this cache instead (one its owner shares between archive
        objects, so shards stay loaded between them).
    mmap : bool
        Map shard files read-only instead of reading them (``faiss.IO_FLAG_MMAP_IFC``).
    threads : int, optional
        Threads that search shards concurrently for small query batches (at most
        :data:`PARALLEL_MAX_QUERIES` queries); default one per usable CPU (:func:`facelab.cpus.usable_cpus`); 1 searches
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
        cache: ShardCache | None = None,
        mmap: bool = True,
        threads: int | None = None,
        readonly: bool = False,
    ) -> None:
        self.spec = ShardSpec(
            kind, d, nlist=nlist, nprobe=nprobe, pq_m=pq_m, refine=refine, k_factor=k_factor
        )
        self.cache = cache if cache is not None else ShardCache(cache_shards)
        self.root = Path(root)
        self.mmap = bool(mmap)
        self.threads = check_positive("threads", usable_cpus() if threads is None else threads)
        self.readonly = bool(readonly)
        if self.readonly:
            if not self.root.is_dir():
                raise RunError(f"damaged run directory: archive folder {self.root} is missing")
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(
                f"cannot create archive folder {self.root}: {exc.strerror or exc}"
            ) from None
        self.remove_stale_temps()

    def __repr__(self) -> str:
        return f"DayShardArchive({str(self.root)!r}, kind={self.kind!r}, days={len(self.days())})"

    @property
    def kind(self) -> str:
        """Kind of the shards this archive builds."""
        return self.spec.kind

    @property
    def d(self) -> int:
        """Embedding width."""
        return self.spec.d

    @property
    def nprobe(self) -> int | None:
        """Lists IVF shards probe unless a search says otherwise (``None``: each shard's
        :func:`~facelab.search.archive.kinds.default_nprobe`)."""
        return self.spec.nprobe

    @property
    def pq_m(self) -> int:
        """Sub-quantizers of the ``ivf-pq`` shards this archive builds."""
        return self.spec.pq_m

    @property
    def refine(self) -> bool:
        """Whether the ``ivf-pq`` shards this archive builds keep full vectors to re-rank."""
        return self.spec.refine

    @property
    def cache_shards(self) -> int | None:
        """Capacity of the shard cache in use."""
        return self.cache.capacity

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
            raise RunError(
                f"cannot list archive folder {self.root}: {exc.strerror or exc}"
            ) from None
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

    def check_days(self, days: Iterable[int]) -> dict[int, str]:
        """Which of ``days`` cannot be searched, and why: ``{day: problem}`` for each day whose
        shard file is missing or unreadable (loading the readable ones into the cache, where a
        search then finds them). Empty when every day can be searched."""
        problems = {}
        for day in days:
            path = self.path(day)
            if not path.is_file():
                problems[int(day)] = f"{path.name} is missing"
                continue
            try:
                self._shard(day)
            except RunError as exc:
                problems[int(day)] = str(exc)
        return problems

    def _read(self, day: int, *, mmap: bool) -> faiss.Index:
        """Read ``day``'s shard file (every read of a shard goes through here)."""
        return read_shard(self.path(day), self.d, mmap=mmap)

    # ---- loaded shards ----------------------------------------------------------------------

    def _shard(self, day: int) -> faiss.Index:
        """Day's shard for searching, through the cache (possibly memory-mapped: never add to
        it). Safe from several threads."""
        return self.cache.get(self.path(day), lambda: self._read(day, mmap=self.mmap))

    def _forget(self, day: int) -> None:
        self.cache.forget(self.path(day))

    def clear_cache(self) -> None:
        """Unload this archive's cached shards (unmapping mapped files)."""
        self.cache.clear(self.root)

    def cached_days(self) -> list[int]:
        """Days whose shard is loaded, least recently used first."""
        out = []
        for p in self.cache.paths(self.root):
            m = _SHARD_RE.match(p.name)
            if m:
                out.append(int(m.group(1)))
        return out

    def _count(self, day: int) -> int:
        # mapped: cheap, and not kept
        return self.cache.count(self.path(day), lambda: self._read(day, mmap=True).ntotal)

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
        """:func:`~facelab.search.archive.kinds.bytes_per_vector` of the shards this archive
        builds."""
        return self.spec.bytes_per_vector()

    # ---- building ---------------------------------------------------------------------------

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
        index = self.spec.build(day, ids, emb)
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
        return shard_vectors(self._shard(_check_day(day)))

    # ---- retention --------------------------------------------------------------------------

    def remove(self, day: int, ids) -> int:
        """Remove sightings from ``day``'s shard and rewrite it atomically.

        Works on every kind (:func:`~facelab.search.archive.kinds.without_ids`); the new file
        holds no byte of the removed vectors. A shard left empty is deleted.

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
        index, removed = without_ids(self._read(day, mmap=False), arr)
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
        self.cache.prune(self.root, [self.path(d) for d in have])
        if days is None:
            return have
        if isinstance(days, (int, np.integer)):
            days = [days]
        want = {_check_day(d) for d in days}
        return [d for d in have if d in want]

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
        scores, ids = index.search(q, k, params=search_params(index, nprobe or self.nprobe))
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
            Blank out candidates that do not reach this cosine threshold (the match rule of
            :func:`~facelab.search.percent.at_or_above`: ``>=``, the threshold rounded up to
            float32).
        nprobe : int, optional
            Lists visited in IVF shards; default the archive's ``nprobe``, else
            :func:`~facelab.search.archive.kinds.default_nprobe` of each shard.

        Returns
        -------
        ArchiveResult
        """
        k = check_k(k)
        t = None if min_score is None else threshold32(min_score)
        q = as_unit_rows(q, self.d, "queries")
        nprobe = check_positive("nprobe", nprobe, optional=True)
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
        if t is not None:
            empty |= ~at_or_above(scores, t)
        scores[empty] = PAD_SCORE
        ids[empty] = PAD_ID
        dys[empty] = -1
        return ArchiveResult(scores=scores, ids=ids, days=dys)

    def _range_day(self, day: int, q: np.ndarray, t: np.float32, nprobe: int | None):
        """One shard's range-search candidates for every query: (rows, scores, ids, days)."""
        index = self._shard(day)
        rows, scores, ids = [], [], []
        for start in range(0, q.shape[0], RANGE_CHUNK):
            block = q[start : start + RANGE_CHUNK]
            r, s, i = range_candidates(index, block, t, nprobe or self.nprobe)
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
            Cosine threshold (``-inf`` matches every sighting); the match rule of
            :func:`~facelab.search.percent.at_or_above` (``>=``, the threshold rounded up to
            float32).
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
        nprobe = check_positive("nprobe", nprobe, optional=True)
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
