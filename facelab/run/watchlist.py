"""The watchlist: enrol a pre-loaded frame of a synthetic person, list, remove.

Crash safety: the row is written inside an open transaction, the FAISS file is replaced
atomically, then the transaction commits. A crash in between leaves an index id with no row;
:func:`load_active` drops such ids, so nothing half-enrolled is ever searched.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from pathlib import Path

import numpy as np

from facelab.errors import DataError, RunError
from facelab.governance import audit, provenance
from facelab.run import schema
from facelab.run.schema import WatchlistEntry
from facelab.run.sinks import TruthSink
from facelab.run.store import RunStore, Transaction
from facelab.vision.probe import face_embedding, load_probe

log = logging.getLogger(__name__)


LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""Watchlist labels name the enrolled photo's file, so no path characters."""


def check_label(store: RunStore, label: str) -> None:
    """Refuse a malformed label or one already on the watchlist (before anything is written)."""
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise DataError(
            f"bad label {label!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if schema.label_exists(store.db, label):
        raise DataError(f"label {label!r} is already on the watchlist of {store.path}")


def entries(store: RunStore, include_removed: bool = False) -> list[WatchlistEntry]:
    """Watchlist entries ordered by id."""
    return schema.watchlist_entries(store.db, include_removed)


def load_active(store: RunStore):
    """The watchlist index holding exactly the active entries of the database."""
    index = store.load_watchlist()
    active = set(schema.active_watch_ids(store.db))
    stale = [i for i in index.ids().tolist() if i not in active]
    if stale:
        log.warning("dropping %d watchlist vector(s) with no committed entry", len(stale))
        index.remove(np.array(stale, np.int64))
    return index


def _find(store: RunStore, label_or_id: str) -> WatchlistEntry:
    for e in entries(store):
        if e.label == label_or_id or str(e.id) == label_or_id:
            return e
    raise DataError(f"no active watchlist entry {label_or_id!r}")


def enrol_embedding(
    store: RunStore,
    embedding: np.ndarray,
    *,
    label: str,
    case: str | None,
    reason: str | None,
    actor: str,
    photo: str | None = None,
    photo_sha256: str | None = None,
    identity: int | None = None,
    truth: TruthSink,
    index=None,
    save: bool = True,
) -> WatchlistEntry:
    """Add one entry from an embedding (image mode enrols via :func:`enrol_photo`); its photo's
    ``identity``, when known, goes to ``truth``."""
    check_label(store, label)
    index = load_active(store) if index is None else index
    top = schema.max_watch_id(store.db)
    wid = int(max(top, int(index.ids().max(initial=0)))) + 1
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    entry = WatchlistEntry(
        id=wid, label=label, case_id=case, reason=reason, photo=photo, photo_sha256=photo_sha256,
        enrolled_at=now, actor=actor, active=True,
    )  # fmt: skip
    with Transaction(store.db) as db:
        schema.insert_watchlist(db, [entry])
        index.add(np.array([wid], np.int64), embedding.reshape(1, -1))
        if save:
            index.save(store.watchlist_path)
    if identity is not None:
        truth.set_watch_identities(np.array([wid], np.int64), np.array([identity], np.int64))
    store.audit.append(
        actor, "enrol", reason=reason, case=case,
        details={"watch_id": wid, "label": label, "photo_sha256": photo_sha256},
    )  # fmt: skip
    return entry


def enrol_batch(
    store: RunStore,
    embeddings: np.ndarray,
    labels: list[str],
    *,
    identities: list[int] | None,
    case: str | None,
    reason: str | None,
    actor: str,
    truth: TruthSink,
    index=None,
) -> int:
    """Enrol many embeddings at once (twin watchlists of 10^3–10^5): one transaction, one
    index write, one audit record; ``identities``, when given, go to ``truth``. Returns the
    number enrolled."""
    index = load_active(store) if index is None else index
    top = schema.max_watch_id(store.db)
    first = int(max(top, int(index.ids().max(initial=0)))) + 1
    wids = np.arange(first, first + len(labels), dtype=np.int64)
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    rows = [
        WatchlistEntry(
            id=w, label=lab, case_id=case, reason=reason, photo=None, photo_sha256=None,
            enrolled_at=now, actor=actor, active=True,
        )
        for w, lab in zip(wids.tolist(), labels)
    ]  # fmt: skip
    with Transaction(store.db) as db:
        schema.insert_watchlist(db, rows)
        index.add(wids, embeddings)
        index.save(store.watchlist_path)
    if identities is not None:
        truth.set_watch_identities(wids, np.asarray(identities, np.int64))
    store.audit.append(
        actor, "enrol", reason=reason, case=case,
        details={"count": len(labels), "first_id": first, "last_id": int(wids[-1])},
    )  # fmt: skip
    return len(labels)


def enrol_photo(
    store: RunStore,
    source: str | Path | bytes,
    *,
    label: str,
    case: str | None,
    reason: str | None,
    actor: str,
    models,
    truth: TruthSink,
    largest: bool = False,
    index=None,
    save: bool = True,
) -> WatchlistEntry:
    """Enrol a pre-loaded frame: checks → provenance guard → one face → embedding → watchlist.

    Everything that can refuse (image mode, policy, label, photo, face) is checked before
    anything is written. The identity in the photo's provenance record, when there is one,
    goes to ``truth``.
    """
    require_image_mode(store, "enrol a photo")
    reason = audit.require_reason(reason, store.requires_reason, "enrolment")
    check_label(store, label)
    probe = load_probe(source)
    face = face_embedding(probe.image, models, name=probe.name, largest=largest)
    photo = store.photos_dir / f"{label}.png"
    provenance.write_image(photo, probe.image, probe.record)
    identity = probe.record.get("identity")
    return enrol_embedding(
        store, face.embedding, label=label, case=case, reason=reason, actor=actor,
        photo=str(photo.relative_to(store.path)), photo_sha256=probe.sha256,
        identity=int(identity) if identity is not None else None, truth=truth, index=index,
        save=save,
    )  # fmt: skip


def remove(store: RunStore, label_or_id: str, *, reason: str | None, actor: str) -> WatchlistEntry:
    """Remove an entry: its vector and photo are deleted, the row is kept (inactive) for audit."""
    reason = audit.require_reason(reason, store.requires_reason, "a removal")
    entry = _find(store, label_or_id)
    index = load_active(store)
    with Transaction(store.db) as db:
        schema.deactivate_watch(db, entry.id)
        index.remove(np.array([entry.id], np.int64))
        index.save(store.watchlist_path)
    if entry.photo:
        (store.path / entry.photo).unlink(missing_ok=True)
    store.audit.append(
        actor, "remove", reason=reason, case=entry.case_id,
        details={"watch_id": entry.id, "label": entry.label},
    )  # fmt: skip
    return entry


def require_image_mode(store: RunStore, what: str) -> None:
    """Photos can only be compared in runs whose sightings came from real images."""
    if store.meta.get("mode", "image") != "image":
        raise RunError(
            f"cannot {what} in {store.path}: it is an embedding-mode run (twin embeddings, "
            "no images); use an image-mode run"
        )
