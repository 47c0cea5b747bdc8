"""Scenario loading and validation: every malformed case names the file and the key."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from facelab.config.defaults import DEFAULT_PRESENCE
from facelab.config.limits import ARCHIVE_KINDS
from facelab.config.quality import BUILTIN_QUALITY
from facelab.config.scenario import Scenario, load_scenario, parse_scenario
from facelab.config.sections import ArchiveSpec, DetectionSpec
from facelab.errors import ConfigError

MINIMAL = """\
seed = 1
start = 2026-03-02
days = 2

[population]
size = 20

[[cameras]]
id = "gate-01"
kind = "metro_gate"
station = "Central"
fr = true

[[cameras]]
id = "street-01"
kind = "street"
station = "Market"

[watchlist]
size = 4
in_city = 2
"""

BASE: dict = {
    "seed": 1,
    "start": "2026-03-02",
    "days": 2,
    "population": {"size": 20},
    "cameras": [
        {"id": "gate-01", "kind": "metro_gate", "station": "Central", "fr": True},
        {"id": "street-01", "kind": "street", "station": "Market"},
        {"id": "plat-01", "kind": "platform", "station": "Central", "fr": True},
    ],
    "watchlist": {"size": 4, "in_city": 2},
}


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def variant(**changes) -> dict:
    d = copy.deepcopy(BASE)
    d.update(changes)
    return d


def expect_error(data: dict, *fragments: str, source: str = "x.toml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_scenario(data, source)
    msg = str(info.value)
    assert msg.startswith(f"{source}: "), msg
    for frag in fragments:
        assert frag in msg, msg
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------- good files


def test_minimal_file_defaults(tmp_path):
    sc = load_scenario(write(tmp_path, MINIMAL, "mini.toml"))
    assert isinstance(sc, Scenario)
    assert sc.name == "mini"
    assert sc.start == dt.date(2026, 3, 2)
    assert sc.mode == "image"
    assert sc.movement.passes_per_day == (2, 4)
    assert sc.movement.presence == DEFAULT_PRESENCE
    assert sc.retention.days == sc.retention.unmatched_days == sc.retention.matched_days == 30
    assert sc.policy.frame_interval_s == 2
    assert set(BUILTIN_QUALITY) <= set(sc.quality)
    assert [c.id for c in sc.fr_cameras] == ["gate-01"]
    assert sc.cameras[1].resolution == (640, 480) and sc.cameras[1].quality == "good"
    assert sc.stations == ("Central", "Market")
    assert sc.threshold_for("gate-01") == 60.0


def test_string_start_and_overrides():
    d = variant(thresholds={"alert_percent": 55, "per_camera": {"gate-01": 70}})
    sc = parse_scenario(d, "x.toml")
    assert sc.threshold_for("gate-01") == 70.0
    assert sc.threshold_for("street-01") == 55.0
    with pytest.raises(KeyError):
        sc.threshold_for("nope")
    sc2 = sc.with_overrides(seed=9, days=5)
    assert (sc2.seed, sc2.days) == (9, 5) and sc.seed == 1
    with pytest.raises(ConfigError, match="x.toml: days: must be a positive integer, got 0"):
        sc.with_overrides(days=0)
    with pytest.raises(ConfigError, match="seed"):
        sc.with_overrides(seed=-1)


def test_quality_override_inherits_builtin():
    d = variant(quality={"good": {"noise_sd": 7.5}, "grainy": {"base": "poor", "jpeg_quality": 30}})
    sc = parse_scenario(d, "x.toml")
    assert sc.quality["good"].noise_sd == 7.5
    assert sc.quality["good"].face_px == BUILTIN_QUALITY["good"].face_px
    assert sc.quality["grainy"].jpeg_quality == 30
    assert sc.quality["grainy"].face_px == BUILTIN_QUALITY["poor"].face_px


def test_groups_expand_deterministically():
    groups = [
        {"prefix": "gate", "count": 50, "kind": "metro_gate", "stations": 10, "fr_fraction": 0.3},
        {"prefix": "plat", "count": 20, "kind": "platform", "stations": 10, "fr_fraction": 0.25},
    ]
    d = variant(cameras=[], camera_groups=groups)
    a, b = parse_scenario(d, "x.toml"), parse_scenario(d, "x.toml")
    assert a.cameras == b.cameras
    assert len(a.cameras) == 70
    assert a.cameras[0].id == "gate-0001" and a.cameras[50].id == "plat-0001"
    assert sum(c.fr for c in a.cameras if c.group == "gate") == 15
    assert sum(c.fr for c in a.cameras if c.group == "plat") == 5
    assert len(a.stations) == 10  # both groups share station-001 .. station-010
    other = a.with_overrides(seed=2)
    assert [c.id for c in other.cameras] == [c.id for c in a.cameras]
    assert [c.fr for c in other.cameras] != [c.fr for c in a.cameras]
    assert sum(c.fr for c in other.cameras) == 20


def test_to_dict_round_trips_and_is_json():
    d = variant(
        camera_groups=[
            {
                "prefix": "g",
                "count": 5,
                "kind": "street",
                "stations": ["A", "B"],
                "fr_fraction": 0.4,
            }
        ],
        thresholds={"per_camera": {"g-0002": 80}},
    )
    sc = parse_scenario(d, "x.toml")
    rec = sc.to_dict()
    json.dumps(rec)
    assert parse_scenario(rec, "x.toml") == sc


@pytest.mark.parametrize("name", ["classroom", "metro", "aclu-congress", "cardiff-2017", "npl-lfr"])
def test_presets_load(name):
    sc = load_scenario(name)
    assert sc.name == name
    assert sc.description
    assert sc.fr_cameras
    assert sc.watchlist.in_city <= sc.watchlist.size


def test_classroom_preset_shape():
    sc = load_scenario("classroom")
    assert len(sc.cameras) == 4 and len(sc.stations) == 2
    assert 2 <= len(sc.fr_cameras) <= 3
    assert all(c.quality == "good" for c in sc.fr_cameras)
    assert (sc.watchlist.size, sc.watchlist.in_city) == (6, 4)
    assert sc.mode == "image"


def test_metro_preset_shape():
    sc = load_scenario("metro")
    assert 900 <= len(sc.cameras) <= 1100
    assert 150 <= len(sc.stations) <= 250
    assert 0.15 <= len(sc.fr_cameras) / len(sc.cameras) <= 0.25
    assert sc.retention.days == 30 and sc.days == 35
    assert (sc.watchlist.size, sc.watchlist.in_city) == (200, 150)
    assert sc.thresholds.alert_percent == 60.0


def test_preset_by_path_equals_by_name():
    from facelab.paths import scenarios_dir

    assert load_scenario(scenarios_dir() / "classroom.toml") == load_scenario("classroom")


# ---------------------------------------------------------------- bad files


def test_missing_key():
    d = variant()
    del d["days"]
    assert expect_error(d) == "x.toml: missing key 'days'"


def test_missing_nested_key():
    d = variant(population={})
    assert expect_error(d) == "x.toml: missing key 'population.size'"
    d = variant()
    del d["cameras"][1]["station"]
    assert expect_error(d) == "x.toml: missing key 'cameras[1].station'"


def test_negative_count():
    msg = expect_error(variant(population={"size": -5}))
    assert msg == "x.toml: population.size: must be a positive integer, got -5"


def test_wrong_types():
    expect_error(variant(seed="seven"), "seed:", "'seven'")
    expect_error(variant(days=2.5), "days:", "2.5")
    expect_error(variant(population={"size": True}), "population.size:")
    expect_error(variant(start="March 2"), "start:", "date")
    expect_error(variant(start=dt.datetime(2026, 3, 2, 8, 0)), "start:", "without a time")
    expect_error(variant(movement={"presence": "high"}), "movement.presence:")
    expect_error(variant(population=5), "population:", "table")
    expect_error(variant(cameras={"id": "x"}), "cameras:", "array of tables")


def test_unknown_camera_kind():
    d = variant()
    d["cameras"][2]["kind"] = "bus"
    msg = expect_error(d, source="classroom.toml")
    assert msg == (
        "classroom.toml: cameras[2].kind: unknown camera kind 'bus' "
        "(choose from entrance, metro_gate, platform, street)"
    )


def test_unknown_top_level_key():
    d = variant(dyas=3)
    expect_error(d, "dyas", "unknown key", "did you mean 'days'")


def test_unknown_nested_key():
    expect_error(
        variant(movement={"pases_per_day": [1, 2]}), "movement.pases_per_day", "unknown key"
    )
    d = variant()
    d["cameras"][0]["colour"] = True
    expect_error(d, "cameras[0].colour", "unknown key")


def test_bad_per_camera_key():
    d = variant(thresholds={"per_camera": {"gate-99": 70}})
    expect_error(d, 'thresholds.per_camera."gate-99"', "unknown camera id 'gate-99'")


def test_bad_percent():
    expect_error(variant(thresholds={"alert_percent": 0}), "thresholds.alert_percent")
    expect_error(variant(thresholds={"alert_percent": 101}), "thresholds.alert_percent")


def test_duplicate_camera_id():
    d = variant()
    d["cameras"][2]["id"] = "gate-01"
    expect_error(d, "cameras[2].id", "duplicate camera id 'gate-01'")
    d = variant(camera_groups=[{"prefix": "gate", "count": 3, "kind": "street", "stations": 1}])
    d["cameras"][0]["id"] = "gate-0002"
    expect_error(d, "camera_groups[0].prefix", "gate-0002")


def test_watchlist_limits():
    expect_error(
        variant(watchlist={"size": 2, "in_city": 3}), "watchlist.in_city", "watchlist.size"
    )
    expect_error(
        variant(population={"size": 2}, watchlist={"size": 5, "in_city": 3}),
        "watchlist.in_city",
        "population.size",
    )


def test_resolution_and_ranges():
    d = variant()
    d["cameras"][0]["resolution"] = [100, 80]
    expect_error(d, "cameras[0].resolution", "160x120")
    d = variant()
    d["cameras"][0]["resolution"] = [-640, 480]
    expect_error(d, "cameras[0].resolution")
    expect_error(
        variant(movement={"passes_per_day": [4, 2]}), "movement.passes_per_day", "reversed"
    )
    expect_error(variant(movement={"active_hours": [6, 25]}), "movement.active_hours")
    expect_error(variant(movement={"commuter_share": 1.5}), "movement.commuter_share", "[0, 1]")
    expect_error(
        variant(quality={"good": {"brightness": [1.2, 0.8]}}), "quality.good.brightness", "reversed"
    )
    expect_error(variant(quality={"good": {"occlusion_prob": -0.1}}), "quality.good.occlusion_prob")


def test_unknown_quality_and_mode():
    d = variant()
    d["cameras"][0]["quality"] = "superb"
    expect_error(d, "cameras[0].quality", "unknown quality profile 'superb'")
    expect_error(variant(mode="video"), "mode:", "image, embedding")


def test_group_errors():
    g = {"prefix": "g", "count": 3, "kind": "street", "stations": 5}
    expect_error(variant(camera_groups=[g]), "camera_groups[0].stations")
    g = {"prefix": "g", "count": 3, "kind": "street", "stations": 1, "fr_fraction": 2}
    expect_error(variant(camera_groups=[g]), "camera_groups[0].fr_fraction")
    g = {"prefix": "g", "count": -3, "kind": "street", "stations": 1}
    expect_error(variant(camera_groups=[g]), "camera_groups[0].count", "got -3")


def test_no_cameras():
    expect_error(variant(cameras=[]), "cameras:", "no cameras")


def test_unreadable_file(tmp_path):
    missing = tmp_path / "gone.toml"
    with pytest.raises(ConfigError, match=r"gone\.toml: cannot read scenario file"):
        load_scenario(missing)
    with pytest.raises(ConfigError, match=r"dir\.toml: cannot read"):
        load_scenario((tmp_path / "dir.toml").mkdir() or tmp_path / "dir.toml")


def test_not_utf8(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(b'seed = 1\nname = "\xff"\n')
    with pytest.raises(ConfigError, match=r"bin\.toml: not UTF-8"):
        load_scenario(p)


def test_invalid_toml_has_line(tmp_path):
    p = write(tmp_path, "seed = 1\nstart = 2026-03-02\ndays = = 2\n")
    with pytest.raises(ConfigError) as info:
        load_scenario(p)
    msg = str(info.value)
    assert msg.startswith("x.toml: invalid TOML:")
    assert "line 3" in msg


def test_unknown_preset_name():
    with pytest.raises(ConfigError, match="unknown scenario 'no-such-preset'.*classroom"):
        load_scenario("no-such-preset")


def test_file_errors_name_the_file(tmp_path):
    p = write(tmp_path, MINIMAL.replace('kind = "street"', 'kind = "bus"'), "city.toml")
    with pytest.raises(ConfigError, match=r"^city\.toml: cameras\[1\]\.kind: unknown camera kind"):
        load_scenario(p)


# ---------------------------------------------------------------- [archive]


def test_archive_table_defaults_to_flat_and_is_left_out_of_to_dict(tmp_path):
    sc = load_scenario(write(tmp_path, MINIMAL, "mini.toml"))
    assert sc.archive == ArchiveSpec() and (sc.archive.kind, sc.archive.nprobe) == ("flat", None)
    # runs made before [archive] existed keep their fingerprint (and stay resumable)
    assert "archive" not in sc.to_dict()
    for name in ("classroom", "metro"):
        assert "archive" not in load_scenario(name).to_dict()


def test_archive_table_parses_and_round_trips(tmp_path):
    text = MINIMAL + '\n[archive]\nkind = "ivf-sq8"\nnprobe = 64\n'
    sc = load_scenario(write(tmp_path, text))
    assert sc.archive == ArchiveSpec(kind="ivf-sq8", nprobe=64)
    rec = sc.to_dict()
    assert rec["archive"] == {"kind": "ivf-sq8", "nprobe": 64}
    assert parse_scenario(json.loads(json.dumps(rec)), "x.toml") == sc
    only_kind = parse_scenario(variant(archive={"kind": "sq8"}), "x.toml")
    assert only_kind.archive == ArchiveSpec("sq8") and only_kind.to_dict()["archive"] == {
        "kind": "sq8"
    }
    assert set(ARCHIVE_KINDS) == {"flat", "sq8", "ivf-flat", "ivf-sq8", "ivf-pq"}


def test_archive_table_errors_name_file_and_key():
    expect_error(
        variant(archive={"kind": "hnsw"}),
        "archive.kind",
        "unknown archive kind 'hnsw' (choose from flat, ivf-flat, ivf-pq, sq8, ivf-sq8)",
    )
    expect_error(variant(archive={"kind": 8}), "archive.kind", "must be a string")
    expect_error(
        variant(archive={"nprobe": 0}), "archive.nprobe", "must be a positive integer, got 0"
    )
    expect_error(variant(archive={"nprobe": 2.5}), "archive.nprobe", "positive integer")
    expect_error(variant(archive={"kinds": "flat"}), "archive.kinds", "did you mean 'kind'")
    expect_error(variant(archive="flat"), "archive: must be a table ([archive])")


# ---------------------------------------------------------------- [detection]


def test_detection_table_defaults_to_motion_regions_and_round_trips(tmp_path):
    sc = load_scenario(write(tmp_path, MINIMAL, "mini.toml"))
    assert sc.detection == DetectionSpec("motion")
    assert "detection" not in sc.to_dict()  # fingerprints of earlier runs unchanged
    full = load_scenario(write(tmp_path, MINIMAL + '\n[detection]\nregions = "full"\n'))
    assert full.detection == DetectionSpec("full")
    assert full.to_dict()["detection"] == {"regions": "full"}
    assert parse_scenario(json.loads(json.dumps(full.to_dict())), "x.toml") == full


def test_detection_table_errors_name_file_and_key():
    expect_error(
        variant(detection={"regions": "tiles"}),
        "detection.regions",
        "unknown detection regions 'tiles' (choose from motion, full)",
    )
    expect_error(
        variant(detection={"region": "full"}), "detection.region", "did you mean 'regions'"
    )
    expect_error(variant(detection="full"), "detection: must be a table ([detection])")


# ---------------------------------------------------------------- [limits] and resources


def test_limits_refuse_what_the_machine_cannot_hold_before_building():
    from facelab.config.resources import GIB, estimate

    big = variant(population={"size": 10**9}, days=30)
    msg = expect_error(big, "limits.memory_gib", "needs about", "camera passes", "limit of")
    assert "raise [limits] memory_gib" in msg
    # the limit in the message is the one that applies, the need is the estimate
    sc = parse_scenario(variant(population={"size": 1000}), "x.toml")
    need = estimate(sc)
    assert 0 < need.memory_bytes < GIB and need.passes == pytest.approx(1000 * 2 * 0.9 * 3)
    # a user who has the memory raises the limit; then the same scenario loads
    ok = variant(
        population={"size": 2_000_000}, days=3, mode="embedding", limits={"memory_gib": 64}
    )
    assert parse_scenario(ok, "x.toml").limits.memory_gib == 64
    expect_error(variant(population={"size": 2_000_000}, days=3, mode="embedding",
                         limits={"memory_gib": 0.5}),
                 "limits.memory_gib", "limit of 0.5 GiB")  # fmt: skip


def test_limits_disk_cameras_days_and_to_dict():
    wide = variant(
        population={"size": 20000}, days=300,
        cameras=[{"id": "g", "kind": "street", "station": "A", "fr": True,
                  "resolution": [1920, 1080]}],
    )  # fmt: skip
    expect_error(wide, "limits.disk_gib", "on disk", "archived sightings")
    expect_error(variant(days=5000), "days:", "limit of 3660", "[limits] days")
    assert parse_scenario(variant(days=5000, limits={"days": 5000}), "x.toml").days == 5000
    groups = [{"prefix": "g", "count": 10**15, "kind": "street", "stations": 10**15}]
    expect_error(variant(camera_groups=groups), "camera_groups[0].count", "limit of 99997")
    stations = [{"prefix": "g", "count": 3, "kind": "street", "stations": 10**15}]
    expect_error(variant(camera_groups=stations), "camera_groups[0].stations", "3 cameras")
    expect_error(variant(cameras=BASE["cameras"], limits={"cameras": 2}), "cameras:", "limit of 2")
    expect_error(variant(limits={"memory": 3}), "limits.memory", "did you mean 'memory_gib'")
    expect_error(variant(limits={"memory_gib": float("nan")}), "limits.memory_gib", "positive")
    sc = parse_scenario(variant(limits={"cameras": 7}), "x.toml")
    assert sc.to_dict()["limits"]["cameras"] == 7
    assert parse_scenario(sc.to_dict(), "x.toml") == sc
    assert "limits" not in parse_scenario(BASE, "x.toml").to_dict()


def test_with_overrides_checks_the_limits_too():
    from facelab.config.sections import PopulationSpec

    sc = parse_scenario(BASE, "x.toml")
    with pytest.raises(ConfigError, match="limits.memory_gib"):
        sc.with_overrides(population=PopulationSpec(10**9))
    with pytest.raises(ConfigError, match="days"):
        sc.with_overrides(days=2**63)
    with pytest.raises(ConfigError, match="seed"):
        sc.with_overrides(seed=2**64)
    # the benchmarks' largest metro run stays within the defaults
    metro = load_scenario("metro").with_overrides(population=PopulationSpec(400_000), days=6)
    assert metro.days == 6


def test_integers_past_64_bits_and_dates_past_9999_are_refused():
    expect_error(variant(seed=2**63), "seed:", "fits in 64 bits")
    expect_error(variant(seed=-(2**70)), "seed:")
    expect_error(variant(start="9999-12-30", days=5), "days:", "year 9999")
    expect_error(variant(watchlist={"size": 2**64, "in_city": 0}), "watchlist.size")


def test_frame_size_has_an_upper_bound():
    cams = [{"id": "c", "kind": "street", "station": "A", "resolution": [100000, 100000]}]
    expect_error(variant(cameras=cams), "cameras[0].resolution", "at most 8192x8192")


def test_mapping_is_checked_at_load_like_the_run_does():
    from facelab.config.limits import ALERT_MAPPINGS
    from facelab.search.percent import MAPPINGS

    assert set(ALERT_MAPPINGS) <= set(MAPPINGS) and "log-fmr" not in ALERT_MAPPINGS
    expect_error(variant(thresholds={"mapping": "bogus"}), "thresholds.mapping",
                 "unknown percent mapping 'bogus'")  # fmt: skip
    expect_error(variant(thresholds={"mapping": "log-fmr"}), "thresholds.mapping", "sweep")
    assert parse_scenario(variant(thresholds={"mapping": "sigmoid"}), "x.toml")


def test_files_that_are_not_files_and_deep_nesting(tmp_path):
    import os

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"pipe\.toml: .*FIFO"):
        load_scenario(fifo)  # refused without blocking on the open
    link = tmp_path / "null.toml"
    link.symlink_to("/dev/null")
    with pytest.raises(ConfigError, match=r"null\.toml: .*device"):
        load_scenario(link)
    big = tmp_path / "big.toml"
    with big.open("wb") as fh:
        fh.truncate(5 * 1024 * 1024)
    with pytest.raises(ConfigError, match="file too large"):
        load_scenario(big)
    deep = write(tmp_path, "seed = " + "[" * 2000 + "]" * 2000 + "\n", "deep.toml")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_scenario(deep)


def test_limits_leave_the_run_fingerprint_alone():
    """Raising a limit to resume a run must not make it "a run of another scenario"."""
    from facelab.config.sections import LimitsSpec
    from facelab.run.pipeline import scenario_fingerprint

    sc = parse_scenario(BASE, "x.toml")
    raised = sc.with_overrides(limits=LimitsSpec(memory_gib=64.0, days=9000))
    assert raised.to_dict()["limits"]["memory_gib"] == 64.0
    assert scenario_fingerprint(raised, "image") == scenario_fingerprint(sc, "image")
    assert scenario_fingerprint(sc.with_overrides(seed=2), "image") != scenario_fingerprint(
        sc, "image"
    )
