"""Reference cases: published deployments re-run on synthetic people, headline beside headline.

Each case runs one or more scenario presets (``scenarios/NAME.toml``, embedding mode for
scale), computes the figure the published case is known for, and prints it next to the
published one with a sentence on what differs. The published figures are data, kept here with
their source; the lab's figures come from the runs, with their seeds.

Synthetic faces and one open model (SFace) are not the systems of those cases: the lab
reproduces the *effects* (FPIR grows with watchlist size; most alerts are false when targets are
rare; lowering the threshold floods the review queue), not their exact numbers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab.config.scenario import Scenario, load_scenario
from facelab.errors import ConfigError
from facelab.lab import metrics
from facelab.lab.purged import held_days
from facelab.lab.report.text import pct
from facelab.lab.scores import load_scores
from facelab.run import schema
from facelab.run.store import RunStore
from facelab.search import percent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One run of a case: a label (its run folder), scenario overrides and, when it is not the
    case's own preset, the preset it runs."""

    label: str
    overrides: dict = dataclasses.field(default_factory=dict)
    preset: str | None = None


@dataclass(frozen=True)
class Case:
    """A published case and how the lab re-runs it."""

    name: str
    title: str
    published: str
    source: str
    differs: str
    variants: tuple[Variant, ...]
    headline: Callable[[Scenario, dict[str, RunStore]], list[str]]


@dataclass(frozen=True)
class CaseResult:
    case: Case
    runs: dict[str, Path]
    lines: tuple[str, ...]

    def text(self) -> str:
        c = self.case
        out = [f"{c.title}", "", f"published   {c.published}", f"            ({c.source})", ""]
        out += [f"facelab     {line}" if i == 0 else f"            {line}"
                for i, line in enumerate(self.lines)]  # fmt: skip
        out += ["", f"differs     {c.differs}"]
        return "\n".join(out)


def _pct(k: int, n: int) -> str:
    rate = metrics.Rate.of(k, n)
    return f"{k:,} of {n:,} ({pct(rate.value)}; 95 % CI {pct(rate.lo)}–{pct(rate.hi)})"


def _all_scores(store: RunStore) -> np.ndarray:
    """Every probe against every watchlist entry: float32 (n_probes, n_watch), via FAISS."""
    from facelab.run.watchlist import load_active

    archive = store.archive()
    probes = np.concatenate([archive.vectors(d)[1] for d in archive.days()])
    watch = load_active(store)
    return watch.search(probes, len(watch)).scores


def _aclu(scenario: Scenario, runs: dict[str, RunStore]) -> list[str]:
    store = runs["gallery"]
    s = _all_scores(store)
    best = s.max(axis=1).astype(np.float64)
    n = len(best)
    lines = [
        f"{n} probes with a detected face (of {scenario.population.size}) × {s.shape[1]:,} gallery "
        f"= {s.size:,} comparisons, none of them mated (seed {scenario.seed})"
    ]
    for name in ("linear", "log-fmr"):
        m = percent.get_mapping(name, impostor_scores=s.ravel() if name == "log-fmr" else None)
        for p in (80.0, 95.0):
            k = int((best >= m.to_cosine(p)).sum())
            lines.append(f"{name:8s} at {p:.0f} %: {_pct(k, n)} probes falsely matched")
    lines.append(
        "log-fmr ties the percent to the false-match rate measured on these very comparisons, "
        "as a vendor calibrates its scale; under 'linear' 80 % is a far stricter cosine."
    )
    return lines


def _cardiff(scenario: Scenario, runs: dict[str, RunStore]) -> list[str]:
    sc = load_scores(runs["match-day"])
    lines = [
        f"{sc.searches.n_searches:,} faces searched against a watchlist of {sc.watchlist_size:,}; "
        f"{int(sc.searches.mated.sum())} sightings of wanted people (seed {scenario.seed})"
    ]
    for p in (50.0, 60.0, 70.0, 80.0):
        t = percent.get_mapping("linear").to_cosine(p)
        alert = sc.cand_score >= t
        false = int((alert & ~sc.cand_mate).sum())
        mark = "  ← run threshold" if p == scenario.thresholds.alert_percent else ""
        lines.append(
            f"at {p:.0f} %: {int(alert.sum()):,} alerts, false: {_pct(false, int(alert.sum()))}{mark}"
        )
    return lines


def _npl(scenario: Scenario, runs: dict[str, RunStore]) -> list[str]:
    p = scenario.thresholds.alert_percent
    t = percent.get_mapping(scenario.thresholds.mapping).to_cosine(p)
    lines, fpirs = [], {}
    for label, store in runs.items():
        sc = load_scores(store)
        fp = metrics.fpir(sc.searches, [t])[0]
        fn = metrics.fnir(sc.searches, [t])[0]
        fpirs[label] = fp.value
        lines.append(
            f"watchlist {sc.watchlist_size:>6,}: FPIR {fp.count:,}/{fp.total:,} = {pct(fp.value)} "
            f"(95 % CI {pct(fp.lo)}–{pct(fp.hi)}); TPIR {pct(1 - fn.value)} "
            f"({fn.total - fn.count:,}/{fn.total:,})"
        )
    small, big = fpirs.get("wl-1000"), fpirs.get("wl-10000")
    if small and big:
        lines.append(
            f"ratio of FPIRs {big / small:.1f} for a 10× larger watchlist, at {p:.0f} % (seed {scenario.seed})"
        )
    if "groups" in runs:
        lines += npl_groups(runs["groups"])
    return lines


NPL_THRESHOLDS = (56.0, 58.0, 60.0)
"""NPL's face-match thresholds 0.56 / 0.58 / 0.60, read as SFace cosines (linear percent)."""


def npl_groups(store: RunStore, thresholds: tuple[float, ...] = NPL_THRESHOLDS) -> list[str]:
    """The differential between measured groups of a run (``[population] groups``) at
    ``thresholds`` (percent, linear): each group's same-group false-match rate and the highest
    over the lowest with its 95 % interval (:func:`facelab.lab.groups.sweep_groups`)."""
    from facelab.lab import groups as lab_groups

    gsw = lab_groups.sweep_groups(lab_groups.load_group_scores(store), list(thresholds))
    sc = store.scenario()
    lines = [
        f"measured groups ({sc.name}, image mode, seed {sc.seed}; "
        f"{lab_groups.WHAT_GROUPS_ARE}): same-group false matches at SFace cosine"
    ]
    for i, d in enumerate(gsw.differential):
        rates = ", ".join(
            f"{g} {r[i]['fmr_within'].count}/{r[i]['fmr_within'].total}"
            for g, r in gsw.rows.items() if r[i]["fmr_within"] is not None
        )  # fmt: skip
        if np.isnan(d.ratio):
            verdict = "no ratio (no false match, or one group)"
        else:
            sig = "significant" if d.significant else "not significant"
            verdict = (f"{d.high_group} / {d.low_group} = {d.ratio:.3g} "
                       f"(95 % CI {d.lo:.3g}–{d.hi:.3g}), {sig}")  # fmt: skip
        lines.append(f"  {d.percent / 100:.2f}: {rates or 'n/a'}; {verdict}")
    return lines


def _metro(scenario: Scenario, runs: dict[str, RunStore]) -> list[str]:
    store = runs["city"]
    sc = load_scores(store)
    # per-day figures divide by the days whose searches are still held, as `facelab sweep` does
    days = len(held_days(store, sc.day))
    secs = sum(d.seconds for d in schema.days(store.db))
    per_min = sc.searches.n_searches / secs * 60 if secs else float("nan")
    lines = [
        f"{len(scenario.cameras):,} cameras, {len(scenario.fr_cameras)} with FR; {sc.searches.n_searches:,} "
        f"faces searched in the {days} day(s) still held after the retention purges "
        f"(seed {scenario.seed})",
        f"ingestion here: {per_min:,.0f} sighting events per minute on this machine (twin embeddings)",
    ]
    for p in (50.0, 60.0, 70.0, 80.0):
        t = percent.get_mapping("linear").to_cosine(p)
        alert = sc.cand_score >= t
        false = int((alert & ~sc.cand_mate).sum())
        lines.append(
            f"at {p:.0f} %: {alert.sum() / days:,.1f} alerts a day to review, "
            f"{false / days:,.1f} of them false; false: {_pct(false, int(alert.sum()))}"
        )
    return lines


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case(
            "aclu-congress",
            "ACLU vs Amazon Rekognition (2018): members of Congress against a mugshot gallery",
            "28 of 535 members of Congress falsely matched at the default 80 % setting",
            "ACLU, 26 July 2018",
            "synthetic faces and SFace instead of Rekognition; Rekognition's percent is its own "
            "confidence scale, so the lab shows two mappings",
            (Variant("gallery"),),
            _aclu,
        ),
        Case(
            "cardiff-2017",
            "South Wales Police, Champions League final, Cardiff (2017)",
            "2,470 alerts, of which 2,297 (92 %) were false",
            "South Wales Police figures, published May 2018",
            "a crowd of 30,000 and a 50,000-entry watchlist instead of 170,000 and 500,000; one "
            "open model; the share of false alerts depends on how rare true targets are",
            (Variant("match-day"),),
            _cardiff,
        ),
        Case(
            "npl-lfr",
            "NPL study for the Metropolitan Police (2023): FPIR against watchlist size, and "
            "the imbalance between groups below 0.6",
            "at threshold 0.6: TPIR 89 %; FPIR 1 in 6,000 (10,000 watchlist), 1 in 60,000 (1,000); "
            "no statistically significant demographic imbalance at 0.6; at 0.58 and 0.56 more "
            "false positives, and a statistically significant imbalance, with more Black subjects "
            "falsely matched than Asian or White subjects (no per-group figures here: the "
            "report's tables were not verified)",
            "National Physical Laboratory, T. Mansfield, 'Facial Recognition Technology in Law "
            "Enforcement Equitability Study', March 2023, as quoted by Computer Weekly, "
            "12 April 2023 and The Register, 6 April 2023",
            "NeoFace's 0.6 is not SFace's cosine 0.6; the lab shows the proportionality, not the "
            "level; its groups are ITA bands of synthetic faces (classroom-groups), not "
            "ethnicities, and its differential is not a finding about real people",
            (
                Variant("wl-1000", {"watchlist_size": 1000}),
                Variant("wl-10000", {}),
                Variant("groups", {}, preset="classroom-groups"),
            ),
            _npl,
        ),
        Case(
            "metro",
            "Moscow metro face search (the seed case)",
            "'usually 50–80 %'; ~1,000 cameras, a fraction with FR; 30-day archive; "
            "'1 million+ events per minute'",
            "press reports on the Sfera / Kipod systems",
            "20,000 simulated people instead of millions of riders; twin embeddings, not video",
            (Variant("city"),),
            _metro,
        ),
    )
}


def _apply(scenario: Scenario, overrides: dict) -> Scenario:
    if "watchlist_size" in overrides:
        wl = dataclasses.replace(scenario.watchlist, size=overrides["watchlist_size"])
        scenario = scenario.with_overrides(watchlist=wl)
    return scenario


def run_case(
    name: str,
    out: Path,
    *,
    run: Callable[[Scenario, Path], object],
    skip: tuple[str, ...] = (),
) -> CaseResult:
    """Run (or resume) every variant of a case under ``out`` and compute its headline.

    ``run(scenario, path)`` runs one scenario (the CLI passes its progress-bar runner);
    variants labelled in ``skip`` are left out (their part of the headline with them).
    """
    if name not in CASES:
        raise ConfigError(f"unknown case {name!r} (choose from {', '.join(CASES)})")
    case = CASES[name]
    base = load_scenario(name)
    stores, paths = {}, {}
    try:
        for v in case.variants:
            if v.label in skip:
                continue
            path = Path(out) / v.label
            run(_apply(load_scenario(v.preset) if v.preset else base, v.overrides), path)
            paths[v.label] = path
            stores[v.label] = RunStore(path)
        lines = case.headline(base, stores)
    finally:
        for s in stores.values():
            s.close()
    return CaseResult(case, paths, tuple(lines))
