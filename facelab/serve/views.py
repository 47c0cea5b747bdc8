"""What the console's JSON API returns, computed by the same functions as the command line.

* the review queue: :func:`facelab.run.review.list_alerts` (``facelab alerts``), serialised by
  :func:`facelab.lab.jsonview.alert`, plus what a page needs to draw it (:func:`queue`);
* the threshold figures: :func:`facelab.lab.sweep.sweep_run` (``facelab sweep``) and
  :func:`facelab.lab.metrics.targets_found` (:func:`threshold`);
* FPIR against watchlist size: :func:`facelab.lab.report.rates.fpir_by_watchlist_size`, as the
  HTML report's figure (:func:`fpir_watchlist`);
* search hits: :func:`facelab.run.retrospective.search_photo` (``facelab search``);
* retention: :func:`facelab.governance.retention.purge` and ``verify`` (``facelab purge``,
  ``facelab retention verify``).

Truth-derived figures (innocent people flagged, wanted people missed) are returned only when
asked for (``reveal``), so a page shows the operator's view unless the teacher reveals them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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
from facelab.search.percent import MAPPINGS


def file_url(rel: str | None) -> str | None:
    """URL of a file of the run (``frames/…``, ``watchlist/…``) on the console."""
    return f"/files/{rel}" if rel else None


def _box(row) -> list[float] | None:
    if row is None or row.x is None:
        return None
    return [float(row.x), float(row.y), float(row.w), float(row.h)]


def queue(store: RunStore, min_percent: float | None = None) -> dict[str, Any]:
    """The review queue as the operator view draws it.

    Each alert is :func:`facelab.lab.jsonview.alert` (as ``facelab alerts --format json``) plus ``box`` (the face, ``[x, y, w,
    h]`` frame pixels), ``frame_size`` (``[w, h]``), ``frame_url`` and ``photo_url`` (the
    watchlist photo).
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
    return {"alerts": out, "count": len(out), "start": str(store.scenario_dict().get("start"))}


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


def load(store: RunStore) -> RunScores:
    return load_scores(store)


# --------------------------------------------------------------------------- search


def hits(store: RunStore, result) -> dict[str, Any]:
    """A search as ``facelab search --format json`` prints it
    (:func:`facelab.lab.jsonview.search_result`), each hit with its ``frame_url`` and
    ``frame_size`` (``[w, h]`` of its camera)."""
    cams = {c.id: c for c in schema.cameras(store.db)}
    out = jsonview.search_result(result)
    for h in out["hits"]:
        cam = cams.get(h["camera"])
        h["frame_url"] = file_url(h["frame"])
        h["frame_size"] = [cam.width, cam.height] if cam and cam.width else None
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
