"""Two SFace sessions sharing the cores against one session on all of them (diagnostic).

Run: ``.venv/bin/python benchmarks/experiments/embed_sessions.py [PAIRS]`` (about 30 s a pair).

The pre-rendered pipeline of ``test_bench_throughput.py`` (classroom preset, seed 7, 200 people,
2 days, 677 frames), run alternately as shipped (``pipeline.EMBED_WORKERS`` sessions, each with
an equal share of the cores) and with one session on every core (the pipeline before session
3), ``PAIRS`` times (default 4). Alternating runs cancel most of this shared machine's drift;
prints faces/s of each run and the medians.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import test_bench_throughput as tb  # noqa: E402

from facelab import camera, pipeline, synth  # noqa: E402
from facelab.world import build_world  # noqa: E402


def main(pairs: int) -> None:
    sc = tb._scenario()
    world = build_world(sc)
    renderer = camera.CameraRenderer(sc, world, synth.FaceGenerator())
    frames = {}
    for day in range(sc.days):
        truth = list(world.fr_frames(day))
        for s in range(0, len(truth), pipeline.RENDER_BATCH):
            for fr in renderer.render(truth[s : s + pipeline.RENDER_BATCH]):
                frames[fr.frame_id] = fr
    ways = {f"{pipeline.EMBED_WORKERS} sessions": None, "1 session": tb._chunk_embedders(1)}
    rates: dict[str, list[float]] = {name: [] for name in ways}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(pairs):
            for name, tweak in ways.items():
                runner = tb._runner(Path(tmp) / f"{k}-{len(rates[name])}-{name[0]}", frames)
                if tweak is not None:
                    tweak(runner)
                t = time.perf_counter()
                summary = runner.run()
                rates[name].append(summary.total("sightings") / (time.perf_counter() - t))
                runner.close()
            print("  ".join(f"{n}: {v[-1]:.1f} faces/s" for n, v in rates.items()), flush=True)
    print("median  " + "  ".join(f"{n}: {np.median(v):.1f}" for n, v in rates.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
