"""Groups of people in a system profile: their score shifts, their published points, and how a
scenario's groups borrow them.

A profile may carry, where a source publishes figures by group of people:

- ``[model.groups.NAME]``: ``share`` (the group's share of the study population) and
  ``impostor_shift`` (the shift of the impostor mean of searches of the group's people, in
  impostor spreads; :class:`facelab.profiles.model.Group`). Shares sum to 1. Instead of
  ``impostor_shift`` a group may give ``shift_from``, a table ``{GROUP = weight, ...}`` of
  other groups (which give their own shift): its shift is then ``Σ weight × shift`` of those,
  a structural assumption (e.g. additive race and sex effects on the impostor scale) that lets
  a fit of some groups *predict* this one's rates; it is never a fitted parameter.
- ``[group_maps.NAME]``: ``description`` and ``bands``, a table from each of facelab's measured
  groups (the ITA bands of :data:`facelab.config.limits.ITA_GROUPS`, ``docs/groups.md``) to one
  of the profile's groups. A map is a *what-if*: it applies the rates a source measured on a
  group of real people to a band of a colour measure of synthetic faces. It does not say that
  the band is that group; the map's description must say what it assumes.

Published points about groups (``[[points]]`` with a ``group`` key) are of four kinds:

- ``fmr`` with ``group``: the one-to-one false match rate of comparisons of the group's people
  at a threshold (``gallery`` 1).
- ``fpir`` with ``group``: FPIR of searches of the group's people.
- ``false_share``: of ``n`` false positives at a threshold, ``count`` fell on the group's
  people; the model's share is ``share_g FPIR_g / Σ_h share_h FPIR_h``.
- ``imbalance``: whether the source found a statistically significant difference between the
  groups' FPIRs at a threshold (``significant = true / false``), with ``n`` the non-mated
  searches it rests on. The model predicts the expected false positives of each group
  (``n · share_g · FPIR_g``) and the Katz 95 % interval of the highest over the lowest group's
  rate at those counts (:func:`facelab.lab.groups.ratio_interval`); the point is *inside*
  when the model's verdict (interval above 1 or not) is the source's, a *miss* otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from facelab.config import validate as v
from facelab.config.limits import ITA_GROUPS
from facelab.errors import ConfigError
from facelab.profiles.model import Group, ScoreModel

_GROUP = ("share", "impostor_shift", "shift_from")
_MAP = ("description", "bands")


@dataclass(frozen=True)
class GroupMap:
    """A named map from facelab's measured groups (ITA bands) to a profile's groups."""

    name: str
    description: str
    bands: dict[str, str]


def _named_tables(ctx: v.ErrorContext, t, key: str):
    """``(name, key.name, table)`` of each ``[key.NAME]`` table; one-line ConfigError when
    ``t`` is not a table of tables or a name is not a safe name."""
    if not isinstance(t, dict):
        ctx.fail(key, f"must be a table ([{key}.NAME]), got {v.describe(t)}")
    for name, table in t.items():
        prefix = f"{key}.{v.key_repr(name)}"
        try:
            v.safe_name(name)
        except v.Invalid as exc:
            ctx.fail(prefix, str(exc))
        if not isinstance(table, dict):
            ctx.fail(prefix, f"must be a table, got {v.describe(table)}")
        yield name, prefix, table


def read_groups(ctx: v.ErrorContext, model_table: dict) -> dict[str, Group]:
    """``[model.groups.NAME]`` tables (empty when absent); one-line ConfigError when malformed."""
    groups = {}
    for name, prefix, g in _named_tables(ctx, model_table.get("groups", {}), "model.groups"):
        v.check_keys(ctx, g, prefix, _GROUP)
        share = v.required(ctx, g, prefix, "share", v.probability)
        if share <= 0:
            ctx.fail(f"{prefix}.share", "must be above 0")
        shift = v.optional(ctx, g, prefix, "impostor_shift", v.float_min(-100.0), 0.0)
        if shift > 100:
            ctx.fail(f"{prefix}.impostor_shift", f"must be at most 100, got {shift}")
        terms = ()
        if "shift_from" in g:
            if "impostor_shift" in g:
                ctx.fail(prefix, "give one of 'impostor_shift' and 'shift_from'")
            terms = _shift_from(ctx, g["shift_from"], f"{prefix}.shift_from")
        groups[name] = Group(share, shift, terms)
    if groups and abs(sum(g.share for g in groups.values()) - 1.0) > 1e-6:
        total = sum(g.share for g in groups.values())
        ctx.fail("model.groups", f"shares must sum to 1, got {total:.6g}")
    for name, g in groups.items():
        for other, _ in g.shift_from:
            prefix = f"model.groups.{v.key_repr(name)}.shift_from.{v.key_repr(other)}"
            if other not in groups:
                ctx.fail(prefix, f"unknown group (known: {', '.join(groups)})")
            if groups[other].shift_from:
                ctx.fail(prefix, "names a group whose shift is itself derived (shift_from)")
    return derive(groups)


def _shift_from(ctx: v.ErrorContext, t, prefix: str) -> tuple[tuple[str, float], ...]:
    """``{GROUP = weight}`` as ``((group, weight), ...)``; weights finite, at most 100 in size."""
    if not isinstance(t, dict) or not t:
        ctx.fail(prefix, f"must be a non-empty table {{GROUP = weight}}, got {v.describe(t)}")
    out = []
    for other, w in t.items():
        w = v.required(ctx, t, prefix, other, v.float_min(-100.0))
        if w > 100:
            ctx.fail(f"{prefix}.{v.key_repr(other)}", f"must be at most 100, got {w}")
        out.append((other, float(w)))
    return tuple(out)


def derive(groups: dict[str, Group]) -> dict[str, Group]:
    """``groups`` with every ``shift_from`` group's shift recomputed from the groups it names."""
    out = dict(groups)
    for name, g in groups.items():
        if g.shift_from:
            shift = sum(w * groups[o].impostor_shift for o, w in g.shift_from)
            out[name] = Group(g.share, shift, g.shift_from)
    return out


def read_group_maps(ctx: v.ErrorContext, data: dict, groups: dict) -> dict[str, GroupMap]:
    """``[group_maps.NAME]`` tables; every ITA band mapped to a known group of the profile."""
    t = data.get("group_maps", {})
    if t and isinstance(t, dict) and not groups:
        ctx.fail("group_maps", "needs [model.groups.NAME] tables to map to")
    maps = {}
    for name, prefix, m in _named_tables(ctx, t, "group_maps"):
        v.check_keys(ctx, m, prefix, _MAP)
        desc = v.required(ctx, m, prefix, "description", v.nonempty_string)
        if "bands" not in m:
            ctx.missing(f"{prefix}.bands")
        bands = m["bands"]
        if not isinstance(bands, dict):
            ctx.fail(f"{prefix}.bands", f"must be a table, got {v.describe(bands)}")
        for band, g in bands.items():
            if band not in ITA_GROUPS:
                ctx.fail(f"{prefix}.bands.{v.key_repr(band)}",
                         f"unknown band (choose from {', '.join(ITA_GROUPS)})")  # fmt: skip
            if g not in groups:
                ctx.fail(f"{prefix}.bands.{band}",
                         f"unknown group {g!r} (known: {', '.join(groups)})")  # fmt: skip
        missing = [b for b in ITA_GROUPS if b not in bands]
        if missing:
            ctx.fail(f"{prefix}.bands", f"must map every band; missing {', '.join(missing)}")
        maps[name] = GroupMap(name, desc, dict(bands))
    return maps


def parameter_names(model: ScoreModel) -> list[str]:
    """Fittable group parameters: ``groups.NAME.impostor_shift`` of the groups without
    ``shift_from``."""
    return [f"groups.{g}.impostor_shift" for g, x in model.groups.items() if not x.shift_from]


# -- predictions -------------------------------------------------------------------------------


def group_fpirs(model: ScoreModel, n: float, t: float, condition=None) -> dict[str, float]:
    """FPIR of searches of each group's people at gallery ``n`` and threshold ``t``."""
    return {g: float(model.fpir(n, t, condition, g)) for g in model.groups}


def false_share(model: ScoreModel, n: float, t: float, group: str, condition=None) -> float:
    """Share of false positives falling on ``group``'s people: ``s_g F_g / Σ_h s_h F_h``."""
    model.group(group)
    f = group_fpirs(model, n, t, condition)
    total = sum(model.groups[h].share * f[h] for h in f)
    return model.groups[group].share * f[group] / total if total > 0 else math.nan


@dataclass(frozen=True)
class Imbalance:
    """The model's differential at a threshold, as a study of ``searches`` would measure it."""

    high: str
    low: str
    ratio: float
    lo: float
    hi: float
    counts: dict[str, float]

    @property
    def significant(self) -> bool:
        return bool(self.lo > 1.0)


def imbalance(model: ScoreModel, n: float, t: float, searches: int, condition=None) -> Imbalance:
    """Expected false positives per group among ``searches`` non-mated searches, and the Katz
    95 % interval of the highest over the lowest group's FPIR at those counts."""
    from facelab.lab.groups import ratio_interval

    if len(model.groups) < 2:
        raise ConfigError("an imbalance needs at least two groups in [model.groups]")
    f = group_fpirs(model, n, t, condition)
    high = max(f, key=f.get)
    low = min(f, key=f.get)
    size = {g: searches * model.groups[g].share for g in f}
    counts = {g: size[g] * f[g] for g in f}
    r, lo, hi = ratio_interval(counts[high], size[high], counts[low], size[low])
    return Imbalance(high, low, r, lo, hi, counts)


def map_shares(gmap: GroupMap, shares: dict[str, float]) -> dict[str, str]:
    """The profile group each of a scenario's groups borrows its rates from (ConfigError for a
    group the map does not know)."""
    out = {}
    for g in shares:
        if g not in gmap.bands:
            raise ConfigError(
                f"group map {gmap.name!r} has no band {g!r} (bands: {', '.join(gmap.bands)})"
            )
        out[g] = gmap.bands[g]
    return out
