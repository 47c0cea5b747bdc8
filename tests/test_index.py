"""facelab.search.index (validation helpers, atomic files) and facelab.search.watchlist (the
watchlist search), against numpy references."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from facelab import blas
from facelab.errors import ConfigError, DataError, RunError
from facelab.search import watchlist
from facelab.search.index import (
    check_embeddings,
    check_ids,
    l2_normalize,
    read_index,
    write_index_atomic,
)
from facelab.search.percent import threshold32
from facelab.search.watchlist import AlertCandidates, SearchResult, WatchlistIndex

D = 128


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clustered(rng, n, n_ids=300, sigma=0.05, d=D):
    """Synthetic identities: ``n`` unit vectors around ``n_ids`` centres (cos within ~0.75)."""
    centres = unit(rng.normal(size=(n_ids, d)))
    who = rng.integers(0, n_ids, size=n)
    return unit(centres[who] + sigma * rng.normal(size=(n, d))), who


def near_dups(rng, g, m, sigma=0.03):
    """``m`` queries close to random gallery rows (a near-duplicate of each)."""
    rows = rng.integers(0, g.shape[0], size=m)
    return unit(g[rows] + sigma * rng.normal(size=(m, g.shape[1]))), rows


def dyadic(rng, n, dims=16, d=D):
    """Unit vectors with four entries of +-0.5 in the first ``dims`` columns.

    Their norms are exactly 1 and their dot products multiples of 0.25, exact in float32 in
    any summation order: exact ties at thresholds 0.25, 0.5, 0.75, 1.0.
    """
    x = np.zeros((n, d), np.float32)
    for i in range(n):
        cols = rng.choice(dims, size=4, replace=False)
        x[i, cols] = 0.5 * rng.choice([-1.0, 1.0], size=4)
    return x


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261121)
    g, _ = clustered(rng, 5_000)
    ids = rng.permutation(1_000_000)[:5_000].astype(np.int64) + 10
    q_mated, _ = near_dups(rng, g, 200)
    q_other, _ = clustered(rng, 100)
    q = np.concatenate([q_mated, q_other])
    return g, ids, q, q @ g.T


def assert_topk_matches(res, s_ref, ids, k, atol=1e-5):
    """faiss top-k equals numpy argsort of q @ G.T (scores close; ids equal except ties)."""
    pos = {int(v): i for i, v in enumerate(ids)}
    order = np.argsort(-s_ref, axis=1, kind="stable")[:, :k]
    ref_scores = np.take_along_axis(s_ref, order, axis=1)
    np.testing.assert_allclose(res.scores, ref_scores, atol=atol, rtol=0)
    assert np.all(np.diff(res.scores, axis=1) <= 0)
    # every returned id really has the returned score ...
    got = np.array([[s_ref[i, pos[int(j)]] for j in row] for i, row in enumerate(res.ids)])
    np.testing.assert_allclose(got, res.scores, atol=atol, rtol=0)
    # ... and ids differ from numpy's only where scores tie
    differ = res.ids != ids[order]
    assert np.all(np.abs(ref_scores[differ] - res.scores[differ]) <= atol)
    assert (~differ).mean() > 0.99


# ---- validation --------------------------------------------------------------------------


def test_check_embeddings_accepts_and_converts():
    rng = np.random.default_rng(1)
    x = unit(rng.normal(size=(10, D)))
    assert check_embeddings(x) is x
    y = check_embeddings(x.astype(np.float64)[:, :])
    assert y.dtype == np.float32 and y.flags.c_contiguous
    z = check_embeddings(np.asfortranarray(x))
    assert z.flags.c_contiguous and np.array_equal(z, x)
    assert check_embeddings(np.empty((0, D), np.float32)).shape == (0, D)
    assert check_embeddings(np.ones((3, 5), np.int64), d=5).dtype == np.float32


@pytest.mark.parametrize(
    "x, words",
    [
        (np.zeros(D, np.float32), ["probe", "2-D", "(128,)"]),
        (np.ones((3, 64), np.float32), ["probe", "(n, 128)", "(3, 64)"]),
        (np.array([["a"] * D]), ["probe", "dtype"]),
    ],
)
def test_check_embeddings_shape_errors(x, words):
    with pytest.raises(DataError) as err:
        check_embeddings(x, name="probe")
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_check_embeddings_non_finite_and_zero_rows():
    x = unit(np.random.default_rng(2).normal(size=(20, D)))
    x[3, 0] = np.nan
    x[7, 5] = np.inf
    x[9, 9] = -np.inf
    with pytest.raises(
        DataError, match=r"^gallery: 3 of 20 rows hold NaN or infinite values \(first at row 3\)$"
    ):
        check_embeddings(x, name="gallery")
    z = unit(np.random.default_rng(2).normal(size=(20, D)))
    z[[4, 11]] = 0
    with pytest.raises(
        DataError, match=r"gallery: 2 of 20 rows are zero vectors \(first at row 4\)"
    ):
        check_embeddings(z, name="gallery")


def test_check_ids():
    assert check_ids([3, 1, 2], 3).dtype == np.int64
    with pytest.raises(DataError, match="repeated"):
        check_ids([1, 2, 1], 3)
    with pytest.raises(DataError, match=">= 0"):
        check_ids([1, -1], 2)
    with pytest.raises(DataError, match=r"\(3,\)"):
        check_ids([1, 2], 3)
    with pytest.raises(DataError, match="integers"):
        check_ids([1.5, 2.0], 2)


def test_l2_normalize():
    x = np.random.default_rng(3).normal(size=(50, D)) * 7
    y = l2_normalize(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1, atol=1e-6)
    with pytest.raises(DataError):
        l2_normalize(np.zeros((2, D)))


# ---- files --------------------------------------------------------------------------------


def test_write_index_atomic_and_read(tmp_path):
    rng = np.random.default_rng(4)
    idx = faiss.IndexIDMap2(faiss.IndexFlatIP(D))
    idx.add_with_ids(unit(rng.normal(size=(100, D))), np.arange(100, dtype=np.int64) * 3)
    path = tmp_path / "w.faiss"
    write_index_atomic(idx, path)
    write_index_atomic(idx, path)  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.faiss"]
    back = read_index(path)
    assert back.ntotal == 100
    np.testing.assert_array_equal(faiss.vector_to_array(back.id_map), np.arange(100) * 3)
    mapped = read_index(path, mmap=True)
    assert mapped.ntotal == 100


def test_write_index_atomic_failure_leaves_old_file(tmp_path, monkeypatch):
    idx = faiss.IndexIDMap2(faiss.IndexFlatIP(D))
    path = tmp_path / "w.faiss"
    write_index_atomic(idx, path)
    before = path.read_bytes()

    def boom(index, fname):
        with open(fname, "wb") as fh:
            fh.write(b"partial")
        raise RuntimeError("Error in write at x.cpp:1: disk full")

    monkeypatch.setattr(faiss, "write_index", boom)
    with pytest.raises(RunError, match="w.faiss.*disk full"):
        write_index_atomic(idx, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.faiss"]


def test_read_index_missing_and_corrupt(tmp_path):
    with pytest.raises(RunError, match="not found: .*nope.faiss"):
        read_index(tmp_path / "nope.faiss")
    bad = tmp_path / "bad.faiss"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(RunError, match=r"corrupt or unreadable index file .*bad\.faiss"):
        read_index(bad)
    idx = faiss.IndexIDMap2(faiss.IndexFlatIP(D))
    idx.add_with_ids(
        unit(np.random.default_rng(5).normal(size=(50, D))), np.arange(50, dtype=np.int64)
    )
    write_index_atomic(idx, bad)
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])
    for mmap in (False, True):
        with pytest.raises(RunError, match=r"bad\.faiss") as err:
            read_index(bad, mmap=mmap)
        assert "\n" not in str(err.value)


# ---- watchlist: flat ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def flat(data):
    g, ids, _, _ = data
    return WatchlistIndex.build(ids, g, kind="flat")


def test_flat_search_matches_numpy(flat, data):
    g, ids, q, s = data
    res = flat.search(q, 10)
    assert isinstance(res, SearchResult)
    assert res.scores.shape == (300, 10) and res.scores.dtype == np.float32
    assert res.ids.shape == (300, 10) and res.ids.dtype == np.int64
    assert_topk_matches(res, s, ids, 10)
    assert len(flat) == 5_000 and flat.kind == "flat"
    assert set(flat.ids().tolist()) == set(ids.tolist())


def test_search_pads_when_fewer_than_k():
    rng = np.random.default_rng(6)
    wl = WatchlistIndex()
    empty = wl.search(unit(rng.normal(size=(2, D))), 3)
    assert np.all(empty.ids == -1) and np.all(np.isneginf(empty.scores))
    wl.add([7, 8], unit(rng.normal(size=(2, D))))
    res = wl.search(unit(rng.normal(size=(2, D))), 4)
    assert np.all(res.ids[:, 2:] == -1) and np.all(np.isneginf(res.scores[:, 2:]))
    assert set(res.ids[0, :2]) == {7, 8}


def test_inputs_are_normalised():
    rng = np.random.default_rng(7)
    g = unit(rng.normal(size=(100, D)))
    wl = WatchlistIndex.build(np.arange(100), g * 3.0)
    q = unit(rng.normal(size=(5, D)))
    res = wl.search(q * 0.1, 5)
    ref = WatchlistIndex.build(np.arange(100), g).search(q, 5)
    np.testing.assert_allclose(res.scores, ref.scores, atol=1e-6)
    np.testing.assert_array_equal(res.ids, ref.ids)


@pytest.mark.parametrize("t", [0.3, 0.55, 0.8])
def test_range_search_matches_numpy(flat, data, t):
    g, ids, q, s = data
    got = flat.range_search(q, t)
    assert len(got) == q.shape[0]
    t32 = threshold32(t)
    n_hits = 0
    for i, (sc, li) in enumerate(got):
        want = set(ids[s[i] >= t32].tolist())
        sure = set(ids[s[i] >= t32 + 1e-5].tolist())
        maybe = set(ids[s[i] >= t32 - 1e-5].tolist())
        assert sure <= set(li.tolist()) <= maybe, i
        n_hits += len(want)
        assert sc.dtype == np.float32 and li.dtype == np.int64
        assert np.all(sc >= t32) and np.all(np.diff(sc) <= 0)
    assert n_hits > 0


def test_range_search_ties_are_matches_exact_dyadic():
    """Scores exactly equal to the threshold match (dyadic vectors: exact dot products)."""
    rng = np.random.default_rng(8)
    g = dyadic(rng, 400)
    q = dyadic(rng, 64)
    ids = np.arange(400, dtype=np.int64) * 10 + 1
    s = q @ g.T  # exact: multiples of 0.25
    wl = WatchlistIndex.build(ids, g)
    for t in (0.25, 0.5, 0.75, 1.0):
        got = wl.range_search(q, t)
        n_ties = 0
        for i, (sc, li) in enumerate(got):
            want = ids[s[i] >= t]
            assert sorted(li.tolist()) == sorted(want.tolist()), (t, i)
            n_ties += int(np.sum(sc == np.float32(t)))
        assert n_ties > 0  # the boundary really was exercised
        # the same rule in alert_batch (k large enough to see every candidate)
        alerts = wl.alert_batch(q, t, k=400)
        pairs = set(zip(alerts.query_row.tolist(), alerts.watch_id.tolist()))
        ref = {(i, int(ids[j])) for i, j in zip(*np.nonzero(s >= t))}
        assert pairs == ref


def test_range_search_tie_at_faiss_own_score(flat, data):
    """A threshold equal to the float32 score faiss returns for a candidate keeps it."""
    g, ids, _, _ = data
    q = g[:30]  # queries identical to gallery vectors
    res = flat.search(q, 4)
    for i in range(30):
        t = res.scores[i, 2]
        sc, li = flat.range_search(q[i : i + 1], float(t))[0]
        assert res.ids[i, 2] in li
        assert set(res.ids[i, :3].tolist()) <= set(li.tolist())
        assert sc.min() >= t
    # identical vectors: self-score is ~1 and the gallery vector matches at its own score
    sc, li = flat.range_search(q[:1], float(res.scores[0, 0]))[0]
    assert li[0] == ids[0]


def test_remove(data):
    g, ids, q, s = data
    wl = WatchlistIndex.build(ids, g)
    before = wl.search(q, 5)
    gone = np.unique(before.ids[:, 0])[:50]
    assert wl.remove(np.concatenate([gone, [123_456_789_000]])) == len(gone)
    assert wl.remove(gone) == 0
    assert len(wl) == 5_000 - len(gone)
    assert not np.isin(gone, wl.ids()).any()
    res = wl.search(q, 5)
    assert not np.isin(res.ids, gone).any()
    keep = ~np.isin(ids, gone)
    assert_topk_matches(res, s[:, keep], ids[keep], 5)
    for _scores, li in wl.range_search(q, 0.5):
        assert not np.isin(li, gone).any()
    wl.add(gone, g[np.isin(ids, gone)])  # re-enrol after removal is allowed
    assert len(wl) == 5_000


def test_add_rejects_duplicates_and_bad_input(data):
    g, ids, _, _ = data
    wl = WatchlistIndex.build(ids[:100], g[:100])
    with pytest.raises(DataError, match="already enrolled"):
        wl.add(ids[99:101], g[99:101])
    assert len(wl) == 100  # nothing half-added
    with pytest.raises(DataError, match="repeated"):
        wl.add([5, 5], g[:2])
    bad = g[100:103].copy()
    bad[1, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        wl.add([1, 2, 3], bad)
    with pytest.raises(DataError, match="NaN"):
        wl.search(bad, 3)
    with pytest.raises(DataError, match="k must be"):
        wl.search(g[:1], 0)
    with pytest.raises(ConfigError):
        WatchlistIndex(kind="hnsw")
    assert len(wl) == 100


def test_save_load_round_trip(flat, data, tmp_path):
    _, ids, q, _ = data
    path = tmp_path / "watchlist.faiss"
    flat.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["watchlist.faiss"]
    back = WatchlistIndex.load(path)
    assert back.kind == "flat" and len(back) == len(flat)
    np.testing.assert_array_equal(np.sort(back.ids()), np.sort(ids))
    a, b = flat.search(q, 10), back.search(q, 10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    with pytest.raises(DataError, match="already enrolled"):
        back.add(ids[:1], q[:1])
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(RunError, match="watchlist.faiss"):
        WatchlistIndex.load(path)


# ---- watchlist: ivf -----------------------------------------------------------------------


def test_ivf_watchlist_recall_remove_and_reload(data, tmp_path):
    g, ids, q, s = data
    wl = WatchlistIndex.build(ids, g, kind="ivf", nprobe=16)
    assert wl.kind == "ivf" and len(wl) == 5_000
    exact = ids[np.argsort(-s, axis=1)[:, :10]]
    res = wl.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res.ids, exact)])
    assert recall >= 0.9, recall
    # the ids faiss returns carry their true scores (no id mix-up), also after a removal
    gone = np.unique(res.ids[:, 0])[:40]
    assert wl.remove(gone) == len(gone)
    res = wl.search(q, 10)
    assert not np.isin(res.ids, gone).any()
    pos = {int(v): i for i, v in enumerate(ids)}
    ok = res.ids >= 0
    true = np.array(
        [[s[i, pos[int(j)]] if j >= 0 else 0 for j in row] for i, row in enumerate(res.ids)]
    )
    np.testing.assert_allclose(true[ok], res.scores[ok], atol=1e-5)
    path = tmp_path / "wl.faiss"
    wl.save(path)
    back = WatchlistIndex.load(path, nprobe=32)
    assert back.kind == "ivf" and back.nprobe == 32 and len(back) == 5_000 - len(gone)
    assert set(back.ids().tolist()) == set(wl.ids().tolist())
    with pytest.raises(DataError, match="already enrolled"):
        back.add(ids[~np.isin(ids, gone)][:1], g[:1])
    with pytest.raises(DataError, match="at least"):
        WatchlistIndex(kind="ivf").add(ids[:50], g[:50])


def test_build_auto_picks_flat_below_threshold(data):
    g, ids, _, _ = data
    assert WatchlistIndex.build(ids[:500], g[:500]).kind == "flat"


def test_watchlists_of_100k_stay_exact():
    """IVF at nprobe 16 raised 45 % of the exact alerts at 100,000 entries (benchmarks)."""
    assert watchlist.WATCHLIST_IVF_THRESHOLD > 100_000
    n = 100_000
    rng = np.random.default_rng(1)
    emb = unit(rng.normal(size=(n, D)))
    assert WatchlistIndex.build(np.arange(n), emb).kind == "flat"


def twin_like_watchlist(seed, n, m, common=0.7, spread=0.8):
    """n enrolment photos of people 0..n-1 and m sightings (half of enrolled people) that
    score like facelab's SFace embeddings: genuine ~0.6, impostor ~0.2."""
    rng = np.random.default_rng(seed)
    people = 4 * n
    centres = unit(common * unit(rng.normal(size=(1, D))) + unit(rng.normal(size=(people, D))))

    def draw(who):
        return unit(centres[who] + spread * rng.normal(size=(len(who), D)) / np.sqrt(D))

    who = np.where(rng.random(m) < 0.5, rng.integers(0, n, m), rng.integers(0, people, m))
    return draw(np.arange(n)), draw(who)


def test_ivf_watchlist_default_nprobe_raises_95_percent_of_exact_alerts():
    n, thr = 20_000, 0.6
    photos, events = twin_like_watchlist(3, n, 4_000)
    ids = np.arange(n, dtype=np.int64) + 7
    exact = WatchlistIndex.build(ids, photos, kind="flat").alert_batch(events, thr)
    ivf = WatchlistIndex.build(ids, photos, kind="ivf")
    nlist = ivf.faiss_index.nlist
    frac = watchlist.WATCHLIST_PROBE_FRACTION
    assert ivf.nprobe == watchlist.watchlist_nprobe(nlist) == int(np.ceil(frac * nlist))
    got = ivf.alert_batch(events, thr)
    ex = set(zip(exact.query_row.tolist(), exact.watch_id.tolist()))
    iv = set(zip(got.query_row.tolist(), got.watch_id.tolist()))
    assert len(ex) > 500 and len(ex & iv) / len(ex) >= 0.95
    ivf.nprobe = 16  # the old default finds far fewer on this kind of data
    few = ivf.alert_batch(events, thr)
    assert len(ex & set(zip(few.query_row.tolist(), few.watch_id.tolist()))) / len(ex) < 0.9
    with pytest.raises(ConfigError, match="nprobe"):
        WatchlistIndex(kind="ivf", nprobe=0)


# ---- the BLAS kernel hint (facelab/__init__.py) ---------------------------------------------

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse sse2 {flags}
bugs\t\t: spectre_v1
"""


@pytest.mark.parametrize("flags, want", [
    ("avx2 fma avx512f avx512bw avx512dq avx512vl avx512cd", "SkylakeX"),
    ("avx2 fma avx512f avx512bw avx512dq avx512vl", "Haswell"),  # no avx512cd
    ("avx avx2 fma", "Haswell"),
    ("avx avx2", None),  # no fma
    ("sse4_2", None),
])  # fmt: skip
def test_blas_coretype_from_cpu_flags(flags, want):
    parsed = blas.cpu_flags(CPUINFO.format(flags=flags))
    assert {"fpu", "sse2"} <= parsed and "spectre_v1" not in parsed
    assert blas.blas_coretype(parsed) == want


def test_cpu_flags_without_a_flags_line():
    assert blas.cpu_flags("processor : 0\nmodel name : ARM\n") == frozenset()
    assert blas.blas_coretype(frozenset()) is None


def test_tune_blas_never_overrides_and_can_be_switched_off(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(CPUINFO.format(flags="avx2 fma"))
    monkeypatch.setattr(blas, "CPUINFO", str(info))
    monkeypatch.setattr(blas.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(blas.sys, "platform", "linux")
    env: dict[str, str] = {}
    assert blas.tune_blas(env, modules={}) == "Haswell" and env == {"OPENBLAS_CORETYPE": "Haswell"}
    env = {"OPENBLAS_CORETYPE": "Prescott"}  # a user's choice stays
    assert blas.tune_blas(env, modules={}) is None and env["OPENBLAS_CORETYPE"] == "Prescott"
    env = {blas.NO_BLAS_TUNE_ENV: "1"}
    assert blas.tune_blas(env, modules={}) is None and "OPENBLAS_CORETYPE" not in env
    env = {}
    assert blas.tune_blas(env, modules={"faiss": object()}) is None and env == {}  # too late
    monkeypatch.setattr(blas, "CPUINFO", str(tmp_path / "missing"))
    assert blas.tune_blas(env, modules={}) is None and env == {}  # unreadable: do nothing
    monkeypatch.setattr(blas.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(blas, "CPUINFO", str(info))
    assert blas.tune_blas(env, modules={}) is None and env == {}


# ---- alerting -----------------------------------------------------------------------------


def alert_reference(s, ids, t, k):
    """numpy: {(row, id): (score, rank)} for the top-k of each row that score >= t."""
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    out = {}
    for i, row in enumerate(order):
        for r, j in enumerate(row):
            if s[i, j] >= threshold32(t):
                out[(i, int(ids[j]))] = (s[i, j], r)
    return out


@pytest.mark.parametrize("t, k", [(0.5, 5), (0.7, 3), (0.95, 5)])
def test_alert_batch_matches_numpy(flat, data, t, k):
    g, ids, q, s = data
    got = flat.alert_batch(q, t, k=k, chunk=97)
    assert isinstance(got, AlertCandidates)
    assert got.query_row.dtype == np.int64 and got.watch_id.dtype == np.int64
    assert got.score.dtype == np.float32 and got.rank.dtype == np.int32
    ref = alert_reference(s, ids, t, k)
    have = {
        (int(i), int(j)): (sc, int(r))
        for i, j, sc, r in zip(got.query_row, got.watch_id, got.score, got.rank)
    }
    assert len(have) == len(got)
    kth = np.sort(s, axis=1)[:, -k]
    for key in set(ref) ^ set(have):  # only borderline pairs may differ
        sc = s[key[0], np.flatnonzero(ids == key[1])[0]]
        assert abs(sc - t) < 1e-5 or abs(sc - kth[key[0]]) < 1e-5, key
    for key in set(ref) & set(have):
        assert abs(ref[key][0] - have[key][0]) < 1e-5
    assert np.all(got.score >= threshold32(t))
    assert np.all(np.diff(got.query_row) >= 0)
    # chunking does not change the answer
    whole = flat.alert_batch(q, t, k=k)
    np.testing.assert_array_equal(whole.query_row, got.query_row)
    np.testing.assert_array_equal(whole.watch_id, got.watch_id)
    if t < 0.9:
        assert len(got) > 0


def test_alert_batch_empty_cases(data):
    g, ids, q, _ = data
    wl = WatchlistIndex()
    assert len(wl.alert_batch(q, 0.5)) == 0
    wl.add(ids[:10], g[:10])
    none = wl.alert_batch(q[:0], 0.5)
    assert len(none) == 0 and none.rank.dtype == np.int32
    with pytest.raises(DataError, match="min_score"):
        wl.alert_batch(q, float("nan"))
