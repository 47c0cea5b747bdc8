"""`facelab run`: simulate a scenario day by day, the way a deployed system would see it.

Per simulated day, for the cameras configured for face recognition:

* **image mode** renders every frame, detects faces (YuNet; by default only where the frame
  changed against the camera's other frames, :mod:`motion`), aligns and embeds them (SFace);
* **embedding mode** draws the sightings' embeddings from the calibrated twin (:mod:`twin`);

then every sighting is searched against the watchlist (FAISS), its top candidates' scores are
kept (so that a threshold sweep never re-embeds), candidates at or above the camera's threshold
become alerts for manual review, and the day's embeddings become one archive shard.

Crash safety and resume: a day is the unit of work. Its frames and shard are written first
(atomically, deterministic bytes), then all of its rows in one transaction that also marks the
day done. A run killed at any moment and started again with the same command redoes only the
unfinished day and ends with exactly the rows and index contents of an uninterrupted run.
Ground truth (who each sighting really is) goes to the write-only
:class:`~facelab.run.sinks.TruthSink` the caller gives; the search path never reads it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from facelab import __version__
from facelab.cpus import usable_cpus
from facelab.errors import ConfigError, RunError
from facelab.fileio import write_atomic
from facelab.governance import provenance
from facelab.run import balance, schema, schema_versions
from facelab.run.schema import TOP_K
from facelab.run.sinks import PASS_TRUTH, SIGHTING_TRUTH, TruthSink
from facelab.run.store import RunStore, Transaction
from facelab.search import percent
from facelab.vision import detect, embed, faces
from facelab.vision import device as dev
from facelab.vision.backend import describe as describe_inference
from facelab.vision.backend import inference_record, resolve_backend
from facelab.vision.faces import FaceModels
from facelab.world import camera, motion, synth
from facelab.world.world import World, build_world

log = logging.getLogger(__name__)

SIGHTING_ID_SHIFT = 32  # sighting id = day << 32 | sequence within the day
MATCH_IOU = 0.5  # a detection is the ground-truth face it overlaps by at least this
RENDER_BATCH = 16  # frames per chunk: chunk i+1 renders while chunk i embeds
PREPARE_WORKERS: int | None = None  # render/detect threads; None: balance.plan's
#: Chunks embedded at once on the CPU, each by its own SFace session with an equal share of the
#: cores. One session with all the cores runs each layer on every core, and every layer waits
#: for its slowest thread: whenever the render/detect worker holds a core, the whole session
#: stalls. Sessions that share no threads only slow down by the share taken. (Measured on two
#: cores: within the machine's noise of one session, ``benchmarks/experiments/embed_sessions.py``.)
EMBED_WORKERS = balance.EMBED_SESSIONS
"""SFace sessions on the CPU; their threads and the render/detect workers come from
:func:`facelab.run.balance.plan` (the measured cost of each stage on the embedder's backend):
one worker and two one-thread sessions on a 2-core machine."""
FRAME_SUFFIX = ".jpg"  # archived frames: signed JPEG (provenance.FRAME_JPEG_QUALITY)
RUN_ACTOR = "facelab-run"


@dataclass
class DayBatch:
    """Everything one day produces, before it is written (rows of the run database as
    :mod:`~facelab.run.schema` rows, truth as tuples, embeddings as numpy)."""

    day: int
    frames: list[schema.FrameRow] = field(default_factory=list)
    sightings: list[schema.SightingRow] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)  # float32 (n_i, 128)
    truth: list[tuple] = field(default_factory=list)  # SIGHTING_TRUTH fields, in order
    passes: list[tuple] = field(default_factory=list)  # PASS_TRUTH fields, in order
    #: The day's embeddings already searched against the watchlist (a
    #: :class:`~facelab.search.watchlist.SearchResult` of top ``min(TOP_K, len(watch))``), when
    #: the source searched them itself (the Ray engine does, in its tasks); else ``None``.
    searched: object | None = None

    def emb(self) -> np.ndarray:
        return (
            np.concatenate(self.embeddings) if self.embeddings else np.zeros((0, 128), np.float32)
        )

    def sighting_truth(self) -> np.ndarray:
        """The day's sightings' truth (structured, :data:`~facelab.run.sinks.SIGHTING_TRUTH`)."""
        return np.array(self.truth, SIGHTING_TRUTH)

    def pass_truth(self) -> np.ndarray:
        """The day's passes (structured, :data:`~facelab.run.sinks.PASS_TRUTH`)."""
        return np.array(self.passes, PASS_TRUTH)

    def extend(self, part: DayBatch, embeddings: np.ndarray | None) -> None:
        """Append a chunk whose sighting ids are chunk-local (0, 1, …), numbered day-wide here."""
        if embeddings is not None:
            self.embeddings.append(embeddings)
        first = len(self.sightings)
        ids = sighting_ids(self.day, first + len(part.sightings))[first:].tolist()
        self.sightings += [replace(r, id=ids[r.id]) for r in part.sightings]
        self.truth += [(ids[r[0]], *r[1:]) for r in part.truth]
        self.frames += part.frames
        self.passes += part.passes


@dataclass(frozen=True)
class DayResult:
    """One simulated day. ``faces_truth`` and ``faces_found`` come from the ground truth (faces
    that passed FR cameras, and those a sighting was matched to); the rest from the search side."""

    day: int
    frames: int
    faces_truth: int
    faces_found: int
    sightings: int
    alerts: int
    seconds: float


@dataclass(frozen=True)
class RunSummary:
    """What `facelab run` prints at the end; every figure can be recomputed from the run."""

    path: Path
    mode: str
    days: tuple[DayResult, ...]
    days_skipped: int
    watchlist: int
    device: str
    backend: str = "onnxruntime"
    precision: str = "fp32"
    inference: str = "onnxruntime fp32"
    """Where the models ran, in words (:func:`facelab.vision.backend.describe`)."""

    def total(self, name: str) -> int:
        return int(sum(getattr(d, name) for d in self.days))

    @property
    def seconds(self) -> float:
        return float(sum(d.seconds for d in self.days))

    @property
    def faces_per_s(self) -> float:
        return self.total("sightings") / self.seconds if self.seconds > 0 else 0.0


def scenario_fingerprint(scenario, mode: str) -> str:
    """Hash of the scenario as run: a resumed run must use exactly the same one. Its
    ``[limits]`` are left out: they bound what may be run, not what a run computes."""
    described = {k: v for k, v in scenario.to_dict().items() if k != "limits"}
    blob = json.dumps({"scenario": described, "mode": mode}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def open_or_create(scenario, out: Path, mode: str, inference: dict | None = None) -> RunStore:
    """Open ``out`` to resume it, or create it; refuse a run of another scenario, or one made
    on another inference backend (``inference``: :func:`facelab.vision.backend.inference_record`,
    recorded in ``run.json``; every model must run where it ran before)."""
    fp = scenario_fingerprint(scenario, mode)
    inference = inference or {}
    if not out.exists():
        return RunStore.create(
            out,
            {
                "scenario": scenario.to_dict(),
                "scenario_name": scenario.name,
                "fingerprint": fp,
                "mode": mode,
                "facelab": __version__,
                **inference,
            },
        )
    store = RunStore(out)
    if store.meta.get("fingerprint") != fp:
        store.close()
        raise RunError(
            f"{out} holds a run of another scenario or mode "
            f"({store.meta.get('scenario_name')!r}, {store.meta.get('mode')}); "
            "choose another --out to start a new run"
        )
    made = store.meta.get("backend")
    same = made == inference.get("backend") and store.meta.get("models", inference.get(
        "models")) == inference.get("models")  # fmt: skip
    if made is not None and inference and not same:
        store.close()
        raise RunError(
            f"{out} was run with --backend {made} ({describe_inference(store.meta)}); resume it "
            f"with the same backend (asked for {describe_inference(inference)})"
        )
    return store


def sighting_ids(day: int, n: int) -> np.ndarray:
    """Deterministic sighting ids of a day: ``day << 32 | 0..n-1`` (int64)."""
    return (np.int64(day) << SIGHTING_ID_SHIFT) + np.arange(n, dtype=np.int64)


def camera_thresholds(scenario) -> tuple[percent.PercentMapping, np.ndarray]:
    """The alert mapping and each camera's threshold as a cosine (float64, one per camera)."""
    name = scenario.thresholds.mapping
    if name == "log-fmr":
        raise ConfigError(
            f"{scenario.source}: thresholds.mapping: 'log-fmr' is calibrated after a run "
            "(use it with `facelab sweep --mapping log-fmr`); alert with 'linear' or 'sigmoid'"
        )
    mapping = percent.get_mapping(name)
    cos = np.array([mapping.to_cosine(scenario.threshold_for(c.id)) for c in scenario.cameras])
    return mapping, cos


class ImageSource:
    """Sightings from rendered frames: render → detect → align → embed (the real models)."""

    mode = "image"

    def __init__(
        self, scenario, world: World, store: RunStore, device: str, backend: str = "onnxruntime"
    ):
        self.scenario, self.world, self.store = scenario, world, store
        self.generator = synth.FaceGenerator(device, backend=backend)
        self.models = FaceModels(device, backend=backend)
        self.detector = self.models.detector
        self.embedder = self.models.embedder
        self._embedders: queue.SimpleQueue | None = None
        self.renderer = camera.CameraRenderer(scenario, world, self.generator)

    def enrol_watchlist(self, watch_index, truth: TruthSink) -> None:
        from facelab.run.photo import photo_records
        from facelab.run.watchlist import enrol_photo

        s = self.scenario
        ids = [e.identity for e in self.world.watchlist]
        photos = photo_records(self.generator, s.seed, ids, s.variation.enrol_sigma,
                               attempts=self.world.latent_attempts(ids))  # fmt: skip
        for i, (entry, (photo, record)) in enumerate(zip(self.world.watchlist, photos)):
            enrol_photo(
                self.store, provenance.encode_png(photo, record), label=entry.label,
                case=f"scenario:{s.name}", reason="scenario watchlist", actor=RUN_ACTOR,
                models=self.models, largest=True, truth=truth,
                index=watch_index, save=i == len(self.world.watchlist) - 1,
            )  # fmt: skip

    def _prepare(self, frames, day: int, write: Callable[[list[tuple[Path, bytes]]], object]):
        """Render, encode, detect and align one chunk of frames; ``write(files)`` stores the
        chunk's signed frames (``(path, bytes)`` pairs). Sighting ids in the returned rows are
        chunk-local (0, 1, …); :meth:`day` makes them day-wide."""
        part, aligned, files = DayBatch(day), [], []
        folder = self.store.frames_dir / f"day-{day:03d}"
        rendered = self.renderer.render(frames)
        for fr, regions in zip(rendered, self._regions(rendered)):
            path = folder / f"{fr.frame_id}{FRAME_SUFFIX}"
            record = camera.frame_record(fr, self.scenario, self.generator.model_sha256)
            files.append((path, provenance.encode(fr.image, record, path)))
            rel = str(path.relative_to(self.store.path))
            part.frames.append(schema.FrameRow(fr.frame_id, fr.camera, fr.t, day, rel))
            found = faces.select(faces.find_faces(self.detector, fr.image, regions), faces.ALL)
            match = faces.match_truth(found, [f.box for f in fr.faces], MATCH_IOU)
            matched = set()
            for j, k in enumerate(match.index.tolist()):
                truth = fr.faces[k] if k >= 0 else None
                local = len(part.sightings)
                x, y, w, h = map(float, found.boxes[j])
                part.sightings.append(schema.SightingRow(
                    id=local, frame_id=fr.frame_id, camera=fr.camera, t=fr.t, day=day,
                    x=x, y=y, w=w, h=h, det_score=float(found.scores[j]), face_px=max(w, h),
                ))  # fmt: skip
                part.truth.append((
                    local, day, truth.pid if truth else -1, truth.person if truth else -1,
                    float(match.iou[j]),
                ))  # fmt: skip
                if truth:
                    matched.add(truth.pid)
            aligned.append(faces.align_faces(fr.image, found))
            for f in fr.faces:
                part.passes.append((f.pid, day, fr.camera, fr.t, f.person, int(f.pid in matched)))
        write(files)
        return part, np.concatenate(aligned)  # uint8 (n, 112, 112, 3), the chunk's faces in order

    def _regions(self, rendered: list[camera.Frame]) -> list:
        """Where to detect in each frame: motion regions found among the chunk's frames of the
        same camera (``[detection] regions = "motion"``), or ``None`` (the whole frame)."""
        if self.scenario.detection.regions != "motion":
            return [None] * len(rendered)
        return motion.frame_regions(rendered, detect.STRIDE_MULTIPLE)

    def _chunk_embedders(self) -> queue.SimpleQueue:
        """The sessions chunks are embedded by (:data:`EMBED_WORKERS` on the CPU, each with an
        equal share of the cores; the one embedder on a GPU), made once per run."""
        if self._embedders is None:
            self._embedders = queue.SimpleQueue()
            if dev.resolve_device(self.models.device) == "cpu":
                threads = self._plan().embed_threads
                for _ in range(EMBED_WORKERS):
                    self._embedders.put(
                        embed.Embedder(
                            self.models.device, threads=threads, backend=self.models.backend
                        )
                    )
            else:
                self._embedders.put(self.embedder)
        return self._embedders

    def _plan(self) -> balance.Plan:
        """Worker threads from the stages' measured costs on this embedder's backend."""
        embedder = resolve_backend(self.models.backend, self.models.device, "embedder")
        return balance.plan(usable_cpus(), embedder)

    @staticmethod
    def _embed(embedders: queue.SimpleQueue, aligned: np.ndarray) -> np.ndarray:
        embedder = embedders.get()
        try:
            return faces.embed_faces(embedder, aligned)
        finally:
            embedders.put(embedder)

    def day(self, day: int, progress: Callable[[int, int], None]) -> DayBatch:
        """The day's frames in chunks, four stages at once: the next chunks are rendered,
        encoded and detected by :data:`PREPARE_WORKERS` worker threads (:meth:`_plan`) while the previous ones
        are embedded (by :data:`EMBED_WORKERS` sessions; OpenCV and onnxruntime release the
        GIL), and a writer thread stores the signed frames (atomic write and fsync: I/O waits
        off the CPU path). Chunks are collected in order, so the result does not depend on the
        number of workers. Every frame file is on disk before the day's rows are committed."""
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        batch = DayBatch(day)
        truth_frames = list(self.world.fr_frames(day))
        chunks = [
            truth_frames[s : s + RENDER_BATCH] for s in range(0, len(truth_frames), RENDER_BATCH)
        ]
        embedders = self._chunk_embedders()
        in_flight = embedders.qsize()
        done = 0

        def collect(part: DayBatch, n_frames: int, embedded) -> None:
            nonlocal done
            batch.extend(part, None if embedded is None else embedded.result())
            done += n_frames
            progress(done, len(truth_frames))

        workers = PREPARE_WORKERS or self._plan().prepare_workers
        with ThreadPoolExecutor(1, thread_name_prefix="facelab-write") as writer, \
                ThreadPoolExecutor(workers, thread_name_prefix="facelab-render") as pool, \
                ThreadPoolExecutor(in_flight, thread_name_prefix="facelab-embed") as embed_pool:  # fmt: skip
            writes = []

            def write(files: list[tuple[Path, bytes]]) -> None:
                writes.append(writer.submit(_write_files, files))

            pending = deque(pool.submit(self._prepare, c, day, write) for c in chunks[:workers])
            embedding: deque = deque()  # (chunk rows, frames, future embeddings or None), in order
            for i in range(len(chunks)):
                part, aligned = pending.popleft().result()
                if i + workers < len(chunks):
                    pending.append(pool.submit(self._prepare, chunks[i + workers], day, write))
                embedded = (
                    embed_pool.submit(self._embed, embedders, aligned) if len(aligned) else None
                )
                embedding.append((part, len(chunks[i]), embedded))
                if len(embedding) >= in_flight:
                    collect(*embedding.popleft())
            while embedding:
                collect(*embedding.popleft())
            for w in writes:
                w.result()  # a failed write (disk full…) fails the day before anything is committed
        return batch


def _write_files(files: list[tuple[Path, bytes]]) -> None:
    """Write a chunk's frames, each atomically (one writer job a chunk: fewer thread hand-offs)."""
    for path, data in files:
        write_atomic(path, data)


TWIN_DETECT_STREAM = 0x54574401  # which twin sightings the detector would have missed


def twin_quality(profile, kinds) -> str:
    """The calibrated twin kind for a camera quality profile: itself if calibrated, else the
    built-in profile with the closest blur (custom profiles are variations of a built-in)."""
    from facelab.config.quality import BUILTIN_QUALITY

    if profile.name in kinds:
        return profile.name
    return min(
        (q for q in BUILTIN_QUALITY.values() if q.name in kinds),
        key=lambda q: abs(q.blur_sigma - profile.blur_sigma),
    ).name


class TwinSource:
    """Sightings drawn from the calibrated embedding twin (no images): for scale.

    Faces the detector would miss in image mode are dropped at the twin's calibrated detection
    rate for the camera's quality, deterministically per pass.
    """

    mode = "embedding"

    def __init__(
        self, scenario, world: World, store: RunStore, device: str, backend: str = "onnxruntime"
    ):
        from facelab.errors import ModelError
        from facelab.twin.model import default_path, load_default
        from facelab.twin.sampler import TwinSampler

        self.scenario, self.world, self.store = scenario, world, store
        try:
            self.model = load_default()
        except ModelError as exc:
            if default_path().exists():
                raise
            from facelab.twin.calibrate import calibrate

            log.warning("%s; calibrating now with the defaults (about two minutes)", exc)
            self.model, _ = calibrate(device=device)
            self.model.save(default_path())
        self.sampler = TwinSampler(self.model, scenario.seed)
        kinds = tuple(self.model.kinds)
        self.quality = np.array(
            [twin_quality(scenario.quality[c.quality], kinds) for c in scenario.cameras]
        )
        self.detect_rate = np.array(
            [self.model.detect_rate[self.model.index(q)] for q in self.quality]
        )

    def enrol_watchlist(self, watch_index, truth: TruthSink) -> None:
        from facelab.run.watchlist import enrol_batch

        ids = np.array([e.identity for e in self.world.watchlist], np.int64)
        enrol_batch(
            self.store, self.sampler.photos(ids, ids), [e.label for e in self.world.watchlist],
            identities=ids.tolist(), case=f"scenario:{self.scenario.name}",
            reason="scenario watchlist", actor=RUN_ACTOR, index=watch_index, truth=truth,
        )  # fmt: skip

    def day(self, day: int, progress: Callable[[int, int], None]) -> DayBatch:
        batch = DayBatch(day)
        p = self.world.day_passes(day)
        p = p[self.world.camera_is_fr[p["camera"]]]
        rng = np.random.default_rng(
            np.random.SeedSequence([self.scenario.seed, TWIN_DETECT_STREAM, day])
        )
        found = rng.random(len(p)) < self.detect_rate[p["camera"]]
        batch.passes = [
            (int(r["pid"]), day, int(r["camera"]), int(r["t"]), int(r["person"]), int(f))
            for r, f in zip(p, found)
        ]
        p = p[found]
        emb = self.sampler.sightings(
            p["person"].astype(np.int64), p["pid"], self.quality[p["camera"]]
        )
        sids = sighting_ids(day, len(p)).tolist()
        frame_ids = [self.world.frame_id(int(f)) for f in self.world.pass_frame[p["pid"]]]
        cams, ts, persons, pids = (p[k].tolist() for k in ("camera", "t", "person", "pid"))
        batch.sightings = [
            schema.SightingRow(id=s, frame_id=f, camera=c, t=t, day=day)
            for s, f, c, t in zip(sids, frame_ids, cams, ts)
        ]
        batch.truth = [(sids[i], day, pids[i], persons[i], 1.0) for i in range(len(p))]
        batch.embeddings.append(emb)
        progress(len(p), len(p))
        return batch


def _check_groups(world: World, mode: str) -> None:
    """Refuse groups outside image mode, and measure them (:mod:`facelab.world.groups`), before
    the run directory exists."""
    if world.scenario.population.groups is None:
        return
    if mode != "image":
        raise ConfigError("population.groups: groups are measured on rendered faces; "
                          "run this scenario in image mode")  # fmt: skip
    world.identity_groups  # noqa: B018 (measured now: a failure leaves no run behind)


def _write_groups(world: World, truth: TruthSink) -> None:
    """Record each identity's measured group, if the scenario sets groups."""
    if world.scenario.population.groups is None:
        return
    g = world.identity_groups
    ids = np.arange(len(g.group), dtype=np.int64)
    truth.set_identity_groups(ids, g.names_all(), g.ita, g.attempt)


class Runner:
    """Runs (or resumes) one scenario into one run directory.

    ``truth`` receives the ground truth (:class:`~facelab.run.sinks.TruthSink`; the caller owns
    and closes it). ``on_step(label, day)``, when given, is called after each durable step:
    ``after-enrol`` (``day`` ``None``), then per day ``after-frames``, ``after-shard``,
    ``after-truth`` and ``after-commit`` (the crash tests kill the process there).
    ``engine``, when given, supplies the days' work in place of the local source:
    ``engine.wrap(source, store)`` returns an object with the source's ``mode``,
    ``enrol_watchlist`` and ``day`` (the Ray engine, :mod:`facelab.run.ray_engine`); the
    driver commits its days exactly as the local ones. ``transfer`` (``--system``, a
    :class:`~facelab.search.transfer.ScoreTransfer`) carries each day's candidate scores onto an
    emulated system's scale before they are stored (:mod:`facelab.run.emulated`); its impostor
    map is built once the watchlist is enrolled (or read back from ``run.json`` on resume).
    """

    _watch_version: int | None = None
    """The watchlist version the day's searches run against (None: the current one)."""

    def __init__(
        self,
        scenario,
        out: Path,
        *,
        truth: TruthSink,
        mode: str | None = None,
        device: str = "cpu",
        backend: str | None = None,
        on_step: Callable[[str, int | None], None] | None = None,
        engine=None,
        transfer=None,
    ):
        self.scenario = scenario
        #: a :class:`~facelab.search.transfer.ScoreTransfer` (``--system``) or None
        self.transfer = transfer
        self._identity = None
        self.mode = mode or scenario.mode
        if self.mode not in ("image", "embedding"):
            raise ConfigError(f"unknown mode {self.mode!r} (choose image or embedding)")
        self.device = device
        #: backend, precision ("auto"/"mixed" when the models differ) and each model's
        self.inference = inference_record(backend or scenario.detection.backend, device)
        self.backend = self.inference["backend"]  # "auto": each model opens on auto's choice
        self.mapping, self.cos_thr = camera_thresholds(scenario)
        self.world = build_world(scenario)
        _check_groups(self.world, self.mode)
        system = {} if transfer is None else {"system": transfer.system}
        self.store = open_or_create(scenario, Path(out), self.mode, {**self.inference, **system})
        truth.open()  # the truth file exists from the run's creation on
        _write_groups(self.world, truth)
        source_cls = ImageSource if self.mode == "image" else TwinSource
        self.source = source_cls(scenario, self.world, self.store, device, self.backend)
        self._twin = self.source  # the local source: its sampler builds the impostor map
        if engine is not None:
            self.source = engine.wrap(self.source, self.store)
        self.truth = truth
        self.on_step = on_step

    def close(self) -> None:
        self.store.close()

    def _step(self, label: str, day: int | None = None) -> None:
        if self.on_step is not None:
            self.on_step(label, day)

    def _write_cameras(self) -> None:
        rows = [
            schema.CameraRow(
                idx=i, id=c.id, kind=c.kind, station=c.station, fr=bool(c.fr),
                width=c.resolution[0], height=c.resolution[1], quality=c.quality,
                threshold=self.scenario.threshold_for(c.id),
            )
            for i, c in enumerate(self.scenario.cameras)
        ]  # fmt: skip
        with Transaction(self.store.db) as db:
            schema.insert_cameras(db, rows)

    def _enrol(self) -> None:
        """Enrol the scenario's watchlist once; an interrupted enrolment is redone from scratch."""
        from facelab.search.watchlist import WatchlistIndex

        if self.store.get("watchlist_enrolled") == "1":
            return
        with Transaction(self.store.db) as db:
            schema.clear_watchlist(db)
            schema_versions.clear(db)
        self.truth.clear_watch()
        self.store.watchlist_path.unlink(missing_ok=True)
        self.source.enrol_watchlist(WatchlistIndex(), self.truth)
        self._step("after-enrol")
        self.store.set("watchlist_enrolled", 1)

    def run(
        self,
        on_progress: Callable[[int, int, int], None] | None = None,
        after_day: Callable[[int], None] | None = None,
    ) -> RunSummary:
        """Simulate every day not yet done; ``on_progress(day, done, total)`` reports frames."""
        self._write_cameras()
        self._enrol()
        if self.transfer is not None and not self.transfer.complete:  # facelab.run.emulated
            from facelab.run import emulated

            if self.mode != "embedding":
                raise ConfigError("a system profile drives an embedding-mode run only")
            self.transfer = emulated.complete_transfer(
                self.transfer, self.store, self._twin.sampler, self._twin.quality
            )
        done = set(self.store.days_done())
        watch = None
        results = []
        if not done:
            self.store.audit.append(
                RUN_ACTOR, "run", reason="simulation",
                details={"scenario": self.scenario.name, "mode": self.mode, "days": self.scenario.days},
            )  # fmt: skip
        for day in range(self.scenario.days):
            if day in done:
                continue
            if watch is None:
                from facelab.run.watchlist import load_active_version

                watch, self._watch_version = load_active_version(self.store)
                if hasattr(self.source, "use_watchlist"):  # the Ray engine's tasks search it
                    self.source.use_watchlist(watch)
                if self.device != "cpu":
                    watch.use_device(self.device)  # faiss-gpu where it can; cuda without: error
            t0 = time.perf_counter()
            batch = self.source.day(
                day, lambda d, n, _day=day: on_progress and on_progress(_day, d, n)
            )
            self._step("after-frames", day)
            results.append(self._commit(batch, watch, t0))
            if after_day is not None:
                after_day(day)
        n_watch = len(schema.active_watch_ids(self.store.db))
        return RunSummary(
            self.store.path, self.mode, tuple(results), len(done), n_watch, self.device,
            self.backend, self.inference["precision"], describe_inference(self.inference),
        )  # fmt: skip

    def _commit(self, batch: DayBatch, watch, t0: float) -> DayResult:
        """Search the day's sightings, then write shard, truth and rows (day marked done last)."""
        day = batch.day
        emb = batch.emb()
        n = len(batch.sightings)
        sids = np.array([r.id for r in batch.sightings], np.int64)
        cams = np.array([r.camera for r in batch.sightings], np.int64)
        cands, alert_rows = np.empty(0, schema.CANDIDATE), []
        if n and len(watch):
            res = batch.searched
            if res is None:
                res = watch.search(emb, min(TOP_K, len(watch)))
            if self.transfer is not None:  # the emulated system's scores (facelab.run.emulated)
                from facelab.run import emulated

                if self._identity is None:
                    self._identity = emulated.watch_identities(self.store, self.world)
                res = emulated.rescore(self.transfer, res, batch.sighting_truth(), sids, cams,
                                       self._identity)  # fmt: skip
            ii, rr = np.nonzero(res.ids >= 0)  # every stored candidate, row-major
            score = res.scores[ii, rr]
            cands = np.empty(len(ii), schema.CANDIDATE)
            cands["sighting"], cands["rank"], cands["watch"] = sids[ii], rr, res.ids[ii, rr]
            cands["score"], cands["day"] = score, day
            hit = percent.at_or_above(score, self.cos_thr[cams[ii]])
            ai, ar = ii[hit], rr[hit]
            pct = self.mapping.to_percent(score[hit].astype(np.float64))
            alert_rows = [
                schema.AlertRow(
                    id=aid, sighting=s.id, watch=w, rank=k, score=sc, percent=p, camera=s.camera,
                    t=s.t, day=day, frame_id=s.frame_id,
                )
                for s, aid, w, k, sc, p in zip(
                    (batch.sightings[i] for i in ai.tolist()),
                    schema.alert_id(sids[ai], ar).tolist(), res.ids[ai, ar].tolist(), ar.tolist(),
                    score[hit].tolist(), pct.tolist(),
                )
            ]  # fmt: skip
        archive = self.store.archive()
        if n:
            archive.add_day(day, sids, emb, replace=True)
        self._step("after-shard", day)
        self.truth.add_day(batch.sighting_truth(), batch.pass_truth())
        self._step("after-truth", day)
        faces_truth = len(batch.passes)
        found = sum(p[5] for p in batch.passes)
        seconds = time.perf_counter() - t0  # the day's work, all but its final commit
        with Transaction(self.store.db) as db:
            schema.insert_frames(db, batch.frames)
            schema.insert_sightings(db, batch.sightings)
            schema.insert_candidates(db, cands)
            schema.insert_alerts(db, alert_rows)
            schema_versions.set_day_version(db, day, self._watch_version)
            schema.insert_day(db, schema.DayRow(
                day=day, frames=len(batch.frames), sightings=n, alerts=len(alert_rows),
                seconds=round(seconds, 3),
            ))  # fmt: skip
        self._step("after-commit", day)
        log.info("day %d: %d sightings, %d alerts", day, n, len(alert_rows))
        return DayResult(day, len(batch.frames), faces_truth, found, n, len(alert_rows), seconds)


def run_scenario(scenario, out: str | Path, *, truth: TruthSink, mode: str | None = None,
                 device: str = "cpu", backend: str | None = None, on_progress=None,
                 after_day=None, on_step=None, engine=None,
                 transfer=None) -> RunSummary:  # fmt: skip
    """Run (or resume) ``scenario`` into ``out``, its ground truth into ``truth``; see
    :class:`Runner` (``backend``: ``None`` takes the scenario's ``[detection] backend``)."""
    runner = Runner(scenario, Path(out), truth=truth, mode=mode, device=device, backend=backend,
                    on_step=on_step, engine=engine, transfer=transfer)  # fmt: skip
    try:
        return runner.run(on_progress, after_day)
    finally:
        runner.close()
