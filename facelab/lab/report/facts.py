"""The facts about a run that a reader needs before its error rates.

:func:`run_facts` gathers them from an open run and its loaded scores, for the header of
``facelab sweep`` and ``facelab demo`` and the first section of the HTML report.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from facelab.lab.purged import PurgeSummary, purge_summary
from facelab.lab.scores import RunScores
from facelab.lab.system import describe as describe_system
from facelab.lab.watchlists import AS_SEARCHED
from facelab.run import schema
from facelab.run.store import RunStore
from facelab.vision.backend import describe as describe_inference


@dataclass(frozen=True)
class RunFacts:
    """What a reader needs to know about a run before reading its error rates.

    Attributes
    ----------
    path : Path
        The run directory.
    scenario, mode : str
        Scenario name and ``"image"`` or ``"embedding"``.
    start : datetime.date or None
        Simulated date of day 0.
    days : int
        Simulated days completed.
    fr_cameras : int
        Cameras configured for face recognition.
    fr_cameras_by_kind : dict of str to int
        The same, per camera kind (sorted by kind).
    camera_days : int
        ``fr_cameras × held_days``.
    watchlist_size : int
        Entries of the watchlist the searches are scored against (the largest, when they ran
        against several versions).
    n_searches, n_mated, n_nonmated : int
        Sightings searched; of people on the watchlist; of everybody else.
    n_targets : int
        Watchlisted people seen at least once by an FR camera.
    top_k : int
        Candidates kept per search.
    complete : bool
        Whether every search was scored against every entry (``top_k >= watchlist_size``), so
        that the 1:1 impostor scores are all there.
    inference : str
        Backend and precision the run's models ran on (``run.json``), e.g.
        ``"openvino fp32"``; ``""`` for runs that did not record them.
    held_days : int
        Completed days whose searches are still held: the per-day denominator
        (:func:`facelab.lab.purged.held_days`); equal to ``days`` when nothing was purged.
    purge : PurgeSummary or None
        What purges removed; None when nothing was purged.
    watchlist_basis : str
        Which watchlist the searches are scored against (:data:`facelab.lab.watchlists.CHOICES`).
    watchlist_versions : tuple of int
        The watchlist versions the held searches are scored against.
    system : str
        The system profile the run's scores speak for and what its percent means
        (:func:`facelab.lab.system.describe`).
    """

    path: Path
    scenario: str
    mode: str
    start: _dt.date | None
    days: int
    fr_cameras: int
    fr_cameras_by_kind: dict[str, int]
    camera_days: int
    watchlist_size: int
    n_searches: int
    n_mated: int
    n_nonmated: int
    n_targets: int
    top_k: int
    complete: bool
    inference: str = ""
    held_days: int = 0
    purge: PurgeSummary | None = None
    watchlist_basis: str = AS_SEARCHED
    watchlist_versions: tuple[int, ...] = ()
    system: str = ""


def run_facts(store: RunStore, scores: RunScores) -> RunFacts:
    """Collect :class:`RunFacts` from an open run and its loaded scores."""
    fr_kinds = Counter(c.kind for c in schema.cameras(store.db) if c.fr)
    by_kind = {k: fr_kinds[k] for k in sorted(fr_kinds)}
    start = None
    raw = store.scenario_dict().get("start")
    if raw:
        try:
            start = _dt.date.fromisoformat(str(raw))
        except ValueError:
            start = None
    mated = scores.searches.mated
    purged = purge_summary(store, scores.day)
    basis = scores.basis
    return RunFacts(
        path=store.path,
        scenario=str(store.meta.get("scenario_name", store.path.name)),
        mode=str(store.meta.get("mode", "image")),
        start=start,
        days=len(store.days_done()),
        fr_cameras=int(sum(by_kind.values())),
        fr_cameras_by_kind={str(k): int(v) for k, v in by_kind.items()},
        camera_days=int(scores.camera_days),
        watchlist_size=int(scores.watchlist_size),
        n_searches=int(scores.searches.n_searches),
        n_mated=int(mated.sum()),
        n_nonmated=int((~mated).sum()),
        n_targets=int(scores.best_true_score.size),
        top_k=int(scores.searches.scores.shape[1]),
        complete=bool(scores.complete),
        inference=describe_inference(store.meta),
        held_days=len(purged.held_days),
        purge=purged if purged.purges else None,
        watchlist_basis=basis.name if basis is not None else AS_SEARCHED,
        watchlist_versions=basis.versions(scores.day) if basis is not None else (),
        system=describe_system(store.meta),
    )
