"""Shared fixtures of the benchmarks: models opened once per session, run context recorded.

Every benchmark's ``extra_info`` holds the session's roofline (numpy sgemm GFLOP/s and
memory-read GB/s, measured in the same run), a description of the machine (CPU, libraries,
the BLAS kernels each library picked, whether a GPU was used) and the 1-minute load average
before and after. Sizes of the scale benchmarks follow ``$FACELAB_BENCH_SCALE``
(``small``, ``default`` or ``large``).

Run with ``.venv/bin/python -m pytest benchmarks/... --benchmark-json=...``; figures go into
``benchmark.extra_info`` and are summarised in ``benchmarks/README.md``.
"""

from __future__ import annotations

from facelab.blas import tune_blas

tune_blas()  # before faiss is first imported, as the facelab command does

import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@pytest.fixture(scope="session")
def generator():
    from facelab.world.synth import FaceGenerator

    return FaceGenerator()


@pytest.fixture(scope="session")
def detector():
    from facelab.vision.detect import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="session")
def embedder():
    from facelab.vision.embed import Embedder

    return Embedder()


@pytest.fixture
def context(benchmark, roofline, machine):
    """Record the machine's load before and after a benchmark (other work shares the CPU),
    the session's roofline (sgemm GFLOP/s, read GB/s), the machine and the scale."""
    benchmark.extra_info["cpu_count"] = os.cpu_count()
    benchmark.extra_info["roofline"] = roofline
    benchmark.extra_info["machine"] = machine
    benchmark.extra_info["scale"] = bench_scale()
    benchmark.extra_info["loadavg_1m_before"] = round(os.getloadavg()[0], 2)
    yield benchmark.extra_info
    benchmark.extra_info["loadavg_1m_after"] = round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------------------------
# Scale benchmarks: machine description, roofline, sizes, shared data
# --------------------------------------------------------------------------------------------

SCALE_ENV = "FACELAB_BENCH_SCALE"
SCALES = ("small", "default", "large")

ROOFLINE_N = 2048  # sgemm size of the roofline: (N x N) @ (N x N), float32
ROOFLINE_REPEATS = 7
STREAM_SHAPE = (16_384, 8_192)  # 512 MiB float32 matrix for the memory-read roofline (sgemv)
STREAM_REPEATS = 5


def bench_scale() -> str:
    """``$FACELAB_BENCH_SCALE`` (``small``, ``default`` or ``large``); ``default`` when unset."""
    value = os.environ.get(SCALE_ENV, "default").strip().lower() or "default"
    if value not in SCALES:
        raise pytest.UsageError(f"{SCALE_ENV}={value!r}: choose one of {', '.join(SCALES)}")
    return value


def env_sizes(name: str, default: list[int]) -> list[int]:
    """Sizes from ``$NAME`` (comma-separated integers, ``1e6`` allowed), else ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return list(default)
    return [int(float(x)) for x in raw.split(",") if x.strip()]


def rss_mb() -> float:
    """Resident set size of this process now, MiB (``VmRSS``)."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (``VmHWM``)."""
    return _status_kb("VmHWM") / 1024


def _status_kb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(float(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


@pytest.fixture(scope="session")
def machine() -> dict:
    """What ran the benchmarks: CPU, libraries, BLAS kernels, whether a GPU was used."""
    import faiss
    import onnxruntime
    from threadpoolctl import threadpool_info

    from facelab.vision import device

    blas = [
        {
            k: i.get(k)
            for k in (
                "prefix",
                "user_api",
                "version",
                "architecture",
                "num_threads",
                "threading_layer",
            )
        }
        | {"library": Path(i["filepath"]).name}
        for i in threadpool_info()
    ]
    return {
        "platform_processor": platform.processor(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gb": _mem_total_gb(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "faiss": faiss.__version__,
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "blas": blas,
        "env": {
            k: os.environ.get(k)
            for k in ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", SCALE_ENV)
        },
        "gpu_visible": device.gpu_visible(),
        "gpu_used": False,  # every benchmark here runs on the CPU (device "cpu")
    }


@pytest.fixture(scope="session")
def roofline() -> dict:
    """The machine's own ceilings, measured once per session.

    ``sgemm_gflops``: numpy float32 matrix product (2048^3, best of 7), i.e. the GFLOP/s a
    compute-bound kernel could reach here; ``read_gbps``: numpy float32 matrix-vector product
    over a 512 MiB matrix (best of 5), the rate a memory-bound scan could read vectors at.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((ROOFLINE_N, ROOFLINE_N), dtype=np.float32)
    b = rng.standard_normal((ROOFLINE_N, ROOFLINE_N), dtype=np.float32)
    a @ b  # warm-up: threads started, pages touched
    best = float("inf")
    for _ in range(ROOFLINE_REPEATS):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    sgemm = 2 * ROOFLINE_N**3 / best / 1e9
    m = np.ones(STREAM_SHAPE, np.float32)
    v = np.ones(STREAM_SHAPE[1], np.float32)
    m @ v
    best_r = float("inf")
    for _ in range(STREAM_REPEATS):
        t = time.perf_counter()
        m @ v
        best_r = min(best_r, time.perf_counter() - t)
    read = m.nbytes / best_r / 1e9
    del m
    return {
        "sgemm_gflops": round(sgemm, 1),
        "sgemm_shape": f"{ROOFLINE_N}x{ROOFLINE_N} @ {ROOFLINE_N}x{ROOFLINE_N} float32, best of "
        f"{ROOFLINE_REPEATS}",
        "read_gbps": round(read, 1),
        "read_shape": f"sgemv over {STREAM_SHAPE[0]}x{STREAM_SHAPE[1]} float32 "
        f"({STREAM_SHAPE[0] * STREAM_SHAPE[1] * 4 >> 20} MiB), best of {STREAM_REPEATS}",
    }


def achieved(flops: float, seconds: float, roofline: dict) -> dict:
    """GFLOP/s of ``flops`` done in ``seconds`` and its fraction of the sgemm roofline."""
    g = flops / seconds / 1e9 if seconds > 0 else float("nan")
    return {"gflops": round(g, 2), "roofline_fraction": round(g / roofline["sgemm_gflops"], 4)}


@pytest.fixture(scope="session")
def twin_model():
    """The calibrated embedding twin (``models/twin.npz``); skips when it is missing."""
    from facelab.twin.model import default_path, load_default

    if not default_path().exists():
        pytest.skip(f"no calibrated twin at {default_path()}: run `.venv/bin/facelab calibrate`")
    return load_default()


METRO_RUN = {  # population, days of the embedding-mode metro run shared by purge and sweep
    "small": (20_000, 3),
    "default": (200_000, 4),
    "large": (400_000, 6),
}


@pytest.fixture(scope="session")
def metro_run(tmp_path_factory, twin_model) -> dict:
    """An embedding-mode run of the ``metro`` preset (seed 2020), population and days scaled
    by ``$FACELAB_BENCH_SCALE``; built once per session in a temporary folder."""
    from facelab.config.scenario import load_scenario
    from facelab.config.sections import PopulationSpec
    from facelab.run.pipeline import run_scenario
    from facelab.truth import TruthStore

    people, days = METRO_RUN[bench_scale()]
    sc = load_scenario("metro").with_overrides(population=PopulationSpec(people), days=days)
    out = tmp_path_factory.mktemp("metro") / "run"
    t = time.perf_counter()
    with TruthStore(out, create=True) as truth:
        summary = run_scenario(sc, out, truth=truth)
    seconds = time.perf_counter() - t
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "path": out,
        "scenario": f"metro (seed {sc.seed}), population {people}, days {days}, embedding mode",
        "sightings": summary.total("sightings"),
        "alerts": summary.total("alerts"),
        "build_seconds": round(seconds, 2),
        "run_bytes": size,
    }


@pytest.fixture(scope="session")
def tools():
    """Helpers for the scale benchmarks (test files cannot import conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        scale=bench_scale(),
        env_sizes=env_sizes,
        rss_mb=rss_mb,
        peak_rss_mb=peak_rss_mb,
        achieved=achieved,
    )
