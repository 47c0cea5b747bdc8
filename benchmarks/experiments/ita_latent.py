"""Where does the generator's latent control the ITA of its faces? (diagnostic, not a test)

Run: ``.venv/bin/python benchmarks/experiments/ita_latent.py [N] [SEED]`` (N = 2000 faces, seed
7 by default; a few minutes on two busy cores).

Renders the undisturbed faces of identities ``0..N-1`` (:func:`facelab.world.synth.identity_latents`),
measures their ITA (:func:`facelab.world.groups.ita`) and fits ITA by least squares on the
latent ``z`` (100 dimensions) on the first 75 % of the faces. Prints, on the other 25 %: the R²
of the fit on all dimensions and on the k largest-weight dimensions, the correlation of ITA with
the projection of ``z`` on the fitted direction, and the mean projection per group.
"""

from __future__ import annotations

import sys

import numpy as np

from facelab.config.limits import ITA_GROUPS
from facelab.world import groups, synth


def r2(y: np.ndarray, p: np.ndarray) -> float:
    return float(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def main(n: int = 2000, seed: int = 7) -> None:
    ids = np.arange(n)
    z = synth.identity_latents(seed, ids).astype(np.float64)
    ita = groups.ita(synth.FaceGenerator().render(z.astype(np.float32)))
    cut = int(0.75 * n)
    X = np.c_[z, np.ones(n)]
    w, *_ = np.linalg.lstsq(X[:cut], ita[:cut], rcond=None)
    print(f"{n} faces, seed {seed}; fit on {cut}, scored on {n - cut}")
    print(f"R2 (all 100 dimensions): {r2(ita[cut:], X[cut:] @ w):.3f}")
    order = np.argsort(-np.abs(w[:-1]))
    for k in (1, 5, 10, 20):
        Xk = np.c_[z[:, order[:k]], np.ones(n)]
        wk, *_ = np.linalg.lstsq(Xk[:cut], ita[:cut], rcond=None)
        print(f"R2 ({k} largest-weight dimensions): {r2(ita[cut:], Xk[cut:] @ wk):.3f}")
    d = w[:-1] / np.linalg.norm(w[:-1])
    proj = z @ d
    print(f"correlation of ITA with z · direction: {np.corrcoef(proj[cut:], ita[cut:])[0, 1]:.3f}")
    g = groups.group_index(ita)
    means = {name: round(float(proj[g == i].mean()), 2) for i, name in enumerate(ITA_GROUPS)
             if (g == i).any()}  # fmt: skip
    print(f"mean z · direction per group: {means}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
