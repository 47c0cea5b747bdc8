"""What the console's JSON API says about the people behind the errors, computed by the lab.

* people's own review decisions beside the reviewer model's on the same alerts:
  :func:`facelab.lab.reviewer.student_agreement` (:func:`review_agreement`);
* per-group figures at the threshold slider's percent, for runs with measured groups:
  :func:`facelab.lab.groups.groups_at` (:func:`group_figures`).

Both depend on the truth (the model's decisions depend on whether an alert is right), so they
are returned only when asked for (``reveal``), as in :mod:`facelab.serve.views`.
"""

from __future__ import annotations

from typing import Any

from facelab.lab import groups, reviewer
from facelab.run import schema
from facelab.run.store import RunStore


def review_agreement(store: RunStore, *, reveal: bool = False) -> dict[str, Any]:
    """``decided`` (alerts people confirmed or rejected) and ``revealed``; with ``reveal``
    also the comparison with the reviewer model (:func:`reviewer.student_agreement`)."""
    if not reveal:
        rows = schema.alert_views(store.db)
        decided = sum(v.alert.status in reviewer.DECISIONS for v in rows)
        return {"revealed": False, "decided": decided}
    return {"revealed": True, **reviewer.student_agreement(store)}


def group_figures(
    store: RunStore, percent: float, mapping: str = "linear", *, reveal: bool = False
) -> dict[str, Any]:
    """``has_groups`` and ``revealed``; with ``reveal`` and groups, the figures of
    :func:`groups.groups_at` at ``percent``."""
    has = groups.has_groups(store)
    out: dict[str, Any] = {"has_groups": has, "revealed": bool(reveal), "percent": float(percent)}
    if has and reveal:
        out.update(groups.groups_at(store, percent, mapping))
    return out
