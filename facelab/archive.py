"""The day-sharded sighting archive: one FAISS file per simulated day.

``root/day-0007.faiss`` holds every archived embedding of day 7, keyed by external (sighting)
ids. Retention drops whole days: :meth:`DayShardArchive.drop_day` unlinks the file, so no byte
of a purged embedding stays in the archive. Files are written atomically
(:func:`facelab.index.write_index_atomic`); a stale temporary file left by a crash (it holds
embeddings too) is removed when the archive is opened, which assumes a single writer.

Shard kinds (all inner product on L2-normalised vectors, i.e. cosine):

- ``flat``: ``IndexIDMap2(IndexFlatIP)``; exact scores.
- ``sq8``: ``IndexIDMap2(IndexScalarQuantizer(QT_8bit))``; 8-bit codes, scores off by up to ~0.01.
- ``ivf-flat``: ``IndexIVFFlat`` holding the ids itself; exact scores, recall set by ``nprobe``.
- ``ivf-pq``: ``IndexIVFPQ`` (``pq_m`` = 16 or 32 bytes a vector) holding the ids itself; PQ
  score estimates. With ``refine=True``: ``IndexIDMap2(IndexRefineFlat(IndexIVFPQ))``, which
  keeps the full vectors too and re-ranks ``k * k_factor`` candidates with exact scores.

IVF shards are trained on their own day's vectors when :meth:`~DayShardArchive.add_day`
builds them, so they are built in one go; ``flat`` and ``sq8`` shards can also be extended
with :meth:`~DayShardArchive.append`. The ``sq8`` quantiser covers the fixed range [-1, 1] of a
unit vector's components (no training data needed, nothing appended is ever clipped). A day
with too few vectors to train an IVF shard is stored ``flat`` (logged).

IVF indexes hold the ids themselves rather than sitting under ``IndexIDMap2``, because
``IndexIDMap2.remove_ids`` over an IVF index silently returns wrong ids afterwards (IVF does not
renumber its rows the way the flat storage does). HNSW is never used: it cannot ``remove_ids``,
so nothing built on it could ever be purged of one person's vectors.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from facelab.errors import ConfigError, DataError, RunError
from facelab.fileio import fsync_dir
from facelab.index import (
    DEFAULT_NPROBE,
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

log = logging.getLogger(__name__)

ARCHIVE_KINDS = ("flat", "ivf-flat", "ivf-pq", "sq8")
"""Shard kinds :class:`DayShardArchive` can build."""

APPENDABLE_KINDS = ("flat", "sq8")
"""Shard kinds that :meth:`DayShardArchive.append` can extend (no per-day training)."""

SHARD_NAME = "day-{day:04d}.faiss"
_SHARD_RE = re.compile(r"^day-(\d{4,})\.faiss$")
_TMP_RE = re.compile(r"^\.day-\d{4,}\.faiss\..+\.tmp$")

DEFAULT_CACHE_SHARDS = 8
"""Loaded shards kept in memory (least recently used evicted); ``None`` keeps all."""

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

    Codes plus ids; per-shard constants (IVF centroids, PQ codebooks) are left out, and so is
    ``IndexIDMap2``'s in-memory reverse hash map (tens of bytes per vector, not on disk).

    Parameters
    ----------
    kind : {"flat", "ivf-flat", "ivf-pq", "sq8"}
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
    if kind == "sq8":
        return d + ids
    per = pq_m * PQ_NBITS // 8 + ids
    return per + 4 * d + ids if refine else per


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
        ``"flat"``, ``"sq8"``, ``"ivf-flat"``, ``"ivf-pq"`` or ``"ivf-pq+refine"``.
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
    return "?"


def _ivf_of(index: faiss.Index) -> faiss.IndexIVF | None:
    """The IVF index inside a shard, if any."""
    if isinstance(index, faiss.IndexIDMap2):
        index = faiss.downcast_index(index.index)
    if isinstance(index, faiss.IndexRefine):
        index = faiss.downcast_index(index.base_index)
    return index if isinstance(index, faiss.IndexIVF) else None


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


class DayShardArchive:
    """A folder of per-day FAISS shards searched as one archive.

    Parameters
    ----------
    root : str or Path
        Folder of the shards; created if missing.
    kind : {"flat", "ivf-flat", "ivf-pq", "sq8"}
        Kind of the shards this archive builds (existing shards of any kind are searched).
    d : int
        Embedding width.
    nlist : int, optional
        Inverted lists of IVF shards; default about ``4 sqrt(n)`` for an n-vector day.
    nprobe : int
        Lists visited per query in IVF shards (overridable per search).
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
    """

    def __init__(
        self,
        root: str | Path,
        kind: str = "flat",
        d: int = EMBEDDING_DIM,
        *,
        nlist: int | None = None,
        nprobe: int = DEFAULT_NPROBE,
        pq_m: int = 16,
        refine: bool = False,
        k_factor: int = REFINE_K_FACTOR,
        cache_shards: int | None = DEFAULT_CACHE_SHARDS,
        mmap: bool = True,
    ) -> None:
        if kind not in ARCHIVE_KINDS:
            raise ConfigError(f"unknown archive kind {kind!r}; choose one of {ARCHIVE_KINDS}")
        if pq_m not in PQ_M_CHOICES or d % pq_m:
            raise ConfigError(f"pq_m must be one of {PQ_M_CHOICES} and divide d={d}, got {pq_m!r}")
        if refine and kind != "ivf-pq":
            raise ConfigError("refine applies to kind='ivf-pq' only")
        if cache_shards is not None and cache_shards < 0:
            raise ConfigError(f"cache_shards must be >= 0 or None, got {cache_shards!r}")
        for name, value in (("nprobe", nprobe), ("k_factor", k_factor)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        self.root = Path(root)
        self.kind = kind
        self.d = int(d)
        self.nlist = nlist
        self.nprobe = int(nprobe)
        self.pq_m = int(pq_m)
        self.refine = bool(refine)
        self.k_factor = int(k_factor)
        self.cache_shards = cache_shards
        self.mmap = bool(mmap)
        self._cache: OrderedDict[int, tuple[tuple, faiss.Index]] = OrderedDict()
        self._counts: dict[int, tuple[tuple, int]] = {}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create archive folder {self.root}: {exc.strerror or exc}") from None
        self._remove_stale_temps()

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

    def _remove_stale_temps(self) -> None:
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

    def _shard(self, day: int) -> faiss.Index:
        """Day's shard for searching (cached, possibly memory-mapped: never add to it)."""
        sig = self._signature(self.path(day))
        hit = self._cache.get(day)
        if hit is not None and hit[0] == sig:
            self._cache.move_to_end(day)
            return hit[1]
        index = self._read(day, mmap=self.mmap)
        self._counts[day] = (sig, int(index.ntotal))
        if self.cache_shards != 0:
            self._cache[day] = (sig, index)
            self._cache.move_to_end(day)
            while self.cache_shards is not None and len(self._cache) > self.cache_shards:
                self._cache.popitem(last=False)
        return index

    def _forget(self, day: int) -> None:
        self._cache.pop(day, None)
        self._counts.pop(day, None)

    def clear_cache(self) -> None:
        """Unload every cached shard (unmapping mapped files)."""
        self._cache.clear()

    def _count(self, day: int) -> int:
        sig = self._signature(self.path(day))
        hit = self._counts.get(day)
        if hit is not None and hit[0] == sig:
            return hit[1]
        n = int(self._read(day, mmap=True).ntotal)  # mapped: cheap, and not kept
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

    def _build(self, day: int, ids: np.ndarray, emb: np.ndarray) -> faiss.Index:
        n, d = emb.shape
        kind = self.kind
        if kind == "ivf-flat" and n < IVF_MIN_TRAIN:
            log.info("day %d: %d vectors are too few to train ivf-flat; storing it flat", day, n)
            kind = "flat"
        if kind == "ivf-pq" and n < PQ_MIN_TRAIN:
            log.info("day %d: %d vectors are too few to train ivf-pq; storing it flat", day, n)
            kind = "flat"
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
            quantizer = faiss.IndexFlatIP(d)
            if kind == "ivf-flat":
                ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                ivf = faiss.IndexIVFPQ(
                    quantizer, d, nlist, self.pq_m, PQ_NBITS, faiss.METRIC_INNER_PRODUCT
                )
                ivf.pq.cp.min_points_per_centroid = 1  # PQ_MIN_TRAIN is our floor; keep faiss quiet
            ivf.cp.spherical = True
            ivf.cp.min_points_per_centroid = 1
            ivf.train(emb)
            ivf.nprobe = min(self.nprobe, nlist)
            if kind == "ivf-pq" and self.refine:
                refine = faiss.IndexRefineFlat(ivf)
                refine.k_factor = self.k_factor
                index = faiss.IndexIDMap2(refine)
            else:
                index = ivf
            log.info("day %d: trained %s shard, %d lists on %d vectors", day, kind, nlist, n)
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
        :func:`~facelab.index.write_index_atomic`.

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
            inner.set_direct_map_type(faiss.DirectMap.Hashtable)
            vecs = np.stack([inner.reconstruct(int(i)) for i in ids]) if len(ids) else None
        else:
            vecs = inner.reconstruct_n(0, inner.ntotal)
        return ids, (vecs if vecs is not None else np.zeros((0, self.d), np.float32))

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
        if days is None:
            return have
        if isinstance(days, (int, np.integer)):
            days = [days]
        want = {_check_day(d) for d in days}
        return [d for d in have if d in want]

    def _set_nprobe(self, index: faiss.Index, nprobe: int | None) -> None:
        ivf = _ivf_of(index)
        if ivf is not None:
            ivf.nprobe = min(int(nprobe or self.nprobe), ivf.nlist)

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

        Each shard returns its own top-k; the candidates are merged by score (ties keep
        day order, then each shard's order).

        Parameters
        ----------
        q : array_like, shape (m, d), float32
        k : int
        days : iterable of int, optional
            Days to search (days without a shard are skipped); default all.
        min_score : float, optional
            Blank out candidates scoring below this (rounded to float32; equal matches).
        nprobe : int, optional
            Lists visited in IVF shards; default the archive's ``nprobe``.

        Returns
        -------
        ArchiveResult
        """
        k = check_k(k)
        q = as_unit_rows(q, self.d, "queries")
        m = q.shape[0]
        window = self._window(days)
        if not window or m == 0:
            return ArchiveResult(
                np.full((m, k), PAD_SCORE, np.float32),
                np.full((m, k), PAD_ID, np.int64),
                np.full((m, k), -1, np.int32),
            )
        all_s, all_i, all_d = [], [], []
        for day in window:
            index = self._shard(day)
            self._set_nprobe(index, nprobe)
            s, i = index.search(q, k)
            all_s.append(s)
            all_i.append(i)
            all_d.append(np.full(i.shape, day, np.int32))
        scores = np.concatenate(all_s, axis=1)
        ids = np.concatenate(all_i, axis=1)
        dys = np.concatenate(all_d, axis=1)
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

    def _range_shard(self, index: faiss.Index, block: np.ndarray, t: np.float32):
        """(query row, score, id) arrays of one shard's candidates for one query block."""
        if shard_kind(index) == "ivf-pq+refine":
            # IndexRefine.range_search does not re-rank (it misses matches); the refine keeps
            # every full vector in a flat index, so scan that exactly instead.
            flat = faiss.downcast_index(faiss.downcast_index(index.index).refine_index)
            lims, scores, pos = flat.range_search(block, range_radius(t))
            ids = faiss.vector_to_array(index.id_map)[pos]
            return lims_to_rows(lims), scores, ids
        lims, scores, ids = index.range_search(block, range_radius(t))
        return lims_to_rows(lims), scores, ids

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
        faiss' ``IndexRefine.range_search`` does not re-rank); ``ivf-flat`` only looks in
        ``nprobe`` lists; ``sq8`` and plain ``ivf-pq`` compare score estimates with the
        threshold.

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
        m = q.shape[0]
        rows, scores, ids, dys = [], [], [], []
        for day in self._window(days):
            index = self._shard(day)
            self._set_nprobe(index, nprobe)
            for start in range(0, m, RANGE_CHUNK):
                r, s, i = self._range_shard(index, q[start : start + RANGE_CHUNK], t)
                rows.append(r + start)
                scores.append(s)
                ids.append(i)
                dys.append(np.full(i.shape, day, np.int32))
        if not rows:
            e = (np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int32))
            return [e] * m
        return split_ranges(
            np.concatenate(rows),
            np.concatenate(scores),
            np.concatenate(ids),
            t,
            m,
            extra=np.concatenate(dys),
        )
