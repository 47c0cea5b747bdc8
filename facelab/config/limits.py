"""What a scenario may hold: the choices for named options and the numeric bounds that the
table readers (:mod:`facelab.config.tables`) enforce.

Integer bounds are inclusive. A ``(low, high)`` pair bounds a value from both sides; a
``MIN_*`` constant from below only.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- choices

#: Camera kinds (``[[cameras]] kind``, ``[[camera_groups]] kind``).
CAMERA_KINDS: tuple[str, ...] = ("entrance", "metro_gate", "platform", "street")

#: What the pipeline works on (``mode``): rendered camera frames, or embeddings directly.
MODES: tuple[str, ...] = ("image", "embedding")

#: Where the image pipeline runs the face detector (``[detection] regions``).
DETECTION_REGIONS: tuple[str, ...] = ("motion", "full")

#: Inference backends of the image pipeline's models (``[detection] backend``); the same names
#: as :data:`facelab.vision.backend.BACKENDS`.
DETECTION_BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "openvino")

#: Day-shard kinds :class:`facelab.search.archive.DayShardArchive` builds (``[archive] kind``);
#: defined here, and imported by :mod:`facelab.search.archive`, so that parsing a scenario does
#: not load faiss.
ARCHIVE_KINDS: tuple[str, ...] = ("flat", "ivf-flat", "ivf-pq", "sq8", "ivf-sq8")

#: Groups of synthetic people by the Individual Typology Angle (ITA) measured on their rendered
#: faces (``[population] groups``), lightest first; :data:`ITA_LOWER_BOUNDS` gives each group's
#: lower bound in degrees (the standard ITA bands; the last group is everything below -30°).
#: They are bands of an image colour measure, never a real ethnicity (:mod:`facelab.world.groups`).
ITA_GROUPS: tuple[str, ...] = ("very-light", "light", "intermediate", "tan", "brown", "dark")
ITA_LOWER_BOUNDS: tuple[float, ...] = (55.0, 41.0, 28.0, 10.0, -30.0, -90.0)

#: Percent mappings a scenario alerts with (``[thresholds] mapping``): the names of
#: :data:`facelab.search.percent.MAPPINGS` that need no run to calibrate them (``log-fmr`` is
#: fitted to a finished run's impostor scores, so it is a ``facelab sweep --mapping`` only).
ALERT_MAPPINGS: tuple[str, ...] = ("linear", "sigmoid")

# --------------------------------------------------------------------------- numeric bounds

#: Largest integer any scenario key takes: the run database stores integers as signed 64-bit.
INT64_MAX = 2**63 - 1
#: Largest scenario file read, in bytes (a scenario with a thousand explicit cameras is ~150 kB).
MAX_SCENARIO_BYTES = 4 * 1024 * 1024

MIN_SEED = 0
MIN_DAYS = 1
MIN_POPULATION = 1
#: Lower bound of ``[watchlist] size`` and ``in_city``.
MIN_WATCHLIST = 0

#: ``[movement] passes_per_day``: lower bound of each end, and of the upper end.
MIN_PASSES_PER_DAY = 0
MIN_PASSES_UPPER = 1
#: ``[movement] active_hours``: bounds of each end (hours of the day).
DAY_HOURS: tuple[int, int] = (0, 24)

#: Cameras in a ``[[camera_groups]]`` entry.
MIN_GROUP_CAMERAS = 1
#: Smallest frame ``(width, height)`` in pixels.
MIN_RESOLUTION: tuple[int, int] = (160, 120)
#: Largest frame ``(width, height)`` in pixels: the largest image side facelab reads back
#: (:data:`facelab.imageio.MAX_SIDE`).
MAX_RESOLUTION: tuple[int, int] = (8192, 8192)

#: ``[quality.NAME]``: lower bound of each end of ``face_px``, and the ``jpeg_quality`` range.
MIN_FACE_PX = 1
JPEG_QUALITY: tuple[int, int] = (1, 100)

#: ``[retention]`` days of each kind.
MIN_RETENTION_DAYS = 1
#: ``[policy] frame_interval_s``: one second to one day.
FRAME_INTERVAL_S: tuple[int, int] = (1, 86400)
#: ``[review]``: most seconds per alert (one day), and the largest log-odds slope.
MAX_REVIEW_SECONDS = 86400.0
MAX_LOG_ODDS_SLOPE = 10.0
#: ``[archive] nprobe``.
MIN_NPROBE = 1

# --------------------------------------------------------------------------- [limits]

#: ``[limits]`` keys that are sizes in GiB (positive numbers) and counts (positive integers).
LIMIT_GIB_KEYS: tuple[str, ...] = ("memory_gib", "disk_gib")
LIMIT_COUNT_KEYS: tuple[str, ...] = ("cameras", "days")
