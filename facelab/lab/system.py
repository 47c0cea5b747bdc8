"""Which system a run's scores speak for, and what its percent means (from ``run.json``).

A run made with ``--system PROFILE`` (or a scenario's ``[system] profile``) stores candidate
scores on that profile's scale (:mod:`facelab.profiles.emulate`) and records the profile in
``run.json`` under ``"system"``; a run without one stores the twin's (or the real models')
SFace cosines. Sweep, report and the console say which, in the words of :func:`describe`.
"""

from __future__ import annotations

from typing import Any

NO_SYSTEM = "none: the SFace cosines of facelab's own system (no system profile)"


def record(meta: dict) -> dict[str, Any] | None:
    """The ``"system"`` record of a run's ``run.json`` (None for a run without a profile)."""
    rec = meta.get("system")
    return dict(rec) if isinstance(rec, dict) and rec.get("name") else None


def describe(meta: dict) -> str:
    """One line: the profile (name, version, title) and what its percent means."""
    rec = record(meta)
    if rec is None:
        return NO_SYSTEM
    return (
        f"{rec['name']} v{rec.get('version', '?')} ({rec.get('title', '')}): scores on its "
        f"{rec.get('scale', '')} scale ({rec.get('unit', '')}); {rec.get('description', '')}"
    )


def to_json(meta: dict) -> dict[str, Any]:
    """``{"profile", "version", "scale", "unit", "percent", "percent_means", "text"}`` (the
    first six None without a profile)."""
    rec = record(meta) or {}
    return {
        "profile": rec.get("name"),
        "version": rec.get("version"),
        "scale": rec.get("scale"),
        "unit": rec.get("unit"),
        "percent": rec.get("percent"),
        "percent_means": rec.get("description"),
        "text": describe(meta),
    }


def published_points(meta: dict) -> list[dict[str, Any]]:
    """The published points on all searches of the run's profile, as ``run.json`` records them
    (``name``, ``metric``, ``gallery``, ``percent``, ``published``, ``lo``, ``hi``, ``fitted``,
    …), for the report's plots of all searches: a point on one group's searches is left out;
    empty for a run without a profile."""
    rec = record(meta) or {}
    points = rec.get("points", [])
    return [dict(p) for p in points if isinstance(p, dict) and p.get("group") is None]


def det_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Published (FPIR, FNIR) pairs: an FPIR and a TPIR or FNIR point at the same gallery
    size and percent threshold. Each: ``label``, ``fpir``, ``fnir`` and their ``*_lo`` /
    ``*_hi`` (95 % intervals), ``fitted`` (both were)."""
    fpir = {(p["gallery"], p["percent"]): p for p in points if p["metric"] == "fpir"}
    out = []
    for p in points:
        if p["metric"] not in ("tpir", "fnir") or p.get("percent") is None:
            continue
        f = fpir.get((p["gallery"], p["percent"]))
        if f is None:
            continue
        fn, lo, hi = p["published"], p["lo"], p["hi"]
        if p["metric"] == "tpir":
            fn, lo, hi = 1 - fn, 1 - hi, 1 - lo
        out.append(
            {
                "label": f"{p['percent']:g} %, N = {p['gallery']:,}",
                "fpir": f["published"], "fpir_lo": f["lo"], "fpir_hi": f["hi"],
                "fnir": fn, "fnir_lo": lo, "fnir_hi": hi,
                "fitted": bool(p["fitted"] and f["fitted"]),
            }
        )  # fmt: skip
    return out
