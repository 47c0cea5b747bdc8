"""Every scenario key with its unit, default and limits, as ``docs/scenarios.md`` shows them.

The rows take their defaults from :mod:`facelab.config.defaults` and
:mod:`facelab.config.quality`, and their limits from :mod:`facelab.config.limits`, so the guide
changes when those tables change; ``tests/test_docs.py`` checks that the rows name exactly the
keys the table readers accept, that the defaults are what a parsed scenario holds, and that
``docs/scenarios.md`` is :func:`scenarios_markdown`. Regenerate it with
``python -m facelab.config.reference > docs/scenarios.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from facelab.config import defaults as D
from facelab.config import limits as L
from facelab.config.quality import BUILTIN_QUALITY


@dataclass(frozen=True)
class Key:
    """One scenario key: ``table`` is its TOML table (``""`` at the top), ``default`` the value
    taken when it is left out (``None``: required, or said in ``meaning``)."""

    table: str
    key: str
    unit: str
    default: object
    limits: str
    meaning: str


class Say(str):
    """A default told in words rather than a TOML value."""


REQUIRED = Say("*required*")


def _choices(names) -> str:
    return " \\| ".join(f"`{n}`" for n in names)


def _q(attr: str) -> Say:
    return Say(", ".join(f"{n} `{_toml(getattr(p, attr))}`" for n, p in BUILTIN_QUALITY.items()))


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return str(v)


KEYS: tuple[Key, ...] = (
    Key("", "name", "text", Say("file name without .toml"), "letters, digits, `_ - .`",
        "Scenario name (runs and reports show it)."),
    Key("", "description", "text", D.DEFAULT_DESCRIPTION, "", "One paragraph for people."),
    Key("", "seed", "integer", REQUIRED, f"≥ {L.MIN_SEED}",
        "Seed of everything random: people, schedule, faces, FR cameras of groups."),
    Key("", "start", "date", REQUIRED, "YYYY-MM-DD", "Simulated date of day 0."),
    Key("", "days", "days", REQUIRED, f"≥ {L.MIN_DAYS}, ≤ `[limits] days`", "Days simulated."),
    Key("", "mode", "choice", D.DEFAULT_MODE, _choices(L.MODES),
        "Render frames and run the real models, or draw embeddings from the calibrated twin."),
    Key("population", "size", "people", REQUIRED, f"≥ {L.MIN_POPULATION}",
        "People living in the city (person ids 0 .. size-1)."),
    Key("population", "groups", "table of group = share", Say("none (faces as drawn)"),
        f"groups {_choices(L.ITA_GROUPS)}; shares 0 – 1 summing to 1; image mode only",
        "Shares of groups measured on each identity's rendered face (ITA bands > 55°, 41, "
        "28, 10, −30, below; `docs/groups.md`); image colour bands, not ethnicities."),
    Key("movement", "passes_per_day", "[low, high] passes", list(D.DEFAULT_PASSES_PER_DAY),
        f"low ≥ {L.MIN_PASSES_PER_DAY}, high ≥ max(low, {L.MIN_PASSES_UPPER})",
        "Camera passes a present person makes a day (uniform)."),
    Key("movement", "active_hours", "[from, to] hours", list(D.DEFAULT_ACTIVE_HOURS),
        f"{L.DAY_HOURS[0]} ≤ from < to ≤ {L.DAY_HOURS[1]}", "When people move."),
    Key("movement", "commuter_share", "fraction", D.DEFAULT_COMMUTER_SHARE, "0 – 1",
        "Share of people who commute between two home stations."),
    Key("movement", "presence", "fraction", D.DEFAULT_PRESENCE, "0 – 1",
        "Chance that a person is out on a given day."),
    Key("quality.NAME", "base", "choice", Say("NAME if built in, else " + D.DEFAULT_QUALITY),
        _choices(BUILTIN_QUALITY), "Built-in profile the other keys override."),
    Key("quality.NAME", "face_px", "[min, max] pixels", _q("face_px"), f"each ≥ {L.MIN_FACE_PX}",
        "Face height in the frame."),
    Key("quality.NAME", "blur_sigma", "pixels", _q("blur_sigma"), "≥ 0", "Gaussian blur."),
    Key("quality.NAME", "noise_sd", "grey levels", _q("noise_sd"), "≥ 0", "Sensor noise."),
    Key("quality.NAME", "jpeg_quality", "JPEG quality", _q("jpeg_quality"),
        f"{L.JPEG_QUALITY[0]} – {L.JPEG_QUALITY[1]}", "Compression of the camera's stream."),
    Key("quality.NAME", "brightness", "[min, max] factor", _q("brightness"), "> 0",
        "Exposure factor drawn per face."),
    Key("quality.NAME", "occlusion_prob", "fraction", _q("occlusion_prob"), "0 – 1",
        "Chance that part of a face is covered."),
    Key("cameras", "id", "text", REQUIRED, "letters, digits, `_ - .`; unique", "Camera id."),
    Key("cameras", "kind", "choice", REQUIRED, _choices(L.CAMERA_KINDS), "Where it looks."),
    Key("cameras", "station", "text", REQUIRED, "non-empty", "Station it stands at."),
    Key("cameras", "fr", "true/false", D.DEFAULT_CAMERA_FR, "",
        "Face recognition: its faces are searched against the watchlist."),
    Key("cameras", "resolution", "[width, height] pixels", list(D.DEFAULT_RESOLUTION),
        f"{L.MIN_RESOLUTION[0]}×{L.MIN_RESOLUTION[1]} – "
        f"{L.MAX_RESOLUTION[0]}×{L.MAX_RESOLUTION[1]}"
        if hasattr(L, "MAX_RESOLUTION") else f"≥ {L.MIN_RESOLUTION[0]}×{L.MIN_RESOLUTION[1]}",
        "Frame size; the quality's largest face must fit."),
    Key("cameras", "quality", "profile name", D.DEFAULT_QUALITY, "built in or `[quality.NAME]`",
        "How the camera degrades faces."),
    Key("camera_groups", "prefix", "text", REQUIRED, "letters, digits, `_ - .`",
        "Camera ids are PREFIX-0001, PREFIX-0002, …"),
    Key("camera_groups", "count", "cameras", REQUIRED,
        f"≥ {L.MIN_GROUP_CAMERAS}; all groups ≤ `[limits] cameras`", "Cameras in the group."),
    Key("camera_groups", "kind", "choice", REQUIRED, _choices(L.CAMERA_KINDS), "Where they look."),
    Key("camera_groups", "stations", "list of text, or a count", REQUIRED, "≤ count",
        "Stations the cameras are spread over."),
    Key("camera_groups", "fr_fraction", "fraction", D.DEFAULT_FR_FRACTION, "0 – 1",
        "Share of the group's cameras with face recognition (drawn from the seed)."),
    Key("camera_groups", "resolution", "[width, height] pixels", list(D.DEFAULT_RESOLUTION),
        "as `[[cameras]] resolution`", "Frame size."),
    Key("camera_groups", "quality", "profile name", D.DEFAULT_QUALITY,
        "built in or `[quality.NAME]`", "How the cameras degrade faces."),
    Key("variation", "latent_sigma", "latent s.d.", D.DEFAULT_LATENT_SIGMA, "≥ 0",
        "How much a face varies between sightings of one person."),
    Key("variation", "enrol_sigma", "latent s.d.", D.DEFAULT_ENROL_SIGMA, "≥ 0",
        "The same for watchlist photos and `facelab photo`."),
    Key("watchlist", "size", "entries", REQUIRED, f"≥ {L.MIN_WATCHLIST}",
        "Entries enrolled at the start (labels WL-0001, …)."),
    Key("watchlist", "in_city", "entries", REQUIRED, f"{L.MIN_WATCHLIST} – size",
        "Of them, people who live in the city (the rest never pass a camera)."),
    Key("thresholds", "mapping", "choice", D.DEFAULT_MAPPING,
        _choices(getattr(L, "ALERT_MAPPINGS", ("linear", "sigmoid"))),
        "Cosine → percent scale the alert threshold is given in."),
    Key("thresholds", "alert_percent", "percent", D.DEFAULT_ALERT_PERCENT, "0 < p ≤ 100",
        "Alert threshold of every camera without its own (`facelab run --threshold`)."),
    Key("thresholds", "per_camera", "{camera id = percent}", Say("`{}`"), "0 < p ≤ 100; known ids",
        "Per-camera alert thresholds."),
    Key("retention", "days", "days", D.DEFAULT_RETENTION_DAYS, f"≥ {L.MIN_RETENTION_DAYS}",
        "Archive window: older sightings, frames and alerts are purged."),
    Key("retention", "unmatched_days", "days", Say("`retention.days`"), f"≥ {L.MIN_RETENTION_DAYS}",
        "Window for sightings that raised no alert."),
    Key("retention", "matched_days", "days", Say("`retention.days`"), f"≥ {L.MIN_RETENTION_DAYS}",
        "Window for sightings that raised an alert."),
    Key("retention", "case_hold", "true/false", D.DEFAULT_CASE_HOLD, "",
        "Confirmed alerts of an open case are held past the window."),
    Key("policy", "require_reason", "true/false", D.DEFAULT_REQUIRE_REASON, "",
        "Searches, enrolments, removals and reviews need a stated reason."),
    Key("policy", "frame_interval_s", "seconds", D.DEFAULT_FRAME_INTERVAL_S,
        f"{L.FRAME_INTERVAL_S[0]} – {L.FRAME_INTERVAL_S[1]}", "Time between a camera's frames."),
    Key("archive", "kind", "choice", D.DEFAULT_ARCHIVE_KIND, _choices(L.ARCHIVE_KINDS),
        "FAISS index of each archived day."),
    Key("archive", "nprobe", "lists", Say("the index's own"), f"≥ {L.MIN_NPROBE}",
        "Lists an IVF day shard searches."),
    Key("detection", "regions", "choice", D.DEFAULT_DETECTION_REGIONS,
        _choices(L.DETECTION_REGIONS), "Detect faces where the frame changed, or everywhere."),
    Key("detection", "backend", "choice", D.DEFAULT_DETECTION_BACKEND,
        _choices(L.DETECTION_BACKENDS), "Inference backend of the detector, embedder, generator."),
    Key("system", "profile", "name", Say("none (the twin's own SFace cosines)"),
        "a shipped profile with an operator percent (`facelab profiles`); embedding mode",
        "Deployed system to emulate: candidate scores carried onto its score scale, alerts on "
        "its percent (`facelab.profiles.emulate`)."),
)  # fmt: skip

KEYS += (
    Key("review", "seconds_per_alert", "seconds", D.DEFAULT_REVIEW_SECONDS,
        f"> 0, ≤ {L.MAX_REVIEW_SECONDS:g}", "Reviewer time per alert (one reviewer, alerts in "
        "arrival order; the queue is what waits)."),
    Key("review", "p_confirm_true", "probability", D.DEFAULT_P_CONFIRM_TRUE, "0 – 1",
        "P(reviewer confirms an alert on the right person). Default: White et al. 2014, PLoS "
        "ONE 9(8) e103510: 30 Australian passport officers at work matching photo-ID to the "
        "person in front of them rejected 6 % of valid photos."),
    Key("review", "p_confirm_false", "probability", D.DEFAULT_P_CONFIRM_FALSE, "0 – 1",
        "P(reviewer confirms an alert on someone else): a stop of an innocent person. Default: "
        "the same officers accepted 14 % of 'fraudulent' photos of similar-looking people."),
    Key("review", "automation_bias", "log-odds per 10 points", D.DEFAULT_AUTOMATION_BIAS,
        f"±{L.MAX_LOG_ODDS_SLOPE:g}", "Added to the log-odds of confirming per 10 displayed "
        "percent points above the threshold. Fysh & Bindemann 2018 (Cogn. Sci. 42:1714) and "
        "Howard et al. 2020 (PLoS ONE 15:e0237855) found prior labels bias decisions but give "
        "no figure on this scale: 0 unless set."),
    Key("review", "queue_effect", "log-odds per 10 alerts", D.DEFAULT_QUEUE_EFFECT,
        f"±{L.MAX_LOG_ODDS_SLOPE:g}", "Added to the log-odds of confirming per 10 alerts "
        "waiting. Alenezi et al. 2015 (PeerJ 3:e1184) found accuracy falls over long sessions; "
        "no figure on this scale: 0 unless set."),
)  # fmt: skip

if hasattr(D, "DEFAULT_MAX_DAYS"):
    KEYS += (
        Key("limits", "memory_gib", "GiB", D.DEFAULT_MEMORY_GIB,
            "> 0", "Largest estimated peak memory (world and one day)."),
        Key("limits", "disk_gib", "GiB", D.DEFAULT_DISK_GIB, "> 0",
            "Largest estimated run-directory size."),
        Key("limits", "cameras", "cameras", D.DEFAULT_MAX_CAMERAS, "≥ 1",
            "Most cameras after groups are expanded."),
        Key("limits", "days", "days", D.DEFAULT_MAX_DAYS, "≥ 1", "Most simulated days."),
    )  # fmt: skip


def _fmt(v: object) -> str:
    return str(v) if isinstance(v, Say) else f"`{_toml(v)}`"


def _title(table: str) -> str:
    if table == "":
        return "Top level"
    if table in ("cameras", "camera_groups"):
        return f"`[[{table}]]` (array of tables)"
    return f"`[{table}]`"


def scenarios_markdown() -> str:
    """The text of ``docs/scenarios.md``."""
    out = [
        "# Writing a scenario",
        "",
        "<!-- Generated by `python -m facelab.config.reference > docs/scenarios.md` from",
        "facelab/config (defaults, limits, quality); tests/test_docs.py fails when they differ. -->",
        "",
        "A scenario is a TOML file (the presets are in `scenarios/`; `facelab world FILE.toml`",
        "checks one and prints what it builds). Every key, its unit, the value taken when it is",
        "left out, and the values it may take are below. A bad value is refused with the key's",
        "dotted name, e.g. `my.toml: thresholds.alert_percent: must be a percent with",
        "0 < p <= 100, got 150` (exit code 2). `facelab run` can override `seed`, `days` and",
        "`thresholds.alert_percent` (`--seed`, `--days`, `--threshold PCT`), validated the same way.",
        "",
        "A minimal scenario:",
        "",
        "```toml",
        "seed = 1",
        'start = "2026-03-02"',
        "days = 2",
        "",
        "[population]",
        "size = 40",
        "",
        "[watchlist]",
        "size = 4",
        "in_city = 2",
        "",
        "[[cameras]]",
        'id = "gate"',
        'kind = "entrance"',
        'station = "north"',
        "fr = true",
        "```",
    ]
    table = None
    for k in KEYS:
        if k.table != table:
            table = k.table
            out += ["", f"## {_title(table)}", "", "| key | unit | default | limits | meaning |",
                    "|---|---|---|---|---|"]  # fmt: skip
        out.append(f"| `{k.key}` | {k.unit} | {_fmt(k.default)} | {k.limits} | {k.meaning} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(scenarios_markdown(), end="")
