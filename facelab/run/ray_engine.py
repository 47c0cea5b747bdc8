"""The Ray engine: a run's days computed on a Ray cluster, committed by the driver as locally.

``facelab run SCENARIO --engine ray [--address ADDR]`` runs the same
:class:`~facelab.run.pipeline.Runner` as the local engine; only where each day's sightings are
computed changes (:class:`RayEngine` wraps the run's source):

* **embedding mode**: one Ray task per simulated day draws the day's sightings from the
  calibrated twin and searches them against the watchlist (the source and the watchlist index
  travel to the workers once, through the object store). Several days are in flight at once;
  the driver takes them back in day order.
* **image mode**: actors each hold the face generator, detector and embedder sessions (a
  share of a GPU when the cluster has GPUs and the run asked for one); a day's frames are cut
  into the local engine's chunks (:data:`~facelab.run.pipeline.RENDER_BATCH` frames), chunk
  ``i`` goes to actor ``i mod n``, and the driver writes the signed frames and collects the
  chunks in order.

Each unit of work is exactly the local engine's (a day's draw and search, a chunk's render,
detect and embed), computed by the same functions, so a Ray run equals the local run: the same
rows, shard bytes and sweep. The driver commits each day through the same run store (frames,
shard, truth, rows, then the day marked done), so a driver killed mid-run resumes as the local
engine does. A task whose worker dies is run again by Ray (:data:`TASK_RETRIES`; actors are
restarted, :data:`ACTOR_RESTARTS`) with the same result: the work is a function of the scenario,
its seed and the day.

Ray is imported only here and in :mod:`facelab.run.ray_archive`, and only when the Ray engine
is asked for (:func:`require_ray`): ``import facelab`` and every default path never load it.
"""

from __future__ import annotations

import copy
import functools
import logging
import socket
from collections import deque
from pathlib import Path
from types import SimpleNamespace

from facelab.cpus import usable_cpus
from facelab.errors import EngineError, FacelabError
from facelab.fileio import write_atomic

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")
INSTALL_HINT = "pip install 'facelab[ray]'"
TASK_RETRIES = 3  # a task whose worker died is run again this many times
ACTOR_RESTARTS = 3  # an image-mode actor whose process died is restarted this many times
CONNECT_TIMEOUT_S = 5.0  # an --address that does not answer within this is unreachable
ACTOR_CPUS = 1  # CPUs an image-mode actor requests (its embedder's threads: balance.plan's)
DAYS_AHEAD = 4  # embedding-mode days in flight per cluster CPU (memory: one day's rows each)


def require_ray():
    """The ``ray`` module, or :class:`~facelab.errors.EngineError` when it is not installed."""
    try:
        import ray
    except ImportError:
        raise EngineError(
            f"the ray engine needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def check_engine(engine: str, address: str | None) -> str:
    """``engine`` if it is one of :data:`ENGINES` (``address`` only with ``"ray"``)."""
    from facelab.errors import ConfigError

    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if address is not None and engine != "ray":
        raise ConfigError("--address names a Ray cluster: use it with --engine ray")
    return engine


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``[ray://]host:port`` address; ``None`` for ``auto`` and the like."""
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def connect(address: str | None = None):
    """Connect this process to Ray; returns the ``ray`` module.

    An ``address`` (``host:port`` of a head node started by ``ray start --head``,
    ``ray://host:10001`` for Ray Client, or ``auto``) is checked first: one that does not
    answer within :data:`CONNECT_TIMEOUT_S` is an :class:`~facelab.errors.EngineError` naming
    it. Then an existing connection of the process is used as it is; otherwise the cluster at
    ``address`` is joined, or without one a local Ray instance is started with the usable CPUs.
    """
    ray = require_ray()
    where = _host_port(address) if address else None
    if where is not None:
        try:
            socket.create_connection(where, timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise EngineError(f"cannot reach the Ray cluster at {address}: {reason}") from None
    if ray.is_initialized():
        return ray
    opts = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        opts["num_cpus"] = usable_cpus()
    try:
        ray.init(address=address, **opts)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EngineError(f"cannot join the Ray cluster at {address or 'local'}: {first}") from None
    return ray


def cluster_cpus(ray) -> int:
    """CPUs of the connected cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def cluster_gpus(ray) -> float:
    """GPUs the connected cluster reports (``ray.cluster_resources()["GPU"]``; 0 when none)."""
    return float(ray.cluster_resources().get("GPU", 0))


def check_device(ray, device: str, address: str | None = None) -> None:
    """Refuse ``--device cuda`` on a cluster that reports no GPU (before anything is written):
    an :class:`~facelab.errors.EngineError`. ``auto`` and ``cpu`` run anywhere."""
    if device == "cuda" and cluster_gpus(ray) <= 0:
        raise EngineError(
            f"--device cuda, but the Ray cluster at {address or 'local'} reports no GPU: "
            "use --device cpu or auto, or add nodes with GPUs"
        )


def gpu_share(ray, device: str, actors: int) -> float:
    """GPUs each of ``actors`` image-mode actors requests: an equal share of the cluster's
    (at most one each) when the run's device is not ``cpu`` and the cluster has GPUs; else 0
    (the actors run on CPUs)."""
    gpus = cluster_gpus(ray)
    if device == "cpu" or gpus <= 0:
        return 0.0
    return min(1.0, gpus / max(1, actors))


def get(ray, refs):
    """``ray.get(refs)``, with a facelab error raised in a task re-raised as itself and a task
    that failed for good (its worker or node lost beyond the retries) as an
    :class:`~facelab.errors.EngineError`."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, FacelabError):
            raise exc.cause from None
        raise
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EngineError(f"the Ray cluster lost work of this run: {first}") from None


# --------------------------------------------------------------------------- embedding mode


def blas_threads() -> int:
    """Threads this process's BLAS libraries use (the most of any; 1 when none is loaded).

    The twin's matrix products round differently with another thread count (by ~1e-7), so the
    tasks of a run use the driver's: the local engine's on the same machine."""
    from threadpoolctl import threadpool_info

    return max([int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"] or [1])


def twin_day(source, watch, day: int, threads: int):
    """One embedding-mode day, as a Ray task runs it: the twin source's
    :meth:`~facelab.run.pipeline.TwinSource.day`, then the day's sightings searched against
    the watchlist (top ``min(TOP_K, len(watch))``, the driver's own search), with BLAS on
    ``threads`` threads (:func:`blas_threads` of the driver). Returns the
    :class:`~facelab.run.pipeline.DayBatch` with ``searched`` set."""
    from threadpoolctl import threadpool_limits

    from facelab.run.schema import TOP_K

    with threadpool_limits(limits=threads, user_api="blas"):
        batch = source.day(day, lambda done, total: None)
        if batch.sightings and len(watch):
            batch.searched = watch.search(batch.emb(), min(TOP_K, len(watch)))
    return batch


@functools.cache
def _twin_task():
    return require_ray().remote(num_cpus=1, max_retries=TASK_RETRIES)(twin_day)


class TwinDays:
    """The embedding-mode source of a Ray run: days computed by tasks, handed back in order."""

    mode = "embedding"

    def __init__(self, ray, engine: RayEngine, source, store):
        self.ray, self.engine, self.local, self.store = ray, engine, source, store
        self._watch = None  # the runner's index (use_watchlist), before the first day
        self._refs: dict[int, object] = {}
        self._todo: deque[int] | None = None

    def enrol_watchlist(self, watch_index, truth) -> None:
        self.local.enrol_watchlist(watch_index, truth)

    def use_watchlist(self, watch) -> None:
        """The watchlist index the runner loaded (with the version it records for the days):
        the one the tasks search, shipped at once through the object store."""
        self._watch = self.ray.put(watch)

    def _start(self) -> None:
        done = set(self.store.days_done())
        self._todo = deque(d for d in range(self.local.scenario.days) if d not in done)
        self._source = self.ray.put(self.engine.ship(self.local))
        self._threads = blas_threads()
        self._ahead = self.engine.ahead or DAYS_AHEAD * cluster_cpus(self.ray)

    def _submit(self, day: int):
        return self.engine.twin_task().remote(self._source, self._watch, day, self._threads)

    def day(self, day: int, progress) -> object:
        if self._watch is None:
            raise EngineError("the runner gave the Ray engine no watchlist to search")
        if self._todo is None:
            self._start()
        while self._todo and len(self._refs) < self._ahead:
            d = self._todo.popleft()
            self._refs[d] = self._submit(d)
        ref = self._refs.pop(day, None)
        if ref is None:  # a day the plan did not foresee (the runner asks in order): run it now
            ref = self._submit(day)
        batch = get(self.ray, ref)
        progress(len(batch.sightings), len(batch.sightings))
        return batch


# --------------------------------------------------------------------------- image mode


def _use_driver_files(key: bytes, model_dir: str) -> None:
    """Make this worker process sign frames with the driver's provenance key (written to a
    private temporary file) and load the driver's model folder when its node has that path
    (same machine or shared storage; else the node's own, checked by hash on load)."""
    import os
    import tempfile

    from facelab.governance import provenance

    fd, path = tempfile.mkstemp(prefix="facelab-key-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    os.environ[provenance.KEY_ENV] = path
    if Path(model_dir).is_dir():
        os.environ["FACELAB_MODEL_DIR"] = model_dir


class FaceWorker:
    """An image-mode actor: one :class:`~facelab.run.pipeline.ImageSource` (generator, detector)
    and one embedder session, as the local engine's chunk workers have them; frames are signed
    with the driver's provenance key (``key``), models come from ``model_dir`` when the node
    has it."""

    def __init__(self, scenario, world, run_path: str, device: str, backend: str,
                 key: bytes, model_dir: str):  # fmt: skip
        _use_driver_files(key, model_dir)
        from facelab.run import balance, pipeline
        from facelab.run.store import FRAMES_DIR
        from facelab.vision import device as dev
        from facelab.vision import embed
        from facelab.vision.backend import resolve_backend

        root = Path(run_path)
        store = SimpleNamespace(path=root, frames_dir=root / FRAMES_DIR)  # paths only: no I/O
        self.source = pipeline.ImageSource(scenario, world, store, device, backend)
        models = self.source.models
        if dev.resolve_device(models.device) == "cpu":
            resolved = resolve_backend(models.backend, models.device, "embedder")
            threads = balance.plan(ACTOR_CPUS, resolved).embed_threads  # the local rule
            self.embedder = embed.Embedder(models.device, threads=threads, backend=models.backend)
        else:
            self.embedder = self.source.embedder

    def chunk(self, frames, day: int):
        """Render, detect, align and embed one chunk: ``(rows, embeddings or None, files)``
        with chunk-local sighting ids and the signed frames as ``(path, bytes)`` pairs."""
        from facelab.vision import faces

        files: list = []
        part, aligned = self.source._prepare(frames, day, files.extend)
        emb = faces.embed_faces(self.embedder, aligned) if len(aligned) else None
        return part, emb, files


class ImageDays:
    """The image-mode source of a Ray run: chunks of a day's frames spread over actors."""

    mode = "image"

    def __init__(self, ray, engine: RayEngine, source, store):
        self.ray, self.engine, self.local, self.store = ray, engine, source, store
        self._actors: list | None = None

    def enrol_watchlist(self, watch_index, truth) -> None:
        self.local.enrol_watchlist(watch_index, truth)

    def _workers(self) -> list:
        if self._actors is None:
            ray, src = self.ray, self.local
            n = self.engine.workers or cluster_cpus(ray)
            opts = {
                "num_cpus": ACTOR_CPUS,
                "max_restarts": ACTOR_RESTARTS,
                "max_task_retries": TASK_RETRIES,
            }
            if gpus := gpu_share(ray, src.models.device, n):
                opts["num_gpus"] = gpus
            cls = ray.remote(**opts)(FaceWorker)
            from facelab import paths
            from facelab.governance import provenance

            self._world = ray.put(src.world)  # kept: a restarted actor reads it again
            args = (src.scenario, self._world, str(self.store.path), src.models.device,
                    src.models.backend, provenance.load_key(), str(paths.model_dir()))  # fmt: skip
            self._actors = [cls.remote(*args) for _ in range(n)]
        return self._actors

    def day(self, day: int, progress) -> object:
        from facelab.run import pipeline

        batch = pipeline.DayBatch(day)
        frames = list(self.local.world.fr_frames(day))
        size = pipeline.RENDER_BATCH
        chunks = [frames[s : s + size] for s in range(0, len(frames), size)]
        actors = self._workers()
        pending: deque = deque()
        nxt = done = 0

        def submit() -> None:
            nonlocal nxt
            actor = actors[nxt % len(actors)]
            pending.append((len(chunks[nxt]), actor.chunk.remote(chunks[nxt], day)))
            nxt += 1

        while nxt < len(chunks) and nxt < 2 * len(actors):
            submit()
        while pending:
            n_frames, ref = pending.popleft()
            part, emb, files = get(self.ray, ref)
            if nxt < len(chunks):
                submit()
            for path, data in files:  # every frame on disk before the day is committed
                write_atomic(path, data)
            batch.extend(part, emb)
            done += n_frames
            progress(done, len(frames))
        return batch


# --------------------------------------------------------------------------- the engine


class RayEngine:
    """Where a run's days are computed: a Ray cluster (pass as ``engine`` to
    :func:`~facelab.run.pipeline.run_scenario`).

    Parameters
    ----------
    address : str, optional
        The cluster to join (:func:`connect`); default a local Ray instance, or the
        connection this process already has.
    ahead : int, optional
        Embedding-mode days in flight; default :data:`DAYS_AHEAD` per cluster CPU.
    workers : int, optional
        Image-mode actors; default one per cluster CPU.
    """

    def __init__(self, address: str | None = None, *, ahead: int | None = None,
                 workers: int | None = None):  # fmt: skip
        self.address, self.ahead, self.workers = address, ahead, workers

    def wrap(self, source, store):
        """The source the runner draws its days from (``source``: the local one)."""
        ray = connect(self.address)
        days_cls = TwinDays if source.mode == "embedding" else ImageDays
        return days_cls(ray, self, source, store)

    def ship(self, source):
        """What embedding-mode tasks receive: a copy of the twin source without its run store
        (the world, the twin model and the sampler)."""
        shipped = copy.copy(source)
        shipped.store = None
        return shipped

    def twin_task(self):
        """The Ray remote function of one embedding-mode day (:func:`twin_day`)."""
        return _twin_task()
