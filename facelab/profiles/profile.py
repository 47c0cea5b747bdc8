"""System profiles: named, versioned TOML files of a score model and the published points behind it.

A profile file (``facelab/profiles/data/NAME.toml`` for the shipped ones, any path for a user's)
holds:

- ``name``, ``version`` (an integer, raised whenever the model or its points change), ``title``,
  ``system`` (what was measured), optional ``default`` and ``notes``.
- ``[scale]``: the system's own score scale, named — ``name``, ``unit`` (what a threshold in the
  points is), ``percent`` (a facelab mapping of :mod:`facelab.search.percent` that turns that
  score into the percent an operator sees, or ``"none"``), ``description``.
- ``[model]``: the :class:`~facelab.profiles.model.ScoreModel` parameters (``impostor_mu``,
  ``impostor_sigma``, ``rho``, ``[model.genuine.CONDITION]`` with ``dprime``, ``spread`` and
  optional ``impostor_shift``) and
  ``fit``, the parameters fitted to the points (the others are fixed, with the reason in
  ``notes``); optional ``[model.groups.NAME]`` (``share``, ``impostor_shift``) and
  ``[group_maps.NAME]`` where a source publishes figures by group of people
  (:mod:`facelab.profiles.groups`).
- ``[[sources]]``: ``id``, ``citation`` (report, table, page), optional ``url``.
- ``[[points]]``: published operating points, each with its sample size and whether it was
  fitted: ``name``, ``source``, ``where`` (table / page / paragraph), ``metric`` (``fpir``,
  ``tpir``, ``fnir``, or ``fmr``: a one-to-one false match rate, whose ``gallery`` is 1 and
  may be left out), ``gallery`` (N), ``threshold`` (system scale) or ``fpir_target`` (the
  threshold set so that FPIR(N, T) equals it, as NIST reports), ``condition`` (required for
  mated points; for FPIR it picks the condition's impostors, the base ones when absent),
  ``group`` (a ``[model.groups]`` name: the rate of searches of that group's people; required
  for the metrics ``false_share`` and ``imbalance`` of :mod:`facelab.profiles.groups`, which
  take ``significant`` instead of ``count`` / ``value``),
  ``count`` and ``n`` (or ``value`` and ``n``), ``n_basis`` (``reported``, ``derived`` from
  reported figures, or ``assumed`` where no source gives it), ``fitted``, optional ``case``
  (the facelab case it belongs to) and ``note``.

Malformed files are refused with one line naming the file and the key
(:mod:`facelab.config.validate`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from facelab.config import validate as v
from facelab.errors import ConfigError
from facelab.profiles.model import Genuine, ScoreModel

METRICS = ("fpir", "tpir", "fnir", "fmr", "false_share", "imbalance")
N_BASES = ("reported", "derived", "assumed")
PERCENT_MAPPINGS = ("linear", "sigmoid", "none")
DEFAULT = "sface-synthetic"

_TOP = (
    "name",
    "version",
    "title",
    "system",
    "default",
    "notes",
    "scale",
    "model",
    "sources",
    "points",
    "group_maps",
)
_SCALE = ("name", "unit", "percent", "description")
_MODEL = ("impostor_mu", "impostor_sigma", "rho", "fit", "genuine", "groups")
_GENUINE = ("dprime", "spread", "impostor_shift")
_SOURCE = ("id", "citation", "url")
_POINT = (
    "name", "source", "where", "metric", "gallery", "threshold", "fpir_target", "condition",
    "count", "value", "n", "n_basis", "fitted", "case", "note", "group", "significant",
)  # fmt: skip


@dataclass(frozen=True)
class Scale:
    """The system's own score scale and the percent an operator sees."""

    name: str
    unit: str
    percent: str
    description: str

    def to_percent(self, score: float) -> float | None:
        """The displayed percent of a score on this scale (``None`` when there is none)."""
        if self.percent == "none":
            return None
        from facelab.search import percent as pct

        return float(pct.get_mapping(self.percent).to_percent(score))


@dataclass(frozen=True)
class Source:
    id: str
    citation: str
    url: str


@dataclass(frozen=True)
class Point:
    """One published operating point with its evidence (see the module docstring)."""

    name: str
    source: str
    where: str
    metric: str
    gallery: int
    threshold: float | None
    fpir_target: float | None
    condition: str | None
    count: int
    n: int
    n_basis: str
    fitted: bool
    case: str | None
    note: str
    group: str | None = None
    significant: bool | None = None

    @property
    def published(self) -> float:
        """``count / n`` (for an ``imbalance`` point: 1 if the source found it significant)."""
        if self.metric == "imbalance":
            return float(bool(self.significant))
        return self.count / self.n


@dataclass(frozen=True)
class Profile:
    """A loaded profile file."""

    name: str
    version: int
    title: str
    system: str
    default: bool
    notes: str
    scale: Scale
    model: ScoreModel
    fit: tuple[str, ...]
    sources: tuple[Source, ...]
    points: tuple[Point, ...]
    path: Path
    group_maps: dict = field(default_factory=dict)

    @property
    def fitted_points(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if p.fitted)

    @property
    def held_out(self) -> tuple[Point, ...]:
        return tuple(p for p in self.points if not p.fitted)

    def source(self, sid: str) -> Source:
        return next(s for s in self.sources if s.id == sid)


# -- reading -------------------------------------------------------------------------------------


def _array_of_tables(ctx: v.ErrorContext, data: dict, key: str) -> list[dict]:
    items = data.get(key, [])
    if not isinstance(items, list) or not all(isinstance(t, dict) for t in items):
        ctx.fail(key, f"must be an array of tables ([[{key}]]), got {v.describe(items)}")
    return items


def _string_list(value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise v.Invalid(f"must be an array of strings, got {v.describe(value)}")
    return tuple(value)


def _model(ctx: v.ErrorContext, data: dict) -> tuple[ScoreModel, tuple[str, ...]]:
    t = v.required_table(ctx, data, "model")
    v.check_keys(ctx, t, "model", _MODEL)
    mu = v.required(ctx, t, "model", "impostor_mu", v.float_min(-1e6))
    sigma = v.required(ctx, t, "model", "impostor_sigma", v.positive_float)
    rho = v.required(ctx, t, "model", "rho", v.probability)
    if rho >= 1.0:
        ctx.fail("model.rho", f"must be below 1, got {rho}")
    gen_t = t.get("genuine", {})
    if not isinstance(gen_t, dict) or not gen_t:
        ctx.fail("model.genuine", "must be a table of capture conditions ([model.genuine.NAME])")
    genuine = {}
    for cond, g in gen_t.items():
        prefix = f"model.genuine.{v.key_repr(cond)}"
        if not isinstance(g, dict):
            ctx.fail(prefix, f"must be a table, got {v.describe(g)}")
        v.check_keys(ctx, g, prefix, _GENUINE)
        genuine[cond] = Genuine(
            v.required(ctx, g, prefix, "dprime", v.float_min(-100.0)),
            v.required(ctx, g, prefix, "spread", v.positive_float),
            v.optional(ctx, g, prefix, "impostor_shift", v.float_min(-100.0), 0.0),
        )
    from facelab.profiles.groups import read_groups

    model = ScoreModel(mu, sigma, rho, genuine, read_groups(ctx, t))
    fit = v.required(ctx, t, "model", "fit", _string_list)
    known = _parameter_names(model)
    for name in fit:
        if name not in known:
            ctx.fail("model.fit", f"unknown parameter {name!r} (known: {', '.join(known)})")
    return model, fit


def _parameter_names(model: ScoreModel) -> tuple[str, ...]:
    names = ["impostor_mu", "impostor_sigma", "rho"]
    for cond in model.genuine:
        names += [f"genuine.{cond}.{k}" for k in _GENUINE]
    from facelab.profiles.groups import parameter_names

    return tuple(names + parameter_names(model))


def _point(ctx: v.ErrorContext, t: dict, i: int, sources: set[str], model: ScoreModel) -> Point:
    prefix = f"points[{i}]"
    v.check_keys(ctx, t, prefix, _POINT)
    name = v.required(ctx, t, prefix, "name", v.safe_name)
    source = v.required(ctx, t, prefix, "source", v.nonempty_string)
    if source not in sources:
        ctx.fail(
            f"{prefix}.source", f"unknown source {source!r} (known: {', '.join(sorted(sources))})"
        )
    metric = v.required(ctx, t, prefix, "metric", v.choice(METRICS, "metric"))
    threshold = v.optional(ctx, t, prefix, "threshold", v.float_min(-1e6), None)
    target = v.optional(ctx, t, prefix, "fpir_target", v.probability, None)
    if (threshold is None) == (target is None):
        ctx.fail(prefix, "needs exactly one of 'threshold' and 'fpir_target'")
    condition = v.optional(ctx, t, prefix, "condition", v.nonempty_string, None)
    if metric in ("tpir", "fnir") and condition is None:
        ctx.missing(f"{prefix}.condition")
    if condition is not None and condition not in model.genuine:
        ctx.fail(
            f"{prefix}.condition",
            f"unknown condition {condition!r} (known: {', '.join(model.genuine)})",
        )
    group = v.optional(ctx, t, prefix, "group", v.nonempty_string, None)
    if group is not None and group not in model.groups:
        known = ", ".join(model.groups) or "none: the profile has no [model.groups]"
        ctx.fail(f"{prefix}.group", f"unknown group {group!r} (known: {known})")
    if metric in ("false_share", "imbalance") and threshold is None:
        ctx.missing(f"{prefix}.threshold")
    if metric == "false_share" and group is None:
        ctx.missing(f"{prefix}.group")
    if metric in ("tpir", "fnir") and group is not None:
        ctx.fail(f"{prefix}.group", "a group shifts impostor scores: mated points take none")
    significant = None
    if metric != "imbalance" and "significant" in t:
        ctx.fail(f"{prefix}.significant", "only an 'imbalance' point takes one")
    n = v.required(ctx, t, prefix, "n", v.int_min(1))
    if metric == "imbalance":
        if len(model.groups) < 2:
            ctx.fail(prefix, "an imbalance point needs at least two [model.groups]")
        significant = v.required(ctx, t, prefix, "significant", v.boolean)
        count = 0
    elif "count" in t:
        count = v.required(ctx, t, prefix, "count", v.int_min(0))
        if count > n:
            ctx.fail(f"{prefix}.count", f"must be <= n ({n}), got {count}")
    else:
        value = v.required(ctx, t, prefix, "value", v.probability)
        count = round(value * n)
    return Point(
        name=name,
        source=source,
        where=v.required(ctx, t, prefix, "where", v.nonempty_string),
        metric=metric,
        gallery=_gallery(ctx, t, prefix, metric),
        threshold=threshold,
        fpir_target=target,
        condition=condition,
        count=count,
        n=n,
        n_basis=v.required(ctx, t, prefix, "n_basis", v.choice(N_BASES, "n_basis")),
        fitted=v.required(ctx, t, prefix, "fitted", v.boolean),
        case=v.optional(ctx, t, prefix, "case", v.safe_name, None),
        note=v.optional(ctx, t, prefix, "note", v.string, ""),
        group=group,
        significant=significant,
    )


def _gallery(ctx: v.ErrorContext, t: dict, prefix: str, metric: str) -> int:
    """A point's gallery size; a one-to-one ``fmr`` point's is 1 (and may be left out)."""
    if metric != "fmr":
        return v.required(ctx, t, prefix, "gallery", v.int_min(1))
    gallery = v.optional(ctx, t, prefix, "gallery", v.int_min(1), 1)
    if gallery != 1:
        ctx.fail(f"{prefix}.gallery", f"an 'fmr' point is one-to-one: must be 1, got {gallery}")
    return gallery


def parse_profile(text: str, source: str, path: Path | None = None) -> Profile:
    """Parse and check a profile's TOML text; ``source`` names it in error messages."""
    ctx = v.ErrorContext(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid TOML: arrays or tables nested too deeply") from None
    v.check_keys(ctx, data, "", _TOP)
    scale_t = v.required_table(ctx, data, "scale")
    v.check_keys(ctx, scale_t, "scale", _SCALE)
    scale = Scale(
        v.required(ctx, scale_t, "scale", "name", v.safe_name),
        v.required(ctx, scale_t, "scale", "unit", v.nonempty_string),
        v.required(ctx, scale_t, "scale", "percent", v.choice(PERCENT_MAPPINGS, "percent mapping")),
        v.required(ctx, scale_t, "scale", "description", v.nonempty_string),
    )
    model, fit = _model(ctx, data)
    sources = []
    for i, s in enumerate(_array_of_tables(ctx, data, "sources")):
        v.check_keys(ctx, s, f"sources[{i}]", _SOURCE)
        sources.append(
            Source(
                v.required(ctx, s, f"sources[{i}]", "id", v.safe_name),
                v.required(ctx, s, f"sources[{i}]", "citation", v.nonempty_string),
                v.optional(ctx, s, f"sources[{i}]", "url", v.string, ""),
            )
        )
    if not sources:
        ctx.missing("sources")
    ids = {s.id for s in sources}
    points = tuple(
        _point(ctx, t, i, ids, model) for i, t in enumerate(_array_of_tables(ctx, data, "points"))
    )
    if not points:
        ctx.missing("points")
    names = [p.name for p in points]
    dup = next((x for x in names if names.count(x) > 1), None)
    if dup:
        ctx.fail("points", f"point name {dup!r} appears twice")
    from facelab.profiles.groups import read_group_maps

    group_maps = read_group_maps(ctx, data, model.groups)
    return Profile(
        name=v.required(ctx, data, "", "name", v.safe_name),
        version=v.required(ctx, data, "", "version", v.int_min(1)),
        title=v.required(ctx, data, "", "title", v.nonempty_string),
        system=v.required(ctx, data, "", "system", v.nonempty_string),
        default=v.optional(ctx, data, "", "default", v.boolean, False),
        notes=v.optional(ctx, data, "", "notes", v.string, ""),
        scale=scale,
        model=model,
        fit=fit,
        sources=tuple(sources),
        points=points,
        path=path or Path(source),
        group_maps=group_maps,
    )


def load_profile(path: str | Path) -> Profile:
    """Load a profile file; ConfigError (one line, naming the file and key) if malformed, or
    not a regular file of at most ``MAX_SCENARIO_BYTES`` (:func:`facelab.fileio.read_user_file`:
    a FIFO never blocks)."""
    from facelab.config.limits import MAX_SCENARIO_BYTES
    from facelab.fileio import read_user_file

    path = Path(path)
    raw = read_user_file(path, max_bytes=MAX_SCENARIO_BYTES, error=ConfigError,
                         prefix=f"{path}: cannot read profile")  # fmt: skip
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return parse_profile(text, path.name, path)


def _data_dir() -> Path:
    return Path(str(resources.files("facelab.profiles") / "data"))


def shipped() -> dict[str, Path]:
    """Shipped profile name → file, sorted by name."""
    return {p.stem: p for p in sorted(_data_dir().glob("*.toml"))}


def get_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name, or a profile file by path."""
    files = shipped()
    if str(name_or_path) in files:
        return load_profile(files[str(name_or_path)])
    p = Path(name_or_path)
    if p.suffix == ".toml":
        return load_profile(p)
    raise ConfigError(
        f"unknown system profile {str(name_or_path)!r} (choose from {', '.join(files)})"
    )
