"""Passes at face-recognition cameras, for transaction-level rates.

A *pass* is one person walking past one face-recognition camera (``pass_truth`` in
``truth.sqlite``). The detector may make several searches of it, one or none (a failure to
acquire). Search-level FPIR/FNIR count searches; the transaction-level rates of
:func:`facelab.lab.metrics.pass_fpir` and :func:`facelab.lab.metrics.pass_fnir` count passes,
so that a wanted person who was never detected is a miss. :func:`load_passes` gives them their
inputs, aligned with :class:`facelab.lab.scores.RunScores`.

Only passes of days whose searches are still held count: after a purge, the passes of purged
days are in neither denominator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facelab.lab.scores import RunScores
from facelab.lab.watchlists import load_basis
from facelab.run import schema
from facelab.run.store import RunStore
from facelab.truth import TruthStore

#: One-line definitions shown beside the figures (sweep JSON, text table, report).
SEARCH_LEVEL = (
    "search-level: per search (one detected face); FPIR over searches of people not on the "
    "watchlist, FNIR over searches of watchlisted people"
)
PASS_LEVEL = (
    "pass-level: per pass of a person at a face-recognition camera; a pass never detected "
    "counts as a non-alert (FPIR) or a miss (FNIR), as ISO/IEC 19795-1 counts a failure to "
    "acquire"
)


@dataclass(frozen=True)
class PassTruth:
    """The passes behind a run's searches.

    Attributes
    ----------
    search_pass : int64 (n,), the pass of each search, in :class:`RunScores` row order (-1: a
        detection of no one).
    wanted : int64 (w,), ids of the passes of watchlisted people.
    innocent : int64 (i,), ids of the passes of everyone else.
    wanted_kind, innocent_kind : object (w,) / (i,), camera kind of each pass.
    undetected_wanted : int, wanted passes with no search.
    """

    search_pass: np.ndarray
    wanted: np.ndarray
    innocent: np.ndarray
    wanted_kind: np.ndarray
    innocent_kind: np.ndarray
    undetected_wanted: int

    def of_kind(self, kind: str, search_kind: np.ndarray) -> PassTruth:
        """The passes and searches at cameras of one kind.

        ``search_kind`` is the ``(n,)`` camera kind of each search (``RunScores.camera_kind``).
        """
        w, i = self.wanted_kind == kind, self.innocent_kind == kind
        return PassTruth(
            search_pass=self.search_pass[np.asarray(search_kind == kind, bool)],
            wanted=self.wanted[w],
            innocent=self.innocent[i],
            wanted_kind=self.wanted_kind[w],
            innocent_kind=self.innocent_kind[i],
            undetected_wanted=int((~np.isin(self.wanted[w], self.search_pass)).sum()),
        )


def load_passes(store: RunStore, scores: RunScores) -> PassTruth:
    """Read the passes of a run's held days and tie each search of ``scores`` to its pass.

    A search belongs to a pass when its sighting overlaps that pass's face and shows the same
    person. A pass is wanted when its person is on the watchlist its day is scored against
    (``scores.basis``, as in :func:`facelab.lab.scores.load_scores`).
    """
    db = store.db
    with TruthStore(store.path, readonly=True) as truth:
        sp, passes, wt = truth.sighting_passes(), truth.passes(), truth.watch_identities()
    basis = scores.basis if scores.basis is not None else load_basis(db)
    # sightings -> (pid, person), in scores row order
    order = np.argsort(sp[:, 0], kind="stable")
    sp = sp[order]
    pos = np.minimum(np.searchsorted(sp[:, 0], scores.sighting), max(len(sp) - 1, 0))
    found = (sp[pos, 0] == scores.sighting) if len(sp) else np.zeros(len(scores.sighting), bool)
    search_pass = np.where(found, sp[pos, 1] if len(sp) else -1, -1).astype(np.int64)
    held_days = np.unique(scores.day)
    passes = passes[np.isin(passes[:, 1], held_days)]
    kind_of = {c.idx: c.kind for c in schema.cameras(db)}
    kind = np.array([kind_of.get(c, "") for c in passes[:, 2].tolist()], dtype=object)
    wanted = basis.wanted(passes[:, 1], passes[:, 3], wt)
    seen = np.isin(passes[:, 0], search_pass)
    return PassTruth(
        search_pass=search_pass,
        wanted=passes[wanted, 0].copy(),
        innocent=passes[~wanted, 0].copy(),
        wanted_kind=kind[wanted],
        innocent_kind=kind[~wanted],
        undetected_wanted=int((wanted & ~seen).sum()),
    )
