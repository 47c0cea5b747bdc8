"""Shared fixtures of the benchmarks: models opened once per session, run context recorded.

Run with ``.venv/bin/python -m pytest benchmarks/... --benchmark-json=...``; figures go into
``benchmark.extra_info`` and are summarised in ``benchmarks/README.md``.
"""

from __future__ import annotations

import os

import cv2
import pytest

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@pytest.fixture(scope="session")
def generator():
    from facelab.synth import FaceGenerator

    return FaceGenerator()


@pytest.fixture(scope="session")
def detector():
    from facelab.detect import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="session")
def embedder():
    from facelab.embed import Embedder

    return Embedder()


@pytest.fixture
def context(benchmark):
    """Record the machine's load before and after a benchmark (other work shares the CPU)."""
    benchmark.extra_info["cpu_count"] = os.cpu_count()
    benchmark.extra_info["loadavg_1m_before"] = round(os.getloadavg()[0], 2)
    yield benchmark.extra_info
    benchmark.extra_info["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
