"""Which watchlist each search and pass is scored against.

A search can only find the entries it was compared with. By default (:data:`AS_SEARCHED`) each
search, and each pass at a face-recognition camera, is scored against the watchlist version its
day's searches ran against (:mod:`facelab.run.schema_versions`): a person enrolled after a search
does not make it a missed wanted person, and a removed entry's matches still count as what they
were. So enrolling or removing entries after a run leaves that run's error rates unchanged.

:data:`CURRENT` re-scores the stored candidates against today's watchlist instead: today's
entries are "wanted", and each search's candidates are cut to today's entries. That is exact
only where the stored top-k covers today's list (:func:`check_covered`); otherwise it is
refused, naming why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab.errors import ConfigError, RunError
from facelab.run import schema, schema_versions
from facelab.run.schema import TOP_K

AS_SEARCHED = "as-searched"
CURRENT = "current"
CHOICES = (AS_SEARCHED, CURRENT)
"""The values of ``facelab sweep --watchlist``."""

DESCRIPTIONS = {
    AS_SEARCHED: "each search and pass is scored against the watchlist version its search ran "
    "against; entries enrolled or removed later do not change it",
    CURRENT: "RE-SCORED against today's watchlist: its entries are the wanted people, and each "
    "stored top-k list is cut to them (exact only because every search's stored top-k covers "
    "today's list)",
}
"""One line on each choice, shown beside the figures."""


def check_choice(which: str) -> str:
    """``which`` when it is one of :data:`CHOICES`.

    Raises
    ------
    ConfigError
        Any other value.
    """
    if which not in CHOICES:
        raise ConfigError(f"--watchlist must be one of {', '.join(CHOICES)}, not {which!r}")
    return which


@dataclass(frozen=True)
class Basis:
    """The watchlist each day's searches and passes are scored against.

    Attributes
    ----------
    name : str
        :data:`AS_SEARCHED` or :data:`CURRENT`.
    current_version : int
        The watchlist's version now.
    day, version : int64 (d,)
        Each day with a recorded version, ascending, and the version it is scored against.
    members : dict of int to int64 ndarray
        For every version in ``version`` (and ``current_version``), the ids of its entries,
        ascending.
    """

    name: str
    current_version: int
    day: np.ndarray
    version: np.ndarray
    members: dict[int, np.ndarray]

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.name]

    def versions_of(self, days: np.ndarray) -> np.ndarray:
        """int64 version of each of ``days`` (a day with none recorded: the current one)."""
        days = np.asarray(days, np.int64)
        if not len(self.day):
            return np.full(days.shape, self.current_version, np.int64)
        pos = np.minimum(np.searchsorted(self.day, days), len(self.day) - 1)
        hit = self.day[pos] == days
        return np.where(hit, self.version[pos], self.current_version).astype(np.int64)

    def entry_mask(self, days: np.ndarray, watch: np.ndarray) -> np.ndarray:
        """bool, for each ``(days[i], watch[i])``: whether that entry is in the watchlist the
        day is scored against."""
        v = self.versions_of(days)
        out = np.zeros(len(v), bool)
        for version in np.unique(v).tolist():
            rows = v == version
            out[rows] = np.isin(np.asarray(watch)[rows], self.members[version])
        return out

    def wanted(
        self, days: np.ndarray, person: np.ndarray, watch_identity: np.ndarray
    ) -> np.ndarray:
        """bool: whether ``person[i]`` (-1: no one) is the identity of an entry of the
        watchlist ``days[i]`` is scored against; ``watch_identity`` is truth's
        :data:`facelab.truth.WATCH_IDENTITY` array."""
        v = self.versions_of(days)
        person = np.asarray(person, np.int64)
        out = np.zeros(len(v), bool)
        for version in np.unique(v).tolist():
            rows = v == version
            ids = watch_identity["identity"][
                np.isin(watch_identity["watch"], self.members[version])
            ]
            out[rows] = np.isin(person[rows], ids) & (person[rows] >= 0)
        return out

    def size(self, days: np.ndarray) -> int:
        """Entries of the largest watchlist ``days`` are scored against (the current one's
        when ``days`` is empty)."""
        versions = np.unique(self.versions_of(days)).tolist() or [self.current_version]
        return max(len(self.members[v]) for v in versions)

    def versions(self, days: np.ndarray) -> tuple[int, ...]:
        """The versions ``days`` are scored against, ascending."""
        return tuple(int(v) for v in np.unique(self.versions_of(days)))


def load_basis(db, which: str = AS_SEARCHED) -> Basis:
    """Read the watchlist versions of a run (an open ``facelab.sqlite`` connection)."""
    check_choice(which)
    spans = schema_versions.spans(db)
    dv = schema_versions.day_versions(db)
    current = schema_versions.current_version(db)
    day = dv["day"].copy()
    version = dv["version"].copy() if which == AS_SEARCHED else np.full(len(day), current)
    members = {
        int(v): schema_versions.active_at(spans, int(v)) for v in set(version.tolist()) | {current}
    }
    return Basis(which, int(current), day, version.astype(np.int64), members)


def check_covered(
    path: Path,
    searched: Basis,
    current: np.ndarray,
    search_day: np.ndarray,
    cand_row: np.ndarray,
    cand_watch: np.ndarray,
) -> None:
    """Refuse to re-score against today's watchlist ``current`` (ids) unless every search's
    stored top-k covers it.

    A search made against version ``v`` covers today's list ``L`` when every entry of ``L``
    was in ``v`` (an entry enrolled later was never compared with it) and either every entry
    of ``L`` is among its stored candidates, or every stored candidate is in ``L`` (then the
    stored list is also ``L``'s top-k). Then its candidates cut to ``L`` are ``L``'s true
    ranking, as deep as the search itself kept.

    Parameters
    ----------
    path : Path
        The run (for the message).
    searched : Basis
        The as-searched basis.
    current : int64 (c,)
        Today's entries.
    search_day : int64 (n,)
        The day of each search.
    cand_row, cand_watch : int64 (m,)
        Each stored candidate's search (row of ``search_day``) and entry.

    Raises
    ------
    RunError
        Naming how many searches are not covered and why.
    """
    n = len(search_day)
    v = searched.versions_of(search_day)
    later = np.zeros(n, bool)
    enrolled_later: set[int] = set()
    for version in np.unique(v).tolist():
        missing = np.setdiff1d(current, searched.members[version])
        if len(missing):
            later[v == version] = True
            enrolled_later.update(missing.tolist())
    in_l = np.isin(cand_watch, current)
    n_in = np.bincount(cand_row, weights=in_l, minlength=n)
    n_out = np.bincount(cand_row, weights=~in_l, minlength=n)
    shallow = ~later & (n_in < len(current)) & (n_out > 0)
    if later.any() or shallow.any():
        parts = []
        if later.any():
            ids = ", ".join(str(i) for i in sorted(enrolled_later)[:5])
            more = "…" if len(enrolled_later) > 5 else ""
            one = len(enrolled_later) == 1
            parts.append(
                f"{int(later.sum()):,} ran before watchlist "
                f"{'entry' if one else 'entries'} {ids}{more} {'was' if one else 'were'} enrolled "
                f"and were never compared with {'it' if one else 'them'}"
            )
        if shallow.any():
            parts.append(
                f"{int(shallow.sum()):,} kept a since-removed entry in their top {TOP_K}, so "
                "today's top candidates were not stored"
            )
        raise RunError(
            f"cannot re-score {path} against today's watchlist: {int((later | shallow).sum()):,} "
            f"of {n:,} searches do not cover it ({'; '.join(parts)}); without --watchlist "
            "current each search is scored against the watchlist it ran against"
        )


def current_ids(db) -> np.ndarray:
    """Today's entries (int64, ascending)."""
    return np.array(schema.active_watch_ids(db), np.int64)
