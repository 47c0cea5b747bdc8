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

* **retention**: before every use, held copies whose file on the driver was deleted or
  rewritten (a purge dropped or trimmed the day) are deleted from their node; a rewritten day is
  shipped again when next searched. Between a purge and the archive's next use (or
  :meth:`RayShardArchive.release`) the purged bytes are still on the nodes, never searched.

A holder that cannot be reached is a :class:`~facelab.errors.EngineError` naming its node,
never a silently smaller archive.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from facelab.errors import EngineError, RunError
from facelab.fileio import write_atomic
from facelab.run.ray_engine import connect, get
from facelab.search.archive import DayShardArchive
from facelab.search.archive.cache import file_signature

log = logging.getLogger(__name__)


class ShardHolder:
    """A Ray actor's share of an archive: the shards of its days, in its node's temp folder."""

    def __init__(self, options: dict):
        import ray

        self.root = Path(tempfile.mkdtemp(prefix="facelab-shards-"))
        self.archive = DayShardArchive(self.root, **{**options, "cache_shards": None})
        self.node = ray.get_runtime_context().get_node_id()

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
        self._per_node = max(1, int(holders_per_node))
        self._holders: list = []
        self._nodes: list[str] = []  # the node each holder is pinned to
        self._holder_of: dict[int, int] = {}
        self._signature: dict[int, tuple] = {}  # each shipped shard file's (inode, mtime, size)
        #: ``{node id: [days]}``: where each shipped day's shard is held.
        self.placement: dict[str, list[int]] = {}

    def _sync(self) -> None:
        """Delete held copies whose file on the driver is gone or was rewritten (a purge dropped
        or trimmed the day): no byte a purge removed stays on a node; rewritten days are
        shipped again when next searched."""
        stale: dict[int, list[int]] = {}
        for day, sig in self._signature.items():
            try:
                now = file_signature(self.path(day))
            except RunError:
                now = None
            if now != sig:
                stale.setdefault(self._holder_of[day], []).append(day)
        if not stale:
            return
        refs = [self._holders[h].drop.remote(ds) for h, ds in stale.items()]
        self._gather(refs, list(stale.values()))
        for ds in stale.values():
            for d in ds:
                del self._holder_of[d], self._signature[d]
        gone = {d for ds in stale.values() for d in ds}
        self.placement = {n: [d for d in ds if d not in gone] for n, ds in self.placement.items()}
        log.info("dropped %d held day shard(s) changed on the driver: %s", len(gone), sorted(gone))

    def _place(self, days: list[int]) -> None:
        """Ship the shards of ``days`` not yet held to holders spread over the alive nodes
        (after dropping held copies that no longer match the driver's files)."""
        self._sync()
        new = [d for d in days if d not in self._holder_of]
        if not new:
            return
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if not self._holders:
            alive = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
            self._nodes = [node for node in alive for _ in range(self._per_node)]
            cls = ray.remote(num_cpus=0)(ShardHolder)
            self._holders = [
                cls.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
                ).remote(self._options)
                for node in self._nodes
            ]
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

    def _gather(self, refs: list, days: list[list[int]]) -> list:
        """The results of ``refs`` (each for the days in ``days``, same order); a holder that
        cannot answer is an :class:`~facelab.errors.EngineError` naming its node and days."""
        ray = self.ray
        try:
            return get(ray, refs)
        except EngineError:
            lost: dict[str, list[int]] = {}
            for ref, ds in zip(refs, days):
                try:
                    ray.get(ref, timeout=0)
                except ray.exceptions.GetTimeoutError:
                    continue
                except ray.exceptions.RayError:
                    node = self._nodes[self._holder_of[ds[0]]]
                    lost.setdefault(node, []).extend(ds)
            where = "; ".join(
                f"node {n} (days {', '.join(map(str, ds))})" for n, ds in lost.items()
            )
            raise EngineError(
                f"the archive's day shards on {where or 'a node'} cannot be reached: "
                "the search was not done (it never searches a smaller archive)"
            ) from None

    def _search_shard(self, day: int, q: np.ndarray, k: int, nprobe: int | None):
        return self._holders[self._holder_of[day]].search.remote(day, q, k, nprobe)

    def _range_day(self, day: int, q: np.ndarray, t: np.float32, nprobe: int | None):
        return self._holders[self._holder_of[day]].range.remote(day, q, t, nprobe)

    def release(self) -> None:
        """Stop the holders (their shards go with them)."""
        if self._holders:
            get(self.ray, [h.release.remote() for h in self._holders])
            for h in self._holders:
                self.ray.kill(h)
        self._holders, self._holder_of, self.placement = [], {}, {}
