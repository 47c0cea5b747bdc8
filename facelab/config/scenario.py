"""TOML scenario → validated frozen dataclasses.

A scenario describes one simulated city: its population, cameras (some configured for face
recognition, "FR"), the watchlist, thresholds, retention and policy. :func:`load_scenario`
reads a file (or a bundled preset by name), :func:`parse_scenario` validates an already parsed
table. Every problem raises :class:`~facelab.errors.ConfigError` with a one-line message naming
the file and the dotted key, e.g.::

    classroom.toml: cameras[2].kind: unknown camera kind 'bus' (choose from entrance, ...)

Array positions in keys (``cameras[2]``) count from 0. Unknown keys are errors at every level
(typo protection). Defaults are the ``DEFAULT_*`` module constants; the built-in quality
profiles ``good``, ``fair`` and ``poor`` (:data:`BUILTIN_QUALITY`) always exist and a scenario
may override any of their fields.

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
                  changed (facelab.world.motion), or always in the whole frame
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from facelab.errors import ConfigError
from facelab.paths import scenarios_dir

__all__ = [
    "ARCHIVE_KINDS",
    "BUILTIN_QUALITY",
    "CAMERA_KINDS",
    "MODES",
    "ArchiveSpec",
    "CameraGroupSpec",
    "CameraSpec",
    "DETECTION_REGIONS",
    "DetectionSpec",
    "MovementSpec",
    "PolicySpec",
    "PopulationSpec",
    "QualityProfile",
    "RetentionSpec",
    "Scenario",
    "ThresholdSpec",
    "VariationSpec",
    "WatchlistSpec",
    "load_scenario",
    "parse_scenario",
]

# --------------------------------------------------------------------------- constants

CAMERA_KINDS: tuple[str, ...] = ("entrance", "metro_gate", "platform", "street")
MODES: tuple[str, ...] = ("image", "embedding")

DEFAULT_DESCRIPTION = ""
DEFAULT_MODE = "image"
DEFAULT_PASSES_PER_DAY: tuple[int, int] = (2, 4)
DEFAULT_ACTIVE_HOURS: tuple[int, int] = (6, 23)
DEFAULT_COMMUTER_SHARE = 0.7
DEFAULT_PRESENCE = 0.9
DEFAULT_CAMERA_FR = False
DEFAULT_RESOLUTION: tuple[int, int] = (640, 480)
MIN_RESOLUTION: tuple[int, int] = (160, 120)
DEFAULT_QUALITY = "good"
DEFAULT_FR_FRACTION = 0.0
DEFAULT_LATENT_SIGMA = 0.25  # genuine cosine ≈ 0.7 through camera frames: mid 50–80 % band
DEFAULT_ENROL_SIGMA = 0.15
DEFAULT_MAPPING = "linear"
DEFAULT_ALERT_PERCENT = 60.0
DEFAULT_RETENTION_DAYS = 30
DEFAULT_CASE_HOLD = True
DEFAULT_REQUIRE_REASON = True
DEFAULT_FRAME_INTERVAL_S = 2
DEFAULT_ARCHIVE_KIND = "flat"
DEFAULT_DETECTION_REGIONS = "motion"
#: Where the image pipeline runs the face detector (``[detection] regions``).
DETECTION_REGIONS: tuple[str, ...] = ("motion", "full")

#: Day-shard kinds :class:`facelab.search.archive.DayShardArchive` builds (``[archive] kind``); defined
#: here, and imported by :mod:`facelab.search.archive`, so that parsing a scenario does not load faiss.
ARCHIVE_KINDS: tuple[str, ...] = ("flat", "ivf-flat", "ivf-pq", "sq8", "ivf-sq8")

#: Seed-stream constant for choosing which cameras of a group are FR (see :mod:`facelab.world.world`).
STREAM_FR_CAMERAS = 0x46520001

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class QualityProfile:
    """How a camera degrades the faces it sees.

    Attributes
    ----------
    name : str
    face_px : tuple[int, int]
        Inclusive range of the face box side in pixels.
    blur_sigma : float
        Gaussian blur sigma in pixels (0 = none).
    noise_sd : float
        Standard deviation of additive sensor noise, in 0–255 grey levels.
    jpeg_quality : int
        JPEG quality 1–100 the frame is compressed at.
    brightness : tuple[float, float]
        Range of the multiplicative brightness factor.
    occlusion_prob : float
        Probability that a face is partly occluded.
    """

    name: str
    face_px: tuple[int, int]
    blur_sigma: float
    noise_sd: float
    jpeg_quality: int
    brightness: tuple[float, float]
    occlusion_prob: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "face_px": list(self.face_px),
            "blur_sigma": self.blur_sigma,
            "noise_sd": self.noise_sd,
            "jpeg_quality": self.jpeg_quality,
            "brightness": list(self.brightness),
            "occlusion_prob": self.occlusion_prob,
        }


#: Built-in quality profiles; a scenario's ``[quality.NAME]`` tables override their fields.
BUILTIN_QUALITY: dict[str, QualityProfile] = {
    "good": QualityProfile("good", (64, 120), 0.4, 2.0, 92, (0.9, 1.1), 0.0),
    "fair": QualityProfile("fair", (40, 80), 0.9, 5.0, 80, (0.75, 1.2), 0.1),
    "poor": QualityProfile("poor", (24, 48), 1.6, 9.0, 60, (0.55, 1.35), 0.25),
}


@dataclass(frozen=True)
class CameraSpec:
    """One camera. Its position in :attr:`Scenario.cameras` is its camera index.

    Attributes
    ----------
    id : str
        Unique camera id, e.g. ``"gate-0001"``.
    kind : str
        One of :data:`CAMERA_KINDS`.
    station : str
        The place the camera watches (a metro station, a street corner, a building).
    fr : bool
        Whether the camera is configured for face recognition.
    resolution : tuple[int, int]
        Frame ``(width, height)`` in pixels.
    quality : str
        Name of a quality profile in :attr:`Scenario.quality`.
    group : str or None
        Prefix of the ``[[camera_groups]]`` entry it came from, ``None`` if listed explicitly.
    """

    id: str
    kind: str
    station: str
    fr: bool = DEFAULT_CAMERA_FR
    resolution: tuple[int, int] = DEFAULT_RESOLUTION
    quality: str = DEFAULT_QUALITY
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "station": self.station,
            "fr": self.fr,
            "resolution": list(self.resolution),
            "quality": self.quality,
        }


@dataclass(frozen=True)
class CameraGroupSpec:
    """Many cameras at once: ``count`` cameras ``PREFIX-0001`` … spread round-robin over
    ``stations``; exactly ``round(fr_fraction * count)`` of them are FR, chosen with the
    scenario seed."""

    prefix: str
    count: int
    kind: str
    stations: tuple[str, ...]
    fr_fraction: float = DEFAULT_FR_FRACTION
    resolution: tuple[int, int] = DEFAULT_RESOLUTION
    quality: str = DEFAULT_QUALITY

    @property
    def n_fr(self) -> int:
        return int(round(self.fr_fraction * self.count))

    def camera_id(self, i: int) -> str:
        """Id of the group's ``i``-th camera (0-based)."""
        return f"{self.prefix}-{i + 1:04d}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "count": self.count,
            "kind": self.kind,
            "stations": list(self.stations),
            "fr_fraction": self.fr_fraction,
            "resolution": list(self.resolution),
            "quality": self.quality,
        }


@dataclass(frozen=True)
class PopulationSpec:
    size: int


@dataclass(frozen=True)
class MovementSpec:
    """How people move.

    Attributes
    ----------
    passes_per_day : tuple[int, int]
        Inclusive range of camera passes per present person-day.
    active_hours : tuple[int, int]
        ``(first, last)`` hour of the day passes happen in, ``0 <= first < last <= 24``.
    commuter_share : float
        Share of people who commute between a home and a work station; the others wander.
    presence : float
        Probability that a person is in the city on a given day.
    """

    passes_per_day: tuple[int, int] = DEFAULT_PASSES_PER_DAY
    active_hours: tuple[int, int] = DEFAULT_ACTIVE_HOURS
    commuter_share: float = DEFAULT_COMMUTER_SHARE
    presence: float = DEFAULT_PRESENCE


@dataclass(frozen=True)
class VariationSpec:
    """Latent-space variation: of each sighting, and of the watchlist's pre-loaded photo."""

    latent_sigma: float = DEFAULT_LATENT_SIGMA
    enrol_sigma: float = DEFAULT_ENROL_SIGMA


@dataclass(frozen=True)
class WatchlistSpec:
    """``size`` enrolled entries, ``in_city`` of whom live in the simulated city."""

    size: int
    in_city: int


@dataclass(frozen=True)
class ThresholdSpec:
    """Alert threshold in percent under the named cosine → percent ``mapping``."""

    mapping: str = DEFAULT_MAPPING
    alert_percent: float = DEFAULT_ALERT_PERCENT
    per_camera: dict[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class RetentionSpec:
    days: int = DEFAULT_RETENTION_DAYS
    unmatched_days: int = DEFAULT_RETENTION_DAYS
    matched_days: int = DEFAULT_RETENTION_DAYS
    case_hold: bool = DEFAULT_CASE_HOLD


@dataclass(frozen=True)
class PolicySpec:
    require_reason: bool = DEFAULT_REQUIRE_REASON
    frame_interval_s: int = DEFAULT_FRAME_INTERVAL_S


@dataclass(frozen=True)
class ArchiveSpec:
    """How the day-sharded archive is built (:class:`facelab.search.archive.DayShardArchive`).

    Attributes
    ----------
    kind : str
        One of :data:`ARCHIVE_KINDS`.
    nprobe : int or None
        Lists probed per query in IVF shards; ``None``: the archive's default (a share of each
        shard's lists).
    """

    kind: str = DEFAULT_ARCHIVE_KIND
    nprobe: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.nprobe is not None:
            out["nprobe"] = self.nprobe
        return out


@dataclass(frozen=True)
class DetectionSpec:
    """Where the image pipeline looks for faces: ``regions`` is ``"motion"`` (the parts of a
    frame that changed against the camera's other frames, :mod:`facelab.world.motion`) or ``"full"``
    (the whole frame)."""

    regions: str = DEFAULT_DETECTION_REGIONS

    def to_dict(self) -> dict[str, Any]:
        return {"regions": self.regions}


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
        ctx = _Ctx(self.source)
        if "seed" in kw:
            _check_int(ctx, "seed", kw["seed"], minimum=0)
        if "days" in kw:
            _check_int(ctx, "days", kw["days"], minimum=1)
        if "mode" in kw and kw["mode"] not in MODES:
            ctx.fail("mode", f"unknown mode {kw['mode']!r} (choose from {', '.join(MODES)})")
        new = dataclasses.replace(self, **kw)
        if "seed" in kw and "cameras" not in kw and new.camera_groups:
            explicit = tuple(c for c in new.cameras if c.group is None)
            new = dataclasses.replace(
                new, cameras=explicit + _expand_groups(new.camera_groups, new.seed)
            )
        _check_consistency(ctx, new)
        return new

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict in the TOML schema, every default filled in.

        Groups stay groups (FR flags are re-derived from the seed), so
        ``parse_scenario(s.to_dict(), s.source) == s``. The ``archive`` and ``detection`` tables
        are left out while they hold the defaults, so that runs made before they existed keep
        their fingerprint (:func:`facelab.run.pipeline.scenario_fingerprint`) and can be resumed.
        """
        out = {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "mode": self.mode,
            "population": {"size": self.population.size},
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
        return out


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
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read scenario file {str(path)!r}: "
                          f"{exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
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
    ctx = _Ctx(source)
    if not isinstance(data, dict):
        ctx.fail("<top>", f"must be a table, got {_describe(data)}")
    _check_keys(ctx, data, "", _TOP_KEYS)

    name = _opt(ctx, data, "", "name", _str, Path(source).stem or "scenario")
    description = _opt(ctx, data, "", "description", _str_any, DEFAULT_DESCRIPTION)
    seed = _req(ctx, data, "", "seed", _int_min(0))
    start = _req(ctx, data, "", "start", _date)
    days = _req(ctx, data, "", "days", _int_min(1))
    mode = _opt(ctx, data, "", "mode", _choice(MODES, "mode"), DEFAULT_MODE)

    pop_t = _req_table(ctx, data, "population")
    _check_keys(ctx, pop_t, "population", ("size",))
    population = PopulationSpec(size=_req(ctx, pop_t, "population", "size", _int_min(1)))

    movement = _parse_movement(ctx, _opt_table(ctx, data, "movement"))
    quality = _parse_quality(ctx, _opt_table(ctx, data, "quality"))
    cameras = _parse_cameras(ctx, data.get("cameras", None), quality)
    groups = _parse_groups(ctx, data.get("camera_groups", None), quality)
    if not cameras and not groups:
        ctx.fail("cameras", "the scenario has no cameras: give [[cameras]] or [[camera_groups]]")
    all_cameras = cameras + _expand_groups(groups, seed)
    _check_unique_ids(ctx, cameras, groups)

    var_t = _opt_table(ctx, data, "variation")
    _check_keys(ctx, var_t, "variation", ("latent_sigma", "enrol_sigma"))
    variation = VariationSpec(
        latent_sigma=_opt(ctx, var_t, "variation", "latent_sigma", _float_min(0.0),
                          DEFAULT_LATENT_SIGMA),
        enrol_sigma=_opt(ctx, var_t, "variation", "enrol_sigma", _float_min(0.0),
                         DEFAULT_ENROL_SIGMA),
    )

    wl_t = _req_table(ctx, data, "watchlist")
    _check_keys(ctx, wl_t, "watchlist", ("size", "in_city"))
    watchlist = WatchlistSpec(
        size=_req(ctx, wl_t, "watchlist", "size", _int_min(0)),
        in_city=_req(ctx, wl_t, "watchlist", "in_city", _int_min(0)),
    )

    thresholds = _parse_thresholds(ctx, _opt_table(ctx, data, "thresholds"))
    retention = _parse_retention(ctx, _opt_table(ctx, data, "retention"))

    pol_t = _opt_table(ctx, data, "policy")
    _check_keys(ctx, pol_t, "policy", ("require_reason", "frame_interval_s"))
    policy = PolicySpec(
        require_reason=_opt(ctx, pol_t, "policy", "require_reason", _bool,
                            DEFAULT_REQUIRE_REASON),
        frame_interval_s=_opt(ctx, pol_t, "policy", "frame_interval_s", _int_range(1, 86400),
                              DEFAULT_FRAME_INTERVAL_S),
    )

    archive = _parse_archive(ctx, _opt_table(ctx, data, "archive"))
    det_t = _opt_table(ctx, data, "detection")
    _check_keys(ctx, det_t, "detection", ("regions",))
    detection = DetectionSpec(
        regions=_opt(ctx, det_t, "detection", "regions",
                     _choice(DETECTION_REGIONS, "detection regions"), DEFAULT_DETECTION_REGIONS),
    )  # fmt: skip

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
        source=source,
    )
    _check_consistency(ctx, scenario)
    return scenario


# --------------------------------------------------------------------------- sections

_TOP_KEYS = (
    "name", "description", "seed", "start", "days", "mode", "population", "movement",
    "cameras", "camera_groups", "quality", "variation", "watchlist", "thresholds",
    "retention", "policy", "archive", "detection",
)
_CAMERA_KEYS = ("id", "kind", "station", "fr", "resolution", "quality")
_GROUP_KEYS = ("prefix", "count", "kind", "stations", "fr_fraction", "resolution", "quality")
_QUALITY_KEYS = ("base", "face_px", "blur_sigma", "noise_sd", "jpeg_quality", "brightness",
                 "occlusion_prob")


def _parse_movement(ctx: _Ctx, t: dict) -> MovementSpec:
    p = "movement"
    _check_keys(ctx, t, p, ("passes_per_day", "active_hours", "commuter_share", "presence"))
    passes = _opt(ctx, t, p, "passes_per_day", _range_of(_int_min(0)), DEFAULT_PASSES_PER_DAY)
    if passes[1] < 1:
        ctx.fail(f"{p}.passes_per_day", f"the upper end must be at least 1, got {list(passes)}")
    hours = _opt(ctx, t, p, "active_hours", _range_of(_int_range(0, 24)), DEFAULT_ACTIVE_HOURS)
    if hours[0] == hours[1]:
        ctx.fail(f"{p}.active_hours", f"must span at least one hour, got {list(hours)}")
    return MovementSpec(
        passes_per_day=passes,
        active_hours=hours,
        commuter_share=_opt(ctx, t, p, "commuter_share", _prob, DEFAULT_COMMUTER_SHARE),
        presence=_opt(ctx, t, p, "presence", _prob, DEFAULT_PRESENCE),
    )


def _parse_quality(ctx: _Ctx, t: dict) -> dict[str, QualityProfile]:
    profiles = dict(BUILTIN_QUALITY)
    for name, table in t.items():
        p = f"quality.{_key_repr(name)}"
        if not _NAME_RE.match(name):
            ctx.fail(p, "profile names may hold only letters, digits, '_', '-' and '.'")
        if not isinstance(table, dict):
            ctx.fail(p, f"must be a table, got {_describe(table)}")
        _check_keys(ctx, table, p, _QUALITY_KEYS)
        default_base = name if name in BUILTIN_QUALITY else DEFAULT_QUALITY
        base_name = _opt(ctx, table, p, "base", _choice(tuple(BUILTIN_QUALITY), "base profile"),
                         default_base)
        base = BUILTIN_QUALITY[base_name]
        profiles[name] = QualityProfile(
            name=name,
            face_px=_opt(ctx, table, p, "face_px", _range_of(_int_min(1)), base.face_px),
            blur_sigma=_opt(ctx, table, p, "blur_sigma", _float_min(0.0), base.blur_sigma),
            noise_sd=_opt(ctx, table, p, "noise_sd", _float_min(0.0), base.noise_sd),
            jpeg_quality=_opt(ctx, table, p, "jpeg_quality", _int_range(1, 100),
                              base.jpeg_quality),
            brightness=_opt(ctx, table, p, "brightness", _range_of(_float_pos), base.brightness),
            occlusion_prob=_opt(ctx, table, p, "occlusion_prob", _prob, base.occlusion_prob),
        )
    return profiles


def _parse_cameras(ctx: _Ctx, arr: Any, quality: dict) -> tuple[CameraSpec, ...]:
    if arr is None:
        return ()
    if not isinstance(arr, list):
        ctx.fail("cameras", f"must be an array of tables ([[cameras]]), got {_describe(arr)}")
    out = []
    for i, t in enumerate(arr):
        p = f"cameras[{i}]"
        if not isinstance(t, dict):
            ctx.fail(p, f"must be a table, got {_describe(t)}")
        _check_keys(ctx, t, p, _CAMERA_KEYS)
        cam = CameraSpec(
            id=_req(ctx, t, p, "id", _str),
            kind=_req(ctx, t, p, "kind", _choice(CAMERA_KINDS, "camera kind")),
            station=_req(ctx, t, p, "station", _str_nonempty),
            fr=_opt(ctx, t, p, "fr", _bool, DEFAULT_CAMERA_FR),
            resolution=_opt(ctx, t, p, "resolution", _resolution, DEFAULT_RESOLUTION),
            quality=_opt(ctx, t, p, "quality", _choice(tuple(quality), "quality profile"),
                         DEFAULT_QUALITY),
        )
        _check_face_fits(ctx, p, cam.resolution, quality[cam.quality])
        out.append(cam)
    return tuple(out)


def _parse_groups(ctx: _Ctx, arr: Any, quality: dict) -> tuple[CameraGroupSpec, ...]:
    if arr is None:
        return ()
    if not isinstance(arr, list):
        ctx.fail("camera_groups",
                 f"must be an array of tables ([[camera_groups]]), got {_describe(arr)}")
    out = []
    for i, t in enumerate(arr):
        p = f"camera_groups[{i}]"
        if not isinstance(t, dict):
            ctx.fail(p, f"must be a table, got {_describe(t)}")
        _check_keys(ctx, t, p, _GROUP_KEYS)
        count = _req(ctx, t, p, "count", _int_min(1))
        stations = _req(ctx, t, p, "stations", _stations)
        if len(stations) > count:
            ctx.fail(f"{p}.stations",
                     f"{len(stations)} stations for {count} cameras: every station needs a camera")
        group = CameraGroupSpec(
            prefix=_req(ctx, t, p, "prefix", _str),
            count=count,
            kind=_req(ctx, t, p, "kind", _choice(CAMERA_KINDS, "camera kind")),
            stations=stations,
            fr_fraction=_opt(ctx, t, p, "fr_fraction", _prob, DEFAULT_FR_FRACTION),
            resolution=_opt(ctx, t, p, "resolution", _resolution, DEFAULT_RESOLUTION),
            quality=_opt(ctx, t, p, "quality", _choice(tuple(quality), "quality profile"),
                         DEFAULT_QUALITY),
        )
        _check_face_fits(ctx, p, group.resolution, quality[group.quality])
        out.append(group)
    return tuple(out)


def _expand_groups(groups: tuple[CameraGroupSpec, ...], seed: int) -> tuple[CameraSpec, ...]:
    """Expand camera groups deterministically; FR flags drawn from ``(seed, STREAM, group)``."""
    out: list[CameraSpec] = []
    for gi, g in enumerate(groups):
        rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM_FR_CAMERAS, gi]))
        fr = np.zeros(g.count, dtype=bool)
        fr[rng.choice(g.count, size=g.n_fr, replace=False)] = True
        n_st = len(g.stations)
        for i in range(g.count):
            out.append(CameraSpec(
                id=g.camera_id(i),
                kind=g.kind,
                station=g.stations[i % n_st],
                fr=bool(fr[i]),
                resolution=g.resolution,
                quality=g.quality,
                group=g.prefix,
            ))
    return tuple(out)


def _check_unique_ids(ctx: _Ctx, cameras: tuple[CameraSpec, ...],
                      groups: tuple[CameraGroupSpec, ...]) -> None:
    seen: dict[str, str] = {}
    for i, c in enumerate(cameras):
        where = f"cameras[{i}]"
        if c.id in seen:
            ctx.fail(f"{where}.id", f"duplicate camera id {c.id!r} (also {seen[c.id]})")
        seen[c.id] = where
    prefixes: dict[str, int] = {}
    for gi, g in enumerate(groups):
        where = f"camera_groups[{gi}]"
        if g.prefix in prefixes:
            ctx.fail(f"{where}.prefix",
                     f"duplicate group prefix {g.prefix!r} (also camera_groups[{prefixes[g.prefix]}])")
        prefixes[g.prefix] = gi
        for i in range(g.count):
            cid = g.camera_id(i)
            if cid in seen:
                ctx.fail(f"{where}.prefix",
                         f"camera id {cid!r} of this group is also {seen[cid]}")
            seen[cid] = where


def _parse_thresholds(ctx: _Ctx, t: dict) -> ThresholdSpec:
    p = "thresholds"
    _check_keys(ctx, t, p, ("mapping", "alert_percent", "per_camera"))
    per_t = t.get("per_camera", {})
    if not isinstance(per_t, dict):
        ctx.fail(f"{p}.per_camera", f"must be a table of camera id = percent, "
                                    f"got {_describe(per_t)}")
    per = {}
    for cid in per_t:
        per[cid] = _req(ctx, per_t, f"{p}.per_camera", cid, _percent)
    return ThresholdSpec(
        mapping=_opt(ctx, t, p, "mapping", _str, DEFAULT_MAPPING),
        alert_percent=_opt(ctx, t, p, "alert_percent", _percent, DEFAULT_ALERT_PERCENT),
        per_camera=per,
    )


def _parse_retention(ctx: _Ctx, t: dict) -> RetentionSpec:
    p = "retention"
    _check_keys(ctx, t, p, ("days", "unmatched_days", "matched_days", "case_hold"))
    days = _opt(ctx, t, p, "days", _int_min(1), DEFAULT_RETENTION_DAYS)
    return RetentionSpec(
        days=days,
        unmatched_days=_opt(ctx, t, p, "unmatched_days", _int_min(1), days),
        matched_days=_opt(ctx, t, p, "matched_days", _int_min(1), days),
        case_hold=_opt(ctx, t, p, "case_hold", _bool, DEFAULT_CASE_HOLD),
    )


def _parse_archive(ctx: _Ctx, t: dict) -> ArchiveSpec:
    p = "archive"
    _check_keys(ctx, t, p, ("kind", "nprobe"))
    return ArchiveSpec(
        kind=_opt(ctx, t, p, "kind", _choice(ARCHIVE_KINDS, "archive kind"), DEFAULT_ARCHIVE_KIND),
        nprobe=_opt(ctx, t, p, "nprobe", _int_min(1), None),
    )


def _check_face_fits(ctx: _Ctx, p: str, resolution: tuple[int, int],
                     q: QualityProfile) -> None:
    if q.face_px[1] > min(resolution):
        ctx.fail(f"{p}.quality", f"profile {q.name!r} has faces up to {q.face_px[1]} px, "
                                 f"which do not fit a {resolution[0]}x{resolution[1]} frame")


def _check_consistency(ctx: _Ctx, s: Scenario) -> None:
    """Cross-field rules, checked after parsing and after overrides."""
    if s.watchlist.in_city > s.watchlist.size:
        ctx.fail("watchlist.in_city", f"{s.watchlist.in_city} is more than watchlist.size "
                                      f"({s.watchlist.size})")
    if s.watchlist.in_city > s.population.size:
        ctx.fail("watchlist.in_city", f"{s.watchlist.in_city} is more than population.size "
                                      f"({s.population.size})")
    ids = {c.id for c in s.cameras}
    for cid in s.thresholds.per_camera:
        if cid not in ids:
            hint = difflib.get_close_matches(cid, sorted(ids), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            ctx.fail(f"thresholds.per_camera.{_key_repr(cid)}",
                     f"unknown camera id {cid!r}{more}")


# --------------------------------------------------------------------------- validators


class _Ctx:
    """Carries the source name for messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, msg: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {key}: {msg}")

    def missing(self, key: str) -> NoReturn:
        raise ConfigError(f"{self.source}: missing key '{key}'")


class _Invalid(Exception):
    """Raised by a validator; the caller adds file and key."""


_REQUIRED = object()


def _join(prefix: str, key: str) -> str:
    k = _key_repr(key)
    return f"{prefix}.{k}" if prefix else k


def _key_repr(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_]+", key) else f'"{key}"'


def _describe(v: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    kind = next((name for t, name in kinds.items() if type(v) is t), type(v).__name__)
    if isinstance(v, dict):
        return kind
    text = repr(v)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({kind})"


def _check_keys(ctx: _Ctx, table: dict, prefix: str, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(allowed)})"
            ctx.fail(_join(prefix, str(key)), f"unknown key{more}")


def _req(ctx: _Ctx, table: dict, prefix: str, key: str, check) -> Any:
    return _opt(ctx, table, prefix, key, check, _REQUIRED)


def _opt(ctx: _Ctx, table: dict, prefix: str, key: str, check, default: Any) -> Any:
    if key not in table:
        if default is _REQUIRED:
            ctx.missing(_join(prefix, key))
        return default
    try:
        return check(table[key])
    except _Invalid as exc:
        ctx.fail(_join(prefix, key), str(exc))


def _req_table(ctx: _Ctx, data: dict, key: str) -> dict:
    if key not in data:
        ctx.missing(key)
    return _opt_table(ctx, data, key)


def _opt_table(ctx: _Ctx, data: dict, key: str) -> dict:
    t = data.get(key, {})
    if not isinstance(t, dict):
        ctx.fail(key, f"must be a table ([{key}]), got {_describe(t)}")
    return t


def _check_int(ctx: _Ctx, key: str, v: Any, minimum: int) -> None:
    try:
        _int_min(minimum)(v)
    except _Invalid as exc:
        ctx.fail(key, str(exc))


def _int_range(lo: int | None, hi: int | None):
    def check(v: Any) -> int:
        if type(v) is not int:
            raise _Invalid(f"must be {_int_phrase(lo, hi)}, got {_describe(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Invalid(f"must be {_int_phrase(lo, hi)}, got {v}")
        return v
    return check


def _int_phrase(lo: int | None, hi: int | None) -> str:
    if hi is None:
        return {0: "an integer >= 0", 1: "a positive integer"}.get(lo, f"an integer >= {lo}")
    return f"an integer from {lo} to {hi}"


def _int_min(lo: int):
    return _int_range(lo, None)


def _number(v: Any, what: str) -> float:
    if type(v) not in (int, float):
        raise _Invalid(f"must be {what}, got {_describe(v)}")
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        raise _Invalid(f"must be {what}, got {v}")
    return f


def _float_min(lo: float):
    def check(v: Any) -> float:
        f = _number(v, f"a number >= {lo:g}")
        if f < lo:
            raise _Invalid(f"must be a number >= {lo:g}, got {v}")
        return f
    return check


def _float_pos(v: Any) -> float:
    f = _number(v, "a positive number")
    if f <= 0:
        raise _Invalid(f"must be a positive number, got {v}")
    return f


def _prob(v: Any) -> float:
    f = _number(v, "a probability in [0, 1]")
    if not 0.0 <= f <= 1.0:
        raise _Invalid(f"must be a probability in [0, 1], got {v}")
    return f


def _percent(v: Any) -> float:
    f = _number(v, "a percent with 0 < p <= 100")
    if not 0.0 < f <= 100.0:
        raise _Invalid(f"must be a percent with 0 < p <= 100, got {v}")
    return f


def _bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _Invalid(f"must be true or false, got {_describe(v)}")
    return v


def _str_any(v: Any) -> str:
    if not isinstance(v, str):
        raise _Invalid(f"must be a string, got {_describe(v)}")
    return v


def _str_nonempty(v: Any) -> str:
    v = _str_any(v)
    if not v.strip():
        raise _Invalid("must not be empty")
    return v


def _str(v: Any) -> str:
    """A name: non-empty, letters, digits, '_', '-', '.' only (safe in ids and file names)."""
    v = _str_any(v)
    if not _NAME_RE.match(v):
        raise _Invalid(f"must be a non-empty name of letters, digits, '_', '-' or '.', got {v!r}")
    return v


def _choice(options: tuple[str, ...], what: str):
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise _Invalid(f"must be a string, one of {', '.join(options)}; got {_describe(v)}")
        if v not in options:
            raise _Invalid(f"unknown {what} {v!r} (choose from {', '.join(options)})")
        return v
    return check


def _date(v: Any) -> _dt.date:
    if isinstance(v, _dt.datetime):
        raise _Invalid(f"must be a date like 2026-03-02 without a time, got {v.isoformat()}")
    if isinstance(v, _dt.date):
        return v
    if isinstance(v, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
                return _dt.date.fromisoformat(v)
        except ValueError:
            pass
    raise _Invalid(f"must be a date like 2026-03-02, got {_describe(v)}")


def _range_of(item):
    def check(v: Any) -> tuple:
        if not isinstance(v, list) or len(v) != 2:
            raise _Invalid(f"must be a range [low, high], got {_describe(v)}")
        lo, hi = item(v[0]), item(v[1])
        if lo > hi:
            raise _Invalid(f"range [low, high] is reversed: {v}")
        return (lo, hi)
    return check


def _resolution(v: Any) -> tuple[int, int]:
    if not isinstance(v, list) or len(v) != 2 or any(type(x) is not int for x in v):
        raise _Invalid(f"must be [width, height] in pixels, got {_describe(v)}")
    w, h = v
    if w < MIN_RESOLUTION[0] or h < MIN_RESOLUTION[1]:
        raise _Invalid(f"must be at least {MIN_RESOLUTION[0]}x{MIN_RESOLUTION[1]}, got {w}x{h}")
    return (w, h)


def _stations(v: Any) -> tuple[str, ...]:
    if type(v) is int:
        if v < 1:
            raise _Invalid(f"must be a positive integer or a list of station names, got {v}")
        return tuple(f"station-{j + 1:03d}" for j in range(v))
    if isinstance(v, list) and v:
        names = []
        for x in v:
            if not isinstance(x, str) or not x.strip():
                raise _Invalid(f"station names must be non-empty strings, got {_describe(x)}")
            names.append(x)
        if len(set(names)) != len(names):
            raise _Invalid("station names must be distinct")
        return tuple(names)
    raise _Invalid(f"must be a positive integer or a list of station names, got {_describe(v)}")
