"""The bytes a FAISS index stores for each id: what a purge must remove and the proof looks for.

An embedding is stored as the code bytes of its index: 512 raw float32 bytes in a flat shard or
``held.faiss``, 128 bytes in an ``sq8`` shard, and the inverted-list codes of ``ivf-flat``,
``ivf-sq8`` and ``ivf-pq`` shards. Only a refined ``ivf-pq`` (whose full vectors sit in a refine
index under ``IndexIDMap2``) falls back to the reconstructed float32 vectors. ``faiss`` is
imported when first needed.
"""

from __future__ import annotations

import numpy as np


def flat_codes(index) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ids (n,) int64, codes (n, code_size) uint8)`` of an ``IndexIDMap2`` over flat-code
    storage; ``None`` for any other index."""
    import faiss

    if not isinstance(index, faiss.IndexIDMap2):
        return None
    inner = faiss.downcast_index(index.index)
    if not isinstance(inner, faiss.IndexFlatCodes):
        return None
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    codes = faiss.vector_to_array(inner.codes).reshape(-1, inner.code_size)
    return ids, codes


def ivf_codes(index) -> tuple[np.ndarray, np.ndarray] | None:
    """``(ids (n,) int64, codes (n, code_size) uint8)`` read from an IVF index's inverted lists
    (float32 bytes for ``ivf-flat``, 8-bit codes for ``ivf-sq8``, PQ codes for ``ivf-pq``);
    ``None`` for any other index."""
    import faiss

    ivf = faiss.downcast_index(index)
    if not isinstance(ivf, faiss.IndexIVF):  # a refined ivf-pq sits under IndexIDMap2
        return None
    inv, cs = ivf.invlists, ivf.invlists.code_size
    ids, codes = [np.empty(0, np.int64)], [np.empty((0, cs), np.uint8)]
    for lst in range(ivf.nlist):
        n = inv.list_size(lst)
        if n:
            ids_ptr, codes_ptr = inv.get_ids(lst), inv.get_codes(lst)
            ids.append(faiss.rev_swig_ptr(ids_ptr, n).astype(np.int64))
            codes.append(faiss.rev_swig_ptr(codes_ptr, n * cs).copy().reshape(n, cs))
            inv.release_ids(lst, ids_ptr)
            inv.release_codes(lst, codes_ptr)
    return np.concatenate(ids), np.concatenate(codes)


def index_ids(index) -> np.ndarray:
    """Every id the index holds, int64."""
    import faiss

    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    from facelab.search.index import _ivf_list_ids

    return _ivf_list_ids(faiss.downcast_index(index)).astype(np.int64)


def reconstruct(index, ids: list[int]) -> np.ndarray:
    """Float32 vectors of ``ids``, shape ``(len(ids), d)`` (exact for flat storage)."""
    import faiss

    if not isinstance(index, faiss.IndexIDMap2):
        ivf = faiss.downcast_index(index)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
    out = np.empty((len(ids), index.d), np.float32)
    for k, i in enumerate(ids):
        out[k] = index.reconstruct(int(i))
    return out


def stored_bytes(index, ids: set[int]) -> dict[int, bytes]:
    """The bytes each of ``ids`` is stored as (flat or IVF codes, else reconstructed float32)."""
    fc = flat_codes(index) or ivf_codes(index)
    if fc is not None:
        all_ids, codes = fc
        return {int(i): codes[k].tobytes() for k, i in enumerate(all_ids.tolist()) if i in ids}
    want = [i for i in index_ids(index).tolist() if i in ids]
    return {i: v.tobytes() for i, v in zip(want, reconstruct(index, want))}


def new_held(d: int):
    """An empty ``held.faiss`` index: ``IndexIDMap2`` over a flat inner-product index of
    dimension ``d``, keyed by sighting id."""
    import faiss

    return faiss.IndexIDMap2(faiss.IndexFlatIP(d))
