"""The watchlist: enrol a pre-loaded frame of a synthetic person, list, remove.

Crash safety: an enrolment or removal made by a user goes through :mod:`facelab.run.journal`,
so a kill between any two of its writes leaves, after the next audited operation, either the
whole change with its audit record or none of it. The run pipeline's own enrolment (which
passes its ``index``) is redone from scratch by the pipeline after a crash instead. In both
cases :func:`load_active` drops index ids with no active row, so nothing half-enrolled is ever
searched.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import re
from pathlib import Path

import numpy as np

from facelab.errors import DataError, RunError
from facelab.governance import audit, provenance
from facelab.run import journal, schema, schema_versions
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
    """Watchlist entries ordered by id, pending enrolments and removals shown as they will be
    settled (:func:`facelab.run.journal.pending_view`)."""
    view = journal.pending_view(store)
    if not view:
        return schema.watchlist_entries(store.db, include_removed)
    rows = {e.id: e for e in schema.watchlist_entries(store.db, include_removed=True)}
    for action, data, audited in view:
        e = rows.get(int(data.get("watch_id", -1)))
        if e is None:
            continue
        if action == "enrol":
            if audited:
                rows[e.id] = dataclasses.replace(e, active=True)
            else:
                del rows[e.id]
        elif action == "remove" and not audited:
            rows[e.id] = dataclasses.replace(e, active=True, photo=data.get("photo"))
    return [e for _, e in sorted(rows.items()) if include_removed or e.active]


def load_active(store: RunStore):
    """The watchlist index holding exactly the active entries of the database."""
    return load_active_version(store)[0]


def load_active_version(store: RunStore):
    """``(index, version)``: :func:`load_active` and the watchlist version it holds
    (:mod:`facelab.run.schema_versions`), the one the searches made with it are scored against."""
    index = store.load_watchlist()
    ids, version = schema_versions.active_ids_and_version(store.db)
    active = set(ids)
    stale = [i for i in index.ids().tolist() if i not in active]
    if stale:
        log.warning("dropping %d watchlist vector(s) with no committed entry", len(stale))
        index.remove(np.array(stale, np.int64))
    return index, version


def _find(store: RunStore, label_or_id: str) -> WatchlistEntry:
    for e in entries(store):
        if e.label == label_or_id or str(e.id) == label_or_id:
            return e
    raise DataError(f"no active watchlist entry {label_or_id!r}")


def _next_id(store: RunStore, index) -> int:
    """A watchlist id never given out before in this run (undone enrolments included)."""
    top = max(schema.max_watch_id(store.db), int(index.ids().max(initial=0)))
    return max(top, int(store.get(NEXT_ID_KEY) or 1) - 1) + 1


NEXT_ID_KEY = "next_watch_id"
"""``meta`` key: the lowest watchlist id not yet given out by an audited enrolment."""


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
    write_photo=None,
    on_step=None,
) -> WatchlistEntry:
    """Add one entry from an embedding (image mode enrols via :func:`enrol_photo`); its photo's
    ``identity``, when known, goes to ``truth``.

    Without ``index`` the enrolment is journalled (:mod:`facelab.run.journal`): the row
    (inactive), ``write_photo()`` (which writes the file ``photo`` names), the index, the
    truth, the audit record, then the row made active. With ``index`` (the run pipeline, which
    redoes an interrupted enrolment itself) the row is written active at once, and the index is
    written only when ``save``. ``on_step(label, None)`` is called after each write.
    """
    if index is not None:
        return _enrol_in_pipeline(
            store, embedding, label=label, case=case, reason=reason, actor=actor, photo=photo,
            photo_sha256=photo_sha256, identity=identity, truth=truth, index=index, save=save,
            write_photo=write_photo,
        )  # fmt: skip
    with journal.exclusive(store):
        journal.recover(store)
        check_label(store, label)
        index = load_active(store)
        wid = _next_id(store, index)
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        entry = WatchlistEntry(
            id=wid, label=label, case_id=case, reason=reason, photo=photo, photo_sha256=photo_sha256,
            enrolled_at=now, actor=actor, active=False,
        )  # fmt: skip
        op = journal.new_op()

        def rows(db):
            schema.insert_watchlist(db, [entry])
            schema.meta_set(db, NEXT_ID_KEY, wid + 1)

        with journal.settled_on_error(store):
            journal.begin(store, op, "enrol", {"watch_id": wid, "photo": photo}, rows)
            journal.step(on_step, "enrol-begun")
            if write_photo is not None:
                write_photo()
                journal.step(on_step, "enrol-photo")
            index.add(np.array([wid], np.int64), embedding.reshape(1, -1))
            index.save(store.watchlist_path)
            journal.step(on_step, "enrol-index")
            if identity is not None:
                truth.set_watch_identities(
                    np.array([wid], np.int64), np.array([identity], np.int64)
                )
                journal.step(on_step, "enrol-truth")
            store.audit.append(
                actor, "enrol", reason=reason, case=case,
                details={"watch_id": wid, "label": label, "photo_sha256": photo_sha256, "op": op},
            )  # fmt: skip
            journal.step(on_step, "enrol-audit")
            _finish_enrol(store, op, {"watch_id": wid})
            journal.step(on_step, "enrol-done")
        return dataclasses.replace(entry, active=True)


def _finish_enrol(store: RunStore, op: str, data: dict) -> None:
    def rows(db):
        schema.activate_watch(db, data["watch_id"])
        schema_versions.enrolled(db, [data["watch_id"]])

    journal.finish(store, op, rows)


def _undo_enrol(store: RunStore, op: str, data: dict) -> None:
    wid = int(data["watch_id"])
    if store.watchlist_path.exists():
        index = store.load_watchlist()
        if wid in set(index.ids().tolist()):
            index.remove(np.array([wid], np.int64))
            index.save(store.watchlist_path)
    if data.get("photo"):
        (store.path / data["photo"]).unlink(missing_ok=True)
    journal.finish(store, op, lambda db: schema.delete_watch(db, wid))


journal.register("enrol", _finish_enrol, _undo_enrol)


def _enrol_in_pipeline(store, embedding, *, label, case, reason, actor, photo, photo_sha256,
                       identity, truth, index, save, write_photo) -> WatchlistEntry:  # fmt: skip
    """The run pipeline's enrolment into its own ``index`` (redone whole after a crash)."""
    check_label(store, label)
    top = schema.max_watch_id(store.db)
    wid = int(max(top, int(index.ids().max(initial=0)))) + 1
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    entry = WatchlistEntry(
        id=wid, label=label, case_id=case, reason=reason, photo=photo, photo_sha256=photo_sha256,
        enrolled_at=now, actor=actor, active=True,
    )  # fmt: skip
    if write_photo is not None:
        write_photo()
    with Transaction(store.db) as db:
        schema.insert_watchlist(db, [entry])
        schema_versions.enrolled(db, [wid])
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
        schema_versions.enrolled(db, wids.tolist())
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
    on_step=None,
) -> WatchlistEntry:
    """Enrol a pre-loaded frame: checks → provenance guard → one face → embedding → watchlist.

    Everything that can refuse (image mode, policy, label, photo, face) is checked before
    anything is written. The identity in the photo's provenance record, when there is one,
    goes to ``truth``. The photo is written to ``RUN/watchlist/LABEL.png`` as part of the
    enrolment (:func:`enrol_embedding`: undone with it).
    """
    require_image_mode(store, "enrol a photo")
    reason = audit.require_reason(reason, store.requires_reason, "enrolment")
    if index is None:
        with journal.exclusive(store):
            journal.recover(store)  # an interrupted enrolment may hold the label
    check_label(store, label)
    probe = load_probe(source)
    face = face_embedding(probe.image, models, name=probe.name, largest=largest)
    photo = store.photos_dir / f"{label}.png"
    identity = probe.record.get("identity")
    return enrol_embedding(
        store, face.embedding, label=label, case=case, reason=reason, actor=actor,
        photo=str(photo.relative_to(store.path)), photo_sha256=probe.sha256,
        identity=int(identity) if identity is not None else None, truth=truth, index=index,
        save=save, write_photo=lambda: provenance.write_image(photo, probe.image, probe.record),
        on_step=on_step,
    )  # fmt: skip


def remove(
    store: RunStore, label_or_id: str, *, reason: str | None, actor: str, on_step=None
) -> WatchlistEntry:
    """Remove an entry: its vector and photo are deleted, the row is kept (inactive) for audit.

    Journalled (:mod:`facelab.run.journal`): the row is deactivated, the audit record written,
    then the vector and the photo deleted. ``on_step(label, None)`` is called after each write.
    """
    reason = audit.require_reason(reason, store.requires_reason, "a removal")
    with journal.exclusive(store):
        journal.recover(store)
        entry = _find(store, label_or_id)
        store.load_watchlist()  # a damaged index is refused before anything is written
        op = journal.new_op()
        data = {"watch_id": entry.id, "photo": entry.photo}

        def rows(db):
            schema.deactivate_watch(db, entry.id)
            schema_versions.removed(db, entry.id)

        with journal.settled_on_error(store):
            journal.begin(store, op, "remove", data, rows)
            journal.step(on_step, "remove-begun")
            store.audit.append(
                actor, "remove", reason=reason, case=entry.case_id,
                details={"watch_id": entry.id, "label": entry.label, "op": op},
            )  # fmt: skip
            journal.step(on_step, "remove-audit")
            _finish_remove(store, op, data, on_step=on_step)
            journal.step(on_step, "remove-done")
    return entry


def _finish_remove(store: RunStore, op: str, data: dict, on_step=None) -> None:
    wid = int(data["watch_id"])
    if store.watchlist_path.exists():
        index = store.load_watchlist()
        if wid in set(index.ids().tolist()):
            index.remove(np.array([wid], np.int64))
            index.save(store.watchlist_path)
            journal.step(on_step, "remove-index")
    if data.get("photo"):
        (store.path / data["photo"]).unlink(missing_ok=True)
        journal.step(on_step, "remove-photo")
    journal.finish(store, op)


def _undo_remove(store: RunStore, op: str, data: dict) -> None:
    wid, photo = int(data["watch_id"]), data.get("photo")

    def rows(db):
        schema.activate_watch(db, wid, photo=photo)
        schema_versions.restored(db, wid)

    journal.finish(store, op, rows)


journal.register("remove", _finish_remove, _undo_remove)


def require_image_mode(store: RunStore, what: str) -> None:
    """Photos can only be compared in runs whose sightings came from real images."""
    if store.meta.get("mode", "image") != "image":
        raise RunError(
            f"cannot {what} in {store.path}: it is an embedding-mode run (twin embeddings, "
            "no images); use an image-mode run"
        )
