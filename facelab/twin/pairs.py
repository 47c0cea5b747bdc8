"""Genuine and impostor pairs of labelled embeddings, and the score statistics of a sample.

A *genuine* pair is two faces of one person, an *impostor* pair two faces of different people.
:func:`pair_stats` gives the statistics the twin is fitted to (:class:`facelab.twin.model.Stat`)
for one image sample, or for two samples of the same people.
"""

from __future__ import annotations

import math

import numpy as np

from facelab.twin.model import N_STATS, Stat

#: Impostor pairs scored per sample (a seeded uniform subsample beyond).
MAX_IMPOSTOR = 200_000
#: People with enough faces (4 of one kind, or 2 + 2 of two kinds) for a goat estimate.
MIN_GOAT_PEOPLE = 20


def within_pairs(labels: np.ndarray, max_impostor: int, seed: int):
    """Genuine pairs (all) and impostor pairs (all, or a seeded uniform subsample) of one set.

    Returns
    -------
    (gi, gj, ii, ij) : int64 index arrays of genuine and impostor pairs.
    """
    labels = np.asarray(labels)
    n = len(labels)
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    ends = np.r_[starts[1:], n]
    gi, gj = [], []
    for a, b in zip(starts, ends, strict=True):
        if b - a > 1:
            x, y = np.triu_indices(b - a, 1)
            gi.append(order[a + x])
            gj.append(order[a + y])
    gi = np.concatenate(gi) if gi else np.zeros(0, np.int64)
    gj = np.concatenate(gj) if gj else np.zeros(0, np.int64)
    total = n * (n - 1) // 2 - len(gi)
    if total <= max_impostor:
        x, y = np.triu_indices(n, 1)
        diff = labels[x] != labels[y]
        return gi, gj, x[diff], y[diff]
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 405]))
    x = rng.integers(0, n, size=int(max_impostor * 1.3) + 16)
    y = rng.integers(0, n, size=x.size)
    ok = labels[x] != labels[y]
    return gi, gj, x[ok][:max_impostor], y[ok][:max_impostor]


def cross_pairs(la: np.ndarray, lb: np.ndarray, max_impostor: int, seed: int):
    """Genuine (same label) and impostor pairs between two sets (rows of a × rows of b).

    Returns
    -------
    (gi, gj, ii, ij) : int64 index arrays (``gi``, ``ii`` into a; ``gj``, ``ij`` into b).
    """
    la, lb = np.asarray(la), np.asarray(lb)
    same = la[:, None] == lb[None, :]
    gi, gj = np.nonzero(same)
    total = same.size - len(gi)
    if total <= max_impostor:
        ii, ij = np.nonzero(~same)
        return gi, gj, ii, ij
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 406]))
    x = rng.integers(0, len(la), size=int(max_impostor * 1.3) + 16)
    y = rng.integers(0, len(lb), size=x.size)
    ok = la[x] != lb[y]
    return gi, gj, x[ok][:max_impostor], y[ok][:max_impostor]


def dots(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Scores ``a[i] · b[j]`` row by row (float32 (len(i),))."""
    return np.einsum("ij,ij->i", a[i], b[j]) if len(i) else np.zeros(0, np.float32)


def moments(x: np.ndarray) -> tuple[float, float]:
    """(mean, sd) of ``x``; NaN for an empty array."""
    return (float(x.mean()), float(x.std())) if len(x) else (math.nan, math.nan)


def skewness(x: np.ndarray) -> float:
    """Sample skewness ``E[d³] / sd³`` (NaN with fewer than 3 values or no spread)."""
    if len(x) < 3:
        return math.nan
    x = np.asarray(x, np.float64)
    d = x - x.mean()
    sd = math.sqrt(float(d @ d) / len(d))
    return float((d**3).mean() / sd**3) if sd > 0 else math.nan


def class_means(emb: np.ndarray, labels: np.ndarray):
    """Per-person means of ``emb``.

    Returns
    -------
    (ids, inverse, counts, means) : the people, each row's person index, faces per person,
        float64 (people, d) mean embeddings.
    """
    ids, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    means = np.zeros((len(ids), emb.shape[1]), np.float64)
    np.add.at(means, inv, emb.astype(np.float64))
    means /= counts[:, None]
    return ids, inv, counts, means


def disjoint_products(c: np.ndarray, within: bool) -> tuple[float, int]:
    """Sum and count of ``c[i, p] · c[j, q]`` over ordered pairs of genuine pairs that share
    no face: ``i ≠ j, p ≠ q`` between two kinds; all four faces distinct within one kind
    (``c`` symmetric, pairs ``i < p``)."""
    if not within:
        na, nb = c.shape
        total = c.sum() ** 2 - (c.sum(1) ** 2).sum() - (c.sum(0) ** 2).sum() + (c * c).sum()
        return float(total), na * (na - 1) * nb * (nb - 1)
    n = len(c)
    iu = np.triu_indices(n, 1)
    v = c[iu]
    share = (iu[0][:, None] == iu[0][None, :]) | (iu[0][:, None] == iu[1][None, :]) | (
        iu[1][:, None] == iu[0][None, :]) | (iu[1][:, None] == iu[1][None, :])  # fmt: skip
    return float(v @ (~share).astype(np.float64) @ v), int((~share).sum())


def goat_sd(emb, labels, emb_b=None, labels_b=None) -> float:
    """sd over people of their expected genuine score ("goats" score low, "sheep" high):
    ``√(E_p[E(s₁ s₂ | p)] − E_p[E(s | p)]²)`` from products of two genuine scores of the same
    person that share no face (independent given the person, so the within-person noise
    cancels). Within one kind (``emb_b`` None) people need ≥ 4 faces; between two kinds ≥ 2
    of each. NaN with fewer than :data:`MIN_GOAT_PEOPLE` such people."""
    emb = np.asarray(emb, np.float64)
    within = emb_b is None
    emb_b = emb if within else np.asarray(emb_b, np.float64)
    labels_b = labels if within else labels_b
    need = 4 if within else 2
    ids_a, ca = np.unique(labels, return_counts=True)
    ids_b, cb = np.unique(labels_b, return_counts=True)
    ok = np.intersect1d(ids_a[ca >= need], ids_b[cb >= need])
    if len(ok) < MIN_GOAT_PEOPLE:
        return math.nan
    prods, means = [], []
    for p in ok:
        c = emb[labels == p] @ emb_b[labels_b == p].T
        total, count = disjoint_products(c, within)
        prods.append(total / count)
        means.append(c[np.triu_indices(len(c), 1)].mean() if within else c.mean())
    var = float(np.mean(prods)) - float(np.mean(means)) ** 2
    return math.sqrt(max(var, 0.0))


def zoo_sd(emb: np.ndarray, labels: np.ndarray) -> float:
    """sd over people of their mean impostor score (all faces of a person against all faces
    of everyone else): how much more some people resemble everyone ("Doddington's zoo")."""
    _, _, counts, means = class_means(emb, labels)
    total = means.T @ counts.astype(np.float64)
    per = np.einsum("ij,ij->i", means, total[None, :] - counts[:, None] * means)
    per /= len(labels) - counts
    return float(per.std())


def pair_stats(emb, labels, seed: int, emb_b=None, labels_b=None) -> np.ndarray:
    """Statistics of the scores of one sample (``emb_b`` None: pairs within it) or of one
    sample against another of the same people.

    Parameters
    ----------
    emb, labels : float32 (n, 128) L2-normalised and int64 (n,).
    seed : seed of the impostor subsample (beyond :data:`MAX_IMPOSTOR` pairs).
    emb_b, labels_b : the other sample, or None.

    Returns
    -------
    float64 (N_STATS,), indexed by :class:`~facelab.twin.model.Stat`; the zoo sd is NaN
    between two samples.
    """
    within = emb_b is None
    if within:
        gi, gj, ii, ij = within_pairs(labels, MAX_IMPOSTOR, seed)
        emb_b = emb
    else:
        gi, gj, ii, ij = cross_pairs(labels, labels_b, MAX_IMPOSTOR, seed)
    out = np.full(N_STATS, math.nan)
    imp = dots(emb, emb_b, ii, ij)
    out[[Stat.GENUINE_MEAN, Stat.GENUINE_SD]] = moments(dots(emb, emb_b, gi, gj))
    out[[Stat.IMPOSTOR_MEAN, Stat.IMPOSTOR_SD]] = moments(imp)
    if within:
        out[Stat.ZOO_SD] = zoo_sd(emb, labels)
    out[Stat.IMPOSTOR_SKEWNESS] = skewness(imp)
    out[Stat.GOAT_SD] = goat_sd(emb, labels) if within else goat_sd(emb, labels, emb_b, labels_b)
    return out
