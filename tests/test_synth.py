"""synth: seeded faces, portraits and frames are reproducible to the byte; sightings of one
identity look alike to SFace; the ``synth faces`` / ``synth stats`` commands write signed PNGs."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from facelab.cli import app
from facelab.config.scenario import load_scenario
from facelab.governance import provenance
from facelab.lab import calibration
from facelab.vision.detect import FaceDetector
from facelab.vision.embed import Embedder
from facelab.world import camera, synth
from facelab.world.world import build_world


@pytest.fixture(autouse=True)
def _key(tmp_path, monkeypatch):
    monkeypatch.setenv(provenance.KEY_ENV, str(tmp_path / "keys" / "provenance.key"))


@pytest.fixture(scope="module")
def gen() -> synth.FaceGenerator:
    return synth.FaceGenerator()


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- determinism


def test_faces_are_byte_identical_for_the_same_seed(gen):
    a = gen.identities(0, range(12))
    b = synth.FaceGenerator().identities(0, range(12))  # a fresh session too
    assert a.shape == (12, 64, 64, 3) and a.dtype == np.uint8
    assert _digest(a) == _digest(b)
    # an identity does not depend on which others are drawn with it
    assert _digest(gen.identities(0, [5])) == _digest(a[5:6])
    assert _digest(gen.identities(1, range(12))) != _digest(a)
    # distinct identities are distinct pictures
    flat = a.reshape(12, -1).astype(np.int16)
    assert min(np.abs(flat[i] - flat[j]).mean() for i in range(12) for j in range(i)) > 5


def test_sightings_and_portraits_are_byte_identical_for_the_same_seed(gen):
    s1 = gen.sightings(3, [1, 1, 2], [10, 11, 12], 0.3)
    s2 = gen.sightings(3, [1, 1, 2], [10, 11, 12], 0.3)
    assert _digest(s1) == _digest(s2)
    assert _digest(gen.sightings(4, [1, 1, 2], [10, 11, 12], 0.3)) != _digest(s1)

    p1, labels, ks = calibration.sighting_portraits(gen, 3, [0, 7], 3)
    p2, _, _ = calibration.sighting_portraits(gen, 3, [0, 7], 3)
    assert p1.shape == (6, synth.PORTRAIT_SIZE, synth.PORTRAIT_SIZE, 3)
    assert labels.tolist() == [0, 0, 0, 7, 7, 7] and ks.tolist() == [0, 1, 2, 0, 1, 2]
    assert _digest(p1) == _digest(p2)
    p3, _, _ = calibration.sighting_portraits(gen, 4, [0, 7], 3)
    assert all(_digest([x]) != _digest([y]) for x, y in zip(p1, p3, strict=True))
    # sightings of one identity differ from each other
    assert len({_digest([p]) for p in p1}) == 6


def test_rendered_frames_are_byte_identical_for_the_same_seed(gen):
    sc = load_scenario("classroom")
    cam = sc.fr_camera_indices[0]

    def render(scenario):
        world = build_world(scenario)
        frames = camera.CameraRenderer(scenario, world, gen).render(world.frames(cam, 0)[:5])
        return _digest([f.image for f in frames]), [(f.frame_id, f.faces) for f in frames]

    d1, t1 = render(sc)
    d2, t2 = render(sc)
    assert d1 == d2 and t1 == t2
    d3, _ = render(sc.with_overrides(seed=sc.seed + 1))
    assert d3 != d1


# --------------------------------------------------------------------------- SFace


def test_sightings_of_one_identity_are_more_similar_than_different_identities(gen):
    res = calibration.genuine_impostor_scores(
        8, 3, seed=2, generator=gen, detector=FaceDetector(), embedder=Embedder()
    )
    assert res.faces == 24 and res.detected >= 20
    assert res.embeddings.shape == (res.detected, 128)
    np.testing.assert_allclose(np.linalg.norm(res.embeddings, axis=1), 1.0, atol=1e-5)
    assert res.genuine.size > 0 and res.impostor.size == res.impostor_total > 100
    assert res.genuine.mean() > res.impostor.mean() + 0.2
    # the summary is JSON and its rates are consistent with the arrays
    s = json.loads(json.dumps(res.summary()))
    assert s["genuine"]["count"] == res.genuine.size
    ops = res.operating_points()
    assert [op.percent for op in ops] == [50.0, 60.0, 70.0, 80.0]
    assert ops[0].fmr.count == int((res.impostor >= ops[0].cosine).sum())
    assert ops[-1].fnmr.count == int((res.genuine < ops[-1].cosine).sum())
    fmrs = [op.fmr.value for op in ops]
    assert fmrs == sorted(fmrs, reverse=True)


def test_pair_scores_count_every_pair_and_subsample_deterministically():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((30, 8)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    labels = np.repeat(np.arange(10), 3)
    g, i, total = calibration.pair_scores(e, labels)
    assert g.size == 10 * 3 and total == i.size == 30 * 29 // 2 - 30
    g2, i2, total2 = calibration.pair_scores(e, labels, max_impostor=50, seed=1)
    assert i2.size == 50 and total2 == total and set(i2.tolist()) <= set(i.tolist())
    _, i3, _ = calibration.pair_scores(e, labels, max_impostor=50, seed=1)
    np.testing.assert_array_equal(i2, i3)


# --------------------------------------------------------------------------- CLI


def test_contact_sheet_cli_writes_a_verified_png(tmp_path, gen):
    sheet = tmp_path / "sheet.png"
    out = tmp_path / "faces"
    r = CliRunner().invoke(
        app,
        ["synth", "faces", "--n", "10", "--seed", "4", "--sheet", str(sheet), "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert str(sheet) in r.output
    v = provenance.load_verified(sheet)
    assert v.record["kind"] == "sheet" and v.record["seed"] == 4
    assert v.record["generator"] == "dcgan-digiface"
    assert v.record["model_sha256"] == gen.model_sha256
    assert v.image.shape[1] == 8 * (96 + 4) + 4  # 8 columns of 96 px cells
    files = sorted(out.glob("*.png"))
    assert len(files) == 10
    faces = gen.identities(4, range(10))
    for i, f in enumerate(files):
        vf = provenance.load_verified(f)
        assert vf.record["kind"] == "face" and vf.record["identity"] == i
        np.testing.assert_array_equal(vf.image, faces[i])


def test_synth_faces_sightings_cli(tmp_path, gen):
    sheet = tmp_path / "s.png"
    out = tmp_path / "p"
    r = CliRunner().invoke(
        app,
        ["synth", "faces", "--sightings", "8", "--identity", "3", "--seed", "1",
         "--sheet", str(sheet), "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rec = provenance.load_verified(sheet).record
    assert rec["kind"] == "sheet" and rec["identity"] == 3
    assert rec["params"]["sigma"] == synth.DEFAULT_LATENT_SIGMA
    assert rec["params"]["degradation"] == synth.DEFAULT_PHOTO_DEGRADATION.to_dict()
    files = sorted(out.glob("*.png"))
    assert len(files) == 8
    want, _, _ = calibration.sighting_portraits(gen, 1, [3], 8)
    for k, f in enumerate(files):
        v = provenance.load_verified(f)
        assert v.record["kind"] == "portrait" and v.record["identity"] == 3
        assert v.record["params"]["sighting"] == k
        np.testing.assert_array_equal(v.image, want[k])


def test_synth_stats_cli_json(tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "synth",
            "stats",
            "--identities",
            "4",
            "--sightings",
            "2",
            "--seed",
            "3",
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)
    assert s["faces"] == 8 and s["mapping"] == "linear"
    assert [p["percent"] for p in s["operating_points"]] == [50.0, 60.0, 70.0, 80.0]
    assert s["impostor"]["count"] > 0


def test_synth_cli_help_and_bad_options():
    for args in (["synth", "--help"], ["synth", "faces", "--help"], ["synth", "stats", "--help"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0 and "Usage" in r.output
    r = CliRunner().invoke(app, ["synth", "faces", "--n", "0"])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["synth", "stats", "--sightings", "1"])
    assert r.exit_code == 2
