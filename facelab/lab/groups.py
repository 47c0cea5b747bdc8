"""Error rates by group of people, and the differential between groups (NIST IR 8280's measure).

The groups are those measured on each identity's rendered face (:mod:`facelab.world.groups`,
recorded in ``truth.sqlite`` table ``identity_truth``): bands of an image colour measure of
synthetic faces, never a real ethnicity. Every rate is a :class:`~facelab.lab.metrics.Rate`
(count, total, Wilson 95 % interval); ``score ≥ threshold`` is a match, as everywhere.

Per group ``g`` of the *searched* person (the probe) and threshold ``T``:

- ``FMR``: impostor comparisons (a search of a person against an entry of someone else in the
  watchlist the search is scored against, :mod:`facelab.lab.watchlists`) scoring ≥ T, over impostor comparisons; ``FMR within`` counts only pairs whose
  entry's identity is of the same group (NIST IR 8280 compares same-group impostors), and
  ``pairs[g][h]`` the pairs whose entry is of group ``h``. Needs every entry scored by every
  search (``complete``; else the counts miss impostors below the kept top K).
- ``FNMR``: genuine comparisons (the search of a watchlisted person against their own entry)
  scoring < T, over genuine comparisons.
- ``FPIR``: non-mated searches (person not on the watchlist) whose top candidate is ≥ T.
- ``FNIR``: mated searches whose mate is not the first candidate with a score ≥ T.

Detections of no one (``person = -1``) belong to no group and are left out.

**The differential** at ``T``: the highest within-group FMR over the lowest, among groups with
impostor comparisons, with a 95 % interval for the ratio of two independent proportions (Katz
log method; 0.5 added to every count when one is zero). It is *significant* when the interval
excludes 1. ``significant_below`` is the highest swept threshold at which it is significant
(``None`` if none). Picking the highest and lowest of several groups favours large ratios: read
a barely significant ratio with care.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from facelab.config.limits import ITA_GROUPS
from facelab.errors import RunError
from facelab.lab.metrics import Z95, Rate, mated_scores
from facelab.lab.reviewer import load_alerts, review_outcomes
from facelab.lab.scores import RunScores, load_scores
from facelab.lab.sweep import cosines_for, run_mapping
from facelab.lab.watchlists import AS_SEARCHED, DESCRIPTIONS
from facelab.run.store import RunStore
from facelab.search.percent import PercentMapping, parse_thresholds
from facelab.truth import TruthStore


@dataclass(frozen=True)
class GroupScores:
    """A run's comparisons labelled with the groups of the people in them.

    Attributes
    ----------
    scores : RunScores
    groups : tuple[str, ...], the groups present (in :data:`ITA_GROUPS` order).
    probe_group : int64 (n,), index into ``groups`` of each search's person (-1: no one).
    imp_score, imp_probe, imp_ref : impostor candidates: score (float64), probe group and
        entry group (int64), one element per stored impostor candidate.
    gen_score, gen_probe : genuine candidates: score and probe group.
    imp_total : int64 (G, G), impostor comparisons per (probe group, entry group).
    gen_total : int64 (G,), genuine comparisons per probe group.
    complete : bool, whether every scored entry was a candidate of every search.
    watchlist : str, which watchlist each search is scored against
        (:data:`facelab.lab.watchlists.CHOICES`).
    """

    scores: RunScores
    groups: tuple[str, ...]
    probe_group: np.ndarray
    imp_score: np.ndarray
    imp_probe: np.ndarray
    imp_ref: np.ndarray
    gen_score: np.ndarray
    gen_probe: np.ndarray
    imp_total: np.ndarray
    gen_total: np.ndarray
    complete: bool
    watchlist: str = AS_SEARCHED


def load_group_scores(store: RunStore, watchlist: str = AS_SEARCHED) -> GroupScores:
    """Read a run's candidates, truth and measured groups.

    The searches, their candidates and which of them are mated are exactly those of
    :func:`facelab.lab.scores.load_scores` with the same ``watchlist``
    (:mod:`facelab.lab.watchlists`): by default each search is scored against the watchlist
    version it ran against, so entries enrolled or removed after a run change nothing here.
    A search's denominators count the entries of that version (with a known identity).

    Raises
    ------
    RunError
        When the run's scenario set no ``[population] groups``; with ``current``, as
        :func:`~facelab.lab.scores.load_scores`.
    """
    scores = load_scores(store, watchlist)
    with TruthStore(store.path, readonly=True) as truth:
        ig, wt = truth.identity_groups(), truth.watch_identities()
    if ig is None:
        raise RunError(
            f"{store.path}: this run has no groups (its scenario sets no [population] groups)"
        )
    present = sorted({g for g, _ in ig.values()}, key=ITA_GROUPS.index)
    gi = {g: i for i, g in enumerate(present)}
    max_id = max(ig) + 1
    group_of = np.full(max_id + 1, -1, np.int64)  # last slot: -1 for unknown identities
    for ident, (g, _) in ig.items():
        group_of[ident] = gi[g]

    def group(ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        return group_of[np.where((ids >= 0) & (ids < max_id), ids, max_id)]

    watch_ident = dict(zip(wt["watch"].tolist(), wt["identity"].tolist(), strict=True))
    probe = group(scores.person)
    # the candidates load_scores kept (those of each search's scored watchlist), with an identity
    row, watch = scores.cand_row, scores.cand_watch
    cand_ident = np.array([watch_ident.get(w, -2) for w in watch.tolist()], np.int64)
    known = cand_ident >= 0
    row, score, cand_ident = row[known], scores.cand_score[known], cand_ident[known]
    mate = scores.cand_mate[known]
    labelled = scores.person[row] >= 0
    imp = labelled & ~mate
    G = len(present)
    # denominators: every (labelled search, entry of someone else in its scored watchlist) pair
    basis = scores.basis
    version = basis.versions_of(scores.day)
    imp_total = np.zeros((G, G), np.int64)
    gen_total = np.zeros(G, np.int64)
    for v in np.unique(version).tolist():
        ref = wt[np.isin(wt["watch"], basis.members[v])]
        ref_group = group(ref["identity"])
        per_ref = np.bincount(ref_group[ref_group >= 0], minlength=G)
        idents, n_entries = np.unique(ref["identity"], return_counts=True)
        mine = (version == v) & (probe >= 0)
        pg, person = probe[mine], scores.person[mine]
        imp_total += np.outer(np.bincount(pg, minlength=G), per_ref)
        pos = np.minimum(np.searchsorted(idents, person), max(len(idents) - 1, 0))
        own = np.where(idents[pos] == person, n_entries[pos], 0) if len(idents) else 0 * pg
        # the person's own entries are genuine comparisons, of the person's group
        np.subtract.at(imp_total, (pg, pg), own)
        np.add.at(gen_total, pg, own)
    return GroupScores(
        scores=scores,
        groups=tuple(present),
        probe_group=probe,
        imp_score=score[imp].astype(np.float64),
        imp_probe=probe[row[imp]],
        imp_ref=group(cand_ident[imp]),
        gen_score=score[labelled & mate].astype(np.float64),
        gen_probe=probe[row[labelled & mate]],
        imp_total=imp_total,
        gen_total=gen_total,
        complete=bool(scores.complete),
        watchlist=basis.name,
    )


@dataclass(frozen=True)
class Differential:
    """Highest over lowest within-group FMR at one threshold, with its 95 % interval."""

    percent: float
    high_group: str | None
    low_group: str | None
    ratio: float
    lo: float
    hi: float

    @property
    def significant(self) -> bool:
        return not math.isnan(self.lo) and (self.lo > 1.0 or self.hi < 1.0)


def ratio_interval(
    k1: int, n1: int, k2: int, n2: int, z: float = Z95
) -> tuple[float, float, float]:
    """``(k1/n1) / (k2/n2)`` and its Katz log interval (0.5 added to every count when one is
    zero); NaNs when a total is zero."""
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan, math.nan
    if k1 == 0 or k2 == 0:
        k1, n1, k2, n2 = k1 + 0.5, n1 + 0.5, k2 + 0.5, n2 + 0.5
    r = (k1 / n1) / (k2 / n2)
    se = math.sqrt(max(1 / k1 - 1 / n1 + 1 / k2 - 1 / n2, 0.0))
    return r, r * math.exp(-z * se), r * math.exp(z * se)


@dataclass(frozen=True)
class GroupSweep:
    """Rates per group at each threshold, and the differential.

    Attributes
    ----------
    mapping : str
    percents, cosines : float64 (m,)
    groups : tuple[str, ...]
    rows : dict group -> list (per threshold) of dict name -> Rate
        (``fmr``, ``fmr_within``, ``fnmr``, ``fpir``, ``fnir``; FMR ones ``None`` when not
        ``complete``).
    pairs : dict probe group -> entry group -> list of FMR Rate per threshold.
    differential : list of Differential, one per threshold.
    significant_below : float or None
    complete : bool
    watchlist : str, which watchlist each search is scored against.
    """

    mapping: str
    percents: np.ndarray
    cosines: np.ndarray
    groups: tuple[str, ...]
    rows: dict[str, list[dict[str, Rate | None]]]
    pairs: dict[str, dict[str, list[Rate]]]
    differential: list[Differential]
    significant_below: float | None
    complete: bool
    watchlist: str = AS_SEARCHED

    def to_dict(self) -> dict[str, Any]:
        def rate(r: Rate | None):
            if r is None:
                return None
            f = lambda x: None if math.isnan(x) else round(x, 8)  # noqa: E731
            return {"count": r.count, "total": r.total, "value": f(r.value),
                    "lo": f(r.lo), "hi": f(r.hi)}  # fmt: skip

        def num(x: float):
            return None if math.isnan(x) else round(x, 6)

        pcts = [float(p) for p in self.percents]
        return {
            "mapping": self.mapping,
            "impostor_scores_complete": self.complete,
            "watchlist": {"scored_against": self.watchlist,
                          "description": DESCRIPTIONS[self.watchlist]},
            "what_groups_are": WHAT_GROUPS_ARE,
            "groups": {
                g: [{"percent": p, "cosine": round(float(c), 6),
                     **{k: rate(v) for k, v in row.items()}}
                    for p, c, row in zip(pcts, self.cosines, rows, strict=True)]
                for g, rows in self.rows.items()
            },
            "pairs": {g: {h: [rate(r) for r in rs] for h, rs in d.items()}
                      for g, d in self.pairs.items()},
            "differential": [
                {"percent": d.percent, "high_group": d.high_group, "low_group": d.low_group,
                 "fmr_ratio": num(d.ratio), "lo": num(d.lo), "hi": num(d.hi),
                 "significant": d.significant}
                for d in self.differential
            ],
            "significant_below_percent": self.significant_below,
        }  # fmt: skip

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


WHAT_GROUPS_ARE = (
    "bands of the Individual Typology Angle measured on synthetic faces' cheek pixels "
    "(lighting included); not skin types, not ethnicities, not real people"
)


def _ge(scores: np.ndarray, t: float) -> int:
    return int(np.count_nonzero(scores >= t))


def sweep_groups(
    gs: GroupScores, thresholds: str | Any = "50:80:5", mapping: str | PercentMapping = "linear"
) -> GroupSweep:
    """Per-group rates, per-pair FMR and the differential at each percent threshold."""
    m = run_mapping(gs.scores, mapping)
    percents = parse_thresholds(thresholds) if isinstance(thresholds, str) else np.sort(
        np.asarray(thresholds, float))  # fmt: skip
    cosines = cosines_for(m, percents)
    s = gs.scores.searches
    top = (s.scores[:, 0].astype(np.float64) if s.scores.shape[1]
           else np.full(s.n_searches, -np.inf))  # fmt: skip
    best_mate = np.full(s.n_searches, -np.inf)
    best_mate[s.mated] = mated_scores(s, 1)
    rows: dict[str, list[dict[str, Rate | None]]] = {g: [] for g in gs.groups}
    pairs: dict[str, dict[str, list[Rate]]] = {g: {h: [] for h in gs.groups} for g in gs.groups}
    diffs: list[Differential] = []
    for p, t in zip(percents, cosines, strict=True):
        within: list[tuple[str, int, int]] = []
        for gi, g in enumerate(gs.groups):
            probe = gs.probe_group == gi
            nonmated, mated = probe & ~s.mated, probe & s.mated
            imp = gs.imp_probe == gi
            row: dict[str, Rate | None] = {
                "fmr": None, "fmr_within": None,
                "fnmr": Rate.of(int(gs.gen_total[gi]) - _ge(gs.gen_score[gs.gen_probe == gi], t),
                                int(gs.gen_total[gi])),
                "fpir": Rate.of(_ge(top[nonmated], t), int(nonmated.sum())),
                "fnir": Rate.of(int(mated.sum()) - _ge(best_mate[mated], t), int(mated.sum())),
            }  # fmt: skip
            for hi_, h in enumerate(gs.groups):
                k = _ge(gs.imp_score[imp & (gs.imp_ref == hi_)], t)
                pairs[g][h].append(Rate.of(k, int(gs.imp_total[gi, hi_])))
            if gs.complete:
                row["fmr"] = Rate.of(_ge(gs.imp_score[imp], t), int(gs.imp_total[gi].sum()))
                row["fmr_within"] = pairs[g][g][-1]
                if row["fmr_within"].total:
                    within.append((g, row["fmr_within"].count, row["fmr_within"].total))
            rows[g].append(row)
        diffs.append(_differential(float(p), within))
    sig = [d.percent for d in diffs if d.significant]
    return GroupSweep(
        mapping=m.name, percents=percents, cosines=cosines, groups=gs.groups, rows=rows,
        pairs=pairs, differential=diffs, significant_below=max(sig) if sig else None,
        complete=gs.complete, watchlist=gs.watchlist,
    )  # fmt: skip


def _differential(percent: float, within: list[tuple[str, int, int]]) -> Differential:
    if len(within) < 2:
        return Differential(percent, None, None, math.nan, math.nan, math.nan)
    if max(k for _, k, _ in within) == 0:  # no false match in any group: no ratio
        return Differential(percent, None, None, math.nan, math.nan, math.nan)
    rate = [(k / n, g, k, n) for g, k, n in within]
    hi = max(rate, key=lambda x: (x[0], -ITA_GROUPS.index(x[1])))
    lo = min(rate, key=lambda x: (x[0], ITA_GROUPS.index(x[1])))
    r, a, b = ratio_interval(hi[2], hi[3], lo[2], lo[3])
    return Differential(percent, hi[1], lo[1], r, a, b)


def _p(r: Rate | None) -> str:
    if r is None or math.isnan(r.value):
        return "n/a"
    return f"{100 * r.value:.3g}% ({r.count}/{r.total})"


def group_text(gsw: GroupSweep) -> str:
    """The group sweep as plain text: one block per group, then the differential."""
    out = [f"groups: {WHAT_GROUPS_ARE}",
           f"percent mapping: {gsw.mapping}; each rate: value (count/total)",
           f"watchlist: {DESCRIPTIONS[gsw.watchlist]}", ""]  # fmt: skip
    if not gsw.complete:
        out += ["impostor scores INCOMPLETE (watchlist larger than the kept top K): FMR not shown",
                ""]  # fmt: skip
    for g in gsw.groups:
        out.append(f"=== group {g} ===")
        out.append(f"{'thresh.':>8}  {'FMR within':>22}  {'FMR all':>22}  {'FNMR':>18}  "
                   f"{'FPIR':>18}  {'FNIR':>18}")  # fmt: skip
        for p, row in zip(gsw.percents, gsw.rows[g], strict=True):
            out.append(f"{p:>7g}%  {_p(row['fmr_within']):>22}  {_p(row['fmr']):>22}  "
                       f"{_p(row['fnmr']):>18}  {_p(row['fpir']):>18}  {_p(row['fnir']):>18}")  # fmt: skip
        out.append("")
    out.append("Differential: highest / lowest within-group FMR (95% interval, Katz)")
    for d in gsw.differential:
        if math.isnan(d.ratio):
            out.append(f"{d.percent:>7g}%  n/a (no false match, or fewer than two groups)")
            continue
        mark = "significant" if d.significant else "not significant"
        out.append(f"{d.percent:>7g}%  {d.high_group} / {d.low_group} = {d.ratio:.3g} "
                   f"({d.lo:.3g}–{d.hi:.3g}) {mark}")  # fmt: skip
    sb = gsw.significant_below
    out.append("highest threshold with a significant differential: "
               + (f"{sb:g}%" if sb is not None else "none in this sweep"))  # fmt: skip
    return "\n".join(out) + "\n"


def has_groups(store: RunStore) -> bool:
    """Whether the run's people have measured groups (its scenario set ``[population] groups``)."""
    with TruthStore(store.path, readonly=True) as truth:
        return truth.identity_groups() is not None


def groups_at(store: RunStore, percent: float, mapping: str = "linear") -> dict[str, Any]:
    """Per-group figures at one percent threshold, for the console's threshold view.

    The rates are :func:`sweep_groups`' (``fpir``, ``fmr_within``, ``fnir``, each with count,
    total and interval) and the differential at ``percent``; ``innocent_stops``,
    ``wanted_missed`` and ``wanted_seen`` are the scenario's reviewer model's
    (:func:`facelab.lab.reviewer.review_outcomes`, ``by_group``). Each search is scored against
    the watchlist it ran against.
    """
    gs = load_group_scores(store)
    doc = sweep_groups(gs, [float(percent)], mapping).to_dict()
    spec = store.scenario().review
    alerts = load_alerts(store, scores=gs.scores)
    outcome = review_outcomes(alerts, spec, [float(percent)], run_mapping(gs.scores, mapping))[0]
    by_group = outcome.by_group or {}
    rows = []
    for g, per in doc["groups"].items():
        row, stops = per[0], by_group.get(g, {})
        rows.append({
            "group": g, "fpir": row["fpir"], "fmr_within": row["fmr_within"], "fnir": row["fnir"],
            "innocent_stops": stops.get("innocent_stops", 0),
            "wanted_missed": stops.get("wanted_missed", 0),
            "wanted_seen": stops.get("wanted_seen", 0),
        })  # fmt: skip
    return {
        "percent": float(percent),
        "cosine": doc["groups"][gs.groups[0]][0]["cosine"] if gs.groups else None,
        "what_groups_are": WHAT_GROUPS_ARE,
        "rows": rows,
        "differential": doc["differential"][0],
        "review": spec.to_dict(),
    }
