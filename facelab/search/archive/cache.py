"""The shard cache: loaded day shards kept in memory, least recently used evicted.

A :class:`ShardCache` belongs to whoever keeps shards loaded between searches. A
:class:`~facelab.search.archive.archive.DayShardArchive` makes a private one unless it is given
one; an owner that opens several archive objects over time (one per request, say) passes them
the same cache, so the shards stay loaded between them and go away with their owner. Entries are
keyed by the shard file's absolute path and checked against the file's signature (inode,
modification time, size) on every use: a rewritten, replaced or deleted file is never served
from the cache.

The cache is thread-safe: its table is read and changed under a lock, and a shard is read
outside it by one thread at a time per file (other threads asking for the same file wait and
take that result), so concurrent searches load each shard once.

Memory (:data:`DEFAULT_CACHE_SHARDS` shards, the retention window): memory-mapped shards
(:class:`~facelab.search.archive.archive.DayShardArchive`'s default) keep the codes of ``flat``
and ``sq8`` shards and the inverted lists (codes and ids) of IVF shards in the page cache
(counted in RSS once touched, but given back under memory pressure); ``IndexIDMap2``'s id maps
(~47 bytes a vector, ``flat`` and ``sq8``) and IVF centroids are heap. RSS growth of a fresh
process after opening one mapped 4 x 10^5-vector shard and searching it once: 8 bytes a vector
for ``ivf-sq8`` (only the probed lists are touched), 193 for ``sq8`` (id maps plus every code,
as a full scan reads them). At 10^8 sightings a fully cached 30-day window is about 13.6 GB of
codes either way, plus ~4.7 GB of id maps for ``sq8``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss

from facelab.config.defaults import DEFAULT_RETENTION_DAYS
from facelab.errors import ConfigError, RunError

DEFAULT_CACHE_SHARDS = DEFAULT_RETENTION_DAYS
"""Loaded shards a cache keeps by default (least recently used evicted).

At least the default retention window (30 days), so that searching the whole window does not
cycle the cache (with 8, a 30-day search re-opened most shards every time: 2-20x slower at
10^6 sightings). :meth:`facelab.run.store.RunStore.archive_options` asks for a longer window's
worth where the run's retention is longer."""

Signature = tuple[int, int, int]
"""A shard file's (inode, mtime in ns, size): a cached shard is used only while it matches."""


def file_signature(path: Path) -> Signature:
    """The :data:`Signature` of a shard file.

    Raises
    ------
    RunError
        The file does not exist.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise RunError(f"archive shard not found: {path}") from None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _key(path: Path) -> str:
    return os.path.abspath(path)


class ShardCache:
    """Loaded shards and their vector counts, keyed by file and checked against its signature.

    Parameters
    ----------
    capacity : int or None
        Shards kept loaded (least recently used evicted); ``None`` keeps every shard once
        loaded; 0 keeps none. Vector counts (:meth:`count`) are kept whatever the capacity.

    Raises
    ------
    ConfigError
        A negative capacity.
    """

    def __init__(self, capacity: int | None = DEFAULT_CACHE_SHARDS) -> None:
        if capacity is not None and capacity < 0:
            raise ConfigError(f"cache_shards must be >= 0 or None, got {capacity!r}")
        self.capacity = capacity
        self._shards: OrderedDict[str, tuple[Signature, faiss.Index]] = OrderedDict()
        self._counts: dict[str, tuple[Signature, int]] = {}
        self._lock = threading.Lock()  # guards _shards, _counts and _loading
        self._loading: dict[str, threading.Lock] = {}  # one loader per file at a time

    def __repr__(self) -> str:
        return f"ShardCache(capacity={self.capacity!r}, loaded={len(self)})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._shards)

    def _hit(self, key: str, sig: Signature) -> faiss.Index | None:
        """The cached shard of ``key`` if it is the current file (marks it recently used).
        Call with the lock held."""
        hit = self._shards.get(key)
        if hit is None or hit[0] != sig:
            return None
        self._shards.move_to_end(key)
        return hit[1]

    def _remember(self, key: str, sig: Signature, index: faiss.Index) -> None:
        """Record a freshly read shard (its count, and the shard with LRU eviction). Lock held."""
        self._counts[key] = (sig, int(index.ntotal))
        if self.capacity == 0:
            return
        self._shards[key] = (sig, index)
        self._shards.move_to_end(key)
        while self.capacity is not None and len(self._shards) > self.capacity:
            self._shards.popitem(last=False)

    def get(self, path: Path, load: Callable[[], faiss.Index]) -> faiss.Index:
        """The shard in ``path``: the cached one if it is still the file's, else ``load()``'s.

        Parameters
        ----------
        path : Path
            The shard file.
        load : callable
            ``() -> faiss.Index``: reads the file (called at most once at a time per file).

        Raises
        ------
        RunError
            The file does not exist (or whatever ``load`` raises).
        """
        sig = file_signature(path)
        key = _key(path)
        with self._lock:
            index = self._hit(key, sig)
            if index is not None:
                return index
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                index = self._hit(key, sig)
            if index is not None:
                return index
            index = load()
            with self._lock:
                self._remember(key, sig, index)
        return index

    def count(self, path: Path, read_count: Callable[[], int]) -> int:
        """Vectors in the shard file ``path``: remembered while the file is unchanged, else
        ``read_count()``'s answer."""
        sig = file_signature(path)
        key = _key(path)
        with self._lock:
            hit = self._counts.get(key)
        if hit is not None and hit[0] == sig:
            return hit[1]
        n = int(read_count())
        with self._lock:
            self._counts[key] = (sig, n)
        return n

    def forget(self, path: Path) -> None:
        """Drop the shard and count of ``path`` (before the file is rewritten or deleted)."""
        key = _key(path)
        with self._lock:
            self._shards.pop(key, None)
            self._counts.pop(key, None)

    def prune(self, folder: Path, present: Iterable[Path]) -> None:
        """Unload the shards of ``folder`` whose file is not in ``present`` (deleted by another
        process), so that no mapping keeps a deleted shard's bytes alive."""
        base = _key(folder)
        keep = {_key(p) for p in present}
        with self._lock:
            for key in [k for k in self._shards if os.path.dirname(k) == base and k not in keep]:
                del self._shards[key]
                self._counts.pop(key, None)

    def clear(self, folder: Path | None = None) -> None:
        """Unload every cached shard (of ``folder`` only, if given), unmapping mapped files."""
        with self._lock:
            if folder is None:
                self._shards.clear()
                return
            base = _key(folder)
            for key in [k for k in self._shards if os.path.dirname(k) == base]:
                del self._shards[key]

    def paths(self, folder: Path | None = None) -> list[Path]:
        """Files whose shard is loaded (in ``folder`` only, if given), least recently used first."""
        base = None if folder is None else _key(folder)
        with self._lock:
            return [Path(k) for k in self._shards if base is None or os.path.dirname(k) == base]
