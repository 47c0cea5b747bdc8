"""Ground truth: who lives where, who is on the watchlist, who passes which camera when.

:func:`build_world` turns a :class:`~facelab.config.scenario.Scenario` into a :class:`World`,
deterministically from ``scenario.seed``. Each independent random stream gets its own generator
seeded with ``np.random.SeedSequence([seed, STREAM_*, ...])``, so adding a stream (or a day)
never shifts the others: the schedule of day ``d`` depends only on ``(seed, d)`` and the
population, so ``--days 5`` is a prefix of ``--days 10``.

Movement model (per day, fully vectorised with numpy):

- each person is present with probability ``movement.presence`` and then makes
  ``n ~ U{passes_per_day}`` camera passes;
- a *commuter* (share ``commuter_share``) has a home and a work station. Their passes follow a
  template taken in this priority order: home station in the morning, work station in the
  evening, work station on arrival in the morning (30–60 min after leaving home), home station
  on arrival in the evening. Passes beyond four are errands at random stations;
- a *wanderer* makes all passes at random stations at random times within the active hours;
- at a station with several cameras one of them is picked uniformly.

Identity latents are not drawn here: :mod:`facelab.world.synth` derives them from
``(World.seed, identity)``. Person ids are ``0 .. P-1``; watchlist identities that never appear
in the city get ids ``P, P+1, ...``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from facelab.config.scenario import Scenario

__all__ = [
    "PASS_DTYPE",
    "SECONDS_PER_DAY",
    "FrameTruth",
    "WatchEntry",
    "World",
    "build_world",
]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400

#: Seed-stream constants: ``SeedSequence([scenario.seed, STREAM_...(, day)])``.
STREAM_POPULATION = 0x504F5001
STREAM_WATCHLIST = 0x574C0001
STREAM_SCHEDULE = 0x53430001

#: Structured dtype of :attr:`World.passes`.
PASS_DTYPE = np.dtype(
    [
        ("person", np.int32),
        ("camera", np.int32),
        ("t", np.int64),
        ("day", np.int32),
        ("pid", np.int64),
    ]
)

# Movement-model constants (fractions of the active window; travel time in seconds).
MORNING_CENTRE = 0.12  # 6 h–23 h window → about 08:00
MORNING_SD = 0.05  # → about 50 min
EVENING_CENTRE = 0.70  # → about 17:55
EVENING_SD = 0.07  # → about 70 min
TRAVEL_S = (1800, 3600)  # 30–60 min between the two stations of a trip
WORK_POPULARITY_SIGMA = 0.75  # log-normal spread of how many commuters each station employs
WATCHLIST_LABEL = "WL-{:04d}"


@dataclass(frozen=True)
class WatchEntry:
    """One watchlist entry (ground truth).

    Attributes
    ----------
    identity : int
        Synthetic identity id: a person id ``< P`` if ``in_city``, else ``>= P``.
    in_city : bool
        Whether the identity lives in the city (and so can pass cameras).
    label : str
        Neutral label shown to operators (``"WL-0001"``); label order reveals nothing about
        ``in_city``.
    """

    identity: int
    in_city: bool
    label: str


@dataclass(frozen=True)
class FrameTruth:
    """One frame of one camera and who is in it.

    Attributes
    ----------
    frame_id : str
        ``f"{camera_id}-d{day:03d}-{time_of_day:06d}"``, stable across runs.
    camera : int
        Camera index into ``scenario.cameras``.
    t : int
        Start of the frame's ``frame_interval_s`` bucket, seconds since the start of day 0.
    passes : tuple[int, ...]
        Pass ids (rows of :attr:`World.passes`) captured in this frame, ascending.
    persons : tuple[int, ...]
        The persons of those passes, in the same order.
    """

    frame_id: str
    camera: int
    t: int
    passes: tuple[int, ...]
    persons: tuple[int, ...]

    @property
    def day(self) -> int:
        return self.t // SECONDS_PER_DAY


@dataclass(frozen=True, eq=False)
class World:
    """The simulated city's ground truth. Arrays are read-only.

    Attributes
    ----------
    scenario : Scenario
    seed : int
        ``scenario.seed``; :mod:`facelab.world.synth` derives identity latents from it.
    stations : tuple[str, ...]
        Station names; arrays below index into it.
    camera_station : ndarray, shape (C,), int32
        Station index of each camera.
    home : ndarray, shape (P,), int32
        Home station of each person.
    work : ndarray, shape (P,), int32
        Work station of each commuter, ``-1`` for wanderers.
    commuter : ndarray, shape (P,), bool
    watchlist : tuple[WatchEntry, ...]
        Ordered by label.
    passes : ndarray, shape (N,), dtype PASS_DTYPE
        Every camera pass, sorted by ``(t, camera, person)``; ``passes["pid"][i] == i``.
    frame_t : ndarray, shape (F,), int64
        Frame bucket start (seconds since start of day 0); frames sorted by ``(t, camera)``.
    frame_camera : ndarray, shape (F,), int32
    frame_ptr : ndarray, shape (F + 1,), int64
        Frame ``f`` holds pass ids ``frame_pass[frame_ptr[f]:frame_ptr[f + 1]]``.
    frame_pass : ndarray, shape (N,), int64
        Pass ids grouped by frame (ascending inside a frame).
    pass_frame : ndarray, shape (N,), int64
        Frame index of each pass.
    """

    scenario: Scenario
    seed: int
    stations: tuple[str, ...]
    camera_station: np.ndarray
    home: np.ndarray
    work: np.ndarray
    commuter: np.ndarray
    watchlist: tuple[WatchEntry, ...]
    passes: np.ndarray
    frame_t: np.ndarray
    frame_camera: np.ndarray
    frame_ptr: np.ndarray
    frame_pass: np.ndarray
    pass_frame: np.ndarray = field(repr=False)

    # ---- sizes

    @property
    def n_people(self) -> int:
        return int(self.home.shape[0])

    @property
    def n_cameras(self) -> int:
        return len(self.scenario.cameras)

    @property
    def n_frames(self) -> int:
        return int(self.frame_t.shape[0])

    @property
    def days(self) -> int:
        return self.scenario.days

    @cached_property
    def camera_is_fr(self) -> np.ndarray:
        """``(C,)`` bool: whether each camera is configured for face recognition."""
        a = np.array([c.fr for c in self.scenario.cameras], dtype=bool)
        a.flags.writeable = False
        return a

    @cached_property
    def watchlisted(self) -> np.ndarray:
        """``(P,)`` bool: whether each person is on the watchlist."""
        a = np.zeros(self.n_people, dtype=bool)
        a[[e.identity for e in self.watchlist if e.in_city]] = True
        a.flags.writeable = False
        return a

    @cached_property
    def identity_groups(self):
        """Measured group of every identity (:class:`facelab.world.groups.IdentityGroups`,
        residents then out-of-city watchlist identities), or ``None`` when the scenario sets no
        ``[population] groups``. Chosen by rendering faces on first use (seconds)."""
        from facelab.world import groups

        return groups.assign(self)

    def latent_attempts(self, identities) -> np.ndarray | None:
        """Each identity's latent candidate (``attempts`` of
        :func:`facelab.world.synth.identity_latents`); ``None`` without groups."""
        if self.scenario.population.groups is None:
            return None
        return self.identity_groups.attempt[np.asarray(identities, np.int64)]

    # ---- passes

    def day_passes(self, day: int) -> np.ndarray:
        """The passes of ``day`` (a view of :attr:`passes`, sorted by ``(t, camera, person)``)."""
        lo, hi = np.searchsorted(
            self.passes["t"], [day * SECONDS_PER_DAY, (day + 1) * SECONDS_PER_DAY]
        )
        return self.passes[lo:hi]

    # ---- frames

    def frame_id(self, f: int) -> str:
        """Stable id of frame index ``f``."""
        t = int(self.frame_t[f])
        day, tod = divmod(t, SECONDS_PER_DAY)
        cam = self.scenario.cameras[int(self.frame_camera[f])].id
        return f"{cam}-d{day:03d}-{tod:06d}"

    def frame(self, f: int) -> FrameTruth:
        """Frame index ``f`` (``0 <= f < n_frames``) as a :class:`FrameTruth`."""
        pids = self.frame_pass[self.frame_ptr[f] : self.frame_ptr[f + 1]]
        return FrameTruth(
            frame_id=self.frame_id(f),
            camera=int(self.frame_camera[f]),
            t=int(self.frame_t[f]),
            passes=tuple(int(p) for p in pids),
            persons=tuple(int(p) for p in self.passes["person"][pids]),
        )

    @cached_property
    def _frames_by_camera_day(self) -> tuple[np.ndarray, np.ndarray]:
        key = (self.frame_t // SECONDS_PER_DAY) * self.n_cameras + self.frame_camera
        order = np.argsort(key, kind="stable")  # keeps time order within (day, camera)
        return key[order], order

    def frame_indices(self, camera_index: int, day: int) -> np.ndarray:
        """Frame indexes of one camera on one day, in time order, shape ``(k,)`` int64."""
        if not 0 <= camera_index < self.n_cameras:
            raise IndexError(f"camera index {camera_index} out of range 0..{self.n_cameras - 1}")
        keys, order = self._frames_by_camera_day
        k = day * self.n_cameras + camera_index
        lo, hi = np.searchsorted(keys, [k, k + 1])
        return order[lo:hi]

    def frames(self, camera_index: int, day: int) -> list[FrameTruth]:
        """The frames of camera ``camera_index`` on ``day``, in time order."""
        return [self.frame(int(f)) for f in self.frame_indices(camera_index, day)]

    def fr_frame_indices(self, day: int) -> np.ndarray:
        """Frame indexes of the FR cameras on ``day``, in ``(t, camera)`` order."""
        lo, hi = np.searchsorted(self.frame_t, [day * SECONDS_PER_DAY, (day + 1) * SECONDS_PER_DAY])
        idx = np.arange(lo, hi, dtype=np.int64)
        return idx[self.camera_is_fr[self.frame_camera[lo:hi]]]

    def fr_frames(self, day: int) -> Iterator[FrameTruth]:
        """Iterate the FR cameras' frames of ``day`` in ``(t, camera)`` order."""
        for f in self.fr_frame_indices(day):
            yield self.frame(int(f))

    # ---- records

    def fingerprint(self) -> str:
        """SHA-256 (hex) over every ground-truth array and the watchlist."""
        h = hashlib.sha256()
        for a in (
            self.camera_station,
            self.home,
            self.work,
            self.commuter,
            self.passes,
            self.frame_t,
            self.frame_camera,
            self.frame_ptr,
            self.frame_pass,
        ):
            h.update(np.ascontiguousarray(a).tobytes())
        for e in self.watchlist:
            h.update(f"{e.identity},{int(e.in_city)},{e.label};".encode())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        """Headline figures of the world (JSON-serialisable)."""
        sc = self.scenario
        p = self.passes
        at_fr = self.camera_is_fr[p["camera"]]
        wl = self.watchlisted[p["person"]]
        days = sc.days
        fr_frames = int(self.camera_is_fr[self.frame_camera].sum())
        return {
            "scenario": sc.name,
            "seed": self.seed,
            "mode": sc.mode,
            "start": sc.start.isoformat(),
            "days": days,
            "people": self.n_people,
            "commuters": int(self.commuter.sum()),
            "stations": len(self.stations),
            "cameras": self.n_cameras,
            "fr_cameras": int(self.camera_is_fr.sum()),
            "watchlist_size": len(self.watchlist),
            "watchlist_in_city": sum(e.in_city for e in self.watchlist),
            "passes_total": int(p.shape[0]),
            "passes_per_day_mean": round(p.shape[0] / days, 1),
            "fr_passes_total": int(at_fr.sum()),
            "fr_passes_per_day_mean": round(float(at_fr.sum()) / days, 1),
            "fr_frames_total": fr_frames,
            "watchlisted_passes_total": int(wl.sum()),
            "watchlisted_fr_passes_total": int((wl & at_fr).sum()),
            "watchlisted_fr_passes_per_day_mean": round(float((wl & at_fr).sum()) / days, 2),
            "alert_percent": sc.thresholds.alert_percent,
            "retention_days": sc.retention.days,
            "fingerprint": self.fingerprint()[:16],
        }


# --------------------------------------------------------------------------- building


def _rng(seed: int, stream: int, *more: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *more]))


def build_world(scenario: Scenario) -> World:
    """Build the ground truth of ``scenario``, deterministically from ``scenario.seed``.

    Parameters
    ----------
    scenario : Scenario

    Returns
    -------
    World
    """
    seed = scenario.seed
    cams = scenario.cameras
    stations = scenario.stations
    st_index = {s: i for i, s in enumerate(stations)}
    camera_station = np.array([st_index[c.station] for c in cams], dtype=np.int32)
    n_st = len(stations)
    # cameras per station, CSR: station s has cameras st_cams[st_ptr[s]:st_ptr[s + 1]]
    st_cams = np.argsort(camera_station, kind="stable").astype(np.int32)
    st_count = np.bincount(camera_station, minlength=n_st)
    st_ptr = np.concatenate([[0], np.cumsum(st_count)]).astype(np.int64)

    P = scenario.population.size
    rng = _rng(seed, STREAM_POPULATION)
    commuter = rng.random(P) < scenario.movement.commuter_share
    home = rng.integers(0, n_st, size=P).astype(np.int32)
    popularity = rng.lognormal(0.0, WORK_POPULARITY_SIGMA, size=n_st)
    work = rng.choice(n_st, size=P, p=popularity / popularity.sum()).astype(np.int32)
    if n_st > 1:
        same = work == home
        work[same] = (home[same] + 1 + rng.integers(0, n_st - 1, size=int(same.sum()))) % n_st
    work[~commuter] = -1

    watchlist = _draw_watchlist(scenario, _rng(seed, STREAM_WATCHLIST))

    chunks = [
        _day_passes(
            scenario,
            day,
            _rng(seed, STREAM_SCHEDULE, day),
            commuter,
            home,
            work,
            n_st,
            st_ptr,
            st_count,
            st_cams,
        )
        for day in range(scenario.days)
    ]
    person = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, np.int32)
    camera = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros(0, np.int32)
    t = np.concatenate([c[2] for c in chunks]) if chunks else np.zeros(0, np.int64)
    order = np.lexsort((person, camera, t))
    passes = np.empty(order.shape[0], dtype=PASS_DTYPE)
    passes["person"] = person[order]
    passes["camera"] = camera[order]
    passes["t"] = t[order]
    passes["day"] = passes["t"] // SECONDS_PER_DAY
    passes["pid"] = np.arange(order.shape[0], dtype=np.int64)

    frame_t, frame_camera, frame_ptr, frame_pass, pass_frame = _group_frames(
        passes, scenario.policy.frame_interval_s
    )

    arrays = (
        camera_station,
        home,
        work,
        commuter,
        passes,
        frame_t,
        frame_camera,
        frame_ptr,
        frame_pass,
        pass_frame,
    )
    for a in arrays:
        a.flags.writeable = False
    world = World(
        scenario=scenario,
        seed=seed,
        stations=stations,
        camera_station=camera_station,
        home=home,
        work=work,
        commuter=commuter,
        watchlist=watchlist,
        passes=passes,
        frame_t=frame_t,
        frame_camera=frame_camera,
        frame_ptr=frame_ptr,
        frame_pass=frame_pass,
        pass_frame=pass_frame,
    )
    log.info(
        "world %s: %d people, %d cameras, %d passes, %d frames",
        scenario.name,
        P,
        len(cams),
        passes.shape[0],
        frame_t.shape[0],
    )
    return world


def _draw_watchlist(scenario: Scenario, rng: np.random.Generator) -> tuple[WatchEntry, ...]:
    P = scenario.population.size
    size, in_city = scenario.watchlist.size, scenario.watchlist.in_city
    residents = np.sort(rng.choice(P, size=in_city, replace=False))
    identities = np.concatenate([residents, np.arange(P, P + size - in_city)]).astype(np.int64)
    flags = np.arange(size) < in_city
    # shuffle before labelling so that label order says nothing about who is in the city
    perm = rng.permutation(size)
    return tuple(
        WatchEntry(
            identity=int(identities[j]), in_city=bool(flags[j]), label=WATCHLIST_LABEL.format(k + 1)
        )
        for k, j in enumerate(perm)
    )


def _day_passes(
    scenario: Scenario,
    day: int,
    rng: np.random.Generator,
    commuter: np.ndarray,
    home: np.ndarray,
    work: np.ndarray,
    n_st: int,
    st_ptr: np.ndarray,
    st_count: np.ndarray,
    st_cams: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One day's passes, unsorted: ``(person int32, camera int32, t int64)``."""
    mv = scenario.movement
    P = home.shape[0]
    a = mv.active_hours[0] * 3600
    b = mv.active_hours[1] * 3600
    w = b - a
    lo, hi = mv.passes_per_day

    present = rng.random(P) < mv.presence
    n = rng.integers(lo, hi + 1, size=P)
    n[~present] = 0

    # commuters: template (home AM, work PM, work AM arrival, home PM arrival), first n kept
    c_idx = np.flatnonzero(commuter & (n > 0))
    k = c_idx.shape[0]
    morning = rng.normal(a + MORNING_CENTRE * w, MORNING_SD * w, size=k)
    evening = rng.normal(a + EVENING_CENTRE * w, EVENING_SD * w, size=k)
    travel = rng.uniform(TRAVEL_S[0], TRAVEL_S[1], size=(k, 2))
    c_t = np.stack([morning, evening, morning + travel[:, 0], evening + travel[:, 1]], axis=1)
    h, wk = home[c_idx], work[c_idx]
    c_st = np.stack([h, wk, wk, h], axis=1)
    keep = np.arange(4)[None, :] < n[c_idx][:, None]
    c_person = np.broadcast_to(c_idx[:, None], (k, 4))[keep]
    c_t, c_st = c_t[keep], c_st[keep]

    # errands (commuters' passes beyond four) and wanderers: random station, random time
    extra = np.where(commuter, np.maximum(n - 4, 0), n)
    e_person = np.repeat(np.arange(P), extra)
    m = e_person.shape[0]
    e_t = rng.uniform(a, b, size=m)
    e_st = rng.integers(0, n_st, size=m)

    person = np.concatenate([c_person, e_person]).astype(np.int32)
    st = np.concatenate([c_st, e_st]).astype(np.int64)
    t = np.clip(np.floor(np.concatenate([c_t, e_t])), a, b - 1).astype(np.int64)
    t += day * SECONDS_PER_DAY
    # one camera of the station, uniformly
    pick = np.floor(rng.random(st.shape[0]) * st_count[st]).astype(np.int64)
    camera = st_cams[st_ptr[st] + pick]
    return person, camera.astype(np.int32), t


def _group_frames(passes: np.ndarray, interval: int):
    """Group passes at one camera in one ``interval``-second bucket of a day into frames.

    Returns ``(frame_t, frame_camera, frame_ptr, frame_pass, pass_frame)``, frames sorted by
    ``(t, camera)``.
    """
    t = passes["t"]
    day = t // SECONDS_PER_DAY
    bucket_t = day * SECONDS_PER_DAY + ((t - day * SECONDS_PER_DAY) // interval) * interval
    cam = passes["camera"]
    order = np.lexsort((cam, bucket_t))  # stable: pids ascend inside a frame
    s_t, s_cam = bucket_t[order], cam[order]
    new = np.ones(order.shape[0], dtype=bool)
    if order.shape[0]:
        new[1:] = (s_t[1:] != s_t[:-1]) | (s_cam[1:] != s_cam[:-1])
    starts = np.flatnonzero(new)
    frame_ptr = np.append(starts, order.shape[0]).astype(np.int64)
    pass_frame = np.empty(order.shape[0], dtype=np.int64)
    pass_frame[order] = np.cumsum(new) - 1
    return (
        s_t[starts].astype(np.int64),
        s_cam[starts].astype(np.int32),
        frame_ptr,
        order.astype(np.int64),
        pass_frame,
    )
