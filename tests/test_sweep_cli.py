"""`facelab sweep` on a real run: sklearn cross-check, byte-identical output, 10^6 comparisons.

One classroom run (image mode, ≈30 s on two cores) is made per test session and shared with
tests/test_report.py through the session's base temporary folder: whichever module comes first
makes it, the other resumes it (nothing left to do).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from sklearn.metrics import roc_curve
from typer.testing import CliRunner

from facelab.cli import app
from facelab.cli.sweep_cmd import compact_text
from facelab.config.scenario import load_scenario
from facelab.errors import ConfigError, RunError
from facelab.lab.metrics import SearchScores, fnir, fpir
from facelab.lab.scores import load_scores
from facelab.lab.sweep import run_mapping, sweep, sweep_run
from facelab.run.store import RunStore
from facelab.search.percent import get_mapping

ATOL = 1e-12


@pytest.fixture(scope="module")
def run_dir(classroom_run):
    return classroom_run


@pytest.fixture(scope="module")
def scores(run_dir):
    with RunStore(run_dir) as store:
        return load_scores(store)


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, ["sweep", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


# --------------------------------------------------------------------------- sklearn


def _sklearn_problem(s: SearchScores, sentinel: float = -10.0):
    """Rank-1 identification as a binary problem: positive = mated search; its score is the
    rank-1 score when that candidate is the mate, else a sentinel below every real score (never
    a hit); a non-mated search scores its top candidate (sentinel when it has none)."""
    top = s.scores[:, 0].astype(np.float64)
    top = np.where(np.isfinite(top), top, sentinel)
    score = np.where(s.mated & ~s.is_mate[:, 0], sentinel, top)
    return s.mated.astype(int), score


def test_fpir_fnir_equal_sklearn_roc_curve_on_a_real_run(scores):
    s = scores.searches
    assert s.mated.any() and (~s.mated).any()
    y, score = _sklearn_problem(s)
    fpr, tpr, thr = roc_curve(y, score, drop_intermediate=False)
    keep = thr > -10.0
    assert keep.sum() > 20  # many distinct real scores, not a degenerate check
    assert ((fpr[keep] > 0) & (fpr[keep] < 1)).any() and ((tpr[keep] > 0) & (tpr[keep] < 1)).any()
    got_fpir = np.array([r.value for r in fpir(s, thr[keep])])
    got_fnir = np.array([r.value for r in fnir(s, thr[keep], rank=1)])
    np.testing.assert_allclose(got_fpir, fpr[keep], rtol=0, atol=ATOL)
    np.testing.assert_allclose(got_fnir, 1 - tpr[keep], rtol=0, atol=ATOL)

    # and the sweep's rows at the percent thresholds 50..80 (cosines between sklearn's points)
    table = sweep_run(scores, "50:80:1", "linear")
    for row in table.rows:
        i = int(np.flatnonzero(thr >= row.cosine).max())  # sklearn's rate at score >= cosine
        assert row.fpir.value == pytest.approx(fpr[i], abs=ATOL)
        assert row.fnir.value == pytest.approx(1 - tpr[i], abs=ATOL)
        assert row.fpir.total == int((~s.mated).sum()) and row.fnir.total == int(s.mated.sum())


def test_sweep_alert_counts_match_the_alerts_the_run_raised(run_dir, scores):
    """At the scenario's own threshold the sweep counts exactly the alerts the pipeline stored."""
    scenario = load_scenario("classroom")
    with RunStore(run_dir) as store:
        raised = store.db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    row = sweep_run(scores, [scenario.thresholds.alert_percent], "linear").rows[0]
    assert row.alerts == raised
    assert row.true_alerts + row.false_alerts == row.alerts


# --------------------------------------------------------------------------- the command


def test_sweep_output_is_byte_identical_twice(run_dir):
    for fmt in ("table", "csv", "json"):
        for extra in ([], ["--mapping", "log-fmr", "--by", "camera-kind"]):
            args = [str(run_dir), "--format", fmt, *extra]
            assert _invoke(*args) == _invoke(*args)


def test_sweep_table_header_and_width(run_dir, scores):
    out = _invoke(str(run_dir))
    assert f"searches   {scores.searches.n_searches}:" in out
    assert f"{int(scores.searches.mated.sum())} mated" in out
    assert f"{scores.watchlist_size} entries" in out
    assert "camera-days" in out and "impostor scores complete" in out
    assert "not a probability" in out
    for p in range(50, 81, 5):
        assert f"{p}%" in out
    assert max(len(line) for line in out.splitlines()) <= 120
    by_kind = _invoke(str(run_dir), "--by", "camera-kind", "--mapping", "sigmoid")
    assert "cameras of kind metro_gate" in by_kind and "cameras of kind entrance" in by_kind
    assert max(len(line) for line in by_kind.splitlines()) <= 120


def test_sweep_csv_and_json_carry_counts_and_intervals(run_dir, scores):
    rows = list(csv.DictReader(io.StringIO(_invoke(str(run_dir), "--format", "csv"))))
    assert [float(r["percent"]) for r in rows] == [50, 55, 60, 65, 70, 75, 80]
    for r in rows:
        for name in ("fpir", "fnir", "fmr", "fnmr"):
            assert {f"{name}_count", f"{name}_total", f"{name}_lo", f"{name}_hi"} <= set(r)
        assert int(r["fpir_total"]) == int((~scores.searches.mated).sum())
        assert int(r["alerts"]) == int(r["true_alerts"]) + int(r["false_alerts"])
    doc = json.loads(_invoke(str(run_dir), "--format", "json", "--thresholds", "60,80"))
    assert doc["run"]["watchlist_size"] == scores.watchlist_size
    assert doc["run"]["impostor_scores_complete"] is True
    assert "not a probability" in doc["note"]
    assert [r["percent"] for r in doc["rows"]] == [60, 80]
    by = list(csv.DictReader(io.StringIO(
        _invoke(str(run_dir), "--format", "csv", "--by", "camera-kind"))))  # fmt: skip
    kinds = {r["camera_kind"] for r in by}
    assert kinds == {"all", "entrance", "metro_gate"}
    totals = {k: sum(int(r["fpir_total"]) for r in by if r["camera_kind"] == k and
                     r["percent"] == "50.0") for k in kinds}  # fmt: skip
    assert totals["entrance"] + totals["metro_gate"] == totals["all"]


def test_mappings_are_different_operating_points(run_dir):
    """'80 %' is a different cosine (and so a different FPIR) under each mapping."""
    cos = {}
    for name in ("linear", "sigmoid", "log-fmr"):
        doc = json.loads(_invoke(str(run_dir), "--format", "json", "--thresholds", "80",
                                 "--mapping", name))  # fmt: skip
        assert doc["mapping"] == name
        cos[name] = doc["rows"][0]["cosine"]
    assert len(set(cos.values())) == 3


def test_sweep_errors():
    runner = CliRunner()
    missing = runner.invoke(app, ["sweep", "/nonexistent/run"])
    assert isinstance(missing.exception, RunError)


def test_sweep_bad_mapping_and_thresholds(run_dir):
    runner = CliRunner()
    bad = runner.invoke(app, ["sweep", str(run_dir), "--mapping", "vendor-x"])
    assert isinstance(bad.exception, ConfigError) and "linear" in str(bad.exception)
    bad = runner.invoke(app, ["sweep", str(run_dir), "--thresholds", "80:50:5"])
    assert isinstance(bad.exception, ConfigError)
    bad = runner.invoke(app, ["sweep", str(run_dir), "--format", "xml"])
    assert bad.exit_code == 2


# --------------------------------------------------------------------------- scale


def test_sweep_over_a_million_comparisons():
    """10^6 scored comparisons (100,000 searches × 10 candidates) sweep without re-embedding."""
    rng = np.random.default_rng(5)
    n, k = 100_000, 10
    mated = rng.random(n) < 0.05
    sc = rng.normal(0.2, 0.1, (n, k))
    sc[mated, 0] = rng.normal(0.7, 0.1, int(mated.sum()))
    order = np.argsort(-sc, axis=1)
    sc = np.take_along_axis(sc, order, axis=1)
    is_mate = np.zeros((n, k), bool)
    is_mate[mated] = order[mated] == 0
    searches = SearchScores(sc.astype(np.float32), is_mate, mated)
    flat_true, flat_score = is_mate.ravel(), sc.ravel()
    table = sweep("0:100:1", "linear", genuine=flat_score[flat_true],
                  impostor=flat_score[~flat_true], searches=searches, alert_true=flat_true,
                  alert_score=flat_score, camera_days=1000)  # fmt: skip
    assert len(table.rows) == 101
    assert table.rows[0].alerts == n * k and table.rows[0].fmr.total == n * k - int(mated.sum())
    assert table.rows[50].fpir.total == int((~mated).sum())
    text = compact_text(table, days=100)
    assert max(len(line) for line in text.splitlines()) <= 120
    log_fmr = get_mapping("log-fmr", flat_score[~flat_true])  # calibrated on 10^6 impostors
    assert log_fmr.to_cosine(50.0) < log_fmr.to_cosine(80.0)


def test_run_mapping_log_fmr_uses_the_runs_impostors(scores):
    m = run_mapping(scores, "log-fmr")
    assert str(scores.impostor.size) in m.description
