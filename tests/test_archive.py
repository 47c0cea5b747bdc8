"""facelab.search.archive: the day-sharded archive (its shard kinds and shard cache) against
brute force over the union of days."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
import pytest

from facelab.errors import ConfigError, DataError, RunError
from facelab.search import archive
from facelab.search.archive import (
    ArchiveResult,
    DayShardArchive,
    ShardCache,
    ShardInfo,
    bytes_per_vector,
    kinds,
)
from facelab.search.archive import archive as day_archive

D = 128
DAYS = 5
PER_DAY = 2_000


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng, n, n_ids=300, sigma=0.05, d=D):
    """Synthetic identities: ``n`` unit vectors around ``n_ids`` centres (cos within ~0.75)."""
    centres = unit(rng.normal(size=(n_ids, d)))
    who = rng.integers(0, n_ids, size=n)
    return unit(centres[who] + sigma * rng.normal(size=(n, d)))


@pytest.fixture
def one_thread():
    """PQ training runs many tiny OpenMP loops; on a shared, busy 2-core machine they spin and
    take ~5x longer. Results do not depend on the thread count, so train single-threaded."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7_2026)
    x = clustered(rng, DAYS * PER_DAY)
    ids = rng.permutation(10_000_000)[: DAYS * PER_DAY].astype(np.int64)
    day = np.repeat(np.arange(DAYS), PER_DAY).astype(np.int32)
    rows = rng.integers(0, x.shape[0], size=150)
    q = np.concatenate([unit(x[rows] + 0.03 * rng.normal(size=(150, D))), clustered(rng, 50)])
    return x, ids, day, q


def fill(root, data, kind="flat", days=range(DAYS), **kw):
    x, ids, day, _ = data
    arch = DayShardArchive(root, kind, **kw)
    for d in days:
        sel = day == d
        info = arch.add_day(d, ids[sel], x[sel])
        assert isinstance(info, ShardInfo) and info.ntotal == PER_DAY
    return arch


@pytest.fixture(scope="module")
def flat_arch(tmp_path_factory, data):
    return fill(tmp_path_factory.mktemp("flat"), data)


def brute(data, k, days=None):
    """numpy top-k over the union of the chosen days: (scores, ids, days)."""
    x, ids, day, q = data
    sel = np.ones(len(ids), bool) if days is None else np.isin(day, list(days))
    s = q @ x[sel].T
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), ids[sel][order], day[sel][order], s, ids[sel]


def assert_matches_brute(res, data, k, days=None, atol=1e-5):
    x, ids, day, q = data
    ref_s, ref_i, _, s, sub_ids = brute(data, k, days)
    np.testing.assert_allclose(res.scores, ref_s, atol=atol, rtol=0)
    differ = res.ids != ref_i
    assert np.all(np.abs(ref_s[differ] - res.scores[differ]) <= atol)  # ties only
    pos = {int(v): i for i, v in enumerate(ids)}
    for i, row in enumerate(res.ids):
        for j, dd in zip(row, res.days[i]):
            assert day[pos[int(j)]] == dd  # the right day is reported
    assert np.isin(res.ids, sub_ids).all()


def recall_at(res_ids, ref_ids):
    return np.mean([len(set(a) & set(b)) / ref_ids.shape[1] for a, b in zip(res_ids, ref_ids)])


# ---- flat --------------------------------------------------------------------------------


def test_flat_search_equals_brute_force(flat_arch, data):
    assert flat_arch.days() == list(range(DAYS))
    assert flat_arch.ntotal == DAYS * PER_DAY == len(flat_arch)
    res = flat_arch.search(data[3], 10)
    assert isinstance(res, ArchiveResult)
    assert res.scores.shape == res.ids.shape == res.days.shape == (200, 10)
    assert (res.scores.dtype, res.ids.dtype, res.days.dtype) == (np.float32, np.int64, np.int32)
    assert np.all(np.diff(res.scores, axis=1) <= 0)
    assert_matches_brute(res, data, 10)
    assert set(np.unique(res.days)) > {0}  # results really come from several days


def test_days_window_restricts(flat_arch, data):
    res = flat_arch.search(data[3], 8, days=[1, 3, 99])
    assert set(np.unique(res.days)) <= {1, 3}
    assert_matches_brute(res, data, 8, days=[1, 3])
    one = flat_arch.search(data[3], 8, days=range(2, 3))
    assert set(np.unique(one.days)) == {2}
    np.testing.assert_array_equal(flat_arch.search(data[3], 8, days=2).ids, one.ids)
    empty = flat_arch.search(data[3], 4, days=[42])
    assert (
        np.all(empty.ids == -1) and np.all(empty.days == -1) and np.all(np.isneginf(empty.scores))
    )


def test_min_score_blanks_low_candidates(flat_arch, data):
    res = flat_arch.search(data[3], 10, min_score=0.7)
    ref = flat_arch.search(data[3], 10)
    keep = ref.scores >= np.float32(0.7)
    np.testing.assert_array_equal(res.ids[keep], ref.ids[keep])
    assert np.all(res.ids[~keep] == -1) and np.all(res.days[~keep] == -1)
    assert keep.any() and (~keep).any()


def test_k_beyond_window_pads(tmp_path, data):
    x, ids, _, q = data
    arch = DayShardArchive(tmp_path)
    arch.add_day(0, ids[:3], x[:3])
    arch.add_day(2, ids[3:5], x[3:5])
    res = arch.search(q[:4], 7)
    assert np.all(res.ids[:, :5] >= 0) and np.all(res.ids[:, 5:] == -1)
    assert np.all(res.days[:, 5:] == -1) and set(np.unique(res.days[:, :5])) == {0, 2}


@pytest.mark.parametrize("t", [0.5, 0.8])
def test_range_search_equals_brute_force(flat_arch, data, t):
    x, ids, day, q = data
    s = q @ x.T
    t32 = np.float32(t)
    got = flat_arch.range_search(q, t, days=[0, 2, 4])
    win = np.isin(day, [0, 2, 4])
    total = 0
    for i, (sc, li, dy) in enumerate(got):
        sure = set(ids[win & (s[i] >= t32 + 1e-5)].tolist())
        maybe = set(ids[win & (s[i] >= t32 - 1e-5)].tolist())
        assert sure <= set(li.tolist()) <= maybe
        assert np.all(sc >= t32) and np.all(np.diff(sc) <= 0)
        pos = np.searchsorted(ids, li, sorter=np.argsort(ids))
        np.testing.assert_array_equal(day[np.argsort(ids)][pos], dy)
        total += len(li)
    assert total > 0


def test_range_search_threshold_tie_is_a_match(flat_arch, data):
    x, ids, _, _ = data
    res = flat_arch.search(x[:20], 3)  # queries identical to archived vectors
    for i in range(20):
        t = res.scores[i, 1]
        sc, li, _ = flat_arch.range_search(x[i : i + 1], float(t))[0]
        assert res.ids[i, 1] in li and res.ids[i, 0] in li


def test_lru_cache_and_mmap_give_same_answers(tmp_path, data, flat_arch):
    ref = flat_arch.search(data[3], 10)
    for kw in ({"cache_shards": 1}, {"cache_shards": 0, "mmap": False}, {"cache_shards": None}):
        other = DayShardArchive(flat_arch.root, **kw)
        res = other.search(data[3], 10)
        np.testing.assert_array_equal(res.ids, ref.ids)
        np.testing.assert_array_equal(res.scores, ref.scores)
        if kw["cache_shards"] is not None:
            assert len(other.cached_days()) <= kw["cache_shards"]


def test_a_shared_cache_keeps_shards_loaded_between_archive_objects(
    tmp_path, data, flat_arch, monkeypatch
):
    """An owner that opens an archive object per request passes each the same ShardCache: a
    new object finds the shards its predecessor loaded; without one, an archive starts empty."""
    x, ids, _, q = data
    shared = ShardCache(capacity=None)
    first = DayShardArchive(flat_arch.root, cache=shared)
    ref = first.search(q[:2], 10)
    assert sorted(first.cached_days()) == list(range(DAYS))
    reads = []
    real_read = DayShardArchive._read
    monkeypatch.setattr(DayShardArchive, "_read",
                        lambda self, day, *, mmap: reads.append(day) or real_read(self, day, mmap=mmap))  # fmt: skip
    second = DayShardArchive(flat_arch.root, cache=shared)
    _same(second.search(q[:2], 10), ref)
    assert reads == [] and second.cached_days() == first.cached_days()
    assert second.cache is shared and second.cache_shards is None
    assert DayShardArchive(flat_arch.root).cached_days() == []  # a private cache of its own
    # another folder in the same cache: clear_cache unloads only the archive's own folder
    other = DayShardArchive(tmp_path / "other", cache=shared)
    other.add_day(0, ids[:50], x[:50])
    other.search(q[:1], 5)
    second.clear_cache()
    assert first.cached_days() == [] and other.cached_days() == [0] and len(shared) == 1
    with pytest.raises(ConfigError, match="cache_shards"):
        ShardCache(-1)


# ---- writing, appending, dropping ---------------------------------------------------------


def test_add_day_append_and_atomic_files(tmp_path, data):
    x, ids, day, q = data
    arch = DayShardArchive(tmp_path, "flat")
    arch.add_day(3, ids[:500], x[:500])
    with pytest.raises(DataError, match="already has a shard"):
        arch.add_day(3, ids[500:600], x[500:600])
    arch.search(q, 5)  # shard now cached (memory-mapped)
    info = arch.append(3, ids[500:1000], x[500:1000])
    assert info.ntotal == 1000 and info.kind == "flat"
    arch.append(4, ids[1000:1200], x[1000:1200])  # a missing day is created
    with pytest.raises(DataError, match="already archived"):
        arch.append(3, ids[990:1010], x[990:1010])
    assert arch.append(3, ids[990:1000], x[990:1000], skip_existing=True).ntotal == 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day-0003.faiss", "day-0004.faiss"]
    res = arch.search(q, 10)  # the cache saw the rewritten file
    sub = (x[:1200], ids[:1200], np.r_[np.full(1000, 3), np.full(200, 4)].astype(np.int32), q)
    assert_matches_brute(res, sub, 10)
    arch.add_day(3, ids[:10], x[:10], replace=True)
    assert arch.shard_info(3).ntotal == 10 and arch.ntotal == 210


def test_failed_write_keeps_old_shard_and_no_temp(tmp_path, data, monkeypatch):
    x, ids, _, q = data
    arch = DayShardArchive(tmp_path)
    arch.add_day(1, ids[:100], x[:100])
    before = arch.path(1).read_bytes()

    def boom(index, fname):
        with open(fname, "wb") as fh:
            fh.write(b"half a shard")
        raise RuntimeError("Error in write at io.cpp:1: No space left on device")

    monkeypatch.setattr(faiss, "write_index", boom)
    with pytest.raises(RunError, match="day-0001.faiss.*No space left"):
        arch.append(1, ids[100:200], x[100:200])
    monkeypatch.undo()
    assert arch.path(1).read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["day-0001.faiss"]
    assert arch.shard_info(1).ntotal == 100


def test_stale_temp_files_are_removed_on_open(tmp_path):
    stale = tmp_path / ".day-0002.faiss.abc123.tmp"
    stale.write_bytes(b"embeddings of an interrupted write")
    other = tmp_path / "notes.txt"
    other.write_text("keep me")
    DayShardArchive(tmp_path)
    assert not stale.exists() and other.exists()


def test_drop_day_and_drop_before(tmp_path, data):
    x, ids, day, q = data
    arch = fill(tmp_path, data)
    before = arch.search(q, 10)
    assert (before.days == 2).any()
    size = arch.path(2).stat().st_size
    assert arch.drop_day(2) == size
    assert not arch.path(2).exists() and arch.days() == [0, 1, 3, 4]
    assert arch.drop_day(2) == 0
    res = arch.search(q, 10)
    assert not (res.days == 2).any()
    assert not np.isin(res.ids, ids[day == 2]).any()
    assert all(not np.isin(li, ids[day == 2]).any() for _, li, _ in arch.range_search(q, 0.5))
    assert_matches_brute(res, data, 10, days=[0, 1, 3, 4])
    assert arch.drop_before(4) == [0, 1, 3]
    assert arch.days() == [4] and arch.ntotal == PER_DAY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day-0004.faiss"]


def test_corrupt_or_foreign_shard_is_a_run_error(tmp_path, data):
    x, ids, _, q = data
    arch = DayShardArchive(tmp_path, cache_shards=0)
    arch.add_day(0, ids[:100], x[:100])
    arch.add_day(3, ids[100:200], x[100:200])
    raw = arch.path(3).read_bytes()
    arch.path(3).write_bytes(raw[: len(raw) // 3])
    with pytest.raises(RunError, match=r"day-0003\.faiss") as err:
        arch.search(q, 5)
    assert "\n" not in str(err.value)
    arch.path(3).write_bytes(b"not a faiss file at all" * 10)
    with pytest.raises(RunError, match=r"corrupt or unreadable index file .*day-0003\.faiss"):
        arch.range_search(q, 0.5)
    faiss.write_index(faiss.IndexHNSWFlat(D, 16), str(arch.path(3)))
    with pytest.raises(RunError, match=r"day-0003\.faiss is not a facelab archive shard"):
        arch.search(q, 5)
    faiss.write_index(faiss.IndexIDMap2(faiss.IndexFlatIP(64)), str(arch.path(3)))
    with pytest.raises(RunError, match="64-d"):
        arch.search(q, 5)
    assert arch.search(q, 5, days=[0]).ids.min() >= 0  # the good day still answers


def test_bad_arguments(tmp_path, data):
    x, ids, _, _ = data
    with pytest.raises(ConfigError):
        DayShardArchive(tmp_path, "hnsw")
    with pytest.raises(ConfigError):
        DayShardArchive(tmp_path, "ivf-pq", pq_m=12)
    with pytest.raises(ConfigError):
        DayShardArchive(tmp_path, "flat", refine=True)
    arch = DayShardArchive(tmp_path)
    with pytest.raises(DataError, match="day"):
        arch.add_day(-1, ids[:5], x[:5])
    bad = x[:5].copy()
    bad[2] = np.inf
    with pytest.raises(DataError, match="day 0 embeddings: 1 of 5 rows"):
        arch.add_day(0, ids[:5], bad)
    with pytest.raises(DataError, match="no vectors"):
        arch.add_day(0, ids[:0], x[:0])
    assert arch.days() == []


# ---- compressed and IVF kinds -------------------------------------------------------------


KINDS = {  # name: (kind, params, days built, recall@10 floor)
    "ivf-flat": ("ivf-flat", {"nprobe": 16}, DAYS, 0.95),
    "sq8": ("sq8", {}, DAYS, 0.9),
    "ivf-sq8": ("ivf-sq8", {"nprobe": 16}, DAYS, 0.9),
    "ivf-pq16": ("ivf-pq", {"nprobe": 16}, 1, 0.3),
    "ivf-pq16+refine": ("ivf-pq", {"nprobe": 16, "refine": True}, 1, 0.85),
}
PQ_DAY = 3_000  # ivf-pq needs >= PQ_MIN_TRAIN vectors in a day; PQ training dominates test time


@pytest.fixture(scope="module")
def built(tmp_path_factory, data):
    """Archives of each kind, built once: ivf-pq one day of PQ_DAY vectors, the others every day."""
    x, ids, day, q = data
    cache = {}

    def get(name):
        if name not in cache:
            kind, kw, n_days, _ = KINDS[name]
            arch = DayShardArchive(tmp_path_factory.mktemp(name), kind, **kw)
            per = PER_DAY if n_days > 1 else PQ_DAY
            for d in range(n_days):
                arch.add_day(d, ids[d * per : (d + 1) * per], x[d * per : (d + 1) * per])
            n = n_days * per
            sub_day = (np.arange(n) // per).astype(np.int32)
            cache[name] = (arch, (x[:n], ids[:n], sub_day, q))
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(KINDS))
def test_recall_at_10_against_exact(built, name, one_thread):
    kind, kw, _, floor = KINDS[name]
    arch, sub = built(name)
    assert {arch.shard_info(d).kind for d in arch.days()} == {name.replace("16", "")}
    xs, ids_s, day_s, q = sub
    _, ref_ids, _, s, _ = brute(sub, 10)
    res = arch.search(q, 10)
    rec = recall_at(res.ids, ref_ids)
    assert rec >= floor, (name, rec)
    pos = {int(v): i for i, v in enumerate(ids_s)}
    ok = res.ids >= 0
    assert ok.all()
    assert np.array_equal(day_s[[pos[int(j)] for j in res.ids[ok]]], res.days[ok])
    exact_scores = kind == "ivf-flat" or kw.get("refine", False)
    true = np.array([[s[i, pos[int(j)]] for j in row] for i, row in enumerate(res.ids)])
    err = np.abs(true - res.scores).max()
    assert err < (1e-5 if exact_scores else 0.02 if "sq8" in kind else 0.5), (name, err)
    # range search: the threshold rule holds, within the kind's score error
    t32 = np.float32(0.8)
    for i, (sc, li, _day) in enumerate(arch.range_search(q[:50], 0.8)):
        assert np.all(sc >= t32) and np.all(np.diff(sc) <= 0)
        if exact_scores:
            np.testing.assert_allclose([s[i, pos[int(j)]] for j in li], sc, atol=1e-5)
        if kw.get("refine"):  # refined range search scans the stored full vectors: exact set
            assert set(ids_s[s[i] >= t32 + 1e-5].tolist()) <= set(li.tolist())


@pytest.mark.parametrize(
    "name", ["flat", "sq8", "ivf-flat", "ivf-sq8", "ivf-pq16", "ivf-pq16+refine"]
)
def test_remove_sightings_from_a_shard(tmp_path, data, built, flat_arch, name, one_thread):
    """Retention may trim single sightings: every kind supports it, with correct ids after."""
    src, (x, ids, _, q) = (flat_arch, data) if name == "flat" else built(name)
    arch = DayShardArchive(tmp_path, src.kind, pq_m=src.pq_m, refine=src.refine)
    arch.path(0).write_bytes(src.path(0).read_bytes())
    before = arch.ids(0)
    gone = before[::7][:200]
    assert arch.remove(0, np.concatenate([gone, [10**12]])) == len(gone)
    assert arch.remove(0, gone) == 0
    after = arch.ids(0)
    assert len(after) == len(before) - len(gone)
    assert set(after.tolist()) == set(before.tolist()) - set(gone.tolist())
    assert arch.shard_info(0).kind == src.shard_info(0).kind
    assert [p.name for p in tmp_path.iterdir()] == ["day-0000.faiss"]
    # the remaining vectors are still found under their own ids; the removed ones never
    pos = {int(v): i for i, v in enumerate(ids)}
    probe = after[:100]
    hit = arch.search(x[[pos[int(i)] for i in probe]], 1, nprobe=64)
    assert np.mean(hit.ids[:, 0] == probe) > 0.9
    assert not np.isin(arch.search(q, 10, nprobe=64).ids, gone).any()
    assert not any(np.isin(li, gone).any() for _, li, _ in arch.range_search(q, 0.5, nprobe=64))
    assert arch.remove(0, after) == len(after) and arch.days() == []  # an emptied shard goes


def test_ivf_pq_32_subquantizers(tmp_path, data, one_thread, monkeypatch):
    x, ids, _, q = data
    n = 1_024  # fewer than PQ_MIN_TRAIN, so that 32 PQ k-means runs stay quick
    monkeypatch.setattr(kinds, "PQ_MIN_TRAIN", n)
    arch = DayShardArchive(tmp_path, "ivf-pq", pq_m=32, nprobe=16)
    assert arch.add_day(0, ids[:n], x[:n]).kind == "ivf-pq"
    assert arch.add_day(1, ids[n : 2 * n - 1], x[n : 2 * n - 1]).kind == "flat"  # too few
    s = q @ x[:n].T
    ref = ids[:n][np.argsort(-s, axis=1)[:, :10]]
    assert recall_at(arch.search(q, 10, days=[0]).ids, ref) >= 0.5
    assert arch.bytes_per_vector() == 32 + 8


@pytest.mark.parametrize("name", ["flat", "sq8", "ivf-flat", "ivf-sq8", "ivf-pq16"])
def test_bytes_per_vector_matches_files(built, flat_arch, name, one_thread):
    arch = flat_arch if name == "flat" else built(name)[0]
    assert arch.bytes_per_vector() == bytes_per_vector(arch.kind)
    est = arch.bytes_per_vector()
    for d in arch.days():
        info = arch.shard_info(d)
        # on disk: codes + ids per vector, plus per-shard constants (headers, IVF centroids
        # of at most n/39 lists, PQ codebooks)
        consts = (
            2048
            + (info.ntotal // 39) * D * 4 * ("ivf" in name)
            + 256 * D * 4 * ("pq" in name)
            + 2 * D * 4 * ("sq8" in name)
        )
        assert est * info.ntotal <= info.nbytes <= est * info.ntotal + consts, (name, info)


def test_bytes_per_vector_table():
    assert bytes_per_vector("flat") == 520
    assert bytes_per_vector("sq8") == 136
    assert bytes_per_vector("ivf-sq8") == 136
    assert bytes_per_vector("ivf-pq") == 24
    assert bytes_per_vector("ivf-pq", pq_m=32) == 40
    assert bytes_per_vector("ivf-pq", refine=True) == 24 + 520
    with pytest.raises(ConfigError):
        bytes_per_vector("hnsw")


# ---- twin-like data: recall of ivf-sq8 at its default nprobe -----------------------------

TWIN_PEOPLE = 900
TWIN_DAYS = 3
TWIN_PER_DAY = 3_000
TWIN_COMMON = 0.7  # weight of the direction all faces share: impostor cosine ~0.2 (sd 0.08)
TWIN_SPREAD = 0.8  # sighting noise: two sightings of one person score ~0.6


def twin_like(rng, who, centres):
    """Unit vectors of people ``who`` scattered around their centres like SFace embeddings of
    facelab's synthetic faces (genuine ~0.6, impostor ~0.2): hard for IVF, unlike clustered()."""
    noise = TWIN_SPREAD * rng.normal(size=(len(who), D)) / np.sqrt(D)
    return unit(centres[who] + noise)


@pytest.fixture(scope="module")
def twin_data():
    """(vectors, ids, day, queries): TWIN_DAYS days of sightings, 100 photos of people in them."""
    rng = np.random.default_rng(4)
    common = unit(rng.normal(size=(1, D)))[0]
    centres = unit(TWIN_COMMON * common + unit(rng.normal(size=(TWIN_PEOPLE, D))))
    n = TWIN_DAYS * TWIN_PER_DAY
    x = twin_like(rng, rng.integers(0, TWIN_PEOPLE, n), centres)
    q = twin_like(rng, rng.choice(TWIN_PEOPLE, 100, replace=False), centres)
    ids = np.arange(n, dtype=np.int64) * 3 + 1
    day = np.repeat(np.arange(TWIN_DAYS), TWIN_PER_DAY).astype(np.int32)
    return x, ids, day, q


def fill_twin(root, twin_data, kind, **kw):
    x, ids, day, _ = twin_data
    arch = DayShardArchive(root, kind, **kw)
    for d in range(TWIN_DAYS):
        arch.add_day(d, ids[day == d], x[day == d])
    return arch


@pytest.fixture(scope="module")
def ivf_sq8_twin(tmp_path_factory, twin_data):
    return fill_twin(tmp_path_factory.mktemp("ivfsq8"), twin_data, "ivf-sq8")


def test_ivf_sq8_default_nprobe_reaches_recall_0_95(ivf_sq8_twin, twin_data):
    x, ids, day, q = twin_data
    s = q @ x.T
    assert 0.55 < np.sort(s, axis=1)[:, -1].mean() and abs(s.mean() - 0.2) < 0.05  # twin-like
    ref = ids[np.argsort(-s, axis=1)[:, :10]]
    arch = ivf_sq8_twin
    assert arch.nprobe is None and {arch.shard_info(d).kind for d in arch.days()} == {"ivf-sq8"}
    nlist = faiss.downcast_index(arch._shard(0)).nlist
    assert kinds.default_nprobe(nlist) >= kinds.ARCHIVE_MIN_NPROBE
    res = arch.search(q, 10)
    assert recall_at(res.ids, ref) >= 0.95
    assert recall_at(arch.search(q, 10, nprobe=4).ids, ref) < 0.9  # the data is hard for IVF
    pos = {int(v): i for i, v in enumerate(ids)}
    true = np.array([[s[i, pos[int(j)]] for j in row] for i, row in enumerate(res.ids)])
    assert np.abs(true - res.scores).max() < 0.01  # 8-bit residual codes
    assert np.array_equal(day[[pos[int(j)] for j in res.ids.ravel()]], res.days.ravel())


def test_default_nprobe_is_a_share_of_the_lists():
    assert kinds.default_nprobe(10) == 10
    assert kinds.default_nprobe(85) == kinds.ARCHIVE_MIN_NPROBE
    assert kinds.default_nprobe(730) == int(np.ceil(kinds.ARCHIVE_PROBE_FRACTION * 730))
    assert kinds.default_nprobe(7_303) == int(np.ceil(kinds.ARCHIVE_PROBE_FRACTION * 7_303))


def test_ivf_sq8_small_day_is_stored_sq8_and_purgeable(tmp_path, data):
    x, ids, _, _ = data
    arch = DayShardArchive(tmp_path, "ivf-sq8")
    assert arch.add_day(0, ids[:500], x[:500]).kind == "sq8"  # < IVF_MIN_TRAIN
    assert arch.remove(0, ids[:10]) == 10 and not np.isin(arch.ids(0), ids[:10]).any()
    with pytest.raises(ConfigError, match="trained per day"):
        arch.append(1, ids[500:600], x[500:600])


def _ivf_codes(ivf) -> dict[int, bytes]:
    """id -> the code bytes an IVF index stores for it (8-bit residual codes for ivf-sq8)."""
    from facelab.governance.retention.faiss_bytes import ivf_codes as list_codes

    ids, codes = list_codes(ivf)
    return {i: c.tobytes() for i, c in zip(ids.tolist(), codes)}


def test_ivf_sq8_removed_sightings_leave_no_byte(tmp_path, ivf_sq8_twin):
    """Retention trims single sightings: their ids and their 8-bit codes leave the file."""
    arch = DayShardArchive(tmp_path, "ivf-sq8")
    arch.path(1).write_bytes(ivf_sq8_twin.path(1).read_bytes())
    codes = _ivf_codes(faiss.read_index(str(arch.path(1))))
    gone = arch.ids(1)[::5]
    assert arch.remove(1, gone) == len(gone)
    raw = arch.path(1).read_bytes()
    assert not any(codes[int(i)] in raw for i in gone)
    assert all(codes[int(i)] in raw for i in arch.ids(1)[:50])  # the check can find codes
    ids, vecs = arch.vectors(1)
    assert not np.isin(ids, gone).any() and vecs.shape == (len(ids), D)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=0.02)
    # retention's own helpers (facelab.governance.retention) read and trim an ivf-sq8 shard too
    from facelab.governance.retention.faiss_bytes import index_ids, reconstruct

    shard = faiss.read_index(str(arch.path(1)))
    kept = index_ids(shard)
    assert set(kept.tolist()) == set(ids.tolist())
    np.testing.assert_allclose(reconstruct(shard, kept[:5].tolist()), vecs[:5], atol=1e-6)
    shard.remove_ids(kept[:5])
    assert set(index_ids(shard).tolist()) == set(kept[5:].tolist())
    assert arch.drop_day(1) > 0 and arch.days() == []


# ---- IVF training cost --------------------------------------------------------------------


def test_train_sample_is_capped_and_deterministic(twin_data):
    x = twin_data[0]
    cap = kinds.IVF_TRAIN_POINTS_PER_LIST * 20
    a, b = kinds.train_sample(x, 20, day=3), kinds.train_sample(x, 20, day=3)
    assert a.shape == (cap, D) and np.array_equal(a, b)
    assert not np.array_equal(a, kinds.train_sample(x, 20, day=4))
    assert kinds.train_sample(x, 10_000, day=3) is x  # enough lists: every row


def test_capped_training_keeps_recall(tmp_path, twin_data, monkeypatch):
    """IVF_TRAIN_* cut k-means to 64 points a list and 10 iterations; recall stays."""
    x, ids, _, q = twin_data
    ref = ids[np.argsort(-(q @ x.T), axis=1)[:, :10]]
    nlist = 24  # 3,000 vectors a day > 64 x 24: the subsample is really taken
    ivf = kinds.ShardSpec("ivf-sq8").new_ivf("ivf-sq8", nlist)
    assert ivf.cp.max_points_per_centroid == kinds.IVF_TRAIN_POINTS_PER_LIST
    assert ivf.cp.niter == kinds.IVF_TRAIN_NITER and ivf.cp.spherical
    capped = fill_twin(tmp_path / "capped", twin_data, "ivf-sq8", nlist=nlist, nprobe=8)
    monkeypatch.setattr(kinds, "IVF_TRAIN_POINTS_PER_LIST", 256)
    monkeypatch.setattr(kinds, "IVF_TRAIN_NITER", 25)
    full = fill_twin(tmp_path / "full", twin_data, "ivf-sq8", nlist=nlist, nprobe=8)
    r_capped = recall_at(capped.search(q, 10).ids, ref)
    r_full = recall_at(full.search(q, 10).ids, ref)
    assert r_capped >= r_full - 0.02, (r_capped, r_full)


# ---- parallel shard search ----------------------------------------------------------------


def _same(a: ArchiveResult, b: ArchiveResult) -> None:
    for name in ("scores", "ids", "days"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name


def _same_ranges(a, b) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        for x, y in zip(ra, rb):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


@pytest.fixture
def pool_calls(monkeypatch):
    """Count the searches that went through the shard pool."""
    calls = []
    real = day_archive._search_pool

    def spy(threads):
        calls.append(threads)
        return real(threads)

    monkeypatch.setattr(day_archive, "_search_pool", spy)
    return calls


@pytest.mark.parametrize("name", ["flat", "sq8", "ivf-sq8", "ivf-pq16+refine"])
def test_parallel_search_equals_serial(
    built, flat_arch, ivf_sq8_twin, data, twin_data, name, pool_calls
):
    """Byte-identical results, for one photo and for batches, with a cache smaller than the
    window (shards evicted and re-read while the pool works)."""
    src = {"flat": flat_arch, "ivf-sq8": ivf_sq8_twin}.get(name) or built(name)[0]
    q = np.concatenate([data[3][:20], twin_data[3][:20]])
    kw = {"kind": src.kind, "pq_m": src.pq_m, "refine": src.refine}
    serial = DayShardArchive(src.root, threads=1, cache_shards=None, **kw)
    par = DayShardArchive(src.root, threads=4, cache_shards=1, **kw)
    before = faiss.omp_get_max_threads()
    for m in (1, 3, day_archive.PARALLEL_MAX_QUERIES, day_archive.PARALLEL_MAX_QUERIES + 1):
        for opts in ({}, {"min_score": 0.45}, {"nprobe": 3}, {"days": [0, 2, 3]}):
            _same(par.search(q[:m], 7, **opts), serial.search(q[:m], 7, **opts))
        _same_ranges(par.range_search(q[:m], 0.45), serial.range_search(q[:m], 0.45))
        _same_ranges(
            par.range_search(q[:m], 0.4, nprobe=5), serial.range_search(q[:m], 0.4, nprobe=5)
        )
    assert len(par.cached_days()) <= 1
    if len(src.days()) > 1:  # small batches went through the pool, larger ones did not
        assert pool_calls and set(pool_calls) == {4} and len(pool_calls) == 3 * 6
    assert faiss.omp_get_max_threads() == before  # the caller's OpenMP threads are untouched


def test_parallel_search_from_many_threads_shares_one_cache(flat_arch, data, monkeypatch):
    """Concurrent searches on one archive: each shard is read once, results equal serial."""
    q = data[3]
    ref = DayShardArchive(flat_arch.root, threads=1).search(q[:2], 10)
    arch = DayShardArchive(flat_arch.root, threads=2, cache_shards=None)
    reads = []
    real_read = DayShardArchive._read

    def slow_read(self, day, *, mmap):
        reads.append(day)
        time.sleep(0.02)  # widen the window in which other threads ask for the same day
        return real_read(self, day, mmap=mmap)

    monkeypatch.setattr(DayShardArchive, "_read", slow_read)
    with ThreadPoolExecutor(6) as users:  # six callers at once; an exception would propagate
        results = list(users.map(lambda _: arch.search(q[:2], 10), range(6)))
    for r in results:
        _same(r, ref)
    assert sorted(reads) == list(range(DAYS))  # deduplicated loads
    assert arch.cached_days() and sorted(arch.cached_days()) == list(range(DAYS))


def test_parallel_search_propagates_a_bad_shard(tmp_path, data):
    x, ids, _, q = data
    arch = DayShardArchive(tmp_path, threads=3)
    for d in range(3):
        arch.add_day(d, ids[d * 100 : (d + 1) * 100], x[d * 100 : (d + 1) * 100])
    arch.path(1).write_bytes(b"garbage" * 10)
    with pytest.raises(RunError, match=r"day-0001\.faiss"):
        arch.search(q[:1], 5)
    with pytest.raises(RunError, match=r"day-0001\.faiss"):
        arch.range_search(q[:1], 0.5)


def test_default_cache_covers_the_retention_window(tmp_path, data, monkeypatch):
    from facelab.config.defaults import DEFAULT_RETENTION_DAYS

    assert archive.DEFAULT_CACHE_SHARDS >= DEFAULT_RETENTION_DAYS
    x, ids, _, q = data
    arch = DayShardArchive(tmp_path)
    for d in range(DEFAULT_RETENTION_DAYS):
        arch.add_day(d, ids[d * 10 : (d + 1) * 10], x[d * 10 : (d + 1) * 10])
    arch.search(q[:1], 5)
    reads = []
    real_read = DayShardArchive._read
    monkeypatch.setattr(DayShardArchive, "_read",
                        lambda self, day, *, mmap: reads.append(day) or real_read(self, day, mmap=mmap))  # fmt: skip
    arch.search(q[:1], 5)
    assert reads == []  # a second search of the whole window reads no shard again
    # a day purged by another process is unloaded at the next search
    arch.path(3).unlink()
    arch.search(q[:1], 5)
    assert 3 not in arch.cached_days() and len(arch.cached_days()) == DEFAULT_RETENTION_DAYS - 1


def test_archive_kinds_are_the_scenario_kinds():
    from facelab.config import limits

    assert archive.ARCHIVE_KINDS is limits.ARCHIVE_KINDS and "ivf-sq8" in archive.ARCHIVE_KINDS
