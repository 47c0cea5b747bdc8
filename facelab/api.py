"""Python API for notebooks: the command line's run, enrol, watchlist, search, alerts and review.

Example::

    import facelab.api as fl

    fl.run("classroom", "runs/demo")                 # facelab run classroom --out runs/demo
    lab = fl.open_run("runs/demo")
    lab.watchlist()                                  # facelab watchlist runs/demo
    res = lab.search("photo.png", reason="class demo", sheet="hits.png")
    for hit in res.hits:
        print(hit.camera, hit.time, f"{hit.percent:.1f} %", hit.frame)
    queue = lab.alerts(min_percent=50)               # facelab alerts runs/demo --min-percent 50
    lab.review(queue[0].id, "rejected", reason="not the same person")

Each method opens the run directory, does one thing and closes it again, so a notebook and the
command line can work on the same run. The work is done by :mod:`facelab.run.watchlist`,
:mod:`facelab.run.retrospective`, :mod:`facelab.run.review` and :mod:`facelab.run.pipeline`; this module only
delegates (plus the pre-flight checks shared with the CLI, so that a refused command writes
nothing).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from facelab.governance import audit
from facelab.run.store import RunStore
from facelab.truth import TruthStore
from facelab.vision.probe import FaceModels

__all__ = ["Run", "open_run", "run"]


def run(scenario, out: str | Path, *, mode: str | None = None, device: str = "cpu",
        seed: int | None = None, days: int | None = None, on_progress=None,
        on_step=None):  # fmt: skip
    """Run (or resume) a scenario into ``out``, as ``facelab run``; returns the RunSummary.

    ``scenario`` is a preset name, a TOML path or a :class:`facelab.config.scenario.Scenario`.
    ``on_progress(day, done, total)`` is called as frames are processed. The retention purge
    runs after each simulated day and once more at the end (a no-op unless a purge was cut
    short by a crash), exactly as on the command line. ``on_step(name, day)`` is called after
    each durable step of the run and of its purges (the kill tests stop the process there).
    The ground truth goes to the run's :class:`~facelab.truth.TruthStore`.
    """
    from facelab.config.scenario import Scenario, load_scenario
    from facelab.governance import retention
    from facelab.run.pipeline import run_scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    overrides = {k: v for k, v in (("seed", seed), ("days", days)) if v is not None}
    if overrides:
        sc = sc.with_overrides(**overrides)
    with TruthStore(out, create=True) as truth:
        summary = run_scenario(
            sc, out, truth=truth, mode=mode, device=device, on_progress=on_progress,
            on_step=on_step,
            after_day=lambda day: retention.purge_after_day(out, day, on_step=on_step),
        )  # fmt: skip
    retention.purge_after_day(out, on_step=on_step)
    return summary


def open_run(path: str | Path, *, actor: str | None = None, device: str = "cpu") -> Run:
    """Open an existing run directory (checked now; nothing is written)."""
    return Run(path, actor=actor, device=device)


class Run:
    """A run directory, with the CLI's commands as methods.

    Parameters
    ----------
    path : str or Path
    actor : str, optional
        Who acts, for the audit log; default :func:`facelab.governance.audit.default_actor`.
    device : str
        Where the embedder runs (``cpu``, ``cuda``, ``auto``).

    Raises
    ------
    RunError
        Missing, foreign, older-format or incomplete run directory.
    """

    def __init__(self, path: str | Path, *, actor: str | None = None, device: str = "cpu"):
        from facelab.search.archive import ShardCache

        with RunStore(path) as s:  # checks the run directory now; nothing is written
            self.shards = ShardCache(s.archive_options()["cache_shards"])
        self.path = Path(path)
        self.actor = actor or audit.default_actor()
        self.device = device
        self.models = FaceModels(device)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @contextmanager
    def store(self):
        """``with run.store() as s:`` — the open :class:`~facelab.run.store.RunStore`."""
        s = RunStore(self.path, shards=self.shards)
        try:
            yield s
        finally:
            s.close()

    # ---- watchlist

    def enroll(self, photo, *, label: str, reason: str | None = None, case: str | None = None,
               largest: bool = False):  # fmt: skip
        """Enrol a pre-loaded frame (``facelab enroll``); returns the WatchlistEntry."""
        from facelab.run import watchlist

        with self.store() as s, TruthStore(self.path, create=True) as truth:
            return watchlist.enrol_photo(
                s, photo, label=label, case=case, reason=reason, actor=self.actor,
                models=self.models, truth=truth, largest=largest,
            )  # fmt: skip

    def watchlist(self, include_removed: bool = False):
        """Watchlist entries (``facelab watchlist``)."""
        from facelab.run import watchlist

        with self.store() as s:
            return watchlist.entries(s, include_removed=include_removed)

    def remove(self, label: str, *, reason: str | None = None):
        """Remove an entry (``facelab watchlist --remove``); returns the removed entry."""
        from facelab.run import watchlist

        with self.store() as s:
            return watchlist.remove(s, label, reason=reason, actor=self.actor)

    # ---- retrospective search

    def search(self, photo, *, reason: str | None = None, case: str | None = None,
               min_percent: float | None = None, top: int | None = None, cameras=None,
               date_from=None, date_to=None, mapping: str | None = None, largest: bool = False,
               sheet: str | Path | None = None):  # fmt: skip
        """Where was this person seen? (``facelab search``); returns a SearchResult.

        With ``sheet``, also draws the probe beside its hits into that PNG.
        """
        from facelab.run import retrospective as search

        with self.store() as s:
            result = search.search_photo(
                s, photo, min_percent=min_percent, top=top, cameras=cameras,
                date_from=date_from, date_to=date_to, reason=reason, case=case,
                actor=self.actor, mapping=mapping, models=self.models, largest=largest,
            )  # fmt: skip
            if sheet is not None:
                search.draw_sheet(s, result, photo, sheet)
            return result

    def sheet(self, result, photo, path: str | Path) -> Path:
        """Draw a search's probe beside its hits (``facelab search --sheet``)."""
        from facelab.run import retrospective as search

        with self.store() as s:
            return search.draw_sheet(s, result, photo, path)

    # ---- review queue

    def alerts(self, min_percent: float | None = None, status: str | None = None,
               camera: str | None = None, limit: int | None = None):  # fmt: skip
        """The manual review queue (``facelab alerts``); a list of Alert."""
        from facelab.run import review

        with self.store() as s:
            return review.list_alerts(s, min_percent, status, camera, limit)

    def review(self, alert_id: int, decision: str, *, reason: str | None = None,
               case: str | None = None, note: str | None = None):  # fmt: skip
        """Confirm or reject an alert (``facelab review``); returns the updated Alert."""
        from facelab.run import review

        with self.store() as s:
            return review.review_alert(
                s, alert_id, decision, actor=self.actor, reason=reason, case=case, note=note
            )
