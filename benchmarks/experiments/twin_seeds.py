"""How far apart two image samples of 150 people are, and where the twin stands (diagnostic).

Run: ``.venv/bin/python benchmarks/experiments/twin_seeds.py [PEOPLE]`` (default 150; about
45 s of rendering per seed on two quiet cores, four seeds).

``facelab calibrate --check`` counts the FMR / FNMR rates at 50–80 % (6 kinds of pairs × 4
thresholds × 2 = 48) that the twin puts inside the clustering-aware intervals of a fresh image
sample. This script asks the same of image mode itself: image samples of PEOPLE people drawn
with seeds 0–3 (4 camera faces per quality, 2 photos; the comparison uses each person's first
photo, as ``--check`` does), each sample's rates checked against every other sample's
intervals; then twins fitted on each seed and on seeds 0 + 1, each checked against the seeds it
was not fitted on: rates inside, and how far off the twin's FMR at 50 and 60 % is (geometric
mean of twin / image over the kinds and seeds where both are > 0) and its FNMR. Prints one line
per pair.
"""

from __future__ import annotations

import math
import sys
from itertools import permutations

import numpy as np

from facelab.twin.fit import fit_twin
from facelab.twin.imagesample import ImageSample, sample_all
from facelab.twin.model import PHOTO, TwinModel
from facelab.twin.validation import TwinReport, compare, image_rates
from facelab.vision import detect, embed
from facelab.world import synth

SEEDS = (0, 1, 2, 3)
QUALITIES = ("good", "fair", "poor")
SAMPLER_SEED = 101  # as `facelab calibrate --check` (seed + 101 / + 102 for photo pairs)


def _first_photo(s: ImageSample) -> tuple[np.ndarray, np.ndarray]:
    _, first = np.unique(s.labels, return_index=True)
    return s.embeddings[first], s.labels[first]


def _rates(sample: dict, quality: str, photo: bool):
    s = sample[quality]
    pe, pl = _first_photo(sample[PHOTO]) if photo else (None, None)
    return image_rates(s.embeddings, s.labels, SAMPLER_SEED + photo, photo_emb=pe, photo_labels=pl)


def _reports(model: TwinModel, sample: dict) -> list[TwinReport]:
    out = []
    for q in QUALITIES:
        s = sample[q]
        for photo in (False, True):
            pe, pl = _first_photo(sample[PHOTO]) if photo else (None, None)
            out.append(compare(model, s.embeddings, s.labels, SAMPLER_SEED + photo, q,
                               photo_emb=pe, photo_labels=pl))  # fmt: skip
    return out


def _count(flags) -> int:
    return sum(sum(f) for pair in flags for f in pair)


def _fit(samples: list[dict]) -> TwinModel:
    def joined(kind: str):
        # people of different seeds are different people: keep their labels apart
        emb = np.concatenate([s[kind].embeddings for s in samples])
        lab = np.concatenate([s[kind].labels + (n << 32) for n, s in enumerate(samples)])
        return emb, lab

    good = joined("good")
    others = {k: joined(k) for k in (*QUALITIES[1:], PHOTO)}
    return fit_twin(*good, "good", 0, others=others)


def main(people: int) -> None:
    models = (synth.FaceGenerator(), detect.FaceDetector(), embed.Embedder())
    samples = {seed: sample_all(people, 4, 2, seed, QUALITIES, models=models) for seed in SEEDS}
    reports = {}  # each seed's intervals, scored as `--check` scores them (any model will do)
    probe = _fit([samples[0]])
    for seed in SEEDS:
        reports[seed] = _reports(probe, samples[seed])
    print(f"image mode against itself ({people} people a sample, 48 rates):")
    for a, b in permutations(SEEDS, 2):
        kinds = [(q, p) for q in QUALITIES for p in (False, True)]
        flags = [r.inside(*_rates(samples[a], q, photo))
                 for r, (q, photo) in zip(reports[b], kinds, strict=True)]  # fmt: skip
        print(f"  seed {a}'s rates inside seed {b}'s intervals: {_count(flags)} of 48")
    print("the twin, fitted on some seeds, against the others:")
    for fitted in (*((s,) for s in SEEDS), (0, 1)):
        model = _fit([samples[s] for s in fitted])
        log_ratio, fnmr_gap = [], []
        for seed in SEEDS:
            if seed in fitted:
                continue
            rs = _reports(model, samples[seed])
            inside = _count([(r.fmr_inside_clustered, r.fnmr_inside_clustered) for r in rs])
            name = "+".join(map(str, fitted))
            print(f"  fitted on seed {name}: {inside} of 48 inside seed {seed}'s intervals")
            for r in rs:
                pairs = zip(r.twin_fmr[:2], r.image_fmr[:2], strict=True)
                log_ratio += [math.log(t.value / i.value) for t, i in pairs
                              if t.value > 0 and i.value > 0]  # fmt: skip
                fnmr_gap += [abs(t.value - i.value) for t, i in zip(r.twin_fnmr, r.image_fnmr)]
        bias = float(np.mean(log_ratio))
        print(
            f"    FMR at 50 and 60 %, twin / image: geometric mean {math.exp(bias):.2f} "
            f"(mean |log ratio| {np.mean(np.abs(log_ratio)):.2f}); "
            f"mean |FNMR gap| {np.mean(fnmr_gap):.4f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
