"""Helpers every FAISS file of a run shares: input checks, id and range-result helpers, files.

Similarity is cosine on L2-normalised ``float32`` embeddings, computed as an inner product;
a candidate matches when ``score >= threshold`` under the one rule of
:mod:`facelab.search.percent` (:func:`~facelab.search.percent.threshold32`).

Contents
--------
- :func:`check_embeddings`, :func:`check_ids`, :func:`check_k`, :func:`check_positive`,
  :func:`l2_normalize`, :func:`as_unit_rows`: input validation.
- :func:`pad_results`, :func:`lims_to_rows`, :func:`split_ranges`: shaping faiss results.
- :func:`ivf_nlist`, :func:`stored_ids`: IVF sizing and the external ids an index holds.
- :func:`write_index_atomic`, :func:`read_index`: crash-safe FAISS files.

The watchlist search built on them is :mod:`facelab.search.watchlist`; the day-sharded archive
is :mod:`facelab.search.archive`.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from pathlib import Path

import faiss
import numpy as np

from facelab.errors import ConfigError, DataError, RunError
from facelab.fileio import fsync_dir
from facelab.search.percent import at_or_above

log = logging.getLogger(__name__)

EMBEDDING_DIM = 128
"""Width of SFace embeddings."""

UNIT_TOL = 1e-4
"""Rows whose L2 norm is within this of 1 are used as given (bit for bit); others are normalised."""

PAD_ID = -1
"""Id in a result slot that holds no candidate."""

PAD_SCORE = -np.inf
"""Score in a result slot that holds no candidate (faiss itself writes ``-FLT_MAX``)."""

IVF_MIN_TRAIN = 1_000
"""Fewest vectors an IVF index is trained on (an IVF watchlist's first enrolment batch, an IVF
archive day)."""

IVF_POINTS_PER_LIST = 39
"""Fewest training vectors per inverted list (faiss k-means warns below 39 per centroid)."""

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
        raise DataError(
            f"{name}: ids must be >= 0 (-1 marks an empty result slot), got {arr.min()}"
        )
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


def check_positive(name: str, value, *, optional: bool = False) -> int | None:
    """``value`` as an int >= 1 (or ``None`` when ``optional``), else :class:`ConfigError`."""
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# faiss results and ids
# --------------------------------------------------------------------------------------------


def pad_results(scores: np.ndarray, ids: np.ndarray) -> None:
    """In place: give empty slots (``ids < 0``) the score :data:`PAD_SCORE`."""
    scores[ids < 0] = PAD_SCORE


def lims_to_rows(lims: np.ndarray) -> np.ndarray:
    """Query row of each result of a faiss range search, from its ``lims`` (shape (m + 1,))."""
    counts = np.diff(np.asarray(lims, dtype=np.int64))
    return np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)


def ivf_nlist(n: int) -> int:
    """Inverted lists for ``n`` training vectors: about ``4 sqrt(n)``, with >= 39 vectors per list."""
    return max(1, min(int(round(4 * math.sqrt(n))), n // IVF_POINTS_PER_LIST))


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
    keep = at_or_above(scores, t)
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
        raise RunError(f"corrupt or unreadable index file {path}: {_faiss_reason(exc)}") from None
