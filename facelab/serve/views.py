"""What the console's JSON API returns, computed by the same functions as the command line.

* the review queue: :func:`facelab.run.review.list_alerts` (``facelab alerts``), serialised by
  :func:`facelab.lab.jsonview.alert`, plus what a page needs to draw it (:func:`queue`);
* the threshold figures: :func:`facelab.lab.sweep.sweep_run` (``facelab sweep``) and
  :func:`facelab.lab.metrics.targets_found` (:func:`threshold`);
* FPIR against watchlist size: :func:`facelab.lab.report.rates.fpir_by_watchlist_size`, as the
  HTML report's figure (:func:`fpir_watchlist`);
* search hits: :func:`facelab.run.retrospective.search_photo` (``facelab search``);
* system profiles: :func:`facelab.api.profile_predict` (``facelab profile predict``) at the
  threshold a percent means on the profile's own scale (:func:`profile_prediction`);
* retention: :func:`facelab.governance.retention.purge` and ``verify`` (``facelab purge``,
  ``facelab retention verify``).

Truth-derived figures (innocent people flagged, wanted people missed) are returned only when
asked for (``reveal``), so a page shows the operator's view unless the teacher reveals them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from facelab.errors import ConfigError
from facelab.governance import retention
from facelab.lab import jsonview
from facelab.lab.metrics import Rate, fmr_fnmr, targets_found
from facelab.lab.report.rates import (
    HIGHLIGHT_PERCENTS,
    extrapolated_fpir,
    fpir_by_watchlist_size,
    watchlist_sizes,
)
from facelab.lab.scores import RunScores, load_scores
from facelab.lab.sweep import cosines_for, run_mapping, sweep_run
from facelab.run import review, schema
from facelab.run.store import RunStore
from facelab.run.window import archive_window
from facelab.search.percent import MAPPINGS, get_mapping

log = logging.getLogger(__name__)


NO_FRAMES_EMBEDDING = (
    "This is an embedding-mode run: it simulates face embeddings and draws no camera frames "
    "and no watchlist photos, so there are no images to show (and a search by photo needs an "
    "image-mode run)."
)
"""What the console says instead of frames and photos for an embedding-mode run."""


def no_frames(store: RunStore) -> str | None:
    """:data:`NO_FRAMES_EMBEDDING` for an embedding-mode run, else ``None``."""
    return NO_FRAMES_EMBEDDING if store.meta.get("mode", "image") == "embedding" else None


def file_url(rel: str | None) -> str | None:
    """URL of a file of the run (``frames/…``, ``watchlist/…``) on the console."""
    return f"/files/{rel}" if rel else None


def _box(row) -> list[float] | None:
    if row is None or row.x is None:
        return None
    return [float(row.x), float(row.y), float(row.w), float(row.h)]


def queue(store: RunStore, min_percent: float | None = None) -> dict[str, Any]:
    """The review queue as the operator view draws it.

    Each alert is :func:`facelab.lab.jsonview.alert` (as ``facelab alerts --format json``)
    plus ``box`` (the face, ``[x, y, w, h]`` frame pixels), ``frame_size`` (``[w, h]``),
    ``frame_url`` and ``photo_url`` (the watchlist photo; ``None`` where there is none). The
    queue also has ``count``, ``start`` (the scenario's first day) and ``no_frames``
    (:func:`no_frames`).
    """
    rows = review.list_alerts(store, min_percent)
    cams = {c.id: c for c in schema.cameras(store.db)}
    photos = {e.id: e.photo for e in schema.watchlist_entries(store.db, include_removed=True)}
    views = schema.sighting_views(store.db, sorted({a.sighting for a in rows}))
    out = []
    for a in rows:
        d = jsonview.alert(a)
        cam = cams.get(a.camera)
        v = views.get(a.sighting)
        d.update(
            box=_box(v.sighting if v else None),
            frame_size=[cam.width, cam.height] if cam and cam.width else None,
            frame_url=file_url(a.frame),
            photo_url=file_url(photos.get(a.watch_id)),
        )
        out.append(d)
    return {"alerts": out, "count": len(out), "start": str(store.scenario_dict().get("start")),
            "no_frames": no_frames(store)}  # fmt: skip


# --------------------------------------------------------------------------- threshold


def _rate(r: Rate | None) -> dict[str, Any] | None:
    if r is None:
        return None
    clean = lambda x: None if x is None or math.isnan(x) else float(x)  # noqa: E731
    return {"count": int(r.count), "total": int(r.total), "value": clean(r.value),
            "lo": clean(r.lo), "hi": clean(r.hi)}  # fmt: skip


def threshold(
    scores: RunScores, percent: float, mapping: str = "linear", *, reveal: bool = False
) -> dict[str, Any]:
    """The figures the threshold slider shows at ``percent`` (one row of ``facelab sweep``).

    Returns ``percent``, ``cosine``, ``mapping``, ``alerts``, ``review_hours``,
    ``seconds_per_candidate``, ``candidates_per_search``; with ``reveal`` also
    ``true_alerts``, ``false_alerts`` (alerts on innocent people), ``fpir`` (innocent
    searches flagged), ``fnir`` (wanted sightings missed at rank 1) and ``wanted_missed``
    (watchlisted people seen by an FR camera and never found), each rate with count and total.
    """
    m = run_mapping(scores, mapping)
    table = sweep_run(scores, [float(percent)], m)
    r = table.rows[0]
    cosine = r.cosine if math.isfinite(r.cosine) else ("inf" if r.cosine > 0 else "-inf")
    out: dict[str, Any] = {
        "percent": r.percent, "cosine": cosine, "mapping": table.mapping,
        "mapping_description": table.mapping_description, "alerts": r.alerts,
        "review_hours": r.review_hours, "seconds_per_candidate": table.seconds_per_candidate,
        "candidates_per_search": r.candidates_per_search, "revealed": bool(reveal),
    }  # fmt: skip
    if reveal:
        found = targets_found(scores.best_true_score, [r.cosine])[0]
        out.update(
            true_alerts=r.true_alerts,
            false_alerts=r.false_alerts,
            fpir=_rate(r.fpir),
            fnir=_rate(r.fnir),
            wanted_missed={"count": int(found.total - found.count), "total": int(found.total)},
        )
    return out


CURVE_THRESHOLDS = "0:100:1"
"""Thresholds of the curves the threshold view draws (one sweep row per whole percent)."""


def curve(scores: RunScores, mapping: str = "linear", *, reveal: bool = False) -> dict[str, Any]:
    """The sweep at every whole percent (``facelab sweep --thresholds 0:100:1``).

    Returns ``percent`` and ``alerts`` lists (the queue swelling as the threshold falls) and,
    with ``reveal``, the DET points: ``fpir`` and ``fnir`` values (``None`` where undefined).
    """
    table = sweep_run(scores, CURVE_THRESHOLDS, run_mapping(scores, mapping))
    out: dict[str, Any] = {
        "mapping": table.mapping,
        "percent": [r.percent for r in table.rows],
        "alerts": [r.alerts for r in table.rows],
        "revealed": bool(reveal),
    }
    if reveal:
        out["fpir"] = [_rate(r.fpir)["value"] for r in table.rows]
        out["fnir"] = [_rate(r.fnir)["value"] for r in table.rows]
    return out


WATCHLIST_EXTRAPOLATE_TO = 10_000
"""Largest watchlist size of the extrapolated FPIR line (as the report's figure)."""


def _values(xs) -> list[float | None]:
    return [None if x is None or math.isnan(x) else float(x) for x in xs]


def fpir_watchlist(
    scores: RunScores, percent: float, mapping: str = "linear", *, reveal: bool = False
) -> dict[str, Any]:
    """FPIR against watchlist size at ``percent`` and at the report's highlighted thresholds.

    The numbers of the report's "FPIR vs watchlist size" figure: measured by
    :func:`facelab.lab.report.rates.fpir_by_watchlist_size` on the run's own non-mated
    searches at the sizes :func:`~facelab.lab.report.rates.watchlist_sizes`, and, when the
    run's 1:1 impostor scores are complete, extrapolated from the false match rate by
    :func:`~facelab.lab.report.rates.extrapolated_fpir`.

    Returns ``percent``, ``cosine``, ``mapping``, ``watchlist_size``, ``sizes`` and
    ``revealed``; with ``reveal`` also ``fpir`` (one value per size at ``percent``, ``None``
    where there is no non-mated search), ``reference`` (``{"percent", "fpir"}`` per
    :data:`~facelab.lab.report.rates.HIGHLIGHT_PERCENTS`) and ``extrapolated``
    (``{"sizes", "fpir", "lo", "hi"}`` at ``percent``, or ``None``).
    """
    m = run_mapping(scores, mapping)
    w = int(scores.watchlist_size)
    sizes = watchlist_sizes(w)
    cos = cosines_for(m, [float(percent), *HIGHLIGHT_PERCENTS])
    c = float(cos[0])
    out: dict[str, Any] = {
        "percent": float(percent), "mapping": m.name,
        "cosine": c if math.isfinite(c) else ("inf" if c > 0 else "-inf"),
        "watchlist_size": w, "sizes": sizes, "revealed": bool(reveal),
    }  # fmt: skip
    if not reveal:
        return out
    measured = fpir_by_watchlist_size(scores.searches, w, cos, sizes)
    out["fpir"] = _values(measured[0])
    out["reference"] = [
        {"percent": float(p), "fpir": _values(row)}
        for p, row in zip(HIGHLIGHT_PERCENTS, measured[1:], strict=True)
    ]
    out["extrapolated"] = None
    if scores.complete and scores.impostor.size and w > 0:
        fmr = fmr_fnmr(np.empty(0), scores.impostor, c)[0][0]
        big = watchlist_sizes(max(WATCHLIST_EXTRAPOLATE_TO, w))
        v, lo, hi = zip(*(extrapolated_fpir(fmr, n) for n in big), strict=True)
        out["extrapolated"] = {"sizes": big, "fpir": _values(v), "lo": _values(lo),
                               "hi": _values(hi)}  # fmt: skip
    return out


def mappings() -> list[str]:
    return list(MAPPINGS)


# --------------------------------------------------------------------------- system profiles

PROFILE_LABEL = "profile prediction, not a measurement of this run"
"""How every figure of a system profile is labelled on the console."""


def profile_choices(run_mapping_name: str) -> list[dict[str, Any]]:
    """The shipped system profiles for the threshold view's mapping selector.

    Each is ``{"name", "version", "title", "scale", "unit", "percent", "mapping"}``:
    ``percent`` is the profile's own percent rule (a facelab mapping or ``"none"``) and
    ``mapping`` the facelab mapping the run's own figures use while the profile is selected
    (the profile's rule, or ``run_mapping_name`` where the profile has none). A profile file
    that does not load is left out (and logged).
    """
    from facelab.profiles.profile import get_profile, shipped

    out = []
    for name in shipped():
        try:
            p = get_profile(name)
        except ConfigError as exc:
            log.warning("system profile %s left out of the console: %s", name, exc)
            continue
        rule = p.scale.percent
        out.append({
            "name": p.name, "version": p.version, "title": p.title, "scale": p.scale.name,
            "unit": p.scale.unit, "percent": rule,
            "mapping": rule if rule in MAPPINGS else run_mapping_name,
        })  # fmt: skip
    return out


def _finite_or_word(x: float) -> float | str:
    return float(x) if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def profile_score(profile, percent: float) -> float | None:
    """The threshold on ``profile``'s own score scale that the displayed ``percent`` means.

    The profile's ``[scale] percent`` names the facelab mapping from its score to the percent
    an operator sees; the threshold is that mapping's :meth:`~facelab.search.percent.
    PercentMapping.to_cosine` (the smallest score shown at ``percent`` or above; ``-inf`` when
    every score is). ``None`` for a profile without a percent scale.
    """
    if profile.scale.percent not in MAPPINGS:
        return None
    return float(get_mapping(profile.scale.percent).to_cosine(float(percent)))


def profile_prediction(name: str, percent: float, watchlist_size: int) -> dict[str, Any]:
    """What ``percent`` means under a system profile, and what its model predicts there.

    The threshold on the profile's scale is :func:`profile_score`; the rates are those of
    ``facelab profile predict NAME --gallery W --threshold T --condition C``
    (:func:`facelab.api.profile_predict`) at the run's watchlist size ``W``, one row per
    capture condition of the profile: ``{"condition", "fpir", "tpir", "fnir"}``.

    Returns ``profile``, ``version``, ``title``, ``system``, ``scale`` (``name``, ``unit``,
    ``percent``, ``description``), ``percent``, ``score`` (a number; ``"-inf"`` or ``"inf"``
    where every score or none is shown at ``percent``; ``None`` without a percent scale),
    ``watchlist_size``, ``rows`` (empty unless ``score`` is a number), ``note`` (what an
    infinite ``score`` means, else ``None``) and ``label`` (:data:`PROFILE_LABEL`).

    Raises
    ------
    ConfigError
        Not the name of a shipped profile (never a path: the console reads no file a request
        names), or a percent outside [0, 100].
    """
    from facelab import api
    from facelab.profiles.profile import get_profile, shipped

    names = shipped()
    if name not in names:
        raise ConfigError(f"unknown system profile {name!r} (choose from {', '.join(names)})")
    if not 0.0 <= percent <= 100.0:
        raise ConfigError(f"percent must lie in [0, 100], got {percent!r}")
    p = get_profile(name)
    score = profile_score(p, percent)
    n = max(int(watchlist_size), 1)
    rows = []
    note = None
    if score is not None and not math.isfinite(score):
        note = ("every score is shown at this percent or above: every search alerts"
                if score < 0 else "no score is shown at this percent: no search alerts")  # fmt: skip
    elif score is not None:
        for cond in p.model.genuine:
            r = api.profile_predict(name, [n], threshold=score, condition=cond)["rows"][0]
            rows.append({"condition": cond, "fpir": r["fpir"], "tpir": 1.0 - r["fnir"],
                         "fnir": r["fnir"]})  # fmt: skip
    sc = p.scale
    return {
        "profile": p.name, "version": p.version, "title": p.title, "system": p.system,
        "scale": {"name": sc.name, "unit": sc.unit, "percent": sc.percent,
                  "description": sc.description},
        "percent": float(percent), "score": None if score is None else _finite_or_word(score),
        "watchlist_size": n, "rows": rows, "note": note, "label": PROFILE_LABEL,
    }  # fmt: skip


def load(store: RunStore) -> RunScores:
    return load_scores(store)


# --------------------------------------------------------------------------- search


def hits(store: RunStore, result) -> dict[str, Any]:
    """A search as ``facelab search --format json`` prints it
    (:func:`facelab.lab.jsonview.search_result`), each hit with its ``frame_url`` (``None``
    when no frame was kept), ``frame_size`` (``[w, h]`` of its camera) and ``box`` (the face,
    as in the operator view), plus ``no_frames`` (:func:`no_frames`)."""
    cams = {c.id: c for c in schema.cameras(store.db)}
    out = jsonview.search_result(result)
    for h in out["hits"]:
        cam = cams.get(h["camera"])
        h["frame_url"] = file_url(h["frame"])
        h["frame_size"] = [cam.width, cam.height] if cam and cam.width else None
    out["no_frames"] = no_frames(store)
    return out


def people(store: RunStore) -> list[dict[str, Any]]:
    """People of the run's world a search can start from (``facelab world --people``): the
    scenario's watchlist, then the people seen most by face-recognition cameras."""
    from facelab.run.photo import people_to_try
    from facelab.world.world import build_world

    tried = people_to_try(build_world(store.scenario()))
    out = [{"person": p["person"], "label": p["label"], "fr_passes": p["fr_passes"]}
           for p in tried["watchlist"]]  # fmt: skip
    out += [{"person": p["person"], "label": None, "fr_passes": p["fr_passes"]}
            for p in tried["fr_passers"]]  # fmt: skip
    return out


# --------------------------------------------------------------------------- retention


def retention_state(store: RunStore) -> dict[str, Any]:
    """The archive window and the run's retention policy (``facelab retention window``)."""
    win = archive_window(store)
    return {
        "window": win.describe() if win else None,
        "first_day": win.first_day if win else None,
        "last_day": win.last_day if win else None,
        "policy": store.scenario_dict().get("retention") or {},
        "days_done": store.days_done(),
    }


def purge_report(report) -> dict[str, Any]:
    return {"lines": report.lines(), "purge_id": report.purge_id}


def verify_report(rep: retention.VerifyReport) -> dict[str, Any]:
    return {
        "ok": rep.ok,
        "window": rep.window,
        "checks": [{"name": c.name, "ok": bool(c.ok), "detail": c.detail} for c in rep.checks],
        "needles": rep.needles,
        "found": rep.found,
    }
