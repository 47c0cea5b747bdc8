"""Is the ACLU case's count stable on a given twin? (diagnostic for README "Reference cases")

Run: ``.venv/bin/python benchmarks/experiments/aclu_stability.py RUN`` where RUN is the case's
run (``runs/cases/aclu-congress/gallery`` after ``facelab case aclu-congress``).

On the ``log-fmr`` scale, calibrated on the run's own impostor scores, "80 %" is passed by the
``n^0.2`` highest of the ``n`` scores and "95 %" by the ``n^0.05`` highest; the case counts the
probes that hold them. This prints those counts, the highest scores (so the gap at the boundary
can be read), and the counts again after every probe and gallery embedding is moved by a
relative ``eps`` (8 draws, seed 0) and re-normalised, which bounds what last-bit differences of
the CPU's kernels (``eps`` about 1e-7) can do to the figure once the twin is fixed.
"""

from __future__ import annotations

import sys

import faiss
import numpy as np

from facelab.blas import tune_blas

tune_blas()

from facelab.run.store import RunStore  # noqa: E402
from facelab.run.watchlist import load_active  # noqa: E402
from facelab.search import percent  # noqa: E402

EPS = (1e-7, 1e-6, 1e-5, 1e-4)
DRAWS = 8


def counts(scores: np.ndarray) -> list[tuple[int, int]]:
    """(probes, scores) at or above "80 %" and "95 %" of the log-fmr scale of ``scores``."""
    best = scores.max(axis=1)
    m = percent.get_mapping("log-fmr", impostor_scores=scores.ravel())
    out = []
    for p in (80.0, 95.0):
        t = m.to_cosine(p)
        out.append((int((best >= t).sum()), int((scores >= t).sum())))
    return out


def main(run: str) -> None:
    with RunStore(run, readonly=True) as store:
        archive = store.archive()
        probes = np.concatenate([archive.vectors(d)[1] for d in archive.days()])
        watch = load_active(store)
        scores = watch.search(probes, len(watch)).scores
    index = watch.faiss_index
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    gallery = inner.reconstruct_n(0, inner.ntotal)
    print(f"{len(probes)} probes × {len(gallery):,} entries = {scores.size:,} scores")
    print(f"as the case (FAISS): (probes, scores) at 80 % and 95 %: {counts(scores)}")
    print("highest 30:", np.round(np.sort(scores.ravel())[::-1][:30], 6).tolist(), flush=True)
    rng = np.random.default_rng(0)

    def moved(x: np.ndarray, eps: float) -> np.ndarray:
        y = x.astype(np.float64) * (1 + eps * rng.standard_normal(x.shape))
        return (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)

    for eps in EPS:
        got = [counts(moved(probes, eps) @ moved(gallery, eps).T) for _ in range(DRAWS)]
        print(f"eps {eps:g}: probes at 80 % {sorted(g[0][0] for g in got)}; "
              f"at 95 % {sorted(g[1][0] for g in got)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1])
