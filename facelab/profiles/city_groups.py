"""Who bears a city's errors: a scenario's daily figures per group, under a profile with groups
and the scenario's human reviewer.

``facelab profile city PROFILE --scenario S --threshold PCT --groups light=0.5,dark=0.5`` (or the
scenario's ``[population] groups``) splits the city's searches by group and gives, per group and
per day, with the same 95 % intervals as the city's totals (:func:`city.parameter_draws`):

- **false alerts** = non-mated searches of the group × ``FPIR_g(N, T)``, and **true alerts** =
  mated searches × ``TPIR_g(N, T)``, where ``g``'s rates are those of the profile group its
  band borrows through a named group map (:class:`facelab.profiles.groups.GroupMap`, a what-if,
  never an equivalence between a band of synthetic faces and a group of real people);
- the reviewer (``[review]``, ``docs/reviewer.md``) confirms a true alert with probability
  ``p_confirm_true`` and a false one with ``p_confirm_false``: **stops** = confirmed alerts =
  true stops + **innocent stops** (confirmed false alerts);
- **innocent people stopped**: distinct people not on the watchlist stopped at least once a
  day, ``Σ_k d_k (1 − (1 − FPIR_g p_false)^k)`` over the person-days ``d_k`` with ``k`` passes
  at FR cameras (passes taken as independent searches);
- **wanted people missed**: watchlisted people who passed an FR camera on a day and were not
  stopped on a true alert that day, ``Σ_k d_k (1 − TPIR_g p_true)^k``;
- **reviewer hours** = alerts × ``seconds_per_alert``.

Groups split the searches by their shares (every person's passes count for their group; the
world itself has no faces to measure here). The totals are the sums over groups, draw by
draw. The reviewer's automation bias and queue effect need each alert's displayed score and
queue, which a score model has not: a scenario that sets them is refused here
(``facelab sweep RUN --review`` applies them to a run's alerts).
"""

from __future__ import annotations

import numpy as np

from facelab.errors import ConfigError
from facelab.profiles.groups import map_shares
from facelab.profiles.profile import Profile

FIGURES = (
    "searches_per_day", "false_alerts_per_day", "true_alerts_per_day", "stops_per_day",
    "innocent_stops_per_day", "innocent_people_per_day", "wanted_missed_per_day",
    "reviewer_hours_per_day",
)  # fmt: skip


def parse_shares(text: str) -> dict[str, float]:
    """``"light=0.5,dark=0.5"`` → shares (checked as ``[population] groups`` are)."""
    from facelab.config.limits import ITA_GROUPS

    out: dict[str, float] = {}
    for part in (x.strip() for x in text.split(",") if x.strip()):
        name, sep, val = part.partition("=")
        name = name.strip()
        if not sep or name not in ITA_GROUPS:
            raise ConfigError(
                f"--groups: {part!r} is not GROUP=SHARE with GROUP one of {', '.join(ITA_GROUPS)}"
            )
        try:
            share = float(val)
        except ValueError:
            raise ConfigError(f"--groups: share of {name!r} is not a number: {val!r}") from None
        if not 0 < share <= 1 or name in out:
            raise ConfigError(f"--groups: {name!r} must appear once with a share in (0, 1]")
        out[name] = share
    if not out or abs(sum(out.values()) - 1) > 1e-6:
        raise ConfigError(f"--groups: shares must sum to 1, got {sum(out.values()):.6g}")
    return out


def group_map(profile: Profile, name: str | None):
    """The profile's group map ``name`` (its only one when ``None``); ConfigError otherwise."""
    maps = profile.group_maps
    if not maps:
        raise ConfigError(
            f"profile {profile.name!r} has no groups ([model.groups] and [group_maps]); "
            "per-group figures need a profile with published group figures"
        )
    if name is None:
        if len(maps) > 1:
            raise ConfigError(f"choose a group map with --group-map ({', '.join(maps)})")
        return next(iter(maps.values()))
    if name not in maps:
        raise ConfigError(f"unknown group map {name!r} (choose from {', '.join(maps)})")
    return maps[name]


def _people(days: dict[int, int], p: float) -> float:
    """``Σ_k d_k (1 − (1 − p)^k)``: person-days with at least one event of probability p."""
    return float(sum(d * -np.expm1(k * np.log1p(-min(p, 1 - 1e-16))) for k, d in days.items()))


def _missed(days: dict[int, int], q: float) -> float:
    """``Σ_k d_k (1 − q)^k``: person-days with no event of probability ``q``."""
    return float(sum(d * (1.0 - q) ** k for k, d in days.items()))


def group_rows(
    models, cond: str, n: int, thresholds, counts, shares, mapping, review
) -> np.ndarray:
    """Figures per draw, scenario group and :data:`FIGURES`: array (draws, groups, figures)."""
    pt, pf = review.p_confirm_true, review.p_confirm_false
    out = np.empty((len(models), len(shares), len(FIGURES)))
    for i, (m, t) in enumerate(zip(models, thresholds)):
        rates = {}
        for pg in set(mapping.values()):
            rates[pg] = (float(m.fpir(n, t, cond, pg)), float(m.tpir(n, t, cond, pg)))
        for j, (g, s) in enumerate(shares.items()):
            f, tp = rates[mapping[g]]
            searches, mated = counts.searches * s, counts.mated * s
            fa, ta = (searches - mated) * f, mated * tp
            out[i, j] = (
                searches, fa, ta, fa * pf + ta * pt, fa * pf,
                s * _people(counts.innocent_days, f * pf) / counts.days,
                s * _missed(counts.wanted_days, tp * pt) / counts.days,
                (fa + ta) * review.seconds_per_alert / 3600,
            )  # fmt: skip
    return out


def group_figures(
    profile: Profile, counts, models, weights, thresholds, cond: str, shares: dict[str, float],
    review, map_name: str | None = None,
) -> dict:  # fmt: skip
    """Per-group and total figures, each ``{"value", "lo", "hi"}`` (the stored model's value and
    the weighted 95 % interval over the draws); see the module docstring.

    Raises
    ------
    ConfigError
        A profile without groups, an unknown map or band, or a reviewer with automation bias or
        queue effect.
    """
    from facelab.profiles.city import weighted_interval

    if review.automation_bias or review.queue_effect:
        raise ConfigError(
            "per-group city figures model the reviewer's base confirm probabilities only; "
            "set [review] automation_bias and queue_effect to 0 (or use facelab sweep RUN --review)"
        )
    gmap = group_map(profile, map_name)
    mapping = map_shares(gmap, shares)
    arr = group_rows(models, cond, counts.watchlist, thresholds, counts, shares, mapping, review)

    def summary(x: np.ndarray) -> dict:
        lo, hi = weighted_interval(x, weights)
        return {"value": float(x[0]), "lo": lo, "hi": hi}

    groups = {}
    for j, g in enumerate(shares):
        groups[g] = {
            "share": shares[g],
            "profile_group": mapping[g],
            **{k: summary(arr[:, j, i]) for i, k in enumerate(FIGURES)},
        }
    total = {k: summary(arr[:, :, i].sum(axis=1)) for i, k in enumerate(FIGURES)}
    return {
        "group_map": gmap.name,
        "group_map_description": gmap.description,
        "reviewer": {
            "p_confirm_true": review.p_confirm_true,
            "p_confirm_false": review.p_confirm_false,
            "seconds_per_alert": review.seconds_per_alert,
        },
        "groups": groups,
        "total": total,
    }
