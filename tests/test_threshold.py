"""One match rule, ``score >= threshold``, everywhere: the watchlist search, the pipeline's alert
decision and the archive search agree exactly on float32 scores at, one ulp above and one ulp
below a threshold (:func:`facelab.search.percent.threshold32`).

The scores are exact by construction: the watchlist holds the unit vector ``e0`` and each query
is ``(s, sqrt(1 - s^2), 0, ...)``, whose inner product with ``e0`` is ``s`` in any summation
order (every other product is 0), so FAISS returns exactly the float32 ``s`` chosen.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest

from facelab.config.scenario import load_scenario
from facelab.errors import DataError
from facelab.run import pipeline, schema
from facelab.run.store import RunStore
from facelab.search.archive import DayShardArchive
from facelab.search.percent import at_or_above, faiss_ip_radius, get_mapping, threshold32
from facelab.search.watchlist import WatchlistIndex
from facelab.truth import TruthStore

D = 128
WATCH_ID = 5
UP, DOWN = np.float32(np.inf), np.float32(-np.inf)


def edge_scores(t: float) -> np.ndarray:
    """The float32 scores around threshold ``t``: at, one ulp above and one ulp below the
    float32 that scores are compared with."""
    t32 = threshold32(t)
    return np.array([t32, np.nextafter(t32, UP), np.nextafter(t32, DOWN)], np.float32)


def queries(scores: np.ndarray) -> np.ndarray:
    """Unit rows whose inner product with ``e0`` is exactly ``scores`` (float32)."""
    q = np.zeros((scores.size, D), np.float32)
    q[:, 0] = scores
    q[:, 1] = np.sqrt(1.0 - scores.astype(np.float64) ** 2).astype(np.float32)
    return q


def e0() -> np.ndarray:
    v = np.zeros((1, D), np.float32)
    v[0, 0] = 1.0
    return v


def watchlist_matches(q: np.ndarray, t: float) -> dict[str, set[int]]:
    """Query rows the watchlist search matches, by alert_batch and by range_search."""
    wl = WatchlistIndex.build(np.array([WATCH_ID]), e0(), kind="flat")
    np.testing.assert_array_equal(wl.search(q, 1).scores[:, 0], q[:, 0])  # exact scores
    alerts = wl.alert_batch(q, t, k=1)
    assert set(alerts.watch_id.tolist()) <= {WATCH_ID}
    ranged = {i for i, (_, ids) in enumerate(wl.range_search(q, t)) if ids.size}
    return {"alert_batch": set(alerts.query_row.tolist()), "range_search": ranged}


def archive_matches(
    arch: DayShardArchive, ids: np.ndarray, scores: np.ndarray, t: float
) -> dict[str, set[int]]:
    """Rows of ``ids`` (archived sightings scoring ``scores`` against ``e0``) the archive
    search matches with the probe ``e0``."""
    row = {int(s): i for i, s in enumerate(ids)}
    every = arch.search(e0(), ids.size)
    np.testing.assert_array_equal(every.scores[0], np.sort(scores)[::-1])  # exact scores
    top = arch.search(e0(), ids.size, min_score=t).ids[0]
    _, ranged, _ = arch.range_search(e0(), t)[0]
    return {
        "archive.search": {row[int(s)] for s in top if s >= 0},
        "archive.range_search": {row[int(s)] for s in ranged},
    }


def expected(scores: np.ndarray, t: float) -> set[int]:
    """The rule on the real numbers: a float32 score matches when it is >= t exactly."""
    return {i for i, s in enumerate(scores.astype(np.float64)) if s >= t}


# ---- the rule itself ----------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.7, 0.6, 0.35, -0.25, 1e-30, float(np.float32(0.7)), 1.0])
def test_threshold32_is_the_smallest_float32_at_or_above(t):
    t32 = threshold32(t)
    assert t32.dtype == np.float32 and float(t32) >= t
    assert float(np.nextafter(t32, DOWN)) < t
    s = edge_scores(t)
    np.testing.assert_array_equal(at_or_above(s, t), s.astype(np.float64) >= t)
    np.testing.assert_array_equal(s > faiss_ip_radius(t), at_or_above(s, t))


def test_rounding_to_nearest_would_let_a_lower_score_match():
    """0.70 is not a float32: to nearest it is 0.699999988 (69.9999988 % linear), below 0.70.
    The rule rounds up, so that score does not match a 70 % threshold."""
    below = np.float32(0.7)
    assert float(below) < 0.7 and threshold32(0.7) == np.nextafter(below, UP)
    assert not at_or_above(below, 0.7)
    assert get_mapping("linear").to_percent(below) < 70.0


def test_threshold32_edges():
    assert threshold32(-math.inf) == -np.inf and threshold32(math.inf) == np.inf
    assert threshold32(1e39) == np.inf  # beyond float32: no finite score reaches it
    assert threshold32(-1e39) == np.finfo(np.float32).min
    np.testing.assert_array_equal(threshold32([0.7, 0.5]), [threshold32(0.7), np.float32(0.5)])
    with pytest.raises(DataError, match="min_score"):
        threshold32(float("nan"))


# ---- the searches agree --------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.7, 0.6, 0.45, float(np.float32(0.7)), 0.123456789])
def test_watchlist_and_archive_agree_at_the_edge(tmp_path, t):
    scores = edge_scores(t)
    q = queries(scores)
    want = expected(scores, t)
    assert want == {0, 1}  # at and above match, below does not
    arch = DayShardArchive(tmp_path, "flat")
    ids = np.arange(scores.size, dtype=np.int64) + 100
    arch.add_day(0, ids, q)
    got = {**watchlist_matches(q, t), **archive_matches(arch, ids, scores, t)}
    assert got == dict.fromkeys(got, want)


@pytest.mark.parametrize(
    "mapping, percent", [("linear", 70.0), ("linear", 60.0), ("sigmoid", 75.0)]
)
def test_pipeline_alerts_agree_with_the_searches(tmp_path, mapping, percent):
    """The pipeline's alert decision (its day commit) on sightings scoring at, one ulp above and
    one ulp below the camera threshold raises exactly the alerts the watchlist search finds,
    and the archive it writes finds the same sightings again."""
    sc = load_scenario("classroom")
    th = dataclasses.replace(sc.thresholds, mapping=mapping, alert_percent=percent, per_camera={})
    sc = sc.with_overrides(days=1, thresholds=th)
    truth = TruthStore(tmp_path / "run", create=True)
    runner = pipeline.Runner(sc, tmp_path / "run", truth=truth, mode="image")
    try:
        t = float(runner.cos_thr[0])
        assert t == get_mapping(mapping).to_cosine(percent)
        scores = edge_scores(t)
        q = queries(scores)
        want = expected(scores, t)
        assert want == {0, 1}
        sids = pipeline.sighting_ids(0, scores.size)
        batch = pipeline.DayBatch(
            day=0,
            sightings=[
                schema.SightingRow(
                    id=int(s), frame_id=None, camera=0, t=i, day=0, det_score=0.9, face_px=60.0
                )
                for i, s in enumerate(sids)
            ],
            embeddings=[q],
        )
        watch = WatchlistIndex.build(np.array([WATCH_ID]), e0(), kind="flat")
        runner._commit(batch, watch, time.perf_counter())
    finally:
        runner.close()
        truth.close()
    with RunStore(tmp_path / "run") as store:
        rows = store.db.execute("SELECT sighting, watch, percent FROM alerts").fetchall()
        alerted = {int(np.flatnonzero(sids == r[0])[0]) for r in rows}
        assert {r[1] for r in rows} <= {WATCH_ID} and all(r[2] >= percent for r in rows)
        got = {"pipeline": alerted, **watchlist_matches(q, t)}
        got.update(archive_matches(store.archive(cache_shards=0), sids, scores, t))
    assert got == dict.fromkeys(got, want)
