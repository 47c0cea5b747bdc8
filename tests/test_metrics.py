"""Tests for facelab.lab.metrics: definitions, ties, intervals, and the sklearn cross-check."""

import re

import numpy as np
import pytest
from sklearn.metrics import roc_curve

from facelab.errors import ConfigError, DataError
from facelab.lab.metrics import (
    SECONDS_PER_CANDIDATE,
    Rate,
    SearchScores,
    breakdown,
    det_curve,
    eer,
    fmr_fnmr,
    fnir,
    fpir,
    mated_scores,
    nonmated_scores,
    operational_figures,
    targets_found,
    wilson_interval,
)

ATOL = 1e-12


def _tied_scores(rng, n, loc, decimals=2):
    """Scores with many exact ties (rounded) plus some repeated values."""
    s = np.round(rng.normal(loc, 0.15, n), decimals)
    return np.concatenate([s, s[: n // 10]]).astype(np.float32)


def _values(rates):
    return np.array([r.value for r in rates])


# --- Wilson interval and Rate ----------------------------------------------------------------


def test_wilson_known_values():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.7225, abs=1e-4) and hi == 1.0
    lo, hi = wilson_interval(1, 100)
    assert (lo, hi) == pytest.approx((0.0018, 0.0545), abs=1e-4)


def test_wilson_vectorised_and_empty():
    lo, hi = wilson_interval(np.array([0, 5, 0]), np.array([10, 10, 0]))
    assert lo.shape == (3,) and hi.shape == (3,)
    assert lo[1] == pytest.approx(0.2366, abs=1e-4)
    assert np.isnan(lo[2]) and np.isnan(hi[2])
    assert all(np.isnan(wilson_interval(0, 0)))
    with pytest.raises(DataError):
        wilson_interval(11, 10)


def test_rate_of_and_str():
    r = Rate.of(5, 10)
    assert (r.count, r.total, r.value) == (5, 10, 0.5)
    assert str(r) == "0.5000 (5/10, 95% CI 0.2366–0.7634)"
    assert re.fullmatch(r"0\.0123 \(12/975, 95% CI 0\.0\d{3}–0\.0\d{3}\)", str(Rate.of(12, 975)))
    empty = Rate.of(0, 0)
    assert np.isnan(empty.value) and "n/a" in str(empty)


# --- 1:1 -------------------------------------------------------------------------------------


def test_fmr_fnmr_equal_direct_count_with_ties():
    rng = np.random.default_rng(11)
    gen = _tied_scores(rng, 3000, 0.6)
    imp = _tied_scores(rng, 5000, 0.1)
    t = np.concatenate(
        [np.unique(gen), np.unique(imp), rng.uniform(-1, 1.2, 50), [-np.inf, np.inf, 0.0]]
    ).astype(np.float64)
    pairs = fmr_fnmr(gen, imp, t)
    assert len(pairs) == t.size
    g64, i64 = gen.astype(np.float64), imp.astype(np.float64)
    for (fmr, fnmr), thr in zip(pairs, t, strict=True):
        assert fmr.count == int(np.sum(i64 >= thr)) and fmr.total == imp.size
        assert fnmr.count == int(np.sum(g64 < thr)) and fnmr.total == gen.size
        assert fmr.value == np.mean(i64 >= thr)
        assert fnmr.value == np.mean(g64 < thr)


def test_fmr_fnmr_match_sklearn_roc():
    rng = np.random.default_rng(12)
    gen = _tied_scores(rng, 2000, 0.55)
    imp = _tied_scores(rng, 4000, 0.15)
    y = np.r_[np.ones(gen.size), np.zeros(imp.size)]
    fpr, tpr, thr = roc_curve(y, np.r_[gen, imp], drop_intermediate=False)
    pairs = fmr_fnmr(gen, imp, thr)
    np.testing.assert_allclose([p[0].value for p in pairs], fpr, rtol=0, atol=ATOL)
    np.testing.assert_allclose([p[1].value for p in pairs], 1 - tpr, rtol=0, atol=ATOL)


# --- 1:N -------------------------------------------------------------------------------------


def _one_candidate_searches(rng, n, p_mated=0.4, p_mate_found=0.85):
    """k = 1 searches; tied scores; some mated searches return a non-mate at rank 1."""
    mated = rng.random(n) < p_mated
    is_mate = mated & (rng.random(n) < p_mate_found)
    score = np.where(
        is_mate, np.round(rng.normal(0.6, 0.15, n), 2), np.round(rng.normal(0.2, 0.12, n), 2)
    )
    return SearchScores(score[:, None].astype(np.float32), is_mate[:, None], mated)


def test_fpir_fnir_match_sklearn_roc_all_mates_found():
    rng = np.random.default_rng(13)
    s = _one_candidate_searches(rng, 6000, p_mate_found=1.0)
    top = s.scores[:, 0].astype(np.float64)
    fpr, tpr, thr = roc_curve(s.mated.astype(int), top, drop_intermediate=False)
    np.testing.assert_allclose(_values(fpir(s, thr)), fpr, rtol=0, atol=ATOL)
    np.testing.assert_allclose(_values(fnir(s, thr)), 1 - tpr, rtol=0, atol=ATOL)


def test_fpir_fnir_match_sklearn_roc_with_misses():
    rng = np.random.default_rng(14)
    s = _one_candidate_searches(rng, 6000)
    # binary problem: positive = mated search; its score is the rank-1 score when that
    # candidate is the mate, else a sentinel below every real score (never a hit).
    sentinel = -10.0
    top = s.scores[:, 0].astype(np.float64)
    score = np.where(s.mated & ~s.is_mate[:, 0], sentinel, top)
    fpr, tpr, thr = roc_curve(s.mated.astype(int), score, drop_intermediate=False)
    keep = thr > sentinel
    assert keep.sum() > 50
    np.testing.assert_allclose(_values(fpir(s, thr[keep])), fpr[keep], rtol=0, atol=ATOL)
    np.testing.assert_allclose(_values(fnir(s, thr[keep])), 1 - tpr[keep], rtol=0, atol=ATOL)


def _random_searches(rng, n, k):
    mated = rng.random(n) < 0.5
    scores = -np.sort(-np.round(rng.uniform(-0.2, 0.9, (n, k)), 1), axis=1)
    scores[rng.random(n) < 0.05, k // 2 :] = -np.inf  # short candidate lists
    mate_col = rng.integers(0, k + 2, n)  # k, k+1: mate not returned
    is_mate = np.zeros((n, k), bool)
    rows = np.flatnonzero(mated & (mate_col < k))
    is_mate[rows, mate_col[rows]] = True
    is_mate &= np.isfinite(scores)  # a padded slot is no candidate, so no mate
    camera = rng.choice(np.array(["cctv", "body", "van"]), n)
    quality = rng.integers(0, 3, n)
    return SearchScores(scores, is_mate, mated, camera=camera, quality=quality)


def _brute_fnir(s, t, rank):
    misses = 0
    for i in np.flatnonzero(s.mated):
        cols = range(min(rank, s.scores.shape[1]))
        hit = any(s.is_mate[i, j] and -np.inf < s.scores[i, j] >= t for j in cols)
        misses += not hit
    return misses


def test_fnir_rank_and_fpir_against_brute_force():
    rng = np.random.default_rng(15)
    s = _random_searches(rng, 400, 5)
    thresholds = [-np.inf, -0.2, 0.0, 0.3, 0.5, 0.9, 1.0]
    for rank in (1, 2, 5, 10):
        for t, r in zip(thresholds, fnir(s, thresholds, rank=rank), strict=True):
            assert r.count == _brute_fnir(s, t, rank)
            assert r.total == int(s.mated.sum())
    for t, r in zip(thresholds, fpir(s, thresholds), strict=True):
        assert r.count == sum(-np.inf < s.scores[i, 0] >= t for i in np.flatnonzero(~s.mated))
    # FNIR never increases with rank
    f1, f5 = _values(fnir(s, thresholds, rank=1)), _values(fnir(s, thresholds, rank=5))
    assert (f5 <= f1).all()


def test_mated_and_nonmated_scores():
    s = SearchScores(
        np.array([[0.9, 0.5], [0.8, 0.7], [0.6, -np.inf]]),
        np.array([[False, True], [False, False], [False, False]]),
        np.array([True, True, False]),
    )
    np.testing.assert_array_equal(mated_scores(s, rank=1), [-np.inf, -np.inf])
    np.testing.assert_array_equal(mated_scores(s, rank=2), [0.5, -np.inf])
    np.testing.assert_array_equal(nonmated_scores(s), [0.6])
    # -inf means "no score": it never matches, not even at T = -inf
    assert fnir(s, -np.inf, rank=1)[0].count == 2
    assert fnir(s, -np.inf, rank=2)[0].count == 1
    assert targets_found(np.array([-np.inf, 0.1]), -np.inf)[0].count == 1
    empty = SearchScores(np.empty((2, 0)), np.empty((2, 0), bool), np.array([True, False]))
    assert fpir(empty, 0.0)[0].count == 0 and fnir(empty, 0.0)[0].count == 1


def test_search_scores_validation():
    ok = dict(
        scores=np.array([[0.9, 0.5]]), is_mate=np.array([[True, False]]), mated=np.array([True])
    )
    SearchScores(**ok)
    with pytest.raises(DataError, match="scores"):
        SearchScores(**{**ok, "scores": np.array([[np.nan, 0.5]])})
    with pytest.raises(DataError, match="sorted"):
        SearchScores(**{**ok, "scores": np.array([[0.5, 0.9]])})
    with pytest.raises(DataError, match="is_mate"):
        SearchScores(**{**ok, "is_mate": np.array([[True]])})
    with pytest.raises(DataError, match="mated"):
        SearchScores(**{**ok, "mated": np.array([True, False])})
    with pytest.raises(DataError, match="not enrolled"):
        SearchScores(**{**ok, "mated": np.array([False])})
    with pytest.raises(DataError, match="padded"):
        SearchScores(
            **{**ok, "scores": np.array([[0.9, -np.inf]]), "is_mate": np.array([[False, True]])}
        )
    with pytest.raises(DataError, match="camera"):
        SearchScores(**ok, camera=np.array(["a", "b"]))
    with pytest.raises(ConfigError):
        fnir(SearchScores(**ok), 0.5, rank=0)


# --- DET / EER -------------------------------------------------------------------------------


def test_det_curve_matches_fmr_fnmr():
    rng = np.random.default_rng(16)
    gen, imp = _tied_scores(rng, 500, 0.6), _tied_scores(rng, 800, 0.2)
    t, fmr, fnmr = det_curve(gen, imp)
    np.testing.assert_array_equal(t, np.unique(np.r_[gen, imp]).astype(np.float64))
    pairs = fmr_fnmr(gen, imp, t)
    np.testing.assert_array_equal(fmr, [p[0].value for p in pairs])
    np.testing.assert_array_equal(fnmr, [p[1].value for p in pairs])
    assert (np.diff(fmr) <= 0).all() and (np.diff(fnmr) >= 0).all()


def test_eer():
    value, thr = eer([0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.65])
    assert (value, thr) == (0.25, 0.65)
    value, thr = eer([0.9, 0.8], [0.1, 0.2])  # separable: EER 0 at the lowest genuine score
    assert value == 0.0 and 0.2 < thr <= 0.8
    rng = np.random.default_rng(17)
    value, _ = eer(rng.normal(1, 1, 20000), rng.normal(-1, 1, 20000))
    assert value == pytest.approx(0.1587, abs=0.01)  # Phi(-1)
    with pytest.raises(DataError):
        eer([], [0.1])


# --- operational figures ---------------------------------------------------------------------


def test_operational_figures():
    alert_true = np.array([True, False, False, False, True, False])
    alert_score = np.array([0.9, 0.8, 0.7, 0.6, 0.6, 0.5])
    out = operational_figures(
        alert_true, alert_score, n_searches=100, camera_days=4, thresholds=[0.6, 0.85, 1.0]
    )
    o = out[0]
    assert (o.threshold, o.alerts, o.true_alerts, o.false_alerts) == (0.6, 5, 2, 3)
    assert o.false_alert_share.value == 0.6 and o.false_alert_share.total == 5
    assert o.false_alerts_per_camera_day == 0.75
    assert o.candidates_per_search == 0.05
    assert o.review_hours == pytest.approx(5 * SECONDS_PER_CANDIDATE / 3600)
    assert (out[1].alerts, out[1].false_alerts) == (1, 0)
    assert out[2].alerts == 0 and np.isnan(out[2].false_alert_share.value)
    zero = operational_figures(alert_true, alert_score, 0, 0, 0.5)[0]
    assert np.isnan(zero.candidates_per_search) and np.isnan(zero.false_alerts_per_camera_day)


def test_targets_found():
    rates = targets_found(np.array([0.9, 0.5, -np.inf, 0.7]), [0.5, 0.7, 0.95])
    assert [(r.count, r.total) for r in rates] == [(3, 4), (2, 4), (0, 4)]


# --- breakdown -------------------------------------------------------------------------------


def test_breakdown_by_camera_and_quality():
    rng = np.random.default_rng(18)
    s = _random_searches(rng, 300, 4)
    t = [0.2, 0.5]
    by_cam = breakdown(fpir, s.camera, s, t)
    assert list(by_cam) == ["body", "cctv", "van"]
    for cam, rates in by_cam.items():
        assert rates == fpir(s.subset(s.camera == cam), t)
    total = sum(r[0].total for r in by_cam.values())
    assert total == int((~s.mated).sum())
    by_q = breakdown(fnir, s.quality, s, t, rank=2)
    assert set(by_q) == {0, 1, 2} and all(type(k) is int for k in by_q)
    assert by_q[1] == fnir(s.subset(s.quality == 1), t, rank=2)


def test_breakdown_fmr_fnmr_with_separate_keys():
    gen = np.array([0.9, 0.4, 0.8])
    gk = np.array(["a", "b", "a"])
    imp = np.array([0.1, 0.6, 0.2, 0.3])
    ik = np.array(["a", "a", "c", "b"])
    out = breakdown(fmr_fnmr, (gk, ik), (gen, imp), [0.5])
    assert set(out) == {"a", "b", "c"}
    fmr_a, fnmr_a = out["a"][0]
    assert (fmr_a.count, fmr_a.total, fnmr_a.count, fnmr_a.total) == (1, 2, 0, 2)
    assert np.isnan(out["c"][0][1].value)  # no genuine scores for camera c
    with pytest.raises(DataError):
        breakdown(fmr_fnmr, gk, (gen, imp), [0.5])


# --- validation ------------------------------------------------------------------------------


def test_nan_raises_data_error_naming_the_array():
    with pytest.raises(DataError, match="genuine"):
        fmr_fnmr([0.1, np.nan], [0.2], [0.5])
    with pytest.raises(DataError, match="impostor"):
        fmr_fnmr([0.1], [np.nan], [0.5])
    with pytest.raises(DataError, match="alert_score"):
        operational_figures([True], [np.nan], 1, 1, [0.5])
    with pytest.raises(DataError, match="thresholds"):
        fmr_fnmr([0.1], [0.2], [np.nan])
    with pytest.raises(DataError, match="positive"):
        det_curve([np.nan], [0.1])


def test_mismatched_lengths_raise_data_error():
    with pytest.raises(DataError, match="alert_true"):
        operational_figures([True, False], [0.5], 1, 1, [0.5])
    with pytest.raises(DataError):
        fmr_fnmr(np.zeros((2, 2)), [0.1], [0.5])
