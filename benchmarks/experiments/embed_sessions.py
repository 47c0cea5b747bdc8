"""Two SFace sessions sharing the cores against one session on all of them (diagnostic).

Run: ``.venv/bin/python benchmarks/experiments/embed_sessions.py [PAIRS]`` (about 30 s a pair).

The pre-rendered pipeline of ``test_bench_throughput.py`` (classroom preset, seed 7, 200 people,
2 days, 677 frames), run alternately as shipped (``pipeline.EMBED_WORKERS`` sessions, each with
an equal share of the cores) and with one session on every core, ``PAIRS`` times (default 4).
Alternating runs cancel most of a shared machine's drift; prints faces/s of each run and the
medians.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import test_bench_throughput as tb  # noqa: E402

from facelab.run import pipeline  # noqa: E402
from facelab.world import synth


def alternate(ways: dict, pairs: int) -> None:
    """Run the pre-rendered pipeline once per way (``name -> tweak(runner)`` or None: as
    shipped), ``pairs`` times in turn; print faces/s of each run and the medians."""
    frames = tb.render_frames(synth.FaceGenerator())
    rates: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(pairs):
            for n, (name, tweak) in enumerate(ways.items()):
                runner = tb._runner(Path(tmp) / f"{k}-{n}", frames)
                if tweak is not None:
                    tweak(runner)
                t = time.perf_counter()
                summary = runner.run()
                rates[name].append(summary.total("sightings") / (time.perf_counter() - t))
                runner.close()
            print("  ".join(f"{n}: {v[-1]:.1f} faces/s" for n, v in rates.items()), flush=True)
    print("median  " + "  ".join(f"{n}: {np.median(v):.1f}" for n, v in rates.items()))


def main(pairs: int) -> None:
    alternate(
        {f"{pipeline.EMBED_WORKERS} sessions": None, "1 session": tb._chunk_embedders(1)}, pairs
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
