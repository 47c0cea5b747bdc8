"""Scores of the embedding twin carried onto another system's score scale, class by class.

A run under a system profile (``facelab run SCENARIO --system PROFILE``) searches the twin's
embeddings as every run does, then maps each candidate's cosine ``x`` onto the profile's scale
by quantile mapping within its class:

``y = μ_to + σ_to · (x − μ_from) / σ_from``

with the mated (genuine) or the non-mated (impostor) means and spreads of the twin
(``from``) and of the profile (``to``), per camera (each camera's capture condition). For
Gaussian classes, as both score models are (:mod:`facelab.profiles.model`), this linear map is
the quantile map ``F_to⁻¹(F_from(x))``: a twin impostor score with FMR 10⁻⁶ becomes the
profile's score with FMR 10⁻⁶, a genuine score at the twin's 10th percentile the profile's
10th percentile. What the twin adds is everything the score models do not hold: who passes
which camera and how often, the probe-to-probe correlation of its embeddings, its capture
quality, the top-k search and the archive.

The class of a candidate is the simulation's ground truth: the transfer emulates a system
whose genuine and impostor scores are distributed as published, and only a simulation knows
which is which. The run stores the mapped scores; alerts, sweep, report and console read them
as they read cosines, with the profile's percent mapping. :class:`ScoreTransfer` is plain data
(built by :mod:`facelab.profiles.emulate`), so that the run layer applies it without knowing
profiles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ScoreTransfer:
    """Per-camera class-wise linear maps from twin cosines to a system's scores.

    Attributes
    ----------
    system : dict
        What ``run.json`` records of the system (``name``, ``version``, ``title``, ``scale``,
        ``unit``, ``percent``, ``description``).
    impostor_from, impostor_to, genuine_from, genuine_to : numpy.ndarray, shape (cameras, 2)
        ``(mean, standard deviation)`` of each class, per camera index, on the twin's scale
        (``from``) and the system's (``to``).
    """

    system: dict
    impostor_from: np.ndarray = field(repr=False)
    impostor_to: np.ndarray = field(repr=False)
    genuine_from: np.ndarray = field(repr=False)
    genuine_to: np.ndarray = field(repr=False)

    def apply(self, scores: np.ndarray, mated: np.ndarray, camera: np.ndarray) -> np.ndarray:
        """Map cosines to the system's scale.

        Parameters
        ----------
        scores : float array, any shape
            Twin cosines; ``-inf`` (empty candidate slots) stays ``-inf``.
        mated : bool array, broadcastable to ``scores``
            Whether each comparison is of the same person.
        camera : int array, broadcastable to ``scores``
            Camera index of each comparison's sighting.

        Returns
        -------
        numpy.ndarray of float32, the shape of ``scores``
        """
        x = np.asarray(scores, np.float64)
        cam = np.broadcast_to(np.asarray(camera, np.int64), x.shape)
        mated = np.broadcast_to(np.asarray(mated, bool), x.shape)
        src = np.where(mated[..., None], self.genuine_from[cam], self.impostor_from[cam])
        dst = np.where(mated[..., None], self.genuine_to[cam], self.impostor_to[cam])
        with np.errstate(invalid="ignore"):
            y = dst[..., 0] + dst[..., 1] * (x - src[..., 0]) / src[..., 1]
        y = np.where(np.isneginf(x), -np.inf, y)
        return y.astype(np.float32)

    def rerank(self, ids: np.ndarray, scores: np.ndarray, mated: np.ndarray, camera: np.ndarray):
        """Map a top-k result's scores and re-sort each row, best first.

        ``ids`` (int64, ``-1`` for empty slots) and ``scores`` are ``(m, k)``; ``mated`` is
        ``(m, k)`` bool and ``camera`` ``(m,)`` or ``(m, 1)``. Returns ``(ids, scores)``.
        """
        y = self.apply(scores, mated, np.asarray(camera).reshape(-1, 1))
        y = np.where(ids >= 0, y, np.float32(-np.inf))
        order = np.argsort(-y, axis=1, kind="stable")
        return np.take_along_axis(ids, order, 1), np.take_along_axis(y, order, 1)
