"""A run's stored scores joined with its ground truth, as arrays for :mod:`facelab.lab.metrics`.

This is the one place where the search side (``facelab.sqlite``) meets the truth
(``truth.sqlite``); it is read by the sweep and the report, never by search or alerting.

Each sighting is one 1:N search against the watchlist; the pipeline kept its top
:data:`~facelab.run.schema.TOP_K` candidates whatever their score, so any threshold can be applied afterwards without
re-embedding. A search is *mated* when the person really in the sighting is on the watchlist it
is scored against (by default the version its search ran against, so that later enrolments and
removals change nothing: :mod:`facelab.lab.watchlists`); a candidate is a *mate* when it is that
person's entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facelab.errors import RunError
from facelab.lab.metrics import SearchScores
from facelab.lab.purged import held_days
from facelab.lab.watchlists import AS_SEARCHED, CURRENT, Basis, check_covered, load_basis
from facelab.run import schema
from facelab.run.store import RunStore
from facelab.truth import TruthStore


@dataclass(frozen=True)
class RunScores:
    """Scores of one run, with truth.

    Attributes
    ----------
    searches : SearchScores, one row per sighting (scores (n, K) descending, -inf padded).
    sighting : int64 (n,), sighting ids (row order of ``searches``).
    person : int64 (n,), true person of each sighting (-1: a detection of no one).
    camera_kind : str (n,), kind of the sighting's camera.
    day : int64 (n,)
    cand_score : float64 (m,), every stored candidate's score (one row per candidate).
    cand_mate : bool (m,), whether that candidate is the sighting's true identity.
    genuine : float64, scores of (sighting, own watchlist entry) pairs among the candidates.
    impostor : float64, scores of (sighting, other entry) pairs among the candidates.
    complete : bool, whether every watchlist entry was a candidate of every search
        (K ≥ watchlist size), so that ``impostor`` holds all 1:1 impostor comparisons.
    watchlist_size : int
        Entries of the (largest) watchlist the searches are scored against.
    camera_days : int, FR cameras × days whose searches are still held
        (:func:`facelab.lab.purged.held_days`).
    best_true_score : float64 (t,), for each watchlisted person seen by an FR camera (a
        *target*), the best score any of their sightings gave their own entry (-inf: none).
    basis : Basis or None
        Which watchlist each search (and pass) is scored against.
    cand_row, cand_watch : int64 (m,) or None
        Each stored candidate's search (row of ``sighting``) and watchlist entry, aligned with
        ``cand_score``: the candidates that survive ``basis``, for group and reviewer figures
        (:mod:`facelab.lab.groups`, :mod:`facelab.lab.reviewer`).
    """

    searches: SearchScores
    sighting: np.ndarray
    person: np.ndarray
    camera_kind: np.ndarray
    day: np.ndarray
    cand_score: np.ndarray
    cand_mate: np.ndarray
    genuine: np.ndarray
    impostor: np.ndarray
    complete: bool
    watchlist_size: int
    camera_days: int
    best_true_score: np.ndarray
    basis: Basis | None = None
    cand_row: np.ndarray | None = None
    cand_watch: np.ndarray | None = None


def _lookup(src: np.ndarray, dst: np.ndarray, keys: np.ndarray, missing: int) -> np.ndarray:
    """Map int64 ``keys`` through ``src[i] -> dst[i]``, ``missing`` where absent (vectorised)."""
    table = np.column_stack([src, dst]).astype(np.int64).reshape(-1, 2)
    table = table[np.argsort(table[:, 0])]
    pos = np.searchsorted(table[:, 0], keys)
    pos = np.minimum(pos, max(len(table) - 1, 0))
    hit = (table[pos, 0] == keys) if len(table) else np.zeros(len(keys), bool)
    return np.where(hit, table[pos, 1] if len(table) else missing, missing).astype(np.int64)


def load_scores(store: RunStore, watchlist: str = AS_SEARCHED) -> RunScores:
    """Read a run's candidates and truth (:class:`facelab.truth.TruthStore`) into arrays.

    ``watchlist`` (:data:`facelab.lab.watchlists.CHOICES`): score each search against the
    watchlist version it ran against (the default), or re-score against today's.

    Raises
    ------
    RunError
        When the run has no completed day yet, or no ``truth.sqlite``; with ``current``, when
        some search's stored top-k does not cover today's watchlist.
    """
    db = store.db
    days = store.days_done()
    if not days:
        raise RunError(f"{store.path}: no simulated day is complete yet; run `facelab run` first")
    with TruthStore(store.path, readonly=True) as truth:
        truth_person, wt = truth.sighting_persons(), truth.watch_identities()
    cameras = schema.cameras(db)
    kind_of = {c.idx: c.kind for c in cameras}
    keys = schema.sighting_keys(db)
    keys = keys[np.isin(keys["camera"], list(kind_of))]
    n = len(keys)
    sighting = keys["id"].copy()
    day = keys["day"].copy()
    kind = np.array([kind_of[c] for c in keys["camera"].tolist()], dtype=object)
    person = _lookup(truth_person["sighting"], truth_person["person"], sighting, -1)
    basis = load_basis(db, watchlist)
    cand = schema.candidate_scores(db)
    row = np.searchsorted(sighting, cand["sighting"])
    known = (
        (row < n) & (sighting[np.minimum(row, max(n - 1, 0))] == cand["sighting"]) if n else row < 0
    )
    cand, row = cand[known], row[known]
    if watchlist == CURRENT:
        searched = load_basis(db, AS_SEARCHED)
        today = basis.members[basis.current_version]
        check_covered(store.path, searched, today, day, row, cand["watch"])
    keep = basis.entry_mask(day[row], cand["watch"])
    cand, row = cand[keep], row[keep]
    cand_identity = _lookup(wt["watch"], wt["identity"], cand["watch"], -2)
    cand_mate = cand_identity == person[row]
    cand_score = cand["score"].copy()
    # slot of each candidate within its search: rank among that search's surviving candidates
    start = np.searchsorted(row, np.arange(n))
    slot = np.arange(len(row)) - start[row]
    k = max(1, int(slot.max()) + 1) if len(slot) else 1
    scores = np.full((n, k), -np.inf)
    is_mate = np.zeros((n, k), bool)
    scores[row, slot] = cand_score
    is_mate[row, slot] = cand_mate
    mated = basis.wanted(day, person, wt)
    n_watch = basis.size(day)
    fr = sum(c.fr for c in cameras)
    # best true score per target (watchlisted person seen at an FR camera), -inf if never a candidate
    targets, target_of = np.unique(person[mated], return_inverse=True)
    best = np.full(len(targets), -np.inf)
    np.maximum.at(
        best,
        target_of,
        np.where(is_mate[mated], scores[mated], -np.inf).max(axis=1, initial=-np.inf),
    )
    return RunScores(
        searches=SearchScores(scores=scores, is_mate=is_mate, mated=mated, camera=kind),
        sighting=sighting,
        person=person,
        camera_kind=kind,
        day=day,
        cand_score=cand_score,
        cand_mate=cand_mate,
        genuine=cand_score[cand_mate],
        impostor=cand_score[~cand_mate],
        complete=k >= n_watch,
        watchlist_size=n_watch,
        camera_days=int(fr) * len(held_days(store, day)),
        best_true_score=best,
        basis=basis,
        cand_row=row,
        cand_watch=cand["watch"].copy(),
    )
