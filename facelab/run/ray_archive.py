"""The distributed archive: a run's day shards held by Ray actors, searched by fan-out.

``facelab search RUN PHOTO --engine ray`` searches the same archive as the local search, with
the day shards spread over the cluster's nodes:

* **placement**: the days are cut into contiguous runs, one per holder actor; the holders are
  spread over the alive nodes (one per node by default, each pinned to its node), so each node
  loads only its own shards. The driver reads each shard file once and ships its bytes to its
  holder, which keeps it in a folder of its node's temporary directory (memory-mapped, as the
  local archive does) until the holder goes; the run's directory need not be shared.
  :attr:`RayShardArchive.placement` says which node holds which days; the search's audit
  record names it.
* **fan-out and merge**: every day's search runs in its holder
  (:meth:`~facelab.search.archive.DayShardArchive.search`'s and
  :meth:`~facelab.search.archive.DayShardArchive.range_search`'s per-day step, the local one),
  the driver gathers the per-day results in day order and merges them with the local
  archive's own merge, so the hits equal the local search's, byte for byte.

* **retention**: a holder's folder is named after the run, its node and its process
  (:data:`HOLDER_PREFIX`), so any process can find a run's held copies on every node.
  :meth:`RayShardArchive.sync` (called by ``facelab purge RUN --engine ray`` and
  :meth:`facelab.api.Run.purge` with ``engine="ray"``, right after the purge) deletes on every
  node each held file that is not a copy of the driver's current shard of its day, through the
  holder for this archive's own copies, and removes the folders of holders that are gone (a
  driver that exited without :meth:`RayShardArchive.release`); a rewritten day is shipped
  again when next searched. Before every use the archive also drops its own holders' copies
  whose file on the driver changed. :meth:`RayShardArchive.held_files` lists (and, with a
  deletion proof's scanner, scans) every held file on every node: ``facelab retention verify
  RUN --engine ray`` names node and day of a purged vector still held. A live holder of
  *another* process whose file a purge deleted keeps its memory map until that process's
  next use of its archive (its file is gone from the node's folder).

A holder that cannot be reached is a :class:`~facelab.errors.EngineError` naming its node,
never a silently smaller archive.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelab.errors import EngineError, RunError
from facelab.fileio import write_atomic
from facelab.run.ray_engine import connect, get
from facelab.search.archive import DayShardArchive
from facelab.search.archive.cache import file_signature

log = logging.getLogger(__name__)


HOLDER_PREFIX = "facelab-shards-"
"""Start of the name of every holder's folder in its node's temporary directory."""
_DAY_RE = re.compile(r"day-(\d{4,})\.faiss")


def run_key(root: Path) -> str:
    """A short key of a run's archive folder (on the driver): the holder folders of that run
    are named after it, so any process can find them on a node."""
    return hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_gone() -> list[Path]:
    """Remove the folders that holders whose process is gone left in this machine's temporary
    directory (a holder dies with its driver, without a word, when the driver exits without
    releasing it or is killed; the directory is taken to be the machine's own, as
    :func:`tempfile.gettempdir` gives it); returns them."""
    gone = []
    for folder in Path(tempfile.gettempdir()).glob(f"{HOLDER_PREFIX}*"):
        parts = folder.name[len(HOLDER_PREFIX) :].split("-")  # key, node, pid, random
        if len(parts) == 4 and parts[2].isdigit():
            if not _alive(int(parts[2])) and folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                gone.append(folder)
    return gone


@dataclass(frozen=True)
class HeldFile:
    """A file in a holder folder of a node: a held copy of a day shard (``day``), or a file the
    holder's writes left (``day`` from its name, ``None`` if it has none)."""

    node: str
    path: str
    day: int | None
    size: int
    sha256: str
    found: dict


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ShardHolder:
    """A Ray actor's share of an archive: the shards of its days, in a folder of its node's
    temporary directory named after the run (:func:`run_key`), the node and the holder's
    process (``facelab-shards-KEY-NODE-PID-…``)."""

    def __init__(self, options: dict, key: str):
        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.prefix = f"{HOLDER_PREFIX}{key}-{self.node[:12]}-"
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.prefix}{os.getpid()}-"))
        self.archive = DayShardArchive(self.root, **{**options, "cache_shards": None})
        _remove_gone()  # what gone holders of any run left here

    def _folders(self) -> list[Path]:
        """The run's holder folders on this node: this holder's and any other's, live or gone."""
        return sorted(p for p in Path(tempfile.gettempdir()).glob(f"{self.prefix}*") if p.is_dir())

    def load(self, shards: dict[int, bytes]) -> tuple[str, list[int]]:
        """Keep ``{day: shard file bytes}``; returns ``(node id, days held)``."""
        for day, data in shards.items():
            write_atomic(self.archive.path(day), data)
        return self.node, self.archive.days()

    def drop(self, days: list[int]) -> list[int]:
        """Delete the held shards of ``days`` (their files and cached copies); the days held."""
        for day in days:
            self.archive.drop_day(day)
        return self.archive.days()

    def files(self, scan=None) -> list[HeldFile]:
        """Every file in the run's holder folders on this node, with its SHA-256 and, given
        ``scan`` (a callable ``path -> {kind: count}``: a deletion proof's
        :meth:`~facelab.governance.retention.DeletionProof.scan_file`), what it found."""
        out = []
        for folder in self._folders():
            for p in sorted(f for f in folder.rglob("*") if f.is_file()):
                m = _DAY_RE.fullmatch(p.name)  # a temporary file of a write has no day
                try:
                    found = dict(scan(p)) if scan is not None else {}
                    out.append(HeldFile(self.node, str(p), int(m.group(1)) if m else None,
                                        p.stat().st_size, _sha256(p), found))  # fmt: skip
                except FileNotFoundError:  # deleted meanwhile by its holder
                    continue
        return out

    def sweep(self, keep: dict[int, str]) -> list[str]:
        """Delete, in the run's holder folders on this node, every file that is not a copy of
        the driver's current shard of its day (``keep``: ``{day: sha256}``), through this
        holder's archive for its own days; then the folders that holders whose process is gone
        left on this machine (of any run) are removed. Returns the deleted paths."""
        gone = []
        for f in self.files():
            if f.day is not None and keep.get(f.day) == f.sha256:
                continue
            path = Path(f.path)
            if path.parent == self.root and f.day is not None:
                self.archive.drop_day(f.day)
            else:
                path.unlink(missing_ok=True)
            gone.append(f.path)
        _remove_gone()
        return gone

    def check(self, days: list[int]) -> dict[int, str]:
        """The problems of the held shards of ``days`` (unreadable ones), loading the others."""
        return self.archive.check_days(days)

    def search(self, day: int, q: np.ndarray, k: int, nprobe: int | None):
        """Day ``day``'s top-k, as the local archive computes it per day."""
        return self.archive._search_shard(day, q, k, nprobe)

    def range(self, day: int, q: np.ndarray, t: np.float32, nprobe: int | None):
        """Day ``day``'s range-search candidates, as the local archive computes them per day."""
        return self.archive._range_day(day, q, t, nprobe)

    def release(self) -> None:
        """Drop the held shards (files and cache)."""
        self.archive.clear_cache()
        shutil.rmtree(self.root, ignore_errors=True)


def _split(days: list[int], parts: int) -> list[list[int]]:
    """``days`` cut into at most ``parts`` contiguous runs of near-equal length."""
    parts = max(1, min(parts, len(days)))
    return [list(map(int, r)) for r in np.array_split(np.asarray(days, np.int64), parts)]


class RayShardArchive(DayShardArchive):
    """A run's archive whose day shards are held and searched by Ray actors.

    The driver keeps the local archive's view of the files (which days exist, the window of a
    search) and its merge; each day's search runs in the actor holding that day.

    Parameters
    ----------
    root : Path
        The run's archive folder (read by the driver only, to ship each shard once).
    options : dict
        The run's archive options (:meth:`~facelab.run.store.RunStore.archive_options`).
    address : str, optional
        The Ray cluster (:func:`~facelab.run.ray_engine.connect`).
    holders_per_node : int
        Holder actors started on each alive node.
    """

    def __init__(self, root: Path, options: dict, *, address: str | None = None,
                 holders_per_node: int = 1):  # fmt: skip
        opts = {k: v for k, v in options.items() if k not in ("cache", "cache_shards")}
        super().__init__(root, **opts, readonly=True)
        self.ray = connect(address)
        self._options = opts
        self._key = run_key(root)
        self._per_node = max(1, int(holders_per_node))
        self._holders: list = []
        self._nodes: list[str] = []  # the node each holder is pinned to
        self._holder_of: dict[int, int] = {}
        self._signature: dict[int, tuple] = {}  # each shipped shard file's (inode, mtime, size)
        #: ``{node id: [days]}``: where each shipped day's shard is held.
        self.placement: dict[str, list[int]] = {}

    def _start(self) -> None:
        """Start the holders (:attr:`holders_per_node` on each alive node, each pinned to it)."""
        if self._holders:
            return
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
        self._nodes = [node for node in alive for _ in range(self._per_node)]
        cls = ray.remote(num_cpus=0)(ShardHolder)
        self._holders = [
            cls.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(self._options, self._key)
            for node in self._nodes
        ]
        atexit.register(self._release_at_exit)  # before Ray's own exit hook, registered earlier

    def _release_at_exit(self) -> None:
        """:meth:`release` as the process exits, so that no held copy outlives its driver on
        the nodes (a driver killed outright leaves them to the next :meth:`sync`)."""
        try:
            if self._holders and self.ray.is_initialized():
                self.release()
        except Exception:  # noqa: BLE001 - the cluster may be gone already
            log.debug("could not release the holders at exit", exc_info=True)

    def _per_node_holders(self) -> list[int]:
        """One holder of each node (the node's first)."""
        self._start()
        return list(range(0, len(self._holders), self._per_node))

    def sync(self) -> list[str]:
        """Make the nodes hold nothing the driver's archive no longer has.

        This archive's holders drop their copies of days whose file on the driver is gone or
        was rewritten (a purge dropped or trimmed the day; a rewritten day is shipped again when
        next searched); then, on every node, any other file in the run's holder folders (left
        by holders of another process, live or gone) that is not a copy of the driver's current
        shard of its day is deleted, and the folders of gone holders are removed. Called right
        after a purge (``facelab purge --engine ray``, :meth:`facelab.api.Run.purge` with
        ``engine="ray"``). Returns the deleted files as ``"node:path"``.
        """
        self._drop_stale()
        keep = {d: _sha256(self.path(d)) for d in self.days()}
        firsts = self._per_node_holders()
        swept = self._gather([self._holders[h].sweep.remote(keep) for h in firsts],
                             holders=firsts)  # fmt: skip
        deleted = [f"{self._nodes[h]}:{p}" for h, ps in zip(firsts, swept) for p in ps]
        if deleted:
            log.info("deleted %d stale file(s) in holder folders: %s", len(deleted), deleted)
        return deleted

    def _drop_stale(self) -> None:
        """This archive's holders drop their copies of days whose file on the driver is gone
        or was rewritten (checked by the files' signatures: cheap, before every use)."""
        stale: dict[int, list[int]] = {}
        for day, sig in self._signature.items():
            try:
                now = file_signature(self.path(day))
            except RunError:
                now = None
            if now != sig:
                stale.setdefault(self._holder_of[day], []).append(day)
        if stale:
            refs = [self._holders[h].drop.remote(ds) for h, ds in stale.items()]
            self._gather(refs, list(stale.values()))
            for ds in stale.values():
                for d in ds:
                    del self._holder_of[d], self._signature[d]
            gone = {d for ds in stale.values() for d in ds}
            self.placement = {n: [d for d in ds if d not in gone]
                              for n, ds in self.placement.items()}  # fmt: skip
            log.info("dropped %d held day shard(s) changed on the driver: %s", len(gone),
                     sorted(gone))  # fmt: skip

    def held_files(self, scan=None) -> list[HeldFile]:
        """Every file in the run's holder folders on every node (this archive's holders' and
        any other's), with its SHA-256 and, given ``scan`` (a deletion proof's ``scan_file``),
        what that found in it: what the deletion proof of :mod:`facelab.governance.retention`
        scans on the nodes."""
        firsts = self._per_node_holders()
        parts = self._gather([self._holders[h].files.remote(scan) for h in firsts],
                             holders=firsts)  # fmt: skip
        return [f for part in parts for f in part]

    def _place(self, days: list[int]) -> None:
        """Ship the shards of ``days`` not yet held to holders spread over the alive nodes
        (after dropping held copies that no longer match the driver's files)."""
        self._drop_stale()
        new = [d for d in days if d not in self._holder_of]
        if not new:
            return
        self._start()
        runs = _split(new, len(self._holders))
        loads = []
        for i, run in enumerate(runs):
            shards = {}
            for d in run:
                self._signature[d] = file_signature(self.path(d))
                shards[d] = self.path(d).read_bytes()
            loads.append(self._holders[i].load.remote(shards))
            self._holder_of.update(dict.fromkeys(run, i))
        for node, held in self._gather(loads, runs):
            log.info("node %s holds day shard(s) %s", node[:12], held)
            self.placement[node] = sorted(set(self.placement.get(node, [])) | set(held))

    def check_days(self, days) -> dict[int, str]:
        """As the local archive's: missing files on the driver, unreadable shards in holders."""
        days = [int(d) for d in days]
        problems = {
            d: f"{self.path(d).name} is missing" for d in days if not self.path(d).is_file()
        }
        present = [d for d in days if d not in problems]
        self._place(present)
        by_holder: dict[int, list[int]] = {}
        for d in present:
            by_holder.setdefault(self._holder_of[d], []).append(d)
        found = self._gather(
            [self._holders[h].check.remote(ds) for h, ds in by_holder.items()],
            list(by_holder.values()),
        )
        for part in found:
            problems.update({int(d): p for d, p in part.items()})
        return problems

    # The local archive's per-day steps, run in the holders; its merge runs on the driver.

    def _map_days(self, window: list[int], m: int, fn) -> list:
        self._place(window)
        return self._gather([fn(day) for day in window], [[d] for d in window])

    def _gather(self, refs: list, days: list[list[int]] | None = None,
                holders: list[int] | None = None) -> list:  # fmt: skip
        """The results of ``refs`` (each for the days in ``days``, or of the holder in
        ``holders``, same order); a holder that cannot answer is an
        :class:`~facelab.errors.EngineError` naming its node (and days)."""
        ray = self.ray
        try:
            return get(ray, refs)
        except EngineError:
            lost: dict[str, list[int]] = {}
            for i, ref in enumerate(refs):
                try:
                    ray.get(ref, timeout=0)
                except ray.exceptions.GetTimeoutError:
                    continue
                except ray.exceptions.RayError:
                    ds = days[i] if days is not None else []
                    h = holders[i] if holders is not None else self._holder_of[ds[0]]
                    lost.setdefault(self._nodes[h], []).extend(ds)
            where = "; ".join(
                f"node {n}" + (f" (days {', '.join(map(str, ds))})" if ds else "")
                for n, ds in lost.items()
            )
            raise EngineError(
                f"the archive's day shards on {where or 'a node'} cannot be reached: "
                "nothing there was searched, checked or deleted (never a smaller archive)"
            ) from None

    def _search_shard(self, day: int, q: np.ndarray, k: int, nprobe: int | None):
        return self._holders[self._holder_of[day]].search.remote(day, q, k, nprobe)

    def _range_day(self, day: int, q: np.ndarray, t: np.float32, nprobe: int | None):
        return self._holders[self._holder_of[day]].range.remote(day, q, t, nprobe)

    def release(self) -> None:
        """Stop the holders (their shards go with them)."""
        for h in self._holders:
            try:
                get(self.ray, h.release.remote())
            except EngineError:  # a holder already gone: its folder waits for _remove_gone
                log.warning("a holder of the archive was gone before its release")
            self.ray.kill(h)
        self._holders, self._holder_of, self.placement = [], {}, {}
        self._nodes, self._signature = [], {}
        atexit.unregister(self._release_at_exit)
