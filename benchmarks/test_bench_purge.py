"""Retention purge: ``DayShardArchive.drop_day`` on day shards up to one day of a 10^8-sighting
archive, and a full ``retention.purge`` of one day on an embedding-mode metro run.

``test_drop_day[...]``: each round copies a prepared shard file into the archive folder
(fsync'ed, untimed) and times ``drop_day`` (unlink + folder fsync). Shard contents are random
unit vectors: dropping never reads them.

``test_retention_purge_one_day[...]``: each round copies the metro run (``metro_run`` fixture,
conftest.py) to a fresh folder (untimed) and times ``retention.purge(run,
retention_days=days - 1)``, which expires exactly day 0: its shard dropped, its sightings,
candidates, alerts and ground truth deleted, both databases vacuumed, the WAL truncated, the
audit record written; with ``proof=True`` a ``DeletionProof`` of the purged embeddings is
built as well.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

from facelab.governance import retention
from facelab.search.archive import DayShardArchive

TARGET_S = 1.0  # the target: purging one day's shard in under 1 s
SHARDS = {  # name -> (kind, vectors): a day of a 10^6 and of a 10^8, 30-day archive
    "1e6-archive-day-flat": ("flat", 1_000_000 // 30),
    "1e8-archive-day-sq8": ("sq8", 100_000_000 // 30),
    "1e8-archive-day-flat": ("flat", 100_000_000 // 30),
}
SEED = 5


def _unit(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, 128), np.float32)
    for s in range(0, n, 1 << 20):
        x = rng.standard_normal((min(1 << 20, n - s), 128), dtype=np.float32)
        out[s : s + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


@pytest.mark.benchmark(group="purge: drop one day shard")
@pytest.mark.parametrize("shard", list(SHARDS))
def test_drop_day(benchmark, context, tools, tmp_path, shard):
    """Time ``drop_day`` on a fresh copy of one day's shard (3 rounds)."""
    if tools.scale == "small" and shard.startswith("1e8"):
        pytest.skip("scale 'small'")
    kind, n = SHARDS[shard]
    master = DayShardArchive(tmp_path / "master", kind=kind, cache_shards=0)
    t = time.perf_counter()
    info = master.add_day(0, np.arange(n, dtype=np.int64), _unit(n, SEED))
    build_s = time.perf_counter() - t
    arch = DayShardArchive(tmp_path / "archive", kind=kind)
    target = arch.path(0)
    freed = []

    def setup():
        shutil.copyfile(info.path, target)
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())
        return (), {}

    def drop():
        freed.append(arch.drop_day(0))

    benchmark.pedantic(drop, setup=setup, rounds=3, iterations=1)
    best, worst = benchmark.stats.stats.min, benchmark.stats.stats.max
    context.update(
        shard=shard,
        kind=kind,
        vectors=n,
        shard_bytes=info.nbytes,
        build_seconds=round(build_s, 2),
        seconds_best=round(best, 5),
        seconds_worst=round(worst, 5),
        bytes_freed=freed[0],
        target_seconds=TARGET_S,
        target_met=worst < TARGET_S,
    )
    assert freed[0] == info.nbytes


@pytest.mark.benchmark(group="purge: retention purge of one day (run directory)")
@pytest.mark.parametrize("proof", [False, True], ids=["no-proof", "with-proof"])
def test_retention_purge_one_day(benchmark, context, metro_run, tmp_path, proof):
    """``retention.purge`` expiring day 0 of the metro run, on a fresh copy each round."""
    from facelab.run.store import RunStore

    src = metro_run["path"]
    with RunStore(src) as store:
        days = len(store.days_done())
    reports = []
    state = {}

    def setup():
        dst = tmp_path / f"run-{len(reports)}"
        shutil.copytree(src, dst)
        state["dst"] = dst
        state["proof"] = retention.DeletionProof() if proof else None
        return (), {}

    def purge():
        reports.append(
            retention.purge(
                state["dst"],
                retention_days=days - 1,
                actor="benchmark",
                reason="benchmark",
                proof=state["proof"],
            )
        )

    benchmark.pedantic(purge, setup=setup, rounds=2, iterations=1)
    rep = reports[0]
    context.update(
        run=metro_run["scenario"],
        run_sightings=metro_run["sightings"],
        run_bytes=metro_run["run_bytes"],
        run_build_seconds=metro_run["build_seconds"],
        days=days,
        retention_days=days - 1,
        expired_day=0,
        proof=proof,
        seconds_best=round(benchmark.stats.stats.min, 3),
        seconds_worst=round(benchmark.stats.stats.max, 3),
        counts={k: v for k, v in rep.counts.items() if v},
        bytes_freed={k: v for k, v in rep.bytes_freed.items() if v},
        proof_needles=len(state["proof"]) if proof else None,
    )
    assert rep.counts.get("sightings", 0) > 0
