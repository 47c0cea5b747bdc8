"""Fused workers (each renders, detects and embeds its own chunk) against the staged pipeline
(diagnostic).

Run: ``.venv/bin/python benchmarks/experiments/fused_workers.py [PAIRS]`` (about 30 s a pair).

As shipped, image mode runs :data:`facelab.run.pipeline.PREPARE_WORKERS` render/detect workers
beside :data:`facelab.run.pipeline.EMBED_WORKERS` one-thread SFace sessions: three busy threads on
two cores. Fused, each of ``max(EMBED_WORKERS, PREPARE_WORKERS)`` workers prepares a chunk and
then embeds it with a session of its own, so at most two threads compute at once and none
waits on another stage. Same pre-rendered frames and alternation as ``embed_sessions.py``;
prints faces/s of each run and the medians.
"""

from __future__ import annotations

import sys
import types
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from embed_sessions import alternate

from facelab.run import pipeline


def _fused_day(source, day: int, progress) -> pipeline.DayBatch:
    batch = pipeline.DayBatch(day)
    truth_frames = list(source.world.fr_frames(day))
    step = pipeline.RENDER_BATCH
    chunks = [truth_frames[s : s + step] for s in range(0, len(truth_frames), step)]
    embedders = source._chunk_embedders()
    workers = max(embedders.qsize(), pipeline.PREPARE_WORKERS)
    writes, done = [], 0
    with ThreadPoolExecutor(1) as writer, ThreadPoolExecutor(workers) as pool:

        def write(files):
            writes.append(writer.submit(pipeline._write_files, files))

        def job(chunk):
            part, aligned = source._prepare(chunk, day, write)
            emb = source._embed(embedders, np.stack(aligned)) if aligned else None
            return part, len(chunk), emb

        pending = deque(pool.submit(job, c) for c in chunks[: 2 * workers])
        submitted = len(pending)
        while pending:
            part, n, emb = pending.popleft().result()
            if submitted < len(chunks):
                pending.append(pool.submit(job, chunks[submitted]))
                submitted += 1
            batch.extend(part, emb)
            done += n
            progress(done, len(truth_frames))
        for w in writes:
            w.result()
    return batch


def _fused(runner) -> None:
    runner.source.day = types.MethodType(_fused_day, runner.source)


if __name__ == "__main__":
    alternate({"staged": None, "fused": _fused}, int(sys.argv[1]) if len(sys.argv) > 1 else 4)
