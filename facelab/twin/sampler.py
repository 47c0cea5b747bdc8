"""Deterministic, vectorised draws from a fitted twin: templates, sightings, photos.

Every random vector comes from the counter-based generator of :mod:`facelab.twin.rng`, keyed
by (seed, stream, person[, pass id]). A row therefore depends only on its own (seed, person,
pass id): a person's template is the same alone or in a batch, and a pass gives the same vector
whatever else is drawn with it, in any order or batch size — up to float32 rounding in the
matrix products (≤ 1e-6; the same call is bit-identical, whatever the number of workers).

Arrays: embeddings are float32 ``(n, 128)``, L2-normalised; person and pass ids int64 ``(n,)``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from facelab.errors import ConfigError, DataError
from facelab.twin.components import normalize_rows, retention, skewed, skewed_noise, strength
from facelab.twin.model import DIM, PHOTO, TwinModel
from facelab.twin.rng import normals, row_keys

#: Hash streams of the sampler (never reorder: they fix every draw).
_H_IDENTITY = 1
_H_SPECIFIC = 2  # + 16 · kind index
_H_SIGHTING = 3
_H_PHOTO = 4
_H_TYPICAL = 5


def _threadpoolctl() -> bool:
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:  # pragma: no cover - optional
        return False
    return True


class TwinSampler:
    """Deterministic, vectorised draws from a :class:`~facelab.twin.model.TwinModel`.

    Every row is a function of (seed, identity[, pass or photo id]) only — not of the batch it
    is drawn in — so results agree however the ids are split, ordered or repeated (to float32
    rounding in BLAS products, ≤ 1e-6; the same call gives the same bytes).

    Parameters
    ----------
    model : the fitted twin.
    seed : seed of every draw (a scenario's seed).
    block : rows generated per vectorised block (memory: about 2 KB per row and worker).
    workers : threads drawing blocks in parallel (numpy releases the GIL in its loops); default
        ``min(2, os.cpu_count())``. With more than one, BLAS is held to one thread per call
        (needs ``threadpoolctl``; without it the sampler uses one worker).
    """

    def __init__(self, model: TwinModel, seed: int, block: int = 16384, workers: int | None = None):
        self.model = model
        self.seed = int(seed)
        self.block = int(block)
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        self.workers = max(1, int(workers)) if _threadpoolctl() else 1
        m = model
        self._a = np.asarray(m.identity_basis, np.float32).T.copy()  # g @ A.T
        self._b = np.ascontiguousarray(np.transpose(m.noise_basis, (0, 2, 1)), np.float32)

    # ---------------------------------------------------------------- components

    def _factor(self, j: int, ids: np.ndarray) -> np.ndarray:
        """float32 (n, 128) unit-variance variables ``h_j`` of identity factor ``j``: skewed
        standard normals (:func:`~facelab.twin.components.skewed`, skew ``β_j``)."""
        stream = _H_IDENTITY if j == 0 else _H_SPECIFIC + 16 * j
        return skewed(normals(row_keys(self.seed, stream, ids)), self.model.identity_skew[j])

    def _person(self, uniq: np.ndarray) -> np.ndarray:
        """float32 (n, 2): per-person normals (ζ_i, ξ_i): typicality and identity strength."""
        return normals(row_keys(self.seed, _H_TYPICAL, uniq), 2)

    def _draw(self, k: int, ids: np.ndarray, keys: np.ndarray, sigma_scale=1.0) -> np.ndarray:
        """Rows of kind ``k`` for identities ``ids`` with per-row noise keys (one block)."""
        m = self.model
        uniq, inv = np.unique(ids, return_inverse=True)
        person = self._person(uniq)
        person_strength = strength(person[:, 1], m.identity_spread[k])[:, None]
        z = normals(keys, DIM + 2)
        y = np.zeros((len(ids), DIM), np.float32)
        shared = None  # the links to the factors of kinds before k (the hub's) ...
        for j in range(k):
            w = np.float32(m.identity_mix[k, j])
            if w != 0:
                term = self._factor(j, uniq) * w
                shared = term if shared is None else shared + term
        if shared is not None:
            shared = (shared @ self._a) * person_strength
            y += shared[inv] * retention(z[:, DIM + 1], m.link_retention[k])[:, None]
        own = np.float32(m.identity_mix[k, k])  # ... plus the kind's own identity factor
        if own != 0:
            y += (((self._factor(k, uniq) * own) @ self._a) * person_strength)[inv]
        if m.retention[k] > 0:
            y *= retention(z[:, DIM], m.retention[k])[:, None]
        scale = np.float32(m.noise_scale[k]) * np.asarray(sigma_scale, np.float32)
        y += skewed_noise(z[:, :DIM], self._b[k], m.noise_skew[k]) * scale  # ... plus the noise
        y *= (np.float32(m.deviation_norm[k]) / np.sqrt(np.einsum("ij,ij->i", y, y)))[:, None]
        y += self._mean_part(k, person[:, 0])[inv]
        return normalize_rows(y)

    def _mean_part(self, k: int, zeta: np.ndarray) -> np.ndarray:
        """float32 (n, 128): each person's mean component ``m_k (1 + σ_k ζ_i)``."""
        sigma = np.float32(self.model.typicality[k])
        return (np.float32(1.0) + sigma * zeta)[:, None] * self.model.means[k][None, :]

    def _blocks(self, n: int):
        for s in range(0, n, self.block):
            yield slice(s, min(s + self.block, n))

    # ---------------------------------------------------------------- public

    def templates(self, identity_ids) -> np.ndarray:
        """Each person's noise-free embedding of the hub kind (the template).

        Parameters
        ----------
        identity_ids : int64 (n,)

        Returns
        -------
        float32 (n, 128), L2-normalised: the person's face of the reference (hub) kind without
        noise, ``normalize(m_0 (1 + σ_0 ζ_i) + L[0, 0] A h_0)`` (the hub is ``photo`` when the
        twin was calibrated with photos); row ``i`` depends only on (seed, identity_ids[i]).
        """
        ids = np.atleast_1d(np.asarray(identity_ids, np.int64))
        out = np.empty((len(ids), DIM), np.float32)
        for sl in self._blocks(len(ids)):
            person = self._person(ids[sl])
            y = (self._factor(0, ids[sl]) * np.float32(self.model.identity_mix[0, 0])) @ self._a
            y *= strength(person[:, 1], self.model.identity_spread[0])[:, None]
            y += self._mean_part(0, person[:, 0])
            out[sl] = normalize_rows(y)
        return out

    def sightings(self, identity_ids, pass_ids, quality) -> np.ndarray:
        """Embeddings of camera sightings.

        Parameters
        ----------
        identity_ids : int64 (n,) who passes.
        pass_ids : int64 (n,) the pass (unique per sighting); noise is keyed by
            (seed, identity, pass), so a pass gives the same vector in any batch.
        quality : a calibrated quality name for every row, or an array (n,) of names.

        Returns
        -------
        float32 (n, 128), L2-normalised.
        """
        ids = np.atleast_1d(np.asarray(identity_ids, np.int64))
        pids = np.atleast_1d(np.asarray(pass_ids, np.int64))
        if ids.shape != pids.shape or ids.ndim != 1:
            raise DataError(f"sightings: identity_ids {ids.shape} and pass_ids {pids.shape} differ")
        out = np.empty((len(ids), DIM), np.float32)
        if isinstance(quality, str):
            groups = [(self.model.index(quality), None)]
        else:
            q = np.asarray(quality)
            if q.shape != ids.shape:
                raise DataError(f"sightings: quality has shape {q.shape}, expected {ids.shape}")
            names = np.unique(q)
            groups = [(self.model.index(str(name)), np.flatnonzero(q == name)) for name in names]
        for k, rows in groups:
            if self.model.kinds[k] == PHOTO:
                raise ConfigError("sightings: 'photo' is not a camera quality; use photos()")
            if rows is None:
                rows = np.arange(len(ids))
            self._fill(out, k, _H_SIGHTING, ids, pids, rows)
        return out

    def _fill(self, out, k: int, stream: int, ids, keys2, rows, sigma_scale=1.0) -> None:
        """Draw ``out[rows]`` block by block, rows sorted by identity so that each block
        computes few identity factors (rows do not depend on their block)."""
        rows = rows[np.argsort(ids[rows], kind="stable")]

        def one(sl: slice) -> None:
            r = rows[sl]
            keys = row_keys(self.seed, stream, ids[r], keys2[r])
            out[r] = self._draw(k, ids[r], keys, sigma_scale)

        blocks = list(self._blocks(len(rows)))
        if self.workers == 1 or len(blocks) == 1:
            for sl in blocks:
                one(sl)
            return
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(self.workers) as ex:
            for _ in ex.map(one, blocks):
                pass

    def photos(self, identity_ids, photo_ids, sigma_scale: float = 1.0) -> np.ndarray:
        """Embeddings of enrolment photos (the watchlist's pre-loaded frames).

        Parameters
        ----------
        identity_ids : int64 (n,)
        photo_ids : int64 (n,) which photo of the person (noise keyed by seed, identity, id).
        sigma_scale : multiplies the photo noise scale; 1 = as calibrated (a portrait at the
            model's ``latent_sigma`` for ``photo``, 0.15). Noise only: the identity signal is
            kept as calibrated, so values far from 1 are an extrapolation.

        Returns
        -------
        float32 (n, 128), L2-normalised.
        """
        ids = np.atleast_1d(np.asarray(identity_ids, np.int64))
        pids = np.atleast_1d(np.asarray(photo_ids, np.int64))
        if ids.shape != pids.shape or ids.ndim != 1:
            raise DataError(f"photos: identity_ids {ids.shape} and photo_ids {pids.shape} differ")
        if not (math.isfinite(sigma_scale) and sigma_scale >= 0):
            raise ConfigError(f"photos: sigma_scale must be finite and >= 0, got {sigma_scale}")
        k = self.model.index(PHOTO)
        out = np.empty((len(ids), DIM), np.float32)
        self._fill(out, k, _H_PHOTO, ids, pids, np.arange(len(ids)), sigma_scale)
        return out
