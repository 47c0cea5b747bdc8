"""JSON forms of the results that commands return: one serializer per result type.

``facelab … --format json`` prints what :func:`to_jsonable` returns, and a web console is
meant to return the same; the command line adds nothing of its own. Each serializer takes
the dataclass's fields as they are (paths as strings, tuples as lists) and adds the derived
values a reader needs (an alert's short id, a search's window in words).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from facelab.governance.audit import AuditRecord
from facelab.lab.cases import CaseResult
from facelab.run import review
from facelab.run.photo import PersonPhoto
from facelab.run.retrospective import Hit, SearchResult
from facelab.run.review import Alert
from facelab.run.schema import WatchlistEntry, display_alert_id


def _plain(v: Any) -> Any:
    """JSON-ready copy of a field value (paths → str, tuples → lists, NaN/inf → None)."""
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        return v.item()
    return v


def _fields(obj) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def alert(a: Alert) -> dict[str, Any]:
    """An alert (or below-threshold candidate): :func:`facelab.run.review.alert_dict`, the
    form ``facelab alerts --format json`` prints, with its short ``display_id``."""
    return {"display_id": display_alert_id(a.id), **review.alert_dict(a)}


def hit(h: Hit) -> dict[str, Any]:
    """One hit of a retrospective search."""
    return _fields(h)


def search_result(r: SearchResult) -> dict[str, Any]:
    """A retrospective search: the window, the parameters, the hits best first."""
    out = _fields(r)
    out["params"] = _plain(r.params.to_dict())
    out["hits"] = [hit(h) for h in r.hits]
    out.update(count=r.count, window=r.window, summary=r.summary)
    return out


def watchlist_entry(e: WatchlistEntry) -> dict[str, Any]:
    """A watchlist entry (a removed one has ``active`` false and no photo)."""
    return _fields(e)


def audit_record(rec: AuditRecord) -> dict[str, Any]:
    """One record of the audit log, as stored."""
    return _fields(rec)


def case_result(c: CaseResult) -> dict[str, Any]:
    """A re-run published case: the published headline beside the lab's lines."""
    case = c.case
    return {
        "name": case.name,
        "title": case.title,
        "published": case.published,
        "source": case.source,
        "facelab": list(c.lines),
        "runs": {k: str(v) for k, v in c.runs.items()},
    }


def run_system(meta: dict) -> dict[str, Any]:
    """Which system profile a run's scores speak for and what its percent means, from its
    ``run.json`` (:func:`facelab.lab.system.to_json`)."""
    from facelab.lab.system import to_json

    return to_json(meta)


def person_photo(p: PersonPhoto) -> dict[str, Any]:
    """A photo written by ``facelab photo``."""
    return _fields(p)


SERIALIZERS = {
    Alert: alert,
    Hit: hit,
    SearchResult: search_result,
    WatchlistEntry: watchlist_entry,
    AuditRecord: audit_record,
    CaseResult: case_result,
    PersonPhoto: person_photo,
}
"""The serializer of each result type."""


def to_jsonable(obj: Any) -> Any:
    """JSON-ready form of a result, or of a list of results."""
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(o) for o in obj]
    fn = SERIALIZERS.get(type(obj))
    if fn is None:
        return _plain(obj)
    return fn(obj)


def dumps(obj: Any) -> str:
    """``to_jsonable(obj)`` as indented JSON text."""
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)
