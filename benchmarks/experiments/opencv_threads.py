"""OpenCV on one thread against its default thread pool, in the image-mode pipeline (diagnostic).

Run: ``.venv/bin/python benchmarks/experiments/opencv_threads.py [PAIRS]`` (about 30 s a pair).

The render/detect worker calls OpenCV (colour conversion, resizing, alignment, JPEG) while the
SFace sessions hold the cores. OpenCV splits larger calls over its own thread pool (one thread
per core by default), and a split call waits for its slowest part: on two busy cores, for a
core an SFace session holds. Same pre-rendered frames and alternation as
``embed_sessions.py``; prints faces/s of each run and the medians.
"""

from __future__ import annotations

import sys

import cv2
from embed_sessions import alternate

DEFAULT = cv2.getNumThreads()

if __name__ == "__main__":
    ways = {
        f"opencv {DEFAULT} threads": lambda runner: cv2.setNumThreads(DEFAULT),
        "opencv 1 thread": lambda runner: cv2.setNumThreads(1),
    }
    alternate(ways, int(sys.argv[1]) if len(sys.argv) > 1 else 4)
