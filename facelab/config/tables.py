"""One reader per scenario table: a TOML table in, its section dataclass out.

Each reader rejects unknown keys, fills in the defaults of :mod:`facelab.config.defaults` and
enforces the bounds of :mod:`facelab.config.limits`, raising
:class:`~facelab.errors.ConfigError` through its :class:`~facelab.config.validate.ErrorContext`.
:func:`expand_groups` turns ``[[camera_groups]]`` into cameras. The top level and the rules
across tables are in :mod:`facelab.config.scenario`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from facelab.config.defaults import (
    DEFAULT_ACTIVE_HOURS,
    DEFAULT_ALERT_PERCENT,
    DEFAULT_ARCHIVE_KIND,
    DEFAULT_AUTOMATION_BIAS,
    DEFAULT_CAMERA_FR,
    DEFAULT_CASE_HOLD,
    DEFAULT_COMMUTER_SHARE,
    DEFAULT_DETECTION_BACKEND,
    DEFAULT_DETECTION_REGIONS,
    DEFAULT_ENROL_SIGMA,
    DEFAULT_FR_FRACTION,
    DEFAULT_FRAME_INTERVAL_S,
    DEFAULT_LATENT_SIGMA,
    DEFAULT_MAPPING,
    DEFAULT_P_CONFIRM_FALSE,
    DEFAULT_P_CONFIRM_TRUE,
    DEFAULT_PASSES_PER_DAY,
    DEFAULT_PRESENCE,
    DEFAULT_QUALITY,
    DEFAULT_QUEUE_EFFECT,
    DEFAULT_REQUIRE_REASON,
    DEFAULT_RESOLUTION,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_REVIEW_SECONDS,
)
from facelab.config.limits import (
    ALERT_MAPPINGS,
    ARCHIVE_KINDS,
    CAMERA_KINDS,
    DAY_HOURS,
    DETECTION_BACKENDS,
    DETECTION_REGIONS,
    FRAME_INTERVAL_S,
    ITA_GROUPS,
    JPEG_QUALITY,
    LIMIT_COUNT_KEYS,
    LIMIT_GIB_KEYS,
    MAX_LOG_ODDS_SLOPE,
    MAX_REVIEW_SECONDS,
    MIN_FACE_PX,
    MIN_GROUP_CAMERAS,
    MIN_NPROBE,
    MIN_PASSES_PER_DAY,
    MIN_PASSES_UPPER,
    MIN_POPULATION,
    MIN_RETENTION_DAYS,
    MIN_WATCHLIST,
)
from facelab.config.quality import BUILTIN_QUALITY, QualityProfile
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
from facelab.config.validate import (
    NAME_RE,
    ErrorContext,
    Invalid,
    boolean,
    check_keys,
    choice,
    describe,
    float_min,
    frame_size,
    int_min,
    int_range,
    key_repr,
    nonempty_string,
    optional,
    percent,
    positive_float,
    probability,
    range_of,
    required,
    safe_name,
    station_names,
)

#: Seed-stream constant for choosing which cameras of a group are FR (see
#: :mod:`facelab.world.world`).
STREAM_FR_CAMERAS = 0x46520001

_CAMERA_KEYS = ("id", "kind", "station", "fr", "resolution", "quality")
_GROUP_KEYS = ("prefix", "count", "kind", "stations", "fr_fraction", "resolution", "quality")
_QUALITY_KEYS = (
    "base",
    "face_px",
    "blur_sigma",
    "noise_sd",
    "jpeg_quality",
    "brightness",
    "occlusion_prob",
)


def read_population(ctx: ErrorContext, t: dict) -> PopulationSpec:
    """``[population]``; ``groups`` is a table of group = share (shares sum to 1)."""
    check_keys(ctx, t, "population", ("size", "groups"))
    size = required(ctx, t, "population", "size", int_min(MIN_POPULATION))
    if "groups" not in t:
        return PopulationSpec(size=size)
    g = t["groups"]
    if not isinstance(g, dict) or not g:
        ctx.fail("population.groups", f"must be a table of group = share, got {describe(g)}")
    for name in g:
        if name not in ITA_GROUPS:
            ctx.fail(f"population.groups.{key_repr(name)}",
                     f"unknown group {name!r} (choose from {', '.join(ITA_GROUPS)})")  # fmt: skip
    shares = {n: required(ctx, g, "population.groups", n, probability) for n in g}
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        ctx.fail("population.groups", f"shares must sum to 1, got {total:g}")
    groups = tuple((n, float(shares[n])) for n in ITA_GROUPS if shares.get(n, 0.0) > 0)
    return PopulationSpec(size=size, groups=groups)


def read_movement(ctx: ErrorContext, t: dict) -> MovementSpec:
    """``[movement]``."""
    p = "movement"
    check_keys(ctx, t, p, ("passes_per_day", "active_hours", "commuter_share", "presence"))
    passes = optional(
        ctx, t, p, "passes_per_day", range_of(int_min(MIN_PASSES_PER_DAY)), DEFAULT_PASSES_PER_DAY
    )
    if passes[1] < MIN_PASSES_UPPER:
        ctx.fail(
            f"{p}.passes_per_day",
            f"the upper end must be at least {MIN_PASSES_UPPER}, got {list(passes)}",
        )
    hours = optional(
        ctx, t, p, "active_hours", range_of(int_range(*DAY_HOURS)), DEFAULT_ACTIVE_HOURS
    )
    if hours[0] == hours[1]:
        ctx.fail(f"{p}.active_hours", f"must span at least one hour, got {list(hours)}")
    return MovementSpec(
        passes_per_day=passes,
        active_hours=hours,
        commuter_share=optional(ctx, t, p, "commuter_share", probability, DEFAULT_COMMUTER_SHARE),
        presence=optional(ctx, t, p, "presence", probability, DEFAULT_PRESENCE),
    )


def read_quality(ctx: ErrorContext, t: dict) -> dict[str, QualityProfile]:
    """``[quality]``: the built-in profiles, overridden and extended by its ``NAME`` tables."""
    profiles = dict(BUILTIN_QUALITY)
    for name, table in t.items():
        p = f"quality.{key_repr(name)}"
        if not NAME_RE.match(name):
            ctx.fail(p, "profile names may hold only letters, digits, '_', '-' and '.'")
        if not isinstance(table, dict):
            ctx.fail(p, f"must be a table, got {describe(table)}")
        check_keys(ctx, table, p, _QUALITY_KEYS)
        default_base = name if name in BUILTIN_QUALITY else DEFAULT_QUALITY
        base_name = optional(
            ctx, table, p, "base", choice(tuple(BUILTIN_QUALITY), "base profile"), default_base
        )
        base = BUILTIN_QUALITY[base_name]
        profiles[name] = QualityProfile(
            name=name,
            face_px=optional(
                ctx, table, p, "face_px", range_of(int_min(MIN_FACE_PX)), base.face_px
            ),
            blur_sigma=optional(ctx, table, p, "blur_sigma", float_min(0.0), base.blur_sigma),
            noise_sd=optional(ctx, table, p, "noise_sd", float_min(0.0), base.noise_sd),
            jpeg_quality=optional(
                ctx, table, p, "jpeg_quality", int_range(*JPEG_QUALITY), base.jpeg_quality
            ),
            brightness=optional(
                ctx, table, p, "brightness", range_of(positive_float), base.brightness
            ),
            occlusion_prob=optional(
                ctx, table, p, "occlusion_prob", probability, base.occlusion_prob
            ),
        )
    return profiles


def read_cameras(ctx: ErrorContext, arr: Any, quality: dict) -> tuple[CameraSpec, ...]:
    """``[[cameras]]`` (``None`` when absent); ``quality`` holds the scenario's profiles."""
    if arr is None:
        return ()
    if not isinstance(arr, list):
        ctx.fail("cameras", f"must be an array of tables ([[cameras]]), got {describe(arr)}")
    out = []
    for i, t in enumerate(arr):
        p = f"cameras[{i}]"
        if not isinstance(t, dict):
            ctx.fail(p, f"must be a table, got {describe(t)}")
        check_keys(ctx, t, p, _CAMERA_KEYS)
        cam = CameraSpec(
            id=required(ctx, t, p, "id", safe_name),
            kind=required(ctx, t, p, "kind", choice(CAMERA_KINDS, "camera kind")),
            station=required(ctx, t, p, "station", nonempty_string),
            fr=optional(ctx, t, p, "fr", boolean, DEFAULT_CAMERA_FR),
            resolution=optional(ctx, t, p, "resolution", frame_size, DEFAULT_RESOLUTION),
            quality=optional(
                ctx, t, p, "quality", choice(tuple(quality), "quality profile"), DEFAULT_QUALITY
            ),
        )
        check_face_fits(ctx, p, cam.resolution, quality[cam.quality])
        out.append(cam)
    return tuple(out)


def read_groups(
    ctx: ErrorContext, arr: Any, quality: dict, max_cameras: int
) -> tuple[CameraGroupSpec, ...]:
    """``[[camera_groups]]`` (``None`` when absent); ``quality`` holds the scenario's profiles.

    The groups' cameras together, and each group's station count, must stay within
    ``max_cameras`` (``[limits] cameras``); this is checked before any name is made."""
    if arr is None:
        return ()
    if not isinstance(arr, list):
        ctx.fail(
            "camera_groups", f"must be an array of tables ([[camera_groups]]), got {describe(arr)}"
        )
    out, total = [], 0
    for i, t in enumerate(arr):
        p = f"camera_groups[{i}]"
        if not isinstance(t, dict):
            ctx.fail(p, f"must be a table, got {describe(t)}")
        check_keys(ctx, t, p, _GROUP_KEYS)
        count = required(ctx, t, p, "count", int_min(MIN_GROUP_CAMERAS))
        total += count
        if total > max_cameras:
            ctx.fail(
                f"{p}.count",
                f"the camera groups hold {total} cameras so far, more than the limit of "
                f"{max_cameras} (raise [limits] cameras if this is meant)",
            )
        stations = required(ctx, t, p, "stations", lambda v, n=count: station_names(v, n))
        if len(stations) > count:
            ctx.fail(
                f"{p}.stations",
                f"{len(stations)} stations for {count} cameras: every station needs a camera",
            )
        group = CameraGroupSpec(
            prefix=required(ctx, t, p, "prefix", safe_name),
            count=count,
            kind=required(ctx, t, p, "kind", choice(CAMERA_KINDS, "camera kind")),
            stations=stations,
            fr_fraction=optional(ctx, t, p, "fr_fraction", probability, DEFAULT_FR_FRACTION),
            resolution=optional(ctx, t, p, "resolution", frame_size, DEFAULT_RESOLUTION),
            quality=optional(
                ctx, t, p, "quality", choice(tuple(quality), "quality profile"), DEFAULT_QUALITY
            ),
        )
        check_face_fits(ctx, p, group.resolution, quality[group.quality])
        out.append(group)
    return tuple(out)


def expand_groups(groups: tuple[CameraGroupSpec, ...], seed: int) -> tuple[CameraSpec, ...]:
    """The groups' cameras, in group order; FR flags drawn from ``(seed, STREAM, group)``."""
    out: list[CameraSpec] = []
    for gi, g in enumerate(groups):
        rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM_FR_CAMERAS, gi]))
        fr = np.zeros(g.count, dtype=bool)
        fr[rng.choice(g.count, size=g.n_fr, replace=False)] = True
        n_st = len(g.stations)
        for i in range(g.count):
            out.append(
                CameraSpec(
                    id=g.camera_id(i),
                    kind=g.kind,
                    station=g.stations[i % n_st],
                    fr=bool(fr[i]),
                    resolution=g.resolution,
                    quality=g.quality,
                    group=g.prefix,
                )
            )
    return tuple(out)


def check_unique_ids(
    ctx: ErrorContext, cameras: tuple[CameraSpec, ...], groups: tuple[CameraGroupSpec, ...]
) -> None:
    """Fail on a duplicate group prefix, or a camera id given twice (explicit or expanded)."""
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
            ctx.fail(
                f"{where}.prefix",
                f"duplicate group prefix {g.prefix!r} (also camera_groups[{prefixes[g.prefix]}])",
            )
        prefixes[g.prefix] = gi
        for i in range(g.count):
            cid = g.camera_id(i)
            if cid in seen:
                ctx.fail(f"{where}.prefix", f"camera id {cid!r} of this group is also {seen[cid]}")
            seen[cid] = where


def check_face_fits(
    ctx: ErrorContext, p: str, resolution: tuple[int, int], q: QualityProfile
) -> None:
    """Fail naming ``p.quality`` if the profile's largest face exceeds the frame's short side."""
    if q.face_px[1] > min(resolution):
        ctx.fail(
            f"{p}.quality",
            f"profile {q.name!r} has faces up to {q.face_px[1]} px, "
            f"which do not fit a {resolution[0]}x{resolution[1]} frame",
        )


def read_variation(ctx: ErrorContext, t: dict) -> VariationSpec:
    """``[variation]``."""
    p = "variation"
    check_keys(ctx, t, p, ("latent_sigma", "enrol_sigma"))
    return VariationSpec(
        latent_sigma=optional(ctx, t, p, "latent_sigma", float_min(0.0), DEFAULT_LATENT_SIGMA),
        enrol_sigma=optional(ctx, t, p, "enrol_sigma", float_min(0.0), DEFAULT_ENROL_SIGMA),
    )


def read_watchlist(ctx: ErrorContext, t: dict) -> WatchlistSpec:
    """``[watchlist]``; its ``in_city`` against the other tables is checked by the scenario."""
    p = "watchlist"
    check_keys(ctx, t, p, ("size", "in_city"))
    return WatchlistSpec(
        size=required(ctx, t, p, "size", int_min(MIN_WATCHLIST)),
        in_city=required(ctx, t, p, "in_city", int_min(MIN_WATCHLIST)),
    )


def read_thresholds(ctx: ErrorContext, t: dict) -> ThresholdSpec:
    """``[thresholds]``; its camera ids are checked against the cameras by the scenario."""
    p = "thresholds"
    check_keys(ctx, t, p, ("mapping", "alert_percent", "per_camera"))
    per_t = t.get("per_camera", {})
    if not isinstance(per_t, dict):
        ctx.fail(
            f"{p}.per_camera", f"must be a table of camera id = percent, got {describe(per_t)}"
        )
    per = {}
    for cid in per_t:
        per[cid] = required(ctx, per_t, f"{p}.per_camera", cid, percent)
    return ThresholdSpec(
        mapping=optional(ctx, t, p, "mapping", alert_mapping, DEFAULT_MAPPING),
        alert_percent=optional(ctx, t, p, "alert_percent", percent, DEFAULT_ALERT_PERCENT),
        per_camera=per,
    )


def alert_mapping(v: Any) -> str:
    """Check: a percent mapping a run can alert with (:data:`~facelab.config.limits.ALERT_MAPPINGS`)."""
    if v == "log-fmr":
        raise Invalid(
            "'log-fmr' is calibrated after a run (use it with `facelab sweep --mapping log-fmr`); "
            f"alert with {' or '.join(repr(m) for m in ALERT_MAPPINGS)}"
        )
    return choice(ALERT_MAPPINGS, "percent mapping")(v)


def read_limits(ctx: ErrorContext, t: dict) -> LimitsSpec:
    """``[limits]``: raise what a scenario may need (:mod:`facelab.config.resources`)."""
    p = "limits"
    check_keys(ctx, t, p, LIMIT_GIB_KEYS + LIMIT_COUNT_KEYS)
    base = LimitsSpec()
    return LimitsSpec(
        memory_gib=optional(ctx, t, p, "memory_gib", positive_float, base.memory_gib),
        disk_gib=optional(ctx, t, p, "disk_gib", positive_float, base.disk_gib),
        cameras=optional(ctx, t, p, "cameras", int_min(1), base.cameras),
        days=optional(ctx, t, p, "days", int_min(1), base.days),
    )


def read_retention(ctx: ErrorContext, t: dict) -> RetentionSpec:
    """``[retention]``: ``unmatched_days`` and ``matched_days`` default to its ``days``."""
    p = "retention"
    check_keys(ctx, t, p, ("days", "unmatched_days", "matched_days", "case_hold"))
    days = optional(ctx, t, p, "days", int_min(MIN_RETENTION_DAYS), DEFAULT_RETENTION_DAYS)
    return RetentionSpec(
        days=days,
        unmatched_days=optional(ctx, t, p, "unmatched_days", int_min(MIN_RETENTION_DAYS), days),
        matched_days=optional(ctx, t, p, "matched_days", int_min(MIN_RETENTION_DAYS), days),
        case_hold=optional(ctx, t, p, "case_hold", boolean, DEFAULT_CASE_HOLD),
    )


def read_policy(ctx: ErrorContext, t: dict) -> PolicySpec:
    """``[policy]``."""
    p = "policy"
    check_keys(ctx, t, p, ("require_reason", "frame_interval_s"))
    return PolicySpec(
        require_reason=optional(ctx, t, p, "require_reason", boolean, DEFAULT_REQUIRE_REASON),
        frame_interval_s=optional(
            ctx, t, p, "frame_interval_s", int_range(*FRAME_INTERVAL_S), DEFAULT_FRAME_INTERVAL_S
        ),
    )


def read_archive(ctx: ErrorContext, t: dict) -> ArchiveSpec:
    """``[archive]``."""
    p = "archive"
    check_keys(ctx, t, p, ("kind", "nprobe"))
    return ArchiveSpec(
        kind=optional(
            ctx, t, p, "kind", choice(ARCHIVE_KINDS, "archive kind"), DEFAULT_ARCHIVE_KIND
        ),
        nprobe=optional(ctx, t, p, "nprobe", int_min(MIN_NPROBE), None),
    )


def read_system(ctx: ErrorContext, t: dict) -> SystemSpec:
    """``[system]``: ``profile``, a profile name (checked against the profiles when the
    scenario is loaded for a run, :func:`facelab.api.load_scenario`)."""
    check_keys(ctx, t, "system", ("profile",))
    return SystemSpec(profile=optional(ctx, t, "system", "profile", safe_name, None))


def _log_odds_slope(v: Any) -> float:
    """Check: a log-odds slope, a number in [-MAX_LOG_ODDS_SLOPE, MAX_LOG_ODDS_SLOPE]."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
        raise Invalid(f"must be a number, got {describe(v)}")
    if abs(v) > MAX_LOG_ODDS_SLOPE:
        raise Invalid(f"must lie in [-{MAX_LOG_ODDS_SLOPE:g}, {MAX_LOG_ODDS_SLOPE:g}], got {v}")
    return float(v)


def read_review(ctx: ErrorContext, t: dict) -> ReviewSpec:
    """``[review]``: the reviewer model of :mod:`facelab.lab.reviewer`."""
    p = "review"
    keys = ("seconds_per_alert", "p_confirm_true", "p_confirm_false", "automation_bias",
            "queue_effect")  # fmt: skip
    check_keys(ctx, t, p, keys)
    seconds = optional(ctx, t, p, "seconds_per_alert", positive_float, DEFAULT_REVIEW_SECONDS)
    if seconds > MAX_REVIEW_SECONDS:
        ctx.fail(f"{p}.seconds_per_alert", f"must be at most {MAX_REVIEW_SECONDS}, got {seconds}")
    return ReviewSpec(
        seconds_per_alert=seconds,
        p_confirm_true=optional(ctx, t, p, "p_confirm_true", probability, DEFAULT_P_CONFIRM_TRUE),
        p_confirm_false=optional(ctx, t, p, "p_confirm_false", probability,
                                 DEFAULT_P_CONFIRM_FALSE),
        automation_bias=optional(ctx, t, p, "automation_bias", _log_odds_slope,
                                 DEFAULT_AUTOMATION_BIAS),
        queue_effect=optional(ctx, t, p, "queue_effect", _log_odds_slope, DEFAULT_QUEUE_EFFECT),
    )  # fmt: skip


def read_detection(ctx: ErrorContext, t: dict) -> DetectionSpec:
    """``[detection]``."""
    p = "detection"
    check_keys(ctx, t, p, ("regions", "backend"))
    return DetectionSpec(
        regions=optional(
            ctx,
            t,
            p,
            "regions",
            choice(DETECTION_REGIONS, "detection regions"),
            DEFAULT_DETECTION_REGIONS,
        ),
        backend=optional(
            ctx,
            t,
            p,
            "backend",
            choice(DETECTION_BACKENDS, "inference backend"),
            DEFAULT_DETECTION_BACKEND,
        ),
    )
