"""SFace quantised to int8 with NNCF post-training quantisation, against fp32 (diagnostic).

Run (NNCF is not a facelab dependency; install it beside the venv, not into it)::

    .venv/bin/pip install --target /tmp/nncf nncf
    PYTHONPATH=/tmp/nncf .venv/bin/python benchmarks/experiments/ov_int8.py [ROUNDS]

Calibration: :data:`CALIBRATION` aligned faces YuNet finds in the ``classroom`` preset's
frames (seed 7, 200 people, day 0). Evaluation, on other faces: the portraits and camera faces
of every quality of ``tests/test_backend.py``'s sample (seed 11 world, portraits of seed 5),
and genuine / impostor pairs of ``synth stats`` (:data:`STATS_IDENTITIES` identities x 4
portraits, seed 0). Prints:

* cosine of each face's int8 embedding to onnxruntime fp32 (percentiles 0, 1, 5, 50), and the
  same for OpenVINO fp32;
* FMR / FNMR at 50-80 % of the genuine / impostor pairs on each, with the 95 % interval of
  onnxruntime fp32 (linear mapping);
* faces/s at batch 32 on every usable core, onnxruntime fp32, OpenVINO fp32 and OpenVINO int8
  in alternating rounds (``ROUNDS``, default 7), with the median per-round ratios.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

CALIBRATION = 300
STATS_IDENTITIES = 60
BATCH = 32


def _aligned_from_frames(frames, detector) -> np.ndarray:
    from facelab.vision import faces

    out = []
    for image in frames:
        found = faces.select(faces.find_faces(detector, image), faces.ALL)
        if len(found):
            out.append(faces.align_faces(image, found))
    return np.concatenate(out)


def calibration_faces(detector) -> np.ndarray:
    from facelab.config.scenario import load_scenario
    from facelab.config.sections import PopulationSpec
    from facelab.world import camera, synth
    from facelab.world.world import build_world

    sc = load_scenario("classroom").with_overrides(population=PopulationSpec(200), days=1)
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator())
    truth = list(world.fr_frames(0))[: CALIBRATION + 40]
    frames = [f.image for s in range(0, len(truth), 16) for f in renderer.render(truth[s : s + 16])]
    return _aligned_from_frames(frames, detector)[:CALIBRATION]


def eval_faces(detector) -> np.ndarray:
    from test_backend import PER_QUALITY, PORTRAITS, _scenario

    from facelab.vision import faces
    from facelab.world import camera, synth
    from facelab.world.world import build_world

    gen = synth.FaceGenerator()
    frames = []
    for p in gen.identities(5, np.arange(PORTRAITS)):
        canvas = np.full((256, 256, 3), 127, np.uint8)
        synth.paste_face(canvas, p, 48, 48, 160)
        frames.append(canvas)
    sc = _scenario()
    renderer = camera.CameraRenderer(sc, build_world(sc), gen)
    for cam in range(len(sc.cameras)):
        n = 0
        for fr in renderer.frames(cam, 0):
            frames.append(fr.image)
            n += len(faces.find_faces(detector, fr.image).boxes)
            if n >= 3 * PER_QUALITY:
                break
    return _aligned_from_frames(frames, detector)


def quantize(calib: np.ndarray):
    """SFace as an OpenVINO int8 model (NNCF PTQ, default preset, calibrated on ``calib``)."""
    import nncf
    import openvino as ov

    from facelab.vision import models

    model = ov.Core().read_model(str(models.model_path("embedder")))
    data = nncf.Dataset(list(calib), lambda f: f[None].transpose(0, 3, 1, 2).astype(np.float32))
    return nncf.quantize(model, data, subset_size=len(calib))


class OvInt8:
    """An ``Embedder``-like wrapper of the quantised model (batch 32)."""

    def __init__(self, model, threads: int | None = None):
        import openvino as ov

        config = {"INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": False}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.request = ov.Core().compile_model(model, "CPU", config).create_infer_request()

    def embed(self, aligned: np.ndarray) -> np.ndarray:
        from facelab.vision.embed import normalize

        out = []
        for s in range(0, len(aligned), BATCH):
            x = aligned[s : s + BATCH].transpose(0, 3, 1, 2).astype(np.float32)
            out.append(np.array(self.request.infer({"data": x})[0], copy=True))
        return normalize(np.concatenate(out))


def pair_rates(embedder, detector) -> dict:
    """FMR / FNMR at 50-80 % on synth-stats portraits (seed 0), linear mapping."""
    from facelab.lab.calibration import genuine_impostor_scores

    return genuine_impostor_scores(STATS_IDENTITIES, 4, 0, detector=detector, embedder=embedder)


def main(rounds: int) -> None:
    from facelab.blas import tune_blas

    tune_blas()
    from facelab.lab.metrics import wilson_interval as wilson
    from facelab.vision.detect import FaceDetector
    from facelab.vision.embed import Embedder

    detector = FaceDetector()
    calib = calibration_faces(detector)
    faces = eval_faces(detector)
    print(f"calibration faces {len(calib)}, evaluation faces {len(faces)}")
    t = time.perf_counter()
    int8 = OvInt8(quantize(calib))
    print(f"quantised in {time.perf_counter() - t:.1f} s")
    ort = Embedder(batch_size=BATCH)
    ov32 = Embedder(batch_size=BATCH, backend="openvino")
    ref = ort.embed(faces)
    for name, emb in (("openvino fp32", ov32), ("openvino int8", int8)):
        cos = np.sum(ref * emb.embed(faces), axis=1)
        pct = ", ".join(f"p{p} {np.percentile(cos, p):.5f}" for p in (0, 1, 5, 50))
        print(f"cosine to onnxruntime fp32, {name}: {pct}")
    print("pair rates (synth stats portraits, seed 0), linear mapping:")
    scores = {
        name: pair_rates(emb, detector)
        for name, emb in (("onnxruntime fp32", ort), ("openvino int8", int8))
    }
    for t_pct in (50, 60, 70, 80):
        cells = []
        for name, res in scores.items():
            gen, imp = np.asarray(res.genuine), np.asarray(res.impostor)
            fnmr, fmr = int((gen < t_pct / 100).sum()), int((imp >= t_pct / 100).sum())
            lo, hi = wilson(fnmr, len(gen))
            flo, fhi = wilson(fmr, len(imp))
            cells.append(
                f"{name}: FMR {fmr}/{len(imp)} [{flo:.5f}, {fhi:.5f}] "
                f"FNMR {fnmr}/{len(gen)} [{lo:.3f}, {hi:.3f}]"
            )
        print(f"  {t_pct} %: " + " | ".join(cells))
    batch = faces[:BATCH]
    runs = {"onnxruntime fp32": ort, "openvino fp32": ov32, "openvino int8": int8}
    for emb in runs.values():
        emb.embed(batch)
    times: dict[str, list[float]] = {k: [] for k in runs}
    names = list(runs)
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            runs[name].embed(batch)
            times[name].append(time.perf_counter() - t)
    for name in names:
        print(f"{name}: best {BATCH / min(times[name]):.1f} faces/s")
    for name in names[1:]:
        ratio = statistics.median(a / b for a, b in zip(times["onnxruntime fp32"], times[name]))
        print(f"{name} / onnxruntime fp32, median per-round ratio: {ratio:.2f}")
    ratio = statistics.median(a / b for a, b in zip(times["openvino fp32"], times["openvino int8"]))
    print(f"openvino int8 / openvino fp32, median per-round ratio: {ratio:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
