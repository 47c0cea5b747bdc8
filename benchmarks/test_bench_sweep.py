"""Threshold sweep time: ``sweep.sweep`` over 10^6 and 10^7 scored comparisons, and
``scores.load_scores`` + ``sweep.sweep_run`` on a big embedding-mode run (the metro preset).

``test_sweep_scored_comparisons[N]``: N candidate scores as N / 10 searches x 10 candidates
(seeded: impostor scores ~ N(0.2, 0.1), 10 % of searches mated with one mate ~ N(0.6, 0.13)),
swept at 50:80:1 (31 percent thresholds, linear mapping) with every column the report fills:
FMR / FNMR (the candidates as 1:1 pairs), FPIR / FNIR (rank 1) and the alert columns.

``test_load_scores_run``: reading a run's stored candidates joined with its truth
(``facelab sweep RUN`` does this first), then the sweep of those scores.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from facelab.lab import scores, sweep
from facelab.lab.metrics import SearchScores

SEED = 3
K = 10
MATED_SHARE = 0.1
THRESHOLDS = "50:80:1"
CAMERA_DAYS = 1_000
SIZES = {"small": (1_000_000,), "default": (1_000_000, 10_000_000)}
SIZES["large"] = SIZES["default"] + (30_000_000,)
ALL = (1_000_000, 10_000_000, 30_000_000)


def _searches(n: int) -> tuple[SearchScores, dict]:
    rng = np.random.default_rng(np.random.SeedSequence([SEED, n]))
    m = n // K
    sc = rng.normal(0.2, 0.1, (m, K))
    mated = rng.random(m) < MATED_SHARE
    is_mate = np.zeros((m, K), bool)
    sc[mated, 0] = rng.normal(0.6, 0.13, int(mated.sum()))
    is_mate[mated, 0] = True
    order = np.argsort(-sc, axis=1, kind="stable")
    sc = np.take_along_axis(sc, order, 1)
    is_mate = np.take_along_axis(is_mate, order, 1)
    s = SearchScores(scores=sc, is_mate=is_mate, mated=mated)
    flat_s, flat_m = sc.ravel(), is_mate.ravel()
    return s, {
        "genuine": flat_s[flat_m],
        "impostor": flat_s[~flat_m],
        "alert_true": flat_m,
        "alert_score": flat_s,
    }


@pytest.mark.benchmark(group="sweep: scored comparisons")
@pytest.mark.parametrize("n", ALL, ids=[f"{n:.0e}" for n in ALL])
def test_sweep_scored_comparisons(benchmark, context, tools, n):
    """``sweep.sweep`` at 31 thresholds over ``n`` candidate scores, every column filled."""
    if n not in SIZES[tools.scale]:
        pytest.skip(f"{n} comparisons not in scale {tools.scale!r}")
    s, arrays = _searches(n)

    def run():
        return sweep.sweep(
            THRESHOLDS, "linear", searches=s, rank=1, camera_days=CAMERA_DAYS,
            n_searches=s.n_searches, **arrays,
        )  # fmt: skip

    table = benchmark.pedantic(run, rounds=3, iterations=1)
    best = benchmark.stats.stats.min
    row60 = next(r for r in table.rows if r.percent == 60)
    context.update(
        comparisons=n,
        searches=s.n_searches,
        candidates_per_search=K,
        mated_share=MATED_SHARE,
        seed=SEED,
        thresholds=THRESHOLDS,
        rows=len(table.rows),
        seconds_best=round(best, 3),
        seconds_median=round(benchmark.stats.stats.median, 3),
        comparisons_per_s=round(n / best),
        at_60_percent={
            "fmr": str(row60.fmr),
            "fnmr": str(row60.fnmr),
            "fpir": str(row60.fpir),
            "fnir": str(row60.fnir),
            "alerts": row60.alerts,
        },
    )
    assert len(table.rows) == 31


@pytest.mark.benchmark(group="sweep: load a run's scores")
def test_load_scores_run(benchmark, context, metro_run):
    """``scores.load_scores`` on the metro run, then ``sweep.sweep_run`` at 50:80:1."""
    from facelab.run.store import RunStore

    with RunStore(metro_run["path"]) as store:
        rs = benchmark.pedantic(scores.load_scores, args=(store,), rounds=2, iterations=1)
        t = time.perf_counter()
        table = sweep.sweep_run(rs, THRESHOLDS)
        sweep_s = time.perf_counter() - t
    candidates = int(np.isfinite(rs.searches.scores).sum())
    context.update(
        run=metro_run["scenario"],
        run_bytes=metro_run["run_bytes"],
        searches=rs.searches.n_searches,
        candidates=candidates,
        watchlist=rs.watchlist_size,
        load_seconds_best=round(benchmark.stats.stats.min, 3),
        load_candidates_per_s=round(candidates / benchmark.stats.stats.min),
        sweep_seconds=round(sweep_s, 3),
        sweep_rows=len(table.rows),
    )
    assert rs.searches.n_searches == metro_run["sightings"]
