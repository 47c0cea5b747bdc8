"""camera: reproducible frames with ground truth inside the frame, YuNet finds the faces,
``facelab frames`` writes signed PNGs + truth.json and refuses bad input in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import pytest
from typer.testing import CliRunner

from facelab.cli import app
from facelab.config.scenario import load_scenario, parse_scenario
from facelab.errors import ConfigError
from facelab.governance import provenance
from facelab.vision.detect import FaceDetector, iou
from facelab.world import camera, synth
from facelab.world.world import build_world


@pytest.fixture(autouse=True)
def _key(tmp_path, monkeypatch):
    monkeypatch.setenv(provenance.KEY_ENV, str(tmp_path / "keys" / "provenance.key"))


@pytest.fixture(scope="module")
def gen() -> synth.FaceGenerator:
    return synth.FaceGenerator()


@pytest.fixture(scope="module")
def classroom():
    return load_scenario("classroom")


def _frames_cli(out, *extra):
    return CliRunner().invoke(
        app, ["frames", "classroom", "--camera", "north-gate", "--day", "0", "--out", str(out),
              *extra],
    )  # fmt: skip


# --------------------------------------------------------------------------- determinism


def test_frames_cli_is_deterministic(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, extra in ((a, ()), (b, ()), (c, ("--seed", "8"))):
        r = _frames_cli(out, "--limit", "4", *extra)
        assert r.exit_code == 0, r.output
    pngs = sorted(p.name for p in a.glob("*.png"))
    assert len(pngs) == 4
    assert pngs == sorted(p.name for p in b.glob("*.png"))
    for name in pngs:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert (a / "truth.json").read_bytes() == (b / "truth.json").read_bytes()
    # another seed: another world, other frames and other people
    ta = json.loads((a / "truth.json").read_text())
    tc = json.loads((c / "truth.json").read_text())
    assert tc["seed"] == 8 and ta["seed"] == 7
    assert [f["frame_id"] for f in ta["frames"]] != [f["frame_id"] for f in tc["frames"]]
    img_a = {p.read_bytes() for p in a.glob("*.png")}
    assert not img_a & {p.read_bytes() for p in c.glob("*.png")}


# --------------------------------------------------------------------------- truth boxes


def _tiny(population: int, quality: dict, interval: int):
    """A 160×120 camera: the smallest frame, where faces most easily spill over its edges."""
    return parse_scenario(
        {
            "seed": 3, "start": "2026-03-02", "days": 1, "population": {"size": population},
            "quality": {"q": quality},
            "cameras": [{"id": "tiny", "kind": "street", "station": "A", "fr": True,
                         "resolution": [160, 120], "quality": "q"}],
            "watchlist": {"size": 0, "in_city": 0}, "policy": {"frame_interval_s": interval},
        },
        "tiny.toml",
    )  # fmt: skip


def test_every_truth_face_lies_inside_its_frame(gen, classroom):
    cases = [
        (classroom, 0, 0),
        (classroom, 1, 1),
        # crowded frames (~16 faces in 160 px: slots narrower than the 16 px minimum face)
        (_tiny(120, {"base": "poor"}, 3600), 0, 0),
        # faces nearly as tall as the frame (the truth box reaches below the pasted crop)
        (_tiny(20, {"face_px": [100, 116]}, 2), 0, 0),
    ]
    checked = 0
    for sc, cam, day in cases:
        world = build_world(sc)
        for frame in camera.CameraRenderer(sc, world, gen).frames(cam, day):
            h, w = frame.image.shape[:2]
            assert (w, h) == sc.cameras[cam].resolution
            for f in frame.faces:
                x, y, bw, bh = f.box
                assert bw > 0 and bh > 0
                assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h, (frame.frame_id, f)
                checked += 1
    assert checked > 400


def test_yunet_finds_the_faces_of_the_first_fr_camera_day(gen, classroom):
    cam = classroom.fr_camera_indices[0]
    world = build_world(classroom)
    det = FaceDetector()
    found = total = 0
    for frame in camera.CameraRenderer(classroom, world, gen).frames(cam, 0):
        boxes = det.detect(frame.image).boxes
        for f in frame.faces:
            total += 1
            found += any(iou(f.box, b) >= 0.5 for b in boxes)
    assert total >= 15
    assert found / total >= 0.90, f"{found}/{total}"


# --------------------------------------------------------------------------- CLI


def test_frames_cli_writes_pngs_truth_and_clip(tmp_path, classroom):
    out = tmp_path / "frames"
    r = _frames_cli(out, "--clip")
    assert r.exit_code == 0, r.output
    truth = json.loads((out / "truth.json").read_text())
    world = build_world(classroom)
    want = world.frames(classroom.camera_index("north-gate"), 0)
    assert [f["frame_id"] for f in truth["frames"]] == [f.frame_id for f in want]
    assert truth["camera"] == "north-gate" and truth["day"] == 0
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == len(want) > 0
    for fr, t in zip(truth["frames"], want, strict=True):
        v = provenance.load_verified(out / fr["file"])
        params = v.record["params"]
        assert v.record["kind"] == "frame" and params["frame_id"] == t.frame_id
        assert params["camera"] == "north-gate"
        assert params["pids"] == [f["pid"] for f in fr["faces"]] == list(t.passes)
        assert [f["person"] for f in fr["faces"]] == list(t.persons)
        assert fr["t"] == t.t and all(len(f["box"]) == 4 for f in fr["faces"])
    clip = out / "north-gate-d000.avi"
    cap = cv2.VideoCapture(str(clip))
    try:
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == len(want)
    finally:
        cap.release()


def test_frames_cli_limit(tmp_path):
    r = _frames_cli(tmp_path, "--limit", "2")
    assert r.exit_code == 0, r.output
    assert len(list(tmp_path.glob("*.png"))) == 2
    assert len(json.loads((tmp_path / "truth.json").read_text())["frames"]) == 2


def test_frames_cli_bad_camera_or_day_is_a_config_error(tmp_path):
    r = CliRunner().invoke(
        app, ["frames", "classroom", "--camera", "nowhere", "--day", "0", "--out", str(tmp_path)]
    )
    assert isinstance(r.exception, ConfigError) and r.exit_code == 1
    msg = str(r.exception)
    assert "'nowhere'" in msg and "north-gate" in msg and "south-entrance" in msg

    r = CliRunner().invoke(
        app, ["frames", "classroom", "--camera", "north-gate", "--day", "2", "--out",
              str(tmp_path)],
    )  # fmt: skip
    assert isinstance(r.exception, ConfigError)
    assert "day 2" in str(r.exception) and "0..1" in str(r.exception)
    assert not list(tmp_path.glob("*.png"))


BAD_SCENARIOS = {
    "not-toml": "seed = [\n",
    "unknown-key": 'seed = 1\nstart = 2026-03-02\ndays = 1\ncolour = "red"\n',
    "bad-kind": (
        "seed = 1\nstart = 2026-03-02\ndays = 1\n[population]\nsize = 3\n"
        "[watchlist]\nsize = 0\nin_city = 0\n"
        '[[cameras]]\nid = "c"\nkind = "bus"\nstation = "A"\n'
    ),
}


def test_console_script_malformed_scenarios_exit_2_in_one_line(tmp_path):
    args = []
    for name, text in BAD_SCENARIOS.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        args.append((str(path), "c", "0", f"{name}.toml"))
    args.append((str(tmp_path / "missing.toml"), "c", "0", "missing.toml"))
    args.append(("classroom", "nowhere", "0", "unknown camera id 'nowhere'"))
    for scenario, cam, day, expect in args:
        proc = subprocess.run(
            [sys.executable, "-m", "facelab", "frames", scenario, "--camera", cam, "--day", day,
             "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == ConfigError.exit_code == 2, (scenario, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("error: ") and expect in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
