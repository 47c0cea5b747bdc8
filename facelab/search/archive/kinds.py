"""The shard kinds of the day archive: building, adding to, reading, trimming and searching
one day's FAISS shard, per kind.

All kinds score by inner product on L2-normalised vectors, i.e. cosine:

- ``flat``: ``IndexIDMap2(IndexFlatIP)``; exact scores.
- ``sq8``: ``IndexIDMap2(IndexScalarQuantizer(QT_8bit))``; 8-bit codes, scores off by up to ~0.01.
- ``ivf-flat``: ``IndexIVFFlat`` holding the ids itself; exact scores, recall set by ``nprobe``.
- ``ivf-sq8``: ``IndexIVFScalarQuantizer(QT_8bit)`` (residuals to the list centroid, 8 bits a
  dimension) holding the ids itself; 136 bytes a vector like ``sq8`` but without
  ``IndexIDMap2``'s in-memory id maps, and only the probed lists are scanned.
- ``ivf-pq``: ``IndexIVFPQ`` (``pq_m`` = 16 or 32 bytes a vector) holding the ids itself; PQ
  score estimates. With ``refine=True``: ``IndexIDMap2(IndexRefineFlat(IndexIVFPQ))``, which
  keeps the full vectors too and re-ranks ``k * k_factor`` candidates with exact scores.

IVF shards are trained on their own day's vectors when they are built, so they are built in
one go; ``flat`` and ``sq8`` shards can be extended (:data:`APPENDABLE_KINDS`). The ``sq8``
quantiser covers the fixed range [-1, 1] of a unit vector's components (no training data
needed, nothing appended is ever clipped). A day with too few vectors to train an IVF shard is
stored ``flat`` (``sq8`` for ``ivf-sq8``; :data:`SMALL_DAY_KIND`). IVF training is capped
(:data:`IVF_TRAIN_POINTS_PER_LIST` points a list, drawn with a fixed seed per day;
:data:`IVF_TRAIN_NITER` k-means iterations): a 333,333-vector ``ivf-sq8`` shard builds in 19 s
instead of 64 s with faiss' defaults, with the same recall (2 cores, seed 31).

IVF shards probe :data:`ARCHIVE_PROBE_FRACTION` of their lists unless an ``nprobe`` is given:
a photo and a camera sighting of one person score only about 0.6, so their nearest lists often
differ and recall@10 >= 0.95 needs about a third of the lists.

IVF indexes hold the ids themselves rather than sitting under ``IndexIDMap2``, because
``IndexIDMap2.remove_ids`` over an IVF index silently returns wrong ids afterwards (IVF does not
renumber its rows the way the flat storage does). HNSW is never used: it cannot ``remove_ids``,
so nothing built on it could ever be purged of one person's vectors.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from facelab.config.limits import ARCHIVE_KINDS
from facelab.errors import ConfigError, RunError
from facelab.search.index import (
    EMBEDDING_DIM,
    IVF_MIN_TRAIN,
    check_positive,
    ivf_nlist,
    lims_to_rows,
    read_index,
    stored_ids,
)
from facelab.search.percent import faiss_ip_radius

log = logging.getLogger(__name__)

APPENDABLE_KINDS = ("flat", "sq8")
"""Shard kinds that can be extended after they are built (no per-day training)."""

SMALL_DAY_KIND = {"ivf-flat": "flat", "ivf-pq": "flat", "ivf-sq8": "sq8"}
"""What a day with too few vectors to train its IVF kind is stored as: ``flat`` for
``ivf-flat`` and ``ivf-pq``, ``sq8`` for ``ivf-sq8`` (the same 8-bit codes a vector)."""

ARCHIVE_PROBE_FRACTION = 0.35
"""Share of an IVF shard's lists probed per query when no ``nprobe`` is given.

Measured with twin sightings and photos (the archive benchmark's data, seed 31, 100 photos;
recall@10 against exact search): ``ivf-sq8`` needed 32 of 85 lists (38 %, recall 0.960) for
10^5 sightings in 30 day shards; 256 of 730 lists (35 %) gave 0.962 over 4 day shards of a
10^6 archive (0.982 over all 30 in the benchmark's raw-faiss run), and 25 % gave 0.960 (35 %:
0.974) for one shard of 333,333 (2,309 lists, a day of a 10^7 archive): the share needed falls
slowly as shards grow. 16 lists (the faiss habit) found 62 % of the exact top-10 at 10^6. See
also :data:`ARCHIVE_MIN_NPROBE`."""

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


def shard_kind(index: faiss.Index) -> str:
    """Name the kind of a shard index: ``"flat"``, ``"sq8"``, ``"ivf-flat"``, ``"ivf-sq8"``,
    ``"ivf-pq"`` or ``"ivf-pq+refine"``; ``"?"`` if it is none of ours."""
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
    """Decoded vectors of an IVF index in storage order (list by list, as
    :func:`~facelab.search.index.stored_ids`).

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


def read_shard(path: Path, d: int, *, mmap: bool) -> faiss.Index:
    """Read a shard file and check that it is one of ours, ``d``-wide, inner product.

    Parameters
    ----------
    path : Path
    d : int
    mmap : bool
        Map the vector data read-only (search only: never add to a mapped index).

    Raises
    ------
    RunError
        Missing, unreadable or foreign file, or the wrong width or metric (names the file).
    """
    index = read_index(path, mmap=mmap)
    if shard_kind(index) == "?":
        raise RunError(f"{path} is not a facelab archive shard ({type(index).__name__})")
    if index.d != d or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise RunError(
            f"{path} holds {index.d}-d vectors (metric {index.metric_type}); "
            f"this archive expects {d}-d inner product"
        )
    return index


def shard_vectors(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """Ids and stored vectors of a shard, in storage order.

    Returns
    -------
    ids : numpy.ndarray, shape (n,), int64
    vectors : numpy.ndarray, shape (n, d), float32
        Exact for ``flat`` shards, decoded approximations for ``sq8`` / PQ kinds.
    """
    ids = stored_ids(index)
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(inner, faiss.IndexIVF):
        vecs = _ivf_vectors(inner)
    else:
        vecs = inner.reconstruct_n(0, inner.ntotal)
    return ids, vecs.reshape(-1, index.d)


def without_ids(index: faiss.Index, ids: np.ndarray) -> tuple[faiss.Index, int]:
    """Remove ``ids`` from a shard read into memory (never a mapped one).

    ``flat``, ``sq8`` and IVF shards use faiss ``remove_ids`` in place; a refined ``ivf-pq``
    shard (whose ``IndexRefine`` cannot remove) is rebuilt from its stored full vectors on its
    trained quantizers. Either way the shard written afterwards holds no byte of them.

    Parameters
    ----------
    index : faiss.Index
    ids : numpy.ndarray, shape (r,), int64
        Ids not in the shard are ignored.

    Returns
    -------
    index : faiss.Index
        The shard without them (``index`` itself, or the rebuilt refined shard).
    removed : int
    """
    if shard_kind(index) == "ivf-pq+refine":
        return _refine_without(index, ids)
    return index, int(index.remove_ids(faiss.IDSelectorBatch(ids)))


def search_params(index: faiss.Index, nprobe: int | None) -> faiss.SearchParameters | None:
    """Per-call search parameters of a shard: ``nprobe`` lists (default :func:`default_nprobe`)
    for IVF kinds, ``None`` for the others.

    No shared state is changed, so threads may search one cached shard with different
    ``nprobe`` at once.
    """
    ivf = _ivf_of(index)
    if ivf is None:
        return None
    want = nprobe or default_nprobe(ivf.nlist)
    ivf_params = faiss.SearchParametersIVF(nprobe=min(int(want), int(ivf.nlist)))
    if isinstance(index, faiss.IndexIDMap2):  # ivf-pq + refine
        refine = faiss.downcast_index(index.index)
        return faiss.IndexRefineSearchParameters(
            k_factor=float(refine.k_factor), base_index_params=ivf_params
        )
    return ivf_params


def range_candidates(
    index: faiss.Index, block: np.ndarray, t: np.float32, nprobe: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shard's range-search candidates scoring ``>= t`` for one block of queries.

    Exact for ``flat`` and refined ``ivf-pq``: ``IndexRefine.range_search`` does not re-rank
    (it misses matches), so the refine's flat index of every full vector is scanned instead.

    Returns
    -------
    rows : numpy.ndarray, shape (r,), int64
        Query row (within ``block``) of each candidate.
    scores : numpy.ndarray, shape (r,), float32
    ids : numpy.ndarray, shape (r,), int64
    """
    radius = faiss_ip_radius(t)
    if shard_kind(index) == "ivf-pq+refine":
        flat = faiss.downcast_index(faiss.downcast_index(index.index).refine_index)
        lims, scores, pos = flat.range_search(block, radius)
        ids = faiss.vector_to_array(index.id_map)[pos]
        return lims_to_rows(lims), scores, ids
    lims, scores, ids = index.range_search(block, radius, params=search_params(index, nprobe))
    return lims_to_rows(lims), scores, ids


@dataclass(frozen=True)
class ShardSpec:
    """How an archive builds its day shards.

    Parameters
    ----------
    kind : {"flat", "ivf-flat", "ivf-pq", "sq8", "ivf-sq8"}
    d : int
        Embedding width.
    nlist : int, optional
        Inverted lists of IVF shards; default :func:`~facelab.search.index.ivf_nlist` of the
        day's vectors (about ``4 sqrt(n)``).
    nprobe : int, optional
        Lists an IVF shard probes (saved in the file, overridable per search); default
        :func:`default_nprobe` of its lists.
    pq_m : {16, 32}
        Sub-quantizers of ``ivf-pq`` (8 bits each).
    refine : bool
        ``ivf-pq`` only: keep the full vectors too and re-rank exactly.
    k_factor : int
        Candidates per result re-ranked by the refine.

    Raises
    ------
    ConfigError
        Unknown kind, ``pq_m`` not allowed or not dividing ``d``, ``refine`` on another kind,
        or a count that is not a positive integer.
    """

    kind: str = "flat"
    d: int = EMBEDDING_DIM
    nlist: int | None = None
    nprobe: int | None = None
    pq_m: int = 16
    refine: bool = False
    k_factor: int = REFINE_K_FACTOR

    def __post_init__(self) -> None:
        if self.kind not in ARCHIVE_KINDS:
            raise ConfigError(f"unknown archive kind {self.kind!r}; choose one of {ARCHIVE_KINDS}")
        if self.pq_m not in PQ_M_CHOICES or self.d % self.pq_m:
            raise ConfigError(
                f"pq_m must be one of {PQ_M_CHOICES} and divide d={self.d}, got {self.pq_m!r}"
            )
        if self.refine and self.kind != "ivf-pq":
            raise ConfigError("refine applies to kind='ivf-pq' only")
        fields = {
            "d": int(self.d),
            "nlist": check_positive("nlist", self.nlist, optional=True),
            "nprobe": check_positive("nprobe", self.nprobe, optional=True),
            "pq_m": int(self.pq_m),
            "refine": bool(self.refine),
            "k_factor": check_positive("k_factor", self.k_factor),
        }
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def bytes_per_vector(self) -> int:
        """:func:`bytes_per_vector` of the shards this spec builds."""
        return bytes_per_vector(self.kind, self.d, pq_m=self.pq_m, refine=self.refine)

    def kind_for(self, day: int, n: int) -> str:
        """The kind ``day``'s shard of ``n`` vectors is built as: :attr:`kind`, unless they are
        too few to train it (:data:`SMALL_DAY_KIND`)."""
        floor = {"ivf-flat": IVF_MIN_TRAIN, "ivf-sq8": IVF_MIN_TRAIN, "ivf-pq": PQ_MIN_TRAIN}
        if self.kind in floor and n < floor[self.kind]:
            small = SMALL_DAY_KIND[self.kind]
            log.info("day %d: %d vectors are too few to train %s; storing it %s",
                     day, n, self.kind, small)  # fmt: skip
            return small
        return self.kind

    def new_ivf(self, kind: str, nlist: int) -> faiss.IndexIVF:
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

    def build(self, day: int, ids: np.ndarray, emb: np.ndarray) -> faiss.Index:
        """``day``'s shard holding ``emb`` under ``ids`` (IVF kinds trained on them).

        Parameters
        ----------
        day : int
            Seeds the training subsample.
        ids : numpy.ndarray, shape (n,), int64
            Validated sighting ids.
        emb : numpy.ndarray, shape (n, d), float32
            Unit rows, ``n >= 1``.

        Returns
        -------
        faiss.Index
            In memory (not yet written).
        """
        n, d = emb.shape
        kind = self.kind_for(day, n)
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
            ivf = self.new_ivf(kind, nlist)
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
