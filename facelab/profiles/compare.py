"""A reference case under a system profile: published, the profile's figure, SFace-synthetic's.

``facelab case NAME --system PROFILE`` prints, for every published point of the profile that
belongs to the case (a point's ``case`` key), the published rate with its Wilson 95 % interval
(from the point's own sample size), the profile's figure (marked fitted or held out, a held-out
point outside its interval and off by more than 3x is a *miss*), and the figure of the default
profile ``sface-synthetic`` at the same gallery size and the same threshold *on its own scale*
(NeoFace's 0.60 read as SFace's cosine 0.60: the same number is a different operating point).

No simulation runs: both figures come from the profiles' score models. ``facelab case NAME``
without ``--system`` re-runs the case on synthetic people.
"""

from __future__ import annotations

from dataclasses import dataclass

from facelab.errors import ConfigError
from facelab.lab.report.text import pct
from facelab.profiles.fit import Residual, predict, residual
from facelab.profiles.profile import DEFAULT, Point, Profile, get_profile

_UNITS = {
    "fpir": "FPIR (share of non-mated searches with a candidate at or above the threshold)",
    "tpir": "TPIR (share of mated searches finding the mate at rank 1 at or above the threshold)",
    "fnir": "FNIR (share of mated searches missing the mate at rank 1 at or above the threshold)",
    "fmr": "FMR (one-to-one: share of impostor comparisons at or above the threshold)",
    "false_share": "share of false positives at the threshold that fell on the group's people",
    "imbalance": "statistically significant difference between groups' FPIR (1 yes, 0 no; "
    "ratio: highest / lowest group FPIR, ratio_ci95 its Katz interval at the expected counts)",
}


@dataclass(frozen=True)
class SystemComparison:
    """The points of one case under one profile."""

    case: str
    profile: Profile
    rows: tuple[tuple[Residual, float | None], ...]  # (profile's residual, sface-synthetic's rate)

    def to_json(self) -> dict:
        """``{"case", "system", "points": [{"name", "unit", "published", "facelab", "ci95",
        "fitted", ...}]}``."""
        points = []
        for r, sface in self.rows:
            p = r.point
            value, ci, extra = r.model, [r.lo, r.hi], {}
            if p.metric == "imbalance":  # a verdict: 1 significant, 0 not; no interval of its own
                value, ci = float(r.lo > 1), [p.published, p.published]
                extra = {"ratio": r.model, "ratio_ci95": [r.lo, r.hi]}
            points.append(
                {
                    "name": p.name,
                    "unit": _UNITS[p.metric],
                    "published": p.published,
                    "facelab": value,
                    "ci95": ci,
                    **extra,
                    "fitted": p.fitted,
                    "verdict": r.verdict,
                    "sface_synthetic": sface,
                    "gallery": p.gallery,
                    "threshold": p.threshold,
                    "fpir_target": p.fpir_target,
                    "count": p.count,
                    "n": p.n,
                    "n_basis": p.n_basis,
                    "group": p.group,
                    "where": p.where,
                }
            )
        return {
            "case": self.case,
            "system": self.profile.name,
            "system_version": self.profile.version,
            "scale": self.profile.scale.name,
            "points": points,
        }

    def text(self) -> str:
        """A table: published (k/n, interval), the profile's figure, SFace-synthetic's, verdict."""
        pr = self.profile
        out = [
            f"case {self.case} under system profile {pr.name} v{pr.version} ({pr.title})",
            f"scale: {pr.scale.name} — {pr.scale.description}",
            "",
            f"{'point':22s} {'published (k/n)':24s} {'95 % CI':22s} {pr.name[:16]:16s} "
            f"{'':9s} {'sface-synthetic':16s} verdict",
        ]
        for r, sface in self.rows:
            p = r.point
            pub, ci, mod = cells(r)
            tag = "fitted" if p.fitted else "held out"
            sf = "n/a" if sface is None else _rate(sface)
            out.append(f"{p.name:22s} {pub:24s} {ci:22s} {mod:16s} {tag:9s} {sf:16s} {r.verdict}")
        if any(r.point.n_basis == "assumed" for r, _ in self.rows):
            out.append("* n assumed: no source found gives the count (see the profile's notes)")
        misses = [r.point.name for r, _ in self.rows if r.verdict == "miss" and not r.point.fitted]
        if misses:
            out.append(f"held-out points missed: {', '.join(misses)}")
        out.append(
            "sface-synthetic: facelab's own system at the same threshold on its own scale "
            "(cosine); the same number is a different operating point"
        )
        return "\n".join(out)


def cells(r: Residual) -> tuple[str, str, str]:
    """Published (k/n), interval and model cells of a table row; an ``imbalance`` point shows
    the published verdict, and the model's ratio with its Katz interval."""
    p = r.point
    if p.metric == "imbalance":
        verdict = "significant" if p.significant else "not significant"
        sig = "significant" if r.lo > 1 else "not sig."
        return f"{verdict} (n={p.n})", f"{r.lo:.3g}–{r.hi:.3g}", f"x{r.model:.3g} {sig}"
    star = "*" if p.n_basis == "assumed" else ""
    pub = f"{_rate(p.published)} ({p.count}/{p.n}{star})"
    return pub, f"{_rate(r.lo)}–{_rate(r.hi)}", _rate(r.model)


def _rate(x: float) -> str:
    """A rate as the terminal tables print percents (:func:`facelab.lab.report.text.pct`)."""
    return pct(x, sep="")


def _sface_rate(sface: Profile, p: Point) -> float | None:
    """sface-synthetic's rate at ``p``'s gallery and threshold (its own scale), or None."""
    if p.threshold is None and p.metric != "fnir" or p.group is not None or p.metric == "imbalance":
        return None  # sface-synthetic has no groups
    cond = p.condition if p.condition in sface.model.genuine else next(iter(sface.model.genuine))
    if p.metric == "fpir" and p.condition not in sface.model.genuine:
        cond = None
    q = Point(**{**p.__dict__, "condition": cond})
    return predict(sface.model, q)


def compare_case(case: str, system: str) -> SystemComparison:
    """The published points of ``case`` in profile ``system`` beside the models' figures.

    Raises
    ------
    ConfigError
        Unknown case or profile, or a profile without points for the case.
    """
    from facelab.lab.cases import CASES

    if case not in CASES:
        raise ConfigError(f"unknown case {case!r} (choose from {', '.join(CASES)})")
    profile = get_profile(system)
    points = [p for p in profile.points if p.case == case]
    if not points:
        cases = sorted({p.case for p in profile.points if p.case})
        have = f"; it has points for {', '.join(cases)}" if cases else ""
        raise ConfigError(
            f"profile {profile.name!r} has no published points for case {case!r}{have}"
        )
    sface = get_profile(DEFAULT)
    rows = tuple((residual(profile.model, p), _sface_rate(sface, p)) for p in points)
    return SystemComparison(case, profile, rows)


def prediction_table(
    profile: Profile,
    galleries,
    *,
    threshold: float | None = None,
    fpir: float | None = None,
    condition: str | None = None,
) -> dict:
    """The model's FPIR and FNIR at gallery sizes, at one threshold or at a target FPIR.

    Returns ``{"profile", "version", "condition", "rows": [{"gallery", "threshold",
    "percent", "fpir", "fnir"}]}``; model predictions, not published figures.

    Raises
    ------
    ConfigError
        Neither or both of ``threshold`` and ``fpir``; a gallery size that is not an integer
        from 1 to 2**63 - 1; a threshold that is not finite, a target FPIR outside (0, 1); an
        unknown condition.
    """
    from facelab.config.validate import option_int, option_number

    if (threshold is None) == (fpir is None):
        raise ConfigError("give exactly one of a threshold and a target FPIR")
    sizes = [option_int("--gallery", n, 1) for n in galleries]
    if not sizes:
        raise ConfigError("--gallery: give at least one gallery size")
    if threshold is not None:
        threshold = option_number("--threshold", threshold)
    if fpir is not None:
        fpir = option_number("--fpir", fpir, 0, 1, lo_open=True, hi_open=True)
    m = profile.model
    cond = condition or next(iter(m.genuine))
    m.condition(cond)
    rows = []
    for n in sizes:
        t = threshold if threshold is not None else m.threshold_at_fpir(n, fpir, cond)
        rows.append(
            {
                "gallery": n,
                "threshold": float(t),
                "percent": profile.scale.to_percent(t),
                "fpir": float(m.fpir(n, t, cond)),
                "fnir": float(m.fnir(n, t, cond)),
            }
        )
    return {"profile": profile.name, "version": profile.version, "condition": cond, "rows": rows}
