"""Ground-truth world: determinism, frames, watchlist, scale, CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from facelab.config.scenario import load_scenario, parse_scenario
from facelab.errors import ConfigError
from facelab.world.world import PASS_DTYPE, SECONDS_PER_DAY, FrameTruth, build_world

CITY = {
    "seed": 11,
    "start": "2026-03-02",
    "days": 4,
    "population": {"size": 300},
    "movement": {"passes_per_day": [2, 6], "commuter_share": 0.6, "presence": 0.85},
    "cameras": [{"id": "gate-a", "kind": "metro_gate", "station": "A", "fr": True}],
    "camera_groups": [
        {"prefix": "gate", "count": 24, "kind": "metro_gate", "stations": 8, "fr_fraction": 0.5},
        {"prefix": "plat", "count": 8, "kind": "platform", "stations": 8, "fr_fraction": 0.25},
    ],
    "watchlist": {"size": 12, "in_city": 7},
    # a long frame interval so that frames really hold several passes
    "policy": {"frame_interval_s": 600},
}


@pytest.fixture(scope="module")
def city():
    return parse_scenario(CITY, "city.toml")


@pytest.fixture(scope="module")
def world(city):
    return build_world(city)


def digest(w) -> str:
    return hashlib.sha256(w.passes.tobytes()).hexdigest()


def test_passes_layout(world, city):
    p = world.passes
    assert p.dtype == PASS_DTYPE
    assert p.shape[0] > 0
    assert np.array_equal(p["pid"], np.arange(p.shape[0]))
    order = np.lexsort((p["person"], p["camera"], p["t"]))
    assert np.array_equal(order, np.arange(p.shape[0]))
    assert np.array_equal(p["day"], p["t"] // SECONDS_PER_DAY)
    assert p["day"].min() >= 0 and p["day"].max() < city.days
    tod = p["t"] % SECONDS_PER_DAY
    lo, hi = city.movement.active_hours
    assert tod.min() >= lo * 3600 and tod.max() < hi * 3600
    assert p["person"].min() >= 0 and p["person"].max() < city.population.size
    assert p["camera"].min() >= 0 and p["camera"].max() < len(city.cameras)
    # per person-day counts stay within passes_per_day
    key = p["day"].astype(np.int64) * city.population.size + p["person"]
    counts = np.bincount(key)
    counts = counts[counts > 0]
    assert counts.min() >= 2 and counts.max() <= 6


def test_commuters_use_home_and_work(world):
    p = world.passes
    st = world.camera_station[p["camera"]]
    comm = world.commuter[p["person"]]
    home, work = world.home[p["person"]], world.work[p["person"]]
    # with passes_per_day >= 2, the first two template passes are at home and at work
    at_home_or_work = (st == home) | (st == work)
    assert at_home_or_work[comm].mean() > 0.8
    assert (world.work[~world.commuter] == -1).all()
    assert (world.work[world.commuter] != world.home[world.commuter]).all()


def test_determinism(city):
    a, b = build_world(city), build_world(city)
    assert np.array_equal(a.passes, b.passes)
    assert digest(a) == digest(b)
    assert a.fingerprint() == b.fingerprint()
    assert a.watchlist == b.watchlist
    assert np.array_equal(a.home, b.home) and np.array_equal(a.work, b.work)
    assert a.seed == city.seed


def test_seed_sensitivity(city, world):
    other = build_world(city.with_overrides(seed=12))
    assert digest(other) != digest(world)
    assert not np.array_equal(other.home, world.home)


def test_more_days_keep_earlier_days(city, world):
    longer = build_world(city.with_overrides(days=6))
    assert np.array_equal(
        longer.day_passes(0)[["person", "camera", "t"]],
        world.day_passes(0)[["person", "camera", "t"]],
    )
    assert longer.passes.shape[0] > world.passes.shape[0]


def test_frames_partition_passes(world, city):
    n = world.passes.shape[0]
    seen = np.zeros(n, dtype=np.int64)
    interval = city.policy.frame_interval_s
    ids = set()
    n_frames = 0
    for day in range(city.days):
        for cam in range(len(city.cameras)):
            frames = world.frames(cam, day)
            ts = [f.t for f in frames]
            assert ts == sorted(ts) and len(set(ts)) == len(ts)
            for f in frames:
                assert isinstance(f, FrameTruth)
                assert f.camera == cam and f.day == day
                assert (
                    f.frame_id == f"{city.cameras[cam].id}-d{day:03d}-{f.t % SECONDS_PER_DAY:06d}"
                )
                pids = np.array(f.passes)
                assert (world.passes["camera"][pids] == cam).all()
                assert (world.passes["t"][pids] >= f.t).all()
                assert (world.passes["t"][pids] < f.t + interval).all()
                assert f.persons == tuple(int(x) for x in world.passes["person"][pids])
                seen[pids] += 1
                ids.add(f.frame_id)
            n_frames += len(frames)
    assert (seen == 1).all()  # every pass in exactly one frame
    assert len(ids) == n_frames == world.n_frames
    assert max(len(world.frame(i).passes) for i in range(world.n_frames)) > 1
    assert np.array_equal(world.frame_pass[np.argsort(world.frame_pass)], np.arange(n))
    assert all(
        world.pass_frame[pid] == f for f in range(world.n_frames) for pid in world.frame(f).passes
    )


def test_fr_frames(world, city):
    fr = {i for i, c in enumerate(city.cameras) if c.fr}
    total = 0
    for day in range(city.days):
        frames = list(world.fr_frames(day))
        keys = [(f.t, f.camera) for f in frames]
        assert keys == sorted(keys)
        assert all(f.camera in fr and f.day == day for f in frames)
        expected = sum(len(world.frames(c, day)) for c in fr)
        assert len(frames) == expected
        total += sum(len(f.passes) for f in frames)
    assert total == int(np.isin(world.passes["camera"], list(fr)).sum())


def test_watchlist(world, city):
    wl = world.watchlist
    P = city.population.size
    assert len(wl) == city.watchlist.size
    assert sum(e.in_city for e in wl) == city.watchlist.in_city
    assert len({e.identity for e in wl}) == len(wl)
    assert len({e.label for e in wl}) == len(wl)
    assert [e.label for e in wl] == sorted(e.label for e in wl)
    for e in wl:
        assert (e.identity < P) == e.in_city
    extras = sorted(e.identity for e in wl if not e.in_city)
    assert extras == list(range(P, P + len(extras)))
    assert not np.isin(world.passes["person"], extras).any()


def test_summary(world, city):
    s = world.summary()
    json.dumps(s)
    assert s["people"] == city.population.size
    assert s["cameras"] == len(city.cameras)
    assert s["fr_cameras"] == len(city.fr_cameras)
    assert s["watchlist_size"] == 12 and s["watchlist_in_city"] == 7
    assert s["days"] == city.days
    assert s["passes_total"] == world.passes.shape[0]
    assert 0 < s["fr_passes_total"] < s["passes_total"]
    assert 0 <= s["watchlisted_fr_passes_total"] <= s["watchlisted_passes_total"]


def test_arrays_read_only(world):
    with pytest.raises(ValueError):
        world.passes["t"][0] = 0


def test_classroom_world_is_small():
    w = build_world(load_scenario("classroom"))
    s = w.summary()
    assert s["people"] == 40 and s["cameras"] == 4
    assert 0 < s["fr_passes_total"] <= 300
    assert s["watchlisted_fr_passes_total"] > 0


def test_metro_world_builds():
    sc = load_scenario("metro")
    w = build_world(sc)
    P, C = sc.population.size, len(sc.cameras)
    assert w.n_people == P == 20_000
    assert w.n_cameras == C
    n = w.passes.shape[0]
    assert 1_000_000 < n < 3_000_000
    assert w.passes["day"].max() == sc.days - 1
    assert np.array_equal(w.passes["pid"], np.arange(n))
    extras = [e.identity for e in w.watchlist if not e.in_city]
    assert w.passes["person"].max() < P and min(extras) >= P
    assert len(list(w.frames(0, 0))) == w.frame_indices(0, 0).shape[0]


# ---------------------------------------------------------------- CLI


def test_cli_world_json():
    from facelab.cli import app

    r = CliRunner().invoke(
        app, ["world", "classroom", "--seed", "3", "--days", "1", "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["seed"] == 3 and s["days"] == 1 and s["people"] == 40


@pytest.mark.parametrize(
    "args",
    [
        ["world", "classroom"],
        ["models", "list"],
        ["synth", "groups", "--identities", "2"],
        ["profiles"],
        ["case", "npl-lfr"],
    ],
)
def test_cli_format_is_text_or_json(args):
    from facelab.cli import app
    from facelab.errors import ConfigError

    r = CliRunner().invoke(app, [*args, "--format", "xml"])  # the CLI's main makes it exit 2
    assert isinstance(r.exception, ConfigError) and ConfigError.exit_code == 2
    assert str(r.exception) == "--format must be one of text, json, got 'xml'"


def test_cli_world_table():
    from facelab.cli import app

    r = CliRunner().invoke(app, ["world", "classroom"])
    assert r.exit_code == 0, r.output
    assert "classroom" in r.output and "watchlist" in r.output


def test_cli_world_config_error(tmp_path):
    from facelab.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text("seed = 1\n")
    r = CliRunner().invoke(app, ["world", str(bad)])
    assert isinstance(r.exception, ConfigError)
    assert "bad.toml: missing key" in str(r.exception)
    r = CliRunner().invoke(app, ["world", "classroom", "--days", "0"])
    assert isinstance(r.exception, ConfigError)
    assert "days" in str(r.exception)
