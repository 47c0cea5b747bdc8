"""Values a scenario takes for the keys its TOML leaves out.

The section dataclasses (:mod:`facelab.config.sections`) use them as field defaults and the
table readers (:mod:`facelab.config.tables`) fill them in while parsing.
"""

from __future__ import annotations

DEFAULT_DESCRIPTION = ""
DEFAULT_MODE = "image"

# [movement]
DEFAULT_PASSES_PER_DAY: tuple[int, int] = (2, 4)
DEFAULT_ACTIVE_HOURS: tuple[int, int] = (6, 23)
DEFAULT_COMMUTER_SHARE = 0.7
DEFAULT_PRESENCE = 0.9

# [[cameras]] and [[camera_groups]]
DEFAULT_CAMERA_FR = False
DEFAULT_RESOLUTION: tuple[int, int] = (640, 480)
DEFAULT_QUALITY = "good"
DEFAULT_FR_FRACTION = 0.0

# [variation]
DEFAULT_LATENT_SIGMA = 0.25  # genuine cosine ≈ 0.7 through camera frames: mid 50–80 % band
DEFAULT_ENROL_SIGMA = 0.15

# [thresholds]
DEFAULT_MAPPING = "linear"
DEFAULT_ALERT_PERCENT = 60.0

# [retention]
DEFAULT_RETENTION_DAYS = 30
DEFAULT_CASE_HOLD = True

# [policy]
DEFAULT_REQUIRE_REASON = True
DEFAULT_FRAME_INTERVAL_S = 2

# [archive] and [detection]
DEFAULT_ARCHIVE_KIND = "flat"
DEFAULT_DETECTION_REGIONS = "motion"
#: Inference backend of the image pipeline's models (facelab.vision.backend; "auto" picks).
DEFAULT_DETECTION_BACKEND = "onnxruntime"

# [review]: the human who reviews each alert (facelab.lab.reviewer). P(confirm) from White et
# al. 2014, PLoS ONE 9(8): e103510 (30 passport officers, Sydney, photo-to-person matching:
# 6 % of valid photos rejected, 14 % of similar-looking "fraudulent" photos accepted).
DEFAULT_REVIEW_SECONDS = 10.0
DEFAULT_P_CONFIRM_TRUE = 0.94
DEFAULT_P_CONFIRM_FALSE = 0.14
#: Automation bias and queue pressure: log-odds added per 10 points / per 10 waiting alerts.
DEFAULT_AUTOMATION_BIAS = 0.0
DEFAULT_QUEUE_EFFECT = 0.0

# [limits]: what a scenario may need before it is refused (facelab.config.resources)
#: Estimated peak memory of a run, in GiB. A fixed figure rather than the machine's own memory, so
#: that a scenario (and a run's stored copy of it) loads the same on every machine.
DEFAULT_MEMORY_GIB = 8.0
#: Estimated size of a run directory (frames, archive shards, databases), in GiB.
DEFAULT_DISK_GIB = 100.0
#: Cameras after ``[[camera_groups]]`` are expanded (``metro`` has 1,000).
DEFAULT_MAX_CAMERAS = 100_000
#: Simulated days (ten years; ``metro`` has 35).
DEFAULT_MAX_DAYS = 3660
