"""onnxruntime fp32 vs OpenVINO on the same ONNX files, timed alternately in one process.

The embedder (SFace, batch 32) and the detector (YuNet, one 640x480 frame) are each run on both
backends in alternating rounds, so that load from other work on the machine falls on both
alike; ``extra_info`` holds each backend's best rate, the median of the per-round ratios
(``ratio_ov_over_ort``, > 1: OpenVINO faster), OpenVINO's precision, the CPU's
``OPTIMIZATION_CAPABILITIES`` and what ``--backend auto`` picks for each model here
(``auto_choice``: a rule, :data:`facelab.vision.backend.AUTO_CPU`, that these ratios justify or
not on the machine that ran them). The benchmark's own timing is OpenVINO's.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_backend.py --benchmark-json=out.json``
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np
import pytest

from facelab.vision import backend
from facelab.vision.detect import FaceDetector
from facelab.vision.embed import Embedder
from facelab.world import synth

pytestmark = pytest.mark.skipif(not backend.openvino_available(), reason="openvino not installed")

BATCH = 32
ROUNDS = 7
SFACE_GFLOP = 1.135  # per face, as in benchmarks/README.md


def _alternate(run_a, run_b, rounds: int = ROUNDS) -> tuple[float, float, float]:
    """Best seconds of a and of b, and the median per-round ratio t_a / t_b (one warm-up)."""
    run_a(), run_b()
    ta, tb = [], []
    for i in range(rounds):
        for fn, out in ((run_a, ta), (run_b, tb)) if i % 2 == 0 else ((run_b, tb), (run_a, ta)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return min(ta), min(tb), statistics.median(a / b for a, b in zip(ta, tb))


def _record(info: dict, what: str, units: float, t_ort: float, t_ov: float, ratio: float):
    info[f"{what}_ort_fp32_per_s"] = round(units / t_ort, 1)
    info[f"{what}_ov_per_s"] = round(units / t_ov, 1)
    info["ratio_ov_over_ort"] = round(ratio, 2)
    info["ov_precision"] = backend.ov_precision()
    info["cpu_capabilities"] = list(backend.cpu_capabilities())
    info["auto_choice"] = backend.resolve_backends("auto", "cpu")  # the rule, beside the ratios


@pytest.fixture(scope="module")
def faces32() -> np.ndarray:
    portraits = synth.FaceGenerator().identities(1, np.arange(BATCH))
    return np.stack([cv2.resize(p, (112, 112), interpolation=cv2.INTER_LINEAR) for p in portraits])


def test_embedder_ort_vs_openvino(benchmark, context, faces32):
    ort = Embedder(batch_size=BATCH, backend="onnxruntime")
    ov = Embedder(batch_size=BATCH, backend="openvino")
    t_ort, t_ov, ratio = _alternate(lambda: ort.embed(faces32), lambda: ov.embed(faces32))
    _record(context, "faces", BATCH, t_ort, t_ov, ratio)
    context["gflops_ort_fp32"] = round(BATCH * SFACE_GFLOP / t_ort, 1)
    context["gflops_ov"] = round(BATCH * SFACE_GFLOP / t_ov, 1)
    benchmark.pedantic(ov.embed, args=(faces32,), rounds=3, iterations=1)
    assert ratio > 0


def test_detector_ort_vs_openvino(benchmark, context, faces32):
    frame = np.full((480, 640, 3), 110, np.uint8)
    for i, face in enumerate(faces32[:6]):
        synth.paste_face(frame, face, 20 + 100 * i, 150, 90)
    ort = FaceDetector(backend="onnxruntime", threads=2)
    ov = FaceDetector(backend="openvino", threads=2)
    t_ort, t_ov, ratio = _alternate(lambda: ort.detect(frame), lambda: ov.detect(frame))
    _record(context, "frames", 1, t_ort, t_ov, ratio)
    benchmark.pedantic(ov.detect, args=(frame,), rounds=3, iterations=1)
    assert len(ov.detect(frame).boxes) == len(ort.detect(frame).boxes)
