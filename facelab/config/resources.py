"""What a scenario will need (memory, disk, cameras, days), refused before anything is allocated.

:func:`check_resources` runs when a scenario is parsed and after every
:meth:`~facelab.config.scenario.Scenario.with_overrides`, so ``facelab world`` and ``facelab run``
refuse the same scenarios, with one line naming the limit and the estimated need::

    big.toml: limits.memory_gib: the scenario needs about 37.4 GiB of memory (world: 36.1 GiB
    for 270,000,000 camera passes; one day: 1.3 GiB), more than the limit of 8 GiB; raise
    [limits] memory_gib if the machine has it

The estimates (:func:`estimate`) follow the data structures the work allocates:

- the ground truth (:func:`facelab.world.world.build_world`): :data:`WORLD_BYTES_PER_PASS` per
  expected camera pass (the ``passes`` record array, the frame grouping, and the sort
  temporaries at their peak; measured with ``tracemalloc`` at 142-151 bytes a pass on
  ``classroom`` and ``metro``), and :data:`BYTES_PER_PERSON` per person;
- the watchlist: its embeddings and rows (:data:`BYTES_PER_WATCH_ENTRY` each);
- one simulated day of :mod:`facelab.run.pipeline`: in embedding mode the day's FR sightings
  (:data:`DAY_BYTES_PER_SIGHTING`: the 128-d float32 embedding, the twin's float64 draws, the
  day's row objects and its candidates); in image mode the frames in flight
  (:data:`FRAMES_IN_FLIGHT` frames of the largest FR camera at :data:`BYTES_PER_PIXEL_IN_FLIGHT`)
  and one background per FR camera;
- the run directory: each sighting's archived embedding and database rows
  (:data:`DISK_BYTES_PER_SIGHTING`), and in image mode each FR frame as a JPEG
  (:data:`JPEG_BYTES_PER_PIXEL`).

:func:`check_disk_space` compares the disk estimate with the free space of the file system
that will hold the run directory, when the run is about to start.

Expected counts use the means of the movement model (presence, the middle of
``passes_per_day``) and the share of cameras that are FR. The limits are the ``[limits]`` table
(:class:`~facelab.config.sections.LimitsSpec`), defaults in :mod:`facelab.config.defaults`.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from facelab.config.validate import ErrorContext
from facelab.errors import ConfigError

if TYPE_CHECKING:
    from facelab.config.scenario import Scenario

__all__ = ["Need", "check_disk_space", "check_resources", "estimate", "memory_limit_gib"]

GIB = 1024**3

WORLD_BYTES_PER_PASS = 160
BYTES_PER_PERSON = 48
BYTES_PER_WATCH_ENTRY = 2048
DAY_BYTES_PER_FR_PASS = 256
DAY_BYTES_PER_SIGHTING = 4096
FRAMES_IN_FLIGHT = 64
BYTES_PER_PIXEL_IN_FLIGHT = 15
DISK_BYTES_PER_SIGHTING = 1024
JPEG_BYTES_PER_PIXEL = 0.25


@dataclass(frozen=True)
class Need:
    """Estimated needs of a scenario.

    Attributes
    ----------
    passes : float
        Expected camera passes of the whole run.
    fr_sightings_per_day : float
        Expected faces at FR cameras on one day.
    world_bytes, day_bytes : float
        Peak memory of the ground truth, and of one simulated day with the watchlist.
    disk_bytes : float
        Size of the run directory.
    """

    passes: float
    fr_sightings_per_day: float
    world_bytes: float
    day_bytes: float
    disk_bytes: float

    @property
    def memory_bytes(self) -> float:
        return self.world_bytes + self.day_bytes


def memory_limit_gib(scenario: Scenario) -> float:
    """The memory limit in GiB: ``[limits] memory_gib``
    (:data:`~facelab.config.defaults.DEFAULT_MEMORY_GIB` when left out)."""
    return scenario.limits.memory_gib


def estimate(scenario: Scenario, mode: str | None = None) -> Need:
    """Estimated memory and disk a run of ``scenario`` in ``mode`` (default: its own) needs."""
    mode = mode or scenario.mode
    mv = scenario.movement
    people = scenario.population.size
    per_day = people * mv.presence * (mv.passes_per_day[0] + mv.passes_per_day[1]) / 2
    passes = per_day * scenario.days
    cams = scenario.cameras
    fr = [c for c in cams if c.fr]
    fr_share = len(fr) / len(cams) if cams else 0.0
    sightings_day = per_day * fr_share
    world = passes * WORLD_BYTES_PER_PASS + people * BYTES_PER_PERSON
    watch = scenario.watchlist.size * BYTES_PER_WATCH_ENTRY
    day = watch + sightings_day * (DAY_BYTES_PER_FR_PASS + DAY_BYTES_PER_SIGHTING)
    disk = sightings_day * scenario.days * DISK_BYTES_PER_SIGHTING + watch
    if mode == "image" and fr:
        largest = max(c.resolution[0] * c.resolution[1] for c in fr)
        mean_px = sum(c.resolution[0] * c.resolution[1] for c in fr) / len(fr)
        day += FRAMES_IN_FLIGHT * largest * BYTES_PER_PIXEL_IN_FLIGHT + len(fr) * mean_px * 3
        disk += sightings_day * scenario.days * mean_px * JPEG_BYTES_PER_PIXEL
    return Need(passes, sightings_day, world, day, disk)


def _gib(n: float) -> str:
    g = n / GIB
    return f"{g:.1f} GiB" if g >= 0.1 else f"{n / 1024**2:.1f} MiB"


def check_resources(ctx: ErrorContext, scenario: Scenario, mode: str | None = None) -> None:
    """Refuse ``scenario`` (a :class:`~facelab.errors.ConfigError` naming the limit and the need)
    if its days, cameras, memory or disk exceed ``[limits]``; nothing is allocated first."""
    lim = scenario.limits
    try:
        scenario.start + _dt.timedelta(days=scenario.days - 1)
    except OverflowError:
        ctx.fail("days", f"{scenario.days} days from {scenario.start} run past the year 9999")
    if scenario.days > lim.days:
        ctx.fail(
            "days",
            f"{scenario.days} days is more than the limit of {lim.days} "
            "(raise [limits] days if this is meant)",
        )
    if len(scenario.cameras) > lim.cameras:
        ctx.fail(
            "cameras",
            f"{len(scenario.cameras)} cameras is more than the limit of {lim.cameras} "
            "(raise [limits] cameras if this is meant)",
        )
    need = estimate(scenario, mode)
    mem_limit = memory_limit_gib(scenario)
    if need.memory_bytes > mem_limit * GIB:
        ctx.fail(
            "limits.memory_gib",
            f"the scenario needs about {_gib(need.memory_bytes)} of memory (world: "
            f"{_gib(need.world_bytes)} for {need.passes:,.0f} camera passes; one day and the "
            f"watchlist: {_gib(need.day_bytes)}), more than the limit of {mem_limit:g} GiB; "
            "raise [limits] memory_gib if the machine has it",
        )
    if need.disk_bytes > lim.disk_gib * GIB:
        ctx.fail(
            "limits.disk_gib",
            f"the run would take about {_gib(need.disk_bytes)} on disk "
            f"({need.fr_sightings_per_day * scenario.days:,.0f} archived sightings), more than "
            f"the limit of {lim.disk_gib:g} GiB; raise [limits] disk_gib if the disk has room",
        )


def _existing_parent(path: Path) -> Path:
    """``path`` itself or its nearest ancestor that exists (the folder the run will go in)."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _bytes_under(folder: Path) -> int:
    """Bytes of the files already under ``folder`` (a run being resumed), links not followed."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def check_disk_space(scenario: Scenario, out: str | Path, mode: str | None = None) -> None:
    """Refuse to start (a :class:`~facelab.errors.ConfigError`, nothing written) when the run
    directory ``out`` would not fit on its file system.

    The need is :func:`estimate`'s ``disk_bytes`` less what ``out`` already holds (a run being
    resumed); the room is :func:`shutil.disk_usage` of ``out`` or its nearest existing parent.
    A run directory that is a file, or a path whose free space cannot be read, is left to the
    run itself to report.
    """
    out = Path(out)
    where = _existing_parent(out)
    if not where.is_dir():
        return
    need = estimate(scenario, mode).disk_bytes
    if out.is_dir():
        need -= _bytes_under(out)
    if need <= 0:
        return
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if need > free:
        raise ConfigError(
            f"not enough disk space for --out {out}: the run needs about {_gib(need)}, "
            f"{where} has {_gib(free)} free; free some space or choose another --out"
        )
