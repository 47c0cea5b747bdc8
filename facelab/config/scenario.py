"""TOML scenario → validated frozen dataclasses.

A scenario describes one simulated city: its population, cameras (some configured for face
recognition, "FR"), the watchlist, thresholds, retention and policy. :func:`load_scenario`
reads a file (or a bundled preset by name), :func:`parse_scenario` validates an already parsed
table. Every problem raises :class:`~facelab.errors.ConfigError` with a one-line message naming
the file and the dotted key, e.g.::

    classroom.toml: cameras[2].kind: unknown camera kind 'bus' (choose from entrance, ...)

Array positions in keys (``cameras[2]``) count from 0. Unknown keys are errors at every level
(typo protection). Defaults are the constants of :mod:`facelab.config.defaults`, allowed
choices and numeric bounds those of :mod:`facelab.config.limits`; the built-in quality profiles
``good``, ``fair`` and ``poor`` (:data:`facelab.config.quality.BUILTIN_QUALITY`) always exist
and a scenario may override any of their fields. Each table is read by
:mod:`facelab.config.tables` into its dataclass of :mod:`facelab.config.sections`.

Schema (defaults in brackets)::

    name = "classroom"          # [file stem]
    description = "..."         # [""]
    seed = 7                    # int >= 0, required
    start = 2026-03-02          # TOML date or "YYYY-MM-DD", required
    days = 3                    # int >= 1, required
    mode = "image"              # image | embedding  ["image"]
    [population]  size = 60     # required
    [movement]    passes_per_day, active_hours, commuter_share, presence
    [[cameras]]   id, kind, station, fr [false], resolution [[640, 480]], quality ["good"]
    [[camera_groups]] prefix, count, kind, stations (int or list of names), fr_fraction [0],
                  resolution, quality      -> ids PREFIX-0001 ...; int stations are named
                  station-001 ... so that several groups can share stations
    [quality.NAME] base [NAME if built-in else "good"], face_px, blur_sigma, noise_sd,
                  jpeg_quality, brightness, occlusion_prob
    [variation]   latent_sigma [0.25], enrol_sigma [0.15]
    [watchlist]   size, in_city (required)
    [thresholds]  mapping ["linear"], alert_percent [60.0], per_camera {camera id = percent}
    [retention]   days [30], unmatched_days [=days], matched_days [=days], case_hold [true]
    [policy]      require_reason [true], frame_interval_s [2]
    [archive]     kind ["flat"] (flat | sq8 | ivf-flat | ivf-sq8 | ivf-pq), nprobe [a share of
                  each IVF day shard's lists]; the kind the pipeline builds the day shards as
    [detection]   regions ["motion"] (motion | full): detect faces where a fixed camera's frame
                  changed (facelab.world.motion), or always in the whole frame;
                  backend ["onnxruntime"] (auto | onnxruntime | openvino): where the models run
    [system]      profile [none]: a system profile (facelab profiles) whose score scale the
                  embedding run's candidate scores are carried onto (facelab.profiles.emulate)
    [review]      seconds_per_alert [10], p_confirm_true [0.94], p_confirm_false [0.14],
                  automation_bias [0], queue_effect [0]: the human who reviews each alert
                  (facelab.lab.reviewer)
    [limits]      memory_gib [8], disk_gib [100],
                  cameras [100000], days [3660]: what the scenario may need; a scenario whose
                  estimated memory (world and one day) or run-directory size, cameras or days
                  exceed them is refused at load, before anything is allocated
                  (facelab.config.resources)

Integers are at most 2**63 - 1 (the run database stores signed 64-bit integers), frames at most
8192x8192 pixels, and the last day must fall before the year 10000. ``thresholds.mapping`` is
one the pipeline alerts with (``linear`` or ``sigmoid``; ``log-fmr`` is a sweep mapping).
Scenario files over 4 MiB, and files that are not regular files (folders, FIFOs, devices), are
refused before reading (:func:`facelab.fileio.read_user_file`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facelab.config.defaults import DEFAULT_DESCRIPTION, DEFAULT_MODE
from facelab.config.limits import MAX_SCENARIO_BYTES, MIN_DAYS, MIN_SEED, MODES
from facelab.config.quality import QualityProfile
from facelab.config.resources import check_resources
from facelab.config.sections import (
    ArchiveSpec,
    CameraGroupSpec,
    CameraSpec,
    DetectionSpec,
    LimitsSpec,
    MovementSpec,
    PolicySpec,
    PopulationSpec,
    RetentionSpec,
    ReviewSpec,
    SystemSpec,
    ThresholdSpec,
    VariationSpec,
    WatchlistSpec,
)
from facelab.config.tables import (
    check_unique_ids,
    expand_groups,
    read_archive,
    read_cameras,
    read_detection,
    read_groups,
    read_limits,
    read_movement,
    read_policy,
    read_population,
    read_quality,
    read_retention,
    read_review,
    read_system,
    read_thresholds,
    read_variation,
    read_watchlist,
)
from facelab.config.validate import (
    ErrorContext,
    calendar_date,
    check_int,
    check_keys,
    choice,
    describe,
    int_min,
    key_repr,
    optional,
    optional_table,
    required,
    required_table,
    safe_name,
    string,
)
from facelab.errors import ConfigError
from facelab.fileio import read_user_file
from facelab.paths import scenarios_dir

__all__ = ["Scenario", "load_scenario", "parse_scenario", "preset_names"]

#: Keys of the top-level table, in schema order.
_TOP_KEYS = (
    "name",
    "description",
    "seed",
    "start",
    "days",
    "mode",
    "population",
    "movement",
    "cameras",
    "camera_groups",
    "quality",
    "variation",
    "watchlist",
    "thresholds",
    "retention",
    "policy",
    "archive",
    "detection",
    "system",
    "review",
    "limits",
)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build it with :func:`load_scenario` or :func:`parse_scenario`.

    ``cameras`` holds the explicit cameras first, then each group's cameras expanded in order.
    ``source`` is the file name used in error messages.
    """

    name: str
    description: str
    seed: int
    start: _dt.date
    days: int
    mode: str
    population: PopulationSpec
    movement: MovementSpec
    cameras: tuple[CameraSpec, ...]
    camera_groups: tuple[CameraGroupSpec, ...]
    quality: dict[str, QualityProfile] = field(hash=False)
    variation: VariationSpec
    watchlist: WatchlistSpec
    thresholds: ThresholdSpec
    retention: RetentionSpec
    policy: PolicySpec
    archive: ArchiveSpec = ArchiveSpec()
    detection: DetectionSpec = DetectionSpec()
    limits: LimitsSpec = LimitsSpec()
    system: SystemSpec = SystemSpec()
    review: ReviewSpec = ReviewSpec()
    source: str = field(default="<scenario>", compare=False)

    # ---- derived views

    @property
    def fr_cameras(self) -> tuple[CameraSpec, ...]:
        """The cameras configured for face recognition, in camera-index order."""
        return tuple(c for c in self.cameras if c.fr)

    @property
    def fr_camera_indices(self) -> tuple[int, ...]:
        """Indexes into :attr:`cameras` of the FR cameras."""
        return tuple(i for i, c in enumerate(self.cameras) if c.fr)

    @property
    def stations(self) -> tuple[str, ...]:
        """Distinct station names in order of first appearance among :attr:`cameras`."""
        return tuple(dict.fromkeys(c.station for c in self.cameras))

    def camera_index(self, camera_id: str) -> int:
        """Index of the camera ``camera_id`` in :attr:`cameras` (``KeyError`` if unknown)."""
        for i, c in enumerate(self.cameras):
            if c.id == camera_id:
                return i
        raise KeyError(f"unknown camera id {camera_id!r}")

    def threshold_for(self, camera_id: str) -> float:
        """Alert threshold in percent for ``camera_id``: its override, else ``alert_percent``.

        Raises ``KeyError`` for a camera id the scenario does not have.
        """
        if camera_id in self.thresholds.per_camera:
            return self.thresholds.per_camera[camera_id]
        if not any(c.id == camera_id for c in self.cameras):
            raise KeyError(f"unknown camera id {camera_id!r}")
        return self.thresholds.alert_percent

    # ---- changes and records

    def with_overrides(self, **kw: Any) -> Scenario:
        """A copy with top-level fields replaced (``dataclasses.replace``), re-validated.

        A new ``seed`` re-draws which cameras of each group are FR (unless ``cameras`` is
        given too). Raises ``ConfigError`` for invalid values.
        """
        ctx = ErrorContext(self.source)
        if "seed" in kw:
            check_int(ctx, "seed", kw["seed"], minimum=MIN_SEED)
        if "days" in kw:
            check_int(ctx, "days", kw["days"], minimum=MIN_DAYS)
        if "mode" in kw and kw["mode"] not in MODES:
            ctx.fail("mode", f"unknown mode {kw['mode']!r} (choose from {', '.join(MODES)})")
        new = dataclasses.replace(self, **kw)
        if "seed" in kw and "cameras" not in kw and new.camera_groups:
            explicit = tuple(c for c in new.cameras if c.group is None)
            new = dataclasses.replace(
                new, cameras=explicit + expand_groups(new.camera_groups, new.seed)
            )
        _check_consistency(ctx, new)
        return new

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict in the TOML schema, every default filled in.

        Groups stay groups (FR flags are re-derived from the seed), so
        ``parse_scenario(s.to_dict(), s.source) == s``. The ``archive`` and ``detection`` tables
        (and ``limits``) are left out while they hold the defaults, so that runs made before they existed keep
        their fingerprint (:func:`facelab.run.pipeline.scenario_fingerprint`) and can be resumed.
        """
        out = {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "mode": self.mode,
            "population": self.population.to_dict(),
            "movement": {
                "passes_per_day": list(self.movement.passes_per_day),
                "active_hours": list(self.movement.active_hours),
                "commuter_share": self.movement.commuter_share,
                "presence": self.movement.presence,
            },
            "cameras": [c.to_dict() for c in self.cameras if c.group is None],
            "camera_groups": [g.to_dict() for g in self.camera_groups],
            "quality": {name: q.to_dict() for name, q in self.quality.items()},
            "variation": {
                "latent_sigma": self.variation.latent_sigma,
                "enrol_sigma": self.variation.enrol_sigma,
            },
            "watchlist": {"size": self.watchlist.size, "in_city": self.watchlist.in_city},
            "thresholds": {
                "mapping": self.thresholds.mapping,
                "alert_percent": self.thresholds.alert_percent,
                "per_camera": dict(self.thresholds.per_camera),
            },
            "retention": {
                "days": self.retention.days,
                "unmatched_days": self.retention.unmatched_days,
                "matched_days": self.retention.matched_days,
                "case_hold": self.retention.case_hold,
            },
            "policy": {
                "require_reason": self.policy.require_reason,
                "frame_interval_s": self.policy.frame_interval_s,
            },
        }
        if self.archive != ArchiveSpec():
            out["archive"] = self.archive.to_dict()
        if self.detection != DetectionSpec():
            out["detection"] = self.detection.to_dict()
        if self.limits != LimitsSpec():
            out["limits"] = self.limits.to_dict()
        if self.system != SystemSpec():
            out["system"] = self.system.to_dict()
        if self.review != ReviewSpec():
            out["review"] = self.review.to_dict()
        return out


def _check_consistency(ctx: ErrorContext, s: Scenario) -> None:
    """Cross-field rules and the resource limits, checked after parsing and after overrides."""
    if s.watchlist.in_city > s.watchlist.size:
        ctx.fail(
            "watchlist.in_city",
            f"{s.watchlist.in_city} is more than watchlist.size ({s.watchlist.size})",
        )
    if s.watchlist.in_city > s.population.size:
        ctx.fail(
            "watchlist.in_city",
            f"{s.watchlist.in_city} is more than population.size ({s.population.size})",
        )
    if s.population.groups is not None and s.mode != "image":
        ctx.fail("population.groups", "groups are measured on rendered faces: they need "
                 "mode = \"image\" (the embedding twin draws no faces)")  # fmt: skip
    if s.system.profile is not None and s.mode != "embedding":
        ctx.fail("system.profile", "a system profile drives an embedding-mode run: set "
                 'mode = "embedding"')  # fmt: skip
    ids = {c.id for c in s.cameras}
    for cid in s.thresholds.per_camera:
        if cid not in ids:
            hint = difflib.get_close_matches(cid, sorted(ids), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            ctx.fail(f"thresholds.per_camera.{key_repr(cid)}", f"unknown camera id {cid!r}{more}")
    check_resources(ctx, s)


# --------------------------------------------------------------------------- loading


def _is_path_like(arg: str | Path) -> bool:
    if isinstance(arg, Path):
        return True
    return arg.endswith(".toml") or "/" in arg or "\\" in arg


def preset_names() -> tuple[str, ...]:
    """Names of the bundled scenario presets."""
    folder = scenarios_dir()
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.stem for p in folder.glob("*.toml")))


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Read and validate a scenario file, or a bundled preset by name.

    Parameters
    ----------
    path_or_name : str or Path
        A path (anything ending in ``.toml`` or holding a slash, or a ``Path``), or the name of
        a preset in :func:`facelab.paths.scenarios_dir` (``"classroom"``, ``"metro"``).

    Raises
    ------
    ConfigError
        Unknown preset, unreadable file, invalid TOML, or any invalid key.
    """
    if _is_path_like(path_or_name):
        path = Path(path_or_name)
    else:
        path = scenarios_dir() / f"{path_or_name}.toml"
        if not path.is_file():
            names = ", ".join(preset_names()) or "none found"
            raise ConfigError(
                f"unknown scenario {str(path_or_name)!r}: not a preset (presets: {names}) "
                "and not a path (paths end in .toml or contain a slash)"
            )
    source = path.name
    raw = read_user_file(
        path, max_bytes=MAX_SCENARIO_BYTES, error=ConfigError,
        prefix=f"{source}: cannot read scenario file {str(path)!r}",
    )  # fmt: skip
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
    return parse_scenario(data, source)


def parse_scenario(data: dict, source: str) -> Scenario:
    """Validate a parsed TOML table (or a :meth:`Scenario.to_dict`) into a :class:`Scenario`.

    Parameters
    ----------
    data : dict
        The table.
    source : str
        File name used in messages and as the default ``name`` (its stem).

    Raises
    ------
    ConfigError
        Naming ``source`` and the dotted key of the first problem found.
    """
    ctx = ErrorContext(source)
    if not isinstance(data, dict):
        ctx.fail("<top>", f"must be a table, got {describe(data)}")
    check_keys(ctx, data, "", _TOP_KEYS)
    limits = read_limits(ctx, optional_table(ctx, data, "limits"))

    name = optional(ctx, data, "", "name", safe_name, Path(source).stem or "scenario")
    description = optional(ctx, data, "", "description", string, DEFAULT_DESCRIPTION)
    seed = required(ctx, data, "", "seed", int_min(MIN_SEED))
    start = required(ctx, data, "", "start", calendar_date)
    days = required(ctx, data, "", "days", int_min(MIN_DAYS))
    if days > limits.days:
        ctx.fail("days", f"{days} days is more than the limit of {limits.days} "
                 "(raise [limits] days if this is meant)")  # fmt: skip
    mode = optional(ctx, data, "", "mode", choice(MODES, "mode"), DEFAULT_MODE)
    population = read_population(ctx, required_table(ctx, data, "population"))
    movement = read_movement(ctx, optional_table(ctx, data, "movement"))
    quality = read_quality(ctx, optional_table(ctx, data, "quality"))
    cameras = read_cameras(ctx, data.get("cameras", None), quality)
    groups = read_groups(
        ctx, data.get("camera_groups", None), quality, max(0, limits.cameras - len(cameras))
    )
    if not cameras and not groups:
        ctx.fail("cameras", "the scenario has no cameras: give [[cameras]] or [[camera_groups]]")
    all_cameras = cameras + expand_groups(groups, seed)
    check_unique_ids(ctx, cameras, groups)
    variation = read_variation(ctx, optional_table(ctx, data, "variation"))
    watchlist = read_watchlist(ctx, required_table(ctx, data, "watchlist"))
    thresholds = read_thresholds(ctx, optional_table(ctx, data, "thresholds"))
    retention = read_retention(ctx, optional_table(ctx, data, "retention"))
    policy = read_policy(ctx, optional_table(ctx, data, "policy"))
    archive = read_archive(ctx, optional_table(ctx, data, "archive"))
    detection = read_detection(ctx, optional_table(ctx, data, "detection"))
    system = read_system(ctx, optional_table(ctx, data, "system"))
    review = read_review(ctx, optional_table(ctx, data, "review"))

    scenario = Scenario(
        name=name,
        description=description,
        seed=seed,
        start=start,
        days=days,
        mode=mode,
        population=population,
        movement=movement,
        cameras=all_cameras,
        camera_groups=groups,
        quality=quality,
        variation=variation,
        watchlist=watchlist,
        thresholds=thresholds,
        retention=retention,
        policy=policy,
        archive=archive,
        detection=detection,
        limits=limits,
        system=system,
        review=review,
        source=source,
    )
    _check_consistency(ctx, scenario)
    return scenario
