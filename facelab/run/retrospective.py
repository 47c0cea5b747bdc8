"""Retrospective search: "where was the person in this photo seen?"

A photo (a "pre-loaded frame" of a synthetic person) goes through the same gate as enrolment:
the image checks of :mod:`facelab.imageio`, the synthetic-only guard
(:func:`facelab.governance.provenance.load_verified`), then one face is detected, aligned and embedded
(:func:`facelab.vision.probe.face_embedding`). Its embedding is searched in the day shards of the
archive that lie inside the retention window (:class:`facelab.search.archive.DayShardArchive`,
from :meth:`facelab.run.store.RunStore.archive`: a :class:`facelab.api.Run` keeps its loaded
shards between searches; a one-photo search is spread over the day shards by a thread pool):

* without ``top``, a FAISS range search returns every archived sighting whose cosine is at or
  above the cosine equivalent of ``min_percent`` under the named percent mapping;
* with ``top``, a FAISS top-k search over the same days returns at most ``top`` of them (still
  at or above ``min_percent``), widened as needed when camera or time filters drop candidates.

Hits are joined with their sighting, frame and camera rows from ``facelab.sqlite``. The search
path never reads ground truth (``truth.sqlite``): facelab cannot tell a true from a false match,
and every hit needs a human check. Each search appends one audit record (actor, stated reason,
case id, probe SHA-256, parameters, window and result count); a search refused for any reason
writes nothing.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facelab import imageio
from facelab.errors import ConfigError, FacelabError, RunError
from facelab.governance import audit, provenance
from facelab.run import schema
from facelab.run.store import RunStore
from facelab.run.window import archive_window as retention_window
from facelab.search import percent
from facelab.vision.probe import FaceModels, face_embedding, load_probe

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
SHEET_COLS = 6
SHEET_TILE = 168  # px, square tiles: face crop on top, three caption lines below
SHEET_FACE = 118  # px, side of the face crop inside a tile
SHEET_MAX_HITS = 23  # hits drawn on a sheet beside the probe (4 rows of 6 tiles)
CROP_MARGIN = 0.35  # face crops are the box grown by this share on each side
TOP_GROWTH = 4  # top-k search widens k by this factor while filters drop candidates

HUMAN_CHECK = "facelab cannot tell true from false matches — every hit needs a human check"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Hit:
    """One archived sighting that matched the probe.

    Attributes
    ----------
    sighting : int
        Sighting id (``day << 32 | sequence``).
    camera, camera_kind, station : str
        Camera id, kind (``"metro_gate"``...) and station.
    time : str
        Simulated wall-clock time, ISO 8601 without zone: scenario start + ``t`` seconds.
    t : int
        Seconds since the scenario's start.
    day : int
        Simulated day index (``t // 86400``).
    percent : float
        Score shown under the search's mapping (not a probability).
    score : float
        Cosine similarity (float32 from FAISS, as float).
    rank : int
        1 for the best hit.
    frame : str or None
        The frame's image file (signed JPEG), relative to the run directory (``None`` if it was not kept).
    box : tuple of 4 float or None
        Detected face box ``(x, y, w, h)`` in frame pixels.
    """

    sighting: int
    camera: str
    camera_kind: str
    station: str
    time: str
    t: int
    day: int
    percent: float
    score: float
    rank: int
    frame: str | None
    box: tuple[float, float, float, float] | None


@dataclass(frozen=True)
class SearchParams:
    """What was asked: the parameters recorded in the audit log."""

    min_percent: float
    mapping: str
    cos_threshold: float
    top: int | None
    cameras: tuple[str, ...] | None
    date_from: str | None
    date_to: str | None
    method: str  # "range" or "top-k"

    def to_dict(self) -> dict[str, Any]:
        return {
            "min_percent": self.min_percent,
            "mapping": self.mapping,
            "cos_threshold": self.cos_threshold if np.isfinite(self.cos_threshold) else None,
            "top": self.top,
            "cameras": list(self.cameras) if self.cameras is not None else None,
            "from": self.date_from,
            "to": self.date_to,
            "method": self.method,
        }


@dataclass(frozen=True)
class SearchResult:
    """The answer to one retrospective search.

    Attributes
    ----------
    run : Path
        The run directory searched (frame paths of hits are relative to it).
    probe_name : str
        The photo searched with.
    probe_sha256 : str
        SHA-256 of the photo file's bytes.
    probe_box : tuple of 4 float
        The face used, ``(x, y, w, h)`` in the photo.
    probe_faces : int
        Faces found in the photo (more than 1 only when the largest was taken).
    first_date, last_date : str or None
        The archive window (ISO dates) that was searched; ``None`` when the archive is empty.
    days : tuple of int
        The day shards actually searched (window ∩ ``--from``/``--to``).
    params : SearchParams
    hits : tuple of Hit
        Best first.
    audit_seq : int
        Sequence number of the audit record of this search.
    missing_days : tuple of str
        ISO dates of the days inside the window whose shard was missing or unreadable and that
        were not searched (only with ``allow_missing``; otherwise such a search fails).
    """

    run: Path
    probe_name: str
    probe_sha256: str
    probe_box: tuple[float, float, float, float]
    probe_faces: int
    first_date: str | None
    last_date: str | None
    days: tuple[int, ...]
    params: SearchParams
    hits: tuple[Hit, ...] = field(default_factory=tuple)
    audit_seq: int = 0
    missing_days: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.hits)

    @property
    def window(self) -> str:
        """The window searched, in words."""
        if self.first_date is None:
            return "an empty archive (no simulated day is archived)"
        span = (
            self.first_date
            if self.first_date == self.last_date
            else f"{self.first_date} .. {self.last_date}"
        )
        gap = f", {len(self.missing_days)} NOT searched" if self.missing_days else ""
        return f"archive window {span} ({len(self.days)} day shard(s) searched{gap})"

    @property
    def summary(self) -> str:
        """One line for the operator: the count, the threshold and the caveat."""
        p = f"{self.params.min_percent:g} %"
        if not self.hits:
            return f"no hits at ≥ {p} in the {self.window}"
        return f"{self.count} hit(s) at ≥ {p} (possible false matches); {HUMAN_CHECK}"

    def frame_path(self, hit: Hit) -> Path | None:
        """Absolute path of a hit's frame."""
        return self.run / hit.frame if hit.frame else None


# --------------------------------------------------------------------------- helpers


def start_datetime(scenario) -> _dt.datetime:
    """Simulated time 0: midnight at the start of the scenario's first day."""
    return _dt.datetime.combine(scenario.start, _dt.time())


def iso_time(scenario, t: int) -> str:
    """ISO 8601 wall-clock time of simulated second ``t``."""
    return (start_datetime(scenario) + _dt.timedelta(seconds=int(t))).isoformat()


def archive_window(store: RunStore) -> tuple[int, int, str, str] | None:
    """``(first_day, last_day, first_date, last_date)`` (ISO dates) of the retention window a
    search stays in (:func:`facelab.run.window.archive_window`), or ``None`` when it holds no
    simulated day."""
    win = retention_window(store)
    if win is None:
        return None
    return win.first_day, win.last_day, win.first_date.isoformat(), win.last_date.isoformat()


def _parse_when(value, scenario, *, end: bool) -> tuple[int, str] | None:
    """A ``--from``/``--to`` bound as simulated seconds (inclusive) and its ISO text."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        when, date_only = value.replace(tzinfo=None), False
    elif isinstance(value, _dt.date):
        when, date_only = _dt.datetime.combine(value, _dt.time()), True
    else:
        text = str(value).strip()
        try:
            if len(text) == 10:
                when, date_only = (
                    _dt.datetime.combine(_dt.date.fromisoformat(text), _dt.time()),
                    True,
                )
            else:
                when, date_only = _dt.datetime.fromisoformat(text).replace(tzinfo=None), False
        except ValueError:
            which = "--to" if end else "--from"
            raise ConfigError(
                f"{which} {text!r} is not a date or time; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"
            ) from None
    t = int((when - start_datetime(scenario)).total_seconds())
    if date_only and end:
        t += SECONDS_PER_DAY - 1
    return t, (when.date().isoformat() if date_only else when.isoformat())


# --------------------------------------------------------------------------- search


def search_photo(
    store: RunStore,
    source: str | Path | bytes,
    *,
    min_percent: float | None = None,
    top: int | None = None,
    cameras=None,
    date_from=None,
    date_to=None,
    reason: str | None,
    case: str | None = None,
    actor: str,
    mapping: str | None = None,
    models=None,
    largest: bool = False,
    allow_missing: bool = False,
    archive=None,
) -> SearchResult:
    """Search the archive window of a run for the person in a photo.

    Parameters
    ----------
    store : RunStore
        An open image-mode run.
    source : str, Path or bytes
        The photo: a PNG made by facelab (with a valid provenance record).
    min_percent : float, optional
        Hits need at least this percent; default the run's alert threshold
        (``thresholds.alert_percent``).
    top : int, optional
        Return at most this many hits (FAISS top-k); default all hits (FAISS range search).
    cameras : iterable of str, optional
        Camera ids to keep; default all.
    date_from, date_to : str, date or datetime, optional
        Time bounds, inclusive; a date alone covers its whole day.
    reason, case : str
        Stated reason (required unless the run's policy allows none) and case id.
    actor : str
        Who searches (recorded in the audit log).
    mapping : str, optional
        Percent mapping; default the run scenario's (``linear`` or ``sigmoid``).
    models : :class:`facelab.vision.probe.FaceModels`, optional
        Detector and embedder to reuse (created on first use).
    largest : bool
        If the photo holds several faces, use the largest instead of refusing.
    allow_missing : bool
        Search the other days when day shards inside the window are missing or unreadable
        (the result and its audit record name the days not searched);
        otherwise that is a :class:`~facelab.errors.RunError`.
    archive : DayShardArchive, optional
        The run's archive to search (default ``store.archive()``); the Ray engine passes its
        :class:`~facelab.run.ray_archive.RayShardArchive`, whose ``placement`` (node → days)
        the audit record then names.

    Returns
    -------
    SearchResult

    Raises
    ------
    AuditError
        No stated reason while the policy requires one.
    ConfigError
        Bad parameters (percent outside [0, 100], unknown camera, bad dates, log-fmr mapping).
    ImageError, ProvenanceError
        The photo is unusable, holds no face, several faces (without ``largest``), or was not
        made by facelab.
    RunError
        The run is an embedding-mode run (no images to compare a photo with), or a day shard
        inside the window is missing or unreadable (without ``allow_missing``).

    Nothing is written unless the search succeeds; then one audit record is appended.
    """
    from facelab.run.watchlist import require_image_mode

    reason = audit.require_reason(reason, store.requires_reason, "a search")
    require_image_mode(store, "search by photo")
    scenario = store.scenario()
    params = _check_params(store, scenario, min_percent, top, cameras, date_from, date_to, mapping)
    probe = load_probe(source)
    face = face_embedding(probe.image, models or FaceModels(), name=probe.name, largest=largest)

    window = archive_window(store)
    if archive is None:
        archive = store.archive()  # shards stay loaded in the store owner's cache
    days: list[int] = []
    missing: tuple[str, ...] = ()
    if window is not None:
        done = set(store.days_done())
        lo, hi = window[0], window[1]
        if params["t_from"] is not None:
            lo = max(lo, params["t_from"] // SECONDS_PER_DAY)
        if params["t_to"] is not None:
            hi = min(hi, params["t_to"] // SECONDS_PER_DAY)
        days = [d for d in archive.days() if lo <= d <= hi and d in done]
        expected = [d for d in schema.sighting_days(store.db, lo, hi) if d in done]
        problems = archive.check_days(sorted(set(days) | set(expected)))
        if problems:
            missing = _missing_days(store, scenario, problems, allow_missing)
            days = [d for d in days if d not in problems]
    hits = _search_days(store, archive, scenario, face.embedding, days, params)
    sp: SearchParams = params["public"]
    record = store.audit.append(
        actor, "search", reason=reason, case=case,
        details={
            "probe_sha256": probe.sha256,
            "probe_faces": face.n_faces,
            **sp.to_dict(),
            "window": [window[2], window[3]] if window else None,
            "days_searched": len(days),
            "result_count": len(hits),
            **({"days_not_searched": list(missing)} if missing else {}),
            **({"placement": archive.placement} if hasattr(archive, "placement") else {}),
        },
    )  # fmt: skip
    log.info("search %s: %d hit(s) in %d day(s)", probe.sha256[:12], len(hits), len(days))
    return SearchResult(
        run=store.path,
        probe_name=probe.name,
        probe_sha256=probe.sha256,
        probe_box=face.box,
        probe_faces=face.n_faces,
        first_date=window[2] if window else None,
        last_date=window[3] if window else None,
        days=tuple(days),
        params=sp,
        hits=tuple(hits),
        audit_seq=record.seq,
        missing_days=missing,
    )


def _missing_days(store, scenario, problems: dict[int, str], allow_missing: bool) -> tuple:
    """The ISO dates of the days in ``problems`` (shards missing or unreadable); a
    :class:`~facelab.errors.RunError` naming them unless ``allow_missing``."""
    dates = tuple(
        (scenario.start + _dt.timedelta(days=int(d))).isoformat() for d in sorted(problems)
    )
    detail = "; ".join(
        f"day {d} ({dates[i]}): {problems[d]}" for i, d in enumerate(sorted(problems))
    )
    if not allow_missing:
        raise RunError(
            f"damaged run directory {store.path}: {len(dates)} archive day shard(s) inside the "
            f"window cannot be searched: {detail} (--allow-missing searches the other days)"
        )
    log.info("not searched: %d day(s) of the archive window: %s", len(dates), detail)
    return dates


def _check_params(store, scenario, min_percent, top, cameras, date_from, date_to, mapping) -> dict:
    name = mapping or scenario.thresholds.mapping
    if name == "log-fmr":
        raise ConfigError(
            "mapping 'log-fmr' is calibrated on ground-truth impostor scores, which the search "
            "path never reads; search with 'linear' or 'sigmoid'"
        )
    pm = percent.get_mapping(name)
    p = scenario.thresholds.alert_percent if min_percent is None else min_percent
    try:
        p = float(p)
    except (TypeError, ValueError):
        raise ConfigError(f"--min-percent must be a number, got {min_percent!r}") from None
    if not 0.0 <= p <= 100.0:
        raise ConfigError(f"--min-percent must lie in [0, 100], got {p:g}")
    if top is not None and (isinstance(top, bool) or int(top) != top or top < 1):
        raise ConfigError(f"--top must be an integer >= 1, got {top!r}")
    cams = None
    if cameras:
        cams = tuple(dict.fromkeys(str(c) for c in cameras))
        known = {c.id for c in schema.cameras(store.db)}
        unknown = [c for c in cams if c not in known]
        if unknown:
            raise ConfigError(
                f"unknown camera {unknown[0]!r} in {store.path}; cameras: {', '.join(sorted(known))}"
            )
    lo = _parse_when(date_from, scenario, end=False)
    hi = _parse_when(date_to, scenario, end=True)
    if lo and hi and lo[0] > hi[0]:
        raise ConfigError(f"--from {lo[1]} is after --to {hi[1]}")
    cos_t = float(pm.to_cosine(p))
    public = SearchParams(
        min_percent=p, mapping=name, cos_threshold=cos_t, top=int(top) if top else None,
        cameras=cams, date_from=lo[1] if lo else None, date_to=hi[1] if hi else None,
        method="top-k" if top else "range",
    )  # fmt: skip
    return {
        "public": public,
        "mapping": pm,
        "t32": percent.threshold32(cos_t),
        "t_from": lo[0] if lo else None,
        "t_to": hi[0] if hi else None,
    }


def _search_days(
    store, archive, scenario, emb: np.ndarray, days: list[int], params: dict
) -> list[Hit]:
    """Search ``archive`` (the run's :class:`~facelab.search.archive.DayShardArchive`) over ``days``
    for one embedding; hits joined with their rows and filtered, best first."""
    if not days:
        return []
    sp: SearchParams = params["public"]
    q = emb.reshape(1, -1).astype(np.float32)
    t32 = params["t32"]
    cams = {c.idx: c for c in schema.cameras(store.db)}
    keep_cams = set(sp.cameras) if sp.cameras else None

    def camera(idx: int) -> schema.CameraRow:
        unknown = schema.CameraRow(
            idx=idx, id=f"#{idx}", kind="?", station="?", fr=False, width=None, height=None,
            quality=None, threshold=None,
        )  # fmt: skip
        return cams.get(idx, unknown)

    def join(scores: np.ndarray, ids: np.ndarray) -> list[tuple]:
        rows = schema.sighting_views(store.db, ids.tolist())
        out = []
        for s, i in zip(scores.tolist(), ids.tolist()):
            v = rows.get(int(i))
            if v is None:
                log.warning("archived sighting %d has no row (skipped)", i)
                continue
            cam = camera(int(v.sighting.camera))
            if keep_cams is not None and cam.id not in keep_cams:
                continue
            t = int(v.sighting.t)
            if params["t_from"] is not None and t < params["t_from"]:
                continue
            if params["t_to"] is not None and t > params["t_to"]:
                continue
            out.append((float(s), int(i), v, cam))
        return out

    if sp.top is None:
        scores, ids, _ = archive.range_search(q, t32, days=days)[0]
        found = join(scores, ids)
    else:
        k = sp.top
        filtered = bool(keep_cams or params["t_from"] is not None or params["t_to"] is not None)
        while True:
            res = archive.search(q, k, days=days, min_score=t32)
            valid = res.ids[0] >= 0
            found = join(res.scores[0][valid], res.ids[0][valid])
            if not filtered or len(found) >= sp.top or int(valid.sum()) < k:
                break
            k *= TOP_GROWTH
    found.sort(key=lambda h: (-h[0], h[1]))
    pct = params["mapping"].to_percent(np.array([h[0] for h in found], np.float64))
    # exactness guard: a float32 score is a hit only if its percent reaches the threshold
    kept = [(h, p) for h, p in zip(found, pct.tolist()) if p >= sp.min_percent]
    if sp.top is not None:
        kept = kept[: sp.top]
    hits = []
    for rank, ((score, sid, v, cam), p) in enumerate(kept, start=1):
        r = v.sighting
        box = (float(r.x), float(r.y), float(r.w), float(r.h)) if r.x is not None else None
        hits.append(Hit(
            sighting=sid, camera=cam.id, camera_kind=cam.kind, station=cam.station,
            time=iso_time(scenario, r.t), t=int(r.t), day=int(r.day), percent=float(p),
            score=score, rank=rank, frame=v.frame_path, box=box,
        ))  # fmt: skip
    return hits


# --------------------------------------------------------------------------- contact sheet


def _crop(image: np.ndarray, box, margin: float = CROP_MARGIN) -> np.ndarray:
    """A square crop around ``box`` grown by ``margin`` (the whole image if no box)."""
    h, w = image.shape[:2]
    if box is None:
        return image
    x, y, bw, bh = box
    side = max(bw, bh) * (1 + 2 * margin)
    cx, cy = x + bw / 2, y + bh / 2
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return image
    return image[y0:y1, x0:x1]


def _tile(face: np.ndarray | None, lines: list[str]) -> np.ndarray:
    """A square tile: the face crop (letterboxed) on top, caption lines below."""
    import cv2

    tile = np.full((SHEET_TILE, SHEET_TILE, 3), 255, np.uint8)
    x0 = (SHEET_TILE - SHEET_FACE) // 2
    if face is None:
        tile[2 : 2 + SHEET_FACE, x0 : x0 + SHEET_FACE] = 200
    else:
        fh, fw = face.shape[:2]
        s = SHEET_FACE / max(fh, fw)
        nw, nh = max(1, int(round(fw * s))), max(1, int(round(fh * s)))
        small = cv2.resize(face, (nw, nh), interpolation=cv2.INTER_AREA)
        ox, oy = x0 + (SHEET_FACE - nw) // 2, 2 + (SHEET_FACE - nh) // 2
        tile[oy : oy + nh, ox : ox + nw] = small
    for i, text in enumerate(lines[:3]):
        cv2.putText(
            tile, text[:26], (4, SHEET_FACE + 16 + 15 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
            (20, 20, 20), 1, cv2.LINE_AA,
        )  # fmt: skip
    return tile


def draw_sheet(
    store: RunStore,
    result: SearchResult,
    probe_image,
    path: str | Path,
    *,
    max_hits: int = SHEET_MAX_HITS,
) -> Path:
    """Draw the probe beside its hits and write the sheet as a PNG with provenance.

    Parameters
    ----------
    store : RunStore
        The run searched (frames are read from it).
    result : SearchResult
    probe_image : numpy.ndarray or str or Path or bytes
        The probe photo, ``uint8`` ``(H, W, 3)`` BGR, or the file it came from.
    path : str or Path
        The PNG to write (kind ``"sheet"`` provenance record).
    max_hits : int
        Hits drawn (best first); the caption of the probe says how many there were.

    Returns
    -------
    Path
    """
    from facelab.world import synth

    if isinstance(probe_image, np.ndarray):
        image = probe_image
    else:
        image = load_probe(probe_image).image
    p = f"{result.params.min_percent:g} %"
    tiles = [
        _tile(
            _crop(image, result.probe_box),
            ["PROBE", f"{result.count} hit(s) >= {p}", f"sha {result.probe_sha256[:12]}"],
        )
    ]
    for hit in result.hits[:max_hits]:
        face = None
        if hit.frame:
            try:
                face = _crop(imageio.read_image(store.path / hit.frame), hit.box)
            except FacelabError as exc:
                log.warning("sheet: frame of sighting %d unreadable: %s", hit.sighting, exc)
        when = hit.time.replace("T", " ")
        tiles.append(_tile(face, [hit.camera, when, f"{percent.shown(hit.percent)}  #{hit.rank}"]))
    cols = min(SHEET_COLS, len(tiles))
    sheet = synth.contact_sheet(tiles, cols=cols, cell=SHEET_TILE)
    try:
        from facelab.vision import models

        model_sha = models.model_sha256("generator")
    except FacelabError:
        model_sha = ""
    record = provenance.make_record(
        "sheet", generator="dcgan-digiface", model_sha256=model_sha,
        seed=int(store.scenario_dict().get("seed", 0)),
        params={
            "what": "search", "probe_sha256": result.probe_sha256, "hits": result.count,
            "drawn": min(result.count, max_hits), "min_percent": result.params.min_percent,
            "mapping": result.params.mapping,
        },
    )  # fmt: skip
    return provenance.write_image(Path(path), sheet, record)
