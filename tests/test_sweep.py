"""Tests for facelab.lab.sweep: percent thresholds over stored scores, deterministic output."""

import csv
import io
import json

import numpy as np
import pytest

from facelab.errors import ConfigError, DataError
from facelab.lab.metrics import SearchScores, fmr_fnmr, fnir, fpir
from facelab.lab.sweep import SweepTable, sweep
from facelab.search.percent import get_mapping


def _inputs(rng, n_gen=2000, n_imp=20000, n_search=3000, k=3):
    gen = np.round(rng.normal(0.6, 0.12, n_gen), 3).astype(np.float32)
    imp = np.round(rng.normal(0.05, 0.1, n_imp), 3).astype(np.float32)
    mated = rng.random(n_search) < 0.3
    scores = -np.sort(-np.round(rng.normal(0.1, 0.12, (n_search, k)), 3), axis=1)
    mate_score = np.round(rng.normal(0.55, 0.15, mated.sum()), 3)
    scores[mated, 0] = np.maximum(scores[mated, 0], mate_score)  # rows stay sorted
    is_mate = np.zeros((n_search, k), bool)
    is_mate[:, 0] = mated & (rng.random(n_search) < 0.9)
    searches = SearchScores(scores.astype(np.float32), is_mate, mated)
    alert_score = np.round(rng.uniform(0.3, 0.95, 500), 3)
    alert_true = rng.random(500) < alert_score - 0.3
    return dict(
        genuine=gen,
        impostor=imp,
        searches=searches,
        alert_true=alert_true,
        alert_score=alert_score,
        camera_days=28,
    )


def test_sweep_rows_match_metrics_at_the_equivalent_cosine():
    rng = np.random.default_rng(21)
    data = _inputs(rng)
    table = sweep("30:70:10", "sigmoid", **data)
    assert isinstance(table, SweepTable) and table.mapping == "sigmoid"
    assert [r.percent for r in table.rows] == [30, 40, 50, 60, 70]
    m = get_mapping("sigmoid")
    cos = np.array([m.to_cosine(p) for p in (30, 40, 50, 60, 70)])
    assert [r.cosine for r in table.rows] == cos.tolist()
    pairs = fmr_fnmr(data["genuine"], data["impostor"], cos)
    assert [r.fmr for r in table.rows] == [p[0] for p in pairs]
    assert [r.fnmr for r in table.rows] == [p[1] for p in pairs]
    assert [r.fpir for r in table.rows] == fpir(data["searches"], cos)
    assert [r.fnir for r in table.rows] == fnir(data["searches"], cos)
    # counted in percent directly: percent(score) >= p  <=>  score >= cosine
    imp_pct = m.to_percent(data["impostor"])
    for r in table.rows:
        assert r.fmr.count == int((imp_pct >= r.percent).sum())
    # alerts: n_searches defaults to the 1:N searches
    r = table.rows[0]
    assert r.alerts == int((data["alert_score"] >= r.cosine).sum())
    assert r.false_alerts + r.true_alerts == r.alerts
    assert r.candidates_per_search == pytest.approx(r.alerts / 3000)
    assert r.false_alerts_per_camera_day == pytest.approx(r.false_alerts / 28)


def test_sweep_partial_inputs_and_columns():
    rng = np.random.default_rng(22)
    data = _inputs(rng)
    only_imp = sweep([50, 60], impostor=data["impostor"])
    cols = list(only_imp.to_rows()[0])
    assert cols == ["percent", "cosine", "fmr", "fmr_count", "fmr_total", "fmr_lo", "fmr_hi"]
    assert only_imp.rows[0].fnmr is None and only_imp.rows[0].alerts is None
    full = sweep([50], **data)
    cols = list(full.to_rows()[0])
    assert cols[:3] == ["percent", "cosine", "fmr"]
    assert cols[-3:] == ["false_alerts_per_camera_day", "candidates_per_search", "review_hours"]
    assert "fnir_hi" in cols and "false_alert_share_lo" in cols


def test_sweep_outputs_are_deterministic_and_well_formed():
    rng = np.random.default_rng(23)
    data = _inputs(rng)
    a = sweep("0:100:25", "linear", **data)
    b = sweep("0:100:25", "linear", **data)
    assert a.to_json() == b.to_json()
    assert a.to_csv() == b.to_csv()
    assert a.to_text() == b.to_text()
    doc = json.loads(a.to_json())
    assert doc["mapping"] == "linear" and len(doc["rows"]) == 5
    assert doc["rows"][0]["cosine"] == "-inf"  # 0 % matches every score under linear
    assert doc["rows"][-1]["cosine"] == 1.0
    fmr = doc["rows"][2]["fmr"]
    assert fmr == float(f"{fmr:.6g}")
    rows = list(csv.DictReader(io.StringIO(a.to_csv())))
    assert len(rows) == 5 and rows[0]["cosine"] == "-inf"
    text = a.to_text()
    assert "not a probability" in text and "95% CI" in text and "FNIR@1" in text
    body = text.splitlines()[3:]
    assert len({len(line) for line in body[:2]}) == 1  # header and rule align


def test_sweep_log_fmr_by_name_uses_impostors():
    rng = np.random.default_rng(24)
    data = _inputs(rng)
    table = sweep([50, 100], "log-fmr", genuine=data["genuine"], impostor=data["impostor"])
    top = table.rows[-1]
    assert top.percent == 100 and top.fmr.count == 0  # 100 % = above every impostor
    # 50 % = FMR about 1/sqrt(n+1)
    n = data["impostor"].size
    assert table.rows[0].fmr.value == pytest.approx(1 / np.sqrt(n + 1), rel=0.2)
    with pytest.raises(ConfigError):
        sweep([50], "log-fmr", genuine=data["genuine"])


def test_sweep_one_million_comparisons_completes_and_is_stable():
    rng = np.random.default_rng(25)
    gen = rng.normal(0.6, 0.12, 10_000).astype(np.float32)
    imp = rng.normal(0.0, 0.1, 1_000_000).astype(np.float32)
    a = sweep("0:100:1", "log-fmr", genuine=gen, impostor=imp)
    b = sweep("0:100:1", "log-fmr", genuine=gen, impostor=imp)
    assert len(a.rows) == 101
    assert a.to_json() == b.to_json()
    fmr = [r.fmr.value for r in a.rows]
    assert all(x >= y for x, y in zip(fmr, fmr[1:], strict=False))


def test_sweep_errors():
    rng = np.random.default_rng(26)
    data = _inputs(rng)
    with pytest.raises(ConfigError):
        sweep("50:40:5", impostor=data["impostor"])
    with pytest.raises(ConfigError):
        sweep([50], "nope", impostor=data["impostor"])
    with pytest.raises(ConfigError):
        sweep([50], alert_score=data["alert_score"], camera_days=1, n_searches=1)
    with pytest.raises(ConfigError):
        sweep([50], alert_score=data["alert_score"], alert_true=data["alert_true"], n_searches=9)
    with pytest.raises(DataError, match="impostor"):
        sweep([50], impostor=np.array([0.1, np.nan]))
    with pytest.raises(DataError):
        sweep(
            [50],
            alert_score=data["alert_score"],
            alert_true=data["alert_true"][:-1],
            n_searches=9,
            camera_days=1,
        )
