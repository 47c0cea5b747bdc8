"""Backends: OpenVINO over the same ONNX files agrees with onnxruntime fp32 on facelab faces
(portraits and camera faces of every quality), finds the same faces, renders the same portraits,
pickles with its backend and precision, and `auto` / bad names resolve as documented."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from facelab.config.quality import BUILTIN_QUALITY
from facelab.config.scenario import parse_scenario
from facelab.errors import ConfigError
from facelab.vision import backend, faces
from facelab.vision.detect import FaceDetector, iou
from facelab.vision.embed import Embedder
from facelab.world import camera, synth
from facelab.world.world import build_world

pytestmark = pytest.mark.skipif(not backend.openvino_available(), reason="openvino not installed")

PER_QUALITY = 10
PORTRAITS = 12
P1_COSINE = 0.999
MIN_IOU = 0.95


def _scenario():
    """Three 320x240 FR cameras, one per built-in quality."""
    cams = [
        {"id": f"cam-{q}", "kind": "street", "station": "A", "fr": True,
         "resolution": [320, 240], "quality": q}
        for q in BUILTIN_QUALITY
    ]  # fmt: skip
    return parse_scenario(
        {
            "seed": 11, "start": "2026-03-02", "days": 1, "population": {"size": 40},
            "cameras": cams, "watchlist": {"size": 0, "in_city": 0},
            "policy": {"frame_interval_s": 60},
        },
        "backend.toml",
    )  # fmt: skip


@pytest.fixture(scope="module")
def ort_models():
    return synth.FaceGenerator(), FaceDetector(), Embedder()


@pytest.fixture(scope="module")
def sample(ort_models):
    """Frames (image, quality) and aligned faces (uint8 (n, 112, 112, 3), label per face)."""
    gen, det, _ = ort_models
    frames, aligned, labels = [], [], []
    portraits = gen.identities(5, np.arange(PORTRAITS))
    for p in portraits:  # each portrait pasted large on a plain canvas, as a photo would be
        canvas = np.full((256, 256, 3), 127, np.uint8)
        synth.paste_face(canvas, p, 48, 48, 160)
        frames.append((canvas, "portrait"))
    sc = _scenario()
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, gen)
    for cam, spec in enumerate(sc.cameras):
        n = 0
        for fr in renderer.frames(cam, 0):  # until PER_QUALITY faces are found (or the day ends)
            frames.append((fr.image, spec.quality))
            n += len(faces.find_faces(det, fr.image).boxes)
            if n >= PER_QUALITY:
                break
    for image, label in frames:
        found = faces.select(faces.find_faces(det, image), faces.ALL)
        if len(found.boxes):
            aligned.append(faces.align_faces(image, found))
            labels += [label] * len(found.boxes)
    return frames, np.concatenate(aligned), np.array(labels)


def test_sample_covers_portraits_and_every_quality(sample):
    _, aligned, labels = sample
    assert {"portrait", *BUILTIN_QUALITY} <= set(labels)
    assert 30 <= len(aligned) <= 80


def test_openvino_embeddings_agree_with_onnxruntime_fp32(ort_models, sample, record_property):
    _, aligned, labels = sample
    ref = ort_models[2].embed(aligned)
    ov = Embedder(backend="openvino", batch_size=32)
    assert ov.precision == backend.ov_precision()
    got = ov.embed(aligned)
    cos = np.sum(ref * got, axis=1)
    pct = {p: float(np.percentile(cos, p)) for p in (0, 1, 5, 50)}
    record_property("cosine_percentiles", pct)
    record_property("precision", ov.precision)
    record_property(
        "faces", {str(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}
    )
    for label in set(labels):
        record_property(f"cosine_min_{label}", float(cos[labels == label].min()))
    assert pct[1] >= P1_COSINE, pct
    assert np.isfinite(got).all()


def test_openvino_detections_agree_with_onnxruntime(ort_models, sample):
    frames, _, _ = sample
    det = FaceDetector(backend="openvino")
    compared = 0
    for image, _ in frames:
        a, b = ort_models[1].detect(image), det.detect(image)
        assert len(a.boxes) == len(b.boxes)
        for box, score in zip(a.boxes, a.scores):
            best = max(range(len(b.boxes)), key=lambda j: iou(box, b.boxes[j]))
            assert iou(box, b.boxes[best]) >= MIN_IOU
            assert abs(float(score) - float(b.scores[best])) < 0.02
            compared += 1
    assert compared >= 30


def test_openvino_generator_renders_the_same_faces(ort_models):
    z = synth.identity_latents(5, np.arange(8))
    a = ort_models[0].render(z)
    b = synth.FaceGenerator(backend="openvino").render(z)
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_models_pickle_with_backend_and_precision(sample):
    _, aligned, _ = sample
    ov = Embedder(backend="openvino", threads=1)
    back = pickle.loads(pickle.dumps(ov))
    assert (back.backend, back.precision, back.threads) == ("openvino", ov.precision, 1)
    np.testing.assert_array_equal(back.embed(aligned[:4]), ov.embed(aligned[:4]))
    det = pickle.loads(pickle.dumps(FaceDetector(backend="openvino")))
    assert det.providers == ("OpenVINO:CPU",)


def test_openvino_is_deterministic(sample):
    _, aligned, _ = sample
    ov = Embedder(backend="openvino", batch_size=16)
    np.testing.assert_array_equal(ov.embed(aligned), ov.embed(aligned))


def test_auto_picks_each_model_by_the_rule(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="facelab.vision.backend"):
        chosen = backend.resolve_backends("auto", "cpu")
    assert chosen == {m: backend.AUTO_CPU[m][0] for m in backend.MODELS}
    assert (chosen["embedder"], chosen["detector"]) == ("openvino", "onnxruntime")
    assert "backend auto: detector onnxruntime, embedder openvino" in caplog.text
    rec = backend.inference_record("auto")
    assert rec["backend"] == "auto"
    assert rec["models"]["embedder"] == {"backend": "openvino", "precision": backend.ov_precision()}
    assert backend.describe(rec) == (
        f"detector onnxruntime fp32, embedder openvino {backend.ov_precision()}, "
        "generator onnxruntime fp32"
    )
    assert backend.describe(backend.inference_record("onnxruntime")) == "onnxruntime fp32"
    assert backend.resolve_backends("auto", "cuda") == dict.fromkeys(backend.MODELS, "onnxruntime")
    with pytest.raises(ConfigError, match="unknown model"):
        backend.resolve_backend("auto", "cpu", "tracker")


def test_backend_names_resolve():
    assert backend.resolve_backend("auto", "cpu") == "openvino"
    assert backend.resolve_backend("auto", "cuda") == "onnxruntime"
    assert backend.resolve_backend(" ONNXRuntime ", "cpu") == "onnxruntime"
    assert backend.ov_precision() == ("bf16" if "BF16" in backend.cpu_capabilities() else "fp32")
    with pytest.raises(ConfigError, match="unknown backend"):
        backend.resolve_backend("tensorrt")
    with pytest.raises(ConfigError, match="CPU"):
        backend.resolve_backend("openvino", "cuda")


# --------------------------------------------------------------------------- runs


def _tiny_run(backend_key: str | None):
    """A classroom-like image run small enough to run twice: 2 FR cameras, 1 day."""
    data = {
        "seed": 4, "start": "2026-03-02", "days": 1, "population": {"size": 12},
        "cameras": [
            {"id": f"cam-{q}", "kind": "street", "station": "A", "fr": True,
             "resolution": [320, 240], "quality": q}
            for q in ("good", "poor")
        ],
        "watchlist": {"size": 3, "in_city": 2}, "policy": {"frame_interval_s": 600},
    }  # fmt: skip
    if backend_key is not None:
        data["detection"] = {"backend": backend_key}
    return parse_scenario(data, "tiny-backend.toml")


def _rows(run) -> dict:
    import sqlite3

    con = sqlite3.connect(run / "facelab.sqlite")
    try:
        return {
            t: con.execute(f"SELECT {cols} FROM {t} ORDER BY 1, 2").fetchall()
            for t, cols in (("sightings", "*"), ("candidates", "*"),
                            ("alerts", "sighting, watch, rank, score, percent"))
        }  # fmt: skip
    finally:
        con.close()


@pytest.fixture(scope="module")
def ort_tiny_run(tmp_path_factory):
    """The tiny run on onnxruntime (the scenario's default backend)."""
    from facelab import api

    out = tmp_path_factory.mktemp("ort") / "run"
    api.run(_tiny_run(None), out)
    return out


def _sweep(run):
    from facelab.lab.scores import load_scores
    from facelab.lab.sweep import sweep_run
    from facelab.run.store import RunStore

    with RunStore(run) as store:
        return sweep_run(load_scores(store), "50:80:10")


def test_openvino_runs_are_deterministic_and_recorded(tmp_path, ort_tiny_run):
    import json

    from facelab import api
    from facelab.errors import RunError
    from facelab.lab.report.facts import run_facts
    from facelab.lab.scores import load_scores
    from facelab.run.store import RunStore

    sc = _tiny_run("openvino")
    a, b = tmp_path / "a", tmp_path / "b"
    sa = api.run(sc, a)
    api.run(sc, b)
    assert (sa.backend, sa.precision) == ("openvino", backend.ov_precision())
    rows = _rows(a)
    assert rows["sightings"] and rows["candidates"]
    assert rows == _rows(b)
    meta = json.loads((a / "run.json").read_text())
    assert (meta["backend"], meta["precision"]) == ("openvino", backend.ov_precision())
    with RunStore(a) as store:
        facts = run_facts(store, load_scores(store))
    assert facts.inference == f"openvino {backend.ov_precision()}"
    from typer.testing import CliRunner

    from facelab.cli import app

    swept = CliRunner().invoke(app, ["sweep", str(a)])
    assert swept.exit_code == 0 and f"ran on openvino {backend.ov_precision()}" in swept.output
    bad = CliRunner().invoke(app, ["run", "classroom", "--out", str(tmp_path / "x"),
                                   "--backend", "tensorrt"])  # fmt: skip
    assert isinstance(bad.exception, ConfigError) and "unknown backend" in str(bad.exception)
    assert not (tmp_path / "x").exists()
    with pytest.raises(RunError, match="same backend"):
        api.run(sc, a, backend="onnxruntime")
    # the same scenario on onnxruntime finds the same faces (boxes within a pixel)
    c = ort_tiny_run
    ort_rows = _rows(c)
    assert json.loads((c / "run.json").read_text())["backend"] == "onnxruntime"
    assert len(ort_rows["sightings"]) == len(rows["sightings"])
    for s_ov, s_ort in zip(rows["sightings"], ort_rows["sightings"]):
        assert s_ov[:5] == s_ort[:5]
        assert np.allclose(s_ov[5:9], s_ort[5:9], atol=1.0)


def test_synth_stats_agree_across_backends():
    import json

    from typer.testing import CliRunner

    from facelab.cli import app

    def stats(name: str) -> dict:
        args = ["synth", "stats", "--identities", "3", "--sightings", "2", "--format", "json"]
        r = CliRunner().invoke(app, [*args, "--backend", name])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    a, b = stats("onnxruntime"), stats("openvino")
    for side in ("genuine", "impostor"):
        assert a[side]["count"] == b[side]["count"]
        assert a[side]["mean"] == pytest.approx(b[side]["mean"], abs=1e-3)


def test_auto_run_records_each_model_and_its_rates_agree(tmp_path, ort_tiny_run):
    """`--backend auto` (the demo's): the detector and generator on onnxruntime, so the same
    sightings as the onnxruntime run, byte for byte; the embedder on OpenVINO, so the scores
    move a little and every rate stays inside the onnxruntime run's 95 % interval."""
    import json

    from facelab import api
    from facelab.errors import RunError
    from facelab.lab.sweep import disagreements

    out = tmp_path / "auto"
    summary = api.run(_tiny_run(None), out, backend="auto")
    meta = json.loads((out / "run.json").read_text())
    assert meta["backend"] == summary.backend == "auto"
    assert meta["models"] == backend.inference_record("auto")["models"]
    assert summary.inference.startswith("detector onnxruntime fp32, embedder openvino")
    got, ref = _rows(out), _rows(ort_tiny_run)
    assert got["sightings"] == ref["sightings"]
    score = {(r[0], r[2]): r[3] for r in ref["candidates"]}  # (sighting, watch) → score
    assert {(r[0], r[2]) for r in got["candidates"]} == set(score)
    assert max(abs(r[3] - score[(r[0], r[2])]) for r in got["candidates"]) < 1e-3
    assert disagreements(_sweep(out), _sweep(ort_tiny_run)) == []
    assert api.demo_backend(out) == "auto" and api.demo_backend(tmp_path / "new") == "auto"
    assert api.demo_backend(ort_tiny_run) == "onnxruntime"
    with pytest.raises(RunError, match="embedder openvino"):
        api.run(_tiny_run(None), out, backend="openvino")
    api.run(_tiny_run(None), out, backend="auto")  # resumes: nothing left to do
