"""Where the run layer writes ground truth: a sink it is given, never a store it could read.

The pipeline knows who each simulated sighting really is, and enrolment knows the identity in
a synthetic photo's provenance. They hand that to a :class:`TruthSink` their caller injects
(:class:`facelab.truth.TruthStore`, from :mod:`facelab.api` and the tests); nothing in the run
layer imports :mod:`facelab.truth` or can read the truth back.

Rows cross the sink as structured numpy arrays of the dtypes below (one element per row).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

SIGHTING_TRUTH = np.dtype(
    [("sighting", np.int64), ("day", np.int64), ("pid", np.int64), ("person", np.int64),
     ("iou", np.float64)]
)  # fmt: skip
"""Who a sighting really is: the pass (``pid``) and ``person`` of the face the detection overlaps
(both -1 for a detection of no one) and that overlap (``iou``; 1.0 for twin sightings)."""

PASS_TRUTH = np.dtype(
    [("pid", np.int64), ("day", np.int64), ("camera", np.int64), ("t", np.int64),
     ("person", np.int64), ("detected", np.bool_)]
)  # fmt: skip
"""A face passing a face-recognition camera (pass ``pid`` of ``person`` at ``camera``, second
``t``) and whether a sighting was matched to it (``detected``)."""


class TruthSink(Protocol):
    """Write-only ground truth of one run (``INSERT OR REPLACE``: a redone day or enrolment
    writes the same rows again)."""

    def open(self) -> object:
        """Open the sink, creating its storage in the run directory when missing (the runner
        calls this as soon as the run directory exists)."""

    def add_day(self, sightings: np.ndarray, passes: np.ndarray) -> None:
        """Store one day's rows durably, in one transaction.

        Parameters
        ----------
        sightings : structured ndarray of :data:`SIGHTING_TRUTH`, shape (n,)
        passes : structured ndarray of :data:`PASS_TRUTH`, shape (m,)
        """

    def set_watch_identities(self, watch: np.ndarray, identity: np.ndarray) -> None:
        """Record the person really in each watchlist entry's photo.

        Parameters
        ----------
        watch, identity : int64 ndarray, shape (n,)
            Watchlist ids and the identities of their photos.
        """

    def set_identity_groups(
        self, identity: np.ndarray, group: list[str], ita: np.ndarray, attempt: np.ndarray
    ) -> None:
        """Record each identity's measured group (:mod:`facelab.world.groups`); called only
        for scenarios with ``[population] groups``.

        Parameters
        ----------
        identity : int64 ndarray, shape (n,)
        group : list of n group names (:data:`facelab.config.limits.ITA_GROUPS`)
        ita : float64 ndarray, shape (n,), the measured ITA in degrees
        attempt : int ndarray, shape (n,), the latent candidate whose face was measured
            (:func:`facelab.world.synth.identity_latents`)
        """

    def clear_watch(self) -> None:
        """Forget every watchlist identity (an interrupted enrolment is redone from scratch)."""
