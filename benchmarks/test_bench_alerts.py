"""Alert events per minute by watchlist size: twin sightings searched with
``WatchlistIndex.alert_batch`` (embedding mode, no images).

Per (watchlist size, index kind) one benchmark streams the same seeded sightings through the
sampler and the watchlist in chunks of ``ALERT_CHUNK`` and records, in ``extra_info``, events
per minute for the search alone and for sampling + search, the achieved GFLOP/s of the exact
(flat) search beside the session's sgemm roofline, and, for IVF (``nprobe``: facelab's
default, ``WATCHLIST_PROBE_FRACTION`` of the lists, :mod:`facelab.search`), how many of the
exact alerts IVF finds. ``test_alert_rate_blas_kernel`` re-measures the 10,000-entry flat case
in two subprocesses, with faiss' bundled OpenBLAS as it detects this CPU
(``FACELAB_NO_BLAS_TUNE=1``: facelab's own kernel hint switched off) and with the kernel facelab
names in ``OPENBLAS_CORETYPE`` (see benchmarks/README.md, "Alert events per minute").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facelab import blas
from facelab.search.index import ivf_nlist
from facelab.search.watchlist import ALERT_CHUNK, WatchlistIndex

SEED = 2020  # sampler seed (the metro preset's)
POPULATION = 1_000_000  # people sighted; the watchlist is persons 0 .. size-1 (photo 0 each)
THRESHOLD = 0.60  # cosine (60 % under the linear mapping, the metro preset's alert threshold)
QUALITY_SHARE = {"good": 100, "fair": 60, "poor": 30}  # metro's FR cameras per quality
TARGET_EVENTS_PER_MIN = 1_000_000  # the target, against a 10,000-entry watchlist
AGREEMENT_QUERIES = 8_192  # queries on which IVF alerts are compared with exact ones

SIZES = {"small": (1_000, 10_000), "default": (1_000, 10_000, 100_000)}
SIZES["large"] = SIZES["default"] + (1_000_000,)
QUERIES = {  # sightings per round, by watchlist size (fewer for the big exact searches)
    "small": {1_000: 65_536, 10_000: 65_536},
    "default": {1_000: 262_144, 10_000: 262_144, 100_000: 65_536},
    "large": {1_000: 1_048_576, 10_000: 1_048_576, 100_000: 262_144, 1_000_000: 16_384},
}
CASES = [(n, k) for n in (1_000, 10_000, 100_000, 1_000_000) for k in ("flat", "ivf") if not (
    k == "ivf" and n < 10_000)]  # fmt: skip


def _workload(n: int, seed: int = SEED):
    """Seeded sightings: who (uniform over the population), pass ids, camera quality."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, n]))
    persons = rng.integers(0, POPULATION, n, dtype=np.int64)
    pids = np.arange(n, dtype=np.int64)
    names = np.array(list(QUALITY_SHARE))
    p = np.array(list(QUALITY_SHARE.values()), float)
    quality = names[rng.choice(len(names), n, p=p / p.sum())]
    return persons, pids, quality


def _watchlist(sampler, size: int, kind: str) -> tuple[WatchlistIndex, float]:
    ids = np.arange(size, dtype=np.int64)
    photos = sampler.photos(ids, ids)
    t = time.perf_counter()
    wl = WatchlistIndex.build(ids, photos, kind=kind)
    return wl, time.perf_counter() - t


def _stream(sampler, wl, persons, pids, quality):
    """Sample and alert chunk by chunk; (sample seconds, search seconds, alerts)."""
    t_sample = t_search = 0.0
    alerts = 0
    for s in range(0, len(persons), ALERT_CHUNK):
        sl = slice(s, s + ALERT_CHUNK)
        t0 = time.perf_counter()
        emb = sampler.sightings(persons[sl], pids[sl], quality[sl])
        t1 = time.perf_counter()
        alerts += len(wl.alert_batch(emb, THRESHOLD))
        t2 = time.perf_counter()
        t_sample += t1 - t0
        t_search += t2 - t1
    return t_sample, t_search, alerts


@pytest.mark.benchmark(group="alerts: events/min by watchlist size")
@pytest.mark.parametrize("size,kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_alert_events_per_minute(benchmark, context, tools, twin_model, size, kind):
    """Events/min of twin sightings alerted against a watchlist of ``size`` photos."""
    if size not in SIZES[tools.scale]:
        pytest.skip(f"watchlist {size} not in scale {tools.scale!r}")
    import faiss

    from facelab.twin.sampler import TwinSampler

    sampler = TwinSampler(twin_model, SEED)
    wl, build_s = _watchlist(sampler, size, kind)
    q = QUERIES[tools.scale][size]
    persons, pids, quality = _workload(q)
    _stream(sampler, wl, persons[:4096], pids[:4096], quality[:4096])  # warm-up
    splits: list[tuple[float, float, int]] = []

    def run():
        splits.append(_stream(sampler, wl, persons, pids, quality))

    rounds = 3 if size <= 10_000 else 2
    benchmark.pedantic(run, rounds=rounds, iterations=1)
    sample_s = np.array([s[0] for s in splits])
    search_s = np.array([s[1] for s in splits])
    total_s = sample_s + search_s
    alerts = splits[0][2]
    best_search = float(search_s.min())
    info = {
        "watchlist": size,
        "kind": kind,
        "queries_per_round": q,
        "rounds": rounds,
        "threshold_cosine": THRESHOLD,
        "seed": SEED,
        "population": POPULATION,
        "quality_share": QUALITY_SHARE,
        "alert_top_k": 5,
        "chunk": ALERT_CHUNK,
        "build_seconds": round(build_s, 3),
        "index_bytes": int(faiss.serialize_index(wl.faiss_index).size),
        "alerts_per_round": alerts,
        "alerts_per_event": round(alerts / q, 4),
        "search_events_per_min_best": round(q / best_search * 60),
        "search_events_per_min_median": round(q / float(np.median(search_s)) * 60),
        "sample_events_per_min_best": round(q / float(sample_s.min()) * 60),
        "total_events_per_min_best": round(q / float(total_s.min()) * 60),
        "total_events_per_min_median": round(q / float(np.median(total_s)) * 60),
        "search_seconds": [round(x, 3) for x in search_s],
        "sample_seconds": [round(x, 3) for x in sample_s],
    }
    if kind == "flat":
        flops = 2.0 * size * wl.d * q
        info.update(
            flops_per_round=flops, **tools.achieved(flops, best_search, context["roofline"])
        )
    else:
        ivf = faiss.downcast_index(wl.faiss_index)
        nlist = int(ivf.nlist)
        scanned = size * min(wl.nprobe, nlist) / nlist  # expected vectors scanned per query
        flops = 2.0 * wl.d * (nlist + scanned) * q
        info.update(
            nlist=nlist, nprobe=wl.nprobe, default_nlist_rule=ivf_nlist(size),
            vectors_scanned_per_query=round(scanned), flops_per_round=flops,
            **tools.achieved(flops, best_search, context["roofline"]),
        )  # fmt: skip
        # agreement with exact alerts on the first queries
        m = AGREEMENT_QUERIES
        emb = sampler.sightings(persons[:m], pids[:m], quality[:m])
        exact = WatchlistIndex.build(
            np.arange(size), sampler.photos(np.arange(size), np.arange(size)), kind="flat"
        )
        a_ex = exact.alert_batch(emb, THRESHOLD)
        a_iv = wl.alert_batch(emb, THRESHOLD)
        ex = set(zip(a_ex.query_row.tolist(), a_ex.watch_id.tolist()))
        iv = set(zip(a_iv.query_row.tolist(), a_iv.watch_id.tolist()))
        true_ex = {(r, w) for r, w in ex if persons[r] == w}  # the sighting's own entry
        info.update(
            alert_recall_vs_exact=round(len(ex & iv) / len(ex), 4) if ex else None,
            alert_recall_counts=f"{len(ex & iv)}/{len(ex)} on {m} queries",
            true_alert_recall_vs_exact=(
                round(len(true_ex & iv) / len(true_ex), 4) if true_ex else None
            ),
            true_alert_recall_counts=f"{len(true_ex & iv)}/{len(true_ex)}",
        )
    if size == 10_000:
        info.update(
            target_events_per_min=TARGET_EVENTS_PER_MIN,
            target_met_search=info["search_events_per_min_best"] >= TARGET_EVENTS_PER_MIN,
            target_met_sampling_and_search=info["total_events_per_min_best"]
            >= TARGET_EVENTS_PER_MIN,
        )
    context.update(info)
    assert alerts >= 0


# ------------------------------------------------------------------------- BLAS kernel check

_CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info
from facelab.search.watchlist import WatchlistIndex
from facelab.twin.model import load_default
from facelab.twin.sampler import TwinSampler
size, q, seed, thr = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = TwinSampler(load_default(), seed)
ids = np.arange(size)
wl = WatchlistIndex.build(ids, s.photos(ids, ids), kind="flat")
rng = np.random.default_rng(np.random.SeedSequence([seed, q]))
emb = s.sightings(rng.integers(0, 1_000_000, q), np.arange(q), "good")
wl.alert_batch(emb[:4096], thr)
best = min((lambda t: (wl.alert_batch(emb, thr), time.perf_counter() - t)[1])(time.perf_counter())
           for _ in range(3))
arch = {i["prefix"]: i.get("architecture") for i in threadpool_info() if i["user_api"] == "blas"}
print(json.dumps({"seconds": best, "blas": arch}))
"""


def best_coretype() -> str | None:
    """The OpenBLAS kernel family facelab names for this CPU (``facelab.blas.blas_coretype``)."""
    try:
        return blas.blas_coretype(blas.cpu_flags(Path(blas.CPUINFO).read_text()))
    except OSError:
        return None


@pytest.mark.benchmark(group="alerts: faiss BLAS kernel")
def test_alert_rate_blas_kernel(benchmark, context, tools, twin_model, machine):
    """The 10,000-entry flat alert search in two subprocesses: faiss' bundled OpenBLAS as it
    detects this CPU (facelab's hint switched off), and with ``OPENBLAS_CORETYPE`` naming the
    kernel facelab picks (what the ``facelab`` command sets by default)."""
    coretype = best_coretype()
    if coretype is None:
        pytest.skip("CPU without AVX2/FMA: no better OpenBLAS kernel to compare")
    size, q = 10_000, QUERIES[tools.scale][10_000]
    results = {}

    def child(env_value):
        env = dict(os.environ)
        env.pop(blas.BLAS_CORETYPE_ENV, None)
        env.pop(blas.NO_BLAS_TUNE_ENV, None)
        if env_value:
            env[blas.BLAS_CORETYPE_ENV] = env_value
        else:
            env[blas.NO_BLAS_TUNE_ENV] = "1"  # OpenBLAS' own detection
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(size), str(q), str(SEED), str(THRESHOLD)],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    def run():
        results["detected"] = child(None)
        results["override"] = child(coretype)

    benchmark.pedantic(run, rounds=1, iterations=1)
    flops = 2.0 * size * 128 * q
    det, ovr = results["detected"], results["override"]
    context.update(
        watchlist=size,
        kind="flat",
        queries=q,
        seed=SEED,
        threshold_cosine=THRESHOLD,
        openblas_coretype=coretype,
        faiss_blas_detected=det["blas"],
        faiss_blas_override=ovr["blas"],
        search_events_per_min_detected=round(q / det["seconds"] * 60),
        search_events_per_min_override=round(q / ovr["seconds"] * 60),
        speedup=round(det["seconds"] / ovr["seconds"], 2),
        detected=tools.achieved(flops, det["seconds"], context["roofline"]),
        override=tools.achieved(flops, ovr["seconds"], context["roofline"]),
    )
    assert det["seconds"] > 0 and ovr["seconds"] > 0
