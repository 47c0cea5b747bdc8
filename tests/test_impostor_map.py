"""The impostor map of runs under a system profile (facelab.search.transfer): a quantile map of
the per-search maximum impostor score onto the profile's FPIR at the run's watchlist size.

Unit checks use maxima drawn exactly (inverse CDF) from known distributions, so that fresh
samples can be counted against the map; the run-level checks use tiny embedding cities on the
tests' small twin (their watchlist of 60 makes FPIR large enough to count).
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from scipy import special, stats

from facelab import api
from facelab.config.scenario import parse_scenario
from facelab.errors import DataError
from facelab.profiles.emulate import build_transfer, threshold_at_fpir
from facelab.profiles.profile import get_profile
from facelab.search.transfer import LEVELS, max_exceedance_model

PROFILE = "npl-neoface-v4"


def _gauss_max(rng, n: int, watchlist: int, mu: float, sigma: float) -> np.ndarray:
    """``n`` exact draws of the maximum of ``watchlist`` independent N(mu, sigma²) scores."""
    u = rng.random(n)
    return mu + sigma * special.ndtri(u ** (1.0 / watchlist))


def _transfer(max_scores: np.ndarray, watchlist: int):
    tr = build_transfer(get_profile(PROFILE), ["good"])
    return tr.with_impostor_map(["good"], {"good": max_scores}, watchlist)


def test_map_is_increasing_everywhere_and_keeps_empty_slots():
    rng = np.random.default_rng(1)
    tr = _transfer(_gauss_max(rng, 20_000, 1000, 0.2, 0.07), 1000)
    x = np.linspace(-1.0, 1.0, 20_001)
    y = tr.apply(x, np.zeros(len(x), bool), 0).astype(np.float64)
    assert np.all(np.diff(y) > 0)
    out = tr.apply(np.array([-np.inf, 0.5]), np.array([False, True]), 0)
    assert out[0] == -np.inf and np.isfinite(out[1])
    rec = tr.impostor_record()
    assert rec["watchlist"] == 1000 and rec["groups"][0]["condition"] == "live"
    assert json.loads(json.dumps(rec)) == rec  # plain data, as run.json keeps it


def test_sampled_exceedance_becomes_the_profile_fpir():
    """Brute force: the share of sampled maxima whose mapped score reaches the profile's
    threshold at FPIR p is p (the sample itself, exactly up to its quantile interpolation;
    a fresh sample of the same distribution, within binomial error and the tail fit's)."""
    rng = np.random.default_rng(7)
    n_watch, mu, sigma = 1000, 0.2, 0.07
    sample = _gauss_max(rng, 30_000, n_watch, mu, sigma)
    tr = _transfer(sample, n_watch)
    model = get_profile(PROFILE).model
    mapped = tr.apply(sample, np.zeros(len(sample), bool), 0).astype(np.float64)
    for p in LEVELS[(LEVELS >= 0.01) & (LEVELS <= 0.99)]:  # at the knots: exact
        t = float(threshold_at_fpir(model, "live", n_watch, p))
        assert float(model.fpir(n_watch, t, "live")) == pytest.approx(p, rel=1e-6)
        assert (mapped >= t).mean() == pytest.approx(p, abs=2 / len(sample))
    for p in (0.25, 0.02):  # between knots: linear interpolation
        t = float(threshold_at_fpir(model, "live", n_watch, p))
        assert (mapped >= t).mean() == pytest.approx(p, rel=0.05)
    fresh = _gauss_max(rng, 2_000_000, n_watch, mu, sigma)
    mapped = tr.apply(fresh, np.zeros(len(fresh), bool), 0).astype(np.float64)
    for p in (0.3, 0.01, 3e-3, 1e-3, 3e-4):
        t = float(threshold_at_fpir(model, "live", n_watch, p))
        share = float((mapped >= t).mean())
        if p >= 0.01:  # the empirical part: the map's sample's and the fresh one's errors
            sd = np.sqrt(p * (1 - p) * (1 / len(sample) + 1 / len(fresh)))
            assert abs(share - p) <= 4 * sd, (p, share)
        else:  # beyond: the Pareto tail's (fitted to the top 300 maxima) error
            assert p / 2 <= share <= p * 2, (p, share)


def test_tail_model_recovers_a_known_pareto_tail():
    xi, sigma, u = -0.2, 0.03, 0.6
    rng = np.random.default_rng(3)
    draws = u + stats.genpareto.rvs(xi, scale=sigma, size=40_000, random_state=rng)
    tail = max_exceedance_model(draws)
    # above its threshold u' a Pareto tail is Pareto with the same shape, scale σ + ξ (u' − u)
    assert tail.xi == pytest.approx(xi, abs=0.12)
    assert tail.sigma == pytest.approx(sigma + xi * (tail.u - u), rel=0.2)
    x = np.quantile(draws, [0.5, 0.99, 0.999])
    np.testing.assert_allclose(tail.sf(x), [0.5, 0.01, 0.001], rtol=0.35)
    p = LEVELS
    np.testing.assert_allclose(tail.sf(tail.quantile(p[p < 0.01])), p[p < 0.01], rtol=1e-6)


def test_a_twin_distributed_as_the_profile_maps_onto_itself():
    """Maxima drawn from the profile's own impostor model (rho = 0: independent impostors)
    map to themselves, up to the sample's and the tail fit's error."""
    m = get_profile(PROFILE).model
    rng = np.random.default_rng(5)
    sample = _gauss_max(rng, 50_000, 500, m.impostor_mu, m.impostor_sigma)
    tr = _transfer(sample, 500)
    x = np.quantile(sample, [0.01, 0.1, 0.5, 0.9, 0.99, 0.999])
    y = tr.apply(x, np.zeros(len(x), bool), 0)
    np.testing.assert_allclose(y, x, atol=0.1 * m.impostor_sigma)


def test_vectorised_inverse_agrees_with_the_model():
    m = get_profile(PROFILE).model
    p = np.array([0.5, 1e-2, 1.6e-4, 1e-7])
    t = threshold_at_fpir(m, "live", 10_000, p)
    want = [m.threshold_at_fpir(10_000, q, "live") for q in p]
    np.testing.assert_allclose(t, want, atol=1e-7)


def test_record_round_trips_and_malformed_records_are_refused():
    rng = np.random.default_rng(2)
    tr = _transfer(_gauss_max(rng, 10_000, 100, 0.2, 0.07), 100)
    again = build_transfer(get_profile(PROFILE), ["good"]).with_record(
        json.loads(json.dumps(tr.impostor_record()))
    )
    x = np.linspace(0, 1, 101)
    np.testing.assert_array_equal(tr.apply(x, False, 0), again.apply(x, False, 0))
    plan = build_transfer(get_profile(PROFILE), ["good", "good"])
    for bad in ({}, {"groups": [], "camera_group": [0, 0]}, tr.impostor_record()):
        with pytest.raises(DataError):
            plan.with_record(bad)
    with pytest.raises(DataError, match="not built"):
        plan.apply(np.array([0.3]), False, 0)


# -- runs ----------------------------------------------------------------------------------


def _city(days: int = 1, seed: int = 11) -> dict:
    return {
        "name": "tiny-map", "seed": seed, "start": "2026-03-02", "days": days,
        "mode": "embedding", "population": {"size": 1500},
        "movement": {"passes_per_day": [1, 1], "active_hours": [8, 20], "commuter_share": 0.0,
                     "presence": 1.0},
        "camera_groups": [{"prefix": "van", "count": 2, "kind": "street", "stations": 1,
                           "fr_fraction": 1.0, "quality": "good"}],
        "watchlist": {"size": 60, "in_city": 20},
        "thresholds": {"mapping": "linear", "alert_percent": 60.0},
        "system": {"profile": PROFILE},
    }  # fmt: skip


def _nonmated_max(run) -> np.ndarray:
    """The top stored score of each non-mated search (ground truth from truth.sqlite)."""
    with sqlite3.connect(run / "truth.sqlite") as t:
        person = dict(t.execute("SELECT sighting, person FROM sighting_truth"))
        listed = {r[0] for r in t.execute("SELECT identity FROM watch_truth")}
    with sqlite3.connect(run / "facelab.sqlite") as c:
        top = dict(c.execute("SELECT sighting, MAX(score) FROM candidates GROUP BY sighting"))
    return np.array([s for k, s in top.items() if person[k] not in listed])


@pytest.fixture(scope="module")
def map_runs(twin_model_dir, tmp_path_factory):
    """A two-day tiny city under the profile, whole and resumed after its first day."""
    out = tmp_path_factory.mktemp("impostor-map")
    sc = parse_scenario(_city(days=2), "tiny.toml")

    class Stop(Exception):
        pass

    def stop(label, day):
        if label == "after-commit" and day == 0:
            raise Stop

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACELAB_MODEL_DIR", str(twin_model_dir))
        api.run(sc, out / "whole")
        with pytest.raises(Stop):
            api.run(sc, out / "resumed", on_step=stop)
        api.run(sc, out / "resumed")
    return out / "whole", out / "resumed"


def test_run_fpir_agrees_with_the_profile_model(map_runs):
    whole, _ = map_runs
    meta = json.loads((whole / "run.json").read_text())
    rec = meta["system"]["impostor_map"]
    assert rec["watchlist"] == 60 and rec["probes"]["per_quality"] > 0
    top = _nonmated_max(whole)
    n = len(top)
    assert n > 1500
    m = get_profile(PROFILE).model
    for p in (0.5, 0.2, 0.05):
        t = float(threshold_at_fpir(m, "live", 60, p))
        k = int((top >= t).sum())
        # repeat passes of one person correlate: the binomial spread, doubled
        assert abs(k - n * p) <= 4 * np.sqrt(2 * n * p * (1 - p)), (p, k, n * p)


def test_resumed_run_uses_the_recorded_map_and_equals_the_whole_run(map_runs):
    whole, resumed = map_runs
    a, b = (json.loads((r / "run.json").read_text())["system"] for r in map_runs)
    assert a["impostor_map"] == b["impostor_map"]
    q = "SELECT sighting, rank, watch, score FROM candidates ORDER BY sighting, rank"
    with (
        sqlite3.connect(whole / "facelab.sqlite") as c1,
        sqlite3.connect(resumed / "facelab.sqlite") as c2,
    ):
        assert c1.execute(q).fetchall() == c2.execute(q).fetchall()


@pytest.mark.costly
def test_ray_engine_run_equals_the_local_run(map_runs, ray_cluster, twin_models, tmp_path):
    """The Ray engine's days are rescored in the driver with the same map: same rows."""
    whole, _ = map_runs
    sc = parse_scenario(_city(days=2), "tiny.toml")
    api.run(sc, tmp_path / "ray", engine="ray", address=ray_cluster.address)
    a, b = (json.loads((r / "run.json").read_text())["system"] for r in (whole, tmp_path / "ray"))
    assert a["impostor_map"] == b["impostor_map"]
    q = "SELECT sighting, rank, watch, score FROM candidates ORDER BY sighting, rank"
    with (
        sqlite3.connect(whole / "facelab.sqlite") as c1,
        sqlite3.connect(tmp_path / "ray" / "facelab.sqlite") as c2,
    ):
        assert c1.execute(q).fetchall() == c2.execute(q).fetchall()
