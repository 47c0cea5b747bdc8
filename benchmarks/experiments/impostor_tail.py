"""How well does the impostor map's sample pin down the tail? (diagnostic for #16's map)

Run: ``.venv/bin/python benchmarks/experiments/impostor_tail.py RUN [SEED]`` where RUN is a run
made under a profile (``facelab run npl-lfr --system npl-neoface-v4 --out RUN``; SEED defaults
to the run's scenario seed).

A run under a profile maps impostor scores by the twin's exceedance of a non-mated search's
top impostor cosine against the run's watchlist (:mod:`facelab.search.transfer`): empirical
where the sample has at least 1 % of its maxima above a score, a generalised Pareto tail fitted
to that top 1 % beyond. This draws 100,000 non-mated twin probes (fresh identities past the run's
own map sample), takes their maxima as the reference, then for 12 subsamples of
the run's probe count fits the tail as the run does and prints the ratio of the fitted
exceedance to the reference's at reference levels 1e-3, 3e-4 and 1.7e-4 (NeoFace's 0.60 at
N = 10,000), with the median and the 10th–90th percentiles over the subsamples. Each
subsample is drawn from the reference itself, so the spread it shows is a lower bound.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from facelab.blas import tune_blas

tune_blas()

from facelab.run import emulated  # noqa: E402
from facelab.run.store import RunStore  # noqa: E402
from facelab.search.transfer import max_exceedance_model  # noqa: E402
from facelab.twin.model import load_default  # noqa: E402
from facelab.twin.sampler import TwinSampler  # noqa: E402

REFERENCE = 100_000
SUBSAMPLES = 12
LEVELS = (1e-3, 3e-4, 1.7e-4)


def main(run: str, seed: int | None = None) -> None:
    with RunStore(run, readonly=True) as store:
        watch = store.load_watchlist()
        rec = store.meta["system"]["impostor_map"]
        seed = int(store.meta["scenario"]["seed"] if seed is None else seed)
    quality = rec["groups"][0]["twin_quality"]
    n = int(rec["probes"]["per_quality"])
    sampler = TwinSampler(load_default(), seed)
    t0 = time.perf_counter()
    ids = emulated.PROBE_ID_BASE + n + np.arange(REFERENCE, dtype=np.int64)
    ref = np.empty(REFERENCE)
    for a in range(0, REFERENCE, 8192):
        emb = sampler.sightings(ids[a : a + 8192], ids[a : a + 8192], quality)
        ref[a : a + 8192] = watch.search(emb, 1).scores[:, 0]
    print(f"{REFERENCE} reference maxima against {len(watch)} entries in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    desc = np.sort(ref)[::-1]
    xs = [desc[int(p * REFERENCE)] for p in LEVELS]
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(SUBSAMPLES):
        tail = max_exceedance_model(rng.choice(ref, n, replace=False))
        ratios.append([float(tail.sf(x)) / p for x, p in zip(xs, LEVELS)])
    r = np.array(ratios)
    for j, p in enumerate(LEVELS):
        lo, med, hi = np.quantile(r[:, j], [0.1, 0.5, 0.9])
        print(f"exceedance {p:.1e}: fitted / reference median {med:.2f} (10-90 %: {lo:.2f}-{hi:.2f})"
              f" from {SUBSAMPLES} subsamples of {n}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None)
