"""The frozen dataclasses a scenario's TOML sections become.

One class per section (``[population]``, ``[movement]``, ``[[cameras]]``, ...); field defaults
are the constants of :mod:`facelab.config.defaults`. The camera quality profiles are in
:mod:`facelab.config.quality`, the whole scenario in :mod:`facelab.config.scenario`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    DEFAULT_DISK_GIB,
    DEFAULT_ENROL_SIGMA,
    DEFAULT_FR_FRACTION,
    DEFAULT_FRAME_INTERVAL_S,
    DEFAULT_LATENT_SIGMA,
    DEFAULT_MAPPING,
    DEFAULT_MAX_CAMERAS,
    DEFAULT_MAX_DAYS,
    DEFAULT_MEMORY_GIB,
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

__all__ = [
    "ArchiveSpec",
    "CameraGroupSpec",
    "CameraSpec",
    "DetectionSpec",
    "LimitsSpec",
    "MovementSpec",
    "PolicySpec",
    "PopulationSpec",
    "ReviewSpec",
    "RetentionSpec",
    "SystemSpec",
    "ThresholdSpec",
    "VariationSpec",
    "WatchlistSpec",
]


@dataclass(frozen=True)
class CameraSpec:
    """One camera. Its position in :attr:`~facelab.config.scenario.Scenario.cameras` is its
    camera index.

    Attributes
    ----------
    id : str
        Unique camera id, e.g. ``"gate-0001"``.
    kind : str
        One of :data:`facelab.config.limits.CAMERA_KINDS`.
    station : str
        The place the camera watches (a metro station, a street corner, a building).
    fr : bool
        Whether the camera is configured for face recognition.
    resolution : tuple[int, int]
        Frame ``(width, height)`` in pixels.
    quality : str
        Name of a quality profile in :attr:`~facelab.config.scenario.Scenario.quality`.
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
    """The people of the city.

    Attributes
    ----------
    size : int
        People living in the city.
    groups : tuple[tuple[str, float], ...] or None
        ``(group, share)`` pairs in :data:`facelab.config.limits.ITA_GROUPS` order (shares sum
        to 1), or ``None``: faces as the generator draws them, no groups assigned.
    """

    size: int
    groups: tuple[tuple[str, float], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size}
        if self.groups is not None:
            out["groups"] = dict(self.groups)
        return out


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
        One of :data:`facelab.config.limits.ARCHIVE_KINDS`.
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
    frame that changed against the camera's other frames, :mod:`facelab.world.motion`) or
    ``"full"`` (the whole frame). ``backend`` is the inference backend the models run on
    (``"onnxruntime"``, ``"openvino"`` or ``"auto"``, :mod:`facelab.vision.backend`); left out
    of :meth:`to_dict` at its default."""

    regions: str = DEFAULT_DETECTION_REGIONS
    backend: str = DEFAULT_DETECTION_BACKEND

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"regions": self.regions}
        if self.backend != DEFAULT_DETECTION_BACKEND:
            out["backend"] = self.backend
        return out


@dataclass(frozen=True)
class ReviewSpec:
    """The human reviewer of each alert (``[review]``; :mod:`facelab.lab.reviewer`).

    ``logit P(confirm) = logit(p) + automation_bias · (displayed % − threshold %) / 10 +
    queue_effect · (alerts waiting) / 10``, with ``p`` = ``p_confirm_true`` for an alert on the
    right person and ``p_confirm_false`` otherwise; one reviewer takes alerts in arrival order,
    ``seconds_per_alert`` each. Left out of :meth:`Scenario.to_dict` at its defaults."""

    seconds_per_alert: float = DEFAULT_REVIEW_SECONDS
    p_confirm_true: float = DEFAULT_P_CONFIRM_TRUE
    p_confirm_false: float = DEFAULT_P_CONFIRM_FALSE
    automation_bias: float = DEFAULT_AUTOMATION_BIAS
    queue_effect: float = DEFAULT_QUEUE_EFFECT

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds_per_alert": self.seconds_per_alert,
            "p_confirm_true": self.p_confirm_true,
            "p_confirm_false": self.p_confirm_false,
            "automation_bias": self.automation_bias,
            "queue_effect": self.queue_effect,
        }


@dataclass(frozen=True)
class SystemSpec:
    """The deployed system a run emulates (``[system]``): ``profile`` names a system profile
    (``facelab profiles``; :mod:`facelab.profiles.emulate`) or is ``None``, the twin's own SFace
    cosines. Left out of :meth:`Scenario.to_dict` while ``None``."""

    profile: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile}


@dataclass(frozen=True)
class LimitsSpec:
    """What a scenario may need before it is refused (``[limits]``,
    :mod:`facelab.config.resources`).

    Attributes
    ----------
    memory_gib : float
        Estimated peak memory of building the world and running one day, in GiB.
    disk_gib : float
        Estimated size of the run directory, in GiB.
    cameras : int
        Cameras after ``[[camera_groups]]`` are expanded.
    days : int
        Simulated days.
    """

    memory_gib: float = DEFAULT_MEMORY_GIB
    disk_gib: float = DEFAULT_DISK_GIB
    cameras: int = DEFAULT_MAX_CAMERAS
    days: int = DEFAULT_MAX_DAYS

    def to_dict(self) -> dict[str, Any]:
        return {
            "memory_gib": self.memory_gib,
            "disk_gib": self.disk_gib,
            "cameras": self.cameras,
            "days": self.days,
        }
